package syncclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// expireTokens makes every access token the server issued expired.
func (fs *fakeServer) expireTokens() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for tok := range fs.access {
		fs.access[tok] = time.Now().Add(-time.Second)
	}
}

// TestClient_Serve_TokenExpiredReconnectsAtOnce checks close 4001 leads to
// a refresh and a reconnect without backoff, using the new token only
// after it was stored.
func TestClient_Serve_TokenExpiredReconnectsAtOnce(t *testing.T) {
	fs := newFakeServer(t, 20)
	// A backoff this long would fail the test: the reconnect must not wait.
	tc := newTestClient(t, fs, "", func(c *Config) { c.Backoff = Backoff{Base: time.Minute, Cap: time.Minute, StableAfter: time.Hour} })
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	n := len(tc.states.all())
	fs.expireTokens()
	fs.closeAll(protocol.CloseTokenExpired, "access token expired")
	start := time.Now()
	waitFor(t, 40*time.Second, "a second session", func() bool { return len(fs.snapshot().hellos) == 2 })
	if d := time.Since(start); d > 30*time.Second { // half the backoff: only a wait would take this long
		t.Fatalf("reconnect took %v", d)
	}
	waitState(t, tc, 20*time.Second, "up to date again", isUpToDate)
	for _, s := range tc.states.since(n) {
		if s.RetryIn > 0 || s.Kind == Error {
			t.Fatalf("state %v during a token refresh", s)
		}
	}
	snap := fs.snapshot()
	saved := tc.tokens.savedTokens()
	if snap.refreshes != 1 || len(saved) != 1 || snap.tokensSeen[1] != saved[0] || snap.tokensSeen[0] == saved[0] {
		t.Fatalf("refreshes %d, saved %v, tokens used %v", snap.refreshes, saved, snap.tokensSeen)
	}
}

// TestClient_SyncOnce_RefreshesExpiringToken checks a token that expires
// within the margin is refreshed before dialling.
func TestClient_SyncOnce_RefreshesExpiringToken(t *testing.T) {
	fs := newFakeServer(t, 5)
	tc := newTestClient(t, fs, "", nil)
	tc.tokens.expires = time.Now().Add(10 * time.Second)
	if err := tc.SyncOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	snap := fs.snapshot()
	if snap.refreshes != 1 || len(snap.tokensSeen) != 1 || snap.tokensSeen[0] != tc.tokens.savedTokens()[0] {
		t.Fatalf("refreshes %d, tokens used %v", snap.refreshes, snap.tokensSeen)
	}
}

// TestClient_Serve_SaveTokensFails checks a refreshed token that could not
// be stored is not used, is kept, and is stored on the next attempt
// without spending the refresh credential again.
func TestClient_Serve_SaveTokensFails(t *testing.T) {
	fs := newFakeServer(t, 5)
	tc := newTestClient(t, fs, "", nil)
	tc.tokens.expires = time.Now() // expired: refresh first
	tc.tokens.failSave = 1
	tc.serve(t)
	waitFor(t, 20*time.Second, "the save failure reported", func() bool {
		for _, s := range tc.states.all() {
			if s.Kind == Error && strings.Contains(s.Err, "saving the new login tokens: disk full") && s.RetryIn > 0 {
				return true
			}
		}
		return false
	})
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	snap := fs.snapshot()
	saved := tc.tokens.savedTokens()
	if snap.refreshes != 1 || len(saved) != 1 || len(snap.tokensSeen) != 1 || snap.tokensSeen[0] != saved[0] {
		t.Fatalf("refreshes %d, saved %v, tokens used %v", snap.refreshes, saved, snap.tokensSeen)
	}
}

// TestClient_Serve_UnauthorizedNeedsLogin checks close 4002 leads to a
// refresh, and a refused refresh credential stops Serve with
// ErrLoginRequired and nothing wiped.
func TestClient_Serve_UnauthorizedNeedsLogin(t *testing.T) {
	fs := newFakeServer(t, 5)
	tc := newTestClient(t, fs, "", nil)
	sv := tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	fs.mu.Lock()
	clear(fs.refresh) // the account's sessions were ended centrally
	fs.mu.Unlock()
	fs.closeAll(protocol.CloseUnauthorized, "session ended")
	if err := sv.result(t, 20*time.Second); !errors.Is(err, ErrLoginRequired) {
		t.Fatalf("Serve = %v; want ErrLoginRequired", err)
	}
	if s := tc.State(); s.Kind != Error || !strings.HasPrefix(s.Err, "login required") {
		t.Fatalf("state %v", s)
	}
	if _, docs, _, wiped, _, _ := tc.app.view(); len(wiped) != 0 || len(docs) != 5 {
		t.Fatalf("login required must not wipe: wiped %v, %d docs", wiped, len(docs))
	}
}

