package e2e

// The attack suite for accounts, credentials, the server's edges and the
// secrets kept apart from data (issue 8, items 4-6). Each test is named for
// an attack, runs it against the real kmcr-server binary (and the kmcr
// command line where a user would), and asserts that it fails.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	bolt "go.etcd.io/bbolt"

	"kmcr/server/pki"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// attacker speaks docs/protocol.md by hand, from a chosen loopback source
// address (the whole of 127.0.0.0/8 is the local machine on Linux), as the
// review's hand-written client did.
type attacker struct {
	t    *testing.T
	srv  *serverProc
	tlsc *tls.Config
	hc   *http.Client
	src  net.IP
}

func newAttacker(t *testing.T, srv *serverProc, src string) *attacker {
	t.Helper()
	pool, err := pki.LoadCAPool(srv.d.ca)
	if err != nil {
		t.Fatal(err)
	}
	a := &attacker{t: t, srv: srv, tlsc: &tls.Config{RootCAs: pool}, src: net.ParseIP(src)}
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: a.src}}
	a.hc = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: a.tlsc, DialContext: dialer.DialContext, DisableKeepAlives: true, MaxConnsPerHost: 0,
	}}
	return a
}

// device is a device identity the attacker enrols or replays.
type device struct {
	id   string
	priv ed25519.PrivateKey
}

var deviceCounter atomic.Uint64

func newDevice() device {
	_, priv, _ := ed25519.GenerateKey(nil)
	return device{id: fmt.Sprintf("attack-device-%012d-%d", deviceCounter.Add(1), time.Now().UnixNano()%1e6), priv: priv}
}

// apiAnswer is one answer of the HTTP API.
type apiAnswer struct {
	status int
	code   string
	msg    string
	tok    *protocol.TokenResponse
	header http.Header
	took   time.Duration
}

