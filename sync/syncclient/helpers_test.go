package syncclient

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// testBackoff retries fast so recovery tests take milliseconds.
var testBackoff = Backoff{Base: 5 * time.Millisecond, Cap: 50 * time.Millisecond, StableAfter: time.Second}

// states records every reported state.
type states struct {
	mu   sync.Mutex
	list []State
}

func (s *states) add(st State) {
	s.mu.Lock()
	s.list = append(s.list, st)
	s.mu.Unlock()
}

func (s *states) all() []State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]State(nil), s.list...)
}

// since returns the states reported after the first n.
func (s *states) since(n int) []State {
	all := s.all()
	if n > len(all) {
		return nil
	}
	return all[n:]
}

// testClient bundles a client with its fakes.
type testClient struct {
	*Client
	app    *fakeApplier
	tokens *fakeTokens
	states *states
}

// newTestClient makes a client of fs (or of server, when given) with fast
// timeouts; mod adjusts the config.
func newTestClient(t *testing.T, fs *fakeServer, server string, mod func(*Config)) *testClient {
	t.Helper()
	if server == "" {
		server = fs.url()
	}
	tc := &testClient{app: newFakeApplier(), tokens: fs.tokens(), states: &states{}}
	cfg := Config{
		Server:      server,
		TLS:         fs.clientTLS(),
		CAFile:      testCAFile,
		DeviceID:    "device-1",
		Applier:     tc.app,
		Tokens:      tc.tokens,
		Timeouts:    testTimeouts,
		DialTimeout: 5 * time.Second,
		Window:      4,
		Backoff:     testBackoff,
		OnState:     tc.states.add,
		Client:      "kmcr/test",
		Logf:        t.Logf,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc.Client = c
	return tc
}

// serving is a Serve running in the background.
type serving struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// serve runs Serve in the background until the test ends or stop.
func (tc *testClient) serve(t *testing.T) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sv := &serving{cancel: cancel, done: make(chan struct{})}
	go func() { sv.err = tc.Serve(ctx); close(sv.done) }()
	t.Cleanup(func() {
		if err := sv.stop(); err != nil {
			t.Logf("Serve: %v", err)
		}
	})
	return sv
}

// stop cancels Serve and returns its result.
func (sv *serving) stop() error {
	sv.cancel()
	select {
	case <-sv.done:
		return sv.err
	case <-time.After(5 * time.Second):
		return errors.New("Serve did not return within 5s of cancel")
	}
}

// result waits up to d for Serve to return by itself.
func (sv *serving) result(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-sv.done:
		return sv.err
	case <-time.After(d):
		t.Fatalf("Serve still running after %v", d)
		return nil
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until the client's state satisfies cond.
func waitState(t *testing.T, tc *testClient, d time.Duration, what string, cond func(State) bool) State {
	t.Helper()
	var got State
	waitFor(t, d, what, func() bool { got = tc.State(); return cond(got) })
	return got
}

func isUpToDate(s State) bool { return s.Kind == UpToDate }

// checkNoLeaks fails if any goroutine of this module, or an HTTP client
// connection, is still running once everything should have stopped. The
// few that end a close handshake get a moment to finish.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	var leaked []string
	deadline := time.Now().Add(3 * time.Second)
	for {
		leaked = leaked[:0]
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "checkNoLeaks") || strings.Contains(g, "testing.tRunner") && !strings.Contains(g, "created by kmcr/") {
				continue
			}
			if strings.Contains(g, "kmcr/") || strings.Contains(g, "net/http.(*persistConn)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left running:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
