package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"kmcr/demo"
)

func init() {
	register(&command{name: "seed", summary: "write deterministic synthetic patients as FHIR Bulk Data NDJSON", run: runSeed})
}

// seedProgressFrom is the smallest run that reports progress: smaller ones
// finish before anyone would look.
const seedProgressFrom = 10000

func runSeed(env *cmdEnv, args []string) error {
	fs := newFlags(env, "seed")
	patients := fs.Int("patients", 0, fmt.Sprintf("how many patients to make, 1 to %d (required)", demo.MaxPatients))
	seed := fs.Uint64("seed", 1, "selects the data set: the same seed and options give the same bytes")
	out := fs.String("out", "", "directory for the NDJSON files, created if missing (required)")
	asOf := fs.String("as-of", demo.DefaultAsOf, "reference date YYYY-MM-DD: every event happens before it")
	force := fs.Bool("force", false, "write into a non-empty directory, replacing its <Type>.000.ndjson files")
	fs.String("data-dir", "", "accepted like every kmcr-server command; seed does not use it")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: kmcr-server seed --patients N --out DIR [--seed S] [--as-of YYYY-MM-DD] [--force]\n\n")
		fmt.Fprintf(w, "Writes synthetic Kent and Medway patients as FHIR R4 Bulk Data NDJSON, one file per\n")
		fmt.Fprintf(w, "resource type, for \"kmcr-server import\" and the benchmarks. Nothing in it is real:\n")
		fmt.Fprintf(w, "NHS numbers are in the 999 test range and phone numbers in Ofcom's drama ranges.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if *patients < 1 || *patients > demo.MaxPatients {
		return fmt.Errorf("%w: --patients must be between 1 and %d (the 999 test range holds that many valid NHS numbers)", errUsage, demo.MaxPatients)
	}
	if *out == "" {
		return fmt.Errorf("%w: --out DIR is required", errUsage)
	}
	ref, err := time.Parse(time.DateOnly, *asOf)
	if err != nil {
		return fmt.Errorf("%w: --as-of %q is not a date like %s", errUsage, *asOf, demo.DefaultAsOf)
	}
	if err := seedCheckOut(*out, *force); err != nil {
		return err
	}

	opts := demo.Options{Patients: *patients, Seed: *seed, AsOf: ref}
	if *patients >= seedProgressFrom {
		opts.Progress = seedProgress(env.stderr)
	}
	start := time.Now()
	stats, err := demo.Write(*out, opts)
	if err != nil {
		if errors.Is(err, demo.ErrAsOf) {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return err
	}
	seedSummary(env.stdout, *out, *seed, ref, stats, time.Since(start))
	return nil
}

// seedCheckOut refuses a non-empty output directory unless forced, so a
// typo cannot scatter files into, or replace files in, the wrong place.
func seedCheckOut(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("cannot use --out %s: %w", dir, err)
	case len(entries) > 0 && !force:
		return fmt.Errorf("%s is not empty; choose an empty or new directory, or add --force to replace its NDJSON files", dir)
	}
	return nil
}

// seedProgress returns a callback printing a line each time another tenth
// of the patients is written.
func seedProgress(w io.Writer) func(done, total int) {
	next := 1
	start := time.Now()
	return func(done, total int) {
		for next <= 10 && done*10 >= next*total {
			fmt.Fprintf(w, "seed: %3d%%  %d of %d patients  %s\n", next*10, done, total, time.Since(start).Round(100*time.Millisecond))
			next++
		}
	}
}

func seedSummary(w io.Writer, dir string, seed uint64, asOf time.Time, s *demo.Stats, took time.Duration) {
	fmt.Fprintf(w, "Wrote %d synthetic patients (seed %d, as of %s) to %s in %s (%.0f patients/s).\n",
		s.Patients, seed, asOf.Format(time.DateOnly), dir, took.Round(time.Millisecond), float64(s.Patients)/took.Seconds())
	names := make([]string, 0, len(s.Resources))
	for t := range s.Resources {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		fmt.Fprintf(w, "  %-32s %9d\n", demo.FileName(t), s.Resources[t])
	}
	fmt.Fprintf(w, "%d files, %s in all.\n", len(s.Files), seedBytes(float64(s.Bytes)))
	fmt.Fprintf(w, "Average patient: %s of JSON (smallest %s, largest %s).\n",
		seedBytes(s.AvgBytesPerPatient()), seedBytes(float64(s.SmallestPatient)), seedBytes(float64(s.LargestPatient)))
	fmt.Fprintf(w, "Allergies: %d recorded; %d patients with \"no known allergy\"; %d with no allergy record.\n",
		s.Allergies, s.NoKnownAllergy, s.AllergyUnknown)
	fmt.Fprintf(w, "Conditions %d, medicines %d, encounters %d, observations %d (%d patient-entered, from %d wearable users).\n",
		s.Conditions, s.Medications, s.Encounters, s.Observations, s.PatientEntered, s.WearableUsers)
	fmt.Fprintf(w, "Flags %d (%d DNACPR or ReSPECT), care plans %d, immunisations %d, security-labelled resources %d.\n",
		s.Flags, s.AdvanceDecisions, s.CarePlans, s.Immunizations, s.SecurityLabelled)
}

// seedBytes formats a size in binary units.
func seedBytes(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}
