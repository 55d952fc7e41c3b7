package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kmcr/cache"
	"kmcr/core"
	"kmcr/demo"
	"kmcr/record"
	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// fastPassword keeps the server's Argon2id cheap for in-process servers;
// the subprocess server uses the production parameters.
var fastPassword = server.PasswordParams{Time: 1, Memory: 64, Threads: 1}

// cheapKDF keeps the cache's Argon2id cheap for profiles made in-process.
// The parameters are stored in cache.keys, so the kmcr program opens such
// a profile with them too.
var cheapKDF = cache.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

// shortTimeouts make a half-open connection noticed within seconds.
var shortTimeouts = protocol.Timeouts{Ping: 250 * time.Millisecond, Read: 1500 * time.Millisecond, Write: 2 * time.Second}

// inprocOpts configure an in-process server.
type inprocOpts struct {
	patients int
	seed     uint64
	timeouts protocol.Timeouts
	// wrap, when set, wraps the store the service uses (test hooks).
	wrap func(store.Store) store.Store
	// listen, when set, makes the sync listener (127.0.0.1:0 otherwise).
	listen func() (net.Listener, error)
}

// inprocServer is a kmcr-server Service on a real store, a real TLS
// listener on 127.0.0.1 and an admin socket, so the kmcr-server admin
// commands reach it as they reach a serving process.
type inprocServer struct {
	*serverData
	st    *store.Bolt
	svc   *server.Service
	local server.Admin
	addr  string
	logs  *logSink
}

