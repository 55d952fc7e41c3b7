package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"kmcr/record"
	"kmcr/server"
)

func init() {
	register(&command{name: "user", summary: "user add --name U --role ROLE [--org CODE] --password-stdin | list [--json] | disable --name U | enable --name U | password --name U --password-stdin", run: runUser})
	register(&command{name: "caseload", summary: "caseload add|remove --user U --nhs N [N...]", run: runCaseload})
	register(&command{name: "object", summary: "object --nhs N --purpose P: record a patient's objection", run: func(env *cmdEnv, args []string) error { return runObjection(env, args, true) }})
	register(&command{name: "withdraw", summary: "withdraw --nhs N --purpose P: withdraw an objection", run: func(env *cmdEnv, args []string) error { return runObjection(env, args, false) }})
	register(&command{name: "device", summary: "device list [--json] | device revoke ID", run: runDevice})
}

// readPassword reads one line from stdin (--password-stdin) or prompts
// twice on a terminal.
func readPassword(env *cmdEnv, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(env.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := env.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("%w: give the password on standard input with --password-stdin", errUsage)
	}
	fmt.Fprint(env.stderr, "Password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(env.stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(env.stderr, "Again: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(env.stderr)
	if err != nil {
		return "", err
	}
	if string(a) != string(b) {
		return "", errors.New("the passwords do not match")
	}
	return string(a), nil
}

const userUsage = "kmcr-server user add --name U --role paramedic|community|frontdesk|privacy-officer|admin [--org CODE] --password-stdin | user list [--json] | user disable --name U | user enable --name U | user password --name U --password-stdin"

func runUser(env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, userUsage)
	}
	switch args[0] {
	case "add":
		return runUserAdd(env, args[1:])
	case "list":
		return runUserList(env, args[1:])
	case "disable", "enable":
		return runUserState(env, args[0], args[1:])
	case "password":
		return runUserPassword(env, args[1:])
	}
	return fmt.Errorf("%w: %s", errUsage, userUsage)
}

func runUserAdd(env *cmdEnv, args []string) error {
	fs := newFlags(env, "user add")
	dir := storeFlag(fs)
	name := fs.String("name", "", "user name")
	role := fs.String("role", "", "paramedic, community, frontdesk, privacy-officer or admin")
	org := fs.String("org", "", "the ODS code of the user's organisation (see org list; default "+server.DefaultOrg.ODS+")")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || *role == "" {
		return fmt.Errorf("%w: --name and --role are required", errUsage)
	}
	pw, err := readPassword(env, *stdin)
	if err != nil {
		return err
	}
	return withStoreAdmin(dir, func(ctx context.Context, a server.Admin) error {
		if err := a.UserAdd(ctx, server.UserAddArgs{Name: *name, Role: *role, Password: pw, Org: *org}); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "added user %s (%s)\n", *name, *role)
		return nil
	})
}

func runUserList(env *cmdEnv, args []string) error {
	fs := newFlags(env, "user list")
	dir := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return withAdmin(*dir, func(ctx context.Context, a server.Admin) error {
		us, err := a.UserList(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printList(env.stdout, us)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tROLE\tCREATED\tDEVICES\tACTIVE\tSTATE")
		for _, u := range us {
			state := "enabled"
			if u.Disabled {
				state = "disabled " + u.DisabledAt.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", u.Name, u.Role, u.Created.Format("2006-01-02 15:04"), u.Devices, u.Active, state)
		}
		return tw.Flush()
	})
}

func runUserState(env *cmdEnv, verb string, args []string) error {
	fs := newFlags(env, "user "+verb)
	dir := dataDirFlag(fs)
	name := fs.String("name", "", "user name")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("%w: --name is required", errUsage)
	}
	return withAdmin(*dir, func(ctx context.Context, a server.Admin) error {
		if verb == "enable" {
			if err := a.UserEnable(ctx, *name); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "enabled user %s: they may log in and enrol again (devices revoked while disabled stay revoked)\n", *name)
			return nil
		}
		res, err := a.UserDisable(ctx, *name)
		if err != nil {
			return err
		}
		already := ""
		if res.AlreadyDisabled {
			already = " (already disabled)"
		}
		fmt.Fprintf(env.stdout, "disabled user %s%s: %d device(s) revoked, %d open session(s) ended; every device wipes its local data at its next contact, and new logins and enrolments are refused\n",
			*name, already, res.DevicesRevoked, res.SessionsEnded)
		return nil
	})
}

