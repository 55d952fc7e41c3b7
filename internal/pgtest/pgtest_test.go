package pgtest_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"kmcr/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func query(t *testing.T, url, sql string) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var s string
	if err := c.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// TestServer_UnprivilegedOnLoopback: the server answers on 127.0.0.1 with
// a password, runs as an unprivileged user when the tests run as root, and
// keeps its data in its own temporary folder.
func TestServer_UnprivilegedOnLoopback(t *testing.T) {
	s := pgtest.Shared(t)
	url := pgtest.NewDB(t, "")
	if got := query(t, url, "SELECT inet_server_addr()::text"); got != "127.0.0.1/32" && got != "127.0.0.1" {
		t.Fatalf("server address %s; want loopback", got)
	}
	if got := query(t, url, "SELECT current_setting('data_directory')"); got != s.DataDir() {
		t.Fatalf("data directory %s; want %s", got, s.DataDir())
	}
	// A wrong password is refused.
	bad := strings.Replace(url, s.Password, "wrong", 1)
	if c, err := pgx.Connect(context.Background(), bad); err == nil {
		c.Close(context.Background())
		t.Fatal("a wrong password was accepted")
	}
	if os.Geteuid() == 0 {
		pid := strings.TrimSpace(strings.SplitN(readFile(t, s.DataDir()+"/postmaster.pid"), "\n", 2)[0])
		out, err := exec.Command("ps", "-o", "user=", "-p", pid).Output()
		if err != nil {
			t.Fatal(err)
		}
		if u := strings.TrimSpace(string(out)); u == "root" || u == "" {
			t.Fatalf("the postmaster (pid %s) runs as %q", pid, u)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNewDB_FreshCopiesOfATemplate: each test's database is its own copy
// of the template, and it is dropped when the test ends.
func TestNewDB_FreshCopiesOfATemplate(t *testing.T) {
	s := pgtest.Shared(t)
	err := s.Template("pgtest_tmpl", func(url string) error {
		c, err := pgx.Connect(context.Background(), url)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		_, err = c.Exec(context.Background(), "CREATE TABLE t (n int); INSERT INTO t VALUES (7)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 3 {
		t.Run("copy"+strconv.Itoa(i), func(t *testing.T) {
			url := pgtest.NewDB(t, "pgtest_tmpl")
			if got := query(t, url, "SELECT string_agg(n::text, ',') FROM t"); got != "7" {
				t.Fatalf("copy holds %s; want the template's 7 alone (an earlier copy leaked in?)", got)
			}
			ctx := context.Background()
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, "INSERT INTO t VALUES (8)"); err != nil {
				t.Fatal(err)
			}
			names = append(names, query(t, url, "SELECT current_database()"))
		})
	}
	for _, n := range names {
		if got := query(t, s.URL("postgres"), "SELECT count(*)::text FROM pg_database WHERE datname = '"+n+"'"); got != "0" {
			t.Fatalf("database %s outlived its test", n)
		}
	}
}

// TestRestart: pg_ctl restart -m fast brings the server back on its port.
func TestRestart(t *testing.T) {
	s := pgtest.Shared(t)
	url := pgtest.NewDB(t, "")
	before := query(t, url, "SELECT pg_postmaster_start_time()::text")
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if after := query(t, url, "SELECT pg_postmaster_start_time()::text"); after == before {
		t.Fatal("the server was not restarted")
	}
}
