package server

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kmcr/demo"
	"kmcr/server/store"
)

// TestImport_SpilledSpoolBuildsTheSameStore imports the same demo
// patients twice, once held in memory and once through the spool's
// temporary part files (its memory bound made tiny): every patient's
// documents, hash and version, and the change log, are the same; the
// part files are gone afterwards; and importing again changes nothing.
func TestImport_SpilledSpoolBuildsTheSameStore(t *testing.T) {
	seed := t.TempDir()
	if _, err := demo.Write(seed, demo.Options{Patients: 60, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	importInto := func(spill bool) *store.Bolt {
		st, err := store.OpenBolt(t.TempDir(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svc, err := New(Config{Store: st, Password: fastPassword, Logf: t.Logf, Now: func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		if spill {
			old := spoolMemory
			spoolMemory = 1
			defer func() { spoolMemory = old }()
		}
		rep, err := svc.Import([]string{seed}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Patients != 60 || rep.Changed != 60 || rep.RejectedTotal != 0 {
			t.Fatalf("import (spilled %v): %d patients, %d changed, rejected %v", spill, rep.Patients, rep.Changed, rep.Rejected)
		}
		if again, err := svc.Import([]string{seed}, nil); err != nil || again.Changed != 0 {
			t.Fatalf("importing again (spilled %v): %+v, %v; want nothing changed", spill, again, err)
		}
		return st
	}
	mem, spilled := importInto(false), importInto(true)
	if left, _ := filepath.Glob(filepath.Join(tmp, "kmcr-import-*")); len(left) != 0 {
		t.Fatalf("temporary staging files left behind: %v", left)
	}
	for i := range 60 {
		nhs := demo.NHSNumber(7, i).Digits()
		a, err := mem.Patient(nhs)
		if err != nil {
			t.Fatal(err)
		}
		b, err := spilled.Patient(nhs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.DocHash, b.DocHash) || a.Version != b.Version || a.Sensitive != b.Sensitive {
			t.Fatalf("patient %s: in memory %+v\nspilled %+v", nhs, a, b)
		}
		for _, kind := range []string{store.DocFull, store.DocDemographics} {
			da, errA := mem.Doc(nhs, kind)
			db, errB := spilled.Doc(nhs, kind)
			if errA != nil || errB != nil || !bytes.Equal(da, db) {
				t.Fatalf("patient %s %s document differs (%v, %v)", nhs, kind, errA, errB)
			}
		}
	}
	var ca, cb []store.Change
	_ = mem.Changes(0, func(c store.Change) error { ca = append(ca, c); return nil })
	_ = spilled.Changes(0, func(c store.Change) error { cb = append(cb, c); return nil })
	if len(ca) != 60 || len(cb) != len(ca) {
		t.Fatalf("change logs: %d and %d entries; want 60 each", len(ca), len(cb))
	}
	for i := range ca {
		if ca[i].Seq != cb[i].Seq || ca[i].NHS != cb[i].NHS || ca[i].Kind != cb[i].Kind {
			t.Fatalf("change %d: %+v against %+v", i, ca[i], cb[i])
		}
	}
	_ = os.Remove(tmp)
}
