package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// Rows L9..L12 of docs/policy.md, each from FHIR-shaped examples through
// a real import into a real store.

const (
	labelsNHS     = "9990000018"
	labelsPatient = `{"resourceType":"Patient","id":"p1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],"name":[{"family":"Lane","given":["Ada"]}],"birthDate":"1950-01-02"}`
	hivLabel      = `{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"HIV"}`
)

// importFiles writes name -> content into a fresh folder and imports it.
func importFiles(t *testing.T, ts *testServer, files map[string]string) *ImportReport {
	t.Helper()
	dir := t.TempDir()
	for name, raw := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := ts.svc.Import([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// fullDoc returns the patient's full document as the server would send it.
func fullDoc(t *testing.T, ts *testServer) string {
	t.Helper()
	d, err := ts.svc.st.Doc(labelsNHS, store.DocFull)
	if err != nil {
		t.Fatal(err)
	}
	return string(d)
}

// checkWithheld checks that every id in gone is missing from the full
// document, every id in kept is in it, and the count of withheld items.
func checkWithheld(t *testing.T, ts *testServer, gone, kept []string, sensitive int) {
	t.Helper()
	doc := fullDoc(t, ts)
	for _, id := range gone {
		if strings.Contains(doc, id) {
			t.Errorf("%s reached the full document", id)
		}
	}
	for _, id := range kept {
		if !strings.Contains(doc, id) {
			t.Errorf("%s is missing from the full document", id)
		}
	}
	meta, err := ts.svc.st.Patient(labelsNHS)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Sensitive != sensitive {
		t.Errorf("%d items counted as withheld; want %d", meta.Sensitive, sensitive)
	}
}

// TestImport_L9_ContainedSensitive_Withheld: a resource whose contained
// resource carries a label is withheld with it, whether it refers to the
// contained resource or only carries it.
func TestImport_L9_ContainedSensitive_Withheld(t *testing.T) {
	ts := newTestServer(t, 0)
	importFiles(t, ts, map[string]string{
		"Patient.ndjson": labelsPatient + "\n",
		"MedicationRequest.ndjson": `{"resourceType":"MedicationRequest","id":"mr-contained-ref","status":"active","intent":"order","contained":[{"resourceType":"Medication","id":"m","meta":{"security":[` + hivLabel + `]},"code":{"text":"dolutegravir"}}],"medicationReference":{"reference":"#m"},"subject":{"reference":"Patient/p1"}}` + "\n" +
			`{"resourceType":"MedicationRequest","id":"mr-contained-old-uri","status":"active","intent":"order","contained":[{"resourceType":"Condition","id":"c","meta":{"security":[{"system":"http://hl7.org/fhir/v3/Confidentiality","code":"R"}]}}],"medicationCodeableConcept":{"text":"sertraline"},"subject":{"reference":"Patient/p1"}}` + "\n" +
			`{"resourceType":"MedicationRequest","id":"mr-plain","status":"active","intent":"order","medicationCodeableConcept":{"text":"paracetamol"},"subject":{"reference":"Patient/p1"}}` + "\n",
	})
	checkWithheld(t, ts, []string{"mr-contained-ref", "dolutegravir", "mr-contained-old-uri", "sertraline"}, []string{"mr-plain"}, 2)
}

// TestImport_L10_BundleLabel_AppliesToEntries: a Bundle's own
// meta.security labels every entry.
func TestImport_L10_BundleLabel_AppliesToEntries(t *testing.T) {
	ts := newTestServer(t, 0)
	importFiles(t, ts, map[string]string{
		"Patient.ndjson": labelsPatient + "\n",
		"labelled.json": `{"resourceType":"Bundle","type":"collection","meta":{"security":[{"system":"urn:oid:2.16.840.1.113883.5.4","code":"ETHUD"}]},"entry":[` +
			`{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Condition","id":"c-bundle-labelled","code":{"text":"alcohol dependence"},"subject":{"reference":"Patient/p1"}}},` +
			`{"fullUrl":"urn:uuid:2","resource":{"resourceType":"Observation","id":"o-bundle-labelled","meta":{"versionId":"3"},"status":"final","code":{"text":"AUDIT score"},"subject":{"reference":"Patient/p1"}}}]}`,
		"plain.json": `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:3","resource":{"resourceType":"Condition","id":"c-plain","code":{"text":"asthma"},"subject":{"reference":"Patient/p1"}}}]}`,
	})
	checkWithheld(t, ts, []string{"c-bundle-labelled", "alcohol dependence", "o-bundle-labelled"}, []string{"c-plain"}, 2)
}

// TestImport_L11_ReferrerOfWithheld_Withheld: a resource referring to a
// withheld one (patient's or shared) is withheld too, in turn.
func TestImport_L11_ReferrerOfWithheld_Withheld(t *testing.T) {
	ts := newTestServer(t, 0)
	importFiles(t, ts, map[string]string{
		"Patient.ndjson": labelsPatient + "\n",
		"Medication.ndjson": `{"resourceType":"Medication","id":"med-prep","meta":{"security":[` + hivLabel + `]},"code":{"text":"emtricitabine/tenofovir"}}` + "\n" +
			`{"resourceType":"Medication","id":"med-compound","code":{"text":"compound"},"ingredient":[{"itemReference":{"reference":"Substance/subst-labelled"}}]}` + "\n",
		"Substance.ndjson": `{"resourceType":"Substance","id":"subst-labelled","meta":{"security":[` + hivLabel + `]},"code":{"text":"cabotegravir"}}` + "\n",
		"Condition.ndjson": `{"resourceType":"Condition","id":"c-psy","meta":{"security":[{"system":"http://hl7.org/fhir/v3/ActCode","code":"PSY"}]},"code":{"text":"psychosis"},"subject":{"reference":"Patient/p1"}}` + "\n" +
			`{"resourceType":"Condition","id":"c-asthma","code":{"text":"asthma"},"subject":{"reference":"Patient/p1"}}` + "\n",
		"MedicationRequest.ndjson": `{"resourceType":"MedicationRequest","id":"mr-reason","status":"active","intent":"order","medicationCodeableConcept":{"text":"olanzapine"},"reasonReference":[{"reference":"Condition/c-psy"}],"subject":{"reference":"Patient/p1"}}` + "\n" +
			`{"resourceType":"MedicationRequest","id":"mr-shared","status":"active","intent":"order","medicationReference":{"reference":"Medication/med-prep"},"subject":{"reference":"Patient/p1"}}` + "\n" +
			`{"resourceType":"MedicationRequest","id":"mr-compound","status":"active","intent":"order","medicationReference":{"reference":"Medication/med-compound"},"subject":{"reference":"Patient/p1"}}` + "\n" +
			`{"resourceType":"MedicationRequest","id":"mr-asthma","status":"active","intent":"order","medicationCodeableConcept":{"text":"salbutamol"},"reasonReference":[{"reference":"Condition/c-asthma"}],"subject":{"reference":"Patient/p1"}}` + "\n",
		"MedicationStatement.ndjson": `{"resourceType":"MedicationStatement","id":"ms-second-hand","status":"active","basedOn":[{"reference":"MedicationRequest/mr-reason"}],"medicationCodeableConcept":{"text":"antipsychotic"},"subject":{"reference":"Patient/p1"}}` + "\n",
	})
	checkWithheld(t, ts, []string{"c-psy", "psychosis", "mr-reason", "olanzapine", "mr-shared", "med-prep", "ms-second-hand", "mr-compound", "med-compound", "cabotegravir"}, []string{"c-asthma", "mr-asthma", "salbutamol"}, 5)
}

// TestImport_L12_PatientRestrictedLater_Withdrawn: a Patient relabelled
// restricted on a later import loses both documents and logs the
// restricted change that purges it from devices; lifting the label
// brings it back.
func TestImport_L12_PatientRestrictedLater_Withdrawn(t *testing.T) {
	ts := newTestServer(t, 0)
	importFiles(t, ts, map[string]string{"Patient.ndjson": labelsPatient + "\n"})
	if _, err := ts.svc.st.Doc(labelsNHS, store.DocFull); err != nil {
		t.Fatal(err)
	}
	before, _ := ts.svc.st.LastSeq()
	restricted := strings.Replace(labelsPatient, `"id":"p1",`, `"id":"p1","meta":{"security":[{"system":"urn:oid:2.16.840.1.113883.5.25","code":"V"}]},`, 1)
	rep := importFiles(t, ts, map[string]string{"Patient.ndjson": restricted + "\n"})
	if rep.Restricted != 1 || rep.Changed != 1 {
		t.Fatalf("restricted %d, changed %d; want 1 and 1", rep.Restricted, rep.Changed)
	}
	for _, kind := range []string{store.DocFull, store.DocDemographics} {
		if d, err := ts.svc.st.Doc(labelsNHS, kind); err == nil {
			t.Fatalf("the %s document is still served after the restriction:\n%s", kind, d)
		}
	}
	var kinds []string
	_ = ts.svc.st.Changes(before, func(c store.Change) error { kinds = append(kinds, c.Kind); return nil })
	if len(kinds) != 1 || kinds[0] != store.ChangeRestricted {
		t.Fatalf("changes after the restriction: %v; want [%s]", kinds, store.ChangeRestricted)
	}
	if rep := importFiles(t, ts, map[string]string{"Patient.ndjson": restricted + "\n"}); rep.Changed != 0 {
		t.Fatalf("importing the restricted Patient again changed %d", rep.Changed)
	}
	importFiles(t, ts, map[string]string{"Patient.ndjson": labelsPatient + "\n"})
	if _, err := ts.svc.st.Doc(labelsNHS, store.DocFull); err != nil {
		t.Fatalf("lifting the label did not bring the patient back: %v", err)
	}
}

// TestSession_PatientRestricted_RevokedWithoutSayingWhy checks that a
// connected device holding a patient whose Patient becomes restricted is
// told to purge the patient at once, with the reason any unshared patient
// gets, so that even a hand-written client learns nothing of the status.
func TestSession_PatientRestricted_RevokedWithoutSayingWhy(t *testing.T) {
	ts := newTestServer(t, 0)
	other := strings.NewReplacer(`"p1"`, `"p2"`, "9990000018", "9990000026", "Lane", "Moss").Replace(labelsPatient)
	importFiles(t, ts, map[string]string{"Patient.ndjson": labelsPatient + "\n" + other + "\n"})
	ts.addUser("amy", "paramedic", labelsNHS, "9990000026")
	tok, _ := ts.login("amy", devID(40))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(2)
	cl.untilUpToDate(0)
	sameSet(t, cl.heldSet(), []string{labelsNHS, "9990000026"})
	restricted := strings.Replace(labelsPatient, `"id":"p1",`, `"id":"p1","meta":{"security":[{"system":"http://hl7.org/fhir/v3/Confidentiality","code":"R"}]},`, 1)
	importFiles(t, ts, map[string]string{"Patient.ndjson": restricted + "\n"})
	cl.untilUpToDate(0)
	sameSet(t, cl.heldSet(), []string{"9990000026"})
	if len(cl.dels) != 1 || cl.dels[0].NHS != labelsNHS || cl.dels[0].Reason != protocol.DelNotPermitted {
		t.Fatalf("deletes %+v; want one not-permitted for %s", cl.dels, labelsNHS)
	}
}

// TestSession_BreakGlass_RestrictedPatient_Refused: break-glass for a
// patient whose record is restricted is refused at once, in the words
// used for an unknown patient, rather than granted with no document ever
// following; the denial is in the audit trail with the real reason.
func TestSession_BreakGlass_RestrictedPatient_Refused(t *testing.T) {
	ts := newTestServer(t, 0)
	restricted := strings.Replace(labelsPatient, `"id":"p1",`, `"id":"p1","meta":{"security":[{"system":"http://hl7.org/fhir/v3/Confidentiality","code":"R"}]},`, 1)
	importFiles(t, ts, map[string]string{"Patient.ndjson": restricted + "\n"})
	details := breakGlassRefused(t, ts, devID(41))
	if len(details) != 1 || !strings.Contains(details[0], "restricted") {
		t.Fatalf("alerts %q; want one denial naming the restriction", details)
	}
}

// TestSession_BreakGlass_UnstorablePatient_Refused: the same for a patient
// with no document a device can store: refused at once, not granted with
// nothing following.
func TestSession_BreakGlass_UnstorablePatient_Refused(t *testing.T) {
	ts := newTestServer(t, 0)
	if _, err := ts.st.CommitPatients([]store.PatientUpdate{{Meta: store.PatientMeta{NHS: labelsNHS, Unstorable: true}, Docs: map[string][]byte{}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	details := breakGlassRefused(t, ts, devID(42))
	if len(details) != 1 || !strings.Contains(details[0], "no document a device can store") {
		t.Fatalf("alerts %q; want one denial naming why", details)
	}
}

// breakGlassRefused has a paramedic on device dev break the glass for
// labelsNHS, requires the refusal in the words used for an unknown
// patient, and returns the details of the alerts raised.
func breakGlassRefused(t *testing.T, ts *testServer, dev string) []string {
	t.Helper()
	ts.addUser("amy", "paramedic")
	tok, _ := ts.login("amy", dev)
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(2)
	cl.untilUpToDate(0)
	cl.send(&protocol.BreakGlass{RequestID: "r1", NHS: labelsNHS, ReasonCode: "emergency-treatment"})
	m, err := cl.recv()
	if err != nil {
		t.Fatal(err)
	}
	if res, ok := m.(*protocol.BreakGlassResult); !ok || res.Granted || res.Error != msgNoRecord {
		t.Fatalf("result %+v; want a refusal saying %q", m, msgNoRecord)
	}
	var details []string
	_ = ts.st.Alerts(func(a store.Alert) error { details = append(details, a.Detail); return nil })
	return details
}
