package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/record"
)

// How many items each section shows before "and N more".
const (
	showAllergies   = 10
	showMedications = 10
	showPast        = 4
	showProblems    = 8
	showEncounters  = 5
	showObsGroups   = 10
	showCarePlans   = 4
	showImmunise    = 5
)

// notShared is the card for a section withheld from this device.
func (sv *summaryView) notShared(section, title, why string) fyne.CanvasObject {
	return newSectionCard(section, sv.header(title, ""), txt(why, warnText))
}

// stateLine says "none recorded" or "not available" for an empty section;
// the two are different facts and are never merged.
func stateLine(state record.SectionState, none *record.NoneRecord, noun, kind string) fyne.CanvasObject {
	if state == record.StateNoneRecorded {
		s := "No " + noun + " recorded"
		if none != nil && none.Text != "" {
			s += " (" + none.Text
			if !none.Date.IsZero() {
				s += ", " + none.Date.String()
			}
			s += ")"
		}
		return txt(s, bold)
	}
	return txt(kind+" information not available", warnText)
}

func (sv *summaryView) allergies() fyne.CanvasObject {
	s := sv.v.Summary
	headline := s.AllergyHeadline()
	if why := sv.withheldWhy(record.SectionAllergies); why != "" {
		return newSectionCard(record.SectionAllergies, sv.header("Allergies", ""),
			txt("Allergy information not available", style{col: theme.ColorNameWarning, size: theme.SizeNameSubHeadingText, bold: true}), txt(why, warnText))
	}
	var hl fyne.CanvasObject
	switch s.Allergies.State {
	case record.StatePresent:
		hl = txt(headline, style{col: theme.ColorNameError, size: theme.SizeNameSubHeadingText, bold: true})
	case record.StateNoneRecorded:
		hl = txt(headline, style{col: theme.ColorNameSuccess, size: theme.SizeNameSubHeadingText, bold: true})
	default:
		hl = container.NewVBox(txt(headline, style{col: theme.ColorNameWarning, size: theme.SizeNameSubHeadingText, bold: true}),
			txt("Nobody has recorded whether this patient has allergies. This is not the same as no allergies: ask the patient.", warnText))
	}
	objs := []fyne.CanvasObject{sv.header("Allergies", ""), hl}
	if s.Allergies.State == record.StatePresent && s.Allergies.None != nil {
		objs = append(objs, block(colCaution, txt("Sources disagree: another source records “"+s.Allergies.None.Text+"” ("+s.Allergies.None.Date.String()+").", style{col: colOnCaution, bold: true})))
	}
	var items []fyne.CanvasObject
	for _, a := range s.Allergies.Items {
		var detail []string
		if a.Severity != "" {
			detail = append(detail, strings.ToUpper(a.Severity))
		}
		if a.Criticality == "high" {
			detail = append(detail, "HIGH CRITICALITY")
		}
		var reactions []string
		for _, r := range a.Reactions {
			reactions = append(reactions, r.Manifestations...)
		}
		if len(reactions) > 0 {
			detail = append(detail, strings.Join(reactions, ", "))
		}
		meta := joinNonEmpty(" · ", a.Type, a.ClinicalStatus, a.Verification.String(), recorded(a.Date))
		if a.Verification.Void() {
			items = append(items, line(span{a.Substance, muted}, span{"  entered in error, not counted", muted}))
			continue
		}
		st := style{col: theme.ColorNameError, bold: true}
		if a.ClinicalStatus == "inactive" || a.ClinicalStatus == "resolved" {
			st = bold
		}
		items = append(items, container.NewVBox(
			line(span{a.Substance, style{size: theme.SizeNameSubHeadingText, bold: true}}, span{"   " + strings.Join(detail, " — "), st}),
			txt(meta, caption)))
	}
	objs = append(objs, sv.capped(items, showAllergies, "allergies"))
	return newSectionCard(record.SectionAllergies, objs...)
}

