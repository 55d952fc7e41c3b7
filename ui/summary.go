package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/record"
	"kmcr/sync/protocol"
)

// sectionCard is one section of a summary on screen. Its name is a
// record.Section constant, so a test can list exactly which sections a
// screen built (a front-desk screen must build no clinical one).
type sectionCard struct {
	widget.BaseWidget
	name    string
	content fyne.CanvasObject
}

func newSectionCard(name string, content ...fyne.CanvasObject) *sectionCard {
	c := &sectionCard{name: name, content: card(content...)}
	c.ExtendBaseWidget(c)
	return c
}

func (c *sectionCard) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(c.content)
}

// summaryView builds the screen for one opened patient. It holds the view
// only while building; the screen's widgets hold text, not the view.
type summaryView struct {
	u   *UI
	v   *core.PatientView
	now time.Time
}

// showSummary shows an opened patient.
func (u *UI) showSummary(v *core.PatientView) {
	if u.locked || u.main == nil {
		return
	}
	sv := &summaryView{u: u, v: v, now: u.opts.now()}
	obj := sv.build()
	u.main.view, u.main.summary = v, obj
	u.showPage(screenSummary, obj)
	u.win.Canvas().Focus(nil)
	u.background(func() {
		st := u.core.Status() // the view's audit event is now queued
		u.do(func() { u.onStatus(st) })
	})
}

func (sv *summaryView) build() fyne.CanvasObject {
	u, v := sv.u, sv.v
	d := &v.Summary.Demographics
	top := container.NewVBox(patientBanner(bannerOf(d, v.NHS, sv.now)), sv.actionBar())
	var body []fyne.CanvasObject
	if v.DemographicsOnly || u.core.Profile().Role == core.RoleFrontDesk {
		// Front desk: demographics and GP only. No clinical widget is
		// built, whatever the summary holds.
		body = append(body,
			block(theme.ColorNameHeaderBackground, txt("Front desk view: demographics and registered GP only. Clinical information is not shown for your role.", bold)),
			container.NewGridWithColumns(2, sv.demographics(), sv.gp()))
	} else {
		body = append(body, sv.alertBlock()...)
		left := container.NewVBox(sv.allergies(), sv.medications(), sv.problems(), sv.carePlans())
		right := container.NewVBox(sv.observations(), sv.encounters(), sv.immunizations(), sv.pastAlerts())
		body = append(body, container.NewGridWithColumns(2, left, right))
		body = append(body, container.NewGridWithColumns(2, sv.demographics(), sv.gp()))
		if docs := sv.documents(); docs != nil {
			body = append(body, docs)
		}
		if other := sv.other(); other != nil {
			body = append(body, other)
		}
	}
	scroll := container.NewVScroll(compact(container.NewPadded(container.NewVBox(body...))))
	scroll.OnScrolled = func(fyne.Position) { u.touch() }
	u.pageScroll = scroll
	return container.NewBorder(top, nil, nil, nil, scroll)
}

// actionBar is Back, emergency access, and when the summary was current.
func (sv *summaryView) actionBar() fyne.CanvasObject {
	u, v := sv.u, sv.v
	back := u.button("Back to search  (Esc)", theme.NavigateBackIcon(), widget.MediumImportance, u.goSearch)
	buttons := container.NewHBox(back)
	if u.core.Profile().BreakGlass && !v.BreakGlass && !v.DemographicsOnly {
		nhs := v.NHS.String()
		buttons.Add(u.button("Emergency access…", theme.WarningIcon(), widget.DangerImportance, func() { u.showBreakGlass(nhs) }))
	}
	asOf := []span{{"Summary as of ", plain}, {fmtTime(v.AsOf), bold}}
	if v.Stale {
		asOf = append(asOf, span{"  STALE", danger})
	}
	rel := "caseload"
	if v.BreakGlass {
		rel = "emergency access"
	}
	asOf = append(asOf, span{"    Held offline until " + fmtTime(v.NotAfter) + " (" + rel + ")", muted})
	return container.NewPadded(container.NewBorder(nil, nil, buttons, nil, container.NewCenter(nowrap(line(asOf...)))))
}

// header is a section's title, count, "as of" time and staleness.
func (sv *summaryView) header(title, count string) fyne.CanvasObject {
	spans := []span{{title, heading}}
	if count != "" && !strings.HasPrefix(count, "0 ") {
		spans = append(spans, span{"   " + count, bold})
	}
	asOf := []span{{"as of " + fmtTime(sv.v.AsOf), caption}}
	if sv.v.Stale {
		asOf = append(asOf, span{"   STALE: older than the " + humanDuration(sv.v.Freshness) + " freshness limit", warnText})
	}
	return container.NewVBox(line(spans...), line(asOf...))
}

