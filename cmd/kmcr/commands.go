package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"kmcr/core"
	"kmcr/present"
	"kmcr/record"
)

func init() {
	register(&command{name: "enrol", usage: "enrol --server wss://HOST:PORT [--server wss://HOST2:PORT ...] --ca FILE --user U [--password-stdin] [--passphrase-stdin] [--device-secret-file FILE]",
		summary: "log in, register this device, create the encrypted cache and run the first sync", run: runEnrol})
	register(&command{name: "sync", usage: "sync [--once] [--passphrase-stdin]",
		summary: "keep the cache in sync (--once: until up to date and the audit queue is delivered)", run: runSync})
	register(&command{name: "status", usage: "status [--json] [--passphrase-stdin]",
		summary: "user, connection, cached patients, leases and pending audit events", run: runStatus})
	register(&command{name: "lock", usage: "lock", summary: "lock a running kmcr (window or sync) now", run: runLock})
	register(&command{name: "wipe", usage: "wipe [--yes] [--passphrase-stdin]", summary: "destroy every key and all local data of this profile", run: runWipe})
}

// progressLine prints sync progress on one terminal line.
type progressLine struct {
	e     *env
	start time.Time
	last  string
}

func (p *progressLine) update(s core.SyncState) {
	line := s.String()
	if s.Kind == core.SyncSyncing && s.Total > 0 {
		pct := 100 * s.Done / s.Total
		line = fmt.Sprintf("syncing %d of %d (%d%%), %s", s.Done, s.Total, pct, time.Since(p.start).Round(100*time.Millisecond))
	}
	if line == p.last {
		return
	}
	p.last = line
	if _, tty := p.e.terminal(); tty {
		fmt.Fprintf(p.e.stderr, "\r\033[K%s", line)
		return
	}
	if s.Kind != core.SyncSyncing || s.Done == s.Total || s.Done%1000 < 256 {
		fmt.Fprintln(p.e.stderr, line)
	}
}

func (p *progressLine) done() {
	if _, tty := p.e.terminal(); tty && p.last != "" {
		fmt.Fprintln(p.e.stderr)
	}
}

func runEnrol(e *env, args []string) error {
	fs := newFlags(e, "enrol")
	var servers []string
	fs.Func("server", "the sync server, wss://HOST:PORT; repeat it (or separate with commas) for each node of a central record with several", func(v string) error {
		servers = append(servers, core.SplitServers(v)...)
		return nil
	})
	ca := fs.String("ca", "", "the server's CA certificate file (from kmcr-server init)")
	user := fs.String("user", "", "your user name")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	ppStdin := fs.Bool("passphrase-stdin", false, "read the new cache passphrase from standard input (after the password, if both)")
	secretFile := fs.String("device-secret-file", "", "keep the device secret in this file instead of the OS keyring (for machines without one; see the README)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(servers) == 0 || *ca == "" || *user == "" {
		return fmt.Errorf("%w: --server, --ca and --user are required", errUsage)
	}
	var pw string
	var err error
	if *pwStdin {
		pw, err = e.input.line()
	} else {
		pw, err = e.prompt("password")
	}
	if err != nil {
		return err
	}
	pp, err := e.passphrase(*ppStdin, true)
	if err != nil {
		return err
	}
	if hint, ok := core.PassphraseHint(string(pp)); !ok {
		return errors.New(hint)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p := &progressLine{e: e, start: time.Now()}
	err = e.core.Enrol(ctx, core.EnrolRequest{Servers: servers, CAFile: *ca, User: *user, Password: pw, Passphrase: pp, DeviceSecretFile: *secretFile}, p.update)
	p.done()
	if err != nil {
		return err
	}
	st := e.core.Status()
	fmt.Fprintf(e.stdout, "enrolled %s (%s) on device %s; %d patient(s) cached, up to date as of %s\n",
		st.User, st.Role, st.DeviceID, st.CachedPatients, st.LastUpToDate.Local().Format("02-Jan-2006 15:04:05"))
	return nil
}

func runSync(e *env, args []string) error {
	fs := newFlags(e, "sync")
	once := fs.Bool("once", false, "exit 0 when up to date and the audit queue is delivered; non-zero with the reason otherwise")
	ppStdin := fs.Bool("passphrase-stdin", false, "read the passphrase from standard input")
	timeout := fs.Duration("timeout", 5*time.Minute, "with --once, give up after this long")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := e.unlock(*ppStdin); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p := &progressLine{e: e, start: time.Now()}
	if *once {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		err := e.core.SyncOnce(ctx, p.update)
		p.done()
		if err != nil {
			return err
		}
		st := e.core.Status()
		fmt.Fprintf(e.stdout, "up to date as of %s: %d patient(s) cached, %d audit event(s) pending\n",
			st.LastUpToDate.Local().Format("02-Jan-2006 15:04:05"), st.CachedPatients, st.PendingAuditEvents)
		return nil
	}
	ctl, err := e.core.ListenControl()
	if err != nil {
		return err
	}
	ctlCtx, stopCtl := context.WithCancel(ctx)
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- ctl.Serve(ctlCtx) }()
	defer func() { stopCtl(); <-ctlDone }()
	unwatch := e.core.Watch(func(st core.Status) { p.update(syncStateOf(st)) })
	defer unwatch()
	err = e.core.ServeSync(ctx)
	p.done()
	return err
}

