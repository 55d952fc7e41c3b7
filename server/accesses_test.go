package server

import (
	"errors"
	"testing"

	"kmcr/audit"
	"kmcr/server/store"
)

// TestIngestAudit_AccessesHook checks the hook the patient notifications
// are queued from: it gets an upload's accesses once stored, gets them
// again when the device sends the stored upload again, never gets a
// forged event, and its failure fails the upload (so the device sends it
// again) without losing what was stored.
func TestIngestAudit_AccessesHook(t *testing.T) {
	ts := newTestServer(t, 2)
	ts.addUser("amy", "paramedic", ts.nhs...)
	dev := devID(1)
	_, priv := ts.login("amy", dev)
	d, err := ts.st.Device(dev)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := ts.st.User("amy")
	var got [][]audit.Event
	var fail error
	ts.svc.cfg.Accesses = func(device string, hu store.User, evs []audit.Event) error {
		if device != dev || hu.Name != "amy" {
			t.Errorf("hook for device %s user %s", device, hu.Name)
		}
		got = append(got, evs)
		return fail
	}
	evs := quotaEvents(t, dev, "amy", "paramedic", ts.nhs[0], 3)
	head := audit.Head{Seq: 3, Hash: evs[2].Hash()}
	forged := audit.Event{Action: audit.ActionView, Occurred: evs[0].Occurred, User: audit.Actor{ID: "bob", Name: "bob", Role: "community"},
		Device: audit.Device{ID: dev, Host: "h"}, Patient: evs[0].Patient, Sections: []string{"allergies"}, Purpose: "TREAT", Outcome: audit.Outcome{Result: audit.ResultSuccess}}
	forged, _ = audit.Next(head, forged)
	evs = append(evs, forged)

	if _, _, err := ts.svc.ingestAudit(d, u, quotaUpload(1, priv, dev, evs, 1, 2)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0]) != 2 || got[0][0].Seq != 1 || got[0][1].Seq != 2 {
		t.Fatalf("first upload: hook got %+v; want seqs 1 and 2", got)
	}
	// Sent again with one new event and a forged one: the stored two come
	// again (as duplicates), the new one once, the forged one never.
	fail = errors.New("outbox unavailable")
	d, _ = ts.st.Device(dev)
	if _, _, err := ts.svc.ingestAudit(d, u, quotaUpload(2, priv, dev, evs, 1, 4)); err == nil {
		t.Fatal("the upload succeeded though the hook failed")
	}
	var seqs []uint64
	for _, e := range got[1] {
		seqs = append(seqs, e.Seq)
	}
	if len(seqs) != 3 || seqs[0] != 3 || seqs[1] != 1 || seqs[2] != 2 {
		t.Fatalf("second upload: hook got seqs %v; want 3 (new), then 1 and 2 (sent again), not the forged 4", seqs)
	}
	// Stored nonetheless; the retry succeeds once the hook does.
	fail = nil
	d, _ = ts.st.Device(dev)
	ack, _, err := ts.svc.ingestAudit(d, u, quotaUpload(3, priv, dev, evs, 1, 4))
	if err != nil || ack.Through != 4 {
		t.Fatalf("retry: %+v %v", ack, err)
	}
	if log, _ := ts.svc.AccessLog(ts.nhs[0]); len(log) != 3 {
		t.Fatalf("access log holds %d events; want 3", len(log))
	}
}
