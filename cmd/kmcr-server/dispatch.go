package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"kmcr/server"
)

func init() {
	register(&command{name: "dispatch", summary: "dispatch add NAME | dispatch list [--json] | dispatch remove NAME: dispatch systems' credentials for the incident API", run: runDispatch})
	register(&command{name: "incident", summary: "incident open --id ID --address LINE --postcode PC [--nhs N ...] --crew U[,U...] [--expires 4h] | incident close --id ID | incident list [--json]", run: runIncident})
}

const dispatchUsage = "kmcr-server dispatch add NAME | dispatch list [--json] | dispatch remove NAME"

func runDispatch(env *cmdEnv, args []string) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list" && args[0] != "remove") {
		return fmt.Errorf("%w: %s", errUsage, dispatchUsage)
	}
	verb := args[0]
	fs := newFlags(env, "dispatch "+verb)
	f := storeFlag(fs)
	var asJSON *bool
	if verb == "list" {
		asJSON = fs.Bool("json", false, "print JSON")
	}
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case verb == "list" && len(pos) > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	case verb != "list" && len(pos) != 1:
		return fmt.Errorf("%w: kmcr-server dispatch %s NAME", errUsage, verb)
	}
	return withStoreAdmin(f, func(ctx context.Context, a server.Admin) error {
		switch verb {
		case "add":
			res, err := a.DispatchAdd(ctx, pos[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "added dispatch system %s; its credential, shown only now (send it as \"Authorization: Bearer CREDENTIAL\"):\n%s\n", res.Name, res.Credential)
			return nil
		case "remove":
			if err := a.DispatchRemove(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "removed dispatch system %s: its credential no longer works\n", pos[0])
			return nil
		}
		ds, err := a.DispatchList(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printList(env.stdout, ds)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tADDED (UTC)")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\n", d.Name, d.Created.UTC().Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	})
}

const incidentUsage = "kmcr-server incident open --id ID --address LINE --postcode PC [--nhs N ...] --crew U[,U...] [--expires 4h] | incident close --id ID | incident list [--json]"

// multiFlag collects a flag given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runIncident(env *cmdEnv, args []string) error {
	if len(args) == 0 || (args[0] != "open" && args[0] != "close" && args[0] != "list") {
		return fmt.Errorf("%w: %s", errUsage, incidentUsage)
	}
	verb := args[0]
	fs := newFlags(env, "incident "+verb)
	f := storeFlag(fs)
	var id, line, pc, crew, expires *string
	var asJSON *bool
	var nhs multiFlag
	switch verb {
	case "open":
		id = fs.String("id", "", "the dispatch system's incident id")
		line = fs.String("address", "", "the first line of the address")
		pc = fs.String("postcode", "", "the postcode")
		fs.Var(&nhs, "nhs", "an NHS number the caller gave (repeat the flag, or list several after it)")
		crew = fs.String("crew", "", "the crew's user names, comma-separated")
		expires = fs.String("expires", "", "how long the incident lasts (4h, 90m) or when it ends (RFC 3339); default 4h, at most 12h")
	case "close":
		id = fs.String("id", "", "the incident id")
	case "list":
		asJSON = fs.Bool("json", false, "print JSON")
	}
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if verb == "open" && len(nhs) > 0 {
		nhs, pos = append(nhs, pos...), nil // "--nhs N N N", as caseload add takes them
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	switch {
	case verb == "open" && (*id == "" || *line == "" || *pc == "" || *crew == ""):
		return fmt.Errorf("%w: --id, --address, --postcode and --crew are required", errUsage)
	case verb == "close" && *id == "":
		return fmt.Errorf("%w: --id is required", errUsage)
	}
	return withStoreAdmin(f, func(ctx context.Context, a server.Admin) error {
		switch verb {
		case "open":
			in, err := a.IncidentOpen(ctx, server.IncidentArgs{ID: *id, Line: *line, Postcode: *pc, NHS: nhs,
				Crew: strings.Split(*crew, ","), Expires: *expires})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "incident %s: %d people recorded at %s, %s; sent ahead to %s until %s UTC\n",
				in.ID, in.Candidates, in.Address, in.Postcode, strings.Join(in.Crew, ", "), in.Expires.UTC().Format("2006-01-02 15:04"))
			return nil
		case "close":
			in, err := a.IncidentClose(ctx, *id)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "incident %s closed: its %d summaries leave the crew's devices unless another relationship holds them\n", in.ID, in.Candidates)
			return nil
		}
		ins, err := a.IncidentList(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printList(env.stdout, ins)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSOURCE\tADDRESS\tPOSTCODE\tCREW\tPEOPLE\tEXPIRES (UTC)")
		for _, in := range ins {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", in.ID, in.Source, in.Address, in.Postcode, strings.Join(in.Crew, ","), in.Candidates, in.Expires.UTC().Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	})
}

var _ flag.Value = (*multiFlag)(nil)
