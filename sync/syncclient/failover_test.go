package syncclient

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kmcr/internal/faultproxy"
	"kmcr/sync/protocol"
)

// deadAddress is a loopback address nothing listens on: connecting is
// refused at once, as it is to a node whose process has died.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "wss://" + addr
}

// twoNodes puts two fault proxies in front of one fake server: two
// addresses of one central record, as two nodes on one database are.
func twoNodes(t *testing.T, fs *fakeServer) (a, b *faultproxy.Proxy) {
	t.Helper()
	for _, p := range []**faultproxy.Proxy{&a, &b} {
		px, err := faultproxy.New(fs.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { px.Close() })
		*p = px
	}
	return a, b
}

// TestAddresses checks the order addresses are tried in: Servers as
// given, Server first when it is not among them, repeats once, and the
// start at Server.
func TestAddresses(t *testing.T) {
	tests := []struct {
		server  string
		servers []string
		list    []string
		start   int
	}{
		{"wss://a", nil, []string{"wss://a"}, 0},
		{"", []string{"wss://a", "wss://b"}, []string{"wss://a", "wss://b"}, 0},
		{"wss://b", []string{"wss://a", "wss://b", "wss://c"}, []string{"wss://a", "wss://b", "wss://c"}, 1},
		{"wss://z", []string{"wss://a", "wss://b"}, []string{"wss://z", "wss://a", "wss://b"}, 0},
		{"wss://a", []string{"wss://a", "wss://b", "wss://a", "wss://b"}, []string{"wss://a", "wss://b"}, 0},
		{"", nil, nil, 0},
	}
	for _, tt := range tests {
		list, start := addresses(tt.server, tt.servers)
		if !slices.Equal(list, tt.list) || start != tt.start {
			t.Errorf("addresses(%q, %q) = %q, %d; want %q, %d", tt.server, tt.servers, list, start, tt.list, tt.start)
		}
	}
	if _, err := New(Config{Servers: []string{"wss://127.0.0.1:1", "https://127.0.0.1:2"}, DeviceID: "d", Applier: newFakeApplier(), Tokens: &fakeTokens{}}); err == nil || !strings.Contains(err.Error(), "https://127.0.0.1:2") {
		t.Fatalf("a bad second address: %v", err)
	}
}

// TestRound_OneRoundBeforeBackoff checks the rotation's decision: with n
// addresses, n-1 failures in a row move on at once and the n-th takes a
// backoff step; a stable connection starts a new round, and a failure
// that did not move on (one address, or this device's own) is a step.
func TestRound_OneRoundBeforeBackoff(t *testing.T) {
	r := round{size: 3}
	var got []bool
	for range 7 {
		got = append(got, r.failed(false, true))
	}
	if want := []bool{false, false, true, false, false, true, false}; !slices.Equal(got, want) {
		t.Fatalf("3 addresses, failures in a row: backoff steps %v; want %v", got, want)
	}
	// One failure into a round, a connection stays up StableAfter and
	// then fails: the round starts again from it.
	r = round{size: 3}
	r.failed(false, true)
	if r.failed(true, true) || r.failed(false, true) || !r.failed(false, true) {
		t.Fatal("a stable connection did not start a new round")
	}
	r = round{size: 3}
	if !r.failed(false, false) {
		t.Fatal("a failure that did not move on did not take a backoff step")
	}
	if r.failed(false, true) != false {
		t.Fatal("a failure after a backoff step did not start a new round")
	}
	one := round{size: 1}
	for range 3 {
		if !one.failed(false, false) {
			t.Fatal("one address: a failure without a backoff step")
		}
	}
}

