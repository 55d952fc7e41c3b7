// Package portal is the citizen's web window on the record, served under
// /my/ on kmcr-server's HTTPS listener: server-rendered pages
// (html/template) that work without JavaScript, styled with the NHS.UK
// design system whose files it serves itself.
//
// # Basics
//
// Sign-in is OpenID Connect's authorisation code flow with PKCE, as a
// relying party built on coreos/go-oidc and golang.org/x/oauth2, against
// NHS login or (for make run and the tests) the development provider in
// server/devidp. The ID token's nhs_number claim names the patient;
// reading the record needs identity proofing level P9, and a citizen
// proofed lower is told what they can and cannot do.
//
// A session is the cookie itself, sealed (AES-256-GCM) with a key the
// store keeps, so every node on one store honours it and a restart signs
// nobody out: Secure, HttpOnly and SameSite=Lax (Lax, not Strict, so the
// provider's redirect back carries the sign-in state). It ends after
// IdleTimeout without a request (the cookie is sealed again with the
// time of each request) and MaxSession after sign-in. Every
// form carries the session's CSRF token and a POST without it is refused.
// Every page the patient views is recorded in the audit trail, in a chain
// of the portal's own (AuditDevice), like any device's.
//
// Clinical presentation is decided by package present; the portal only
// maps its View to HTML.
//
// # Caveats
//
// Signing out ends the session on the node that signed out and in the
// browser; a copy of the cookie taken before then stays usable on another
// node until it has been idle for IdleTimeout. The FHIR API's rate limit
// is per node. The "who
// viewed" page keeps each patient's decoded access log (256 patients at
// most) and reads from the store only what was recorded since, less a
// ten-minute margin; an event another node records with a clock more than
// ten minutes behind this one's is shown only after a restart.
package portal

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"kmcr/server/selfaudit"
	"kmcr/server/store"
)

// Paths and limits.
const (
	Prefix       = "/my/"
	CallbackPath = "/my/callback"
	IdleTimeout  = 15 * time.Minute
	// signInTimeout bounds a sign-in started but not finished.
	signInTimeout = 10 * time.Minute
	sessionCookie = "__Host-kmcr-portal"
	stateCookie   = "__Host-kmcr-portal-signin"
	maxForm       = 64 << 10
	// RequiredLevel is the identity proofing level record access needs.
	RequiredLevel = "P9"
	// Claims the provider asserts (NHS login's names).
	claimNHS   = "nhs_number"
	claimLevel = "identity_proofing_level"
	// The citizen's email, where notifications are sent.
	claimEmail         = "email"
	claimEmailVerified = "email_verified"
)

//go:embed assets templates
var files embed.FS

// Config configures the portal.
type Config struct {
	Store  store.Store
	Record Record
	// Issuer, ClientID and ClientSecret name the OpenID provider and this
	// relying party's registration with it.
	Issuer, ClientID, ClientSecret string
	// BaseURL is where citizens reach the server: https://HOST:PORT.
	BaseURL string
	// HTTPClient reaches the provider (nil: http.DefaultClient); the
	// development provider on the same listener needs one trusting the
	// server's own CA.
	HTTPClient *http.Client
	Now        func() time.Time
	Logf       func(format string, args ...any)
	// Node names this server among several sharing one database (empty
	// for a single node): the portal's audit chain is kept per node.
	Node string
}

// Portal serves the pages under /my/.
type Portal struct {
	cfg   Config
	st    store.Store
	pages map[string]*template.Template
	audit *auditor
	logs  accessLogs

	rpMu     sync.Mutex
	provider *oidc.Provider
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier

	seal  cipher.AEAD // the session cookie's
	mu    sync.Mutex
	ended map[string]time.Time // sessions signed out here, until they could no longer be used
}

// Session is one signed-in citizen.
type Session struct {
	id       string
	NHS      string // digits
	Subject  string
	Level    string
	CSRF     string
	lastSeen time.Time
	SignedIn time.Time
}

