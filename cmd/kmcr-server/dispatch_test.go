package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"kmcr/demo"
	"kmcr/server/store"
)

// TestIncidentCommands runs dispatch and incident commands on a data
// directory and checks what they print and store.
func TestIncidentCommands(t *testing.T) {
	seedDir := t.TempDir()
	if _, err := demo.Write(seedDir, demo.Options{Patients: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	p := []string{demo.NHSNumber(7, 0).Digits(), demo.NHSNumber(7, 1).Digits()}
	dir := cmdFixture(t, seedDir, p)
	if code, _, errs := runCmdIn(t, "password cara\n", "user", "add", "--data-dir", dir, "--name", "cara", "--role", "paramedic", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	code, out, errs := runCmd(t, "dispatch", "add", "medway-cad", "--data-dir", dir)
	cred := regexp.MustCompile(`(?m)^medway-cad\.[A-Za-z0-9_-]{43}$`).FindString(out)
	if code != 0 || cred == "" {
		t.Fatalf("dispatch add: exit %d, %q, %s; want the credential on a line of its own", code, out, errs)
	}
	if code, out, _ := runCmd(t, "dispatch", "list", "--data-dir", dir); code != 0 || !strings.Contains(out, "medway-cad") || strings.Contains(out, cred[len("medway-cad."):]) {
		t.Fatalf("dispatch list: exit %d, %q (the secret must never be listed)", code, out)
	}
	code, out, errs = runCmd(t, "incident", "open", "--id", "4711", "--address", "12 High Street", "--postcode", "me11aa",
		"--nhs", p[0], p[1], "--crew", "cara", "--expires", "90m", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "incident 4711: 2 people recorded at 12 High Street, ME1 1AA; sent ahead to cara until ") {
		t.Fatalf("incident open: exit %d, %q, %s", code, out, errs)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"incident", "open", "--id", "4712", "--address", "1 A Road", "--postcode", "ME1 1AA", "--crew", "cara,zed"}, 1, `unknown user "zed"`},
		{[]string{"incident", "open", "--id", "4712", "--address", "1 A Road", "--postcode", "nowhere", "--crew", "cara"}, 1, "not a UK postcode"},
		{[]string{"incident", "open", "--id", "4712", "--address", "1 A Road", "--postcode", "ME1 1AA", "--crew", "cara", "--expires", "24h"}, 1, "more than 12h"},
		{[]string{"incident", "open", "--id", "4712"}, 2, "are required"},
		{[]string{"incident", "close"}, 2, "--id is required"},
		{[]string{"incident", "close", "--id", "4799"}, 1, `no open incident "4799"`},
		{[]string{"dispatch", "add", "medway-cad"}, 1, "already exists"},
		{[]string{"dispatch", "remove"}, 2, "dispatch remove NAME"},
	} {
		code, _, errs := runCmd(t, append(c.args, "--data-dir", dir)...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d saying %q", c.args, code, errs, c.code, c.want)
		}
	}
	code, out, _ = runCmd(t, "incident", "list", "--json", "--data-dir", dir)
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 {
		t.Fatalf("incident list --json: exit %d, %v:\n%s", code, err, out)
	}
	if list[0]["id"] != "4711" || list[0]["postcode"] != "ME1 1AA" || list[0]["source"] != "admin" || list[0]["candidates"].(float64) != 2 {
		t.Fatalf("incident list --json: %v", list[0])
	}
	exp, err := time.Parse(time.RFC3339, list[0]["expires"].(string))
	if err != nil || time.Until(exp) > 91*time.Minute || time.Until(exp) < 80*time.Minute {
		t.Fatalf("expires %v (%v); want about 90 minutes from now", list[0]["expires"], err)
	}
	if code, out, _ := runCmd(t, "access-log", "--nhs", p[0], "--data-dir", dir); code != 0 || !strings.Contains(out, "incident-grant") || !strings.Contains(out, "incident 4711") {
		t.Fatalf("access-log lists no incident grant: %s", out)
	}
	// With a server holding the store, the command reaches it, and the
	// grant is what a session would read.
	stop := serveAdmin(t, dir)
	if code, out, errs := runCmd(t, "incident", "close", "--id", "4711", "--data-dir", dir); code != 0 || !strings.Contains(out, "incident 4711 closed") {
		t.Fatalf("incident close with a server running: exit %d, %q, %s", code, out, errs)
	}
	stop()
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok, _ := st.IncidentGrant("cara", p[0], time.Now()); ok {
		t.Fatal("a closed incident's grant still holds")
	}
	var kinds []string
	st.Changes(0, func(c store.Change) error { kinds = append(kinds, c.Kind); return nil })
	if !slices.Contains(kinds, store.ChangeIncidentEnd) {
		t.Fatalf("no incident end in the change log: %v", kinds)
	}
}
