package record

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// truthPatient is the Patient of the record-truth tests.
const truthPatient = `{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000042"}],
 "name":[{"family":"Truth","given":["Tess"]}],"birthDate":"1950-01-02"}`

// truthRecord makes a record of the Patient above and the given resources,
// each a JSON object of a type with an id.
func truthRecord(t *testing.T, patient string, resources ...string) *PatientRecord {
	t.Helper()
	rec := &PatientRecord{Key: "Patient/p", NHS: "9990000042"}
	for _, raw := range append([]string{patient}, resources...) {
		var h struct{ ResourceType, ID string }
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			t.Fatalf("%v in %s", err, raw)
		}
		rec.Resources = append(rec.Resources, Resource{Type: h.ResourceType, ID: h.ID, Raw: []byte(raw)})
	}
	return rec
}

// TestVerification_Codes checks every FHIR code reads back as itself, and
// which are void.
func TestVerification_Codes(t *testing.T) {
	for _, code := range []string{"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"} {
		v := ParseVerification(code)
		if v.String() != code {
			t.Errorf("ParseVerification(%q).String() = %q", code, v.String())
		}
		b, _ := v.MarshalText()
		var back Verification
		if err := back.UnmarshalText(b); err != nil || back != v {
			t.Errorf("%q does not round-trip: %v %v", code, back, err)
		}
		if want := code == "refuted" || code == "entered-in-error"; v.Void() != want {
			t.Errorf("%q Void() = %v", code, v.Void())
		}
	}
	if v := ParseVerification("Entered-In-Error"); v != VerificationUnstated {
		t.Errorf("codes are case-sensitive in FHIR; got %v", v)
	}
	if VerificationEnteredInError.Word() != "entered in error" || VerificationRefuted.Word() != "refuted" {
		t.Error("words")
	}
}