// Proofed reports whether the citizen's identity was checked to the level
// record access needs.
func (s *Session) Proofed() bool { return s.Level == RequiredLevel }

// New makes the portal.
func New(cfg Config) (*Portal, error) {
	if cfg.Store == nil || cfg.Record == nil || cfg.Issuer == "" || cfg.ClientID == "" || cfg.BaseURL == "" {
		return nil, errors.New("portal: store, record, issuer, client id and base URL are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	seal, err := sessionSeal(cfg.Store)
	if err != nil {
		return nil, err
	}
	return &Portal{cfg: cfg, st: cfg.Store, pages: pages, audit: &auditor{chain: selfaudit.New(cfg.Store, selfaudit.Device(selfaudit.Portal, cfg.Node), "patient portal"), now: cfg.Now},
		seal: seal, ended: map[string]time.Time{}}, nil
}

func (p *Portal) now() time.Time { return p.cfg.Now().UTC() }

// relyingParty discovers the provider on first use (the development
// provider answers on the same listener, which is not up when New runs).
func (p *Portal) relyingParty(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	p.rpMu.Lock()
	defer p.rpMu.Unlock()
	if p.oauth != nil {
		return p.oauth, p.verifier, nil
	}
	ctx = oidc.ClientContext(ctx, p.cfg.HTTPClient)
	prov, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discovering the sign-in provider %s: %w", p.cfg.Issuer, err)
	}
	p.provider = prov
	p.oauth = &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
		Endpoint:    prov.Endpoint(),
		RedirectURL: strings.TrimSuffix(p.cfg.BaseURL, "/") + CallbackPath,
		Scopes:      []string{oidc.ScopeOpenID, "profile", oidc.ScopeEmail},
	}
	p.verifier = prov.Verifier(&oidc.Config{ClientID: p.cfg.ClientID})
	return p.oauth, p.verifier, nil
}

// Handler serves /my/.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(files, "assets")
	mux.Handle("GET /my/assets/", http.StripPrefix("/my/assets/", cacheAssets(http.FileServerFS(assets))))
	mux.HandleFunc("GET /my/{$}", p.page("home", p.home))
	mux.HandleFunc("GET /my/signin", p.signIn)
	mux.HandleFunc("GET /my/callback", p.callback)
	mux.HandleFunc("POST /my/signout", p.signOut)
	mux.HandleFunc("GET /my/record", p.page("record", p.recordPage))
	mux.HandleFunc("GET /my/who-viewed", p.page("who-viewed", p.whoViewed))
	mux.HandleFunc("GET /my/who-viewed/bundle.json", p.viewedBundle)
	mux.HandleFunc("GET /my/sharing", p.page("sharing", p.sharing))
	mux.HandleFunc("POST /my/sharing", p.saveSharing)
	mux.HandleFunc("GET /my/readings", p.page("readings", p.readingsPage))
	mux.HandleFunc("POST /my/readings", p.saveReading)
	mux.HandleFunc("POST /my/readings/upload", p.uploadReadings)
	mux.HandleFunc("GET /my/", func(w http.ResponseWriter, r *http.Request) {
		p.render(w, r, http.StatusNotFound, "notfound", nil, nil)
	})
	return securityHeaders(mux)
}

func cacheAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders: nothing is loaded from outside, no framing, no sniffing.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkForm parses a POST form and checks its CSRF token against the
// session's.
func (p *Portal) checkForm(w http.ResponseWriter, r *http.Request, s *Session) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return false
	}
	if s == nil || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.CSRF)) != 1 {
		p.render(w, r, http.StatusForbidden, "expired", nil, nil)
		return false
	}
	return true
}

// signInState is what the sign-in cookie carries between leaving for the
// provider and coming back: the state, the nonce and the PKCE verifier.
type signInState struct{ State, Nonce, Verifier string }

func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	oc, _, err := p.relyingParty(r.Context())
	if err != nil {
		p.cfg.Logf("portal: %v", err)
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", nil, nil)
		return
	}
	st := signInState{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier()}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: st.State + "." + st.Nonce + "." + st.Verifier, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(signInTimeout / time.Second)})
	u := oc.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	http.Redirect(w, r, u, http.StatusFound)
}