// syncStateOf rebuilds a sync state from a status, for the progress line.
func syncStateOf(st core.Status) core.SyncState {
	return core.SyncState{Kind: st.State, Done: st.Done, Total: st.Total, Err: st.Error, AsOf: st.LastUpToDate, RetryIn: st.RetryIn}
}

func runStatus(e *env, args []string) error {
	fs := newFlags(e, "status")
	asJSON := fs.Bool("json", false, "print JSON")
	ppStdin := fs.Bool("passphrase-stdin", false, "read the passphrase from standard input")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := core.RemoteStatus(e.dataDir)
	if err != nil {
		// Nothing running: open the cache ourselves.
		if !e.core.Enrolled() {
			st = e.core.Status()
		} else {
			if err := e.unlock(*ppStdin); err != nil {
				return err
			}
			st = e.core.Status()
		}
	}
	if *asJSON {
		return writeJSON(e.stdout, st)
	}
	if !st.Enrolled {
		fmt.Fprintf(e.stdout, "not enrolled (profile folder %s)\n", e.dataDir)
		return nil
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	fmt.Fprintf(w, "User:            %s (%s)\n", st.User, st.Role)
	fmt.Fprintf(w, "Server:          %s\n", st.Server)
	if len(st.Servers) > 1 {
		fmt.Fprintf(w, "Servers:         %s\n", strings.Join(st.Servers, ", "))
	}
	fmt.Fprintf(w, "Device:          %s\n", st.DeviceID)
	fmt.Fprintf(w, "Connection:      %s\n", st.Connection)
	fmt.Fprintf(w, "Link:            %s\n", st.Link)
	if st.Locked {
		// The running window is locked: its keys are gone, so counts that
		// need the cache cannot be read, and zeros would be a lie.
		fmt.Fprintln(w, "State:           locked (the running kmcr is locked; unlock it to see cached patients and pending audit events)")
		return nil
	}
	upToDate := "never"
	if !st.LastUpToDate.IsZero() {
		upToDate = st.LastUpToDate.Local().Format("02-Jan-2006 15:04:05")
		if st.Stale {
			upToDate += " (STALE)"
		}
	}
	fmt.Fprintf(w, "Last up to date: %s\n", upToDate)
	if !st.FirstSyncComplete {
		fmt.Fprintf(w, "First sync:      NOT COMPLETE: the cache holds only part of your patients\n")
	}
	fmt.Fprintf(w, "Cached patients: %d\n", st.CachedPatients)
	if !st.SoonestLeaseExpiry.IsZero() {
		warn := ""
		if st.LeaseExpiringSoon {
			warn = " (SOON: connect to renew)"
		}
		fmt.Fprintf(w, "Soonest lease:   %s%s\n", st.SoonestLeaseExpiry.Local().Format("02-Jan-2006 15:04"), warn)
	}
	pending := fmt.Sprintf("%d", st.PendingAuditEvents)
	if st.PendingAuditEvents > 0 {
		pending += fmt.Sprintf(", oldest %s ago", (time.Duration(st.OldestPendingAge) * time.Second).Round(time.Second))
	}
	fmt.Fprintf(w, "Pending audit:   %s\n", pending)
	printIncidents(w, st.Incidents)
	if unreadable := st.Damaged - len(st.SetAside); unreadable > 0 {
		fmt.Fprintf(w, "Damaged records: %d (they will be replaced at the next full sync)\n", unreadable)
	}
	if len(st.SetAside) > 0 {
		fmt.Fprintf(w, "Set aside:       %d record(s) this device could not store (kept for a newer version)\n", len(st.SetAside))
		for _, a := range st.SetAside {
			fmt.Fprintf(w, "  %s (version %d): %s\n", record.NHSNumber(a.NHS), a.Version, a.Reason)
		}
	}
	return nil
}

func runLock(e *env, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: lock takes no arguments", errUsage)
	}
	if err := core.RemoteLock(e.dataDir); err != nil {
		if errors.Is(err, core.ErrNotRunning) {
			fmt.Fprintln(e.stdout, "kmcr is not running with this profile: nothing is unlocked")
			return nil
		}
		return err
	}
	fmt.Fprintln(e.stdout, "locked")
	return nil
}

