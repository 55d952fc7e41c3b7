package record

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The expected numbers in this file were counted from the files themselves,
// independently of this package, with jq, for example for a Synthea bundle:
//
//	jq '[.entry[].resource] | {
//	  allergies: map(select(.resourceType=="AllergyIntolerance"))|length,
//	  activeMeds: map(select(.resourceType=="MedicationRequest" and .status=="active"))|length,
//	  activeProblems: map(select(.resourceType=="Condition" and
//	      (.clinicalStatus.coding[0].code // .clinicalStatus)=="active"))|length,
//	  encounters: map(select(.resourceType=="Encounter"))|length, ...}' FILE
//
// and for the bulk NDJSON by grouping each file's lines on
// subject/patient.reference with a short Python script doing the same
// counts per patient id.

// counts is what the summary of one patient must hold.
type counts struct {
	allergies, activeMeds, activeProblems, encounters, observations, immunizations, carePlans int
}

// checkDeath checks that a deceased patient has no current medicine, and
// a living one has one for every medicine the source marks active.
func checkDeath(t *testing.T, s *Summary) {
	t.Helper()
	for _, m := range s.Medications.Items {
		if want := m.Status == "active" && !s.Demographics.Deceased; m.Active != want {
			t.Errorf("deceased %v: medicine %q (status %s) active %v; want %v", s.Demographics.Deceased, m.Name, m.Status, m.Active, want)
		}
	}
}

func countSummary(s *Summary) counts {
	var c counts
	c.allergies = len(s.Allergies.Items)
	for _, m := range s.Medications.Items {
		// The source's status, as counted with jq; Active is false for
		// every medicine of a deceased patient (checkDeath).
		if m.Status == "active" {
			c.activeMeds++
		}
	}
	for _, p := range s.Problems.Items {
		if p.Active {
			c.activeProblems++
		}
	}
	c.encounters = len(s.Encounters.Items)
	c.observations = len(s.Observations.Items)
	c.immunizations = len(s.Immunizations.Items)
	c.carePlans = len(s.CarePlans.Items)
	return c
}

// TestReadPaths_SyntheaBundles checks each Synthea bundle's patient against
// hand counts, and that each gets its stable 999-range NHS number.
func TestReadPaths_SyntheaBundles(t *testing.T) {
	dir := sharedFHIR(t, "synthea-bundles")
	asOf := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		file, key, nhs, birth string
		want                  counts
	}{
		{"Judson_Eichmann_34d4fd7e-b2b6-42fc-adb5-09db196b8662.json", "Patient/195bd73c-1ef3-400d-9269-a0d9042afafe",
			"9993462381", "1982-07-29", counts{7, 1, 1, 14, 56, 5, 5}},
		{"Kermit_Trantow_f1a650a5-737e-4fd7-828e-03c3348b9524.json", "Patient/1f456f0a-acb1-4728-82af-01ca57083c7b",
			"9995899582", "1993-06-21", counts{3, 3, 1, 12, 44, 8, 2}},
		{"Marcos_Delagarza_4acb6705-25a7-430a-b799-a4ad8d7fbb38.json", "Patient/963dabe4-84e7-4751-b432-e34bdbdbde05",
			"9992074116", "1992-09-20", counts{7, 3, 3, 9, 82, 7, 3}},
		// An STU3-flavoured bundle: clinicalStatus is a plain string there.
		{"google-fhir-synthea.bundle.json", "Patient/9da6b890-7d75-4ef3-b446-9adf727193f3",
			"9999777503", "1923-12-16", counts{0, 2, 8, 1, 3, 0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			imp := mustReadPaths(t, filepath.Join(dir, tt.file))
			if imp.Report.RejectedTotal != 0 || len(imp.Patients) != 1 {
				t.Fatalf("patients %d, rejected %v", len(imp.Patients), imp.Report.Rejected)
			}
			rec := mustPatient(t, imp, tt.key)
			if string(rec.NHS) != tt.nhs || !rec.NHSAssigned || !rec.NHS.IsTestRange() {
				t.Errorf("NHS %s assigned=%v; want %s assigned", rec.NHS, rec.NHSAssigned, tt.nhs)
			}
			if AssignNHSNumber(tt.key) != rec.NHS {
				t.Errorf("AssignNHSNumber(%s) = %s; record has %s", tt.key, AssignNHSNumber(tt.key), rec.NHS)
			}
			s := Summarise(rec, asOf)
			if got := countSummary(s); got != tt.want {
				t.Errorf("counts %+v; want %+v", got, tt.want)
			}
			checkDeath(t, s)
			if got := s.Demographics.BirthDate.DateOnly(); got != tt.birth {
				t.Errorf("birth date %s; want %s", got, tt.birth)
			}
			if rec.Resources[0].Type != "Patient" {
				t.Errorf("first resource is %s", rec.Resources[0].Type)
			}
		})
	}
}