func (a *attacker) post(path string, body any) apiAnswer {
	a.t.Helper()
	b, _ := json.Marshal(body)
	start := time.Now()
	resp, err := a.hc.Post("https://"+a.srv.addr+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return apiAnswer{status: -1, msg: err.Error(), took: time.Since(start)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	ans := apiAnswer{status: resp.StatusCode, header: resp.Header, took: time.Since(start)}
	if resp.StatusCode == http.StatusOK {
		var tr protocol.TokenResponse
		if err := json.Unmarshal(data, &tr); err != nil {
			a.t.Errorf("%s: unreadable answer %q", path, data)
		}
		ans.tok = &tr
		return ans
	}
	var e protocol.APIError
	_ = json.Unmarshal(data, &e)
	ans.code, ans.msg = e.Code, e.Message
	return ans
}

func (a *attacker) login(user, password string, d device) apiAnswer {
	a.t.Helper()
	return a.post(protocol.PathLogin, protocol.LoginRequest{User: user, Password: password, DeviceID: d.id,
		PublicKey: d.priv.Public().(ed25519.PublicKey), Host: "attack-host", Client: "attack/1"})
}

func (a *attacker) mustLogin(user string, d device) *protocol.TokenResponse {
	a.t.Helper()
	ans := a.login(user, userPassword(user), d)
	if ans.tok == nil {
		a.t.Fatalf("login of %s: %d %s %s", user, ans.status, ans.code, ans.msg)
	}
	return ans.tok
}

func (a *attacker) refresh(d device, credential string) apiAnswer {
	a.t.Helper()
	return a.post(protocol.PathRefresh, protocol.RefreshRequest{DeviceID: d.id, RefreshToken: credential})
}

// get fetches an authenticated API path with a bearer token.
func (a *attacker) get(path, token string) (int, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://"+a.srv.addr+path, nil)
	if token != "" {
		req.Header.Set(protocol.AuthHeader, "Bearer "+token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// session is an open sync websocket after hello.
type session struct {
	conn *protocol.Conn
	msgs chan protocol.Message
	err  chan error
}

// dial opens a sync session with token; it returns the HTTP status of a
// refused upgrade (0 when upgraded).
func (a *attacker) dial(token string) (*session, int) {
	a.t.Helper()
	dialer := websocket.Dialer{TLSClientConfig: a.tlsc, Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: 10 * time.Second,
		NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: a.src}}).DialContext}
	h := http.Header{}
	h.Set(protocol.AuthHeader, "Bearer "+token)
	ws, resp, err := dialer.Dial("wss://"+a.srv.addr+protocol.PathSync, h)
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		a.t.Fatalf("dialling sync: %v", err)
	}
	c := protocol.NewConn(ws, protocol.DefaultTimeouts, protocol.MaxServerMessage)
	a.t.Cleanup(func() { c.Close(protocol.CloseNormal, "test over") })
	s := &session{conn: c, msgs: make(chan protocol.Message, 64), err: make(chan error, 1)}
	go func() {
		for {
			m, err := c.Receive()
			if err != nil {
				s.err <- err
				return
			}
			if b, ok := m.(*protocol.Batch); ok {
				_ = c.Send(context.Background(), &protocol.Ack{ID: b.ID})
			}
			select {
			case s.msgs <- m:
			default:
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A refused session may close before the hello goes out: its close
	// code arrives on s.err.
	_ = c.Send(ctx, &protocol.Hello{Protocol: protocol.Version, Client: "attack/1", Window: protocol.DefaultWindow})
	return s, 0
}

// ended waits for the session to end and returns its close code and
// whether a wipe came first.
func (s *session) ended(t *testing.T, within time.Duration) (int, bool) {
	t.Helper()
	wiped := false
	deadline := time.After(within)
	for {
		select {
		case m := <-s.msgs:
			if _, ok := m.(*protocol.Wipe); ok {
				wiped = true
			}
		case err := <-s.err:
			for {
				select {
				case m := <-s.msgs:
					if _, ok := m.(*protocol.Wipe); ok {
						wiped = true
					}
				default:
					return protocol.CloseCode(err), wiped
				}
			}
		case <-deadline:
			t.Fatalf("the session was still open after %v", within)
		}
	}
}

// welcomed waits for the session's welcome (the server accepted it).
func (s *session) welcomed(t *testing.T) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m := <-s.msgs:
			if _, ok := m.(*protocol.Welcome); ok {
				return
			}
		case err := <-s.err:
			t.Fatalf("the session ended before its welcome: %v", err)
		case <-deadline:
			t.Fatal("no welcome within 20 s")
		}
	}
}

// TestAttack_DisabledUser_CannotEnrolOrSync: a leaver's account is disabled
// from the command line; the leaver's laptop wipes itself at its next sync,
// and the leaver's password enrols no fresh device (today it enrolled one
// and synced every document).
func TestAttack_DisabledUser_CannotEnrolOrSync(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 30, 81)
	d.addUser("leaver", "community", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "leaver")
	if st := p.status(); st.CachedPatients != 30 {
		t.Fatalf("before: %d cached", st.CachedPatients)
	}
	out := d.mustAdmin("user", "disable", "--name", "leaver")
	if !strings.Contains(out.stdout, "1 device(s) revoked") {
		t.Fatalf("user disable did not say what it ended:\n%s", out)
	}
	if r := p.kmcr(runOpts{}, "sync", "--once"); r.code == 0 || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("the leaver's laptop synced after the account was disabled:\n%s", r)
	}
	if st := p.status(); st.Enrolled || st.CachedPatients != 0 {
		t.Fatalf("the leaver's laptop kept data: %+v", st)
	}
	fresh := newProfile(t)
	r := fresh.kmcr(runOpts{stdin: userPassword("leaver") + "\n"}, fresh.enrolArgs(srv.url(), d.ca, "leaver")...)
	if r.code == 0 || !strings.Contains(r.stderr, "disabled") {
		t.Fatalf("a disabled account enrolled a fresh device:\n%s", r)
	}
	if st := fresh.status(); st.Enrolled || st.CachedPatients != 0 {
		t.Fatalf("the refused enrolment left a profile: %+v", st)
	}
	// The same by hand: a new device id with the right password, and the
	// old laptop's refresh credential.
	a := newAttacker(t, srv, "127.0.0.1")
	if ans := a.login("leaver", userPassword("leaver"), newDevice()); ans.status != http.StatusForbidden || ans.tok != nil {
		t.Fatalf("a hand-made enrolment of a disabled account: %d %s", ans.status, ans.code)
	}
	var devs []struct{ User string }
	json.Unmarshal([]byte(d.mustAdmin("device", "list", "--json").stdout), &devs)
	if len(devs) != 1 {
		t.Fatalf("%d devices registered; want only the leaver's revoked laptop", len(devs))
	}
	var users []struct {
		Name     string
		Disabled bool
	}
	json.Unmarshal([]byte(d.mustAdmin("user", "list", "--json").stdout), &users)
	if len(users) != 1 || !users[0].Disabled {
		t.Fatalf("user list --json: %+v", users)
	}
	if as := alertsOf(d.alerts(), "disabled-login", ""); len(as) < 2 {
		t.Fatalf("the disabled account's logins raised %d alerts; want one each", len(as))
	}
	// Enabled again, the leaver enrols a new device; the wiped one stays revoked.
	d.mustAdmin("user", "enable", "--name", "leaver")
	again := newProfile(t)
	again.enrol(srv.url(), d.ca, "leaver")
	if st := again.status(); st.CachedPatients != 30 {
		t.Fatalf("after enabling: %d cached", st.CachedPatients)
	}
}