// TestSummarise_VoidItemsAreNeverActiveNorCounted puts one void item in
// every section that can hold one, beside nothing else: each section stays
// "not available", nothing is active, and every void item is still in the
// list, marked, for a screen to strike through.
func TestSummarise_VoidItemsAreNeverActiveNorCounted(t *testing.T) {
	subj := `"subject":{"reference":"Patient/p"}`
	tests := []struct {
		name, raw string
		check     func(*Summary) (bool, Verification, bool) // present?, verification, active
	}{
		{"DNACPR entered in error",
			`{"resourceType":"Flag","id":"f","status":"entered-in-error",` + subj + `,"code":{"coding":[{"system":"http://snomed.info/sct","code":"304253006","display":"Not for resuscitation"}]}}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.Alerts.State != StateNotAvailable, s.Alerts.Items[0].Verification, s.Alerts.Items[0].Active
			}},
		{"allergy entered in error",
			`{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"code":"active"}]},"verificationStatus":{"coding":[{"code":"entered-in-error"}]},"code":{"text":"Penicillin"}}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.Allergies.State != StateNotAvailable, s.Allergies.Items[0].Verification, s.Allergies.Items[0].Active
			}},
		{"allergy refuted",
			`{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"code":"active"}]},"verificationStatus":{"coding":[{"code":"refuted"}]},"code":{"text":"Latex"}}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.Allergies.State != StateNotAvailable, s.Allergies.Items[0].Verification, s.Allergies.Items[0].Active
			}},
		{"problem entered in error, clinically active",
			`{"resourceType":"Condition","id":"c",` + subj + `,"clinicalStatus":{"coding":[{"code":"active"}]},"verificationStatus":{"coding":[{"code":"entered-in-error"}]},"code":{"text":"Epilepsy"}}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.Problems.State != StateNotAvailable, s.Problems.Items[0].Verification, s.Problems.Items[0].Active
			}},
		{"problem refuted, no clinical status",
			`{"resourceType":"Condition","id":"c",` + subj + `,"verificationStatus":{"coding":[{"code":"refuted"}]},"code":{"text":"Asthma"}}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.Problems.State != StateNotAvailable, s.Problems.Items[0].Verification, s.Problems.Items[0].Active
			}},
		{"medication entered in error",
			`{"resourceType":"MedicationRequest","id":"m","status":"entered-in-error","intent":"order",` + subj + `,"medicationCodeableConcept":{"text":"Warfarin 1mg"}}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.Medications.State != StateNotAvailable, s.Medications.Items[0].Verification, s.Medications.Items[0].Active
			}},
		{"temperature entered in error",
			`{"resourceType":"Observation","id":"o","status":"entered-in-error",` + subj + `,"code":{"text":"Body temperature"},"valueQuantity":{"value":39.4,"unit":"Cel"},"effectiveDateTime":"2024-06-01"}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.Observations.State != StateNotAvailable, s.Observations.Items[0].Verification, false
			}},
		{"immunisation entered in error",
			`{"resourceType":"Immunization","id":"i","status":"entered-in-error","patient":{"reference":"Patient/p"},"vaccineCode":{"text":"Tetanus"},"occurrenceDateTime":"2020-01-01"}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.Immunizations.State != StateNotAvailable, s.Immunizations.Items[0].Verification, false
			}},
		{"encounter entered in error",
			`{"resourceType":"Encounter","id":"e","status":"entered-in-error",` + subj + `,"type":[{"text":"GP visit"}]}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.Encounters.State != StateNotAvailable, s.Encounters.Items[0].Verification, false
			}},
		{"care plan entered in error",
			`{"resourceType":"CarePlan","id":"cp","status":"entered-in-error","intent":"plan",` + subj + `,"title":"End of life plan"}`,
			func(s *Summary) (bool, Verification, bool) {
				return s.CarePlans.State != StateNotAvailable, s.CarePlans.Items[0].Verification, false
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarise(truthRecord(t, truthPatient, tt.raw), sampleAsOf)
			present, v, active := tt.check(s)
			if present || !v.Void() || active {
				t.Errorf("section counted %v, verification %v, active %v; want not counted, void, not active", present, v, active)
			}
			for _, o := range s.Other {
				t.Errorf("the void item is counted under Other: %+v", o)
			}
		})
	}
	// Beside a live item, the void one is listed last and the live one counts.
	s := Summarise(truthRecord(t, truthPatient,
		`{"resourceType":"AllergyIntolerance","id":"a1","patient":{"reference":"Patient/p"},"verificationStatus":{"coding":[{"code":"refuted"}]},"code":{"text":"Latex"},"recordedDate":"2024-01-01"}`,
		`{"resourceType":"AllergyIntolerance","id":"a2","patient":{"reference":"Patient/p"},"code":{"text":"Penicillin"},"recordedDate":"2001-01-01"}`,
	), sampleAsOf)
	if s.AllergyHeadline() != "1 allergy" || s.Allergies.Items[0].Substance != "Penicillin" || !s.Allergies.Items[0].Active ||
		s.Allergies.Items[1].Verification != VerificationRefuted {
		t.Errorf("headline %q, items %+v", s.AllergyHeadline(), s.Allergies.Items)
	}
}

// TestSummarise_NoneRecordsMustBeCurrent checks that a "none" statement
// that is entered in error, refuted, no longer current, or on a retired
// list never makes a section "none recorded".
func TestSummarise_NoneRecordsMustBeCurrent(t *testing.T) {
	nka := func(extra string) string {
		return `{"resourceType":"AllergyIntolerance","id":"nka","patient":{"reference":"Patient/p"},` + extra +
			`"code":{"coding":[{"system":"http://snomed.info/sct","code":"716186003","display":"No known allergy"}]}}`
	}
	list := func(status string) string {
		return `{"resourceType":"List","id":"l","status":"` + status + `","mode":"snapshot","subject":{"reference":"Patient/p"},` +
			`"code":{"coding":[{"system":"http://loinc.org","code":"48765-2"}]},` +
			`"emptyReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/list-empty-reason","code":"nilknown"}]}}`
	}
	tests := []struct {
		name, raw string
		want      SectionState
	}{
		{"NKA", nka(""), StateNoneRecorded},
		{"NKA confirmed and active", nka(`"clinicalStatus":{"coding":[{"code":"active"}]},"verificationStatus":{"coding":[{"code":"confirmed"}]},`), StateNoneRecorded},
		{"NKA entered in error", nka(`"verificationStatus":{"coding":[{"code":"entered-in-error"}]},`), StateNotAvailable},
		{"NKA refuted", nka(`"verificationStatus":{"coding":[{"code":"refuted"}]},`), StateNotAvailable},
		{"NKA resolved", nka(`"clinicalStatus":{"coding":[{"code":"resolved"}]},`), StateNotAvailable},
		{"NKA inactive", nka(`"clinicalStatus":{"coding":[{"code":"inactive"}]},`), StateNotAvailable},
		{"nil known list", list("current"), StateNoneRecorded},
		{"nil known list entered in error", list("entered-in-error"), StateNotAvailable},
		{"nil known list retired", list("retired"), StateNotAvailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarise(truthRecord(t, truthPatient, tt.raw), sampleAsOf)
			if s.Allergies.State != tt.want {
				t.Errorf("allergies %v; want %v (headline %q)", s.Allergies.State, tt.want, s.AllergyHeadline())
			}
		})
	}
}

// TestSummarise_DeceasedPatientTakesNoMedicine checks that a medicine the
// source left "active" is not current once the patient has died, with or
// without a date of death, while the status says what the source wrote.
func TestSummarise_DeceasedPatientTakesNoMedicine(t *testing.T) {
	med := `{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","subject":{"reference":"Patient/p"},"medicationCodeableConcept":{"text":"Penicillin V 250mg"},"authoredOn":"1940-10-05"}`
	for _, tt := range []struct {
		name, deceased string
		dead           bool
		on             string
	}{
		{"alive", ``, false, ""},
		{"deceased on a date", `"deceasedDateTime":"1982-10-05T02:50:57-05:00",`, true, "05-Oct-1982 02:50"},
		{"deceased, no date", `"deceasedBoolean":true,`, true, ""},
		{"explicitly alive", `"deceasedBoolean":false,`, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := strings.Replace(truthPatient, `"birthDate"`, tt.deceased+`"birthDate"`, 1)
			s := Summarise(truthRecord(t, p, med), sampleAsOf)
			m := s.Medications.Items[0]
			if s.Demographics.Deceased != tt.dead || s.Demographics.DeceasedOn.String() != tt.on || m.Active == tt.dead || m.Status != "active" {
				t.Errorf("deceased %v on %q, medicine active %v status %s", s.Demographics.Deceased, s.Demographics.DeceasedOn, m.Active, m.Status)
			}
		})
	}
}