// TestReadPaths_SyntheaSharedResources checks shared resources referenced
// by urn:uuid are copied into the record and resolved for display.
func TestReadPaths_SyntheaSharedResources(t *testing.T) {
	dir := sharedFHIR(t, "synthea-bundles")
	imp := mustReadPaths(t, filepath.Join(dir, "Judson_Eichmann_34d4fd7e-b2b6-42fc-adb5-09db196b8662.json"))
	rec := imp.Patients[0]
	// The bundle has 1 Organization and 1 Practitioner, both referenced.
	types := map[string]int{}
	for _, r := range rec.Resources {
		types[r.Type]++
	}
	if types["Organization"] != 1 || types["Practitioner"] != 1 || len(rec.Resources) != 134 {
		t.Fatalf("record has %d resources, types %v", len(rec.Resources), types)
	}
	s := Summarise(rec, time.Now())
	if got := s.Encounters.Items[0].ServiceProvider; got != "SHRINERS' HOSPITAL FOR CHILDREN - BOSTON, THE" {
		t.Errorf("service provider %q", got)
	}
	google := mustReadPaths(t, filepath.Join(dir, "google-fhir-synthea.bundle.json"))
	gs := Summarise(google.Patients[0], time.Now())
	if !gs.GP.Resolved || !strings.HasPrefix(gs.GP.Practice, "BRIGHTON MARINE PUBLIC HEALTH CENTE") {
		t.Errorf("GP %+v", gs.GP)
	}
}

