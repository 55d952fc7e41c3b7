// Package server is the sync service: HTTPS login and token refresh, the
// websocket sync sessions, FHIR import, the admin operations, and the
// privacy officer's reports. It decides with server/policy and remembers
// with server/store; sync/protocol is its wire format.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"kmcr/audit"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// Version is reported in Welcome and /healthz.
const Version = "0.1.0"

// Config configures a Service.
type Config struct {
	Store    store.Store
	Now      func() time.Time
	Timeouts protocol.Timeouts
	Password PasswordParams
	// ExpireEvery is how often break-glass relationships are checked for
	// expiry (default 30 s).
	ExpireEvery time.Duration
	// DrainTimeout bounds how long shutdown waits for in-flight batches to
	// be acknowledged before closing sessions (default 3 s).
	DrainTimeout time.Duration
	Logf         func(format string, args ...any)
	// BreakGlassBudgets override DefaultBreakGlassBudgets, per role or per
	// user (kmcr-server serve --break-glass-budget).
	BreakGlassBudgets []BreakGlassBudget
	// AuditQuota bounds each device's audit uploads (DefaultAuditQuota
	// when zero).
	AuditQuota AuditQuota
	// MaxConnsPerSource caps the open TCP connections from one address
	// (default 256: a hospital's laptops behind one NAT); further ones are
	// closed as soon as they are accepted.
	MaxConnsPerSource int
	// MaxSessionsPerDevice caps one device's concurrent sync sessions
	// (default 4); further upgrades are refused with 429.
	MaxSessionsPerDevice int
	// TokenKeys are the access-token signing keys, kept apart from the
	// store (OpenTokenKeys); nil holds one random key in memory only, so
	// tokens die with the process (tests).
	TokenKeys *TokenKeys
	// Accesses, when set, is given the accesses of each audit upload once
	// stored, and again when a device sends a stored upload again (so
	// what it does must be idempotent: server/notify's Queue); its error
	// fails the upload, which the device then sends again.
	Accesses func(device string, u store.User, events []audit.Event) error
}

// Service is the sync service.
type Service struct {
	cfg    Config
	routes map[string]http.Handler // Mount
	st     store.Store
	tok    tokens
	guard  *loginGuard

	mu       sync.Mutex
	sessions map[*session]struct{}
	wg       sync.WaitGroup
	draining chan struct{}
	drainOne sync.Once

	budget   budgetLedger // break-glass grants per user
	traces   budgetLedger // break-glass traces per user
	coalesce coalescer    // alerts folded per user or device per window
	quotas   deviceQuotas // audit upload allowances per device
	deltas   *deltaBook   // what each device holds, and the bases deltas are made against
}

