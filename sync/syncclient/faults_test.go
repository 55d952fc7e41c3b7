package syncclient

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"kmcr/internal/faultproxy"
	"kmcr/sync/protocol"
)

// viaProxy puts a fault proxy between a new client and fs.
func viaProxy(t *testing.T, fs *fakeServer, mod func(*Config)) (*testClient, *faultproxy.Proxy) {
	t.Helper()
	p, err := faultproxy.New(fs.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return newTestClient(t, fs, "wss://"+p.Addr(), mod), p
}

// TestClient_Serve_ResumeAfterCut checks a first sync cut mid-frame again
// and again still completes, each Hello carrying the cursor of the last
// applied batch, so nothing is applied twice.
func TestClient_Serve_ResumeAfterCut(t *testing.T) {
	fs := newFakeServer(t, 800)
	tc, p := viaProxy(t, fs, nil)
	p.CutAfter(40 << 10) // each connection gets about three batches
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	if p.Cuts() < 3 {
		t.Fatalf("only %d cuts; the test did not exercise resumption", p.Cuts())
	}
	checkComplete(t, fs, tc.app)
	snap := fs.snapshot()
	prev := ""
	for i, h := range snap.hellos[1:] {
		if h.Cursor.Epoch != fs.epoch || h.Cursor.Phase == protocol.PhaseNone || h.Cursor.After < prev && h.Cursor.Phase == protocol.PhaseFull {
			t.Fatalf("hello %d cursor %+v after %q", i+1, h.Cursor, prev)
		}
		prev = h.Cursor.After
	}
	tc.app.mu.Lock()
	defer tc.app.mu.Unlock()
	for i, h := range snap.hellos {
		if h.Cursor != tc.app.helloCursor[i] {
			t.Fatalf("hello %d carried %+v; the cache's cursor was %+v", i, h.Cursor, tc.app.helloCursor[i])
		}
	}
}

// TestClient_SyncOnce_InterruptedByCut checks SyncOnce reports how far it
// got when the connection is cut mid-sync.
func TestClient_SyncOnce_InterruptedByCut(t *testing.T) {
	fs := newFakeServer(t, 400)
	tc, p := viaProxy(t, fs, nil)
	p.CutAfter(30 << 10)
	err := tc.SyncOnce(context.Background())
	if err == nil || !regexp.MustCompile(`^sync interrupted after \d+ of 400: connection lost: `).MatchString(err.Error()) {
		t.Fatalf("SyncOnce = %v", err)
	}
}

// TestClient_Serve_HeartbeatNoticesHalfOpen checks a link that silently
// stops carrying anything is noticed within the read timeout, and the
// client is back up to date once the link recovers.
func TestClient_Serve_HeartbeatNoticesHalfOpen(t *testing.T) {
	fs := newFakeServer(t, 20)
	tc, p := viaProxy(t, fs, nil)
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	n := len(tc.states.all())
	p.HalfOpen()
	start := time.Now()
	waitState(t, tc, 20*time.Second, "the half-open link noticed", func(s State) bool { return s.Kind != UpToDate })
	// Noticed about one read timeout after the last pong; the slack is
	// for a busy test machine, not for the protocol.
	if d := time.Since(start); d > 2*testTimeouts.Read+3*time.Second {
		t.Fatalf("half-open link noticed after %v; read timeout %v", d, testTimeouts.Read)
	}
	if first := tc.states.since(n)[0]; first.Kind != Offline || !strings.HasPrefix(first.Err, "connection lost: no answer from the server for 1.5s") {
		t.Fatalf("first state after half-open: %v", first)
	}
	p.Pass()
	waitState(t, tc, 10*time.Second, "up to date again", isUpToDate)
	hellos := fs.snapshot().hellos
	if last := hellos[len(hellos)-1]; len(hellos) < 2 || last.Cursor.Phase != protocol.PhaseLive {
		t.Fatalf("reconnect hello %+v", last.Cursor)
	}
}

// TestClient_SyncOnce_SlowLink checks a delay on every chunk slows the
// sync but does not break it.
func TestClient_SyncOnce_SlowLink(t *testing.T) {
	fs := newFakeServer(t, 200)
	tc, p := viaProxy(t, fs, nil)
	p.Delay(3 * time.Millisecond)
	tc.app.queue(10, 200)
	if err := tc.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, fs, tc.app)
}

// TestClient_Serve_DropThenRecover checks a dropped network shows as
// offline with a reason and a retry delay, then recovers by itself.
func TestClient_Serve_DropThenRecover(t *testing.T) {
	fs := newFakeServer(t, 20)
	tc, p := viaProxy(t, fs, nil)
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	asOf := tc.State().AsOf
	p.Drop()
	s := waitState(t, tc, 20*time.Second, "offline with a retry", func(s State) bool { return s.Kind == Offline && s.Err != "" && s.RetryIn > 0 })
	if !s.AsOf.Equal(asOf) {
		t.Fatalf("offline state lost the as-of time: %v", s)
	}
	// Several failed attempts while dropped, each saying why.
	waitFor(t, 20*time.Second, "repeated attempts", func() bool {
		n := 0
		for _, s := range tc.states.all() {
			if s.Kind == Offline && s.RetryIn > 0 {
				n++
			}
		}
		return n >= 3
	})
	if s := tc.State(); s.Kind == Offline && !strings.Contains(s.Err, "server unreachable") && !strings.Contains(s.Err, "connection lost") {
		t.Fatalf("offline reason %q", s.Err)
	}
	p.Pass()
	waitState(t, tc, 10*time.Second, "up to date again", isUpToDate)
}
