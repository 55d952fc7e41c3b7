package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"kmcr/server"
)

func init() {
	register(&command{name: "import", summary: "import PATH...: FHIR Bundles and Bulk NDJSON, files or folders (idempotent)", run: runImport})
}

func runImport(env *cmdEnv, args []string) error {
	fs := newFlags(env, "import")
	dir := storeFlag(fs)
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("%w: kmcr-server import PATH... (files or folders of FHIR JSON or NDJSON)", errUsage)
	}
	for i, p := range paths {
		if paths[i], err = filepath.Abs(p); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stderr, "importing %d path(s)...\n", len(paths))
	return withStoreAdmin(dir, func(ctx context.Context, a server.Admin) error {
		rep, err := a.Import(ctx, paths)
		if err != nil {
			return err
		}
		printImport(env, rep)
		return nil
	})
}

func printImport(env *cmdEnv, rep *server.ImportReport) {
	w := env.stdout
	fmt.Fprintf(w, "read %d file(s), %d resource(s) in %s\n", rep.Files, rep.Resources, rep.Elapsed.Round(1e6))
	types := make([]string, 0, len(rep.ByType))
	for t := range rep.ByType {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(w, "  %-22s %d\n", t, rep.ByType[t])
	}
	fmt.Fprintf(w, "patients rebuilt: %d (%d changed, %d unchanged); %d held in total\n", rep.Patients, rep.Changed, rep.Unchanged, rep.PatientsStored)
	if rep.Sensitive > 0 {
		fmt.Fprintf(w, "items with a sensitive label, kept off laptops: %d\n", rep.Sensitive)
	}
	if rep.Restricted > 0 {
		fmt.Fprintf(w, "patients restricted, offered to no device and withdrawn from those holding them: %d\n", rep.Restricted)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if rep.RejectedTotal > 0 {
		fmt.Fprintf(w, "rejected: %d\n", rep.RejectedTotal)
		for _, r := range rep.Rejected {
			fmt.Fprintf(w, "  %s\n", r)
		}
		if n := rep.RejectedTotal - len(rep.Rejected); n > 0 {
			fmt.Fprintf(w, "  ... and %d more\n", n)
		}
	}
}
