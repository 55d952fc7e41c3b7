package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"

	"kmcr/record"
)

// maxChartPoints is how many recent readings a trend draws; the caption
// says how many there are in all.
const maxChartPoints = 30

// obsGroup is every reading of one kind from one kind of source: a
// clinician's heart rates and a wearable's are different groups.
type obsGroup struct {
	name    string
	patient bool
	vital   bool
	items   []record.Observation // newest first, as the summary orders them
}

// groupObservations groups readings by code (or name) and source, in the
// order of their newest reading.
func groupObservations(items []record.Observation) []*obsGroup {
	var out []*obsGroup
	byKey := map[string]*obsGroup{}
	for _, o := range items {
		if o.Verification.Void() {
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
			out = append(out, g)
		}
		g.items = append(g.items, o)
	}
	return out
}

// series turns a group into chart lines: the value when it is a number,
// or each numeric component (systolic and diastolic pressure).
func (g *obsGroup) series() ([]chartSeries, string) {
	var main chartSeries
	comps := map[string]*chartSeries{}
	var order []string
	unit := ""
	n := min(len(g.items), maxChartPoints)
	for i := n - 1; i >= 0; i-- { // oldest first
		o := g.items[i]
		if o.Date.IsZero() {
			continue
		}
		if o.Quantity != nil {
			main.pts = append(main.pts, chartPoint{o.Date.Time, o.Quantity.Value})
			unit = o.Quantity.Unit
			continue
		}
		for _, c := range o.Components {
			if c.Quantity == nil {
				continue
			}
			s := comps[c.Name]
			if s == nil {
				s = &chartSeries{name: c.Name}
				comps[c.Name] = s
				order = append(order, c.Name)
			}
			s.pts = append(s.pts, chartPoint{o.Date.Time, c.Quantity.Value})
			unit = c.Quantity.Unit
		}
	}
	col := colChartLine
	if g.patient {
		col = colChartAlt
	}
	var out []chartSeries
	if len(main.pts) > 1 {
		main.col = col
		out = append(out, main)
	}
	for i, name := range order {
		s := comps[name]
		if len(s.pts) < 2 {
			continue
		}
		s.col = col
		if i%2 == 1 {
			s.col = colMuted
		}
		out = append(out, *s)
	}
	return out, unit
}

// view shows the latest reading, a trend when there are two or more
// numeric readings, and how many readings there are.
func (g *obsGroup) view() fyne.CanvasObject {
	latest := g.items[0]
	head := []span{{g.name, bold}}
	if g.patient {
		head = append(head, span{"   patient-entered", style{col: colChartAlt, bold: true}})
	}
	value := []span{{orDash(latest.Value), style{size: theme.SizeNameSubHeadingText, bold: true}}}
	if latest.Interpretation != "" {
		value = append(value, span{"  " + latest.Interpretation, warnText})
	}
	value = append(value, span{"   " + orDash(dateOf(latest.Date)), muted})
	rows := []fyne.CanvasObject{line(head...), line(value...)}
	if g.vital || g.patient {
		if series, unit := g.series(); len(series) > 0 {
			rows = append(rows, newTrendChart(unit, series...))
			first := g.items[len(g.items)-1]
			note := fmt.Sprintf("%s from %s to %s", plural(len(g.items), "reading", "readings"), orDash(dateOf(first.Date)), orDash(dateOf(latest.Date)))
			if len(g.items) > maxChartPoints {
				note += fmt.Sprintf("; the chart shows the latest %d", maxChartPoints)
			}
			if len(series) > 1 {
				note += "; lines: "
				for i, s := range series {
					if i > 0 {
						note += ", "
					}
					note += s.name
				}
			}
			rows = append(rows, txt(note, caption))
		}
	}
	return container.NewVBox(rows...)
}

func (sv *summaryView) observations() fyne.CanvasObject {
	if why := sv.withheldWhy(record.SectionObservations); why != "" {
		return sv.notShared(record.SectionObservations, "Observations", why)
	}
	sec := &sv.v.Summary.Observations
	groups := groupObservations(sec.Items)
	var vitals, patient, other []fyne.CanvasObject
	for _, g := range groups {
		switch {
		case g.patient:
			patient = append(patient, g.view())
		case g.vital:
			vitals = append(vitals, g.view())
		default:
			other = append(other, g.view())
		}
	}
	objs := []fyne.CanvasObject{sv.header("Observations", plural(len(groups), "kind", "kinds"))}
	if sec.State != record.StatePresent {
		objs = append(objs, stateLine(sec.State, sec.None, "observations", "Observation"))
	}
	if len(vitals) > 0 {
		objs = append(objs, txt("Vital signs (measured by clinicians)", style{col: colMuted, bold: true}), sv.capped(vitals, showObsGroups, "vital signs"))
	}
	if len(patient) > 0 {
		objs = append(objs, block(theme.ColorNameHeaderBackground,
			line(span{"Patient-entered readings  ", style{col: colChartAlt, bold: true}},
				span{"from the patient's own devices: not checked by a clinician", plain})),
			sv.capped(patient, showObsGroups, "patient-entered readings"))
	}
	if len(other) > 0 {
		objs = append(objs, txt("Other results", style{col: colMuted, bold: true}), sv.capped(other, showObsGroups, "results"))
	}
	return newSectionCard(record.SectionObservations, objs...)
}
