package syncclient

import (
	"testing"
	"time"

	"kmcr/internal/faultproxy"
	"kmcr/sync/protocol"
)

// TestClient_Serve_NoGoroutineLeak checks every goroutine the client
// started has ended once Serve returns, after live sessions, reconnects,
// half-open links and break-glass calls.
func TestClient_Serve_NoGoroutineLeak(t *testing.T) {
	fs := newFakeServer(t, 100)
	p, err := faultproxy.New(fs.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc := newTestClient(t, fs, "wss://"+p.Addr(), nil)
	tc.app.queue(50, 100)
	sv := tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	if _, err := tc.BreakGlass(t.Context(), fs.bgNHS, "emergency-treatment", "unconscious"); err != nil {
		t.Fatal(err)
	}
	fs.closeAll(protocol.CloseServerShutdown, "restart")
	waitFor(t, 20*time.Second, "a reconnect", func() bool { return len(fs.snapshot().hellos) >= 2 })
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	p.HalfOpen()
	waitState(t, tc, 20*time.Second, "the half-open link noticed", func(s State) bool { return s.Kind != UpToDate })
	p.Pass()
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)

	if err := sv.stop(); err != nil {
		t.Fatalf("Serve = %v; want nil when its context ends", err)
	}
	if s := tc.State(); s.Kind != Offline || s.Err != "" {
		t.Fatalf("state after Serve %v", s)
	}
	fs.close()
	p.Close()
	checkNoLeaks(t)
}

// TestClient_SyncOnce_NoGoroutineLeak checks the same for SyncOnce, after
// success and after failure.
func TestClient_SyncOnce_NoGoroutineLeak(t *testing.T) {
	fs := newFakeServer(t, 50)
	tc := newTestClient(t, fs, "", nil)
	if err := tc.SyncOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	fs.close()
	if err := tc.SyncOnce(t.Context()); err == nil {
		t.Fatal("SyncOnce succeeded with the server down")
	}
	checkNoLeaks(t)
}