// TestClient_Serve_DeviceRevoked checks close 4003 wipes the cache and
// stops Serve with ErrDeviceRevoked, and the refresh API's refusal does
// the same.
func TestClient_Serve_DeviceRevoked(t *testing.T) {
	for _, how := range []string{"close 4003", "refresh refused", "wipe at connect"} {
		t.Run(how, func(t *testing.T) {
			fs := newFakeServer(t, 5)
			tc := newTestClient(t, fs, "", nil)
			sv := tc.serve(t)
			waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
			fs.mu.Lock()
			fs.revoked = true
			fs.mu.Unlock()
			switch how {
			case "close 4003":
				fs.closeAll(protocol.CloseDeviceRevoked, "device revoked")
			case "refresh refused":
				fs.closeAll(protocol.CloseTokenExpired, "access token expired")
			case "wipe at connect":
				fs.closeAll(protocol.CloseServerShutdown, "restart")
			}
			if err := sv.result(t, 20*time.Second); !errors.Is(err, ErrDeviceRevoked) {
				t.Fatalf("Serve = %v; want ErrDeviceRevoked", err)
			}
			if _, docs, _, wiped, _, _ := tc.app.view(); len(wiped) != 1 || len(docs) != 0 {
				t.Fatalf("wiped %v, %d docs left", wiped, len(docs))
			}
			if s := tc.State(); s.Kind != Error || !strings.Contains(s.Err, "revoked") {
				t.Fatalf("state %v", s)
			}
		})
	}
}

// TestClient_Serve_WipeMessage checks a Wipe from the server destroys the
// cache and stops Serve with ErrWiped.
func TestClient_Serve_WipeMessage(t *testing.T) {
	fs := newFakeServer(t, 5)
	tc := newTestClient(t, fs, "", nil)
	sv := tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	fs.push(&protocol.Wipe{Reason: "account disabled"})
	if err := sv.result(t, 20*time.Second); !errors.Is(err, ErrWiped) || !strings.Contains(err.Error(), "account disabled") {
		t.Fatalf("Serve = %v; want ErrWiped", err)
	}
	if _, docs, _, wiped, _, _ := tc.app.view(); len(wiped) != 1 || wiped[0] != "account disabled" || len(docs) != 0 {
		t.Fatalf("wiped %v, %d docs left", wiped, len(docs))
	}
}

// TestClient_Serve_UntrustedCertificate checks a certificate not signed by
// the configured CA is an Error state naming the file, retried.
func TestClient_Serve_UntrustedCertificate(t *testing.T) {
	fs := newFakeServer(t, 5)
	tc := newTestClient(t, fs, "", func(c *Config) { c.TLS = &tls.Config{RootCAs: x509.NewCertPool()} })
	tc.serve(t)
	var s State
	waitFor(t, 20*time.Second, "a certificate error", func() bool {
		for _, s = range tc.states.all() {
			if s.Kind == Error {
				return true
			}
		}
		return false
	})
	if s.Err != "the server's certificate is not signed by the CA in "+testCAFile || s.RetryIn <= 0 {
		t.Fatalf("state %v", s)
	}
}

// TestClient_Serve_RefusedTokenNotReused checks that after close 4001 and
// a failed refresh, the next attempt refreshes again instead of dialling
// with the token the server refused.
func TestClient_Serve_RefusedTokenNotReused(t *testing.T) {
	fs := newFakeServer(t, 5)
	tc := newTestClient(t, fs, "", nil)
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	fs.mu.Lock()
	fs.failRefresh = 1
	fs.mu.Unlock()
	fs.closeAll(protocol.CloseTokenExpired, "access token expired")
	waitFor(t, 20*time.Second, "a second session", func() bool { return len(fs.snapshot().hellos) == 2 })
	snap := fs.snapshot()
	if snap.refreshes != 2 || len(snap.tokensSeen) != 2 || snap.tokensSeen[0] == snap.tokensSeen[1] {
		t.Fatalf("refreshes %d, tokens used %v", snap.refreshes, snap.tokensSeen)
	}
	offline := false
	for _, s := range tc.states.all() {
		offline = offline || s.Kind == Offline && s.Err == "refreshing the access token: server error: try again (internal)"
	}
	if !offline {
		t.Fatalf("the failed refresh was not reported: %v", tc.states.all())
	}
}
