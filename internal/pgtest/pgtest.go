// Package pgtest runs a throwaway PostgreSQL server for a test package:
// Debian's postgresql binaries, initdb into a temporary folder, the server
// on a free loopback port with a random password, as an unprivileged user
// when the tests run as root. One server per test package (started on
// first use, stopped by Main), a fresh database per test made from a
// template database (CREATE DATABASE ... TEMPLATE), so a test costs
// milliseconds, not an initdb.
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		url := pgtest.NewDB(t, "") // an empty database of its own
//	}
//
// It touches no database it did not create: every database is made by it
// on a server it started in its own folder, and dropped when the test ends.
//
// Without the binaries the tests skip with the reason, except under CI
// (CI set) or KMCR_TEST_POSTGRES=1 (scripts/test.sh sets it), where they
// fail: "make test" must run them.
package pgtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the name of the server's superuser, the one tests connect as.
const Superuser = "kmcr"

// Server is one running PostgreSQL server in a temporary folder.
type Server struct {
	Bin      string // folder of initdb, pg_ctl, postgres
	Dir      string // the temporary folder (data in Dir/data)
	Port     int
	Password string
	uid, gid int // the user the server runs as (-1: this process's)

	mu        sync.Mutex
	proc      *exec.Cmd     // the postmaster when started by Start
	exited    chan struct{} // closed when proc has exited
	templates map[string]error
	n         int
}

var (
	shared    *Server
	sharedErr error
	once      sync.Once
)

// Main runs the package's tests and stops the server if one was started.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		_ = os.RemoveAll(shared.Dir)
	}
	return code
}

// Required reports whether a missing PostgreSQL must fail the tests rather
// than skip them.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("KMCR_TEST_POSTGRES") == "1"
}

// ErrNoBinaries says no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under /usr/lib/postgresql/*/bin or on PATH; install Debian's postgresql package (scripts/ensure-deps.sh test does)")

// Shared returns the package's server, starting it on first use. It skips
// t when the binaries are missing and not Required.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() {
		var bin string
		bin, sharedErr = FindBin()
		if sharedErr != nil {
			return
		}
		shared, sharedErr = Start(bin)
	})
	if errors.Is(sharedErr, ErrNoBinaries) && !Required() {
		t.Skip("pgtest:", sharedErr)
	}
	if sharedErr != nil {
		t.Fatal("pgtest:", sharedErr)
	}
	return shared
}

// Own starts a server of the test's own, for tests that stop, restart or
// replicate it; it is stopped and removed when t ends.
func Own(t testing.TB) *Server {
	t.Helper()
	Shared(t) // the same skip or failure when the binaries are missing
	s, err := Start(shared.Bin)
	if err != nil {
		t.Fatal("pgtest:", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Logf("pgtest: %v", err)
		}
		_ = os.RemoveAll(s.Dir)
	})
	return s
}

// NewDB returns the URL of a new database on the package's server, a copy
// of template ("" for an empty one, or a name given to Template), dropped
// when t ends.
func NewDB(t testing.TB, template string) string {
	t.Helper()
	return Shared(t).NewDB(t, template)
}

// FindBin returns the folder of the newest installed PostgreSQL's server
// binaries.
func FindBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			d := filepath.Dir(real)
			if isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
				return d, nil
			}
		}
	}
	return "", ErrNoBinaries
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start makes a new cluster in a temporary folder and starts it on a free
// loopback port. As root, the cluster belongs to and runs as "nobody"
// (initdb and postgres refuse to run as root).
func Start(bin string) (*Server, error) {
	s := &Server{Bin: bin, uid: -1, gid: -1, templates: map[string]error{}}
	dir, err := os.MkdirTemp("", "kmcr-pgtest-")
	if err != nil {
		return nil, err
	}
	s.Dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, fmt.Errorf("running as root, and no unprivileged user 'nobody' to run PostgreSQL as: %w", err)
		}
		s.uid, _ = strconv.Atoi(u.Uid)
		s.gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(dir, s.uid, s.gid); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	s.Password = hex.EncodeToString(pw[:])
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := s.chown(pwfile); err != nil {
		return nil, err
	}
	out, err := s.command(filepath.Join(bin, "initdb"), "-D", s.DataDir(), "-U", Superuser, "--pwfile", pwfile,
		"--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync").CombinedOutput()
	_ = os.Remove(pwfile)
	if err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// Quick and small: a test server keeps nothing worth an fsync, and
	// shares two cores with everything else.
	conf := strings.Join([]string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = ''",
		"fsync = off",
		"synchronous_commit = off",
		"full_page_writes = off",
		"shared_buffers = 32MB",
		"max_connections = 200",
		"max_wal_senders = 4",
		"wal_level = replica",
		"logging_collector = off",
		"log_min_messages = warning",
		"",
	}, "\n")
	f, err := os.OpenFile(filepath.Join(s.DataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// Replication from loopback, for a standby made by a test.
	hba, err := os.OpenFile(filepath.Join(s.DataDir(), "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = hba.WriteString("host replication " + Superuser + " 127.0.0.1/32 scram-sha-256\n")
	if cerr := hba.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Port = port
		if err = s.run(); err == nil {
			return s, nil
		} else if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "in use") {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free loopback port after 5 tries")
}

// DataDir is the cluster's data folder.
func (s *Server) DataDir() string { return filepath.Join(s.Dir, "data") }

// LogFile is the server's log.
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "server.log") }

func (s *Server) chown(p string) error {
	if s.uid < 0 {
		return nil
	}
	return os.Chown(p, s.uid, s.gid)
}

// command runs name as the server's user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if s.uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid)}}
	}
	return cmd
}

