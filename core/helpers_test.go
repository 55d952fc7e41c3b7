package core

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"kmcr/cache"
	"kmcr/demo"
	"kmcr/internal/memsecrets"
	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// fastKDF keeps Argon2id cheap in tests.
var fastKDF = cache.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

const testPassphrase = "a test passphrase"

// testServer is a real sync service on a TLS listener on 127.0.0.1.
type testServer struct {
	t      *testing.T
	dir    string
	svc    *server.Service
	st     *store.Bolt
	admin  server.Admin
	addr   string
	ca     string
	nhs    []string
	cancel context.CancelFunc
	done   chan struct{}
}

func startServer(t *testing.T, patients int) *testServer {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.Init(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, dir: dir, st: st, ca: ca}
	ts.svc, err = server.New(server.Config{Store: st, Password: server.PasswordParams{Time: 1, Memory: 64, Threads: 1}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ts.admin = server.LocalAdmin(ts.svc)
	if patients > 0 {
		seed := t.TempDir()
		if _, err := demo.Write(seed, demo.Options{Patients: patients, Seed: 7}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.svc.Import([]string{seed}, nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < patients; i++ {
			ts.nhs = append(ts.nhs, demo.NHSNumber(7, i).Digits())
		}
	}
	ts.listen("127.0.0.1:0")
	t.Cleanup(func() { ts.stop(); st.Close() })
	return ts
}

func (ts *testServer) listen(addr string) {
	ts.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	cert, err := pki.LoadServer(ts.dir)
	if err != nil {
		ts.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel, ts.done = cancel, make(chan struct{})
	go func() {
		defer close(ts.done)
		_ = ts.svc.Serve(ctx, ln, pki.ServerTLS(cert))
	}()
}

// stop shuts the listener down (the store stays open for admin calls).
func (ts *testServer) stop() {
	if ts.cancel != nil {
		ts.cancel()
		<-ts.done
		ts.cancel = nil
	}
}

// restart serves again on the same address, after stop. Serve drains only
// once per Service, so a fresh Service is made on the same store.
func (ts *testServer) restart() {
	ts.t.Helper()
	var err error
	ts.svc, err = server.New(server.Config{Store: ts.st, Password: server.PasswordParams{Time: 1, Memory: 64, Threads: 1}, Logf: ts.t.Logf})
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.admin = server.LocalAdmin(ts.svc)
	ts.listen(ts.addr)
}

func (ts *testServer) addUser(name, role string, caseload ...string) {
	ts.t.Helper()
	if err := ts.admin.UserAdd(context.Background(), server.UserAddArgs{Name: name, Role: role, Password: "password " + name}); err != nil {
		ts.t.Fatal(err)
	}
	if len(caseload) > 0 {
		if _, err := ts.admin.CaseloadAdd(context.Background(), server.NHSListArgs{User: name, NHS: caseload}); err != nil {
			ts.t.Fatal(err)
		}
	}
}

// newCore opens a profile with fast test settings.
func newCore(t *testing.T, dir string, secrets cache.SecretStore) *Core {
	t.Helper()
	c, err := Open(Config{DataDir: dir, Secrets: secrets, KDF: fastKDF, Logf: t.Logf,
		SyncTweak: func(cfg *syncclient.Config) {
			cfg.Backoff = syncclient.Backoff{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond, StableAfter: time.Second}
			cfg.Timeouts = protocol.Timeouts{Ping: 200 * time.Millisecond, Read: 2 * time.Second, Write: 2 * time.Second}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// enrolled returns an enrolled, unlocked core for user.
func enrolled(t *testing.T, ts *testServer, user string) (*Core, *memsecrets.Store) {
	t.Helper()
	secrets := memsecrets.New()
	dir := filepath.Join(t.TempDir(), "profile")
	c := newCore(t, dir, secrets)
	err := c.Enrol(context.Background(), EnrolRequest{Server: "wss://" + ts.addr, CAFile: ts.ca, User: user, Password: "password " + user, Passphrase: []byte(testPassphrase), Host: "test-laptop"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, secrets
}

func syncOnce(t *testing.T, c *Core) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.SyncOnce(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func isNotCached(err error) bool { return errors.Is(err, ErrNotCached) }

// serveSync runs c.ServeSync in the background until the test ends (or
// c.StopSync), and fails the test if it returns an error.
func serveSync(t testing.TB, c *Core) {
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
