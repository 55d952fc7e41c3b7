package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"kmcr/record"
	"kmcr/server"
)

func init() {
	register(&command{name: "access-log", summary: "access-log --nhs N [--json]: who viewed a patient's record, when, from where and why", run: runAccessLog})
	register(&command{name: "alerts", summary: "alerts [--json]: break-glass, denial and audit chain alerts", run: runAlerts})
	register(&command{name: "audit", summary: "audit verify: re-check every device's audit chain (non-zero exit if any is broken)", run: runAudit})
}

func runAccessLog(env *cmdEnv, args []string) error {
	fs := newFlags(env, "access-log")
	dir := storeFlag(fs)
	nhs := fs.String("nhs", "", "the patient's NHS number")
	asJSON := fs.Bool("json", false, "print a FHIR Bundle of AuditEvent resources")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *nhs == "" {
		return fmt.Errorf("%w: --nhs is required", errUsage)
	}
	n, err := record.ParseNHSNumber(*nhs)
	if err != nil {
		return err
	}
	return withStoreAdmin(dir, func(ctx context.Context, a server.Admin) error {
		res, err := a.AccessLog(ctx, n.Digits())
		if err != nil {
			return err
		}
		if *asJSON {
			_, err := fmt.Fprintf(env.stdout, "%s\n", res.FHIR)
			return err
		}
		fmt.Fprintf(env.stdout, "Access to the record of NHS No. %s: %d event(s)\n\n", n, len(res.Entries))
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OCCURRED (UTC)\tRECORDED (UTC)\tUSER\tROLE\tDEVICE\tACTION\tSHOWN\tWHY\tOUTCOME")
		for _, s := range res.Entries {
			e := s.Event
			why := e.Purpose
			if e.BreakGlass != nil {
				why = fmt.Sprintf("BREAK-GLASS %s: %s", e.BreakGlass.ReasonCode, e.BreakGlass.ReasonText)
			}
			shown := strings.Join(e.Sections, ",")
			if shown == "" {
				shown = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\t%s\t%s\t%s\t%s\n",
				e.Occurred.UTC().Format("2006-01-02 15:04:05"), s.Recorded.UTC().Format("2006-01-02 15:04:05"),
				e.User.Name, e.User.Role, s.DeviceID, e.Device.Host, e.Action, shown, why, e.Outcome.Result)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(res.Grants) > 0 {
			fmt.Fprintf(env.stdout, "\nAccess granted by the record (break-glass and dispatch incidents): %d\n\n", len(res.Grants))
			tw = tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GRANTED (UTC)\tUSER\tKIND\tDETAIL")
			for _, g := range res.Grants {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.At.UTC().Format("2006-01-02 15:04:05"), g.User, g.Kind, g.Detail)
			}
		}
		return tw.Flush()
	})
}

func runAlerts(env *cmdEnv, args []string) error {
	fs := newFlags(env, "alerts")
	dir := storeFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return withStoreAdmin(dir, func(ctx context.Context, a server.Admin) error {
		alerts, err := a.Alerts(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printList(env.stdout, alerts)
		}
		if len(alerts) == 0 {
			fmt.Fprintln(env.stdout, "no alerts")
			return nil
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tAT (UTC)\tKIND\tUSER\tDEVICE\tNHS\tDETAIL")
		for _, al := range alerts {
			nhs := al.NHS
			if n, err := record.ParseNHSNumber(nhs); err == nil {
				nhs = n.String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", al.ID, al.At.UTC().Format("2006-01-02 15:04:05"), al.Kind, al.User, al.Device, nhs, al.Detail)
		}
		return tw.Flush()
	})
}

func runAudit(env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("%w: kmcr-server audit verify", errUsage)
	}
	fs := newFlags(env, "audit verify")
	dir := storeFlag(fs)
	if _, err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	return withStoreAdmin(dir, func(ctx context.Context, a server.Admin) error {
		res, err := a.AuditVerify(ctx)
		if err != nil {
			return err
		}
		for _, d := range res.Devices {
			state := "ok"
			if len(d.Problems) > 0 {
				state = "BROKEN"
			}
			fmt.Fprintf(env.stdout, "device %s (%s): %d events through sequence %d: %s\n", d.Device, d.User, d.Events, d.LastSeq, state)
			for _, p := range d.Problems {
				fmt.Fprintf(env.stdout, "  %s\n", p)
			}
		}
		if res.Broken {
			return errors.New("at least one device's audit chain is broken (see above and kmcr-server alerts)")
		}
		fmt.Fprintf(env.stdout, "%d device chain(s) verified\n", len(res.Devices))
		return nil
	})
}
