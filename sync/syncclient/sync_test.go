package syncclient

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// checkComplete fails unless app holds exactly the server's caseload, each
// patient applied once, and a live cursor.
func checkComplete(t *testing.T, fs *fakeServer, app *fakeApplier) {
	t.Helper()
	cur, docs, applies, _, _, _ := app.view()
	if len(docs) != len(fs.patients) {
		t.Fatalf("cache holds %d patients; server has %d", len(docs), len(fs.patients))
	}
	for _, p := range fs.patients {
		if applies[p.nhs] != 1 {
			t.Fatalf("patient %s applied %d times; want once", p.nhs, applies[p.nhs])
		}
	}
	if cur.Phase != protocol.PhaseLive || cur.Epoch != fs.epoch {
		t.Fatalf("cursor %+v; want live in %s", cur, fs.epoch)
	}
}

// TestClient_SyncOnce_FullSyncWithinWindow checks a first sync of many
// batches completes, pipelines acks within the window, and reports
// connecting → syncing n of N → up to date in order.
func TestClient_SyncOnce_FullSyncWithinWindow(t *testing.T) {
	fs := newFakeServer(t, 600)
	tc := newTestClient(t, fs, "", nil)
	tc.app.delay = time.Millisecond
	if err := tc.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, fs, tc.app)
	snap := fs.snapshot()
	if snap.maxInFlight < 2 || snap.maxInFlight > 4 {
		t.Fatalf("server had at most %d batches in flight; want 2..4 (window 4)", snap.maxInFlight)
	}
	if h := snap.hellos[0]; h.Window != 4 || h.Protocol != protocol.Version || h.Client != "kmcr/test" || !h.Cursor.IsZero() {
		t.Fatalf("hello %+v", h)
	}

	st := tc.states.all()
	if st[0].Kind != Connecting {
		t.Fatalf("first state %v; want connecting", st[0])
	}
	lastDone, sawUpToDate := -1, false
	for _, s := range st[1:] {
		switch s.Kind {
		case Syncing:
			if sawUpToDate || s.Total != 600 || s.Done < lastDone || s.Done > s.Total {
				t.Fatalf("bad progress %v after done %d", s, lastDone)
			}
			lastDone = s.Done
		case UpToDate:
			sawUpToDate = true
			if s.AsOf.IsZero() {
				t.Fatal("up to date without an as-of time")
			}
		}
	}
	if lastDone != 600 || !sawUpToDate {
		t.Fatalf("progress ended at %d, up to date %v: %v", lastDone, sawUpToDate, st)
	}
	if end := tc.State(); end.Kind != Offline || end.Err != "" || end.AsOf.IsZero() {
		t.Fatalf("after SyncOnce: %v; want offline with the as-of time kept", end)
	}
}

// TestClient_SyncOnce_Resumes checks a second sync continues from the live
// cursor and sends nothing again.
func TestClient_SyncOnce_Resumes(t *testing.T) {
	fs := newFakeServer(t, 50)
	tc := newTestClient(t, fs, "", nil)
	for range 2 {
		if err := tc.SyncOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	checkComplete(t, fs, tc.app)
	if h := fs.snapshot().hellos[1]; h.Cursor.Phase != protocol.PhaseLive {
		t.Fatalf("second hello cursor %+v; want live", h.Cursor)
	}
}

// TestClient_SyncOnce_ServerDown checks a clear error and state when
// nothing listens.
func TestClient_SyncOnce_ServerDown(t *testing.T) {
	fs := newFakeServer(t, 0)
	tc := newTestClient(t, fs, "", nil)
	fs.close()
	err := tc.SyncOnce(context.Background())
	if !errors.Is(err, ErrUnreachable) || !strings.HasPrefix(err.Error(), "server unreachable: ") {
		t.Fatalf("SyncOnce = %v; want server unreachable", err)
	}
	if s := tc.State(); s.Kind != Offline || !strings.HasPrefix(s.Err, "server unreachable: ") {
		t.Fatalf("state %v", s)
	}
}

// TestClient_SyncOnce_ApplierCrash checks a failed transaction stops the
// sync with the progress made, and the next sync resumes without
// re-applying anything.
func TestClient_SyncOnce_ApplierCrash(t *testing.T) {
	fs := newFakeServer(t, 160)
	tc := newTestClient(t, fs, "", nil)
	tc.app.failBatch, tc.app.failErr = 4, errors.New("disk full")
	err := tc.SyncOnce(context.Background())
	if err == nil || !regexp.MustCompile(`^sync interrupted after 48 of 160: storing batch 4: disk full$`).MatchString(err.Error()) {
		t.Fatalf("SyncOnce = %v", err)
	}
	if s := tc.State(); s.Kind != Error {
		t.Fatalf("state %v; want error (local storage failing)", s)
	}
	if err := tc.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, fs, tc.app)
	if h := fs.snapshot().hellos[1]; h.Cursor.After != fs.patients[47].nhs {
		t.Fatalf("resumed after %q; want %q", h.Cursor.After, fs.patients[47].nhs)
	}
}

// TestClient_SyncOnce_Busy checks only one sync runs at a time.
func TestClient_SyncOnce_Busy(t *testing.T) {
	fs := newFakeServer(t, 10)
	tc := newTestClient(t, fs, "", nil)
	sv := tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	if err := tc.SyncOnce(context.Background()); !errors.Is(err, ErrBusy) {
		t.Fatalf("SyncOnce during Serve = %v", err)
	}
	if err := sv.stop(); err != nil {
		t.Fatalf("Serve = %v; want nil after cancel", err)
	}
}

// TestClient_Serve_LiveBatch checks a change pushed after the sync is
// applied and acked while the state stays up to date.
func TestClient_Serve_LiveBatch(t *testing.T) {
	fs := newFakeServer(t, 20)
	tc := newTestClient(t, fs, "", nil)
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	n := len(tc.states.all())
	p := fs.patients[3]
	fs.push(&protocol.Batch{Cursor: protocol.Cursor{Epoch: fs.epoch, Seq: 99, Phase: protocol.PhaseLive},
		Upserts: []protocol.DocMeta{fakeMeta(p.nhs, 2, protocol.RelCaseload)}, Docs: [][]byte{fakeDoc(p.nhs)}})
	waitFor(t, 20*time.Second, "the live change", func() bool {
		cur, _, applies, _, _, _ := tc.app.view()
		return applies[p.nhs] == 2 && cur.Seq == 99
	})
	for _, s := range tc.states.since(n) {
		if s.Kind != UpToDate {
			t.Fatalf("state %v during live changes", s)
		}
	}
}