// TestAttack_DisabledUser_SessionsEnd: two devices of a user hold open
// sync sessions; disabling the user (with the server running) wipes and
// closes both at once, and their refresh credentials and access tokens
// stop working.
func TestAttack_DisabledUser_SessionsEnd(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 5, 82)
	d.addUser("leaver", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	a := newAttacker(t, srv, "127.0.0.1")
	type held struct {
		dev device
		tok *protocol.TokenResponse
		s   *session
	}
	var hs []held
	for range 2 {
		dev := newDevice()
		tok := a.mustLogin("leaver", dev)
		s, _ := a.dial(tok.AccessToken)
		s.welcomed(t)
		hs = append(hs, held{dev, tok, s})
	}
	start := time.Now()
	out := d.mustAdmin("user", "disable", "--name", "leaver")
	if !strings.Contains(out.stdout, "2 open session(s) ended") {
		t.Fatalf("user disable:\n%s\nserver log:\n%s", out, srv.stderr)
	}
	for i, h := range hs {
		code, wiped := h.s.ended(t, 10*time.Second)
		if code != protocol.CloseDeviceRevoked || !wiped {
			t.Fatalf("device %d: session ended with close %d, wipe %v; want a wipe and close %d", i, code, wiped, protocol.CloseDeviceRevoked)
		}
		if ans := a.refresh(h.dev, h.tok.RefreshToken); ans.status != http.StatusForbidden || ans.code != protocol.ErrCodeDeviceRevoked {
			t.Fatalf("device %d: refresh after disable: %d %s", i, ans.status, ans.code)
		}
		s, _ := a.dial(h.tok.AccessToken)
		if code, wiped := s.ended(t, 10*time.Second); code != protocol.CloseDeviceRevoked || !wiped {
			t.Fatalf("device %d: a new session with the old token: close %d, wipe %v", i, code, wiped)
		}
	}
	t.Logf("both sessions ended %v after the command started", time.Since(start).Round(time.Millisecond))
}

// TestAttack_LoginFlood_GoodLoginFast: 64 workers flood the login with
// wrong passwords (for one account and for made-up names, from one
// address); a good login for another account from another address is
// delayed by less than 2 s against the same login without the flood
// (today good logins waited 14-16 s).
func TestAttack_LoginFlood_GoodLoginFast(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 0, 83)
	d.addUser("victim", "paramedic")
	d.addUser("good", "paramedic")
	srv := d.serve("127.0.0.1:0")
	good := newAttacker(t, srv, "127.0.0.2")
	dev := newDevice()
	goodLogins := func(what string, n int) []time.Duration {
		var took []time.Duration
		for range n {
			ans := good.login("good", userPassword("good"), dev)
			if ans.tok == nil {
				t.Fatalf("a good login %s was refused: %d %s %s", what, ans.status, ans.code, ans.msg)
			}
			took = append(took, ans.took)
		}
		t.Logf("good logins %s: %v", what, took)
		return took
	}
	median := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	// The machine is shared: the baseline is measured before and after
	// the flood, so a change of load in between does not pass for delay.
	alone := goodLogins("alone, before", 3)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, hashed atomic.Int64
	fa := newAttacker(t, srv, "127.0.0.1")
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				user := "victim"
				if i%2 == 1 {
					user = fmt.Sprintf("nobody-%d-%d", w, i)
				}
				ans := fa.login(user, "not the password", newDevice())
				sent.Add(1)
				switch ans.status {
				case http.StatusUnauthorized:
					hashed.Add(1) // the password was checked: it cost a hash
				case -1:
					// The server closed the connection as it accepted it
					// (a throttled address opens 10 a second). Spinning
					// on that would measure this test's own CPU, on the
					// same machine, not the server's: retry after 20 ms.
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	// The first 5 failures of an address are checked like any login (the
	// delay starts after them); measure once the flood has spent them, as
	// a flood that goes on does.
	for warm := time.Now(); hashed.Load() < 5 && time.Since(warm) < 20*time.Second; {
		time.Sleep(50 * time.Millisecond)
	}
	during := median(func() []time.Duration {
		defer func() { close(stop); wg.Wait() }()
		return goodLogins("during the flood", 5)
	}())
	baseline := median(append(alone, goodLogins("alone, after", 3)...))
	t.Logf("median good login %v alone, %v during a flood of %d bad logins (%d of them checked)",
		baseline.Round(time.Millisecond), during.Round(time.Millisecond), sent.Load(), hashed.Load())
	if during > baseline+2*time.Second {
		t.Fatalf("the flood delayed a good login by %v (alone %v, during %v); want under 2 s", during-baseline, baseline, during)
	}
	if hashed.Load() > lockFailuresE2E+5 {
		t.Fatalf("%d of %d flood attempts cost a password hash; want the address throttled after a few", hashed.Load(), sent.Load())
	}
}

// lockFailuresE2E is the server's failure count for a lock (20).
const lockFailuresE2E = 20

