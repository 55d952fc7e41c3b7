package record

import (
	"sort"
	"strconv"
	"strings"
)

type fhirDose struct {
	Text         string
	Frequency    int64
	Period       fhirNumber
	PeriodUnit   string
	AsNeeded     bool
	DoseQuantity *fhirQuantity
}

func readDoses(v []byte) []fhirDose {
	var out []fhirDose
	elements(v, func(e []byte) {
		var d fhirDose
		members(e, func(k string, v []byte) {
			switch k {
			case "text":
				d.Text = jstr(v)
			case "asNeededBoolean":
				d.AsNeeded = string(v) == "true"
			case "timing":
				members(v, func(k string, v []byte) {
					if k == "repeat" {
						members(v, func(k string, v []byte) {
							switch k {
							case "frequency":
								if n := jint(v); n != nil {
									d.Frequency = *n
								}
							case "period":
								d.Period = jnum(v)
							case "periodUnit":
								d.PeriodUnit = jstr(v)
							}
						})
					}
				})
			case "doseAndRate":
				elements(v, func(e []byte) {
					members(e, func(k string, v []byte) {
						if k == "doseQuantity" && d.DoseQuantity == nil {
							d.DoseQuantity = readQuantity(v)
						}
					})
				})
			}
		})
		out = append(out, d)
	})
	return out
}

var unitWords = map[string]string{"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}

// dosageText returns the dosage as written, or, when the source gives only
// structured timing, a plain rendering such as "1 twice a day".
func dosageText(doses []fhirDose) string {
	var out []string
	for _, d := range doses {
		if d.Text != "" {
			out = append(out, d.Text)
			continue
		}
		var parts []string
		if q := d.DoseQuantity.quantity(); q != nil {
			parts = append(parts, q.String())
		}
		if t := timingText(d.Frequency, string(d.Period), d.PeriodUnit); t != "" {
			parts = append(parts, t)
		}
		if d.AsNeeded {
			parts = append(parts, "when needed")
		}
		if len(parts) > 0 {
			out = append(out, strings.Join(parts, " "))
		}
	}
	return strings.Join(out, "; ")
}

func timingText(freq int64, period, unit string) string {
	word, ok := unitWords[unit]
	if !ok || freq <= 0 {
		return ""
	}
	period = formatNumber(period)
	if period == "" || period == "1" || period == "1.0" {
		switch freq {
		case 1:
			return "once a " + word
		case 2:
			return "twice a " + word
		}
		return itoa64(freq) + " times a " + word
	}
	if freq == 1 {
		return "every " + period + " " + word + "s"
	}
	return itoa64(freq) + " times every " + period + " " + word + "s"
}

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
func (s *Summary) finish()  { s.sortAll(); s.settleAll() }
func live[T any](items []T, dead func(*T) bool) int {
	n := 0
	for i := range items {
		if !dead(&items[i]) {
			n++
		}
	}
	return n
}

func (s *Summary) settleAll() {
	s.Alerts.settle(live(s.Alerts.Items, func(a *Alert) bool { return a.Status == "entered-in-error" }))
	s.Allergies.settle(live(s.Allergies.Items, func(a *Allergy) bool { return a.EnteredInError }))
	s.Medications.settle(live(s.Medications.Items, func(m *Medication) bool { return m.EnteredInError }))
	s.Problems.settle(live(s.Problems.Items, func(p *Problem) bool { return p.EnteredInError }))
	s.Encounters.settle(live(s.Encounters.Items, func(e *Encounter) bool { return e.Status == "entered-in-error" }))
	s.Observations.settle(live(s.Observations.Items, func(o *Observation) bool { return o.EnteredInError }))
	s.CarePlans.settle(live(s.CarePlans.Items, func(p *CarePlan) bool { return p.Status == "entered-in-error" }))
	s.Immunizations.settle(live(s.Immunizations.Items, func(i *Immunization) bool { return i.Status == "entered-in-error" }))
}

// byGroupThenNewest sorts items by a group number (lower first), then
// newest first, keeping source order for ties.
func byGroupThenNewest[T any](items []T, group func(*T) int, date func(*T) Date) {
	sort.SliceStable(items, func(i, j int) bool {
		gi, gj := group(&items[i]), group(&items[j])
		if gi != gj {
			return gi < gj
		}
		return newer(date(&items[i]), date(&items[j]))
	})
}

func (s *Summary) sortAll() {
	byGroupThenNewest(s.Alerts.Items, func(a *Alert) int {
		g := int(a.Kind)
		if a.Kind == AlertOther {
			g = 10
		}
		if !a.Active {
			g += 20
		}
		return g
	}, func(a *Alert) Date { return a.Date })
	byGroupThenNewest(s.Allergies.Items, func(a *Allergy) int {
		switch {
		case a.EnteredInError:
			return 2
		case a.ClinicalStatus == "inactive" || a.ClinicalStatus == "resolved":
			return 1
		}
		return 0
	}, func(a *Allergy) Date { return a.Date })
	byGroupThenNewest(s.Medications.Items, func(m *Medication) int {
		switch {
		case m.EnteredInError:
			return 2
		case m.Active:
			return 0
		}
		return 1
	}, func(m *Medication) Date { return m.Date })
	byGroupThenNewest(s.Problems.Items, func(p *Problem) int {
		switch {
		case p.EnteredInError:
			return 2
		case p.Active:
			return 0
		}
		return 1
	}, func(p *Problem) Date { return p.Date })
	byGroupThenNewest(s.Encounters.Items, func(*Encounter) int { return 0 }, func(e *Encounter) Date { return e.Date })
	byGroupThenNewest(s.Observations.Items, func(o *Observation) int {
		if o.EnteredInError {
			return 1
		}
		return 0
	}, func(o *Observation) Date { return o.Date })
	byGroupThenNewest(s.CarePlans.Items, func(p *CarePlan) int {
		if p.Status == "active" {
			return 0
		}
		return 1
	}, func(p *CarePlan) Date { return p.Date })
	byGroupThenNewest(s.Immunizations.Items, func(*Immunization) int { return 0 }, func(i *Immunization) Date { return i.Date })
}
