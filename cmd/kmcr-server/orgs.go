package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"kmcr/server"
)

func init() {
	register(&command{name: "org", summary: "org add --ods CODE --name NAME --kind KIND | org list [--json] | org set --ods CODE --dspt met|not-met", run: runOrg})
}

const orgUsage = "kmcr-server org add --ods CODE --name NAME --kind " + "ambulance|gp|acute|community|social-care [--dspt met|not-met] | org list [--json] | org set --ods CODE --dspt met|not-met"

func runOrg(env *cmdEnv, args []string) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list" && args[0] != "set") {
		return fmt.Errorf("%w: %s", errUsage, orgUsage)
	}
	verb := args[0]
	fs := newFlags(env, "org "+verb)
	dir := dataDirFlag(fs)
	var ods, name, kind, dspt *string
	var asJSON *bool
	switch verb {
	case "add":
		ods = fs.String("ods", "", "the organisation's ODS code")
		name = fs.String("name", "", "the organisation's name")
		kind = fs.String("kind", "", strings.Join(server.OrgKinds, ", "))
		dspt = fs.String("dspt", "", "its Data Security and Protection Toolkit status, met or not-met (default not-met until shown)")
	case "set":
		ods = fs.String("ods", "", "the organisation's ODS code")
		dspt = fs.String("dspt", "", "its Data Security and Protection Toolkit status: met or not-met")
	case "list":
		asJSON = fs.Bool("json", false, "print JSON")
	}
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	switch {
	case verb == "add" && (*ods == "" || *name == "" || *kind == ""):
		return fmt.Errorf("%w: --ods, --name and --kind are required", errUsage)
	case verb == "set" && (*ods == "" || *dspt == ""):
		return fmt.Errorf("%w: --ods and --dspt are required", errUsage)
	}
	return withAdmin(*dir, func(ctx context.Context, a server.Admin) error {
		switch verb {
		case "add":
			if err := a.OrgAdd(ctx, server.OrgAddArgs{ODS: *ods, Name: *name, Kind: *kind, DSPT: *dspt}); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "added organisation %s (%s, %s)\n", strings.ToUpper(*ods), *name, *kind)
			return nil
		case "set":
			res, err := a.OrgSet(ctx, server.OrgSetArgs{ODS: *ods, DSPT: *dspt})
			if err != nil {
				return err
			}
			if res.Changed {
				fmt.Fprintf(env.stdout, "organisation %s: Data Security and Protection Toolkit %s\n", res.Org.ODS, res.Org.DSPT)
			} else {
				fmt.Fprintf(env.stdout, "organisation %s: already %s\n", res.Org.ODS, res.Org.DSPT)
			}
			if res.Org.DSPT == server.DSPTNotMet {
				fmt.Fprintf(env.stdout, "its users cannot log in or enrol; %d device(s) revoked, each wipes its cache at its next sync\n", len(res.Revoked))
			}
			return nil
		}
		orgs, err := a.OrgList(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(orgs)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ODS\tNAME\tKIND\tDSPT\tSINCE")
		for _, o := range orgs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.ODS, o.Name, o.Kind, o.DSPT, o.Updated.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	})
}
