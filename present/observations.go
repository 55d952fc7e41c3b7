package present

import (
	"fmt"

	"kmcr/record"
)

// MaxChartPoints is how many recent readings a trend draws; its note says
// how many there are in all.
const MaxChartPoints = 30

// obsGroup is every reading of one kind from one kind of source: a
// clinician's heart rates and a wearable's are different groups.
type obsGroup struct {
	name    string
	patient bool
	vital   bool
	items   []*record.Observation // newest first, as the summary orders them
}

// groupObservations groups readings by code (or name) and source, in the
// order of their newest reading. Void readings (entered in error) are not
// readings of the patient: they are in no group, never latest and never
// in a trend; they are returned apart, to be struck through.
func groupObservations(items []record.Observation) (groups []*obsGroup, void []*record.Observation) {
	byKey := map[string]*obsGroup{}
	for i := range items {
		o := &items[i]
		if o.Verification.Void() {
			void = append(void, o)
			continue
		}
		key := o.Code.System + "|" + o.Code.Code
		if o.Code.Code == "" {
			key = "name|" + o.Name
		}
		if o.PatientEntered {
			key += "|patient"
		}
		g := byKey[key]
		if g == nil {
			g = &obsGroup{name: o.Name, patient: o.PatientEntered, vital: o.VitalSign}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.items = append(g.items, o)
	}
	return groups, void
}

// trend turns a group into chart lines: the value when it is a number, or
// each numeric component (systolic and diastolic pressure). It is nil when
// no line would have two points.
func (g *obsGroup) trend() *Trend {
	var main Series
	comps := map[string]*Series{}
	var order []string
	unit := ""
	n := min(len(g.items), MaxChartPoints)
	for i := n - 1; i >= 0; i-- { // oldest first
		o := g.items[i]
		if o.Date.IsZero() {
			continue
		}
		if o.Quantity != nil {
			main.Points = append(main.Points, Point{o.Date.Time, o.Quantity.Value})
			unit = o.Quantity.Unit
			continue
		}
		for _, c := range o.Components {
			if c.Quantity == nil {
				continue
			}
			s := comps[c.Name]
			if s == nil {
				s = &Series{Name: c.Name}
				comps[c.Name] = s
				order = append(order, c.Name)
			}
			s.Points = append(s.Points, Point{o.Date.Time, c.Quantity.Value})
			unit = c.Quantity.Unit
		}
	}
	tone := "primary"
	if g.patient {
		tone = "patient"
	}
	t := &Trend{Unit: unit}
	if len(main.Points) > 1 {
		main.Tone = tone
		t.Series = append(t.Series, main)
	}
	for i, name := range order {
		s := comps[name]
		if len(s.Points) < 2 {
			continue
		}
		s.Tone = tone
		if i%2 == 1 {
			s.Tone = "secondary"
		}
		t.Series = append(t.Series, *s)
	}
	if len(t.Series) == 0 {
		return nil
	}
	first, latest := g.items[len(g.items)-1], g.items[0]
	t.Note = fmt.Sprintf("%s from %s to %s", Plural(len(g.items), "reading", "readings"), orDash(dateOf(first.Date)), orDash(dateOf(latest.Date)))
	if len(g.items) > MaxChartPoints {
		t.Note += fmt.Sprintf("; the chart shows the latest %d", MaxChartPoints)
	}
	if len(t.Series) > 1 {
		t.Note += "; lines: "
		for i, s := range t.Series {
			if i > 0 {
				t.Note += ", "
			}
			t.Note += s.Name
		}
	}
	return t
}

// item shows the latest reading, a trend for vital signs and the
// patient's own readings, and every reading behind "show every reading".
func (g *obsGroup) item() Item {
	latest := g.items[0]
	head := line(strong(g.name))
	if g.patient {
		head.Spans = append(head.Spans, Span{Text: "   patient-entered", Level: Patient, Strong: true})
	}
	value := line(Span{Text: orDash(latest.Value), Strong: true, Large: true})
	if latest.Interpretation != "" {
		value.Spans = append(value.Spans, warn("  "+latest.Interpretation))
	}
	value.Spans = append(value.Spans, muted("   "+orDash(dateOf(latest.Date))))
	it := Item{Head: head, Body: []Line{value}, Name: g.name, Date: dateOf(latest.Date), DateISO: isoOf(latest.Date),
		Status: latest.Status, Source: latest.Source.String()}
	if g.vital || g.patient {
		it.Trend = g.trend()
	}
	if len(g.items) > 1 {
		if it.Trend == nil {
			first := g.items[len(g.items)-1]
			it.Body = append(it.Body, line(caption(fmt.Sprintf("%s from %s to %s", Plural(len(g.items), "reading", "readings"),
				orDash(dateOf(first.Date)), orDash(dateOf(latest.Date))))))
		}
		it.MoreName = fmt.Sprintf("Show every reading (%d)", len(g.items))
		for _, o := range g.items {
			it.More = append(it.More, line(muted(orDash(dateOf(o.Date))+"  "), plain(joinNonEmpty("  ", orDash(o.Value), o.Interpretation))))
		}
	}
	return it
}

func (p *presenter) observations() Section {
	s := p.newSection(KeyObservations, record.SectionObservations, "Observations")
	if out, ok := p.withheld(s, "Observation"); ok {
		return out
	}
	sec := &p.s.Observations
	groups, voided := groupObservations(sec.Items)
	var vitals, patient, other, void []Item
	for _, g := range groups {
		switch {
		case g.patient:
			patient = append(patient, g.item())
		case g.vital:
			vitals = append(vitals, g.item())
		default:
			other = append(other, g.item())
		}
	}
	for _, o := range voided {
		it := voidItem(o.Name, orDash(dateOf(o.Date))+"  ", o.Verification, o.Date, o.Source)
		it.Head.Spans[1].Text = o.Name + ": " + orDash(o.Value) // the reading that is not one
		void = append(void, it)
	}
	s.Count = Plural(len(groups), "kind", "kinds")
	if sec.State != record.StatePresent {
		s.Lines = append(s.Lines, stateLine(sec.State, sec.None, "observations", "Observation"))
	}
	if len(vitals) > 0 {
		s.Groups = append(s.Groups, Group{Key: "vital", Title: groupTitle("Vital signs (measured by clinicians)"), Show: showObsGroups, Noun: "vital signs", Items: vitals})
	}
	if len(patient) > 0 {
		s.Groups = append(s.Groups, Group{Key: "patient", Title: Line{Block: Panel, Spans: []Span{
			{Text: "Patient-entered readings  ", Level: Patient, Strong: true},
			plain("from the patient's own devices: not checked by a clinician")}},
			Show: showObsGroups, Noun: "patient-entered readings", Items: patient})
	}
	if len(other) > 0 {
		s.Groups = append(s.Groups, Group{Key: "other", Title: groupTitle("Other results"), Show: showObsGroups, Noun: "results", Items: other})
	}
	if len(void) > 0 {
		s.Groups = append(s.Groups, Group{Key: "void", Title: groupTitle("Entered in error (not readings of the patient; not counted)"), Show: showVoid, Noun: "struck readings", Items: void})
	}
	return s
}
