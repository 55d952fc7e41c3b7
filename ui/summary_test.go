package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/present"
	"kmcr/present/presenttest"
	"kmcr/record"
)

// buttonT names Fyne's button in tests.
type buttonT = widget.Button

// fixedNow is the clock of the golden tests.
var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func date(s string) record.Date { return record.ParseDate(s) }

func qty(v float64, unit string) *record.Quantity {
	return &record.Quantity{Value: v, Text: fmt.Sprint(v), Unit: unit}
}

// fixtureDemographics is a patient with every banner field.
func fixtureDemographics() record.Demographics {
	addr := record.Address{Use: "home", Lines: []string{"12 High Street"}, City: "Gillingham", Postcode: "ME7 2JH"}
	name := record.HumanName{Use: "official", Family: "Smith", Given: []string{"Jane", "Ann"}, Prefix: []string{"Mrs"}}
	return record.Demographics{Name: name, Names: []record.HumanName{name}, BirthDate: date("1962-03-12"), Gender: "female",
		NHS: "9434765919", Address: addr, Addresses: []record.Address{addr},
		Phones: []record.ContactPoint{{Value: "01632 960123", Use: "home"}}}
}

// fixtureView is a hand-made patient view: every section present, an
// active DNACPR alert, allergies with severity, and clinician and
// patient-entered heart rates.
func fixtureView() *core.PatientView {
	statePresent := record.StatePresent
	s := &record.Summary{AsOf: time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC), Demographics: fixtureDemographics(),
		GP: record.GP{Practice: "Sunlight Surgery", ODSCode: "G82001", Practitioner: "Dr A Patel"}}
	s.Alerts = record.Section[record.Alert]{State: statePresent, Items: []record.Alert{
		{Kind: record.AlertDNACPR, Text: "Not for attempted cardiopulmonary resuscitation", Status: "active", Active: true, Date: date("2025-06-01"), Author: "Dr A Patel"},
		{Kind: record.AlertSafeguarding, Text: "Adult safeguarding concern", Status: "active", Active: true, Date: date("2026-02-10")},
		{Kind: record.AlertFallsRisk, Text: "At risk of falls", Status: "inactive", Date: date("2023-01-05")},
	}}
	s.Allergies = record.Section[record.Allergy]{State: statePresent, Items: []record.Allergy{
		{Substance: "Penicillin", Severity: "severe", Criticality: "high", ClinicalStatus: "active", Active: true, Verification: record.VerificationConfirmed, Type: "allergy",
			Reactions: []record.Reaction{{Manifestations: []string{"Anaphylaxis"}}}, Date: date("2019-04-02")},
		{Substance: "Latex", Severity: "mild", ClinicalStatus: "active", Active: true, Verification: record.VerificationUnconfirmed, Type: "allergy",
			Reactions: []record.Reaction{{Manifestations: []string{"Rash"}}}, Date: date("2021-09-14")},
	}}
	s.Medications = record.Section[record.Medication]{State: statePresent, Items: []record.Medication{
		{Name: "Bisoprolol 5mg tablets", Dosage: "One tablet each morning", Status: "active", Active: true, Date: date("2024-05-01")},
		{Name: "Apixaban 5mg tablets", Dosage: "One tablet twice a day", Status: "active", Active: true, Date: date("2024-05-01")},
		{Name: "Amoxicillin 500mg capsules", Status: "stopped", Date: date("2019-04-01")},
	}}
	s.Problems = record.Section[record.Problem]{State: statePresent, Items: []record.Problem{
		{Name: "Atrial fibrillation", Active: true, ClinicalStatus: "active", Date: date("2024-04-20")},
		{Name: "Type 2 diabetes mellitus", Active: true, ClinicalStatus: "active", Date: date("2015-01-10")},
		{Name: "Fractured wrist", ClinicalStatus: "resolved", Date: date("2020-02-02")},
	}}
	s.Encounters = record.Section[record.Encounter]{State: statePresent, Items: []record.Encounter{
		{Type: "Emergency department attendance", Class: "emergency", ServiceProvider: "Medway Maritime Hospital", Status: "finished", Date: date("2026-10-30")},
		{Type: "GP consultation", Class: "ambulatory", ServiceProvider: "Sunlight Surgery", Status: "finished", Date: date("2026-09-12")},
	}}
	hr := record.Coding{System: "http://loinc.org", Code: "8867-4"}
	var obs []record.Observation
	for i, v := range []float64{72, 88, 81} {
		obs = append(obs, record.Observation{Name: "Heart rate", Code: hr, Value: fmt.Sprintf("%g /min", v), Quantity: qty(v, "/min"),
			VitalSign: true, Date: date(fmt.Sprintf("2026-%02d-15", 11-i*2))})
	}
	for i, v := range []float64{64, 70, 95, 77} {
		obs = append(obs, record.Observation{Name: "Heart rate", Code: hr, Value: fmt.Sprintf("%g /min", v), Quantity: qty(v, "/min"),
			VitalSign: true, PatientEntered: true, Date: date(fmt.Sprintf("2026-11-%02d", 20-i*5))})
	}
	s.Observations = record.Section[record.Observation]{State: statePresent, Items: obs}
	s.CarePlans = record.Section[record.CarePlan]{State: statePresent, Items: []record.CarePlan{
		{Title: "End of life care plan", Status: "active", Period: record.Period{Start: date("2026-03-01")},
			Activities: []record.CarePlanActivity{{Text: "Anticipatory medicines at home", Status: "in-progress"}}},
	}}
	s.Immunizations = record.Section[record.Immunization]{State: record.StateNotAvailable}
	return &core.PatientView{NHS: "9434765919", Summary: s, Facts: present.Facts{AsOf: s.AsOf, Freshness: 24 * time.Hour,
		NotAfter: time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC), Relationship: present.RelCaseload,
		Sections: record.AllSections()}}
}