func (p *Portal) callback(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(stateCookie)
	parts := []string{}
	if err == nil {
		parts = strings.Split(c.Value, ".")
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	q := r.URL.Query()
	if len(parts) != 3 || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(parts[0])) != 1 {
		p.render(w, r, http.StatusBadRequest, "signin-failed", nil, map[string]string{"Reason": "The sign-in took too long or was started in another window."})
		return
	}
	if e := q.Get("error"); e != "" {
		p.render(w, r, http.StatusUnauthorized, "signin-failed", nil, map[string]string{"Reason": "The sign-in service did not sign you in."})
		return
	}
	oc, verifier, err := p.relyingParty(r.Context())
	if err != nil {
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", nil, nil)
		return
	}
	ctx := oidc.ClientContext(r.Context(), p.cfg.HTTPClient)
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(parts[2]))
	if err != nil {
		p.cfg.Logf("portal: exchanging the code: %v", err)
		p.render(w, r, http.StatusUnauthorized, "signin-failed", nil, map[string]string{"Reason": "The sign-in could not be completed."})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(parts[1])) != 1 {
		p.cfg.Logf("portal: the ID token did not verify: %v", err)
		p.render(w, r, http.StatusUnauthorized, "signin-failed", nil, map[string]string{"Reason": "The sign-in could not be checked."})
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		p.render(w, r, http.StatusUnauthorized, "signin-failed", nil, map[string]string{"Reason": "The sign-in could not be checked."})
		return
	}
	nhs, _ := claims[claimNHS].(string)
	level, _ := claims[claimLevel].(string)
	if nhs == "" {
		p.render(w, r, http.StatusForbidden, "signin-failed", nil, map[string]string{"Reason": "Your NHS login did not give your NHS number."})
		return
	}
	if email, ok := claims[claimEmail].(string); ok && email != "" && claims[claimEmailVerified] != false && level == RequiredLevel {
		// Where the patient's notifications go (server/notify).
		if a, err := mail.ParseAddress(email); err != nil || len(a.Address) > 254 {
			p.cfg.Logf("portal: the sign-in's email claim is not an address; notifications stay in the portal")
		} else if err := p.st.SetContact(nhs, a.Address); err != nil {
			p.cfg.Logf("portal: keeping the notification address: %v", err)
		}
	}
	p.newSession(w, &Session{NHS: nhs, Subject: idt.Subject, Level: level})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (p *Portal) signOut(w http.ResponseWriter, r *http.Request) {
	s, _ := p.session(w, r)
	if !p.checkForm(w, r, s) {
		return
	}
	p.endSession(w, r)
	p.render(w, r, http.StatusOK, "signedout", nil, nil)
}

// handlerFunc is a page's own work: its data, or an error page already
// written (done).
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *Session) (data any, status int, done bool)

// page wraps a page: the session (or the sign-in page), the audit record
// of the view, the template.
func (p *Portal) page(name string, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, expired := p.session(w, r)
		if s == nil {
			status := http.StatusOK
			if name != "home" {
				status = http.StatusUnauthorized
			}
			p.render(w, r, status, "start", nil, map[string]any{"Expired": expired})
			return
		}
		data, status, done := h(w, r, s)
		if done {
			return
		}
		if err := p.audit.view(s, name); err != nil {
			// A view that cannot be recorded is not shown.
			p.cfg.Logf("portal: recording a page view: %v", err)
			p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
			return
		}
		p.render(w, r, status, name, s, data)
	}
}

// pageData is what every template gets.
type pageData struct {
	Session *Session
	Data    any
	Path    string
}

func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, s *Session, data any) {
	t, ok := p.pages[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", pageData{Session: s, Data: data, Path: r.URL.Path}); err != nil {
		p.cfg.Logf("portal: page %s: %v", name, err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("portal template %s: %w", n, err)
		}
		out[base] = t
	}
	return out, nil
}
