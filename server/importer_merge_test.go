package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmcr/record"
	"kmcr/server/store"
)

// sharedFHIRDir returns ../shared/fhir beside the repository, or skips.
func sharedFHIRDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "..", "..", "shared", "fhir")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("public FHIR test data not found at %s: %v", p, err)
	}
	return p
}

// TestImport_MergesDemographicsAndCountsOmitted imports all the shared data
// and checks the documents the server builds: for 900 000 0009 both
// sources' Patients go in, PDS first, so the banner reads SMITH, Jane with
// her address, GP and death, in the full and the demographics document;
// the import says so; and the types kept out of the documents (claims...)
// are counted in them, so a screen can say they exist.
func TestImport_MergesDemographicsAndCountsOmitted(t *testing.T) {
	ts := newTestServer(t, 0)
	rep, err := ts.svc.Import([]string{sharedFHIRDir(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	warnings := strings.Join(rep.Warnings, "\n")
	if !strings.Contains(warnings, "patient 9000000009: demographics of 2 sources merged, Patient/9000000009 (PDS) first") {
		t.Errorf("import warnings do not report the merge:\n%s", warnings)
	}
	for _, kind := range []string{store.DocFull, store.DocDemographics} {
		doc, err := ts.st.Doc("9000000009", kind)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := record.ParseBundle(doc)
		if err != nil {
			t.Fatal(err)
		}
		s := record.Summarise(rec, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		d := s.Demographics
		if rec.Key != "Patient/9000000009" || d.Name.String() != "SMITH, Jane (Mrs)" || d.Address.Postcode != "LS1 6AE" ||
			!d.Deceased || s.GP.ODSCode != "Y12345" || len(d.Sources) != 2 {
			t.Errorf("%s document: key %s, demographics %+v, GP %+v", kind, rec.Key, d, s.GP)
		}
		if kind == store.DocFull && len(s.Problems.Items) != 5 {
			t.Errorf("the SCR's problems are not in the full document: %d", len(s.Problems.Items))
		}
		if kind == store.DocDemographics && len(s.Other) != 0 {
			t.Errorf("the demographics document counts clinical types: %v", s.Other)
		}
	}
	// Judson Eichmann's Synthea bundle has claims and explanations of
	// benefit, which the document leaves out but counts.
	doc, err := ts.st.Doc("9993462381", store.DocFull)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.ParseBundle(doc)
	if err != nil {
		t.Fatal(err)
	}
	other := map[string]int{}
	for _, o := range record.Summarise(rec, time.Now()).Other {
		other[o.Type] = o.Count
	}
	meta, err := ts.st.Patient("9993462381")
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Omitted) == 0 {
		t.Fatal("nothing omitted from a Synthea bundle")
	}
	for typ, n := range meta.Omitted {
		if other[typ] != n {
			t.Errorf("%s: %d omitted, %d counted on the summary", typ, n, other[typ])
		}
	}
}

// TestImport_RestrictedLabelOnAnySource checks that a patient is not
// offered offline when any of its sources' Patients carries a sensitive
// label, not only the one that sorts first.
func TestImport_RestrictedLabelOnAnySource(t *testing.T) {
	ts := newTestServer(t, 0)
	dir := t.TempDir()
	write := func(name, raw string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", `{"resourceType":"Patient","id":"a","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],"name":[{"family":"Open"}]}`)
	write("b.json", `{"resourceType":"Patient","id":"b","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],"name":[{"family":"Hidden"}]}`)
	rep, err := ts.svc.Import([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Restricted != 1 || !strings.Contains(strings.Join(rep.Warnings, "\n"), "Patient/b carries a restricted label") {
		t.Errorf("restricted %d, warnings %v", rep.Restricted, rep.Warnings)
	}
	meta, err := ts.svc.st.Patient("9990000018")
	if err != nil || !meta.Restricted {
		t.Fatalf("stored meta %+v, %v; want restricted", meta, err)
	}
	for _, kind := range []string{store.DocFull, store.DocDemographics} {
		if _, err := ts.svc.st.Doc("9990000018", kind); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the %s document of a restricted patient is kept (%v)", kind, err)
		}
	}
}
