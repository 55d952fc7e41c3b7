package record

import (
	"strings"
	"testing"
)

// TestReadPaths_SharedClosure checks a record gets the shared resources its
// resources refer to, directly, in turn, and by identifier, and nothing of
// another patient's.
func TestReadPaths_SharedClosure(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "Patient.000.ndjson",
		`{"resourceType":"Patient","id":"a","generalPractitioner":[{"reference":"Organization/gp"}]}`+"\n"+
			`{"resourceType":"Patient","id":"b"}`+"\n")
	writeFile(t, dir, "Organization.000.ndjson",
		`{"resourceType":"Organization","id":"gp","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"M85001"}],"name":"Week Street Surgery"}`+"\n"+
			`{"resourceType":"Organization","id":"unused","name":"Nobody's"}`+"\n")
	writeFile(t, dir, "PractitionerRole.000.ndjson",
		`{"resourceType":"PractitionerRole","id":"role","practitioner":{"reference":"Practitioner/dr"},"organization":{"reference":"Organization?identifier=https://fhir.nhs.uk/Id/ods-organization-code|M85001"}}`+"\n")
	writeFile(t, dir, "Practitioner.000.ndjson", `{"resourceType":"Practitioner","id":"dr","name":[{"family":"Okafor","given":["Ada"],"prefix":["Dr"]}]}`+"\n")
	writeFile(t, dir, "Encounter.000.ndjson",
		`{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/a"},"participant":[{"individual":{"reference":"PractitionerRole/role"}}]}`+"\n"+
			`{"resourceType":"Encounter","id":"e2","subject":{"reference":"Patient/b"},"serviceProvider":{"reference":"Organization/gp"},"partOf":{"reference":"Encounter/e1"}}`+"\n")
	imp := mustReadPaths(t, dir)
	keys := func(rec *PatientRecord) string {
		var ks []string
		for _, r := range rec.Resources {
			ks = append(ks, r.Type+"/"+r.ID)
		}
		return strings.Join(ks, " ")
	}
	if got, want := keys(mustPatient(t, imp, "Patient/a")), "Patient/a Encounter/e1 Organization/gp PractitionerRole/role Practitioner/dr"; got != want {
		t.Errorf("record a: %s\nwant      %s", got, want)
	}
	if got, want := keys(mustPatient(t, imp, "Patient/b")), "Patient/b Encounter/e2 Organization/gp"; got != want {
		t.Errorf("record b: %s\nwant      %s", got, want)
	}
	if _, ok := imp.Shared["Organization/unused"]; !ok || len(imp.Shared) != 4 {
		t.Errorf("shared %d resources", len(imp.Shared))
	}
}

// TestReadPaths_OrphanResources checks resources whose Patient is not in the
// import are rejected, and the counts corrected.
func TestReadPaths_OrphanResources(t *testing.T) {
	path := writeFile(t, t.TempDir(), "Condition.000.ndjson",
		goodPatient+"\n"+goodCondition+"\n"+`{"resourceType":"Condition","id":"c9","subject":{"reference":"Patient/gone"}}`+"\n")
	imp := mustReadPaths(t, path)
	if len(imp.Patients) != 1 || imp.Report.Resources != 2 || imp.Report.ByType["Condition"] != 1 || imp.Report.RejectedTotal != 1 {
		t.Fatalf("patients %d report %+v", len(imp.Patients), imp.Report)
	}
	if got := imp.Report.Rejected[0].Error(); got != path+" line 3: patient Patient/gone is not in the import" {
		t.Errorf("rejection %q", got)
	}
}

// TestReadPaths_DuplicateNHSNumber checks two patients with one NHS number
// are both kept, with a warning naming both.
func TestReadPaths_DuplicateNHSNumber(t *testing.T) {
	path := writeFile(t, t.TempDir(), "Patient.000.ndjson", goodPatient+"\n"+strings.Replace(goodPatient, `"p1"`, `"p2"`, 1)+"\n")
	imp := mustReadPaths(t, path)
	if len(imp.Patients) != 2 || len(imp.Report.Warnings) != 1 ||
		imp.Report.Warnings[0].String() != path+" line 2: NHS number 999 000 0018 is also on Patient/p1" {
		t.Fatalf("patients %d warnings %v", len(imp.Patients), imp.Report.Warnings)
	}
}

// TestScan_BundleShape checks a Bundle whose entry is not an array is
// rejected, and one with no entries is reported.
func TestScan_BundleShape(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.json", `{"resourceType":"Bundle","entry":{"resource":{}}}`)
	empty := writeFile(t, dir, "empty.json", `{"resourceType":"Bundle","type":"searchset","total":0,"entry":[ ]}`)
	_, rep := scanAll(t, bad, empty)
	if rep.RejectedTotal != 1 || rep.Rejected[0].Error() != bad+": Bundle.entry is not an array" ||
		len(rep.Warnings) != 1 || rep.Warnings[0].String() != empty+": Bundle has no entries" {
		t.Fatalf("rejected %v warnings %v", rep.Rejected, rep.Warnings)
	}
}
