package core

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"kmcr/record"
	"kmcr/sync/protocol"
)

// patientDoc builds a server-shaped document of one Patient.
func patientDoc(t *testing.T, nhs, family, given string) []byte {
	t.Helper()
	n, err := record.ParseNHSNumber(nhs)
	if err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprintf(`{"resourceType":"Patient","id":"p%s","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":%q}],"name":[{"family":%q,"given":[%q]}],"birthDate":"1961-02-29"}`, nhs, nhs, family, given)
	p := record.ResourceFromRaw([]byte(raw), "")
	doc, err := record.BuildBundle(&record.PatientRecord{Key: p.Key(), NHS: n, Resources: []record.Resource{p}}, record.BundleMeta{ID: nhs})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestCore_ApplyBatches_UnusualRecordsLandOrAreSetAside checks that one
// record the cache cannot take never stops a batch: a 2,000-character
// given name and an impossible birth date are stored and searchable (the
// index holds the start of the name, the document all of it), an
// unreadable document is set aside with its reason and its older copy
// deleted, status and show say so, and a later good version clears it.
func TestCore_ApplyBatches_UnusualRecordsLandOrAreSetAside(t *testing.T) {
	ts := startServer(t, 4)
	ts.addUser("amy", "paramedic", ts.nhs...)
	c, _ := enrolled(t, ts, "amy")
	s := syncer{c}
	cur, err := s.Cursor()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("Ŵ", 1000) // 2,000 bytes
	notAfter := time.Now().Add(time.Hour)
	up := func(nhs string, v uint64) protocol.DocMeta {
		return protocol.DocMeta{NHS: nhs, Version: v, NotAfter: notAfter, AsOf: time.Now(), Relationship: protocol.RelCaseload, Sections: []string{"demographics"}}
	}
	b := &protocol.Batch{ID: 1, Cursor: cur,
		Upserts: []protocol.DocMeta{up(ts.nhs[0], 1000), up(ts.nhs[1], 1000), up(ts.nhs[2], 1000)},
		Docs:    [][]byte{patientDoc(t, ts.nhs[0], "Longname", long), []byte(`{"resourceType":"Bundle","entry":[`), patientDoc(t, ts.nhs[2], strings.Repeat("x", 3000), "Al")},
	}
	if err := s.ApplyBatches([]*protocol.Batch{b}); err != nil {
		t.Fatalf("one unusual record failed the batch: %v", err)
	}
	v, err := c.OpenPatient(ts.nhs[0], nil)
	if err != nil {
		t.Fatalf("the long-named patient was not stored: %v", err)
	}
	if g := v.Summary.Demographics.Name.Given; len(g) != 1 || g[0] != long {
		t.Fatalf("the document does not keep the whole given name: %d names", len(g))
	}
	if res, err := c.Search("LONGNAME", 10); err != nil || res.Total != 1 {
		t.Fatalf("search for the long-named patient: %+v, %v", res, err)
	}
	if _, err := c.OpenPatient(ts.nhs[2], nil); err != nil {
		t.Fatalf("the patient with a 3,000-byte family name was not stored: %v", err)
	}
	st := c.Status()
	if len(st.SetAside) != 1 || st.SetAside[0].NHS != ts.nhs[1] || st.SetAside[0].Version != 1000 || st.SetAside[0].Reason == "" || st.Damaged != 1 {
		t.Fatalf("status: damaged %d, set aside %+v; want the unreadable one with its reason", st.Damaged, st.SetAside)
	}
	_, err = c.OpenPatient(ts.nhs[1], nil)
	if !errors.Is(err, ErrNotCached) || !errors.Is(err, ErrSetAside) || !strings.Contains(err.Error(), "set aside") {
		t.Fatalf("opening the set-aside patient: %v; want not cached, set aside, and why", err)
	}
	b2 := &protocol.Batch{ID: 2, Cursor: cur, Upserts: []protocol.DocMeta{up(ts.nhs[1], 1001)}, Docs: [][]byte{patientDoc(t, ts.nhs[1], "Fixed", "Now")}}
	if err := s.ApplyBatches([]*protocol.Batch{b2}); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); len(st.SetAside) != 0 || st.Damaged != 0 {
		t.Fatalf("after a good version: damaged %d, set aside %+v", st.Damaged, st.SetAside)
	}
	if _, err := c.OpenPatient(ts.nhs[1], nil); err != nil {
		t.Fatal(err)
	}
}
