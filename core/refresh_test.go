package core

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmcr/audit"
)

// TestCore_Refreshed_NewerVersionAndLaterAsOf checks what an open
// summary is refreshed with: nothing while nothing changed; the newer
// version, read and audited afresh, once a sync applied one; and the same
// content with a later "as of" once the cache was only confirmed current
// since.
func TestCore_Refreshed_NewerVersionAndLaterAsOf(t *testing.T) {
	ts := startServer(t, 3)
	ts.addUser("amy", "paramedic", ts.nhs...)
	c, _ := enrolled(t, ts, "amy")
	serveSync(t, c)
	waitFor(t, func() bool { return strings.HasPrefix(c.Status().Connection, "up to date") })
	v, err := c.OpenPatient(ts.nhs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, changed, err := c.Refreshed(v); changed || err != nil {
		t.Fatalf("Refreshed with nothing new = %v, %v", changed, err)
	}

	// The cache confirmed current later: the same version, a later as-of.
	older := *v
	older.AsOf = v.AsOf.Add(-time.Hour)
	nv, changed, err := c.Refreshed(&older)
	if err != nil || !changed || nv.Version != v.Version || !nv.AsOf.Equal(v.AsOf) || !nv.Summary.AsOf.Equal(v.AsOf) {
		t.Fatalf("Refreshed of an older as-of = %+v, %v, %v", nv, changed, err)
	}

	keys, err := ts.st.PatientKeys(ts.nhs[0])
	if err != nil || len(keys) == 0 {
		t.Fatal(keys, err)
	}
	dir := t.TempDir()
	cond := fmt.Sprintf(`{"resourceType":"Condition","id":"refresh-core","subject":{"reference":%q},"code":{"text":"Refreshed condition"}}`, keys[0])
	if err := os.WriteFile(filepath.Join(dir, "Condition.000.ndjson"), []byte(cond+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.svc.Import([]string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		nv, changed, err = c.Refreshed(v)
		return err == nil && changed
	})
	if nv.Version <= v.Version {
		t.Fatalf("refreshed to version %d from %d", nv.Version, v.Version)
	}
	found := false
	for _, p := range nv.Summary.Problems.Items {
		if strings.Contains(p.Name, "Refreshed condition") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the refreshed view lacks the new problem: %+v", nv.Summary.Problems.Items)
	}
	// Two views reach the server: the open, and the newer version; the
	// as-of refresh showed the same content and recorded nothing.
	views := func() int {
		log, _ := ts.svc.AccessLog(ts.nhs[0])
		n := 0
		for _, e := range log {
			if e.Event.Action == audit.ActionView {
				n++
			}
		}
		return n
	}
	waitFor(t, func() bool { return views() >= 2 })
	time.Sleep(300 * time.Millisecond)
	if n := views(); n != 2 {
		t.Fatalf("%d views recorded; want 2 (the open and the newer version)", n)
	}
}
