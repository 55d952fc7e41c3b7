package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"kmcr/core"
	"kmcr/demo"
	"kmcr/internal/memsecrets"
	"kmcr/record"
)

func init() {
	register(&suite{
		name:    "sync",
		summary: "first sync over loopback wss into the encrypted cache against a raw websocket into bbolt; live change latency",
		run:     runSync,
	})
}

// syncSizes are the sync suite's sizes.
type syncSizes struct {
	server  int   // patients imported on the server
	syncs   []int // first-sync sizes (caseloads), smallest first
	repeats []int // measured runs of each size
	changes int   // live changes timed
}

func syncSizesFor(quick bool) syncSizes {
	if quick {
		return syncSizes{server: 10_000, syncs: []int{2_000, 10_000}, repeats: []int{1, 1}, changes: 5}
	}
	return syncSizes{server: 100_000, syncs: []int{10_000, 100_000}, repeats: []int{3, 1}, changes: 9}
}

// The requirements on a first sync of 10,000 summaries.
const (
	syncSizeRequired = 10_000
	syncBudget       = 3 * time.Second
	syncRatioBudget  = 3.0
	syncRSSBudget    = 300_000_000 // bytes
)

func runSync(w io.Writer, opt options) (err error) {
	sz := syncSizesFor(opt.quick)
	root := filepath.Join(opt.dir, "sync")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	printMachine(w)
	setup := time.Now()
	s, gen, imp, err := startServer(root, sz.server)
	if err != nil {
		return err
	}
	defer s.finish(&err)
	base, err := startBaseline(s)
	if err != nil {
		return err
	}
	defer base.close()
	fmt.Fprintf(w, "server: %s demo patients (seed %d) imported through kmcr-server's importer; in-process Service on %s, TLS, production timeouts\n",
		count(sz.server), benchSeed, s.url)
	fmt.Fprintf(w, "clients: each first sync runs in its own subprocess of this binary (the real client core enrolling a new device\n"+
		"  into a new encrypted cache, default Argon2id), so its peak RSS is its own\n")
	fmt.Fprintf(w, "setup (not timed): demo data written in %s, imported in %s (%s patients/s)\n",
		dur(gen), dur(imp), sig3(float64(sz.server)/imp.Seconds()))

	t := newTable(w)
	for i, n := range sz.syncs {
		if err := measureFirstSync(w, t, s, base, root, n, sz.repeats[i]); err != nil {
			return err
		}
	}
	if err := measureLive(w, t, s, root, sz.syncs[0], sz.changes); err != nil {
		return err
	}
	fmt.Fprintf(w, "setup and measurement took %s\n\n", dur(time.Since(setup)))
	t.flush()
	fmt.Fprintln(w, `
Baseline, measured in the same run: the same documents, read from the same
server store in the same order, streamed over a TLS websocket (gorilla) on
loopback to a subprocess that writes each message (a batch closed at the
server's byte and count limits) to a plain bbolt file in one transaction.
No login, policy, acknowledgements, flow control, encryption or search index.
First sync: from the client's first "connecting" state to the end of
SyncOnce (up to date and its audit queue delivered); the enrol row adds
login, Argon2id and cache creation. "Client work alone" repeats the
client's two big steps for the same documents in this process with nothing
else running: the parse it does before storing a batch, and the encrypted
cache's commits, beside plain bbolt commits in NHS-number order (as the
baseline) and in random key order (where documents fell when the cache
kept them under keyed-hash record ids, before format 2's slot numbers).
Live change: from the start of svc.Import of one new Flag for a patient to
the connected client's notification of the applied batch, confirmed by
opening the patient.`)
	return nil
}