// TestSummarise_CompositionIsADocumentNotOther checks a document Bundle's
// Composition is presented as a document, with its author, and no longer
// counted as something not shown; an entered-in-error one is void.
func TestSummarise_CompositionIsADocumentNotOther(t *testing.T) {
	comp := func(status string) string {
		return `{"resourceType":"Composition","id":"c","status":"` + status + `","type":{"text":"GP Summary"},"subject":{"reference":"Patient/p"},` +
			`"date":"2020-11-17","author":[{"reference":"Practitioner/d"}],"title":"Summary Care Record",` +
			`"section":[{"title":"Allergies","text":{"status":"generated","div":"<div><p>Toxic reaction to wasp sting</p></div>"}}]}`
	}
	doc := `{"resourceType":"Practitioner","id":"d","name":[{"family":"Okafor","given":["Ada"],"prefix":["Dr"]}]}`
	s := Summarise(truthRecord(t, truthPatient, comp("final"), doc), sampleAsOf)
	if len(s.Documents) != 1 || len(s.Other) != 0 {
		t.Fatalf("documents %+v other %+v", s.Documents, s.Other)
	}
	d := s.Documents[0]
	if d.Title != "Summary Care Record" || d.Author != "OKAFOR, Ada (Dr)" || d.Verification.Void() || d.Sections[0].Text != "Toxic reaction to wasp sting" {
		t.Errorf("document %+v", d)
	}
	if s := Summarise(truthRecord(t, truthPatient, comp("entered-in-error"), doc), sampleAsOf); !s.Documents[0].Verification.Void() {
		t.Errorf("an entered-in-error Composition is not void: %+v", s.Documents[0])
	}
}

// TestBundle_OmittedRoundTrip checks the count of resources the server left
// out of a document travels in the Bundle and reaches Summary.Other, added
// to what the document itself holds but does not show.
func TestBundle_OmittedRoundTrip(t *testing.T) {
	rec := truthRecord(t, truthPatient, `{"resourceType":"Procedure","id":"x","subject":{"reference":"Patient/p"}}`)
	rec.Omitted = []TypeCount{{"Claim", 16}, {"DiagnosticReport", 4}, {"Procedure", 2}, {"Empty", 0}}
	doc, err := BuildBundle(rec, BundleMeta{ID: "9990000042", LastUpdated: sampleAsOf})
	if err != nil {
		t.Fatal(err)
	}
	var check map[string]any
	if err := json.Unmarshal(doc, &check); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	back, err := ParseBundle(doc)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back.Omitted) != "[{Claim 16} {DiagnosticReport 4} {Procedure 2}]" {
		t.Errorf("omitted after the round trip: %v", back.Omitted)
	}
	s := Summarise(back, sampleAsOf)
	if fmt.Sprint(s.Other) != "[{Claim 16} {DiagnosticReport 4} {Procedure 3}]" {
		t.Errorf("other %v", s.Other)
	}
	// Without counts the Bundle has no meta extension at all.
	rec.Omitted = nil
	doc, _ = BuildBundle(rec, BundleMeta{})
	if strings.Contains(string(doc), "meta") {
		t.Errorf("meta written with nothing in it: %s", doc)
	}
}

