// Package presenttest holds the clinical cases that every screen's tests
// run: the presentation's own table tests check the View each case makes,
// and the window's and `kmcr show`'s tests render the same cases (to their
// golden files) and check that each shows, and does not show, the same
// words. One table, so the screens cannot drift apart again.
//
// Each case is FHIR R4 resources, read the way a cached document is
// (record.BuildBundle, record.ParseBundle, record.Summarise), with the
// device's facts. Struck-through text is written ~~like this~~ in Shown,
// as both the text output and the window's test harness write it.
package presenttest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"kmcr/present"
	"kmcr/record"
)

// The clock of every case: the summary was current at AsOf, is shown at
// Now, and may be held offline until NotAfter.
var (
	AsOf     = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	Now      = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	NotAfter = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
)

// Case is one clinical situation and what every screen must make of it.
type Case struct {
	Name string // also the golden files' name
	// Rule is the clinical rule the case pins, as docs/clinical-safety.md
	// names it.
	Rule string
	// Patient is the Patient resource; empty means DefaultPatient.
	Patient string
	// Resources are the patient's other resources (each names Patient/p).
	Resources []string
	// Omitted counts resource types the server left out of the document.
	Omitted []record.TypeCount
	// Facts adjusts the device's facts (by default: every section shared,
	// current, held by caseload).
	Facts func(*present.Facts)
	// Shown must appear in every screen's text; NotShown in none.
	Shown, NotShown []string
	// Check asserts the View's structure: what is live, void, counted.
	Check func(t testing.TB, v *present.View)
}

// DefaultPatient is SMITH, Jane Ann (Mrs), born 12-Mar-1962.
const DefaultPatient = `{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],
 "name":[{"use":"official","family":"Smith","given":["Jane","Ann"],"prefix":["Mrs"]}],"gender":"female","birthDate":"1962-03-12",
 "address":[{"use":"home","line":["12 High Street"],"city":"Gillingham","postalCode":"ME7 2JH"}]}`

// Open reads the case as the client reads a cached document, and returns
// what core.OpenPatient would: the NHS number, the summary and the facts.
func (c Case) Open(tb testing.TB) (record.NHSNumber, *record.Summary, present.Facts) {
	tb.Helper()
	patient := c.Patient
	if patient == "" {
		patient = DefaultPatient
	}
	var res []record.Resource
	for i, raw := range append([]string{patient}, c.Resources...) {
		r := record.ResourceFromRaw([]byte(raw), "")
		if r.Type == "" {
			tb.Fatalf("case %s: resource %d is not a resource: %s", c.Name, i, raw)
		}
		res = append(res, r)
	}
	first := res[0]
	rec := &record.PatientRecord{Key: first.Key(), Resources: res, Omitted: c.Omitted}
	doc, err := record.BuildBundle(rec, record.BundleMeta{ID: c.Name})
	if err != nil {
		tb.Fatalf("case %s: %v", c.Name, err)
	}
	back, err := record.ParseBundle(doc)
	if err != nil {
		tb.Fatalf("case %s: %v", c.Name, err)
	}
	f := present.Facts{AsOf: AsOf, NotAfter: NotAfter, Freshness: 24 * time.Hour, Relationship: present.RelCaseload, Sections: record.AllSections()}
	if c.Facts != nil {
		c.Facts(&f)
	}
	s := record.Summarise(back, f.AsOf)
	if f.DemographicsOnly {
		// As core does for a demographics-only role.
		d, gp := s.Demographics, s.GP
		*s = record.Summary{AsOf: s.AsOf, PatientKey: s.PatientKey, Demographics: d, GP: gp}
	}
	return back.NHS, s, f
}

// Options are the presentation options of every case: shown at Now, in
// UTC, warning 12 hours before the lease ends (as the client does).
func Options() present.Options {
	return present.Options{Now: Now, Location: time.UTC, LeaseWarning: 12 * time.Hour}
}