func newInprocServer(t testing.TB, o inprocOpts) *inprocServer {
	t.Helper()
	root := t.TempDir()
	d := &serverData{t: t, dir: filepath.Join(root, "server"), seed: o.seed}
	st, err := store.OpenBolt(d.dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d.ca, err = pki.Init(d.dir, []string{"127.0.0.1", "localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	cert, err := pki.LoadServer(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogSink(t)
	var s store.Store = st
	if o.wrap != nil {
		s = o.wrap(st)
	}
	svc, err := server.New(server.Config{Store: s, Timeouts: o.timeouts, Password: fastPassword, Logf: logs.prefixed("server: ")})
	if err != nil {
		t.Fatal(err)
	}
	listen := o.listen
	if listen == nil {
		listen = func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
	}
	ln, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served, adminDone := make(chan error, 1), make(chan error, 1)
	go func() { served <- svc.Serve(ctx, ln, pki.ServerTLS(cert)) }()
	adm, err := server.ListenAdmin(d.dir, server.LocalAdmin(svc))
	if err != nil {
		t.Fatal(err)
	}
	go func() { adminDone <- adm.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		for _, c := range []chan error{served, adminDone} {
			select {
			case <-c:
			case <-time.After(30 * time.Second):
				t.Errorf("in-process server did not stop within 30 s")
			}
		}
		st.Close()
	})
	srv := &inprocServer{serverData: d, st: st, svc: svc, local: server.LocalAdmin(svc), addr: ln.Addr().String(), logs: logs}
	eventually(t, 10*time.Second, "admin socket", func() error {
		_, err := server.RemoteAdmin(d.dir).Alerts(context.Background())
		return err
	})
	if o.patients > 0 {
		d.seedDir = filepath.Join(root, "seed")
		if _, err := demo.Write(d.seedDir, demo.Options{Patients: o.patients, Seed: o.seed}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Import([]string{d.seedDir}, nil); err != nil {
			t.Fatal(err)
		}
		d.nhs = seededNHS(o.seed, o.patients)
	}
	return srv
}

// url is the server's websocket address.
func (s *inprocServer) url() string { return "wss://" + s.addr }

// addUser adds a user (password "password-" + name) with a caseload,
// in-process.
func (s *inprocServer) addUser(name, role string, caseload ...string) {
	s.t.Helper()
	if err := s.local.UserAdd(context.Background(), server.UserAddArgs{Name: name, Role: role, Password: userPassword(name)}); err != nil {
		s.t.Fatal(err)
	}
	if len(caseload) > 0 {
		s.caseload(s.local.CaseloadAdd, name, caseload...)
	}
}

// caseload changes a user's caseload in-process with change
// (s.local.CaseloadAdd or CaseloadRemove); any refusal fails the test.
func (s *inprocServer) caseload(change func(context.Context, server.NHSListArgs) (server.NHSListResult, error), user string, nhs ...string) {
	s.t.Helper()
	res, err := change(context.Background(), server.NHSListArgs{User: user, NHS: nhs})
	if err != nil {
		s.t.Fatal(err)
	}
	if len(res.Refused) > 0 {
		s.t.Fatalf("caseload change for %s refused %v", user, res.Refused)
	}
}

// coreOpts configure an in-process client core.
type coreOpts struct {
	now      func() time.Time
	timeouts protocol.Timeouts // zero: production
	kdf      cache.KDFParams   // zero: cheapKDF
	window   int               // zero: protocol.DefaultWindow
}

// syncTweak shortens backoff (and the heartbeat, when asked) so fault
// tests reconnect quickly.
func (o coreOpts) syncTweak(cfg *syncclient.Config) {
	cfg.Backoff = syncclient.Backoff{Base: 50 * time.Millisecond, Cap: 500 * time.Millisecond, StableAfter: 5 * time.Second}
	cfg.DialTimeout = 5 * time.Second
	if o.timeouts != (protocol.Timeouts{}) {
		cfg.Timeouts = o.timeouts
	}
	if o.window != 0 {
		cfg.Window = o.window
	}
}

// openCore opens the client core on a profile folder.
func openCore(t testing.TB, p *profile, o coreOpts, logf func(string, ...any)) *core.Core {
	t.Helper()
	kdf := o.kdf
	if kdf == (cache.KDFParams{}) {
		kdf = cheapKDF
	}
	c, err := core.Open(core.Config{DataDir: p.dir, KDF: kdf, Now: o.now, SyncTweak: o.syncTweak, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// enrolCore enrols a profile in-process (cheap KDF, device secret file),
// running the first sync; the profile can then be used by kmcr too.
func enrolCore(t testing.TB, p *profile, serverURL, ca, user string, o coreOpts, logf func(string, ...any)) *core.Core {
	t.Helper()
	c, err := tryEnrolCore(t, p, serverURL, ca, user, o, logf, nil)
	if err != nil {
		t.Fatalf("enrolling %s: %v", user, err)
	}
	return c
}

// tryEnrolCore enrols in-process, reporting the first sync's progress, and
// returns Enrol's error (core.ErrFirstSync leaves a usable profile).
func tryEnrolCore(t testing.TB, p *profile, serverURL, ca, user string, o coreOpts, logf func(string, ...any), progress func(core.SyncState)) (*core.Core, error) {
	t.Helper()
	c := openCore(t, p, o, logf)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := c.Enrol(ctx, core.EnrolRequest{Server: serverURL, CAFile: ca, User: user, Password: userPassword(user),
		Passphrase: []byte(p.pass), DeviceSecretFile: p.secret, Host: "e2e-host"}, progress)
	return c, err
}

// cachedSet lists the patients a core holds, sorted.
func cachedSet(t testing.TB, c *core.Core) []string {
	t.Helper()
	entries, err := c.Caseload()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.NHS.Digits()
	}
	slices.Sort(out)
	return out
}

// sortedCopy returns a sorted copy of s.
func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// diffSets describes how got differs from want (both sorted), or "".
func diffSets(got, want []string) string {
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j >= len(want) || (i < len(got) && got[i] < want[j]):
			extra = append(extra, got[i])
			i++
		case i >= len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	clip := func(s []string) []string { return s[:min(len(s), 5)] }
	return fmt.Sprintf("holds %d, want %d: %d missing (%v...), %d not permitted (%v...)", len(got), len(want), len(missing), clip(missing), len(extra), clip(extra))
}

// checkConsistent asserts that a core holds exactly want, that nothing is
// damaged, and that every patient in check opens through OpenPatient (a
// decrypted, decoded, summarised document with its audit event).
func checkConsistent(t testing.TB, c *core.Core, want []string, check []string) {
	t.Helper()
	st := c.Status()
	if st.Damaged != 0 {
		t.Fatalf("%d damaged records", st.Damaged)
	}
	if d := diffSets(cachedSet(t, c), sortedCopy(want)); d != "" {
		t.Fatalf("cache %s", d)
	}
	for _, n := range check {
		v, err := c.OpenPatient(n, nil)
		if err != nil {
			t.Fatalf("opening %s: %v", n, err)
		}
		if v == nil || v.Summary == nil || v.Summary.Demographics.NHS.Digits() != n {
			t.Fatalf("opening %s gave the wrong or no summary: %+v", n, v)
		}
	}
}

// waitState waits until the core's connection state satisfies ok.
func waitState(t testing.TB, c *core.Core, within time.Duration, what string, ok func(core.Status) bool) core.Status {
	t.Helper()
	var st core.Status
	eventually(t, within, what, func() error {
		st = c.Status()
		if ok(st) {
			return nil
		}
		return fmt.Errorf("connection %q, %d cached, %d pending", st.Connection, st.CachedPatients, st.PendingAuditEvents)
	})
	return st
}

func upToDate(st core.Status) bool { return st.State == core.SyncUpToDate }

// hookStore wraps a store to run a function right after an audit batch
// commits, before the server can acknowledge it.
type hookStore struct {
	store.Store
	afterAudit func(events int)
}

func (h *hookStore) StoreAudit(device string, events, conflicts []store.StoredEvent, alerts []store.Alert, chain []byte) error {
	err := h.Store.StoreAudit(device, events, conflicts, alerts, chain)
	if err == nil && h.afterAudit != nil {
		h.afterAudit(len(events))
	}
	return err
}

// mustNHS parses an NHS number known to be valid.
func mustNHS(s string) record.NHSNumber { return record.MustParseNHSNumber(s) }

// isNotCached reports an app error for a patient not on the device.
func isNotCached(err error) bool {
	return errors.Is(err, core.ErrNotCached) || (err != nil && strings.Contains(err.Error(), "not available on this device"))
}

// serveSync runs c.ServeSync in the background until the test ends (or
// the core stops it: lock, wipe, close), and fails the test if it returns
// an error.
func serveSync(t testing.TB, c *core.Core) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.ServeSync(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeSync: %v", err)
		}
	})
	// Return once the service runs, as a caller that starts it and then
	// looks at the state expects (or it has already ended, which the
	// cleanup reports).
	for deadline := time.Now().Add(10 * time.Second); !c.Syncing() && time.Now().Before(deadline); {
		select {
		case err := <-done:
			done <- err
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}
