package server

import (
	"bytes"
	"context"
	"testing"
	"time"

	"kmcr/record"
	"kmcr/server/readings"
	"kmcr/server/store"
)

// TestPatientReading_ReachesConnectedClient checks a reading the patient
// adds is rebuilt into their documents and sent to a connected client
// holding them, where the record reads it as patient-entered; a client
// not holding the patient gets nothing; adding it again sends nothing.
func TestPatientReading_ReachesConnectedClient(t *testing.T) {
	ts := newTestServer(t, 3)
	nhs := ts.nhs[0]
	ts.addUser("cat", "community", nhs)
	ts.addUser("dan", "community", ts.nhs[1])
	tok, _ := ts.login("cat", devID(1))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	cl.untilUpToDate(0)
	before := cl.held[nhs].Version
	other, _ := ts.login("dan", devID(2))
	cl2 := newClient(t, ts.dial(other.AccessToken))
	cl2.hello(4)
	cl2.untilUpToDate(0)
	v2 := cl2.held[ts.nhs[1]].Version

	ref, err := ts.svc.PatientReference(nhs)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := readings.KindByKey("heart-rate")
	o := readings.New(k, 88, time.Now().Add(-time.Minute), ref)
	key, raw, err := readings.Stored(o, ref)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := ts.svc.AddPatientResources(nhs, []store.StoredResource{{Key: key, Raw: raw}})
	if err != nil || !changed {
		t.Fatalf("AddPatientResources: %v %v", changed, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && cl.held[nhs].Version == before {
		cl.untilUpToDate(0)
	}
	if cl.held[nhs].Version == before || !bytes.Contains(cl.docs[nhs], []byte(key[len("Observation/"):])) {
		t.Fatal("the connected client did not receive the reading")
	}
	rec, err := record.ParseBundle(cl.docs[nhs])
	if err != nil {
		t.Fatal(err)
	}
	sum := record.Summarise(rec, time.Now())
	found := false
	for _, ob := range sum.Observations.Items {
		if ob.PatientEntered && ob.Quantity != nil && ob.Quantity.Value == 88 {
			found = true
		}
	}
	if !found {
		t.Fatal("the client's copy does not read the reading as patient-entered")
	}
	cl2.untilUpToDate(0)
	if cl2.held[ts.nhs[1]].Version != v2 {
		t.Fatal("a client not holding the patient received a change")
	}
	if changed, err := ts.svc.AddPatientResources(nhs, []store.StoredResource{{Key: key, Raw: raw}}); err != nil || changed {
		t.Fatalf("adding the same reading again: %v %v", changed, err)
	}
	if _, err := ts.svc.AddPatientResources("9434765919", []store.StoredResource{{Key: key, Raw: raw}}); err == nil {
		t.Fatal("a reading for an NHS number with no record was stored")
	}
	_ = context.Background()
}