// mergeUK reads the UK files of the shared data that give 900 000 0009:
// the SCR bundle's identifier-only Patient and the PDS Patient.
func mergeUK(t *testing.T) []Resource {
	t.Helper()
	dir := sharedFHIR(t, "uk")
	imp := mustReadPaths(t, filepath.Join(dir, "scr-GetScrBundle.json"), filepath.Join(dir, "pds-patient_9000000009.json"))
	var patients []Resource
	for _, p := range imp.Patients {
		patients = append(patients, p.Resources[0])
	}
	if len(patients) != 2 {
		t.Fatalf("patients %d", len(patients))
	}
	return patients
}

// TestMergePatients_PDSIsTheAuthority checks the demographics rule on the
// shared data: for 900 000 0009 the PDS Patient is ranked first whichever
// order the sources come in, and a record holding both shows SMITH, Jane
// with her address, GP and death, not the SCR's empty identity.
func TestMergePatients_PDSIsTheAuthority(t *testing.T) {
	patients := mergeUK(t)
	for _, order := range [][]Resource{patients, {patients[1], patients[0]}} {
		m := MergePatients(order, sampleAsOf)
		if m.Patients[0].Key() != "Patient/9000000009" || !m.FromPDS || len(m.Conflicts) != 0 ||
			strings.Join(m.Report(), "|") != "demographics of 2 sources merged, Patient/9000000009 (PDS) first" {
			t.Errorf("ranked %s first; report %q", m.Patients[0].Key(), m.Report())
		}
		// The record the server builds: the SCR's Patient may be the
		// record's own key, the PDS one a second source.
		rec := &PatientRecord{Key: order[0].Key(), NHS: "9000000009", Resources: order}
		d := Summarise(rec, sampleAsOf).Demographics
		if d.Name.String() != "SMITH, Jane (Mrs)" || d.Address.Postcode != "LS1 6AE" || !d.Deceased || !d.FromPDS ||
			d.Source.String() != "Patient/9000000009" || len(d.Sources) != 2 {
			t.Errorf("demographics %+v", d)
		}
		if s := Summarise(rec, sampleAsOf); s.GP.ODSCode != "Y12345" || len(s.Other) != 0 {
			t.Errorf("GP %+v other %+v", s.GP, s.Other)
		}
	}
}

