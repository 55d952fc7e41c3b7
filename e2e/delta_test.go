package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmcr/demo"
)

// importObservation imports one new heart-rate reading for demo patient i
// of the server's seed.
func importObservation(t *testing.T, srv *inprocServer, i, value int) {
	t.Helper()
	line := fmt.Sprintf(`{"resourceType":"Observation","id":"obs-e2e-%d-%d","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/%s"},"effectiveDateTime":"%s","valueQuantity":{"value":%d,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}`,
		i, value, demo.PatientID(srv.seed, i), time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), value)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Observation.e2e.ndjson"), []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := srv.svc.Import([]string{dir}, nil)
	if err != nil || rep.Changed != 1 {
		t.Fatalf("import: %v, changed %d (rejected %v)", err, rep.Changed, rep.Rejected)
	}
}

// TestDelta_CoreRebuildsChangedSummary runs the real client core against
// an in-process server: after the first sync, a new observation reaches the
// cache as a delta the core rebuilds from the document it holds, checks
// against the hash, and stores; the summary then shows the reading.
func TestDelta_CoreRebuildsChangedSummary(t *testing.T) {
	srv := newInprocServer(t, inprocOpts{patients: 12, seed: 31, timeouts: shortTimeouts})
	srv.addUser("para", "paramedic", srv.nhs[:6]...)
	p := newProfile(t)
	c := enrolCore(t, p, srv.url(), srv.ca, "para", coreOpts{}, srv.logs.prefixed("client: "))
	importObservation(t, srv, 2, 131)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.SyncOnce(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if l := c.Status().Link; l == nil || l.Compression != "zstd.d1" || l.Connected || l.LastContact.IsZero() {
		t.Fatalf("status link after the session ended: %+v", l)
	}
	v, err := c.OpenPatient(srv.nhs[2], nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range v.Summary.Observations.Items {
		if o.Quantity != nil && o.Quantity.Value == 131 && o.Code.Code == "8867-4" {
			found = true
		}
	}
	if !found {
		t.Fatal("the new observation is not in the cached summary")
	}
	srv.logs.mu.Lock()
	logs := strings.Join(srv.logs.lines, "\n")
	srv.logs.mu.Unlock()
	if !strings.Contains(logs, "sent 1 deltas") || !strings.Contains(logs, `compression "zstd.d1"`) {
		t.Fatalf("the change did not travel as a compressed delta; server said:\n%s", logs)
	}
}