// TestAttack_PasswordGuessing_Locked: guessing a password from the command
// line and by hand meets a growing delay after 5 failures and a lock with
// one alert at 20; during the lock even the right password is refused,
// while another user from another address logs in.
func TestAttack_PasswordGuessing_Locked(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 0, 84)
	d.addUser("para", "paramedic")
	d.addUser("other", "paramedic")
	srv := d.serve("127.0.0.1:0")
	// As a new user would: kmcr enrol with wrong passwords.
	for i := range 3 {
		p := newProfile(t)
		r := p.kmcr(runOpts{stdin: fmt.Sprintf("guess-%d\n", i)}, p.enrolArgs(srv.url(), d.ca, "para")...)
		if r.code == 0 {
			t.Fatalf("a wrong password enrolled:\n%s", r)
		}
	}
	a := newAttacker(t, srv, "127.0.0.1")
	var throttled, checked int
	var retryAfter string
	for i := 3; i < 30; i++ {
		time.Sleep(120 * time.Millisecond) // under the 10 connections a second a throttled address keeps
		ans := a.login("para", fmt.Sprintf("guess-%d", i), newDevice())
		switch ans.status {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			throttled++
			retryAfter = ans.header.Get("Retry-After")
		case -1: // a throttled address's connections beyond 10 a second are closed at once
			throttled++
		default:
			t.Fatalf("guess %d: %d %s", i, ans.status, ans.code)
		}
		if ans.took > 5*time.Second {
			t.Fatalf("guess %d took %v: a refusal must be fast", i, ans.took)
		}
	}
	if checked > 6 || throttled < 21 || retryAfter == "" {
		t.Fatalf("%d guesses checked, %d throttled (Retry-After %q); want at most a few checked", checked+3, throttled, retryAfter)
	}
	time.Sleep(time.Second) // a new second's connection allowance
	if ans := a.login("para", userPassword("para"), newDevice()); ans.status != http.StatusTooManyRequests {
		t.Fatalf("the right password during the lock: %d %s", ans.status, ans.code)
	}
	p := newProfile(t)
	if r := p.kmcr(runOpts{stdin: userPassword("para") + "\n"}, p.enrolArgs(srv.url(), d.ca, "para")...); r.code == 0 {
		t.Fatalf("kmcr enrol during the lock succeeded:\n%s", r)
	}
	if as := alertsOf(d.alerts(), "login-locked", ""); len(as) != 1 || as[0].User != "para" {
		t.Fatalf("lock alerts %+v; want one naming para", as)
	}
	elsewhere := newAttacker(t, srv, "127.0.0.5")
	elsewhere.mustLogin("other", newDevice())
}

// TestAttack_RefreshReplay_EndsFamily: a stolen refresh credential is used
// after its owner already exchanged it; the replay ends every credential
// of the device (the owner's included), closes its session and raises an
// alert naming the device's user.
func TestAttack_RefreshReplay_EndsFamily(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 3, 85)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	a := newAttacker(t, srv, "127.0.0.1")
	dev := newDevice()
	first := a.mustLogin("para", dev)
	stolen := first.RefreshToken
	ans := a.refresh(dev, stolen)
	if ans.tok == nil {
		t.Fatalf("the owner's refresh: %d %s", ans.status, ans.code)
	}
	owner := ans.tok
	s, _ := a.dial(owner.AccessToken) // proves the owner holds the new answer
	s.welcomed(t)
	thief := newAttacker(t, srv, "127.0.0.9")
	if got := thief.refresh(dev, stolen); got.tok != nil || got.status != http.StatusUnauthorized {
		t.Fatalf("the replay was answered: %d %s", got.status, got.code)
	}
	if code, _ := s.ended(t, 10*time.Second); code != protocol.CloseUnauthorized {
		t.Fatalf("the device's session after the replay ended with %d; want %d", code, protocol.CloseUnauthorized)
	}
	if got := a.refresh(dev, owner.RefreshToken); got.tok != nil {
		t.Fatal("the current credential survived the replay")
	}
	if s2, status := a.dial(owner.AccessToken); status != 0 {
		t.Fatalf("the upgrade with the ended access token: HTTP %d; want a close code", status)
	} else if code, _ := s2.ended(t, 10*time.Second); code != protocol.CloseUnauthorized {
		t.Fatalf("the access token after the replay: close %d", code)
	}
	if as := alertsOf(d.alerts(), "refresh-replay", dev.id); len(as) != 1 || as[0].User != "para" {
		t.Fatalf("replay alerts %+v; want one naming para", as)
	}
	// The owner logs in again and carries on.
	a.mustLogin("para", dev)
}

// tokenKey is one key of token-keys.json.
type tokenKey struct {
	ID  string `json:"id"`
	Key []byte `json:"key"`
}

func readTokenKeys(t *testing.T, dir string) []tokenKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "token-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Keys []tokenKey }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Keys
}

// forge signs an access token the way docs/protocol.md describes it.
func forge(key []byte, claims map[string]any) string {
	body, _ := json.Marshal(claims)
	p := base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("kmcr1." + p))
	return "kmcr1." + p + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// tokenGen reads the answer number from a real token's payload.
func tokenClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(tok, "kmcr1."), ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// TestAttack_LongClaimedExpiry_Capped: a token claiming a ten-year life,
// even when signed with the real key, lives no longer than the server's
// own token lifetime from its issue; editing the expiry of a real token
// breaks its signature; the server's answers never promise more.
func TestAttack_LongClaimedExpiry_Capped(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 0, 86)
	d.addUser("po", "privacy-officer")
	srv := d.serve("127.0.0.1:0")
	a := newAttacker(t, srv, "127.0.0.1")
	dev := newDevice()
	tok := a.mustLogin("po", dev)
	if life := time.Until(tok.ExpiresAt); life > protocol.AccessTokenTTL+time.Minute {
		t.Fatalf("the server issued a token for %v", life)
	}
	if st, _ := a.get(protocol.PathAlerts, tok.AccessToken); st != http.StatusOK {
		t.Fatalf("the real token: %d", st)
	}
	c := tokenClaims(t, tok.AccessToken)
	keys := readTokenKeys(t, d.dir)
	key := keys[len(keys)-1]
	tenYears := time.Now().Add(10 * 365 * 24 * time.Hour).Unix()
	// Issued 16 minutes ago, claiming ten years: expired.
	old := forge(key.Key, map[string]any{"u": "po", "d": dev.id, "exp": tenYears, "iat": time.Now().Add(-16 * time.Minute).Unix(), "k": key.ID, "g": c["g"]})
	if st, _ := a.get(protocol.PathAlerts, old); st != http.StatusUnauthorized {
		t.Fatalf("a ten-year token issued 16 minutes ago: %d; want 401", st)
	}
	// No issue time at all: refused.
	noIat := forge(key.Key, map[string]any{"u": "po", "d": dev.id, "exp": tenYears, "k": key.ID, "g": c["g"]})
	if st, _ := a.get(protocol.PathAlerts, noIat); st != http.StatusUnauthorized {
		t.Fatalf("a token with no issue time: %d", st)
	}
	// A real token with its expiry edited: the signature no longer holds.
	c["exp"] = tenYears
	body, _ := json.Marshal(c)
	parts := strings.Split(tok.AccessToken, ".")
	edited := "kmcr1." + base64.RawURLEncoding.EncodeToString(body) + "." + parts[2]
	if st, _ := a.get(protocol.PathAlerts, edited); st != http.StatusUnauthorized {
		t.Fatalf("a real token with an edited expiry: %d", st)
	}
	// A session opened with a fresh forged ten-year token is closed at the
	// server's limit: the welcome's session runs on the capped expiry,
	// which the session's expiry close reports; here it is enough that
	// the token is accepted only as a 15-minute one (the unit test pins
	// the cap exactly).
}

// TestAttack_Slowloris_Closed: connections that send a request a byte at a
// time, never finish the TLS handshake, or send a login body slowly are
// closed by the server within 30 s.
func TestAttack_Slowloris_Closed(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 0, 87)
	srv := d.serve("127.0.0.1:0")
	pool, _ := pki.LoadCAPool(d.ca)
	tlsc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	type attempt struct {
		name  string
		drip  func(c net.Conn) net.Conn // returns the conn to drip on, or nil to only wait
		bytes string
	}
	attempts := []attempt{
		{name: "no TLS handshake", drip: func(c net.Conn) net.Conn { return nil }},
		{name: "headers a byte every 2 s", drip: func(c net.Conn) net.Conn {
			tc := tls.Client(c, tlsc)
			if err := tc.Handshake(); err != nil {
				t.Errorf("handshake: %v", err)
			}
			return tc
		}, bytes: "GET /healthz HTTP/1.1\r\nHost: kmcr\r\nX-Slow: " + strings.Repeat("a", 40)},
		{name: "login body a byte every 2 s", drip: func(c net.Conn) net.Conn {
			tc := tls.Client(c, tlsc)
			if err := tc.Handshake(); err != nil {
				t.Errorf("handshake: %v", err)
			}
			fmt.Fprintf(tc, "POST /v1/login HTTP/1.1\r\nHost: kmcr\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n")
			return tc
		}, bytes: strings.Repeat("{", 40)},
	}
	var wg sync.WaitGroup
	for _, at := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			start := time.Now()
			closed := make(chan struct{})
			dc := at.drip(c)
			go func() {
				defer close(closed)
				buf := make([]byte, 1024)
				r := io.Reader(c)
				if dc != nil {
					r = dc
				}
				for {
					if _, err := r.Read(buf); err != nil {
						return
					}
				}
			}()
			if dc != nil {
			drip:
				for i := 0; i < len(at.bytes); i++ {
					select {
					case <-closed:
						break drip
					case <-time.After(2 * time.Second):
					}
					if _, err := dc.Write([]byte{at.bytes[i]}); err != nil {
						break
					}
				}
			}
			select {
			case <-closed:
			case <-time.After(40 * time.Second):
				t.Errorf("%s: still open after %v", at.name, time.Since(start))
				return
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("%s: closed after %v; want within 30 s", at.name, took)
			} else {
				t.Logf("%s: closed after %v", at.name, took.Round(100*time.Millisecond))
			}
		}()
	}
	wg.Wait()
}

// TestAttack_ConnectionFlood_Capped: one address opens far more
// connections than the cap; the server keeps at most the cap, still
// answers another address, and one device cannot open more than its
// share of sync sessions.
func TestAttack_ConnectionFlood_Capped(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 2, 88)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0", "--max-conns-per-address", "40")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 150 {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}}).Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			open++ // still held by the server, waiting for a TLS hello
		}
	}
	if open > 40 {
		t.Fatalf("%d of 150 connections from one address stayed open; the cap is 40", open)
	}
	a := newAttacker(t, srv, "127.0.0.6")
	if st, _ := a.get(protocol.PathHealth, ""); st != http.StatusOK {
		t.Fatalf("another address during the flood: %d", st)
	}
	tok := a.mustLogin("para", newDevice())
	upgraded, refused := 0, 0
	for range 8 {
		s, status := a.dial(tok.AccessToken)
		if s != nil {
			s.welcomed(t)
			upgraded++
		} else if status == http.StatusTooManyRequests {
			refused++
		}
	}
	if upgraded > 4 || refused != 8-upgraded {
		t.Fatalf("one device opened %d sync sessions (%d refused); want at most 4", upgraded, refused)
	}
	t.Logf("%d of 150 connections kept; %d sync sessions of one device, %d refused", open, upgraded, refused)
}

