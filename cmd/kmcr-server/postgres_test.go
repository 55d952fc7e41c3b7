package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"kmcr/demo"
	"kmcr/internal/pgtest"
	"kmcr/server/store"
	"kmcr/server/store/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgFixture is cmdFixture on PostgreSQL: a data directory for the
// certificate, and the store in a new database.
func pgFixture(t *testing.T, seedDir string, patients []string) (dir, url string) {
	t.Helper()
	url = pgtest.NewDB(t, "")
	dir = t.TempDir()
	if code, out, errs := runCmd(t, "init", "--data-dir", dir, "--store", url); code != 0 || !strings.Contains(out, "Created the store in PostgreSQL") {
		t.Fatalf("init --store: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runCmd(t, "import", "--store", url, seedDir); code != 0 {
		t.Fatalf("import --store: %s", errs)
	}
	st, err := openPostgres(url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fixtureDevice(t, st, patients)
	return dir, url
}

// TestAdminCommands_SameOnPostgres runs every admin command on a bbolt
// store and on a PostgreSQL one holding the same data (straight against
// the database, no server's socket), and checks each prints the same and
// exits the same.
func TestAdminCommands_SameOnPostgres(t *testing.T) {
	seedDir := t.TempDir()
	if _, err := demo.Write(seedDir, demo.Options{Patients: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	var p []string
	for i := range 3 {
		p = append(p, demo.NHSNumber(7, i).Digits())
	}
	bolt := cmdFixture(t, seedDir, p)
	pgDir, url := pgFixture(t, seedDir, p)
	elapsed := regexp.MustCompile(`in [0-9.]+(µs|ms|s)`)
	commands := []struct {
		args  []string
		stdin string
	}{
		{args: []string{"user", "add", "--name", "cara", "--role", "paramedic", "--password-stdin"}, stdin: "password cara\n"},
		{args: []string{"user", "add", "--name", "cara", "--role", "paramedic", "--password-stdin"}, stdin: "password cara\n"},
		{args: []string{"user", "add", "--name", "bob", "--role", "wizard", "--password-stdin"}, stdin: "password bob\n"},
		{args: []string{"caseload", "add", "--user", "cara", "--nhs", p[0], p[1], "1234567890", "abc"}},
		{args: []string{"caseload", "add", "--user", "cara", "--nhs", p[1]}},
		{args: []string{"caseload", "add", "--user", "nobody", "--nhs", p[1]}},
		{args: []string{"caseload", "remove", "--user", "cara", "--nhs", p[0], p[2]}},
		{args: []string{"object", "--nhs", p[0], "--purpose", "research"}},
		{args: []string{"object", "--nhs", p[0], "--purpose", "research"}},
		{args: []string{"withdraw", "--nhs", p[0], "--purpose", "research"}},
		{args: []string{"withdraw", "--nhs", p[0], "--purpose", "research"}},
		{args: []string{"device", "list"}},
		{args: []string{"device", "list", "--json"}},
		{args: []string{"device", "revoke", "device-absent"}},
		{args: []string{"access-log", "--nhs", p[1]}},
		{args: []string{"access-log", "--nhs", p[1], "--json"}},
		{args: []string{"access-log", "--nhs", p[2]}},
		{args: []string{"alerts"}},
		{args: []string{"alerts", "--json"}},
		{args: []string{"audit", "verify"}},
		{args: []string{"device", "revoke", "device-cmd-00000001"}},
		{args: []string{"device", "revoke", "device-cmd-00000001"}},
		{args: []string{"device", "list"}},
		{args: []string{"import", seedDir}},
	}
	for _, c := range commands {
		name := strings.Join(c.args, " ")
		run := func(extra ...string) (int, string, string) {
			args := append(append([]string{}, c.args...), extra...)
			code, out, errs := runCmdIn(t, c.stdin, args...)
			return code, elapsed.ReplaceAllString(out, "in TIME"), errs
		}
		bc, bout, berr := run("--data-dir", bolt)
		pc, pout, perr := run("--data-dir", pgDir, "--store", url)
		bout, berr = strings.ReplaceAll(bout, bolt, "DIR"), strings.ReplaceAll(berr, bolt, "DIR")
		pout, perr = strings.ReplaceAll(pout, pgDir, "DIR"), strings.ReplaceAll(perr, pgDir, "DIR")
		if bc != pc || bout != pout || berr != perr {
			t.Errorf("%s differs on PostgreSQL:\nexit %d / %d\nstdout:\n%s\n---\n%s\nstderr:\n%s\n---\n%s", name, bc, pc, bout, pout, berr, perr)
		}
	}
	// $KMCR_STORE stands for --store.
	t.Setenv(storeEnv, url)
	if code, out, errs := runCmd(t, "device", "list", "--data-dir", pgDir); code != 0 || !strings.Contains(out, "device-cmd-00000001") {
		t.Fatalf("device list with $%s: exit %d\n%s%s", storeEnv, code, out, errs)
	}
}

// TestMigrate_ServeRefusesAnOldSchema: serve on a database never migrated
// says to run migrate; migrate applies the schema once; a --store that is
// not PostgreSQL is a usage error.
func TestMigrate_ServeRefusesAnOldSchema(t *testing.T) {
	url := pgtest.NewDB(t, "")
	dir := t.TempDir()
	code, _, errs := runCmd(t, "serve", "--data-dir", dir, "--store", url, "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errs, "run kmcr-server migrate --store") {
		t.Fatalf("serve on an unmigrated database: exit %d, %q", code, errs)
	}
	if strings.Contains(errs, pgtest.Shared(t).Password) {
		t.Fatalf("the error shows the database password: %q", errs)
	}
	code, out, errs := runCmd(t, "migrate", "--store", url)
	if code != 0 || !strings.Contains(out, "applied migration(s)") || !strings.Contains(out, "store epoch") {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCmd(t, "migrate", "--store", url)
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate again: exit %d\n%s", code, out)
	}
	st, err := openPostgres(url)
	if err != nil {
		t.Fatalf("open after migrate: %v", err)
	}
	st.Close()
	if v := postgres.SchemaVersion(); v < 1 {
		t.Fatalf("schema version %d", v)
	}
	if code, _, errs := runCmd(t, "migrate", "--data-dir", dir); code != 2 || !strings.Contains(errs, "migrate needs --store") {
		t.Fatalf("migrate without --store: exit %d, %q", code, errs)
	}
	if code, _, errs := runCmd(t, "alerts", "--store", "/var/lib/kmcr"); code != 2 || !strings.Contains(errs, "not a PostgreSQL URL") {
		t.Fatalf("alerts --store PATH: exit %d, %q", code, errs)
	}
}

// TestStoreCopy_SameAnswers: a bbolt store copied with store copy answers
// the read commands the same on PostgreSQL and keeps its epoch; a copy
// into a database in use, or from a store being served, is refused.
func TestStoreCopy_SameAnswers(t *testing.T) {
	seedDir := t.TempDir()
	if _, err := demo.Write(seedDir, demo.Options{Patients: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	var p []string
	for i := range 3 {
		p = append(p, demo.NHSNumber(7, i).Digits())
	}
	bolt := cmdFixture(t, seedDir, p)
	st, err := store.OpenBolt(bolt, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	epoch := st.Epoch()
	st.Close()
	url := pgtest.NewDB(t, "")
	code, out, errs := runCmd(t, "store", "copy", "--from", bolt, "--to", url)
	if code != 0 || !strings.Contains(out, "epoch "+epoch) || !strings.Contains(out, "audit_event") {
		t.Fatalf("store copy: exit %d\n%s%s", code, out, errs)
	}
	for _, args := range [][]string{{"device", "list", "--json"}, {"access-log", "--nhs", p[1], "--json"}, {"alerts", "--json"}, {"audit", "verify"}} {
		bc, bout, berr := runCmd(t, append(args, "--data-dir", bolt)...)
		pc, pout, perr := runCmd(t, append(args, "--store", url)...)
		if bc != pc || bout != pout || berr != perr {
			t.Errorf("%v after store copy:\nexit %d / %d\n%s\n---\n%s\n%s\n---\n%s", args, bc, pc, bout, pout, berr, perr)
		}
	}
	if code, _, errs := runCmd(t, "store", "copy", "--from", bolt, "--to", url); code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("a second copy: exit %d, %q", code, errs)
	}
	stop := serveAdmin(t, bolt)
	defer stop()
	if code, _, errs := runCmd(t, "store", "copy", "--from", bolt, "--to", pgtest.NewDB(t, "")); code != 1 || !strings.Contains(errs, "stop it first") {
		t.Fatalf("copying a served store: exit %d, %q", code, errs)
	}
}