// TestMergePatients_Rule checks each step of the rule with made-up
// sources: PDS first even when less complete; else the more complete,
// then the newer; a part missing from the best is taken from the next;
// a restricted label anywhere restricts; every disagreement is a conflict.
func TestMergePatients_Rule(t *testing.T) {
	pat := func(id, body string) Resource {
		raw := `{"resourceType":"Patient","id":"` + id + `",` + body + `}`
		return Resource{Type: "Patient", ID: id, Raw: []byte(raw)}
	}
	nhsID := `"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000042"}]`
	pdsID := `"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000042","extension":[{"url":"` + nhsVerifiedURL + `","valueCodeableConcept":{"coding":[{"code":"01"}]}}]}]`
	pds := pat("9990000042", pdsID+`,"name":[{"family":"Jones","given":["Ann"]}],"gender":"female"`)
	gp := pat("gp-1", nhsID+`,"meta":{"lastUpdated":"2024-01-01T00:00:00Z"},"name":[{"family":"Jones","given":["Anne"]}],"gender":"female","birthDate":"1950-01-02","address":[{"postalCode":"ME14 1XX"}]`)
	older := pat("gp-0", nhsID+`,"meta":{"lastUpdated":"2020-01-01T00:00:00Z"},"name":[{"family":"Jones","given":["Anne"]}],"gender":"male","birthDate":"1950-01-02","address":[{"postalCode":"ME7 2JH"}]`)
	restricted := pat("sc-9", nhsID+`,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]}`)

	m := MergePatients([]Resource{older, gp, restricted, pds}, sampleAsOf)
	ranked, conflicts := m.Patients, m.Conflicts
	var keys []string
	for _, r := range ranked {
		keys = append(keys, r.ID)
	}
	if strings.Join(keys, " ") != "9990000042 gp-1 gp-0 sc-9" {
		t.Errorf("ranked %v", keys)
	}
	var got []string
	for _, c := range conflicts {
		got = append(got, c.Field+" "+c.Shown+"/"+c.Other+" "+c.OtherFrom.String())
	}
	want := []string{"name JONES, Ann/JONES, Anne Patient/gp-1", "name JONES, Ann/JONES, Anne Patient/gp-0",
		"gender female/male Patient/gp-0", "postcode ME14 1XX/ME7 2JH Patient/gp-0"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("conflicts\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rec := &PatientRecord{Key: "Patient/gp-0", NHS: "9990000042", Resources: ranked}
	d := Summarise(rec, sampleAsOf).Demographics
	// The name from PDS; the date of birth PDS lacks from the next source;
	// the address from the newer GP record; restricted by the SCR label.
	if d.Name.String() != "JONES, Ann" || d.BirthDate.String() != "02-Jan-1950" || d.Address.Postcode != "ME14 1XX" || !d.Restricted || len(d.Conflicts) != 4 {
		t.Errorf("demographics %+v", d)
	}
	if r := m.Report(); len(r) != 5 || r[3] != `sources disagree on gender: "female" from Patient/9990000042 is shown; Patient/gp-0 says "male"` {
		t.Errorf("report %q", r)
	}
	if r := MergePatients([]Resource{gp}, sampleAsOf).Report(); r != nil {
		t.Errorf("a single source reported %q", r)
	}
	// A Patient with another NHS number in the same record is not a source.
	other := pat("x", `"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],"name":[{"family":"Other"}]`)
	rec = &PatientRecord{Key: "Patient/gp-1", NHS: "9990000042", Resources: []Resource{gp, other}}
	if s := Summarise(rec, sampleAsOf); len(s.Demographics.Sources) != 1 || len(s.Other) != 1 || s.Other[0].Type != "Patient" {
		t.Errorf("sources %v other %v", s.Demographics.Sources, s.Other)
	}
}

// TestIsPDSPatient_SharedData checks how the national demographics service
// is recognised on every Patient of the shared data: each PDS file is, and
// no other Patient (Synthea, bulk export, Summary Care Record) is.
func TestIsPDSPatient_SharedData(t *testing.T) {
	imp := mustReadPaths(t, sharedFHIR(t))
	pds := 0
	for _, rec := range imp.Patients {
		for _, r := range rec.Resources {
			if r.Type != "Patient" {
				continue
			}
			want := strings.HasPrefix(filepath.Base(r.Source.File), "pds-")
			if got := isPDSPatient(r.ID, ptr(readPatient(r.Raw))); got != want {
				t.Errorf("%s (%s): PDS %v; want %v", r.Key(), r.Source, got, want)
			}
			if want {
				pds++
			}
		}
	}
	if pds != 5 { // five files; ReadPaths keeps both copies of Patient/9000000009
		t.Errorf("%d PDS Patients", pds)
	}
	for _, p := range []fhirPatient{
		{MetaSource: "https://api.service.nhs.uk/personal-demographics/FHIR/R4/Patient/9000000009"},
		{ExtensionURLs: []string{"https://fhir.nhs.uk/StructureDefinition/Extension-PDS-RemovalFromRegistration"}},
		{Profiles: []string{"https://fhir.nhs.uk/StructureDefinition/NHSDigital-Patient-PDS"}},
	} {
		if !isPDSPatient("some-uuid", &p) {
			t.Errorf("not recognised: %+v", p)
		}
	}
	if isPDSPatient("9000000009", &fhirPatient{NHS: "9000000009"}) {
		t.Error("an id equal to the NHS number alone is not enough")
	}
}

func ptr[T any](v T) *T { return &v }

// TestSummary_JSONKeysAreSnakeCase checks every key of a whole summary's
// JSON is snake_case, so `kmcr show --json` is.
func TestSummary_JSONKeysAreSnakeCase(t *testing.T) {
	b, err := json.Marshal(sampleSummary(t))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k != strings.ToLower(k) || strings.ContainsAny(k, " -") {
					t.Errorf("key %q at %s", k, path)
				}
				walk(e, path+"."+k)
			}
		case []any:
			for _, e := range x {
				walk(e, path+"[]")
			}
		}
	}
	walk(v, "")
	if !strings.Contains(string(b), `"birth_date":{"time":"1962-03-12T00:00:00Z","text":"1962-03-12","precision":"day"}`) {
		t.Errorf("birth date not as documented:\n%.600s", b)
	}
}