// TestAttack_HealthzRevealsNothing: the unauthenticated health check says
// "ok" and nothing about the version, the store or its sessions; the
// report endpoints give nothing without a privacy officer's token.
func TestAttack_HealthzRevealsNothing(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 3, 89)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	a := newAttacker(t, srv, "127.0.0.1")
	st, body := a.get(protocol.PathHealth, "")
	if st != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("/healthz: %d %q; want 200 \"ok\"", st, body)
	}
	tok := a.mustLogin("para", newDevice())
	for _, path := range []string{protocol.PathAlerts, protocol.PathAccessLog + "?nhs=" + d.nhs[0]} {
		for _, bearer := range []string{"", "nonsense", tok.AccessToken} {
			st, body := a.get(path, bearer)
			if st == http.StatusOK || strings.Contains(string(body), d.nhs[0]) {
				t.Fatalf("%s with token %.10q: %d %s", path, bearer, st, body)
			}
		}
	}
}

// hostile is a string a client chose, built to act on an admin's terminal:
// ANSI escapes, a carriage return that overwrites a line, bidi overrides.
const hostile = "amb\x1b[2J\x1b[31mOK\rforged\u202etxt.exe\u2066x\u2069\x07"

// TestAttack_TerminalEscapes_Escaped: a device registered with a hostile
// host name, a break-glass reason and a login name full of terminal
// controls reach an admin's device list, alerts and access log, and the
// server log, only as visible escapes.
func TestAttack_TerminalEscapes_Escaped(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 5, 90)
	d.addUser("para", "paramedic", d.nhs[:2]...)
	srv := d.serve("127.0.0.1:0")
	a := newAttacker(t, srv, "127.0.0.1")
	dev := newDevice()
	ans := a.post(protocol.PathLogin, protocol.LoginRequest{User: "para", Password: userPassword("para"), DeviceID: dev.id,
		PublicKey: dev.priv.Public().(ed25519.PublicKey), Host: hostile, Client: hostile})
	if ans.tok == nil {
		t.Fatalf("login with a hostile host name: %d %s", ans.status, ans.code)
	}
	a.login(hostile, "wrong password", newDevice())
	s, _ := a.dial(ans.tok.AccessToken)
	s.welcomed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.conn.Send(ctx, &protocol.BreakGlass{RequestID: "r1", NHS: d.nhs[4], ReasonCode: "unplanned-care", ReasonText: "fell " + hostile}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the break-glass alert", func() error {
		if len(alertsOf(d.alerts(), "break-glass", "")) == 0 {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	var outputs []string
	for _, args := range [][]string{{"device", "list"}, {"device", "list", "--json"}, {"alerts"}, {"alerts", "--json"},
		{"access-log", "--nhs", d.nhs[4]}, {"user", "list"}, {"audit", "verify"}} {
		r := d.admin(runOpts{}, args...)
		outputs = append(outputs, strings.Join(args, " ")+":\n"+r.stdout+r.stderr)
	}
	srv.stop()
	outputs = append(outputs, "server log:\n"+srv.stderr.String())
	sawHost := false
	for _, out := range outputs {
		for _, bad := range []string{"\x1b", "\r", "\u202e", "\u2066", "\u2069", "\x07"} {
			if strings.Contains(out, bad) {
				t.Errorf("%q reached the terminal raw in %s", bad, out)
			}
		}
		if strings.Contains(out, `\x1b[2J`) || strings.Contains(out, `\u001b[2J`) {
			sawHost = true
		}
	}
	if !sawHost {
		t.Fatalf("the hostile host name is shown nowhere (not even escaped):\n%s", strings.Join(outputs, "\n"))
	}
}

// TestAttack_LogHoldsNoNHSNumbers: a whole session of the real programs
// (import, enrol, sync, views, break-glass with a reason, caseload change,
// revocation, an NHS number typed as a user and host name) leaves no NHS
// number, in any spelling, and no free text in the server's log.
func TestAttack_LogHoldsNoNHSNumbers(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 12, 91)
	d.addUser("para", "paramedic", d.nhs[:6]...)
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")
	p.mustKmcr("show", d.nhs[0])
	const freeText = "patient-said-secret-words-zebra"
	p.mustKmcr("show", d.nhs[9], "--break-glass", "--reason", "unplanned-care", "--reason-text", freeText)
	d.mustAdmin("caseload", "remove", "--user", "para", "--nhs", d.nhs[1])
	d.mustAdmin("import", d.seedDir)
	p.mustKmcr("sync", "--once")
	// Offline break-glass: its reason reaches the server in the audit
	// upload, and the alert it raises must not carry it into the log.
	addr := srv.addr
	srv.stop()
	logs := srv.stderr.String()
	p.mustKmcr("show", d.nhs[2], "--break-glass", "--reason", "emergency-treatment", "--reason-text", freeText+" offline")
	srv = d.serve(addr)
	p.mustKmcr("sync", "--once")
	if as := alertsOf(d.alerts(), "break-glass", ""); len(as) < 2 {
		t.Fatalf("the offline break-glass raised no alert: %+v", as)
	}
	a := newAttacker(t, srv, "127.0.0.1")
	spaced := d.nhs[3][:3] + " " + d.nhs[3][3:6] + " " + d.nhs[3][6:]
	a.login(d.nhs[2], freeText, newDevice())
	a.login(spaced, "x", newDevice())
	a.post(protocol.PathLogin, protocol.LoginRequest{User: "para", Password: userPassword("para"), DeviceID: newDevice().id, PublicKey: make([]byte, 32), Host: d.nhs[5] + " " + freeText})
	var devs []struct{ ID string }
	json.Unmarshal([]byte(d.mustAdmin("device", "list", "--json").stdout), &devs)
	for _, dv := range devs {
		d.mustAdmin("device", "revoke", dv.ID)
	}
	p.kmcr(runOpts{}, "sync", "--once")
	srv.stop()
	log := logs + srv.stderr.String()
	if len(log) == 0 {
		t.Fatal("the server logged nothing: the test would prove nothing")
	}
	for _, n := range d.nhs {
		for _, form := range []string{n, n[:3] + " " + n[3:6] + " " + n[6:], n[:3] + "-" + n[3:6] + "-" + n[6:]} {
			if strings.Contains(log, form) {
				t.Errorf("the server log holds the NHS number %s", form)
			}
		}
	}
	if strings.Contains(log, freeText) {
		t.Errorf("the server log holds free text from a client")
	}
	if t.Failed() {
		t.Logf("server log:\n%s", log)
	}
}

