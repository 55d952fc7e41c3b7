package record

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedFHIR returns the path of the public FHIR test data, which lives
// beside the repository in ../shared/fhir, joined with sub. It skips the
// test when the folder is absent, as on a machine with only the repository.
func sharedFHIR(tb testing.TB, sub ...string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("no go.mod above the test directory, so ../shared/fhir cannot be located")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared", "fhir"}, sub...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("public FHIR test data not found (expected at ../shared/fhir beside the repository): %v", err)
	}
	return p
}

// writeFile writes content to name in dir and returns its path.
func writeFile(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// mustReadPaths reads paths with ReadPaths, failing the test on error.
func mustReadPaths(tb testing.TB, paths ...string) *Import {
	tb.Helper()
	imp, err := ReadPaths(paths...)
	if err != nil {
		tb.Fatalf("ReadPaths(%v): %v", paths, err)
	}
	return imp
}

// mustPatient returns the record with the given key or NHS number.
func mustPatient(tb testing.TB, imp *Import, keyOrNHS string) *PatientRecord {
	tb.Helper()
	p := imp.Patient(keyOrNHS)
	if p == nil {
		var keys []string
		for _, q := range imp.Patients {
			keys = append(keys, q.Key)
		}
		tb.Fatalf("no patient %s; have %v", keyOrNHS, keys)
	}
	return p
}

// scanAll runs Scan over paths and collects the items.
func scanAll(tb testing.TB, paths ...string) ([]Item, *Report) {
	tb.Helper()
	var items []Item
	rep, err := Scan(paths, func(it Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		tb.Fatalf("Scan: %v", err)
	}
	return items, rep
}