// TestClient_Serve_MovesToNextServer: node A dies in the middle of a
// first sync (its listener and every connection closed). The client
// carries on at node B with the same credentials (no login, no refresh)
// from the cursor of the last batch it applied at A, applies every
// patient exactly once, and reports B as its server.
func TestClient_Serve_MovesToNextServer(t *testing.T) {
	fs := newFakeServer(t, 800)
	a, b := twoNodes(t, fs)
	urlA, urlB := "wss://"+a.Addr(), "wss://"+b.Addr()
	tc := newTestClient(t, fs, "", func(cfg *Config) {
		cfg.Server, cfg.Servers = "", []string{urlA, urlB}
		// A backoff step would take seconds: moving on must not wait one.
		cfg.Backoff = Backoff{Base: 20 * time.Millisecond, Cap: 20 * time.Second, StableAfter: time.Minute}
	})
	if tc.Server() != urlA || !slices.Equal(tc.Servers(), []string{urlA, urlB}) {
		t.Fatalf("server %q of %q", tc.Server(), tc.Servers())
	}
	applied := func() int { _, docs, _, _, _, _ := tc.app.view(); return len(docs) }
	tc.serve(t)
	waitFor(t, 20*time.Second, "part of the first sync at A", func() bool { return applied() >= 100 })
	atA := applied()
	a.Close()
	died := time.Now()
	st := waitState(t, tc, 20*time.Second, "up to date at B", isUpToDate)
	took := time.Since(died)
	checkComplete(t, fs, tc.app)
	if st.Server != urlB || tc.Server() != urlB {
		t.Fatalf("up to date on %q (client says %q); want B %q", st.Server, tc.Server(), urlB)
	}
	snap := fs.snapshot()
	if len(snap.hellos) != 2 {
		t.Fatalf("%d sessions; want one at A and one at B", len(snap.hellos))
	}
	resumed := snap.hellos[1].Cursor
	if resumed.Phase != protocol.PhaseFull || resumed.After == "" || resumed != tc.app.helloCursor[1] {
		t.Fatalf("the session at B started from %+v (the cache's cursor %+v); want the cursor reached at A", resumed, tc.app.helloCursor[1])
	}
	fs.mu.Lock()
	logins, refreshes := fs.logins, fs.refreshes
	fs.mu.Unlock()
	if logins != 0 || refreshes != 0 {
		t.Fatalf("%d logins and %d refreshes; the credentials should have carried over", logins, refreshes)
	}
	if took > 10*time.Second {
		t.Fatalf("B took over after %v", took)
	}
	t.Logf("%d of 800 applied at A; B took over and finished in %v", atA, took.Round(time.Millisecond))
}

// TestClient_Serve_OneRoundThenBackoff: with every address dead, the
// client tries each in turn (A, B, A, B, ...), and the waits before
// moving to B stay within the first step of the schedule while those
// before going back to A grow with it.
func TestClient_Serve_OneRoundThenBackoff(t *testing.T) {
	fs := newFakeServer(t, 10)
	deadA, deadB := deadAddress(t), deadAddress(t)
	base := 2 * time.Millisecond
	tc := newTestClient(t, fs, "", func(cfg *Config) {
		cfg.Server, cfg.Servers = "", []string{deadA, deadB}
		cfg.Backoff = Backoff{Base: base, Cap: time.Second, StableAfter: time.Minute}
	})
	tc.serve(t)
	waitFor(t, 20*time.Second, "eight rounds", func() bool {
		n := 0
		for _, s := range tc.states.all() {
			if s.Kind == Connecting && s.Server == deadA {
				n++
			}
		}
		return n >= 9
	})
	var order []string
	var toB, toA []time.Duration
	for _, s := range tc.states.all() {
		switch {
		case s.Kind == Connecting:
			order = append(order, map[string]string{deadA: "A", deadB: "B"}[s.Server])
		case s.Kind == Offline && s.Err != "" && s.Server == deadB:
			toB = append(toB, s.RetryIn)
		case s.Kind == Offline && s.Err != "" && s.Server == deadA:
			toA = append(toA, s.RetryIn)
		}
	}
	for i, n := range order {
		if want := []string{"A", "B"}[i%2]; n != want {
			t.Fatalf("attempts went to %v; want A and B in turn", order)
		}
	}
	for _, d := range toB {
		if d >= base {
			t.Fatalf("waited %v before moving to B; want under Backoff.Base %v (waits %v)", d, base, toB)
		}
	}
	// The delays back to A are drawn from a doubling ceiling (Base,
	// 2 x Base, ... 128 x Base): all eight under Base would be the
	// schedule not growing (a chance of 2^-28 if it does).
	if len(toA) < 8 || slices.Max(toA[:8]) < base {
		t.Fatalf("waits before going back to A %v; want backoff steps growing past Base %v", toA, base)
	}
}

// TestClient_SyncOnce_MovesToNextServer: the first address refuses
// connections; SyncOnce finishes at the second, and gives up only after
// trying both, with the error of the last.
func TestClient_SyncOnce_MovesToNextServer(t *testing.T) {
	fs := newFakeServer(t, 120)
	dead := deadAddress(t)
	tc := newTestClient(t, fs, "", func(cfg *Config) { cfg.Server, cfg.Servers = "", []string{dead, fs.url()} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tc.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, fs, tc.app)
	if tc.Server() != fs.url() {
		t.Fatalf("finished on %q; want %q", tc.Server(), fs.url())
	}

	dead2 := deadAddress(t)
	tc2 := newTestClient(t, fs, "", func(cfg *Config) { cfg.Server, cfg.Servers = "", []string{dead, dead2} })
	err := tc2.SyncOnce(ctx)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), strings.TrimPrefix(dead2, "wss://")) {
		t.Fatalf("both dead: %v", err)
	}
	tried := map[string]bool{}
	for _, s := range tc2.states.all() {
		if s.Kind == Connecting {
			tried[s.Server] = true
		}
	}
	if len(tried) != 2 {
		t.Fatalf("tried %v; want both addresses once", tried)
	}
}

