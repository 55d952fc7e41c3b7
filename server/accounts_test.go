package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// tryLogin posts a login and returns the status and API error code.
func (ts *testServer) tryLogin(user, password, device string, priv ed25519.PrivateKey) (int, string) {
	ts.t.Helper()
	if priv == nil {
		_, priv, _ = ed25519.GenerateKey(nil)
	}
	body, _ := json.Marshal(protocol.LoginRequest{User: user, Password: password, DeviceID: device, PublicKey: priv.Public().(ed25519.PublicKey), Host: "test-host"})
	resp, err := ts.srv.Client().Post(ts.srv.URL+protocol.PathLogin, "application/json", bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var e protocol.APIError
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}

func alertsOf(t *testing.T, st store.Store, kind string) []store.Alert {
	t.Helper()
	var out []store.Alert
	if err := st.Alerts(func(a store.Alert) error {
		if a.Kind == kind {
			out = append(out, a)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUserDisable_EndsEverything checks disabling a user wipes and closes
// their open session at once, revokes their devices, refuses a refresh,
// a login from the old device (told to wipe) and an enrolment of a new
// one, and that enabling lets a new device enrol.
func TestUserDisable_EndsEverything(t *testing.T) {
	ts := newTestServer(t, 3)
	ts.addUser("amy", "paramedic", ts.nhs...)
	tok, key := ts.login("amy", devID(1))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	res, err := ts.admin.UserDisable(context.Background(), "amy")
	if err != nil {
		t.Fatal(err)
	}
	if res.DevicesRevoked != 1 || res.SessionsEnded != 1 {
		t.Fatalf("UserDisable = %+v; want 1 device, 1 session", res)
	}
	wiped := false
	for range 100 {
		m, err := cl.c.Receive()
		if err != nil {
			if code := protocol.CloseCode(err); code != protocol.CloseDeviceRevoked {
				t.Fatalf("the session ended with %v; want close %d", err, protocol.CloseDeviceRevoked)
			}
			break
		}
		if _, ok := m.(*protocol.Wipe); ok {
			wiped = true
		}
	}
	if !wiped {
		t.Fatal("the open session got no wipe")
	}
	if _, e := ts.refresh(devID(1), tok.RefreshToken); e == nil || e.Code != protocol.ErrCodeDeviceRevoked {
		t.Fatalf("refresh of a disabled user's device: %+v", e)
	}
	if st, code := ts.tryLogin("amy", "password amy", devID(1), key); st != http.StatusForbidden || code != protocol.ErrCodeDeviceRevoked {
		t.Fatalf("login from the old device: %d %s", st, code)
	}
	if st, code := ts.tryLogin("amy", "password amy", devID(2), nil); st != http.StatusForbidden || code != protocol.ErrCodeForbidden {
		t.Fatalf("enrolling a new device: %d %s", st, code)
	}
	if _, err := ts.st.Device(devID(2)); err == nil {
		t.Fatal("a disabled user's enrolment registered a device")
	}
	if len(alertsOf(t, ts.st, AlertDisabledLogin)) != 2 {
		t.Fatal("the disabled user's logins raised no alert each")
	}
	if err := ts.admin.UserEnable(context.Background(), "amy"); err != nil {
		t.Fatal(err)
	}
	ts.login("amy", devID(3))
	if d, _ := ts.st.Device(devID(1)); !d.Revoked {
		t.Fatal("enabling the user un-revoked a device")
	}
}

// TestUserPassword_EndsCredentials checks a new password ends the old
// refresh credential and access token of every device.
func TestUserPassword_EndsCredentials(t *testing.T) {
	ts := newTestServer(t, 0)
	ts.addUser("amy", "paramedic")
	tok, _ := ts.login("amy", devID(1))
	if err := ts.admin.UserPassword(context.Background(), UserPasswordArgs{Name: "amy", Password: "password amy 2"}); err != nil {
		t.Fatal(err)
	}
	if _, e := ts.refresh(devID(1), tok.RefreshToken); e == nil {
		t.Fatal("the refresh credential outlived a password change")
	}
	if _, err := ts.dial(tok.AccessToken).Receive(); protocol.CloseCode(err) != protocol.CloseUnauthorized {
		t.Fatalf("the access token after a password change: %v", err)
	}
	if st, _ := ts.tryLogin("amy", "password amy", devID(1), nil); st != http.StatusUnauthorized {
		t.Fatalf("the old password: %d", st)
	}
}

// TestLogin_ThrottledThenLocked checks the delay from the 5th failure, the
// lock and its one alert at the 20th, that a locked user is refused even
// with the right password, and that another user is not affected.
func TestLogin_ThrottledThenLocked(t *testing.T) {
	ts := newTestServer(t, 0)
	clock := &testClock{now: time.Now()}
	ts.svc.cfg.Now = clock.Now
	ts.addUser("amy", "paramedic")
	ts.addUser("bob", "paramedic")
	for i := 1; i <= freeFailures; i++ {
		if st, code := ts.tryLogin("amy", "wrong", devID(1), nil); st != http.StatusUnauthorized || code != protocol.ErrCodeBadLogin {
			t.Fatalf("failure %d: %d %s", i, st, code)
		}
	}
	// From now on attempts are refused without a hash while the delay
	// runs, the right password included, and each counts.
	if st, code := ts.tryLogin("amy", "password amy", devID(1), nil); st != http.StatusTooManyRequests || code != protocol.ErrCodeThrottled {
		t.Fatalf("the right password during the delay: %d %s", st, code)
	}
	clock.add(2 * time.Second << 1) // the delay after 6 failures has passed
	if st, code := ts.tryLogin("amy", "wrong", devID(1), nil); st != http.StatusUnauthorized {
		t.Fatalf("an attempt after the delay: %d %s; want it checked", st, code)
	}
	for i := freeFailures + 3; i <= lockFailures; i++ {
		if st, code := ts.tryLogin("amy", "wrong", devID(1), nil); st != http.StatusTooManyRequests || code != protocol.ErrCodeThrottled {
			t.Fatalf("attempt %d: %d %s", i, st, code)
		}
		if n := len(alertsOf(t, ts.st, AlertLoginLocked)); (n == 1) != (i == lockFailures) {
			t.Fatalf("after %d failures %d lock alerts", i, n)
		}
	}
	if n := len(alertsOf(t, ts.st, AlertLoginLocked)); n != 1 {
		t.Fatalf("%d lock alerts; want 1", n)
	}
	clock.add(maxDelay)
	if st, _ := ts.tryLogin("amy", "password amy", devID(1), nil); st != http.StatusTooManyRequests {
		t.Fatalf("the right password during the lock: %d", st)
	}
	// The source address is locked too (same loopback address), so bob
	// waits as well: that is the per-address rule. Past the lock both work.
	clock.add(lockFor)
	if st, code := ts.tryLogin("amy", "password amy", devID(1), nil); st != http.StatusOK {
		t.Fatalf("after the lock: %d %s", st, code)
	}
	if st, code := ts.tryLogin("bob", "password bob", devID(2), nil); st != http.StatusOK {
		t.Fatalf("another user after the lock: %d %s", st, code)
	}
}

// TestLoginGuard_BoundedQueue checks one address holds at most
// slotsPerSource hash slots while others are free, a saturated semaphore
// refuses at once, and a clean waiter is served before suspect ones.
func TestLoginGuard_BoundedQueue(t *testing.T) {
	g := newLoginGuard()
	ctx := context.Background()
	if err := g.acquire(ctx, "flood", false); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() { second <- g.acquire(ctx, "flood", false) }()
	for g.queued() < 1 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < hashSlots; i++ { // the other slots go to other addresses at once
		if err := g.acquire(ctx, fmt.Sprint("other-", i), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-second; err != errHashBusy {
		t.Fatalf("a second slot for one address: %v; want it to wait, then be refused", err)
	}
	order := make(chan string, hashQueueMax)
	var wg sync.WaitGroup
	for i := range hashQueueMax - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprint("suspect-", i)
			if g.acquire(ctx, src, true) == nil {
				order <- "suspect"
				g.release(src)
			}
		}()
	}
	for g.queued() < hashQueueMax-1 {
		time.Sleep(time.Millisecond)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if g.acquire(ctx, "clean", false) == nil {
			order <- "clean"
			g.release("clean")
		}
	}()
	for g.queued() < hashQueueMax {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := g.acquire(ctx, "late", false); err != errHashBusy || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("a full queue: %v after %v; want an immediate refusal", err, time.Since(start))
	}
	g.release("flood") // one slot: it must go to the clean waiter
	if first := <-order; first != "clean" {
		t.Fatalf("first served: %s; want the clean waiter", first)
	}
	for i := 1; i < hashSlots; i++ {
		g.release(fmt.Sprint("other-", i))
	}
	wg.Wait()
}

// TestToken_LongClaimedExpiryCapped checks a validly signed token claiming
// a ten-year life is cut to AccessTokenTTL from its issue time, and one
// claiming to be issued in the future is refused.
func TestToken_LongClaimedExpiryCapped(t *testing.T) {
	keys, _ := NewMemoryTokenKeys(time.Now())
	tk := tokens{keys: keys}
	now := time.Now()
	long := tk.issue(claims{User: "amy", Device: devID(1), Issued: now.Add(-protocol.AccessTokenTTL - time.Second).Unix(), Expiry: now.Add(10 * 365 * 24 * time.Hour).Unix()})
	if _, err := tk.check(long, now); err != ErrTokenExpired {
		t.Fatalf("a ten-year token issued over a lifetime ago: %v; want expired", err)
	}
	fresh := tk.issue(claims{User: "amy", Device: devID(1), Issued: now.Unix(), Expiry: now.Add(10 * 365 * 24 * time.Hour).Unix()})
	c, err := tk.check(fresh, now)
	if err != nil || time.Unix(c.Expiry, 0).After(now.Add(protocol.AccessTokenTTL)) {
		t.Fatalf("a fresh ten-year token: expiry %v, %v; want capped at %v", time.Unix(c.Expiry, 0), err, protocol.AccessTokenTTL)
	}
	future := tk.issue(claims{User: "amy", Device: devID(1), Issued: now.Add(time.Hour).Unix(), Expiry: now.Add(time.Hour + time.Minute).Unix()})
	if _, err := tk.check(future, now); err != ErrTokenInvalid {
		t.Fatalf("a token issued in the future: %v", err)
	}
}

// TestTokenKeys_Rotate checks a rotation keeps the old key working for one
// token lifetime only, survives a reopen of the 0600 file, and that a
// token naming an unknown key or signed with another key is refused.
func TestTokenKeys_Rotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), TokenKeysFile)
	now := time.Now()
	keys, err := OpenTokenKeys(path, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	tk := tokens{keys: keys}
	old := tk.issue(claims{User: "amy", Device: devID(1), Issued: now.Unix(), Expiry: now.Add(protocol.AccessTokenTTL).Unix()})
	info, err := keys.Rotate(now)
	if err != nil || len(info) != 2 || !info[1].Current || info[0].Current {
		t.Fatalf("Rotate = %+v, %v", info, err)
	}
	again, err := OpenTokenKeys(path, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	tk2 := tokens{keys: again}
	if _, err := tk2.check(old, now.Add(time.Minute)); err != nil {
		t.Fatalf("a token of the retired key within its life: %v", err)
	}
	if _, err := tk2.check(tk2.issue(claims{User: "amy", Device: devID(1), Issued: now.Add(retiredKeyLife).Unix(), Expiry: now.Add(retiredKeyLife + time.Minute).Unix()}), now.Add(retiredKeyLife)); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	// A token of the retired key with a fresh issue time (minted by
	// someone holding the old key) is refused once its life is over.
	forged := tokens{keys: &TokenKeys{keys: []TokenKey{{ID: info[0].ID, Key: keys.keys[0].Key}}}}
	late := forged.issue(claims{User: "amy", Device: devID(1), Issued: now.Add(retiredKeyLife).Unix(), Expiry: now.Add(retiredKeyLife + time.Minute).Unix()})
	if _, err := tk2.check(late, now.Add(retiredKeyLife)); err != ErrTokenInvalid {
		t.Fatalf("the retired key past its life: %v", err)
	}
	other, _ := NewMemoryTokenKeys(now)
	if _, err := tk2.check(tokens{keys: other}.issue(claims{User: "amy", Device: devID(1), Issued: now.Unix(), Expiry: now.Add(time.Minute).Unix()}), now); err != ErrTokenInvalid {
		t.Fatalf("a token of an unknown key: %v", err)
	}
}

// TestLimitListener_CapsPerAddress checks connections beyond the cap from
// one address are closed at once and a closed one frees its place.
func TestLimitListener_CapsPerAddress(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 2, t.Logf)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 4 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case c := <-accepted:
		t.Fatalf("a third connection was accepted: %v", c.RemoteAddr())
	case <-time.After(300 * time.Millisecond):
	}
	first.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a freed place was not given to a new connection")
	}
	second.Close()
}

// TestSafeLogf_MasksAndEscapes checks the service log masks NHS numbers in
// any spelling and escapes terminal controls from client strings.
func TestSafeLogf_MasksAndEscapes(t *testing.T) {
	var got []string
	logf := safeLogf(func(f string, a ...any) { got = append(got, strings.TrimSpace(f)+"|"+a[0].(string)) })
	logf("storing %s: %v", "9434765919", "batch for 943 476 5919 failed")
	logf("login refused for %s", "x\x1b[2J\u202eevil\r\n")
	all := strings.Join(got, "\n")
	for _, bad := range []string{"9434765919", "943 476 5919", "\x1b", "\u202e", "\r"} {
		if strings.Contains(all, bad) {
			t.Fatalf("log holds %q:\n%s", bad, all)
		}
	}
}

// TestRefresh_ReplayEndsFamily checks a refresh credential presented
// again after its grace ended (the new one was seen in use) ends every
// credential of the device, closes its open session and raises one alert
// naming the device's user.
func TestRefresh_ReplayEndsFamily(t *testing.T) {
	ts := newTestServer(t, 0)
	ts.addUser("amy", "paramedic")
	first, _ := ts.login("amy", devID(1))
	second, e := ts.refresh(devID(1), first.RefreshToken)
	if e != nil {
		t.Fatal(e)
	}
	cl := newClient(t, ts.dial(second.AccessToken))
	cl.hello(4) // ends the grace of first
	if _, e := ts.refresh(devID(1), first.RefreshToken); e == nil || e.Code != protocol.ErrCodeExpired {
		t.Fatalf("the replay: %+v", e)
	}
	if _, err := cl.c.Receive(); err == nil {
		for {
			if _, err = cl.c.Receive(); err != nil {
				break
			}
		}
	}
	if _, e := ts.refresh(devID(1), second.RefreshToken); e == nil {
		t.Fatal("the current credential survived a replay")
	}
	if _, err := ts.dial(second.AccessToken).Receive(); protocol.CloseCode(err) != protocol.CloseUnauthorized {
		t.Fatalf("the access token after a replay: %v", err)
	}
	as := alertsOf(t, ts.st, AlertRefreshReplay)
	if len(as) != 1 || as[0].User != "amy" || as[0].Device != devID(1) {
		t.Fatalf("replay alerts %+v; want one naming amy's device", as)
	}
}

// TestLimitListener_HotAddressRate checks an address under a login delay
// opens at most hotConnsPerSecond connections a second, and others are
// not limited.
func TestLimitListener_HotAddressRate(t *testing.T) {
	l := newLimitListener(nil, 1000, t.Logf).(*limitListener)
	l.hot = func(src string) bool { return src == "hot" }
	now := time.Now()
	over := 0
	for range 3 * hotConnsPerSecond {
		if l.overRate("hot", now) {
			over++
		}
		if l.overRate("cool", now) {
			t.Fatal("an address not throttled was rate-limited")
		}
	}
	if over != 2*hotConnsPerSecond {
		t.Fatalf("%d of %d refused; want all past %d", over, 3*hotConnsPerSecond, hotConnsPerSecond)
	}
	if l.overRate("hot", now.Add(time.Second)) {
		t.Fatal("the allowance did not renew the next second")
	}
}

// TestSourceOf_IPv6By64 checks IPv6 addresses of one /64 count as one
// source and IPv4 ones stay whole.
func TestSourceOf_IPv6By64(t *testing.T) {
	a, b := sourceOf("[2001:db8:1:2::1]:443"), sourceOf("[2001:db8:1:2:ffff::9]:80")
	if a != b || a != "2001:db8:1:2::/64" {
		t.Fatalf("one /64: %q and %q", a, b)
	}
	if c := sourceOf("[2001:db8:1:3::1]:443"); c == a {
		t.Fatal("another /64 counted as the same source")
	}
	if v4 := sourceOf("192.0.2.7:5000"); v4 != "192.0.2.7" {
		t.Fatalf("IPv4: %q", v4)
	}
}
