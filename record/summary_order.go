package record

import (
	"sort"
	"strconv"
)

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// finish applies what the patient's death means, puts every list in
// display order and sets each section's state.
func (s *Summary) finish() {
	if s.Demographics.Deceased {
		for i := range s.Medications.Items {
			s.Medications.Items[i].Active = false
		}
	}
	s.sortAll()
	s.settleAll()
}

// live counts the items that are not void (entered in error or refuted).
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
	s.Alerts.settle(live(s.Alerts.Items, func(a *Alert) bool { return a.Verification.Void() }))
	s.Allergies.settle(live(s.Allergies.Items, func(a *Allergy) bool { return a.Verification.Void() }))
	s.Medications.settle(live(s.Medications.Items, func(m *Medication) bool { return m.Verification.Void() }))
	s.Problems.settle(live(s.Problems.Items, func(p *Problem) bool { return p.Verification.Void() }))
	s.Encounters.settle(live(s.Encounters.Items, func(e *Encounter) bool { return e.Verification.Void() }))
	s.Observations.settle(live(s.Observations.Items, func(o *Observation) bool { return o.Verification.Void() }))
	s.CarePlans.settle(live(s.CarePlans.Items, func(p *CarePlan) bool { return p.Verification.Void() }))
	s.Immunizations.settle(live(s.Immunizations.Items, func(i *Immunization) bool { return i.Verification.Void() }))
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

// voidLast groups void items after the rest.
func voidLast(v Verification) int {
	if v.Void() {
		return 1
	}
	return 0
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
		if a.Verification.Void() {
			g += 20
		}
		return g
	}, func(a *Alert) Date { return a.Date })
	byGroupThenNewest(s.Allergies.Items, func(a *Allergy) int {
		switch {
		case a.Verification.Void():
			return 2
		case !a.Active:
			return 1
		}
		return 0
	}, func(a *Allergy) Date { return a.Date })
	byGroupThenNewest(s.Medications.Items, func(m *Medication) int {
		switch {
		case m.Verification.Void():
			return 2
		case m.Active:
			return 0
		}
		return 1
	}, func(m *Medication) Date { return m.Date })
	byGroupThenNewest(s.Problems.Items, func(p *Problem) int {
		switch {
		case p.Verification.Void():
			return 2
		case p.Active:
			return 0
		}
		return 1
	}, func(p *Problem) Date { return p.Date })
	byGroupThenNewest(s.Encounters.Items, func(e *Encounter) int { return voidLast(e.Verification) }, func(e *Encounter) Date { return e.Date })
	byGroupThenNewest(s.Observations.Items, func(o *Observation) int { return voidLast(o.Verification) }, func(o *Observation) Date { return o.Date })
	byGroupThenNewest(s.CarePlans.Items, func(p *CarePlan) int {
		switch {
		case p.Verification.Void():
			return 2
		case p.Status == "active":
			return 0
		}
		return 1
	}, func(p *CarePlan) Date { return p.Date })
	byGroupThenNewest(s.Immunizations.Items, func(i *Immunization) int { return voidLast(i.Verification) }, func(i *Immunization) Date { return i.Date })
}