func runUserPassword(env *cmdEnv, args []string) error {
	fs := newFlags(env, "user password")
	dir := dataDirFlag(fs)
	name := fs.String("name", "", "user name")
	stdin := fs.Bool("password-stdin", false, "read the new password from standard input")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("%w: --name is required", errUsage)
	}
	pw, err := readPassword(env, *stdin)
	if err != nil {
		return err
	}
	return withAdmin(*dir, func(ctx context.Context, a server.Admin) error {
		if err := a.UserPassword(ctx, server.UserPasswordArgs{Name: *name, Password: pw}); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "set the password of %s: every device of theirs must log in again\n", *name)
		return nil
	})
}

func runCaseload(env *cmdEnv, args []string) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "remove") {
		return fmt.Errorf("%w: kmcr-server caseload add|remove --user U --nhs N [N...]", errUsage)
	}
	verb := args[0]
	fs := newFlags(env, "caseload "+verb)
	dir := storeFlag(fs)
	user := fs.String("user", "", "user name")
	first := fs.String("nhs", "", "NHS numbers (several may follow the flag)")
	rest, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	var nhs []string
	if *first != "" {
		nhs = append(nhs, *first)
	}
	nhs = append(nhs, rest...)
	if *user == "" || len(nhs) == 0 {
		return fmt.Errorf("%w: --user and at least one --nhs number are required", errUsage)
	}
	change, done := server.Admin.CaseloadAdd, "added to"
	if verb == "remove" {
		change, done = server.Admin.CaseloadRemove, "removed from"
	}
	return withStoreAdmin(dir, func(ctx context.Context, a server.Admin) error {
		res, err := change(a, ctx, server.NHSListArgs{User: *user, NHS: nhs})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%d %s %s's caseload", len(res.Changed), done, *user)
		if len(res.Unchanged) > 0 {
			fmt.Fprintf(env.stdout, " (%d already so)", len(res.Unchanged))
		}
		fmt.Fprintln(env.stdout)
		for _, r := range res.Refused {
			fmt.Fprintf(env.stderr, "refused: %s\n", r)
		}
		if len(res.Refused) > 0 {
			return fmt.Errorf("%d NHS number(s) refused", len(res.Refused))
		}
		return nil
	})
}

func runObjection(env *cmdEnv, args []string, on bool) error {
	name := "object"
	if !on {
		name = "withdraw"
	}
	fs := newFlags(env, name)
	dir := storeFlag(fs)
	nhs := fs.String("nhs", "", "the patient's NHS number")
	purpose := fs.String("purpose", "", "emergency-care, direct-care, administration, research or planning")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *nhs == "" || *purpose == "" {
		return fmt.Errorf("%w: --nhs and --purpose are required", errUsage)
	}
	change := server.Admin.Object
	if !on {
		change = server.Admin.Withdraw
	}
	return withStoreAdmin(dir, func(ctx context.Context, a server.Admin) error {
		changed, err := change(a, ctx, server.ObjectionArgs{NHS: *nhs, Purpose: *purpose})
		if err != nil {
			return err
		}
		n, _ := record.ParseNHSNumber(*nhs)
		switch {
		case on && changed:
			fmt.Fprintf(env.stdout, "recorded: %s objects to sharing for %s\n", n, *purpose)
		case on:
			fmt.Fprintf(env.stdout, "already recorded: %s objects to sharing for %s\n", n, *purpose)
		case changed:
			fmt.Fprintf(env.stdout, "withdrawn: %s no longer objects to sharing for %s\n", n, *purpose)
		default:
			fmt.Fprintf(env.stdout, "nothing to withdraw: %s had no objection for %s\n", n, *purpose)
		}
		return nil
	})
}

func runDevice(env *cmdEnv, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "revoke") {
		return fmt.Errorf("%w: kmcr-server device list [--json] | device revoke ID", errUsage)
	}
	fs := newFlags(env, "device "+args[0])
	dir := storeFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	return withStoreAdmin(dir, func(ctx context.Context, a server.Admin) error {
		if args[0] == "revoke" {
			if len(pos) != 1 {
				return fmt.Errorf("%w: kmcr-server device revoke ID", errUsage)
			}
			if err := a.DeviceRevoke(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "revoked device %s: it will wipe its local data at its next connection\n", pos[0])
			return nil
		}
		ds, err := a.DeviceList(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printList(env.stdout, ds)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEVICE\tUSER\tHOST\tREGISTERED\tLAST SEEN\tAUDIT SEQ\tSTATE")
		for _, d := range ds {
			state := "active"
			if d.Revoked {
				state = "revoked"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.User, d.Host, d.Registered.Format("2006-01-02 15:04"), d.LastSeen.Format("2006-01-02 15:04"), d.AuditSeq, state)
		}
		return tw.Flush()
	})
}