// run starts the postmaster as a child that the kernel stops (SIGQUIT,
// an immediate shutdown) if this process dies first, so a test binary
// killed by a timeout leaves no server behind. It waits until the server
// accepts connections.
func (s *Server) run() error {
	logf, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := s.chown(s.LogFile()); err != nil {
		logf.Close()
		return err
	}
	cmd := s.command(filepath.Join(s.Bin, "postgres"), "-D", s.DataDir(), "-p", strconv.Itoa(s.Port))
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	logf.Close()
	exited := make(chan error, 1)
	gone := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(gone) }()
	s.mu.Lock()
	s.proc, s.exited = cmd, gone
	s.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("postgres exited (%v): %s", err, s.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			c.Close(ctx)
			cancel()
			go func() { <-exited }() // reaped; Stop uses pg_ctl
			return nil
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	return fmt.Errorf("postgres did not accept connections within 60 s: %s", s.logTail())
}

func (s *Server) logTail() string {
	f, err := os.Open(s.LogFile())
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// PgCtl runs pg_ctl on the cluster with args (for example "restart", "-m",
// "fast"), as the server's user.
func (s *Server) PgCtl(args ...string) error {
	full := append([]string{"-D", s.DataDir(), "-l", s.LogFile(), "-w", "-t", "60"}, args...)
	out, err := s.command(filepath.Join(s.Bin, "pg_ctl"), full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v\n%s\n%s", strings.Join(args, " "), err, out, s.logTail())
	}
	return nil
}

// Restart restarts the server with pg_ctl restart -m fast: clients are
// disconnected, and the server is back on the same port.
func (s *Server) Restart() error {
	return s.PgCtl("restart", "-m", "fast", "-o", "-p "+strconv.Itoa(s.Port))
}

// StartAgain starts a stopped server on its port with pg_ctl start.
func (s *Server) StartAgain() error {
	return s.PgCtl("start", "-o", "-p "+strconv.Itoa(s.Port))
}

// Stop stops the server (pg_ctl stop -m fast); stopping a stopped server
// is not an error.
func (s *Server) Stop() error {
	if _, err := os.Stat(filepath.Join(s.DataDir(), "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return s.PgCtl("stop", "-m", "fast")
}

// URL is a connection URL for database db as the superuser.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, s.Password, s.Port, db)
}

// Exec runs SQL on database db.
func (s *Server) Exec(db, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

// Template makes, once per name, a template database that prepare fills
// (migrations, say); NewDB(t, name) then copies it. A failed prepare is
// reported to every caller.
func (s *Server) Template(name string, prepare func(url string) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err, done := s.templates[name]; done {
		return err
	}
	err := s.Exec("postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err == nil {
		err = prepare(s.URL(name))
	}
	if err == nil {
		err = s.Exec("postgres", "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true")
	}
	s.templates[name] = err
	return err
}

// NewDB creates a database copied from template ("" for template0) and
// drops it when t ends.
func (s *Server) NewDB(t testing.TB, template string) string {
	t.Helper()
	s.mu.Lock()
	s.n++
	name := fmt.Sprintf("t%d_%s", s.n, sanitize(t.Name()))
	s.mu.Unlock()
	if template == "" {
		template = "template0"
	} else {
		s.mu.Lock()
		err, ok := s.templates[template]
		s.mu.Unlock()
		if !ok {
			t.Fatalf("pgtest: template %q was never made (call Template first)", template)
		}
		if err != nil {
			t.Fatalf("pgtest: template %q: %v", template, err)
		}
	}
	// Copies from one template are made one at a time: CREATE DATABASE
	// fails while another session uses the template.
	s.mu.Lock()
	err := s.Exec("postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize())
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.Exec("postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return s.URL(name)
}

// sanitize keeps a database name short and plain.
func sanitize(n string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(n) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