// TestAttack_LooseDataDir_Tightened: a server data folder and key file, and
// a client profile folder, left readable by everyone are made private at
// the next start, each with a message saying so.
func TestAttack_LooseDataDir_Tightened(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 2, 92)
	d.addUser("para", "paramedic", d.nhs...)
	keyFile := filepath.Join(d.dir, "token-keys.json")
	for path, mode := range map[string]os.FileMode{d.dir: 0o755, keyFile: 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	srv := d.serve("127.0.0.1:0")
	for path, want := range map[string]os.FileMode{d.dir: 0o700, keyFile: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Fatalf("%s is %04o after serve; want %04o", path, fi.Mode().Perm(), want)
		}
	}
	if log := srv.stderr.String(); !strings.Contains(log, "tightened the permissions of "+d.dir) || !strings.Contains(log, "token-keys.json") {
		t.Fatalf("serve did not say it tightened the folder and key file:\n%s", log)
	}
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")
	if err := os.Chmod(p.dir, 0o777); err != nil {
		t.Fatal(err)
	}
	r := p.mustKmcr("status")
	if !strings.Contains(r.stderr, "tightened the permissions of "+p.dir) {
		t.Fatalf("kmcr status did not say it tightened the profile folder:\n%s", r)
	}
	if fi, _ := os.Stat(p.dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("the profile folder is %04o", fi.Mode().Perm())
	}
	// An admin command on a loose folder tightens it too.
	srv.stop()
	os.Chmod(d.dir, 0o750)
	d.mustAdmin("user", "list")
	if fi, _ := os.Stat(d.dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("the data folder after an admin command is %04o", fi.Mode().Perm())
	}
}

// boltValues returns every value in every bucket (nested too) of a bbolt
// file, with its bucket path and key.
func boltValues(t *testing.T, path string) map[string][]byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][]byte{}
	var walk func(prefix string, b *bolt.Bucket)
	walk = func(prefix string, b *bolt.Bucket) {
		b.ForEach(func(k, v []byte) error {
			if v == nil {
				walk(prefix+"/"+string(k), b.Bucket(k))
				return nil
			}
			out[prefix+"/"+string(k)] = append([]byte(nil), v...)
			return nil
		})
	}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { walk(string(name), b); return nil })
	})
	return out
}

