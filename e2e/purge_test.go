package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cliView is the part of "kmcr show --json" the purge tests read.
type cliView struct {
	Objection bool
	Sensitive int
	Withheld  []struct {
		Reason  string
		Purpose string
	}
	Summary struct {
		Problems, Medications, Allergies, Encounters, Observations struct{ Items []json.RawMessage }
	}
}

func (v cliView) clinicalItems() int {
	s := v.Summary
	return len(s.Problems.Items) + len(s.Medications.Items) + len(s.Allergies.Items) + len(s.Encounters.Items) + len(s.Observations.Items)
}

func showJSON(t *testing.T, p *profile, nhs string) (cliView, string) {
	t.Helper()
	r := p.mustKmcr("show", nhs, "--json")
	var v cliView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("show --json: %v\n%s", err, r)
	}
	return v, r.stdout
}

// ndjsonLines reads one resource type's NDJSON file of a seed folder.
func ndjsonLines(t *testing.T, dir, typ string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, typ+".000.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// unlabelledCondition finds, among candidates, a patient with a Condition
// that carries no security label, and returns the NHS number and the
// Condition.
func unlabelledCondition(t *testing.T, seedDir string, candidates []string) (string, map[string]any) {
	t.Helper()
	ids := map[string]string{} // Patient id -> NHS number
	for _, p := range ndjsonLines(t, seedDir, "Patient") {
		for _, id := range p["identifier"].([]any) {
			idm := id.(map[string]any)
			if idm["system"] == "https://fhir.nhs.uk/Id/nhs-number" {
				ids[p["id"].(string)] = idm["value"].(string)
			}
		}
	}
	want := map[string]bool{}
	for _, n := range candidates {
		want[n] = true
	}
	for _, c := range ndjsonLines(t, seedDir, "Condition") {
		ref, _ := c["subject"].(map[string]any)["reference"].(string)
		nhs := ids[strings.TrimPrefix(ref, "Patient/")]
		if meta, ok := c["meta"].(map[string]any); ok && meta["security"] != nil {
			continue
		}
		if want[nhs] {
			return nhs, c
		}
	}
	t.Fatal("no candidate patient has an unlabelled Condition")
	return "", nil
}

// TestPurge_RevocationObjectionRelabelWipe guards revocation as a
// first-class message: each change on the server (caseload remove, a
// patient's objection for the user's purpose, a resource newly labelled
// sensitive, a revoked device) is honoured on the laptop after exactly one
// "kmcr sync --once", with the real programs.
func TestPurge_RevocationObjectionRelabelWipe(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 12, 5)
	caseload := d.nhs[:10]
	d.addUser("para", "paramedic", caseload...)
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")

	relabelled, cond := unlabelledCondition(t, d.seedDir, caseload[3:])
	var objector string
	for _, n := range caseload[3:] {
		if v, _ := showJSON(t, p, n); n != relabelled && v.clinicalItems() > 0 && !v.Objection {
			objector = n
			break
		}
	}
	if objector == "" {
		t.Fatal("no caseload patient with clinical items to object")
	}

	// Removed from the caseload: gone from show and search.
	{
		gone := caseload[:2]
		d.mustAdmin("caseload", "remove", "--user", "para", "--nhs", gone[0], gone[1])
		p.mustKmcr("sync", "--once")
		for _, n := range gone {
			r := p.kmcr(runOpts{}, "show", n)
			if r.code == 0 || strings.Contains(r.stdout, banner(n)) || !strings.Contains(r.stderr, "not available on this device") {
				t.Fatalf("a removed patient after one sync:\n%s", r)
			}
			if r := p.kmcr(runOpts{}, "search", n); r.code == 0 || strings.Contains(r.stdout, banner(n)[len("NHS No. "):]) {
				t.Fatalf("a removed patient is still found by search:\n%s", r)
			}
		}
		if st := p.status(); st.CachedPatients != 8 {
			t.Fatalf("%d cached after removing 2 of 10", st.CachedPatients)
		}
	}

	// An objection for the paramedic's purpose: restricted sharing, no
	// clinical item; withdrawing it brings them back.
	{
		d.mustAdmin("object", "--nhs", objector, "--purpose", "emergency-care")
		p.mustKmcr("sync", "--once")
		v, _ := showJSON(t, p, objector)
		if !v.Objection || v.clinicalItems() != 0 {
			t.Fatalf("after an objection and one sync: objection %v, %d clinical items; want restricted sharing and none", v.Objection, v.clinicalItems())
		}
		found := false
		for _, w := range v.Withheld {
			found = found || (w.Reason == "objection" && w.Purpose == "emergency-care")
		}
		if !found {
			t.Fatalf("the view does not say what was withheld and why: %+v", v.Withheld)
		}
		if r := p.mustKmcr("show", objector); !strings.Contains(r.stdout, "RESTRICTED SHARING") || !strings.Contains(r.stdout, banner(objector)) {
			t.Fatalf("show does not say restricted sharing:\n%s", r)
		}
		d.mustAdmin("withdraw", "--nhs", objector, "--purpose", "emergency-care")
		p.mustKmcr("sync", "--once")
		if v, _ := showJSON(t, p, objector); v.Objection || v.clinicalItems() == 0 {
			t.Fatalf("after withdrawing the objection and one sync: objection %v, %d clinical items", v.Objection, v.clinicalItems())
		}
	}

	// A Condition re-imported with a sensitive label: gone from the
	// cached summary, counted as withheld.
	{
		id := cond["id"].(string)
		before, raw := showJSON(t, p, relabelled)
		if !strings.Contains(raw, id) {
			t.Fatalf("the cached summary of %s does not hold Condition/%s before the relabel", relabelled, id)
		}
		meta, _ := cond["meta"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
		}
		meta["security"] = []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SEX", "display": "sexuality and reproductive health information sensitivity"}}
		cond["meta"] = meta
		line, err := json.Marshal(cond)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "Condition.relabel.ndjson"), append(line, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		imp := d.mustAdmin("import", dir)
		if !strings.Contains(imp.stdout, "1 changed") {
			t.Fatalf("re-import with a sensitive label changed nothing:\n%s", imp)
		}
		p.mustKmcr("sync", "--once")
		after, raw := showJSON(t, p, relabelled)
		if strings.Contains(raw, id) {
			t.Fatalf("after one sync the cached summary of %s still holds the relabelled Condition/%s", relabelled, id)
		}
		// At least one more: items that refer to the relabelled Condition
		// (an encounter's diagnosis, a medicine's reason) go with it.
		if after.Sensitive < before.Sensitive+1 {
			t.Fatalf("sensitive items withheld: %d before, %d after; want at least one more", before.Sensitive, after.Sensitive)
		}
	}

	// A revoked device: the next sync wipes the cache, the profile and
	// the device secret.
	{
		device := p.status().DeviceID
		d.mustAdmin("device", "revoke", device)
		r := p.kmcr(runOpts{}, "sync", "--once")
		if r.code == 0 || !strings.Contains(r.stderr, "revoked") {
			t.Fatalf("sync of a revoked device: want a non-zero exit saying so:\n%s", r)
		}
		for _, f := range []string{filepath.Join(p.dir, "cache.db"), filepath.Join(p.dir, "cache.keys"), filepath.Join(p.dir, "profile.json"), p.secret} {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Errorf("%s survived the wipe (%v)", filepath.Base(f), err)
			}
		}
		if st := p.status(); st.Enrolled || st.CachedPatients != 0 {
			t.Fatalf("status after the wipe: %+v", st)
		}
		if r := p.kmcr(runOpts{}, "show", caseload[5]); r.code == 0 || strings.Contains(r.stdout, banner(caseload[5])) {
			t.Fatalf("show after the wipe:\n%s", r)
		}
	}
}