// shown reports whether the section was shared with this device.
func (sv *summaryView) shown(section string) bool {
	for _, s := range sv.v.Sections {
		if s == section {
			return true
		}
	}
	return false
}

// withheldWhy says why a section was not shared, or "" if it was.
func (sv *summaryView) withheldWhy(section string) string {
	if sv.shown(section) {
		return ""
	}
	for _, w := range sv.v.Withheld {
		for _, s := range w.Sections {
			if s != section {
				continue
			}
			switch w.Reason {
			case protocol.WithheldObjection:
				return "Withheld: the patient has objected to sharing it for this purpose (restricted sharing)."
			case protocol.WithheldTooLarge:
				return "Withheld: the record is too large to hold offline; view it online in the full record."
			}
		}
	}
	return "Not shared with this device for your role."
}

// capped shows the first n objects and a button that shows the rest, so a
// long list is never cut off without saying so.
func (sv *summaryView) capped(objs []fyne.CanvasObject, n int, noun string) fyne.CanvasObject {
	box := container.NewVBox()
	if len(objs) <= n {
		box.Objects = objs
		return box
	}
	box.Objects = append(box.Objects, objs[:n]...)
	rest := objs[n:]
	var more *widget.Button
	more = sv.u.button(fmt.Sprintf("and %d more %s: show all", len(rest), noun), theme.MoreVerticalIcon(), widget.LowImportance, func() {
		box.Remove(more)
		for _, o := range rest {
			box.Add(o)
		}
	})
	box.Add(more)
	return box
}

// alertBlock is what a paramedic must see first: emergency access,
// resuscitation decisions, safeguarding, falls, withheld data, staleness.
func (sv *summaryView) alertBlock() []fyne.CanvasObject {
	v := sv.v
	var out []fyne.CanvasObject
	red := func(head, rest string) {
		out = append(out, block(colDanger, line(span{head, style{col: colOnDanger, size: theme.SizeNameSubHeadingText, bold: true}}, span{rest, style{col: colOnDanger, bold: true}})))
	}
	amber := func(head, rest string) {
		out = append(out, block(colCaution, line(span{head, style{col: colOnCaution, size: theme.SizeNameSubHeadingText, bold: true}}, span{rest, style{col: colOnCaution, bold: true}})))
	}
	if v.BreakGlass {
		red("EMERGENCY ACCESS  ", "You opened this record without a care relationship. This access is audited and reported to the privacy officer.")
	}
	if v.Stale {
		amber("STALE  ", fmt.Sprintf("Summary as of %s, older than the %s freshness limit. Newer information may exist: connect to refresh, and check with the patient.", fmtTime(v.AsOf), humanDuration(v.Freshness)))
	}
	if v.Objection {
		var secs []string
		for _, w := range v.Withheld {
			if w.Reason == protocol.WithheldObjection {
				secs = append(secs, w.Sections...)
			}
		}
		what := "clinical sections"
		if len(secs) > 0 {
			what = strings.Join(secs, ", ")
		}
		amber("RESTRICTED SHARING  ", "The patient has objected to sharing their record for this purpose. Withheld: "+what+". Absence of information here does not mean there is none.")
	}
	for _, w := range v.Withheld {
		if w.Reason == protocol.WithheldTooLarge {
			amber("RECORD TOO LARGE  ", "The clinical sections are too large to hold offline and were withheld: "+strings.Join(w.Sections, ", ")+".")
		}
	}
	if v.Sensitive > 0 {
		amber("SENSITIVE INFORMATION WITHHELD  ", plural(v.Sensitive, "item is", "items are")+" never held on laptops (for example sexual health). Ask the patient or the GP if it matters now.")
	}
	if !v.NotAfter.IsZero() && v.NotAfter.Sub(sv.now) < core.LeaseWarning {
		amber("OFFLINE COPY ENDING  ", "This summary can be shown offline until "+fmtTime(v.NotAfter)+". Connect to renew it.")
	}
	alerts := &v.Summary.Alerts
	active := 0
	for _, a := range alerts.Items {
		if !a.Active || a.Verification.Void() {
			continue
		}
		active++
		detail := a.Text
		// "DNACPR: do not attempt..." under the heading DNACPR says it twice.
		if label := alertLabel(a.Kind); a.Kind != record.AlertOther && len(detail) > len(label)+1 &&
			strings.EqualFold(detail[:len(label)], label) && strings.ContainsAny(detail[len(label):len(label)+1], ":-–") {
			detail = strings.TrimSpace(detail[len(label)+1:])
		}
		if !a.Date.IsZero() {
			detail += "  (from " + a.Date.String() + ")"
		}
		if a.Author != "" {
			detail += ", " + a.Author
		}
		switch a.Kind {
		case record.AlertDNACPR, record.AlertReSPECT:
			red(alertLabel(a.Kind)+"  ", detail)
		case record.AlertSafeguarding, record.AlertFallsRisk:
			amber(alertLabel(a.Kind)+"  ", detail)
		default:
			out = append(out, block(colPanel, line(span{"ALERT  ", style{size: theme.SizeNameSubHeadingText, bold: true}}, span{detail, bold})))
		}
	}
	if active == 0 {
		switch {
		case sv.withheldWhy(record.SectionAlerts) != "":
			out = append(out, txt("Alerts: "+sv.withheldWhy(record.SectionAlerts), warnText))
		case alerts.State == record.StateNotAvailable:
			out = append(out, txt("Alert information not available (no DNACPR, ReSPECT or safeguarding record was shared)", warnText))
		default:
			out = append(out, txt("No active alerts recorded (DNACPR, ReSPECT, safeguarding, falls)", bold))
		}
	}
	return out
}