func runWipe(e *env, args []string) error {
	fs := newFlags(e, "wipe")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	ppStdin := fs.Bool("passphrase-stdin", false, "read the passphrase from standard input (to record and deliver the wipe audit event first)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if !e.core.Enrolled() {
		return core.ErrNotEnrolled
	}
	if !*yes {
		if _, tty := e.terminal(); !tty {
			return fmt.Errorf("%w: confirm with --yes when not at a terminal", errUsage)
		}
		fmt.Fprintf(e.stderr, "This destroys every key and all patient data of this profile (%s).\nType WIPE to confirm: ", e.dataDir)
		answer, err := e.input.line()
		if err != nil || strings.TrimSpace(answer) != "WIPE" {
			return errors.New("not confirmed; nothing was wiped")
		}
	}
	// With the passphrase, the wipe is recorded and the audit queue given a
	// chance to reach the server; without it, the keys are destroyed anyway.
	if e.getenv("KMCR_PASSPHRASE") != "" || *ppStdin {
		if err := e.unlock(*ppStdin); err != nil {
			fmt.Fprintf(e.stderr, "could not unlock (%v); wiping without a wipe event\n", err)
		}
	}
	if err := e.core.Wipe(10 * time.Second); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wiped: every key destroyed and the profile removed from %s\n", e.dataDir)
	return nil
}

// printIncidents lists the open dispatch incidents as "kmcr status" does:
// the line the window shows, then the expiry and the candidates, marking
// those whose summary this device does not hold yet.
func printIncidents(w io.Writer, list []core.Incident) {
	if len(list) == 0 {
		fmt.Fprintln(w, "Incidents:       none open")
		return
	}
	fmt.Fprintf(w, "Incidents:       %d open\n", len(list))
	for _, in := range list {
		fmt.Fprintf(w, "  %s\n", in.Heading())
		fmt.Fprintf(w, "    until %s\n", in.Expires.Local().Format("02-Jan-2006 15:04"))
		if len(in.NHS) == 0 {
			fmt.Fprintf(w, "    %s\n", present.IncidentNobody)
			continue
		}
		for _, n := range in.NHS {
			where := "on this device"
			if !slices.Contains(in.OnDevice, n) {
				where = "NOT YET ON THIS DEVICE"
			}
			fmt.Fprintf(w, "    NHS No. %s  %s\n", n, where)
		}
	}
}