func recorded(d record.Date) string {
	if d.IsZero() {
		return ""
	}
	return "recorded " + d.String()
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func (sv *summaryView) medications() fyne.CanvasObject {
	if why := sv.withheldWhy(record.SectionMedications); why != "" {
		return sv.notShared(record.SectionMedications, "Current medications", why)
	}
	sec := &sv.v.Summary.Medications
	var current, past []fyne.CanvasObject
	for _, m := range sec.Items {
		since := ""
		if !m.Date.IsZero() {
			since = "since " + m.Date.String()
		}
		switch {
		case m.Verification.Void():
			past = append(past, line(span{m.Name, muted}, span{"  entered in error", muted}))
		case m.Active:
			current = append(current, container.NewVBox(line(span{m.Name, bold}),
				txt(joinNonEmpty(" · ", m.Dosage, since, m.Reason), plain)))
		default:
			past = append(past, line(span{m.Name, plain}, span{"  " + joinNonEmpty(" · ", m.Status, dateOf(m.Date)), muted}))
		}
	}
	objs := []fyne.CanvasObject{sv.header("Current medications", plural(len(current), "medicine", "medicines"))}
	if sec.State != record.StatePresent {
		objs = append(objs, stateLine(sec.State, sec.None, "medications", "Medication"))
	} else if len(current) == 0 {
		objs = append(objs, txt("No current medications recorded", bold))
	}
	objs = append(objs, sv.capped(current, showMedications, "medicines"))
	if len(past) > 0 {
		objs = append(objs, txt("Past and stopped", style{col: colMuted, bold: true}), sv.capped(past, showPast, "past medicines"))
	}
	return newSectionCard(record.SectionMedications, objs...)
}

func dateOf(d record.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

func (sv *summaryView) problems() fyne.CanvasObject {
	if why := sv.withheldWhy(record.SectionProblems); why != "" {
		return sv.notShared(record.SectionProblems, "Problems", why)
	}
	sec := &sv.v.Summary.Problems
	var active, past []fyne.CanvasObject
	for _, p := range sec.Items {
		switch {
		case p.Verification.Void():
			past = append(past, line(span{p.Name, muted}, span{"  entered in error", muted}))
		case p.Active:
			active = append(active, line(span{p.Name, bold}, span{"  " + joinNonEmpty(" · ", p.Severity, since(p.Date)), muted}))
		default:
			past = append(past, line(span{p.Name, plain}, span{"  " + joinNonEmpty(" · ", p.ClinicalStatus, dateOf(p.Date)), muted}))
		}
	}
	objs := []fyne.CanvasObject{sv.header("Problems", plural(len(active), "active", "active"))}
	if sec.State != record.StatePresent {
		objs = append(objs, stateLine(sec.State, sec.None, "problems", "Problem"))
	}
	objs = append(objs, sv.capped(active, showProblems, "problems"))
	if len(past) > 0 {
		objs = append(objs, txt("Resolved and past", style{col: colMuted, bold: true}), sv.capped(past, showPast, "past problems"))
	}
	return newSectionCard(record.SectionProblems, objs...)
}

func since(d record.Date) string {
	if d.IsZero() {
		return ""
	}
	return "since " + d.String()
}

func (sv *summaryView) encounters() fyne.CanvasObject {
	if why := sv.withheldWhy(record.SectionEncounters); why != "" {
		return sv.notShared(record.SectionEncounters, "Recent encounters", why)
	}
	sec := &sv.v.Summary.Encounters
	var items []fyne.CanvasObject
	for _, e := range sec.Items {
		items = append(items, container.NewVBox(
			line(span{orDash(dateOf(e.Date)) + "  ", bold}, span{e.Type, plain}),
			txt(joinNonEmpty(" · ", e.Class, e.ServiceProvider, e.Reason, statusIfNot(e.Status, "finished")), caption)))
	}
	objs := []fyne.CanvasObject{sv.header("Recent encounters", plural(len(items), "encounter", "encounters"))}
	if sec.State != record.StatePresent {
		objs = append(objs, stateLine(sec.State, sec.None, "encounters", "Encounter"))
	}
	objs = append(objs, sv.capped(items, showEncounters, "encounters"))
	return newSectionCard(record.SectionEncounters, objs...)
}

func statusIfNot(status, usual string) string {
	if status == usual {
		return ""
	}
	return status
}

func (sv *summaryView) carePlans() fyne.CanvasObject {
	if why := sv.withheldWhy(record.SectionCarePlans); why != "" {
		return sv.notShared(record.SectionCarePlans, "Care plans", why)
	}
	sec := &sv.v.Summary.CarePlans
	var items []fyne.CanvasObject
	for _, p := range sec.Items {
		title := p.Title
		if title == "" {
			title = orDash(p.Category)
		}
		rows := []fyne.CanvasObject{line(span{title, bold}, span{"  " + joinNonEmpty(" · ", p.Status, periodText(p.Period)), muted})}
		if p.Description != "" {
			rows = append(rows, txt(p.Description, plain))
		}
		for _, a := range p.Activities {
			rows = append(rows, txt("• "+joinNonEmpty(" — ", a.Text, a.Status), plain))
		}
		items = append(items, container.NewVBox(rows...))
	}
	objs := []fyne.CanvasObject{sv.header("Care plans", plural(len(items), "plan", "plans"))}
	if sec.State != record.StatePresent {
		objs = append(objs, stateLine(sec.State, sec.None, "care plans", "Care plan"))
	}
	objs = append(objs, sv.capped(items, showCarePlans, "care plans"))
	return newSectionCard(record.SectionCarePlans, objs...)
}

func periodText(p record.Period) string {
	switch {
	case p.Start.IsZero() && p.End.IsZero():
		return ""
	case p.End.IsZero():
		return "from " + p.Start.String()
	case p.Start.IsZero():
		return "until " + p.End.String()
	}
	return p.Start.String() + " to " + p.End.String()
}

func (sv *summaryView) immunizations() fyne.CanvasObject {
	if why := sv.withheldWhy(record.SectionImmunizations); why != "" {
		return sv.notShared(record.SectionImmunizations, "Immunisations", why)
	}
	sec := &sv.v.Summary.Immunizations
	var items []fyne.CanvasObject
	for _, im := range sec.Items {
		items = append(items, line(span{orDash(dateOf(im.Date)) + "  ", bold}, span{im.Vaccine, plain}, span{"  " + statusIfNot(im.Status, "completed"), muted}))
	}
	objs := []fyne.CanvasObject{sv.header("Immunisations", plural(len(items), "record", "records"))}
	if sec.State != record.StatePresent {
		objs = append(objs, stateLine(sec.State, sec.None, "immunisations", "Immunisation"))
	}
	objs = append(objs, sv.capped(items, showImmunise, "immunisations"))
	return newSectionCard(record.SectionImmunizations, objs...)
}

// documents shows the narrative documents, each with a button for its text.
func (sv *summaryView) documents() fyne.CanvasObject {
	docs := sv.v.Summary.Documents
	if len(docs) == 0 {
		return nil
	}
	var items []fyne.CanvasObject
	for _, d := range docs {
		box := container.NewVBox(line(span{orDash(d.Title), bold}, span{"  " + joinNonEmpty(" · ", d.Type, dateOf(d.Date)), muted}))
		var text []fyne.CanvasObject
		for _, s := range d.Sections {
			text = append(text, txt(s.Title, bold), txt(s.Text, plain))
		}
		if len(text) > 0 {
			var show *widget.Button
			show = sv.u.button("Show the text", theme.DocumentIcon(), widget.LowImportance, func() {
				box.Remove(show)
				for _, t := range text {
					box.Add(t)
				}
			})
			box.Add(show)
		}
		items = append(items, box)
	}
	return newSectionCard(record.SectionOther, sv.header("Documents", plural(len(items), "document", "documents")), container.NewVBox(items...))
}

// other counts what the summary holds but does not show, so nothing
// disappears without a trace.
func (sv *summaryView) other() fyne.CanvasObject {
	if len(sv.v.Summary.Other) == 0 {
		return nil
	}
	var parts []string
	for _, tc := range sv.v.Summary.Other {
		parts = append(parts, fmt.Sprintf("%d %s", tc.Count, tc.Type))
	}
	return newSectionCard(record.SectionOther, txt("Also in the record, not shown on this summary: "+strings.Join(parts, ", ")+".", muted))
}
