package portal_test

import (
	"context"
	"encoding/hex"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"kmcr/audit"
	"kmcr/demo"
	"kmcr/record"
	"kmcr/server"
	"kmcr/server/devidp"
	"kmcr/server/notify"
	"kmcr/server/portal"
	"kmcr/server/store"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// rig is a real server on a TLS loopback listener with demo patients, the
// development provider and the portal.
type rig struct {
	t   *testing.T
	st  *store.Bolt
	svc *server.Service
	srv *httptest.Server
	nhs []string
	clk *clock
}

type citizens struct{ st store.Store }

func (c citizens) IsPatient(nhs string) (bool, error) {
	_, err := c.st.Patient(nhs)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := server.New(server.Config{Store: st, Logf: t.Logf, Password: server.PasswordParams{Time: 1, Memory: 64, Threads: 1},
		Accesses: func(device string, u store.User, evs []audit.Event) error {
			return notify.Queue(st, device, u, evs, time.Now().UTC())
		}})
	if err != nil {
		t.Fatal(err)
	}
	seed := t.TempDir()
	if _, err := demo.Write(seed, demo.Options{Patients: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Import([]string{seed}, nil); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, st: st, svc: svc, clk: &clock{now: time.Now()}}
	for i := range 3 {
		r.nhs = append(r.nhs, demo.NHSNumber(7, i).Digits())
	}
	var handler http.Handler
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { handler.ServeHTTP(w, req) }))
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	base := r.srv.URL
	idp, err := devidp.New(devidp.Config{Issuer: base + devidp.PathPrefix, DataDir: dir, Citizens: citizens{st},
		Clients: []devidp.Client{{ID: "kmcr-portal", Secret: hex.EncodeToString([]byte("portal secret")), RedirectURIs: []string{base + portal.CallbackPath}}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := portal.New(portal.Config{Store: st, Record: svc, Issuer: base + devidp.PathPrefix, ClientID: "kmcr-portal", ClientSecret: hex.EncodeToString([]byte("portal secret")),
		BaseURL: base, HTTPClient: r.srv.Client(), Now: r.clk.Now, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(devidp.PathPrefix+"/", idp.Handler())
	mux.Handle(portal.Prefix, p.Handler())
	mux.Handle("/", svc.Handler()) // the sync service, for desktop clients
	handler = mux
	return r
}

// browser is a cookie-keeping HTTPS client, as a browser without
// JavaScript behaves.
type browser struct {
	t *testing.T
	c *http.Client
	r *rig
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: r.srv.Client().Transport, Jar: jar, Timeout: 10 * time.Second}
	return &browser{t: r.t, c: c, r: r}
}

func (b *browser) do(req *http.Request) (int, string, *http.Response) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.r.srv.URL+path, nil)
	st, body, _ := b.do(req)
	return st, body
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.r.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	st, body, _ := b.do(req)
	return st, body
}

var hiddenRe = regexp.MustCompile(`name="([a-zA-Z]+)" value="([^"]*)"`)

// hidden returns the page's hidden form fields.
func hidden(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// signIn goes through the provider's form as a citizen would and returns
// the page the portal lands on.
func (b *browser) signIn(nhs, password, level string) (int, string) {
	b.t.Helper()
	st, body := b.get("/my/signin")
	if st != http.StatusOK || !strings.Contains(body, "Development sign-in") {
		b.t.Fatalf("sign-in form: %d\n%s", st, body)
	}
	form := hidden(body)
	form.Set("nhs", nhs)
	form.Set("password", password)
	form.Set("level", level)
	return b.post("/dev-idp/login", form)
}

// TestPortal_SignInWithPKCE_ReadsOwnRecord checks the whole sign-in:
// authorisation code flow with PKCE through the development provider, a
// session cookie that is Secure, HttpOnly and SameSite, the home page,
// the record rendered from the shared presentation, and an audit event
// for each page viewed.
func TestPortal_SignInWithPKCE_ReadsOwnRecord(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	st, body := b.get("/my/")
	if st != http.StatusOK || !strings.Contains(body, "Continue with NHS login") {
		t.Fatalf("start page: %d\n%s", st, body)
	}
	// The provider redirect carries a PKCE challenge.
	noFollow := &http.Client{Transport: r.srv.Client().Transport, Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(r.srv.URL + "/my/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("code_challenge") == "" || loc.Query().Get("code_challenge_method") != "S256" || loc.Query().Get("nonce") == "" {
		t.Fatalf("authorisation request without PKCE or nonce: %s", loc)
	}

	spaced := record.NHSNumber(r.nhs[0]).String()
	st, body = b.signIn(spaced, devidp.DemoPassword, devidp.LevelP9)
	if st != http.StatusOK || !strings.Contains(body, "You are signed in with NHS number <strong>"+spaced) {
		t.Fatalf("after sign-in: %d\n%s", st, body)
	}
	u, _ := url.Parse(r.srv.URL)
	var session *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "__Host-kmcr-portal") && c.Name == "__Host-kmcr-portal" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	// The jar does not keep attributes: read the Set-Cookie of a fresh sign-in.
	checkCookieAttributes(t, r)

	st, body = b.get("/my/record")
	if st != http.StatusOK {
		t.Fatalf("record: %d\n%s", st, body)
	}
	for _, want := range []string{"My record", spaced, "Allergies", "the last time it was brought up to date"} {
		if !strings.Contains(body, want) {
			t.Errorf("record page lacks %q", want)
		}
	}
	if strings.Contains(body, "for your role") {
		t.Error("the patient's own record says a section is withheld for a role")
	}
	// Each page view is in the patient's access log, as the patient.
	var views []string
	err = r.st.AccessLog(r.nhs[0], func(se store.StoredEvent) error {
		if se.Device == portal.AuditDevice {
			views = append(views, string(se.Canonical))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != 2 || !strings.Contains(views[0], "portal:home") || !strings.Contains(views[1], "portal:record") {
		t.Fatalf("audited portal views: %q", views)
	}
	if other := countPortalEvents(t, r, r.nhs[1]); other != 0 {
		t.Fatalf("another patient's log holds %d portal views", other)
	}
}

func countPortalEvents(t *testing.T, r *rig, nhs string) int {
	n := 0
	if err := r.st.AccessLog(nhs, func(se store.StoredEvent) error {
		if se.Device == portal.AuditDevice {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func checkCookieAttributes(t *testing.T, r *rig) {
	t.Helper()
	b := r.browser()
	st, body := b.get("/my/signin")
	if st != http.StatusOK {
		t.Fatalf("sign-in form: %d", st)
	}
	form := hidden(body)
	form.Set("nhs", r.nhs[0])
	form.Set("password", devidp.DemoPassword)
	form.Set("level", devidp.LevelP9)
	noFollow := &http.Client{Transport: r.srv.Client().Transport, Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := r.srv.URL + "/dev-idp/login"
	resp, err := noFollow.PostForm(next, form)
	for i := 0; err == nil && i < 10 && resp.StatusCode/100 == 3; i++ {
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-kmcr-portal" {
				if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
					t.Fatalf("session cookie attributes: %+v", c)
				}
				return
			}
		}
		loc, _ := resp.Location()
		resp, err = noFollow.Get(loc.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Fatal("no session cookie was set on the way back from the provider")
}

// TestPortal_SignIn_Refusals checks a wrong password, a number that is not
// a patient and a forged CSRF token on the provider's form are refused.
func TestPortal_SignIn_Refusals(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	if st, body := b.signIn(r.nhs[0], "wrong password", devidp.LevelP9); st != http.StatusUnauthorized || !strings.Contains(body, "is not right") {
		t.Fatalf("wrong password: %d\n%s", st, body)
	}
	if st, _ := b.signIn("9434765919", devidp.DemoPassword, devidp.LevelP9); st != http.StatusUnauthorized {
		t.Fatalf("not a patient: %d", st)
	}
	st, body := b.get("/my/signin")
	if st != http.StatusOK {
		t.Fatal(st)
	}
	form := hidden(body)
	form.Set("csrf", "forged")
	form.Set("nhs", r.nhs[0])
	form.Set("password", devidp.DemoPassword)
	form.Set("level", devidp.LevelP9)
	if st, _ := b.post("/dev-idp/login", form); st != http.StatusForbidden {
		t.Fatalf("forged CSRF on the provider's form: %d", st)
	}
	if st, _ := b.get("/my/record"); st != http.StatusUnauthorized {
		t.Fatalf("record without a session: %d", st)
	}
}

// TestPortal_LowerProofingLevel_NoRecord checks a citizen proofed below P9
// is signed in, told what they can and cannot do, and not shown the record.
func TestPortal_LowerProofingLevel_NoRecord(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	st, body := b.signIn(r.nhs[1], devidp.DemoPassword, devidp.LevelP5)
	if st != http.StatusOK || !strings.Contains(body, "You cannot see your record yet") || !strings.Contains(body, "P5") {
		t.Fatalf("home at P5: %d\n%s", st, body)
	}
	st, body = b.get("/my/record")
	if st != http.StatusForbidden || !strings.Contains(body, "prove who you are") || strings.Contains(body, "Allergies") {
		t.Fatalf("record at P5: %d\n%s", st, body)
	}
}

// TestPortal_CSRFAndIdleTimeout checks sign-out needs the session's CSRF
// token, and a session idle for 15 minutes ends.
func TestPortal_CSRFAndIdleTimeout(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	b.signIn(r.nhs[0], devidp.DemoPassword, devidp.LevelP9)
	if st, _ := b.post("/my/signout", url.Values{"csrf": {"forged"}}); st != http.StatusForbidden {
		t.Fatalf("sign-out with a forged token: %d", st)
	}
	if st, _ := b.post("/my/signout", url.Values{}); st != http.StatusForbidden {
		t.Fatalf("sign-out without a token: %d", st)
	}
	if st, _ := b.get("/my/record"); st != http.StatusOK {
		t.Fatalf("a refused sign-out ended the session: %d", st)
	}
	r.clk.add(portal.IdleTimeout - time.Minute)
	if st, _ := b.get("/my/record"); st != http.StatusOK {
		t.Fatalf("session ended before the idle timeout: %d", st)
	}
	r.clk.add(portal.IdleTimeout + time.Second)
	st, body := b.get("/my/record")
	if st != http.StatusUnauthorized || !strings.Contains(body, "did nothing for 15 minutes") {
		t.Fatalf("after 15 idle minutes: %d\n%s", st, body)
	}
	// A new sign-in, then sign out with the real token.
	_, home := b.signIn(r.nhs[0], devidp.DemoPassword, devidp.LevelP9)
	if st, body := b.post("/my/signout", hidden(home)); st != http.StatusOK || !strings.Contains(body, "You have signed out") {
		t.Fatalf("sign-out: %d\n%s", st, body)
	}
	if st, _ := b.get("/my/record"); st != http.StatusUnauthorized {
		t.Fatalf("record after sign-out: %d", st)
	}
}

// TestPortal_AssetsServedLocally checks the design system's files come
// from the program, and pages name nothing outside it.
func TestPortal_AssetsServedLocally(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	for _, a := range []string{"/my/assets/nhsuk.min.css", "/my/assets/nhsuk.min.js"} {
		if st, body := b.get(a); st != http.StatusOK || len(body) < 1000 {
			t.Fatalf("%s: %d, %d bytes", a, st, len(body))
		}
	}
	_, css := b.get("/my/assets/nhsuk.min.css")
	if regexp.MustCompile(`url\(https?:`).MatchString(css) {
		t.Fatal("the stylesheet loads something from outside")
	}
	_, page := b.get("/my/")
	if regexp.MustCompile(`(src|href)="https?:`).MatchString(page) {
		t.Fatal("the start page names an outside address")
	}
	_ = context.Background()
}
