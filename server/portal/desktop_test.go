package portal_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmcr/cache"
	"kmcr/core"
	"kmcr/internal/memsecrets"
	"kmcr/server"
	"kmcr/sync/syncclient"
)

// desktop is a real desktop client core (its encrypted cache in a
// temporary folder) enrolled against the rig's server as a paramedic.
type desktop struct {
	t    *testing.T
	c    *core.Core
	user string
}

const desktopPassword = "a long paramedic password"

// desktop enrols a paramedic of org (ODS) with nhs in their caseload and
// runs the first sync.
func (r *rig) desktop(user, org string, nhs ...string) *desktop {
	r.t.Helper()
	t := r.t
	ctx := context.Background()
	adm := server.LocalAdmin(r.svc)
	if err := adm.UserAdd(ctx, server.UserAddArgs{Name: user, Role: "paramedic", Password: desktopPassword, Org: org}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CaseloadAdd(ctx, server.NHSListArgs{User: user, NHS: nhs}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := core.Open(core.Config{DataDir: filepath.Join(dir, "profile"), Secrets: memsecrets.New(), KDF: cache.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1},
		SyncTweak: func(cfg *syncclient.Config) {
			cfg.Backoff = syncclient.Backoff{Base: 50 * time.Millisecond, Cap: 500 * time.Millisecond, StableAfter: 5 * time.Second}
		}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ectx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.Enrol(ectx, core.EnrolRequest{Server: "wss://" + strings.TrimPrefix(r.srv.URL, "https://"), CAFile: ca, User: user, Password: desktopPassword,
		Passphrase: []byte("a desktop passphrase for tests"), Host: "ambulance-7"}, nil); err != nil {
		t.Fatalf("enrolling the desktop client: %v", err)
	}
	return &desktop{t: t, c: c, user: user}
}

// syncOnce runs one sync to up to date.
func (d *desktop) syncOnce() {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.c.SyncOnce(ctx, nil); err != nil {
		d.t.Fatalf("sync: %v", err)
	}
}

// serve keeps the client connected (live changes) until the test ends.
func (d *desktop) serve() {
	d.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.c.ServeSync(ctx) }()
	d.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			d.t.Error("the desktop client's sync did not stop")
		}
	})
}

// open opens the patient from the cache (an audited view, as a screen
// does).
func (d *desktop) open(nhs string) *core.PatientView {
	d.t.Helper()
	v, err := d.c.OpenPatient(nhs, nil)
	if err != nil {
		d.t.Fatalf("opening %s from the cache: %v", nhs, err)
	}
	return v
}

// clinicalItems counts what the cache holds of the clinical sections.
func clinicalItems(v *core.PatientView) int {
	s := v.Summary
	return len(s.Alerts.Items) + len(s.Allergies.Items) + len(s.Medications.Items) + len(s.Problems.Items) + len(s.Encounters.Items) +
		len(s.Observations.Items) + len(s.CarePlans.Items) + len(s.Immunizations.Items)
}

// patientEntered returns the patient-entered readings of a view, as
// "name value".
func patientEntered(v *core.PatientView) []string {
	var out []string
	for _, o := range v.Summary.Observations.Items {
		if o.PatientEntered {
			out = append(out, fmt.Sprintf("%s %s", o.Name, o.Value))
		}
	}
	return out
}

// waitFor polls ok until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}