// TestReadPaths_BulkNDJSON checks the bulk export's patients against hand
// counts, and that conditional references resolve shared resources.
func TestReadPaths_BulkNDJSON(t *testing.T) {
	imp := mustReadPaths(t, sharedFHIR(t, "bulk-ndjson"))
	// 13 Patient lines; 3802 lines in all, none bad.
	if len(imp.Patients) != 13 || imp.Report.Resources != 3802 || imp.Report.RejectedTotal != 0 {
		t.Fatalf("patients %d, resources %d, rejected %v", len(imp.Patients), imp.Report.Resources, imp.Report.Rejected)
	}
	tests := []struct {
		key     string
		family  string
		want    counts
		devices int
	}{
		{"Patient/129c6ac7-8d06-89de-ad63-0204a93e76c3", "Medhurst46", counts{0, 1, 16, 90, 0, 10, 0}, 1},
		{"Patient/79a66c97-6131-3213-f3c9-4606946ab056", "Upton904", counts{0, 7, 22, 708, 0, 10, 0}, 2},
		{"Patient/a5cb8ce9-cec6-6b23-0990-cbaf753578a4", "Johnson679", counts{3, 3, 9, 83, 0, 13, 0}, 2},
		{"Patient/cbc86e51-9eca-3855-76ec-c058f72c5761", "Emmerich580", counts{8, 2, 6, 15, 0, 11, 0}, 0},
		{"Patient/bb6a9034-2f23-2508-d29d-35efee156dc9", "Shanahan202", counts{0, 0, 0, 18, 0, 16, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.family, func(t *testing.T) {
			rec := mustPatient(t, imp, tt.key)
			s := Summarise(rec, time.Now())
			if got := countSummary(s); got != tt.want {
				t.Errorf("counts %+v; want %+v", got, tt.want)
			}
			checkDeath(t, s)
			if s.Demographics.Name.Family != tt.family || !rec.NHSAssigned || rec.NHS != AssignNHSNumber(tt.key) {
				t.Errorf("family %q NHS %s assigned=%v", s.Demographics.Name.Family, rec.NHS, rec.NHSAssigned)
			}
			devices := 0
			for _, o := range s.Other {
				if o.Type == "Device" {
					devices = o.Count
				}
			}
			if devices != tt.devices {
				t.Errorf("devices %d; want %d", devices, tt.devices)
			}
			// Encounters name their provider by "Organization?identifier=...";
			// the Organization must come along in the record.
			for _, e := range s.Encounters.Items {
				if e.ServiceProvider == "" {
					t.Fatalf("encounter %s has no service provider", e.Source)
				}
			}
		})
	}
	// Medhurst46's encounter providers and practitioners are in her record.
	rec := mustPatient(t, imp, "Patient/129c6ac7-8d06-89de-ad63-0204a93e76c3")
	shared := 0
	for _, r := range rec.Resources {
		if r.Type == "Organization" || r.Type == "Practitioner" {
			shared++
		}
	}
	if shared == 0 {
		t.Error("no shared Organization or Practitioner copied into the record")
	}
}

// TestReadPaths_SummaryCareRecord checks both SCR bundles: the patient's NHS
// number and the problems, encounters and observations that carry no
// subject of their own.
func TestReadPaths_SummaryCareRecord(t *testing.T) {
	dir := sharedFHIR(t, "uk")
	tests := []struct {
		file, nhs string
	}{
		{"scr-GetScrBundle.json", "9000000009"},        // searchset
		{"scr-standard_gp_summary.json", "9995000180"}, // document
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			imp := mustReadPaths(t, filepath.Join(dir, tt.file))
			if len(imp.Patients) != 1 || imp.Report.RejectedTotal != 0 {
				t.Fatalf("patients %d, rejected %v", len(imp.Patients), imp.Report.Rejected)
			}
			rec := imp.Patients[0]
			if string(rec.NHS) != tt.nhs || rec.NHSAssigned {
				t.Errorf("NHS %s assigned=%v; want %s", rec.NHS, rec.NHSAssigned, tt.nhs)
			}
			s := Summarise(rec, time.Now())
			// Counted with jq: 5 Conditions, 8 Encounters, 3 Observations.
			if len(s.Problems.Items) != 5 || len(s.Encounters.Items) != 8 || len(s.Observations.Items) != 3 {
				t.Errorf("problems %d encounters %d observations %d; want 5 8 3",
					len(s.Problems.Items), len(s.Encounters.Items), len(s.Observations.Items))
			}
			// The allergy appears only in the document's narrative.
			if s.Allergies.State != StateNotAvailable || len(s.Documents) != 1 {
				t.Fatalf("allergies %v, documents %d", s.Allergies.State, len(s.Documents))
			}
			found := false
			for _, sec := range s.Documents[0].Sections {
				if sec.Title == "Allergies and Adverse Reactions" && strings.Contains(sec.Text, "Toxic reaction to wasp sting") {
					found = true
				}
			}
			if !found {
				t.Errorf("allergy narrative missing from %+v", s.Documents[0].Sections)
			}
		})
	}
}