// measureFirstSync times first syncs of the first n demo patients with the
// real client and with the baseline, alternating.
func measureFirstSync(w io.Writer, t *table, s *benchServer, base *baselineServer, root string, n, repeats int) error {
	user := fmt.Sprintf("sync-%d", n)
	added, err := timed(func() error { return s.addUser(user, n) })
	if err != nil {
		return err
	}
	var nhs []string
	var total int64
	read, err := timed(func() (err error) { nhs, total, err = s.caseloadDocs(n); return err })
	if err != nil {
		return err
	}
	base.mu.Lock()
	base.nhs = nhs
	base.mu.Unlock()
	fmt.Fprintf(w, "first sync of %s: %s documents, %s MB in all, %s on average; setup: user and caseload added in %s, documents read in %s\n",
		count(n), count(n), sig3(float64(total)/1e6), kib(total/int64(n)), dur(added), dur(read))

	var real, raw []childResult
	for r := range repeats {
		runReal := func() error {
			res, err := runClientChild(childEnrol, childArgs{server: s.url, ca: s.caFile, user: user, dir: filepath.Join(root, fmt.Sprintf("client-%d-%d", n, r)), expect: n}, benchUserPassword(user))
			real = append(real, res)
			return err
		}
		runRaw := func() error {
			res, err := runClientChild(childBaseline, childArgs{server: base.url, ca: s.caFile, user: "-", dir: filepath.Join(root, fmt.Sprintf("baseline-%d-%d", n, r)), expect: n}, base.token)
			if err == nil && res.Bytes != total {
				err = fmt.Errorf("baseline received %d bytes, want %d", res.Bytes, total)
			}
			raw = append(raw, res)
			return err
		}
		first, second := runReal, runRaw
		if r%2 == 1 {
			first, second = runRaw, runReal
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		select {
		case err := <-base.errs:
			if err != nil {
				return fmt.Errorf("baseline server: %w", err)
			}
		default:
		}
	}
	k, b := medianResult(real), medianResult(raw)
	label := fmt.Sprintf("first sync of %s summaries", count(n))
	if repeats > 1 {
		label += fmt.Sprintf(", median of %d", repeats)
	}
	req, res := "-", "-"
	if n == syncSizeRequired {
		req = fmt.Sprintf("< %s and <= %sx", dur(syncBudget), sig3(syncRatioBudget))
		res = verdict(k.Sync < syncBudget && float64(k.Sync) <= syncRatioBudget*float64(b.Sync))
	}
	t.row(label, dur(k.Sync), dur(b.Sync), durRatio(k.Sync, b.Sync), req, res)
	t.row("  summaries/s", rate(float64(n), k.Sync), rate(float64(n), b.Sync), ratio(b.Sync.Seconds(), k.Sync.Seconds()), "-", "-")
	t.row("  MB/s of documents", sig3(float64(total)/1e6/k.Sync.Seconds()), sig3(float64(total)/1e6/b.Sync.Seconds()), ratio(b.Sync.Seconds(), k.Sync.Seconds()), "-", "-")
	req, res = "-", "-"
	kr, br := k.PeakRSSKiB<<10, b.PeakRSSKiB<<10
	if n == syncSizeRequired {
		req = "< 300 MB"
		res = verdict(kr < syncRSSBudget)
	}
	if kr == 0 {
		t.row("  client peak RSS", "n/a (no VmHWM on this system)", "-", "-", req, "-")
	} else {
		t.row("  client peak RSS (VmHWM)", sig3(float64(kr)/1e6)+" MB", sig3(float64(br)/1e6)+" MB", ratio(float64(kr), float64(br)), req, res)
		t.row("    of which anonymous (heap, stacks), sampled peak", sig3(float64(k.PeakAnonKiB<<10)/1e6)+" MB", sig3(float64(b.PeakAnonKiB<<10)/1e6)+" MB", ratio(float64(k.PeakAnonKiB), float64(b.PeakAnonKiB)), "-", "-")
		t.row("    of which file-backed (mapped bbolt file, reclaimable), sampled peak", sig3(float64(k.PeakFileKiB<<10)/1e6)+" MB", sig3(float64(b.PeakFileKiB<<10)/1e6)+" MB", ratio(float64(k.PeakFileKiB), float64(b.PeakFileKiB)), "-", "-")
	}
	t.row("  enrol in all (login, Argon2id, cache creation, first sync)", dur(k.Enrol), "-", "-", "-", "-")
	if n == syncSizeRequired {
		bd, err := breakDown(s, filepath.Join(root, "breakdown"), nhs)
		if err != nil {
			return fmt.Errorf("breakdown: %w", err)
		}
		t.row(fmt.Sprintf("  client work alone: parse for the index (%d CPUs)", runtime.GOMAXPROCS(0)), dur(bd.parse), "-", "-", "-", "-")
		t.row(fmt.Sprintf("  client work alone: %d cache commits (seal, index, fsync) vs plain, NHS order", bd.batches), dur(bd.cached), dur(bd.plainNHS), durRatio(bd.cached, bd.plainNHS), "-", "-")
		t.row("  client work alone: plain bbolt commits with random keys (cache format 1's order)", dur(bd.plainRand), dur(bd.plainNHS), durRatio(bd.plainRand, bd.plainNHS), "-", "-")
	}
	t.row("  cache files afterwards, against the documents' bytes", sig3(float64(k.CacheBytes)/1e6)+" MB", sig3(float64(total)/1e6)+" MB", ratio(float64(k.CacheBytes), float64(total)), "-", "-")
	return nil
}

// medianResult is the run with the median first-sync time.
func medianResult(rs []childResult) childResult {
	c := slices.Clone(rs)
	slices.SortFunc(c, func(a, b childResult) int { return int(a.Sync - b.Sync) })
	return c[(len(c)-1)/2]
}

// measureLive connects a client core in this process with the first n
// patients, then times changes imported on the server until each is in
// the client's cache.
func measureLive(w io.Writer, t *table, s *benchServer, root string, n, changes int) error {
	const user = "live"
	if err := s.addUser(user, n); err != nil {
		return err
	}
	kc, err := core.Open(core.Config{DataDir: filepath.Join(root, "live-client"), Secrets: memsecrets.New()})
	if err != nil {
		return err
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err = kc.Enrol(ctx, core.EnrolRequest{Server: s.url, CAFile: s.caFile, User: user, Password: benchUserPassword(user),
		Passphrase: []byte(benchPassphrase), Host: "bench-live"}, nil)
	if err != nil {
		return fmt.Errorf("enrolling the live client: %w", err)
	}
	notes := make(chan time.Time, 256)
	stopWatch := kc.Watch(func(core.Status) {
		select {
		case notes <- time.Now():
		default:
		}
	})
	defer stopWatch()
	syncCtx, stopSync := context.WithCancel(context.Background())
	synced := make(chan error, 1)
	go func() { synced <- kc.ServeSync(syncCtx) }()
	defer func() { stopSync(); <-synced }()
	for deadline := time.Now().Add(time.Minute); kc.Status().State != core.SyncUpToDate; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("live client not up to date after a minute: %s", kc.Status().Connection)
		}
	}
	var lat, imp samples
	for j := range changes {
		i := (j*7919 + 13) % n
		nhs := demo.NHSNumber(benchSeed, i)
		text := fmt.Sprintf("kmcr-bench live change %d", j)
		file, err := writeChange(filepath.Join(root, fmt.Sprintf("change-%d", j)), j, demo.PatientID(benchSeed, i), text)
		if err != nil {
			return err
		}
		// Let the previous change's audit upload finish, then forget
		// every notification so far.
		time.Sleep(300 * time.Millisecond)
		for len(notes) > 0 {
			<-notes
		}
		t0 := time.Now()
		rep, err := s.svc.Import([]string{file}, nil)
		if err != nil {
			return err
		}
		imp = append(imp, time.Since(t0))
		if rep.Changed != 1 {
			return fmt.Errorf("live change %d: import changed %d patients, want 1", j, rep.Changed)
		}
		arrived, err := awaitChange(kc, notes, nhs, text)
		if err != nil {
			return fmt.Errorf("live change %d: %w", j, err)
		}
		lat = append(lat, arrived.Sub(t0))
	}
	fmt.Fprintf(w, "live changes: %d, each one new Flag for a patient, imported while a client core in this process holding %s patients is connected\n", changes, count(n))
	t.row(fmt.Sprintf("live change: import on the server to arrival in the client's cache, median of %d", len(lat)), dur(lat.p50()), "-", "-", "-", "-")
	t.row("  slowest", dur(lat.pct(1)), "-", "-", "-", "-")
	t.row("  of which svc.Import of the change, median", dur(imp.p50()), "-", "-", "-", "-")
	return nil
}

// writeChange writes one new Flag for a patient as a Bulk NDJSON file.
func writeChange(dir string, j int, patientID, text string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	line := fmt.Sprintf(`{"resourceType":"Flag","id":"kmcr-bench-change-%d","status":"active","code":{"text":%q},"subject":{"reference":"Patient/%s"},"period":{"start":"2026-10-30"}}`+"\n", j, text, patientID)
	file := filepath.Join(dir, demo.FileName("Flag"))
	return file, os.WriteFile(file, []byte(line), 0o600)
}

// awaitChange waits for client notifications and opens the patient after
// each, until the change is there; it returns the time of the
// notification after which it was found.
func awaitChange(kc *core.Core, notes <-chan time.Time, nhs record.NHSNumber, text string) (time.Time, error) {
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		var at time.Time
		select {
		case at = <-notes:
		case <-timeout.C:
			return time.Time{}, errors.New("the change did not reach the client within 30 s")
		}
		v, err := kc.OpenPatient(nhs.Digits(), nil)
		if err != nil {
			return time.Time{}, err
		}
		for _, a := range v.Summary.Alerts.Items {
			if a.Text == text {
				return at, nil
			}
		}
	}
}
