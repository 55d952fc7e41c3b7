package record

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleAsOf is the "as of" time the sample record is summarised at.
var sampleAsOf = time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)

// sampleSummary summarises testdata/uk-sample.json, a UK patient written for
// these tests with one of everything the summary shows.
func sampleSummary(tb testing.TB) *Summary {
	tb.Helper()
	imp := mustReadPaths(tb, filepath.Join("testdata", "uk-sample.json"))
	if imp.Report.RejectedTotal != 0 || len(imp.Patients) != 1 {
		tb.Fatalf("patients %d, rejected %v", len(imp.Patients), imp.Report.Rejected)
	}
	return Summarise(imp.Patients[0], sampleAsOf)
}

// TestSummarise_Demographics checks the banner details of the sample.
func TestSummarise_Demographics(t *testing.T) {
	s := sampleSummary(t)
	d := s.Demographics
	checks := []struct{ what, got, want string }{
		{"name", d.Name.String(), "BEAUMONT-ØRSTED, Margaret Élise (Mrs)"},
		{"birth", d.BirthDate.String(), "12-Mar-1962"},
		{"NHS", d.NHS.String(), "999 000 0018"},
		{"gender", d.Gender, "female"},
		{"address", d.Address.String(), "14 Week Street, Flat 2, Maidstone, Kent, me14 1xx"},
		{"phone", d.Phones[0].Value, "01622 000000"},
		{"email", d.Emails[0].Value, "peggy@example.org"},
		{"GP practice", s.GP.Practice, "Week Street Surgery"},
		{"GP ODS", s.GP.ODSCode, "M85001"},
		{"GP", s.GP.Practitioner, "OKAFOR, Ada (Dr)"},
		{"as of", FormatDate(s.AsOf), "01-Jul-2024"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q; want %q", c.what, c.got, c.want)
		}
	}
	if d.NHSAssigned || d.Deceased || d.Restricted || !s.GP.Resolved || len(d.Names) != 3 {
		t.Errorf("demographics %+v GP %+v", d, s.GP)
	}
	if got := Age(d.BirthDate.Time, s.AsOf); got != 62 {
		t.Errorf("age %d", got)
	}
}

// TestSummarise_Alerts checks alert kinds, activity and order: active
// DNACPR first, the falls flag whose period ended last.
func TestSummarise_Alerts(t *testing.T) {
	s := sampleSummary(t)
	var got []string
	for _, a := range s.Alerts.Items {
		got = append(got, a.Kind.String()+"/"+map[bool]string{true: "active", false: "ended"}[a.Active])
	}
	want := "DNACPR/active ReSPECT/active Safeguarding/active Falls risk/ended"
	if strings.Join(got, " ") != want {
		t.Fatalf("alerts %v; want %s", got, want)
	}
	if a := s.Alerts.Items[0]; a.Author != "OKAFOR, Ada (Dr)" || a.Date.String() != "02-Nov-2023" || a.Source.String() != "Flag/flag-dnacpr" {
		t.Errorf("DNACPR alert %+v", a)
	}
}

// TestAlertKind_Recognition checks codes and words for each kind.
func TestAlertKind_Recognition(t *testing.T) {
	tests := []struct {
		code *fhirCC
		want AlertKind
	}{
		{&fhirCC{Coding: []Coding{{System: systemSNOMED, Code: "304253006"}}}, AlertDNACPR},
		{&fhirCC{Text: "DNACPR in place (hospital form)"}, AlertDNACPR},
		{&fhirCC{Text: "Do not attempt CPR"}, AlertDNACPR},
		{&fhirCC{Text: "RESPECT FORM held by patient"}, AlertReSPECT},
		{&fhirCC{Text: "Please respect the patient's wishes"}, AlertOther},
		{&fhirCC{Coding: []Coding{{Display: "Child protection plan"}}}, AlertSafeguarding},
		{&fhirCC{Coding: []Coding{{System: systemSNOMED, Code: "129839007"}}}, AlertFallsRisk},
		{&fhirCC{Text: "High falls risk"}, AlertFallsRisk},
		{&fhirCC{Text: "Aggressive dog at property"}, AlertOther},
		{nil, AlertOther},
	}
	for _, tt := range tests {
		if got := alertKind(tt.code); got != tt.want {
			t.Errorf("alertKind(%+v) = %v; want %v", tt.code, got, tt.want)
		}
	}
}

