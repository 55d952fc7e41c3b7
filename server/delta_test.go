package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kmcr/demo"
	"kmcr/sync/protocol"
)

// addObservation imports one new heart-rate reading for demo patient i.
func (ts *testServer) addObservation(i, n int) {
	ts.t.Helper()
	pid := demo.PatientID(7, i)
	line := fmt.Sprintf(`{"resourceType":"Observation","id":"obs-delta-%d-%d","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2026-12-02T18:%02d:00Z","valueQuantity":{"value":%d,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}`,
		i, n, pid, n%60, 70+n)
	dir := ts.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Observation.delta.ndjson"), []byte(line+"\n"), 0o600); err != nil {
		ts.t.Fatal(err)
	}
	rep, err := ts.svc.Import([]string{dir}, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	if rep.Changed != 1 {
		ts.t.Fatalf("import changed %d documents, want 1 (rejected %v)", rep.Changed, rep.Rejected)
	}
}

// TestSession_Delta_OneObservationUnder1KB checks that a client that
// applies deltas gets a one-observation change as a delta of well under
// 1 KB on the wire, that it rebuilds the server's document exactly, and
// that a client without deltas gets the whole document.
func TestSession_Delta_OneObservationUnder1KB(t *testing.T) {
	ts := newTestServer(t, 20)
	ts.addUser("amy", "paramedic", ts.nhs[:10]...)
	tokD, _ := ts.login("amy", devID(1))
	tokW, _ := ts.login("amy", devID(2))
	cD := ts.dialProtos(tokD.AccessToken, protocol.Subprotocols())
	cW := ts.dialProtos(tokW.AccessToken, protocol.Subprotocols())
	withDelta, whole := newClient(t, cD), newClient(t, cW)
	withDelta.deltas = true
	for _, cl := range []*client{withDelta, whole} {
		cl.hello(4)
		cl.untilUpToDate(0)
	}
	sD, sW := cD.Stats().WireIn, cW.Stats().WireIn
	gotD, gotW := len(withDelta.got), len(whole.got)

	ts.addObservation(3, 1)
	withDelta.untilUpToDate(0)
	whole.untilUpToDate(0)

	want, err := ts.st.Doc(ts.nhs[3], "full")
	if err != nil {
		t.Fatal(err)
	}
	for name, cl := range map[string]*client{"delta": withDelta, "whole": whole} {
		if !bytes.Equal(cl.docs[ts.nhs[3]], want) {
			t.Fatalf("%s client: document differs from the server's", name)
		}
		if !bytes.Contains(cl.docs[ts.nhs[3]], []byte("obs-delta-3-1")) {
			t.Fatalf("%s client: the new observation is missing", name)
		}
	}
	up := withDelta.got[gotD:]
	if len(up) != 1 || up[0].Delta == nil || up[0].NHS != ts.nhs[3] {
		t.Fatalf("delta client got %+v, want one delta for %s", up, ts.nhs[3])
	}
	if up := whole.got[gotW:]; len(up) != 1 || up[0].Delta != nil {
		t.Fatalf("client without deltas got %+v, want one whole document", up)
	}
	dBytes, wBytes := cD.Stats().WireIn-sD, cW.Stats().WireIn-sW
	t.Logf("one-observation change to a %d-byte summary: %d bytes on the wire as a delta (payload %d), %d compressed whole",
		len(want), dBytes, up[0].Size, wBytes)
	if dBytes >= 1024 {
		t.Fatalf("one-observation change cost %d bytes on the wire; want well under 1 KB", dBytes)
	}
	if dBytes*3 > wBytes {
		t.Fatalf("delta %d bytes is not much smaller than the whole document compressed (%d)", dBytes, wBytes)
	}
}

// TestSession_Delta_CorruptedFallsBackToWhole checks that a client whose
// delta does not reproduce the document hash keeps its version, asks in
// its ack for the whole document, and gets it; the next change is a delta
// again against what it then holds.
func TestSession_Delta_CorruptedFallsBackToWhole(t *testing.T) {
	ts := newTestServer(t, 10)
	ts.addUser("amy", "paramedic", ts.nhs[:5]...)
	tok, _ := ts.login("amy", devID(1))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.deltas = true
	cl.hello(4)
	cl.untilUpToDate(0)
	before := bytes.Clone(cl.docs[ts.nhs[2]])

	spoiled := 0
	cl.spoil = func(d []byte) []byte {
		spoiled++
		d = bytes.Clone(d)
		d[len(d)-1] ^= 0x55
		return d
	}
	n := len(cl.got)
	ts.addObservation(2, 1)
	cl.untilUpToDate(0)
	if spoiled != 1 || !bytes.Equal(cl.docs[ts.nhs[2]], before) || len(cl.full) != 0 {
		t.Fatalf("spoiled %d deltas; the old version must stay until the whole one comes", spoiled)
	}
	cl.spoil = nil
	// The ack asked for the whole document: it follows.
	cl.untilUpToDate(0)
	want, _ := ts.st.Doc(ts.nhs[2], "full")
	got := cl.got[n:]
	if len(got) != 2 || got[0].Delta == nil || got[1].Delta != nil || !bytes.Equal(cl.docs[ts.nhs[2]], want) {
		t.Fatalf("after a failed delta got %d upserts (%+v), document current %v", len(got), got, bytes.Equal(cl.docs[ts.nhs[2]], want))
	}
	ts.addObservation(2, 2)
	cl.untilUpToDate(0)
	if last := cl.got[len(cl.got)-1]; last.Delta == nil || !strings.Contains(string(cl.docs[ts.nhs[2]]), "obs-delta-2-2") {
		t.Fatalf("the next change after the whole document: %+v", last)
	}
}

// TestDeltaBook_AckOfSeveralBatchesKeepsTheNewest checks that when one
// ack covers several batches carrying the same patient, the device is
// recorded as holding the newest version (map order must not decide).
func TestDeltaBook_AckOfSeveralBatchesKeepsTheNewest(t *testing.T) {
	for range 30 {
		svc := &Service{deltas: newDeltaBook(1 << 20), cfg: Config{Logf: t.Logf}}
		ss := &session{svc: svc, pending: map[string]*op{}}
		ss.device.ID = "device-1"
		ss.delta.init(&protocol.Hello{Deltas: []string{protocol.DeltaZstd}})
		var last []byte
		for id := uint64(1); id <= 5; id++ {
			doc := []byte(fmt.Sprintf(`{"resourceType":"Bundle","v":%d}`, id))
			ss.addDoc(&protocol.Batch{ID: id}, protocol.DocMeta{NHS: "9990000018"}, doc, true)
			last = protocol.DocHash(doc)
		}
		ss.ackedDocs(&protocol.Ack{ID: 5})
		got, _, _ := svc.deltas.base("device-1", "9990000018")
		if !bytes.Equal(got, last) {
			t.Fatal("the device is recorded as holding an older version")
		}
	}
}
