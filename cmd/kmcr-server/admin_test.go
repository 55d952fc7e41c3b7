package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"kmcr/audit"
	"kmcr/demo"
	"kmcr/record"
	"kmcr/server"
	"kmcr/server/store"
)

// cmdFixture makes a data directory with the store, imported demo patients
// and a device with an audit chain and an alert, all at fixed times, so two
// calls make directories the commands print the same for.
func cmdFixture(t *testing.T, seedDir string, patients []string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kmcr-cmd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if code, _, errs := runCmd(t, "init", "--data-dir", dir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	if code, _, errs := runCmd(t, "import", "--data-dir", dir, seedDir); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fixtureDevice(t, st, patients)
	return dir
}

// fixtureDevice adds cmdFixture's device, its audit chain and an alert.
func fixtureDevice(t *testing.T, st store.Store, patients []string) {
	t.Helper()
	at := time.Date(2026, 3, 12, 9, 30, 0, 0, time.UTC)
	const id = "device-cmd-00000001"
	if err := st.RegisterDevice(store.Device{ID: id, User: "cara", Host: "ambulance-7", Registered: at, LastSeen: at}); err != nil {
		t.Fatal(err)
	}
	var head audit.Head
	var events []store.StoredEvent
	for seq, nhs := range patients {
		e := audit.Event{Action: audit.ActionView, Occurred: at.Add(time.Duration(seq) * time.Minute),
			User: audit.Actor{ID: "cara", Name: "cara", Role: "paramedic"}, Device: audit.Device{ID: id, Host: "ambulance-7"},
			Patient: record.NHSNumber(nhs), Sections: []string{"allergies"}, Purpose: "ETREAT", Outcome: audit.Outcome{Result: audit.ResultSuccess}}
		if seq == 1 {
			e.Action, e.BreakGlass = audit.ActionBreakGlass, &audit.BreakGlass{ReasonCode: "emergency-treatment", ReasonText: "unconscious at scene"}
		}
		e, head = audit.Next(head, e)
		events = append(events, store.StoredEvent{Device: id, Seq: e.Seq, Hash: head.Hash[:], Canonical: e.Canonical(), Recorded: at.Add(time.Hour), NHS: nhs})
	}
	chain, _ := json.Marshal(audit.DeviceChain{DeviceID: id, LastSeq: head.Seq, LastHash: head.Hash})
	alerts := []store.Alert{{Kind: "break-glass", Device: id, User: "cara", NHS: patients[1], Detail: "emergency access granted", At: at}}
	if err := st.StoreAudit(id, events, nil, alerts, chain); err != nil {
		t.Fatal(err)
	}
}

// serveAdmin holds dir's store as "kmcr-server serve" does and answers on
// its admin socket until the returned stop is called.
func serveAdmin(t *testing.T, dir string) (stop func()) {
	t.Helper()
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := server.New(server.Config{Store: st, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	adm, err := server.ListenAdmin(dir, server.LocalAdmin(svc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- adm.Serve(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("admin socket: %v", err)
		}
		st.Close()
	}
	t.Cleanup(stop)
	return stop
}

// TestAdminCommands_SameWithServerRunning runs every admin command on a
// data directory no server holds (in process) and on an identical one a
// server holds (through its admin socket), and checks each prints the same
// and exits the same.
func TestAdminCommands_SameWithServerRunning(t *testing.T) {
	seedDir := t.TempDir()
	if _, err := demo.Write(seedDir, demo.Options{Patients: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	var p []string
	for i := range 3 {
		p = append(p, demo.NHSNumber(7, i).Digits())
	}
	offline, serving := cmdFixture(t, seedDir, p), cmdFixture(t, seedDir, p)
	serveAdmin(t, serving)

	elapsed := regexp.MustCompile(`in [0-9.]+(µs|ms|s)`)
	// Organisations carry the time they were added or changed, which the
	// two directories cannot share.
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\d(T[0-9:.]+Z| \d\d:\d\d(:\d\d)?)`)
	// A dispatch credential is random.
	credential := regexp.MustCompile(`[a-z0-9-]+\.[A-Za-z0-9_-]{43}`)
	commands := []struct {
		args  []string
		stdin string
	}{
		{args: []string{"org", "list"}},
		{args: []string{"org", "add", "--ods", "ryd", "--name", "South East Coast Ambulance Service", "--kind", "ambulance"}},
		{args: []string{"org", "add", "--ods", "RYD", "--name", "Again", "--kind", "ambulance"}},
		{args: []string{"org", "add", "--ods", "G82001", "--name", "Riverside Surgery", "--kind", "pharmacy"}},
		{args: []string{"org", "add", "--ods", "G82001", "--name", "Riverside Surgery", "--kind", "gp", "--dspt", "met"}},
		{args: []string{"org", "set", "--ods", "RYD", "--dspt", "met"}},
		{args: []string{"org", "set", "--ods", "RYD", "--dspt", "met"}},
		{args: []string{"org", "set", "--ods", "RZZ", "--dspt", "met"}},
		{args: []string{"org", "set", "--ods", "RYD", "--dspt", "perhaps"}},
		{args: []string{"org", "list", "--json"}},
		{args: []string{"user", "add", "--name", "gina", "--role", "community", "--org", "G82001", "--password-stdin"}, stdin: "password gina\n"},
		{args: []string{"user", "add", "--name", "hal", "--role", "community", "--org", "RZZ", "--password-stdin"}, stdin: "password hal\n"},
		{args: []string{"user", "add", "--name", "cara", "--role", "paramedic", "--password-stdin"}, stdin: "password cara\n"},
		{args: []string{"user", "add", "--name", "cara", "--role", "paramedic", "--password-stdin"}, stdin: "password cara\n"},
		{args: []string{"user", "add", "--name", "bob", "--role", "wizard", "--password-stdin"}, stdin: "password bob\n"},
		{args: []string{"user", "add", "--name", "bob", "--role", "community", "--password-stdin"}, stdin: "short\n"},
		{args: []string{"user", "add", "--name", "b c", "--role", "community", "--password-stdin"}, stdin: "password bob\n"},
		{args: []string{"user", "password", "--name", "cara", "--password-stdin"}, stdin: "a new password\n"},
		{args: []string{"user", "password", "--name", "cara", "--password-stdin"}, stdin: "short\n"},
		{args: []string{"user", "password", "--name", "nobody", "--password-stdin"}, stdin: "long enough\n"},
		{args: []string{"user", "disable", "--name", "nobody"}},
		{args: []string{"user", "enable", "--name", "nobody"}},
		{args: []string{"keys", "frobnicate"}},
		{args: []string{"caseload", "add", "--user", "cara", "--nhs", p[0], p[1], "1234567890", "abc"}},
		{args: []string{"caseload", "add", "--user", "cara", "--nhs", p[1]}},
		{args: []string{"caseload", "add", "--user", "nobody", "--nhs", p[1]}},
		{args: []string{"caseload", "remove", "--user", "cara", "--nhs", p[0], p[2]}},
		{args: []string{"caseload", "remove", "--user", "nobody", "--nhs", p[0]}},
		{args: []string{"object", "--nhs", p[0], "--purpose", "research"}},
		{args: []string{"object", "--nhs", p[0], "--purpose", "research"}},
		{args: []string{"object", "--nhs", p[0], "--purpose", "fun"}},
		{args: []string{"object", "--nhs", "1234567890", "--purpose", "research"}},
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
		{args: []string{"dispatch", "add", "medway-cad"}},
		{args: []string{"dispatch", "add", "medway-cad"}},
		{args: []string{"dispatch", "add", "Medway CAD"}},
		{args: []string{"dispatch", "list", "--json"}},
		{args: []string{"dispatch", "remove", "kent-cad"}},
		{args: []string{"incident", "list"}},
		{args: []string{"incident", "open", "--id", "4711", "--address", "12 High Street", "--postcode", "me11aa", "--nhs", p[0], p[1], "--crew", "cara", "--expires", "2h"}},
		{args: []string{"incident", "open", "--id", "4712", "--address", "12 High Street", "--postcode", "ME1", "--crew", "cara"}},
		{args: []string{"incident", "open", "--id", "4712", "--address", "12 High Street", "--postcode", "ME1 1AA", "--crew", "cara,zed"}},
		{args: []string{"incident", "open", "--id", "4712", "--address", "12 High Street", "--postcode", "ME1 1AA", "--crew", "cara", "--expires", "13h"}},
		{args: []string{"incident", "open", "--id", "4712"}},
		{args: []string{"incident", "list", "--json"}},
		{args: []string{"access-log", "--nhs", p[0]}},
		{args: []string{"incident", "close", "--id", "4711"}},
		{args: []string{"incident", "close", "--id", "4711"}},
		{args: []string{"incident", "list"}},
		{args: []string{"dispatch", "remove", "medway-cad"}},
		{args: []string{"user", "disable", "--name", "cara"}},
		{args: []string{"user", "disable", "--name", "cara"}},
		{args: []string{"user", "enable", "--name", "cara"}},
		{args: []string{"org", "set", "--ods", "DEFAULT", "--dspt", "not-met"}},
		{args: []string{"org", "list"}},
		{args: []string{"import", seedDir}},
		{args: []string{"import", filepath.Join(seedDir, "absent.ndjson")}},
	}
	for _, c := range commands {
		name := strings.Join(c.args, " ")
		run := func(dir string) (int, string, string) {
			args := append(append([]string{}, c.args...), "--data-dir", dir)
			code, out, errs := runCmdIn(t, c.stdin, args...)
			out = strings.ReplaceAll(elapsed.ReplaceAllString(out, "in TIME"), dir, "DIR")
			if c.args[0] == "org" || c.args[0] == "dispatch" || c.args[0] == "incident" || c.args[0] == "access-log" {
				out = stamp.ReplaceAllString(out, "STAMP")
			}
			out = credential.ReplaceAllString(out, "CREDENTIAL")
			return code, out, strings.ReplaceAll(errs, dir, "DIR")
		}
		lc, lout, lerr := run(offline)
		rc, rout, rerr := run(serving)
		if lc != rc || lout != rout || lerr != rerr {
			t.Errorf("%s differs with a server running:\nexit %d / %d\nstdout:\n%s\n---\n%s\nstderr:\n%s\n---\n%s", name, lc, rc, lout, rout, lerr, rerr)
		}
	}
}

// TestAdminCommands_ServerNotAnswering checks a command on a store held by
// a process that does not answer on its socket says so.
func TestAdminCommands_ServerNotAnswering(t *testing.T) {
	seedDir := t.TempDir()
	if _, err := demo.Write(seedDir, demo.Options{Patients: 2, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	dir := cmdFixture(t, seedDir, []string{demo.NHSNumber(7, 0).Digits(), demo.NHSNumber(7, 1).Digits()})
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	code, _, errs := runCmd(t, "alerts", "--data-dir", dir)
	if code != 1 || !strings.Contains(errs, "the store is in use but the running server's admin socket does not answer") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

// runCmdIn is runCmd with standard input.
func runCmdIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = run(&cmdEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// TestAdminCommands_JSONKeysAndEmptyLists checks every list "--json"
// prints: snake_case keys (never Go field names) on a data directory with a
// device and an alert, and [] rather than null on a new one, both in
// process and through a running server's admin socket.
func TestAdminCommands_JSONKeysAndEmptyLists(t *testing.T) {
	seedDir := t.TempDir()
	if _, err := demo.Write(seedDir, demo.Options{Patients: 2, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	full := cmdFixture(t, seedDir, []string{demo.NHSNumber(7, 0).Digits(), demo.NHSNumber(7, 1).Digits()})
	empty := t.TempDir()
	if code, _, errs := runCmd(t, "init", "--data-dir", empty); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	if code, _, errs := runCmdIn(t, "password cara\n", "user", "add", "--data-dir", full, "--name", "cara", "--role", "paramedic", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	lists := map[string][]string{
		"device list": {"audit_seq", "host", "id", "last_seen", "registered", "revoked", "user"},
		"alerts":      {"at", "detail", "device", "id", "kind", "nhs", "seq", "user"},
		"user list":   {"active_devices", "created", "devices", "disabled", "disabled_at", "name", "role"},
	}
	for _, serving := range []bool{false, true} {
		if serving {
			serveAdmin(t, full)
			serveAdmin(t, empty)
		}
		for cmd, known := range lists {
			args := append(strings.Fields(cmd), "--json")
			code, out, errs := runCmd(t, append(args, "--data-dir", empty)...)
			if code != 0 || strings.TrimSpace(out) != "[]" {
				t.Errorf("%s on a new store (serving %v): exit %d, %q, %s; want []", cmd, serving, code, out, errs)
			}
			code, out, errs = runCmd(t, append(args, "--data-dir", full)...)
			var rows []map[string]any
			if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) == 0 {
				t.Fatalf("%s (serving %v): exit %d, %v, %s:\n%s", cmd, serving, code, err, errs, out)
			}
			for _, r := range rows {
				for k := range r {
					if !snake.MatchString(k) || !slices.Contains(known, k) {
						t.Errorf("%s (serving %v): key %q", cmd, serving, k)
					}
				}
			}
		}
	}
}