// TestSummarise_Allergies checks the sample's allergies: active first,
// worst reaction severity, recorder resolved.
func TestSummarise_Allergies(t *testing.T) {
	s := sampleSummary(t)
	if s.Allergies.State != StatePresent || s.AllergyHeadline() != "2 allergies" {
		t.Fatalf("state %v headline %q", s.Allergies.State, s.AllergyHeadline())
	}
	a := s.Allergies.Items[0]
	if a.Substance != "Allergy to penicillin" || a.Severity != "severe" || a.Criticality != "high" ||
		a.RecordedBy != "OKAFOR, Ada (Dr)" || a.Date.String() != "01-Apr-2019" || len(a.Reactions) != 2 ||
		a.Reactions[0].Manifestations[0] != "Anaphylaxis" || a.ClinicalStatus != "active" {
		t.Errorf("first allergy %+v", a)
	}
	if b := s.Allergies.Items[1]; b.Substance != "Elastoplast" || b.ClinicalStatus != "resolved" || b.Date.String() != "Jul-2001" {
		t.Errorf("second allergy %+v", b)
	}
}

// TestSummarise_Medications checks active medications come first, newest
// first, with names from a referenced Medication and rendered dosage.
func TestSummarise_Medications(t *testing.T) {
	s := sampleSummary(t)
	var got []string
	for _, m := range s.Medications.Items {
		got = append(got, m.Name+" | "+m.Dosage+" | "+m.Status)
	}
	want := []string{
		"Aspirin 75mg dispersible tablets | One daily | active",
		"Metformin 500mg tablets | One tablet twice a day with food | active",
		"Ramipril 5mg capsules | 1 capsule once a day | active",
		"Amoxicillin 500mg capsules |  | stopped",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("medications\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSummarise_ProblemsEncountersObservations checks order, values and
// flags of the remaining clinical lists.
func TestSummarise_ProblemsEncountersObservations(t *testing.T) {
	s := sampleSummary(t)
	p := s.Problems.Items
	if len(p) != 3 || p[0].Name != "Metastatic breast cancer" || !p[0].Active || p[1].Onset.String() != "2015" ||
		p[2].Active || p[2].Abatement.String() != "01-Mar-2021" {
		t.Errorf("problems %+v", p)
	}
	e := s.Encounters.Items
	if len(e) != 2 || e[0].ServiceProvider != "Week Street Surgery" || e[1].Class != "emergency" ||
		e[1].ServiceProvider != "Maidstone and Tunbridge Wells NHS Trust" || e[1].Type != "Emergency department attendance" {
		t.Errorf("encounters %+v", e)
	}
	o := s.Observations.Items
	if len(o) != 3 {
		t.Fatalf("observations %+v", o)
	}
	if o[0].Name != "Heart rate" || o[0].Value != "72 /min" || !o[0].PatientEntered || !o[0].VitalSign || o[0].Quantity.Value != 72 {
		t.Errorf("heart rate %+v", o[0])
	}
	if o[1].Value != "142/88 mmHg" || o[1].PatientEntered || len(o[1].Components) != 2 || o[1].Components[0].Quantity.Value != 142 {
		t.Errorf("blood pressure %+v", o[1])
	}
	if o[2].Value != "58.12 mmol/mol" || o[2].Quantity.Text != "58.123456" || o[2].VitalSign {
		t.Errorf("HbA1c %+v", o[2])
	}
	cp := s.CarePlans.Items
	if len(cp) != 1 || cp[0].Title != "End of life care plan" || len(cp[0].Activities) != 2 || cp[0].Activities[1].Text != "District nurse visit twice weekly" {
		t.Errorf("care plans %+v", cp)
	}
	im := s.Immunizations.Items
	if len(im) != 1 || im[0].Vaccine != "Influenza vaccine" || im[0].LotNumber != "FL1234" || im[0].Date.String() != "12-Oct-2023" {
		t.Errorf("immunizations %+v", im)
	}
	other := map[string]int{}
	for _, c := range s.Other {
		other[c.Type] = c.Count
	}
	if len(other) != 3 || other["Procedure"] != 1 || other["Basic"] != 1 || other["Device"] != 1 {
		t.Errorf("other %+v", s.Other)
	}
}

// TestSummarise_SectionStates checks the three states are told apart: none
// recorded (coded NKA, "no known medications", nilknown List), not
// available, and present; and the headline wording for each.
func TestSummarise_SectionStates(t *testing.T) {
	imp := mustReadPaths(t, filepath.Join("testdata", "nka.ndjson"))
	nka := Summarise(mustPatient(t, imp, "9990000026"), sampleAsOf)
	if nka.Allergies.State != StateNoneRecorded || nka.AllergyHeadline() != "No known allergies recorded" || len(nka.Allergies.Items) != 0 {
		t.Errorf("allergies %+v, headline %q", nka.Allergies, nka.AllergyHeadline())
	}
	if nka.Allergies.None.Source.String() != "AllergyIntolerance/nka-2" || nka.Allergies.None.Date.String() != "01-Mar-2024" {
		t.Errorf("none record %+v", nka.Allergies.None)
	}
	if nka.Medications.State != StateNoneRecorded || nka.Problems.State != StateNoneRecorded || nka.Problems.None.Source.Type != "List" {
		t.Errorf("medications %v problems %v", nka.Medications.State, nka.Problems.State)
	}
	if nka.Encounters.State != StateNotAvailable || nka.Observations.State != StatePresent || !nka.Observations.Items[0].PatientEntered {
		t.Errorf("encounters %v observations %+v", nka.Encounters.State, nka.Observations)
	}
	// A List with emptyReason "notasked" says nothing is known, not "none".
	unknown := Summarise(mustPatient(t, imp, "9990000034"), sampleAsOf)
	if unknown.Allergies.State != StateNotAvailable || unknown.AllergyHeadline() != "Allergy information not available" {
		t.Errorf("allergies %v headline %q", unknown.Allergies.State, unknown.AllergyHeadline())
	}
	if len(unknown.Other) != 1 || unknown.Other[0] != (TypeCount{"List", 1}) {
		t.Errorf("other %+v", unknown.Other)
	}
}

// TestSummary_AllergyHeadline checks the exact wording for every state,
// including a source that contradicts itself and an entered-in-error item.
func TestSummary_AllergyHeadline(t *testing.T) {
	none := &NoneRecord{Text: "No known allergy"}
	tests := []struct {
		name  string
		items []Allergy
		none  *NoneRecord
		want  string
	}{
		{"nothing", nil, nil, "Allergy information not available"},
		{"none recorded", nil, none, "No known allergies recorded"},
		{"one", []Allergy{{Substance: "Penicillin"}}, nil, "1 allergy"},
		{"two despite NKA", []Allergy{{}, {}}, none, "2 allergies"},
		{"only entered in error", []Allergy{{Verification: VerificationEnteredInError}}, nil, "Allergy information not available"},
		{"error does not count", []Allergy{{}, {Verification: VerificationEnteredInError}}, nil, "1 allergy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Summary{Allergies: Section[Allergy]{Items: tt.items, None: tt.none}}
			s.settleAll()
			if got := s.AllergyHeadline(); got != tt.want {
				t.Errorf("AllergyHeadline() = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestSummary_SearchKeys checks every name is indexed, normalised.
func TestSummary_SearchKeys(t *testing.T) {
	k := sampleSummary(t).SearchKeys()
	want := SearchKeys{NHS: "9990000018", Family: []string{"beaumont", "beaumontorsted", "clarke"},
		Given: []string{"peggy", "margaret", "elise"}, BirthDate: "1962-03-12", Postcode: "ME14 1XX"}
	if strings.Join(k.Family, ",") != strings.Join(want.Family, ",") || strings.Join(k.Given, ",") != strings.Join(want.Given, ",") ||
		k.NHS != want.NHS || k.BirthDate != want.BirthDate || k.Postcode != want.Postcode {
		t.Errorf("SearchKeys() = %+v; want %+v", k, want)
	}
}

// TestSummarise_PatientEntered checks each way an observation can be marked
// as entered by the patient, and that a clinician's is not.
func TestSummarise_PatientEntered(t *testing.T) {
	const pat = `{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000042"}]}`
	tests := []struct {
		name, obs string
		want      bool
	}{
		{"performer patient", `"performer":[{"reference":"Patient/p"}]`, true},
		{"performer related person", `"performer":[{"reference":"RelatedPerson/r","display":"Daughter"}]`, true},
		{"device", `"device":{"reference":"Device/watch"}`, true},
		{"tag", `"meta":{"tag":[{"system":"https://example.org","code":"patient-reported"}]}`, true},
		{"extension", `"extension":[{"url":"https://example.org/StructureDefinition/patient-entered","valueBoolean":true}]`, true},
		{"extension false", `"extension":[{"url":"https://example.org/StructureDefinition/patient-entered","valueBoolean":false}]`, false},
		{"practitioner", `"performer":[{"reference":"Practitioner/d"}]`, false},
		{"nothing", `"status":"final"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := `{"resourceType":"Observation","id":"o","subject":{"reference":"Patient/p"},"code":{"text":"Heart rate"},` + tt.obs + `}`
			rec := &PatientRecord{Key: "Patient/p", Resources: []Resource{{Type: "Patient", ID: "p", Raw: []byte(pat)}, {Type: "Observation", ID: "o", Raw: []byte(obs)}}}
			s := Summarise(rec, sampleAsOf)
			if got := s.Observations.Items[0].PatientEntered; got != tt.want {
				t.Errorf("PatientEntered = %v; want %v", got, tt.want)
			}
		})
	}
}

// TestSummarise_Tolerant checks unknown codes, unexpected shapes and empty
// resources are shown by what text there is, never dropped or panicked on.
func TestSummarise_Tolerant(t *testing.T) {
	rec := &PatientRecord{Key: "Patient/p", Resources: []Resource{
		{Type: "Patient", ID: "p", Raw: []byte(`{"resourceType":"Patient","id":"p","name":"not a list","birthDate":"sometime"}`)},
		{Type: "Condition", ID: "c", Raw: []byte(`{"resourceType":"Condition","id":"c","code":{"coding":[{"system":"urn:local","code":"X99"}]},"clinicalStatus":7}`)},
		{Type: "AllergyIntolerance", ID: "a", Raw: []byte(`{"resourceType":"AllergyIntolerance","id":"a"}`)},
		{Type: "Observation", ID: "o", Raw: []byte(`{"resourceType":"Observation","id":"o","valueQuantity":{"value":"x"},"effectiveDateTime":"2024-13-45"}`)},
		{Type: "Flag", ID: "f", Raw: []byte(`{"resourceType":"Flag","id":"f","code":{"text":"Key safe code 1234"},"status":"active"}`)},
	}}
	s := Summarise(rec, sampleAsOf)
	if s.Problems.Items[0].Name != "X99" || !s.Problems.Items[0].Active {
		t.Errorf("problem %+v", s.Problems.Items[0])
	}
	if s.Allergies.Items[0].Substance != "(no description)" || s.AllergyHeadline() != "1 allergy" {
		t.Errorf("allergy %+v", s.Allergies.Items[0])
	}
	if o := s.Observations.Items[0]; o.Date.String() != "2024-13-45" || !o.Date.IsZero() {
		t.Errorf("observation %+v", o)
	}
	if d := s.Demographics; d.BirthDate.String() != "sometime" || len(d.Names) != 0 {
		t.Errorf("demographics %+v", d)
	}
	if a := s.Alerts.Items[0]; a.Kind != AlertOther || !a.Active {
		t.Errorf("alert %+v", a)
	}
}

// TestSectionOf_Types checks the mapping every package relies on.
func TestSectionOf_Types(t *testing.T) {
	tests := map[string]string{
		"Patient": SectionDemographics, "Organization": SectionGP, "Practitioner": SectionGP,
		"Flag": SectionAlerts, "AllergyIntolerance": SectionAllergies, "MedicationRequest": SectionMedications,
		"MedicationStatement": SectionMedications, "Medication": SectionMedications, "Condition": SectionProblems,
		"Encounter": SectionEncounters, "Observation": SectionObservations, "CarePlan": SectionCarePlans,
		"Immunization": SectionImmunizations, "Procedure": SectionOther, "Claim": SectionOther, "": SectionOther,
	}
	for typ, want := range tests {
		if got := SectionOf(typ); got != want {
			t.Errorf("SectionOf(%q) = %q; want %q", typ, got, want)
		}
	}
	all := AllSections()
	if len(all) != 11 || all[0] != SectionDemographics || all[10] != SectionOther {
		t.Errorf("AllSections() = %v", all)
	}
	all[0] = "changed"
	if AllSections()[0] != SectionDemographics {
		t.Error("AllSections returns shared storage")
	}
}

// TestNarrativeText_Table checks XHTML narrative becomes readable text.
func TestNarrativeText_Table(t *testing.T) {
	in := `<div xmlns="http://www.w3.org/1999/xhtml"><h3>Title &amp; more</h3><table><tr><th>Date</th><th>What</th></tr>` +
		`<tr><td>12-May-2020</td><td>Wasp&#160;sting</td></tr></table><p>Line<br/>break</p></div>`
	want := "Title & more\nDate | What\n12-May-2020 | Wasp sting\nLine\nbreak"
	if got := narrativeText(in); got != want {
		t.Errorf("narrativeText = %q; want %q", got, want)
	}
}
