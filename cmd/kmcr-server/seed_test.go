package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs kmcr-server with args and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(&cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// TestSeed_WritesDataSet runs the command into a new directory and checks
// the files and the summary.
func TestSeed_WritesDataSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	code, out, errs := runCmd(t, "seed", "--patients", "50", "--seed", "9", "--out", dir, "--data-dir", "ignored")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"Wrote 50 synthetic patients (seed 9, as of 2026-11-01)", "Patient.000.ndjson", "Average patient:", "patient-entered"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "Patient.000.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 50 {
		t.Fatalf("Patient.000.ndjson has %d lines, want 50", n)
	}
	if errs != "" {
		t.Errorf("a small run printed progress or warnings: %s", errs)
	}
}

// TestSeed_SameArgumentsSameBytes checks the command is deterministic,
// including the --as-of date, and that --force allows a rerun.
func TestSeed_SameArgumentsSameBytes(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if code, _, errs := runCmd(t, "seed", "--patients", "30", "--as-of", "2027-02-14", "--out", dir); code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
	}
	if code, _, errs := runCmd(t, "seed", "--patients", "30", "--as-of", "2027-02-14", "--out", b, "--force"); code != 0 {
		t.Fatalf("--force rerun: exit %d: %s", code, errs)
	}
	for _, name := range []string{"Patient.000.ndjson", "Condition.000.ndjson", "Observation.000.ndjson"} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between identical runs", name)
		}
	}
}

// TestSeed_Errors covers bad calls: usage errors exit 2, a non-empty
// directory without --force exits 1, and nothing is written.
func TestSeed_Errors(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing out", []string{"--patients", "5"}, 2, "--out DIR is required"},
		{"zero patients", []string{"--patients", "0", "--out", "OUT"}, 2, "--patients must be between 1 and 909091"},
		{"missing patients", []string{"--out", "OUT"}, 2, "--patients must be between"},
		{"too many patients", []string{"--patients", "909092", "--out", "OUT"}, 2, "--patients must be between"},
		{"not a number", []string{"--patients", "lots", "--out", "OUT"}, 2, "invalid value"},
		{"negative seed", []string{"--patients", "5", "--seed", "-1", "--out", "OUT"}, 2, "invalid value"},
		{"bad date", []string{"--patients", "5", "--as-of", "1/11/2026", "--out", "OUT"}, 2, "is not a date"},
		{"date out of range", []string{"--patients", "5", "--as-of", "1999-01-01", "--out", "OUT"}, 2, "reference date out of range"},
		{"unknown flag", []string{"--patients", "5", "--colour", "--out", "OUT"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"--patients", "5", "--out", "OUT", "extra"}, 2, "unexpected argument"},
		{"non-empty directory", []string{"--patients", "5", "--out", full}, 1, "is not empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := []string{"seed"}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "OUT", out))
			}
			code, _, errs := runCmd(t, args...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errs, tt.code, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed run created %s", out)
			}
		})
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("the refused directory now holds %d entries", len(entries))
	}
}

// TestSeed_ProgressForLargeRuns checks a run of at least seedProgressFrom
// patients reports each tenth on stderr.
func TestSeed_ProgressForLargeRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 patients")
	}
	code, _, errs := runCmd(t, "seed", "--patients", "10000", "--out", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := strings.Count(errs, "seed: "); n != 10 || !strings.Contains(errs, "100%") {
		t.Fatalf("want ten progress lines ending at 100%%, got:\n%s", errs)
	}
}