// TestAttack_StolenDatabase_CannotMintTokens: an older store kept the
// signing key inside kmcr-server.db. After one start of this version, a
// copy of kmcr-server.db alone holds no key that mints a token the server
// accepts: every value in it, tried as the key with every key id, is
// refused for a privacy officer's report, while the real key file's key
// is accepted (so the forgery itself is sound).
func TestAttack_StolenDatabase_CannotMintTokens(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 3, 93)
	d.addUser("po", "privacy-officer")
	// Make it an older store: the key inside the database, no key file.
	os.Remove(filepath.Join(d.dir, "token-keys.json"))
	st, err := store.OpenBolt(d.dir, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := st.Secret("access-token")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	srv := d.serve("127.0.0.1:0")
	if !strings.Contains(srv.stderr.String(), "moved token signing out of the database") {
		t.Fatalf("serve did not say it moved the key out:\n%s", srv.stderr)
	}
	a := newAttacker(t, srv, "127.0.0.1")
	dev := newDevice()
	real := a.mustLogin("po", dev)
	gen := tokenClaims(t, real.AccessToken)["g"]
	srv.stop()
	stolen := filepath.Join(t.TempDir(), "kmcr-server.db")
	data, err := os.ReadFile(filepath.Join(d.dir, "kmcr-server.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stolen, data, 0o600); err != nil {
		t.Fatal(err)
	}
	srv = d.serve("127.0.0.1:0")
	a = newAttacker(t, srv, "127.0.0.1")
	keys := readTokenKeys(t, d.dir)
	for _, k := range keys {
		if bytes.Contains(data, k.Key) {
			t.Fatalf("the database file holds the signing key %s", k.ID)
		}
	}
	values := boltValues(t, stolen)
	if _, ok := values["meta/secret/access-token"]; ok {
		t.Fatal("the old key is still in the database")
	}
	candidates := [][]byte{legacy}
	for _, v := range values {
		if len(v) >= 16 && len(v) <= 64 {
			candidates = append(candidates, v)
		}
	}
	ids := []string{""}
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	now := time.Now()
	claims := func(id string) map[string]any {
		return map[string]any{"u": "po", "d": dev.id, "exp": now.Add(10 * 365 * 24 * time.Hour).Unix(), "iat": now.Unix(), "k": id, "g": gen}
	}
	if st, _ := a.get(protocol.PathAlerts, forge(keys[len(keys)-1].Key, claims(keys[len(keys)-1].ID))); st != http.StatusOK {
		t.Fatalf("a token forged with the key file's key: %d; the forgery is wrong", st)
	}
	tried := 0
	for _, key := range candidates {
		for _, id := range ids {
			tried++
			if st, body := a.get(protocol.PathAlerts, forge(key, claims(id))); st == http.StatusOK {
				t.Fatalf("a token minted from the database copy was accepted (key id %q): %s", id, body)
			}
		}
	}
	t.Logf("%d tokens minted from %d values of the database copy: all refused", tried, len(candidates))
}

// TestAttack_KeyRotation: "kmcr-server keys rotate" on a running server
// makes a new signing key; tokens of the old key keep working for one
// token lifetime (across a restart too), new tokens name the new key, and
// the key file stays 0600.
func TestAttack_KeyRotation(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 0, 94)
	d.addUser("po", "privacy-officer")
	srv := d.serve("127.0.0.1:0")
	a := newAttacker(t, srv, "127.0.0.1")
	dev := newDevice()
	before := a.mustLogin("po", dev)
	oldID := tokenClaims(t, before.AccessToken)["k"]
	out := d.mustAdmin("keys", "rotate")
	if !strings.Contains(out.stdout, "new signing key") || !strings.Contains(out.stdout, "accepted until") {
		t.Fatalf("keys rotate:\n%s", out)
	}
	if st, _ := a.get(protocol.PathAlerts, before.AccessToken); st != http.StatusOK {
		t.Fatalf("a token of the old key right after the rotation: %d", st)
	}
	srv.stop()
	srv = d.serve("127.0.0.1:0")
	a = newAttacker(t, srv, "127.0.0.1")
	if st, _ := a.get(protocol.PathAlerts, before.AccessToken); st != http.StatusOK {
		t.Fatalf("a token of the old key after a restart: %d", st)
	}
	ans := a.refresh(dev, before.RefreshToken)
	if ans.tok == nil {
		t.Fatalf("refresh: %d %s", ans.status, ans.code)
	}
	if newID := tokenClaims(t, ans.tok.AccessToken)["k"]; newID == oldID || newID == "" {
		t.Fatalf("the token after rotation names key %v (old %v)", newID, oldID)
	}
	var keys []struct {
		ID            string    `json:"id"`
		Current       bool      `json:"current"`
		AcceptedUntil time.Time `json:"accepted_until"`
	}
	json.Unmarshal([]byte(d.mustAdmin("keys", "list", "--json").stdout), &keys)
	if len(keys) != 2 || keys[0].ID != oldID || keys[0].Current || !keys[1].Current ||
		keys[0].AcceptedUntil.After(time.Now().Add(protocol.AccessTokenTTL+2*time.Minute)) {
		t.Fatalf("keys list --json: %+v", keys)
	}
	if fi, _ := os.Stat(filepath.Join(d.dir, "token-keys.json")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the key file is %04o", fi.Mode().Perm())
	}
}

// TestAttack_ServeNeedsNoCAKey: init writes the CA's private key where it
// is told (not the data folder) and says how to keep it offline; serve
// starts and serves without it.
func TestAttack_ServeNeedsNoCAKey(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := &serverData{t: t, dir: filepath.Join(root, "server")}
	offline := filepath.Join(root, "usb", "ca-key.pem")
	os.MkdirAll(filepath.Dir(offline), 0o700)
	out := mustRun(t, serverBin, runOpts{}, "init", "--data-dir", d.dir, "--ca-key-out", offline)
	if !strings.Contains(out.stdout, "serve never reads it") || !strings.Contains(out.stdout, offline) {
		t.Fatalf("init does not say the CA key is not needed to serve:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(d.dir, pki.CAKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("the CA key is in the data folder: %v", err)
	}
	if fi, err := os.Stat(offline); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the offline CA key: %v", err)
	}
	d.ca = filepath.Join(d.dir, pki.CAFile)
	_, rest, _ := strings.Cut(out.stdout, "(epoch ")
	d.epoch, _, _ = strings.Cut(rest, ")")
	d.addUser("para", "paramedic")
	srv := d.serve("127.0.0.1:0")
	newAttacker(t, srv, "127.0.0.1").mustLogin("para", newDevice())
}