// fixtureHarness is a UI on an unenrolled core whose clock stands still,
// for screens built from fixtureView.
func fixtureHarness(t *testing.T) *harness {
	h := newHarness(t, newProfile(t).openCore(t))
	h.clockMu.Lock()
	h.now = fixedNow
	h.clockMu.Unlock()
	h.ui(func() { h.u.setThemeMode(themeLight) })
	return h
}

// showFixture shows v as the summary screen does, without a shell (the
// core behind it is not enrolled).
func (h *harness) showFixture(v *core.PatientView) fyne.CanvasObject {
	var obj fyne.CanvasObject
	h.ui(func() {
		h.u.locked = false
		obj = (&summaryView{u: h.u, v: v, now: fixedNow}).build()
		h.u.setContent(screenSummary, obj)
	})
	return obj
}

// settle lays the window out again until wrapped text has the height it
// needs at its width, as the real driver does on the next frames.
func settle(w fyne.Window) {
	for i := 0; i < 3; i++ {
		w.Content().Refresh()
	}
}

// TestBanner_Golden renders the patient banner: name in the NHS form,
// date of birth with age, gender, NHS number in groups, address.
func TestBanner_Golden(t *testing.T) {
	a := test.NewTempApp(t)
	a.Settings().SetTheme(newTheme(themeLight, 1))
	d := fixtureDemographics()
	f := present.BannerOf(&d, d.NHS, fixedNow)
	want := present.Banner{Name: "SMITH, Jane Ann (Mrs)", Born: "12-Mar-1962 (64y)", Gender: "Female", NHS: "943 476 5919",
		Address: "12 High Street, Gillingham, ME7 2JH"}
	if f != want {
		t.Errorf("banner facts\n got %+v\nwant %+v", f, want)
	}
	w := test.NewTempWindow(t, patientBanner(f))
	w.Resize(fyne.NewSize(900, 160))
	settle(w)
	test.AssertRendersToMarkup(t, "banner.xml", w.Canvas())
}

// TestBanner_RestrictedAndDeceased withholds the address of a restricted
// record and says when a patient has died, with the age at death.
func TestBanner_RestrictedAndDeceased(t *testing.T) {
	d := fixtureDemographics()
	d.Restricted, d.Deceased, d.DeceasedOn = true, true, date("2026-01-02")
	f := present.BannerOf(&d, d.NHS, fixedNow)
	if f.Address != "Withheld: restricted record" || f.Deceased != "DECEASED 02-Jan-2026" || f.Born != "12-Mar-1962 (63y)" {
		t.Errorf("got %+v", f)
	}
}

// TestSummary_Golden renders a whole summary: banner, alerts first,
// allergies, medicines, problems, trends and care plans.
func TestSummary_Golden(t *testing.T) {
	h := fixtureHarness(t)
	obj := h.showFixture(fixtureView())
	h.ui(func() {
		w := test.NewTempWindow(t, obj)
		w.Resize(fyne.NewSize(1180, 1600))
		settle(w)
		test.AssertRendersToMarkup(t, "summary.xml", w.Canvas())
	})
	text := h.text()
	mustContain(t, text, "DNACPR", "SAFEGUARDING", "2 allergies", "Penicillin", "SEVERE", "HIGH CRITICALITY",
		"Bisoprolol 5mg tablets", "patient-entered", "Patient-entered readings", "Immunisation information not available",
		"Falls risk: At risk of falls")
}