// TestClient_RefreshMovesToNextServer: the access token has expired and
// the first node fails the refresh with 503; the client refreshes at the
// second node, which honours the same refresh credential, and syncs there.
func TestClient_RefreshMovesToNextServer(t *testing.T) {
	fs := newFakeServer(t, 60)
	a, b := twoNodes(t, fs)
	urlA, urlB := "wss://"+a.Addr(), "wss://"+b.Addr()
	tc := newTestClient(t, fs, "", func(cfg *Config) { cfg.Server, cfg.Servers = urlA, []string{urlA, urlB} })
	tc.tokens.mu.Lock()
	tc.tokens.expires = time.Now().Add(-time.Minute)
	tc.tokens.mu.Unlock()
	fs.mu.Lock()
	fs.failRefresh = 1
	fs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tc.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, fs, tc.app)
	fs.mu.Lock()
	refreshes := fs.refreshes
	fs.mu.Unlock()
	if refreshes != 2 || len(tc.tokens.savedTokens()) != 1 || tc.Server() != urlB {
		t.Fatalf("%d refreshes, %d saved, finished on %q; want one failed at A, one good at B", refreshes, len(tc.tokens.savedTokens()), tc.Server())
	}
}

// TestLogin_TriesNextServer: a login reaches the second address when the
// first cannot be reached, but a wrong password is not asked again of
// the next node; with every address dead the error names each.
func TestLogin_TriesNextServer(t *testing.T) {
	fs := newFakeServer(t, 1)
	dead := deadAddress(t)
	a, b := twoNodes(t, fs)
	cfg := Config{Servers: []string{dead, "wss://" + a.Addr(), "wss://" + b.Addr()}, TLS: fs.clientTLS(), CAFile: testCAFile, DialTimeout: 5 * time.Second, Logf: t.Logf}
	ctx := context.Background()
	req := protocol.LoginRequest{User: "amy", Password: testPassword, DeviceID: "device-1"}
	if _, err := Login(ctx, cfg, req); err != nil {
		t.Fatal(err)
	}
	req.Password = "wrong"
	if _, err := Login(ctx, cfg, req); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("wrong password: %v", err)
	}
	fs.mu.Lock()
	logins := fs.logins
	fs.mu.Unlock()
	if logins != 2 {
		t.Fatalf("%d logins reached the server; want 2 (the wrong password asked of one node only)", logins)
	}
	dead2 := deadAddress(t)
	cfg.Servers = []string{dead, dead2}
	_, err := Login(ctx, cfg, req)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), strings.TrimPrefix(dead, "wss://")) || !strings.Contains(err.Error(), strings.TrimPrefix(dead2, "wss://")) {
		t.Fatalf("every address dead: %v", err)
	}
}

// TestClient_NodeDiesWhileBusy: node A's connection ends while the
// client is busy (here reporting progress), with more batches and the
// connection's end queued behind the batch it just acknowledged. The
// client stores the queued batches, must then see the end (not wait for
// a reader that has already stopped) and finish at node B from its
// cursor.
func TestClient_NodeDiesWhileBusy(t *testing.T) {
	fs := newFakeServer(t, 600)
	a, b := twoNodes(t, fs)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	tc := newTestClient(t, fs, "", func(cfg *Config) {
		// A window under maxCoalesce: the queued batches and the end
		// behind them are taken together.
		cfg.Server, cfg.Servers, cfg.Window = "", []string{"wss://" + a.Addr(), "wss://" + b.Addr()}, 4
		cfg.OnState = func(s State) {
			if s.Kind == Syncing && s.Done > 0 {
				once.Do(func() { close(started); <-release })
			}
		}
	})
	ca := &coalescingApplier{fakeApplier: tc.app, prepared: map[*protocol.Batch]bool{}}
	tc.Client.cfg.Applier = ca
	done := make(chan error, 1)
	go func() { done <- tc.SyncOnce(context.Background()) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no batch arrived")
	}
	waitFor(t, 10*time.Second, "a window of batches sent", func() bool {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return fs.maxInFlight >= 4
	})
	a.Close()
	time.Sleep(200 * time.Millisecond) // the reader queues the rest and the end
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("SyncOnce hung after node A's connection ended while it was busy")
	}
	checkComplete(t, fs, tc.app)
	if tc.Server() != "wss://"+b.Addr() {
		t.Fatalf("finished on %q", tc.Server())
	}
}