// alertLabel is an alert kind as a heading: capitals, except ReSPECT,
// whose capitals are part of its name.
func alertLabel(k record.AlertKind) string {
	if k == record.AlertReSPECT {
		return "ReSPECT"
	}
	return strings.ToUpper(k.String())
}

// pastAlerts lists alerts that have ended, so none disappears.
func (sv *summaryView) pastAlerts() fyne.CanvasObject {
	var objs []fyne.CanvasObject
	for _, a := range sv.v.Summary.Alerts.Items {
		if a.Active && !a.Verification.Void() {
			continue
		}
		state := a.Status
		if a.Status == "active" || a.Status == "" {
			state = "ended " + a.Period.End.String()
		}
		objs = append(objs, line(span{a.Kind.String() + ": ", bold}, span{a.Text, plain}, span{"  (" + state + ")", muted}))
	}
	if len(objs) == 0 {
		return container.NewVBox()
	}
	return newSectionCard(record.SectionAlerts, sv.header("Past alerts", plural(len(objs), "alert", "alerts")), sv.capped(objs, 5, "alerts"))
}

// demographics is everything the patient record says about identity and
// contact, for the front desk and for confirming identity.
func (sv *summaryView) demographics() fyne.CanvasObject {
	d := &sv.v.Summary.Demographics
	f := bannerOf(d, sv.v.NHS, sv.now)
	row := func(k, val string) fyne.CanvasObject { return line(span{k + "  ", muted}, span{val, bold}) }
	objs := []fyne.CanvasObject{sv.header("Demographics", ""),
		row("Name", f.Name), row("Born", f.Born), row("Gender", f.Gender), row("NHS No.", f.NHS)}
	for _, n := range d.Names {
		if n.String() != f.Name && n.String() != "" {
			objs = append(objs, row("Also known as", n.String()+" ("+n.Use+")"))
		}
	}
	if d.Restricted {
		objs = append(objs, block(colCaution, txt("Restricted record: address and contact details are withheld.", style{col: colOnCaution, bold: true})))
	} else {
		if len(d.Addresses) == 0 {
			objs = append(objs, row("Address", "No address recorded"))
		}
		for _, a := range d.Addresses {
			label := "Address"
			if a.Use != "" {
				label += " (" + a.Use + ")"
			}
			objs = append(objs, row(label, a.String()))
		}
		for _, p := range d.Phones {
			objs = append(objs, row("Phone ("+orDash(p.Use)+")", p.Value))
		}
		for _, e := range d.Emails {
			objs = append(objs, row("Email", e.Value))
		}
	}
	if f.Deceased != "" {
		objs = append(objs, txt(f.Deceased, danger))
	}
	return newSectionCard(record.SectionDemographics, objs...)
}

// gp is the registered practice.
func (sv *summaryView) gp() fyne.CanvasObject {
	g := sv.v.Summary.GP
	objs := []fyne.CanvasObject{sv.header("Registered GP", "")}
	if g.IsZero() {
		objs = append(objs, txt("No registered GP recorded", warnText))
	} else {
		objs = append(objs, line(span{"Practice  ", muted}, span{orDash(g.Practice), bold}))
		if g.ODSCode != "" {
			objs = append(objs, line(span{"ODS code  ", muted}, span{g.ODSCode, bold}))
		}
		if g.Practitioner != "" {
			objs = append(objs, line(span{"GP  ", muted}, span{g.Practitioner, bold}))
		}
	}
	return newSectionCard(record.SectionGP, objs...)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
