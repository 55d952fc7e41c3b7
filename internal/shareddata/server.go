package shareddata

import (
	"context"
	"io"
	"log"
	"net"
	"sort"
	"testing"
	"time"

	"kmcr/cache"
	"kmcr/core"
	"kmcr/internal/memsecrets"
	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store"
)

// Users of the fixture server, all with Password.
const (
	Paramedic = "para"
	FrontDesk = "desk"
	Password  = "shared data password"
)

// Server is a real kmcr-server serving the shared data on 127.0.0.1 over
// TLS, with a paramedic and a front-desk user holding every patient.
type Server struct {
	URL, CA string
	NHS     []string // every NHS number the server offers, sorted
	Report  *server.ImportReport
}

// Serve imports dir into a fresh store and serves it until the test ends.
func Serve(tb testing.TB, dir string) *Server {
	tb.Helper()
	root := tb.TempDir()
	st, err := store.OpenBolt(root, time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := pki.Init(root, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := pki.LoadServer(root)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := server.New(server.Config{Store: st, Password: server.PasswordParams{Time: 1, Memory: 64, Threads: 1},
		Logf: log.New(io.Discard, "", 0).Printf})
	if err != nil {
		tb.Fatal(err)
	}
	rep, err := svc.Import([]string{dir}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{CA: ca, Report: rep}
	for nhs, p := range Expect(tb, dir) {
		if !p.Restricted {
			s.NHS = append(s.NHS, nhs)
		}
	}
	sort.Strings(s.NHS)
	adm := server.LocalAdmin(svc)
	for _, u := range []struct{ name, role string }{{Paramedic, "paramedic"}, {FrontDesk, "frontdesk"}} {
		if err := adm.UserAdd(context.Background(), server.UserAddArgs{Name: u.name, Role: u.role, Password: Password}); err != nil {
			tb.Fatal(err)
		}
		if _, err := adm.CaseloadAdd(context.Background(), server.NHSListArgs{User: u.name, NHS: s.NHS}); err != nil {
			tb.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Serve(ctx, ln, pki.ServerTLS(cert))
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	s.URL = "wss://" + ln.Addr().String()
	return s
}

// Passphrase protects the caches of the profiles Enrol makes.
const Passphrase = "shared data passphrase"

// Profile is an enrolled client profile: its folder and the stand-in
// keyring holding its device secret.
type Profile struct {
	Dir     string
	Secrets *memsecrets.Store
}

// Open opens the profile's core, locked.
func (p *Profile) Open(tb testing.TB) *core.Core {
	tb.Helper()
	kc, err := core.Open(core.Config{DataDir: p.Dir, Secrets: p.Secrets, KDF: cache.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		tb.Fatal(err)
	}
	return kc
}

// Enrol enrols a new profile as user, first sync included.
func (s *Server) Enrol(tb testing.TB, user string) *Profile {
	tb.Helper()
	p := &Profile{Dir: tb.TempDir(), Secrets: memsecrets.New()}
	kc := p.Open(tb)
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := kc.Enrol(ctx, core.EnrolRequest{Server: s.URL, CAFile: s.CA, User: user, Password: Password,
		Passphrase: []byte(Passphrase), Host: "test-host"}, nil)
	if err != nil {
		tb.Fatalf("enrolling %s: %v", user, err)
	}
	return p
}
