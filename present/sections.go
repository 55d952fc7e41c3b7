package present

import (
	"sort"
	"strings"

	"kmcr/record"
)

// How many items of each list a paging screen shows before "and N more".
const (
	showAllergies   = 10
	showMedications = 10
	showPast        = 4
	showProblems    = 8
	showEncounters  = 5
	showObsGroups   = 10
	showCarePlans   = 4
	showImmunise    = 5
	showAlerts      = 5
	showVoid        = 5
)

// Section keys, the names screens and tests find sections by.
const (
	KeyAllergies     = "allergies"
	KeyMedications   = "medications"
	KeyProblems      = "problems"
	KeyCarePlans     = "care_plans"
	KeyObservations  = "observations"
	KeyEncounters    = "encounters"
	KeyImmunizations = "immunizations"
	KeyPastAlerts    = "past_alerts"
	KeyDocuments     = "documents"
	KeyDemographics  = "demographics"
	KeyGP            = "gp"
)

func plain(s string) Span   { return Span{Text: s} }
func strong(s string) Span  { return Span{Text: s, Strong: true} }
func muted(s string) Span   { return Span{Text: s, Level: Muted} }
func caption(s string) Span { return Span{Text: s, Level: Muted, Small: true} }
func warn(s string) Span    { return Span{Text: s, Level: Caution, Strong: true} }

// groupTitle is the quiet bold title of a group after the first.
func groupTitle(s string) Line { return line(Span{Text: s, Level: Muted, Strong: true}) }

// voidItem is a void item: its name struck through, then the word.
func voidItem(name, lead string, v record.Verification, d record.Date, src record.ResourceRef) Item {
	head := line()
	if lead != "" {
		head.Spans = append(head.Spans, muted(lead))
	}
	head.Spans = append(head.Spans, Span{Text: name, Level: Muted, Struck: true}, muted("  "+v.Word()))
	return Item{Head: head, Name: name, Date: dateOf(d), DateISO: isoOf(d), Void: true, Word: v.Word(),
		Status: v.String(), Source: src.String()}
}

// voidGroup lists a section's void items, if any: kept, struck through,
// and never counted.
func voidGroup(items []Item) []Group {
	if len(items) == 0 {
		return nil
	}
	return []Group{{Key: "void", Title: groupTitle("Entered in error or refuted (not counted)"), Show: showVoid, Noun: "struck items", Items: items}}
}

// stateLine says "none recorded" or "not available" for an empty section;
// the two are different facts and are never merged.
func stateLine(sec record.SectionState, none *record.NoneRecord, noun, kind string) Line {
	if sec == record.StateNoneRecorded {
		s := "No " + noun + " recorded"
		if none != nil && none.Text != "" {
			s += " (" + none.Text
			if d := dateOf(none.Date); d != "" {
				s += ", " + d
			}
			s += ")"
		}
		return line(strong(s))
	}
	return line(warn(kind + " information not available"))
}

// Topics of document sections, matched in their titles, that a structured
// section must point to: a Summary Care Record may carry allergies and
// medicines only as narrative.
var documentTopics = map[string][]string{
	KeyAllergies:     {"allerg", "adverse reaction"},
	KeyMedications:   {"medication", "medicine", "prescri"},
	KeyProblems:      {"problem", "diagnos"},
	KeyImmunizations: {"immunis", "immuniz", "vaccin"},
}