// New makes a Service on an open store.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: no store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeouts == (protocol.Timeouts{}) {
		cfg.Timeouts = protocol.DefaultTimeouts
	}
	if cfg.Password == (PasswordParams{}) {
		cfg.Password = DefaultPasswordParams
	}
	if cfg.ExpireEvery == 0 {
		cfg.ExpireEvery = 30 * time.Second
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 3 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.MaxConnsPerSource == 0 {
		cfg.MaxConnsPerSource = 256
	}
	if cfg.AuditQuota == (AuditQuota{}) {
		cfg.AuditQuota = DefaultAuditQuota
	}
	if cfg.MaxSessionsPerDevice == 0 {
		cfg.MaxSessionsPerDevice = 4
	}
	cfg.Logf = safeLogf(cfg.Logf)
	if cfg.TokenKeys == nil {
		k, err := NewMemoryTokenKeys(cfg.Now())
		if err != nil {
			return nil, fmt.Errorf("making a token key: %w", err)
		}
		cfg.TokenKeys = k
	}
	s := &Service{cfg: cfg, st: cfg.Store, tok: tokens{keys: cfg.TokenKeys}, guard: newLoginGuard(), sessions: map[*session]struct{}{}, draining: make(chan struct{}), deltas: newDeltaBook(deltaBaseBytes)}
	s.budget.seed = s.seedGrants
	s.traces.seed = s.seedTraces
	s.quotas.q = cfg.AuditQuota
	if err := s.upgradeOrgs(); err != nil {
		return nil, fmt.Errorf("giving users from before organisations the default one: %w", err)
	}
	return s, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Mount adds a handler on the same listener by ServeMux pattern (the
// patient portal under "/my/", its FHIR API, the development sign-in
// provider). Call it before Serve or Handler.
func (s *Service) Mount(pattern string, h http.Handler) {
	if s.routes == nil {
		s.routes = map[string]http.Handler{}
	}
	s.routes[pattern] = h
}

// Handler returns the HTTP routes.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+protocol.PathHealth, s.handleHealth)
	mux.HandleFunc("POST "+protocol.PathLogin, s.handleLogin)
	mux.HandleFunc("POST "+protocol.PathRefresh, s.handleRefresh)
	mux.HandleFunc("GET "+protocol.PathSync, s.limitDeviceSessions(s.handleSync))
	mux.HandleFunc("GET "+protocol.PathAccessLog, s.handleAccessLog)
	mux.HandleFunc("GET "+protocol.PathAlerts, s.handleAlerts)
	mux.HandleFunc("POST "+protocol.PathDispatchIncidents, s.handleDispatchOpen)
	mux.HandleFunc("DELETE "+protocol.PathDispatchIncidents, s.handleDispatchClose)
	mux.HandleFunc("DELETE "+protocol.PathDispatchIncidents+"/{id}", s.handleDispatchClose)
	for pattern, h := range s.routes {
		mux.Handle(pattern, h)
	}
	return mux
}

// Serve answers on ln until ctx ends, then drains: sessions stop starting
// batches, wait up to DrainTimeout for acknowledgements of those in flight,
// and close with CloseServerShutdown. tlsConfig nil serves plain HTTP
// (development only; the command refuses it off loopback).
func (s *Service) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config) error {
	hs := &http.Server{
		Handler: s.Handler(),
		// A connection that sends its request slowly (slowloris), stalls
		// its TLS handshake, or idles between requests is closed: headers
		// within ReadHeaderTimeout (the TLS handshake too), the whole
		// request within ReadTimeout, the answer within WriteTimeout.
		// A websocket upgrade clears these, and sync/protocol's own read
		// and write deadlines take over.
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         tlsConfig,
		ErrorLog:          log.New(logWriter{s.cfg.Logf}, "", 0),
	}
	limited := newLimitListener(ln, s.cfg.MaxConnsPerSource, s.cfg.Logf).(*limitListener)
	limited.hot = func(src string) bool { _, hot := s.guard.sourceThrottled(src, s.now()); return hot }
	ln = limited
	bg, stopBg := context.WithCancel(context.Background())
	defer stopBg()
	go s.expireLoop(bg)
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- hs.Serve(tls.NewListener(ln, tlsConfig))
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout+2*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.wg.Wait()
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// Drain tells every session to finish its in-flight batches and close.
func (s *Service) Drain() { s.drainOne.Do(func() { close(s.draining) }) }

// Sessions reports the number of open sync sessions.
func (s *Service) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Service) expireLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ExpireEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			expire := func() error {
				_, err := s.st.ExpireRelationships(s.now())
				return errors.Join(err, s.expireIncidents())
			}
			var err error
			if ex, ok := s.st.(store.Exclusive); ok { // several nodes: once across them
				_, err = ex.Exclusive("expire-relationships", expire)
			} else {
				err = expire()
			}
			if err != nil {
				s.cfg.Logf("expiring relationships: %v", err)
			}
		}
	}
}

type logWriter struct{ logf func(string, ...any) }

func (w logWriter) Write(p []byte) (int, error) {
	w.logf("%s", string(p))
	return len(p), nil
}