// CheckText checks a screen's text against the case's Shown and NotShown.
func (c Case) CheckText(tb testing.TB, screen, text string) {
	tb.Helper()
	for _, want := range c.Shown {
		if !strings.Contains(text, want) {
			tb.Errorf("case %s (%s): the %s does not show %q:\n%s", c.Name, c.Rule, screen, want, text)
		}
	}
	for _, bad := range c.NotShown {
		if strings.Contains(text, bad) {
			tb.Errorf("case %s (%s): the %s shows %q:\n%s", c.Name, c.Rule, screen, bad, text)
		}
	}
}

// Items returns the items of a section's group ("" for every group).
func Items(v *present.View, section, group string) []present.Item {
	s := v.Section(section)
	if s == nil {
		return nil
	}
	var out []present.Item
	for _, g := range s.Groups {
		if group == "" || g.Key == group {
			out = append(out, g.Items...)
		}
	}
	return out
}

// Names returns the names of items, with " (void: word)" after void ones.
func Names(items []present.Item) string {
	var out []string
	for _, it := range items {
		n := it.Name
		if it.Void {
			n += " (void: " + it.Word + ")"
		}
		out = append(out, n)
	}
	return strings.Join(out, ", ")
}

// Struck returns the struck-through text of every item of a section.
func Struck(v *present.View, section string) []string {
	var out []string
	for _, it := range Items(v, section, "") {
		for _, sp := range it.Head.Spans {
			if sp.Struck {
				out = append(out, sp.Text)
			}
		}
	}
	return out
}

func expect(tb testing.TB, what string, got, want any) {
	tb.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		tb.Errorf("%s = %v; want %v", what, got, want)
	}
}

// subject is how the cases' resources name their patient.
const subject = `"subject":{"reference":"Patient/p"}`

func flag(id, status, code, display, start, end string) string {
	period := `"start":"` + start + `"`
	if end != "" {
		period += `,"end":"` + end + `"`
	}
	return `{"resourceType":"Flag","id":"` + id + `","status":"` + status + `",` + subject +
		`,"code":{"coding":[{"system":"http://snomed.info/sct","code":"` + code + `","display":"` + display + `"}]},"period":{` + period + `}}`
}

func allergy(id, substance, clinical, verification, extra string) string {
	s := `{"resourceType":"AllergyIntolerance","id":"` + id + `","patient":{"reference":"Patient/p"},"code":{"text":"` + substance + `"},"recordedDate":"2019-04-02"`
	if clinical != "" {
		s += `,"clinicalStatus":{"coding":[{"code":"` + clinical + `"}]}`
	}
	if verification != "" {
		s += `,"verificationStatus":{"coding":[{"code":"` + verification + `"}]}`
	}
	return s + extra + `}`
}

func condition(id, name, clinical, verification string) string {
	s := `{"resourceType":"Condition","id":"` + id + `",` + subject + `,"code":{"text":"` + name + `"},"onsetDateTime":"2015-01-10"`
	if clinical != "" {
		s += `,"clinicalStatus":{"coding":[{"code":"` + clinical + `"}]}`
	}
	if verification != "" {
		s += `,"verificationStatus":{"coding":[{"code":"` + verification + `"}]}`
	}
	return s + `}`
}

func medication(id, name, status, date string) string {
	return `{"resourceType":"MedicationRequest","id":"` + id + `","status":"` + status + `","intent":"order",` + subject +
		`,"medicationCodeableConcept":{"text":"` + name + `"},"authoredOn":"` + date + `","dosageInstruction":[{"text":"One tablet each morning"}]}`
}

func temperature(id, status, value, date string) string {
	return `{"resourceType":"Observation","id":"` + id + `","status":"` + status + `",` + subject +
		`,"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}]` +
		`,"code":{"coding":[{"system":"http://loinc.org","code":"8310-5","display":"Body temperature"}]},"valueQuantity":{"value":` + value + `,"unit":"Cel"},"effectiveDateTime":"` + date + `"}`
}

const nka = `{"resourceType":"AllergyIntolerance","id":"nka","patient":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"code":"active"}]},` +
	`"code":{"coding":[{"system":"http://snomed.info/sct","code":"716186003","display":"No known allergy"}]},"recordedDate":"2024-03-01"}`
