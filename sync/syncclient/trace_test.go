package syncclient

import (
	"errors"
	"slices"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// traceScript is a server that welcomes with the given features and
// answers each trace with one candidate named after the request, and
// records the traces it received.
func traceScript(fs *fakeServer, features []string, got chan<- *protocol.Trace) func(ss *srvSession) {
	return func(ss *srvSession) {
		_ = ss.send(&protocol.Welcome{Protocol: protocol.Version, Epoch: fs.epoch, Mode: protocol.ModeLive, Features: features})
		_ = ss.send(&protocol.UpToDate{Cursor: protocol.Cursor{Epoch: fs.epoch, Seq: 1, Phase: protocol.PhaseLive}, AsOf: time.Now()})
		for {
			m, err := ss.conn.Receive()
			if err != nil {
				return
			}
			tr, ok := m.(*protocol.Trace)
			if !ok {
				continue
			}
			got <- tr
			res := &protocol.TraceResult{RequestID: tr.RequestID,
				Candidates: []protocol.TraceCandidate{{NHS: fs.bgNHS, Family: tr.Family, BirthDate: tr.BirthDate, Gender: "female", District: "CT1"}}}
			if tr.Postcode == "" && tr.Family == "Smith" {
				res = &protocol.TraceResult{RequestID: tr.RequestID, TooMany: true, Error: "too many patients match: add the postcode"}
			}
			if ss.send(res) != nil {
				return
			}
		}
	}
}

// TestClient_Trace_AnsweredOnline checks the Hello lists the trace feature,
// a trace is sent only once the Welcome lists it back, and the answer (a
// candidate list, or too many) reaches the caller matched to its request.
func TestClient_Trace_AnsweredOnline(t *testing.T) {
	fs := newFakeServer(t, 1)
	got := make(chan *protocol.Trace, 4)
	fs.script = traceScript(fs, []string{protocol.FeatureTrace}, got)
	tc := newTestClient(t, fs, "", nil)
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	if h := fs.snapshot().hellos; len(h) == 0 || !slices.Contains(h[0].Features, protocol.FeatureTrace) {
		t.Fatalf("hello features %v; want %q listed", h, protocol.FeatureTrace)
	}
	res, err := tc.Trace(t.Context(), "  Dąbrowski ", "1948-03-12", "ct1 1aa")
	if err != nil {
		t.Fatal(err)
	}
	sent := <-got
	if sent.Family != "Dąbrowski" || sent.BirthDate != "1948-03-12" || sent.Postcode != "ct1 1aa" || sent.RequestID == "" {
		t.Fatalf("sent %+v", sent)
	}
	if len(res.Candidates) != 1 || res.Candidates[0].NHS != fs.bgNHS || res.RequestID != sent.RequestID {
		t.Fatalf("answer %+v", res)
	}
	res, err = tc.Trace(t.Context(), "Smith", "1930-05-19", "")
	if err != nil || !res.TooMany || len(res.Candidates) != 0 {
		t.Fatalf("too many: %+v, %v", res, err)
	}
}

// TestClient_Trace_NotOffered checks a server that did not list the feature
// is never sent a trace, and offline and bad input fail before anything is
// sent.
func TestClient_Trace_NotOffered(t *testing.T) {
	fs := newFakeServer(t, 1)
	got := make(chan *protocol.Trace, 4)
	fs.script = traceScript(fs, nil, got)
	tc := newTestClient(t, fs, "", nil)
	if _, err := tc.Trace(t.Context(), "Smith", "1930-05-19", ""); !errors.Is(err, ErrOffline) {
		t.Fatalf("offline Trace = %v; want ErrOffline", err)
	}
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	for _, bad := range [][3]string{{"", "1930-05-19", ""}, {"Smith", "19/05/1930", ""}, {"Smith", "1930-05-19", "not a postcode at all"}} {
		if res, err := tc.Trace(t.Context(), bad[0], bad[1], bad[2]); err == nil || res != nil {
			t.Fatalf("Trace%q = %+v, %v; want an error", bad, res, err)
		}
	}
	if _, err := tc.Trace(t.Context(), "Smith", "1930-05-19", ""); !errors.Is(err, ErrTraceUnsupported) {
		t.Fatalf("Trace to a server without the feature = %v; want ErrTraceUnsupported", err)
	}
	select {
	case tr := <-got:
		t.Fatalf("a trace was sent to a server that did not list the feature: %+v", tr)
	case <-time.After(100 * time.Millisecond):
	}
}