// TestReadPaths_PDS checks the PDS Patient files' NHS numbers and details.
// All five numbers in the shared data pass the modulus 11 check (its README
// says some fail; none do), so a failing copy is made in a temporary folder
// to check that rejection names the file.
func TestReadPaths_PDS(t *testing.T) {
	dir := sharedFHIR(t, "uk")
	tests := []struct {
		file, nhs, name, postcode string
		restricted, deceased      bool
	}{
		{"pds-Patient.json", "9000000009", "SMITH, Jane (Mrs)", "LS1 6AE", false, true},
		{"pds-patient_9000000009.json", "9000000009", "SMITH, Jane (Mrs)", "LS1 6AE", false, true},
		{"pds-patient_9000000025.json", "9000000025", "SMYTHE, Janet (Mrs)", "", true, true},
		{"pds-patient_9000000033.json", "9000000033", "", "", false, false},
		{"pds-patient_9693632109.json", "9693632109", "GARTON, Bill (MR)", "DN18 5DW", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			imp := mustReadPaths(t, filepath.Join(dir, tt.file))
			if len(imp.Patients) != 1 || imp.Report.RejectedTotal != 0 {
				t.Fatalf("patients %d, rejected %v", len(imp.Patients), imp.Report.Rejected)
			}
			s := Summarise(imp.Patients[0], time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC))
			d := s.Demographics
			k := s.SearchKeys()
			if string(d.NHS) != tt.nhs || d.NHSAssigned || d.Name.String() != tt.name || k.Postcode != tt.postcode ||
				d.Restricted != tt.restricted || d.Deceased != tt.deceased {
				t.Errorf("got NHS %s name %q postcode %q restricted %v deceased %v", d.NHS, d.Name, k.Postcode, d.Restricted, d.Deceased)
			}
		})
	}
	garton := Summarise(mustReadPaths(t, filepath.Join(dir, "pds-patient_9693632109.json")).Patients[0], time.Now())
	if garton.GP.ODSCode != "A20047" || garton.GP.Resolved || garton.Demographics.BirthDate.String() != "23-Jun-1946" {
		t.Errorf("GP %+v, born %s", garton.GP, garton.Demographics.BirthDate)
	}

	orig, err := os.ReadFile(filepath.Join(dir, "pds-patient_9000000033.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(orig), `"value": "9000000033"`, `"value": "9000000034"`, 1)
	if bad == string(orig) {
		t.Fatal("NHS number not found in pds-patient_9000000033.json")
	}
	path := writeFile(t, t.TempDir(), "pds-patient_9000000034.json", bad)
	imp := mustReadPaths(t, path)
	if len(imp.Patients) != 0 || imp.Report.RejectedTotal != 1 ||
		!strings.HasPrefix(imp.Report.Rejected[0].Error(), path+": invalid NHS number") {
		t.Fatalf("patients %d, rejections %v", len(imp.Patients), imp.Report.Rejected)
	}
}

// TestReadPaths_AllSharedData reads every file at once and checks the
// totals, that nothing is rejected, and that every accepted resource is in
// exactly one patient's record or among the shared ones.
func TestReadPaths_AllSharedData(t *testing.T) {
	imp := mustReadPaths(t, sharedFHIR(t))
	// 4 Synthea bundles + 9 NDJSON files + 7 UK files; 24 Patient
	// resources, two of them the same PDS patient.
	if imp.Report.Files != 20 || len(imp.Patients) != 23 || imp.Report.RejectedTotal != 0 || imp.Report.ByType["Patient"] != 24 {
		t.Fatalf("files %d patients %d Patient resources %d rejected %v",
			imp.Report.Files, len(imp.Patients), imp.Report.ByType["Patient"], imp.Report.Rejected)
	}
	var warnings []string
	for _, w := range imp.Report.Warnings {
		warnings = append(warnings, w.String())
	}
	joined := strings.Join(warnings, "\n")
	if len(warnings) != 2 || !strings.Contains(joined, "Patient/9000000009 appears again") ||
		!strings.Contains(joined, "NHS number 900 000 0009 is also on Patient/9000000009") {
		t.Errorf("warnings:\n%s", joined)
	}
	own := 0
	sharedKeys := map[string]bool{}
	for _, p := range imp.Patients {
		for _, r := range p.Resources {
			if sharedTypes[r.Type] && !strings.Contains(string(r.Raw), `"patient"`) {
				continue
			}
			own++
		}
	}
	for _, r := range imp.Shared {
		sharedKeys[r.Key()] = true
	}
	if own+len(sharedKeys) != imp.Report.Resources {
		t.Errorf("%d own + %d shared != %d accepted", own, len(sharedKeys), imp.Report.Resources)
	}
}