// fromDocuments returns the narrative sections of the record's documents
// about a topic, as items of a group beside the structured ones.
func (p *presenter) fromDocuments(key string) []Group {
	words := documentTopics[key]
	var items []Item
	for _, d := range p.s.Documents {
		if d.Verification.Void() {
			continue
		}
		for _, sec := range d.Sections {
			t := strings.ToLower(sec.Title)
			match := false
			for _, w := range words {
				match = match || strings.Contains(t, w)
			}
			if !match {
				continue
			}
			it := Item{Head: line(strong(sec.Title)), Name: sec.Title, Date: dateOf(d.Date), DateISO: isoOf(d.Date), Source: d.Source.String()}
			for _, l := range strings.Split(sec.Text, "\n") {
				it.Body = append(it.Body, line(plain(l)))
			}
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return nil
	}
	doc := p.s.Documents[0]
	for _, d := range p.s.Documents {
		if !d.Verification.Void() {
			doc = d
			break
		}
	}
	title := "As written in the document “" + doc.Title + "”"
	if d := dateOf(doc.Date); d != "" {
		title += " of " + d
	}
	title += " (text, not coded)"
	return []Group{{Key: "document", Title: line(Span{Text: title, Level: Caution, Strong: true}), Show: len(items), Noun: "document sections", Items: items}}
}

// allergySeverity ranks an allergy for the critical line: high
// criticality or anaphylaxis first, then by the worst reaction.
func allergySeverity(a *record.Allergy) int {
	n := map[string]int{"mild": 1, "moderate": 2, "severe": 3}[a.Severity]
	if alarm(a) {
		n += 10
	}
	return n
}

// alarm marks an allergy that may kill: high criticality, or anaphylaxis.
func alarm(a *record.Allergy) bool {
	if a.Criticality == "high" {
		return true
	}
	for _, r := range a.Reactions {
		for _, m := range r.Manifestations {
			if strings.Contains(strings.ToLower(m), "anaphyla") {
				return true
			}
		}
	}
	return false
}

// allergyLevel is how loud an allergy is: red only when it may kill,
// amber when severe, plain otherwise, so "MILD — Itching" never looks
// like "SEVERE — HIGH CRITICALITY — Angioedema".
func allergyLevel(a *record.Allergy) Level {
	switch {
	case alarm(a):
		return Danger
	case a.Severity == "severe":
		return Caution
	}
	return Normal
}

func (p *presenter) allergies() Section {
	s := p.newSection(KeyAllergies, record.SectionAllergies, "Allergies")
	if out, ok := p.withheld(s, "Allergy"); ok {
		out.Lines[0].Spans[0].Large = true
		return out
	}
	sec := &p.s.Allergies
	docs := p.fromDocuments(KeyAllergies)
	headline := func(text string, l Level) Line { return line(Span{Text: text, Level: l, Strong: true, Large: true}) }
	switch {
	case sec.State == record.StatePresent:
		s.Lines = append(s.Lines, headline(p.s.AllergyHeadline(), Danger))
	case sec.State == record.StateNoneRecorded:
		s.Lines = append(s.Lines, headline(p.s.AllergyHeadline(), Good))
	case len(docs) > 0:
		s.Lines = append(s.Lines, headline("Allergies recorded only as text in a document: read it below", Caution),
			line(warn("No coded allergy list was shared. Read the document's words below; if they are unclear, ask the patient.")))
	default:
		s.Lines = append(s.Lines, headline(p.s.AllergyHeadline(), Caution),
			line(warn("Nobody has recorded whether this patient has allergies. This is not the same as no allergies: ask the patient.")))
	}
	if sec.State == record.StatePresent && sec.None != nil {
		s.Lines = append(s.Lines, Line{Block: Caution, Spans: []Span{strong("Sources disagree: another source records “" + sec.None.Text + "” (" + orDash(dateOf(sec.None.Date)) + ").")}})
	}
	var items, void []Item
	for i := range sec.Items {
		a := &sec.Items[i]
		if a.Verification.Void() {
			void = append(void, voidItem(a.Substance, "", a.Verification, a.Date, a.Source))
			continue
		}
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
		head := line(Span{Text: a.Substance, Strong: true, Large: true})
		if alarm(a) && a.Active {
			head.Spans = append([]Span{{Text: AlarmBadge, Level: Danger, Strong: true, Badge: true}}, head.Spans...)
		}
		if len(detail) > 0 {
			st := Span{Text: "   " + strings.Join(detail, " — "), Level: allergyLevel(a), Strong: true}
			if !a.Active {
				st.Level = Normal
			}
			head.Spans = append(head.Spans, st)
		}
		meta := joinNonEmpty(" · ", a.Type, a.ClinicalStatus, a.Verification.Word(), recorded(a.Date))
		items = append(items, Item{
			Head: head,
			Body: []Line{line(caption(meta))},
			Name: a.Substance, Date: dateOf(a.Date), DateISO: isoOf(a.Date), Status: a.ClinicalStatus,
			Alarm: alarm(a), Source: a.Source.String(),
		})
	}
	if len(items) > 0 {
		s.Groups = append(s.Groups, Group{Key: "current", Show: showAllergies, Noun: "allergies", Items: items})
	}
	s.Groups = append(s.Groups, docs...)
	s.Groups = append(s.Groups, voidGroup(void)...)
	return s
}

func (p *presenter) medications() Section {
	s := p.newSection(KeyMedications, record.SectionMedications, "Current medications")
	if out, ok := p.withheld(s, "Medication"); ok {
		return out
	}
	sec := &p.s.Medications
	d := &p.s.Demographics
	docs := p.fromDocuments(KeyMedications)
	var current, atDeath, past, void []Item
	for i := range sec.Items {
		m := &sec.Items[i]
		it := Item{Name: m.Name, Date: dateOf(m.Date), DateISO: isoOf(m.Date), Status: m.Status, Source: m.Source.String()}
		switch {
		case m.Verification.Void():
			void = append(void, voidItem(m.Name, "", m.Verification, m.Date, m.Source))
			continue
		case m.Active:
			it.Head = line(strong(m.Name))
			it.Body = []Line{line(plain(joinNonEmpty(" · ", m.Dosage, since(m.Date), m.Reason)))}
			current = append(current, it)
		case d.Deceased && m.Status == "active":
			it.Head = line(plain(m.Name), muted("  "+joinNonEmpty(" · ", "marked active", since(m.Date))))
			atDeath = append(atDeath, it)
		default:
			it.Head = line(plain(m.Name), muted("  "+joinNonEmpty(" · ", m.Status, dateOf(m.Date))))
			past = append(past, it)
		}
	}
	s.Count = Plural(len(current), "medicine", "medicines")
	switch {
	case d.Deceased:
		died := "the patient has died"
		if on := deathDate(d); on != "" {
			died += " (" + on + ")"
		}
		s.Lines = append(s.Lines, line(strong("No current medications: "+died+".")))
	case sec.State != record.StatePresent && len(docs) > 0:
		s.Lines = append(s.Lines, line(warn("Medicines recorded only as text in a document: read it below")))
	case sec.State != record.StatePresent:
		s.Lines = append(s.Lines, stateLine(sec.State, sec.None, "medications", "Medication"))
	case len(current) == 0:
		s.Lines = append(s.Lines, line(strong("No current medications recorded")))
	}
	if len(current) > 0 {
		s.Groups = append(s.Groups, Group{Key: "current", Show: showMedications, Noun: "medicines", Items: current})
	}
	if len(atDeath) > 0 {
		s.Groups = append(s.Groups, Group{Key: "at_death", Title: groupTitle("Still marked active in the record (not current: the patient has died)"),
			Show: showPast, Noun: "medicines marked active", Items: atDeath})
	}
	if len(past) > 0 {
		s.Groups = append(s.Groups, Group{Key: "past", Title: groupTitle("Past and stopped"), Show: showPast, Noun: "past medicines", Items: past})
	}
	s.Groups = append(s.Groups, docs...)
	s.Groups = append(s.Groups, voidGroup(void)...)
	return s
}

func (p *presenter) problems() Section {
	s := p.newSection(KeyProblems, record.SectionProblems, "Problems")
	if out, ok := p.withheld(s, "Problem"); ok {
		return out
	}
	sec := &p.s.Problems
	docs := p.fromDocuments(KeyProblems)
	var active, past, void []Item
	for i := range sec.Items {
		pr := &sec.Items[i]
		it := Item{Name: pr.Name, Date: dateOf(pr.Date), DateISO: isoOf(pr.Date), Status: pr.ClinicalStatus, Source: pr.Source.String()}
		switch {
		case pr.Verification.Void():
			void = append(void, voidItem(pr.Name, "", pr.Verification, pr.Date, pr.Source))
		case pr.Active:
			it.Head = line(strong(pr.Name), muted("  "+joinNonEmpty(" · ", pr.Severity, since(pr.Date))))
			active = append(active, it)
		default:
			it.Head = line(plain(pr.Name), muted("  "+joinNonEmpty(" · ", pr.ClinicalStatus, dateOf(pr.Date))))
			past = append(past, it)
		}
	}
	s.Count = Plural(len(active), "active", "active")
	switch {
	case sec.State != record.StatePresent && len(docs) > 0:
		s.Lines = append(s.Lines, line(warn("Problems recorded only as text in a document: read it below")))
	case sec.State != record.StatePresent:
		s.Lines = append(s.Lines, stateLine(sec.State, sec.None, "problems", "Problem"))
	}
	if len(active) > 0 {
		s.Groups = append(s.Groups, Group{Key: "current", Show: showProblems, Noun: "problems", Items: active})
	}
	if len(past) > 0 {
		s.Groups = append(s.Groups, Group{Key: "past", Title: groupTitle("Resolved and past"), Show: showPast, Noun: "past problems", Items: past})
	}
	s.Groups = append(s.Groups, docs...)
	s.Groups = append(s.Groups, voidGroup(void)...)
	return s
}

func (p *presenter) carePlans() Section {
	s := p.newSection(KeyCarePlans, record.SectionCarePlans, "Care plans")
	if out, ok := p.withheld(s, "Care plan"); ok {
		return out
	}
	sec := &p.s.CarePlans
	var items, void []Item
	for i := range sec.Items {
		c := &sec.Items[i]
		title := c.Title
		if title == "" {
			title = orDash(c.Category)
		}
		if c.Verification.Void() {
			void = append(void, voidItem(title, "", c.Verification, c.Date, c.Source))
			continue
		}
		it := Item{Head: line(strong(title), muted("  "+joinNonEmpty(" · ", c.Status, periodText(c.Period)))),
			Name: title, Date: dateOf(c.Date), DateISO: isoOf(c.Date), Status: c.Status, Source: c.Source.String()}
		if c.Description != "" {
			it.Body = append(it.Body, line(plain(c.Description)))
		}
		for _, a := range c.Activities {
			it.Body = append(it.Body, line(plain("• "+joinNonEmpty(" — ", a.Text, a.Status))))
		}
		items = append(items, it)
	}
	s.Count = Plural(len(items), "plan", "plans")
	if sec.State != record.StatePresent {
		s.Lines = append(s.Lines, stateLine(sec.State, sec.None, "care plans", "Care plan"))
	}
	if len(items) > 0 {
		s.Groups = append(s.Groups, Group{Key: "current", Show: showCarePlans, Noun: "care plans", Items: items})
	}
	s.Groups = append(s.Groups, voidGroup(void)...)
	return s
}

func (p *presenter) encounters() Section {
	s := p.newSection(KeyEncounters, record.SectionEncounters, "Recent encounters")
	if out, ok := p.withheld(s, "Encounter"); ok {
		return out
	}
	sec := &p.s.Encounters
	var items, void []Item
	for i := range sec.Items {
		e := &sec.Items[i]
		if e.Verification.Void() {
			void = append(void, voidItem(e.Type, orDash(dateOf(e.Date))+"  ", e.Verification, e.Date, e.Source))
			continue
		}
		class := e.Class
		if class == e.Type {
			class = "" // an encounter known only by its class is named by it already
		}
		it := Item{Head: line(strong(orDash(dateOf(e.Date))+"  "), plain(e.Type)),
			Name: e.Type, Date: dateOf(e.Date), DateISO: isoOf(e.Date), Status: e.Status, Source: e.Source.String()}
		if c := joinNonEmpty(" · ", class, e.ServiceProvider, e.Reason, statusIfNot(e.Status, "finished")); c != "" {
			it.Body = []Line{line(caption(c))}
		}
		items = append(items, it)
	}
	s.Count = Plural(len(items), "encounter", "encounters")
	if sec.State != record.StatePresent {
		s.Lines = append(s.Lines, stateLine(sec.State, sec.None, "encounters", "Encounter"))
	}
	if len(items) > 0 {
		s.Groups = append(s.Groups, Group{Key: "current", Show: showEncounters, Noun: "encounters", Items: items})
	}
	s.Groups = append(s.Groups, voidGroup(void)...)
	return s
}

func (p *presenter) immunizations() Section {
	s := p.newSection(KeyImmunizations, record.SectionImmunizations, "Immunisations")
	if out, ok := p.withheld(s, "Immunisation"); ok {
		return out
	}
	sec := &p.s.Immunizations
	docs := p.fromDocuments(KeyImmunizations)
	var items, void []Item
	for i := range sec.Items {
		im := &sec.Items[i]
		if im.Verification.Void() {
			void = append(void, voidItem(im.Vaccine, orDash(dateOf(im.Date))+"  ", im.Verification, im.Date, im.Source))
			continue
		}
		it := Item{Head: line(strong(orDash(dateOf(im.Date))+"  "), plain(im.Vaccine)),
			Name: im.Vaccine, Date: dateOf(im.Date), DateISO: isoOf(im.Date), Status: im.Status, Source: im.Source.String()}
		switch {
		case im.NotGiven:
			it.Head.Spans = append(it.Head.Spans, warn("  NOT GIVEN"))
		case im.Status != "completed" && im.Status != "":
			it.Head.Spans = append(it.Head.Spans, muted("  "+im.Status))
		}
		items = append(items, it)
	}
	s.Count = Plural(len(items), "record", "records")
	switch {
	case sec.State != record.StatePresent && len(docs) > 0:
		s.Lines = append(s.Lines, line(warn("Immunisations recorded only as text in a document: read it below")))
	case sec.State != record.StatePresent:
		s.Lines = append(s.Lines, stateLine(sec.State, sec.None, "immunisations", "Immunisation"))
	}
	if len(items) > 0 {
		s.Groups = append(s.Groups, Group{Key: "current", Show: showImmunise, Noun: "immunisations", Items: items})
	}
	s.Groups = append(s.Groups, docs...)
	s.Groups = append(s.Groups, voidGroup(void)...)
	return s
}

// alertLabel is an alert kind as a heading: capitals, except ReSPECT,
// whose capitals are part of its name.
func alertLabel(k record.AlertKind) string {
	switch k {
	case record.AlertReSPECT:
		return "ReSPECT"
	case record.AlertOther:
		return "ALERT"
	}
	return strings.ToUpper(k.String())
}

// live reports whether an alert is in force: active and not void.
func live(a *record.Alert) bool { return a.Active && !a.Verification.Void() }

// liveAlerts are the alerts a paramedic must see first: resuscitation
// decisions in red, safeguarding and falls in amber, others on a panel.
// When none is live, the line says whether none is recorded, none was
// shared, or they were withheld.
func (p *presenter) liveAlerts() ([]Notice, *Line) {
	var out []Notice
	for i := range p.s.Alerts.Items {
		a := &p.s.Alerts.Items[i]
		if !live(a) {
			continue
		}
		label := alertLabel(a.Kind)
		detail := a.Text
		// "DNACPR: do not attempt..." under the heading DNACPR says it twice.
		if a.Kind != record.AlertOther && len(detail) > len(label)+1 &&
			strings.EqualFold(detail[:len(label)], label) && strings.ContainsAny(detail[len(label):len(label)+1], ":-–") {
			detail = strings.TrimSpace(detail[len(label)+1:])
		}
		if d := dateOf(a.Date); d != "" {
			detail += "  (from " + d + ")"
		}
		if a.Author != "" {
			detail += ", " + a.Author
		}
		n := Notice{Key: alertKey(a.Kind), Head: label, Text: detail, Level: Panel}
		switch a.Kind {
		case record.AlertDNACPR, record.AlertReSPECT:
			n.Level = Danger
		case record.AlertSafeguarding, record.AlertFallsRisk:
			n.Level = Caution
		}
		out = append(out, n)
	}
	if len(out) > 0 {
		return out, nil
	}
	var l Line
	switch why := p.withheldWhy(record.SectionAlerts); {
	case why != "":
		l = line(warn("Alerts: " + why))
	case p.s.Alerts.State == record.StateNotAvailable:
		l = line(warn("Alert information not available (no DNACPR, ReSPECT or safeguarding record was shared)"))
	default:
		l = line(strong("No active alerts recorded (DNACPR, ReSPECT, safeguarding, falls)"))
	}
	return nil, &l
}

func alertKey(k record.AlertKind) string {
	b, _ := k.MarshalText()
	return "alert_" + string(b)
}

// pastAlerts lists alerts that have ended, and struck through those
// entered in error, so none disappears.
func (p *presenter) pastAlerts() Section {
	s := p.newSection(KeyPastAlerts, record.SectionAlerts, "Past alerts")
	var past, void []Item
	for i := range p.s.Alerts.Items {
		a := &p.s.Alerts.Items[i]
		if live(a) {
			continue
		}
		if a.Verification.Void() {
			void = append(void, voidItem(a.Kind.String()+": "+a.Text, "", a.Verification, a.Date, a.Source))
			continue
		}
		state := a.Status
		if a.Status == "active" || a.Status == "" {
			state = "ended " + a.Period.End.String()
		}
		past = append(past, Item{Head: line(strong(a.Kind.String()+": "), plain(a.Text), muted("  ("+state+")")),
			Name: a.Text, Date: dateOf(a.Date), DateISO: isoOf(a.Date), Status: a.Status, Source: a.Source.String()})
	}
	if len(past)+len(void) == 0 {
		return s // no groups: a screen shows nothing for it
	}
	s.Count = Plural(len(past), "alert", "alerts")
	if len(past) > 0 {
		s.Groups = append(s.Groups, Group{Key: "past", Show: showAlerts, Noun: "alerts", Items: past})
	}
	s.Groups = append(s.Groups, voidGroup(void)...)
	return s
}

// documents lists the record's documents, each with its full text.
func (p *presenter) documents() *Section {
	if len(p.s.Documents) == 0 {
		return nil
	}
	s := p.newSection(KeyDocuments, record.SectionOther, "Documents")
	var items []Item
	live := 0
	for _, d := range p.s.Documents {
		if d.Verification.Void() {
			items = append(items, voidItem(orDash(d.Title), "", d.Verification, d.Date, d.Source))
			continue
		}
		live++
		it := Item{Head: line(strong(orDash(d.Title)), muted("  "+joinNonEmpty(" · ", d.Type, dateOf(d.Date), d.Author))),
			Name: d.Title, Date: dateOf(d.Date), DateISO: isoOf(d.Date), Status: d.Status, Source: d.Source.String(), MoreName: "Show the text"}
		for _, sec := range d.Sections {
			it.More = append(it.More, line(strong(sec.Title)))
			for _, l := range strings.Split(sec.Text, "\n") {
				it.More = append(it.More, line(plain(l)))
			}
		}
		items = append(items, it)
	}
	s.Count = Plural(live, "document", "documents")
	s.Groups = []Group{{Key: "current", Show: len(items), Noun: "documents", Items: items}}
	return &s
}

// row is one "label  value" line of the demographics and GP cards.
func row(label, value string) Item {
	return Item{Head: line(muted(label+"  "), strong(value)), Name: label}
}

// demographics is everything the record says about identity and contact,
// for the front desk and for confirming identity.
func (p *presenter) demographics() Section {
	d := &p.s.Demographics
	b := BannerOf(d, "", p.o.Now)
	s := p.newSection(KeyDemographics, record.SectionDemographics, "Demographics")
	items := []Item{row("Name", b.Name), row("Born", b.Born), row("Gender", b.Gender), row("NHS No.", b.NHS)}
	for _, n := range d.Names {
		if n.String() != b.Name && n.String() != "" {
			items = append(items, row("Also known as", n.String()+" ("+n.Use+")"))
		}
	}
	if d.Restricted {
		s.Lines = append(s.Lines, Line{Block: Caution, Spans: []Span{strong("Restricted record: address and contact details are withheld.")}})
	} else {
		if len(d.Addresses) == 0 {
			items = append(items, row("Address", "No address recorded"))
		}
		for _, a := range d.Addresses {
			label := "Address"
			if a.Use != "" {
				label += " (" + a.Use + ")"
			}
			items = append(items, row(label, a.String()))
		}
		for _, ph := range d.Phones {
			items = append(items, row("Phone ("+orDash(ph.Use)+")", ph.Value))
		}
		for _, e := range d.Emails {
			items = append(items, row("Email", e.Value))
		}
	}
	s.Groups = []Group{{Key: "current", Show: len(items), Noun: "details", Items: items}}
	if b.Deceased != "" {
		s.Lines = append(s.Lines, line(Span{Text: b.Deceased, Level: Danger, Strong: true}))
	}
	for _, c := range d.Conflicts {
		s.Lines = append(s.Lines, Line{Block: Caution, Spans: []Span{strong("Sources disagree on the " + c.Field + ": " + c.Shown + " is shown (" +
			c.ShownFrom.String() + "); " + c.OtherFrom.String() + " says " + c.Other + ".")}})
	}
	return s
}

// gp is the registered practice.
func (p *presenter) gp() Section {
	g := p.s.GP
	s := p.newSection(KeyGP, record.SectionGP, "Registered GP")
	if g.IsZero() {
		s.Lines = []Line{line(warn("No registered GP recorded"))}
		return s
	}
	items := []Item{row("Practice", orDash(g.Practice))}
	if g.ODSCode != "" {
		items = append(items, row("ODS code", g.ODSCode))
	}
	if g.Practitioner != "" {
		items = append(items, row("GP", g.Practitioner))
	}
	s.Groups = []Group{{Key: "current", Show: len(items), Noun: "details", Items: items}}
	return s
}

// other counts what the record holds but the summary does not show, so
// nothing disappears without a trace.
func (p *presenter) other() *Line {
	if len(p.s.Other) == 0 {
		return nil
	}
	var parts []string
	for _, tc := range p.s.Other {
		parts = append(parts, typeNoun(tc.Type, tc.Count))
	}
	l := line(muted("Also in the record, not shown on this summary: " + strings.Join(parts, ", ") + "."))
	return &l
}

// critical is the line of facts that must never leave the screen:
// resuscitation status, allergies with the worst first, safeguarding.
func (p *presenter) critical() []Fact {
	var out []Fact
	alerts := p.s.Alerts.Items
	resus := false
	for i := range alerts {
		a := &alerts[i]
		if live(a) && (a.Kind == record.AlertDNACPR || a.Kind == record.AlertReSPECT) {
			text := a.Text
			if d := dateOf(a.Date); d != "" {
				text += " (from " + d + ")"
			}
			out = append(out, Fact{Label: alertLabel(a.Kind), Text: text, Level: Danger})
			resus = true
		}
	}
	if !resus {
		switch {
		case p.withheldWhy(record.SectionAlerts) != "" || p.s.Alerts.State == record.StateNotAvailable:
			out = append(out, Fact{Label: "Resuscitation", Text: "no DNACPR or ReSPECT information available", Level: Caution})
		default:
			out = append(out, Fact{Label: "Resuscitation", Text: "no DNACPR or ReSPECT decision recorded", Level: Normal})
		}
	}
	out = append(out, p.allergyFact())
	for i := range alerts {
		if a := &alerts[i]; live(a) && a.Kind == record.AlertSafeguarding {
			out = append(out, Fact{Label: "Safeguarding", Text: a.Text, Level: Caution})
		}
	}
	return out
}

// allergyFact is the allergies part of the critical line.
func (p *presenter) allergyFact() Fact {
	f := Fact{Label: "Allergies", Level: Caution}
	sec := &p.s.Allergies
	switch {
	case p.withheldWhy(record.SectionAllergies) != "":
		f.Text = "Allergy information not available (withheld)"
		return f
	case sec.State == record.StateNoneRecorded:
		f.Text, f.Level = "No known allergies recorded", Good
		return f
	case sec.State != record.StatePresent:
		f.Text = "Allergy information not available"
		if len(p.fromDocuments(KeyAllergies)) > 0 {
			f.Text = "recorded only as text in a document: read it"
		}
		return f
	}
	var list []*record.Allergy
	for i := range sec.Items {
		if a := &sec.Items[i]; a.Active && !a.Verification.Void() {
			list = append(list, a)
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return allergySeverity(list[i]) > allergySeverity(list[j]) })
	var parts []string
	for _, a := range list {
		var how []string
		if a.Severity != "" {
			how = append(how, a.Severity)
		}
		if a.Criticality == "high" {
			how = append(how, "high criticality")
		}
		part := a.Substance
		if len(how) > 0 {
			part += " (" + strings.Join(how, ", ") + ")"
		}
		parts = append(parts, part)
		f.Parts = append(f.Parts, FactPart{Text: part, Alarm: alarm(a), Level: allergyLevel(a)})
	}
	f.Level = Danger
	f.Text = strings.Join(parts, "; ")
	if len(parts) == 0 {
		f.Text, f.Level = p.s.AllergyHeadline()+" recorded, none active", Normal
	}
	return f
}
