package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// refresh posts a refresh request and returns the answer or the API error.
func (ts *testServer) refresh(device, credential string) (*protocol.TokenResponse, *protocol.APIError) {
	ts.t.Helper()
	body, _ := json.Marshal(protocol.RefreshRequest{DeviceID: device, RefreshToken: credential})
	resp, err := ts.srv.Client().Post(ts.srv.URL+protocol.PathRefresh, "application/json", bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e protocol.APIError
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			ts.t.Fatalf("refresh: %s with no API error", resp.Status)
		}
		return nil, &e
	}
	var tok protocol.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		ts.t.Fatal(err)
	}
	return &tok, nil
}

// testClock is a settable clock for the service.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestRefresh_LostAnswerGrace checks a refresh credential is exchanged
// once, that the one it replaced still works (its answer may have been
// lost on a failing link) until RefreshGrace, that retries cannot stretch
// that grace, that a sync session with the new access token, a login or a
// revocation ends it, and that only the newest answer's access token opens
// a session.
func TestRefresh_LostAnswerGrace(t *testing.T) {
	ts := newTestServer(t, 0)
	clock := &testClock{now: time.Now()}
	ts.svc.cfg.Now = clock.Now
	ts.addUser("amy", "paramedic")
	dev := devID(40)
	first, key := ts.login("amy", dev)
	spent := func(what, credential string) {
		t.Helper()
		if _, e := ts.refresh(dev, credential); e == nil || e.Code != protocol.ErrCodeExpired {
			t.Fatalf("%s was accepted: %+v", what, e)
		}
	}

	// x -> y, whose answer is "lost": x works again within the grace.
	y, e := ts.refresh(dev, first.RefreshToken)
	if e != nil {
		t.Fatalf("first refresh: %+v", e)
	}
	clock.add(protocol.RefreshGrace / 2)
	z, e := ts.refresh(dev, first.RefreshToken)
	if e != nil {
		t.Fatalf("retry with the replaced credential within the grace: %+v", e)
	}
	if z.RefreshToken == y.RefreshToken || z.AccessToken == "" {
		t.Fatal("the retry did not issue a new credential")
	}
	spent("an overwritten credential (y, never received)", y.RefreshToken)
	if _, e := ts.refresh(dev, z.RefreshToken); e != nil {
		t.Fatalf("an overwritten credential ended the family: %+v", e)
	}
	// Retrying x did not move its deadline: past it, x is a replay, which
	// ends the whole family.
	clock.add(protocol.RefreshGrace/2 + time.Second)
	spent("the replaced credential after the grace period", first.RefreshToken)
	spent("the current credential after a replay ended the family", z.RefreshToken)

	// A new login starts a new family: r -> v -> w; a sync session with
	// w's access token proves w arrived and ends v's grace at once. v's
	// access token, no longer the newest, opens no session.
	r := ts.loginKey("amy", dev, key)
	v, e := ts.refresh(dev, r.RefreshToken)
	if e != nil {
		t.Fatalf("current credential refused: %+v", e)
	}
	w, e := ts.refresh(dev, v.RefreshToken)
	if e != nil {
		t.Fatalf("current credential refused: %+v", e)
	}
	if _, err := ts.dial(v.AccessToken).Receive(); protocol.CloseCode(err) != protocol.CloseUnauthorized {
		t.Fatalf("a session with a superseded access token: %v; want close %d", err, protocol.CloseUnauthorized)
	}
	if d, _ := ts.st.Device(dev); d.PrevRefreshHash == nil {
		t.Fatal("a refused session with an older access token ended the grace")
	}
	newClient(t, ts.dial(w.AccessToken)).hello(4)
	spent("the replaced credential after the new token was used", v.RefreshToken)
	spent("the current credential after a replay", w.RefreshToken)

	// A password login ends every earlier credential at once.
	second := ts.loginKey("amy", dev, key)
	u, e := ts.refresh(dev, second.RefreshToken)
	if e != nil {
		t.Fatal(e)
	}
	ts.loginKey("amy", dev, key)
	spent("a credential issued before a login", u.RefreshToken)
	spent("a credential replaced before a login", second.RefreshToken)

	// A revoked device gets device_revoked, whatever it presents.
	third := ts.loginKey("amy", dev, key)
	if _, e := ts.refresh(dev, third.RefreshToken); e != nil {
		t.Fatal(e)
	}
	if err := ts.admin.DeviceRevoke(context.Background(), dev); err != nil {
		t.Fatal(err)
	}
	if _, e := ts.refresh(dev, third.RefreshToken); e == nil || e.Code != protocol.ErrCodeDeviceRevoked {
		t.Fatalf("refresh on a revoked device: %+v", e)
	}
}