// TestSummary_LongListsSayHowManyMore shows the first medicines and a
// button naming how many more there are, which shows them all.
func TestSummary_LongListsSayHowManyMore(t *testing.T) {
	h := fixtureHarness(t)
	v := fixtureView()
	var meds []record.Medication
	for i := 1; i <= 15; i++ { // 10 shown, 5 more
		meds = append(meds, record.Medication{Name: fmt.Sprintf("Medicine number %02d", i), Active: true, Status: "active"})
	}
	v.Summary.Medications.Items = meds
	h.showFixture(v)
	text := h.text()
	mustContain(t, text, "15 medicines", "Medicine number 10", "and 5 more medicines: show all")
	mustNotContain(t, text, "Medicine number 11")
	h.ui(func() {
		for _, o := range test.LaidOutObjects(h.u.win.Content()) {
			if b, ok := o.(*buttonT); ok && b.Text == "and 5 more medicines: show all" {
				test.Tap(b)
			}
		}
	})
	mustContain(t, h.text(), "Medicine number 15")
}

// TestSummary_StaleWithheldAndSensitiveAreMarked marks a stale summary,
// sections withheld by the patient's objection, and sensitive items kept
// off the laptop, each in words at the top.
func TestSummary_StaleWithheldAndSensitiveAreMarked(t *testing.T) {
	h := fixtureHarness(t)
	v := fixtureView()
	v.Stale = true
	v.Objection = true
	v.Sensitive = 2
	v.Sections = []string{record.SectionDemographics, record.SectionGP}
	v.Withheld = []present.Withheld{{Reason: present.WithheldObjection, Purpose: "ETREAT", Sections: []string{record.SectionAllergies, record.SectionMedications}}}
	v.Summary.Allergies = record.Section[record.Allergy]{}
	h.showFixture(v)
	text := h.text()
	mustContain(t, text, "STALE", "older than the 24 h freshness limit", "RESTRICTED SHARING", "Withheld: allergies, medications",
		"SENSITIVE INFORMATION WITHHELD", "2 items are never held on laptops",
		"Allergy information not available", "objected to sharing")
	mustNotContain(t, text, "No known allergies recorded")
	if n := strings.Count(text, "STALE: older than"); n < 5 {
		t.Errorf("only %d sections are marked stale", n)
	}
}

// TestSummary_FrontDeskFixtureBuildsNoClinicalSection gives the front-desk
// screen a summary that still holds clinical items: none is rendered.
func TestSummary_FrontDeskFixtureBuildsNoClinicalSection(t *testing.T) {
	h := fixtureHarness(t)
	v := fixtureView()
	v.DemographicsOnly = true
	h.showFixture(v)
	for _, n := range h.sectionNames() {
		if n != record.SectionDemographics && n != record.SectionGP {
			t.Errorf("section %q built for front desk", n)
		}
	}
	mustNotContain(t, h.text(), "Penicillin", "DNACPR", "Bisoprolol", "Heart rate")
}

// TestSummary_SharedCases renders every shared clinical case
// (present/presenttest) in the window: each screen is compared with its
// golden markup (ui/testdata/cases), and must show, and not show, the
// case's words. `kmcr show` renders the same cases (cmd/kmcr), so the two
// screens agree on every clinical rule.
func TestSummary_SharedCases(t *testing.T) {
	for _, c := range presenttest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			h := fixtureHarness(t)
			nhs, s, f := c.Open(t)
			obj := h.showFixture(&core.PatientView{NHS: nhs, Summary: s, Facts: f})
			h.ui(func() {
				w := test.NewTempWindow(t, obj)
				w.Resize(fyne.NewSize(1180, 1400))
				settle(w)
				test.AssertRendersToMarkup(t, "cases/"+c.Name+".xml", w.Canvas())
			})
			c.CheckText(t, "window", h.text())
			if f.DemographicsOnly {
				for _, n := range h.sectionNames() {
					if n != record.SectionDemographics && n != record.SectionGP {
						t.Errorf("section %q built for a demographics-only view", n)
					}
				}
			}
		})
	}
}
