package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"kmcr/cache"
	"kmcr/core"
	"kmcr/demo"
	"kmcr/internal/memsecrets"
	"kmcr/record"
	"kmcr/server/store"
)

func init() {
	register(&suite{
		name:    "audit",
		summary: "audited open against an unaudited read; delivering queued audit events over loopback wss against a raw websocket into bbolt",
		run:     runAudit,
	})
}

// auditSizes are the audit suite's sizes.
type auditSizes struct {
	patients int // cached patients
	opens    int // measured opens on each side
	rounds   int // alternations between the two sides
	events   int // events queued for delivery
}

func auditSizesFor(quick bool) auditSizes {
	if quick {
		return auditSizes{patients: 500, opens: 400, rounds: 2, events: 2_000}
	}
	return auditSizes{patients: 2_000, opens: 2_000, rounds: 4, events: 10_000}
}

// The requirement on delivering queued events.
const (
	auditEventsRequired = 10_000
	auditBudget         = 2 * time.Second
)

func runAudit(w io.Writer, opt options) (err error) {
	sz := auditSizesFor(opt.quick)
	root := filepath.Join(opt.dir, "audit")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	printMachine(w)
	setup := time.Now()
	s, _, imp, err := startServer(root, sz.patients)
	if err != nil {
		return err
	}
	defer s.finish(&err)
	const user = "auditor"
	if err := s.addUser(user, sz.patients); err != nil {
		return err
	}
	secrets := memsecrets.New()
	dataDir := filepath.Join(root, "client")
	kc, err := core.Open(core.Config{DataDir: dataDir, Secrets: secrets})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, kc.Close()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err = kc.Enrol(ctx, core.EnrolRequest{Server: s.url, CAFile: s.caFile, User: user, Password: benchUserPassword(user),
		Passphrase: []byte(benchPassphrase), Host: "bench-audit"}, nil)
	if err != nil {
		return fmt.Errorf("enrolling: %w", err)
	}
	fmt.Fprintf(w, "server: in-process kmcr-server Service, TLS on loopback, %s demo patients imported in %s\n", count(sz.patients), dur(imp))
	fmt.Fprintf(w, "client: the real client core in this process, enrolled as a paramedic with all %s patients cached (default Argon2id)\n", count(sz.patients))
	fmt.Fprintf(w, "setup (not timed): %s\n\n", dur(time.Since(setup)))

	t := newTable(w)
	ab := &auditBench{sz: sz, core: kc, copts: cache.Options{Dir: dataDir, Secrets: secrets}}
	for i := range sz.patients {
		ab.nhs = append(ab.nhs, demo.NHSNumber(benchSeed, i))
	}
	if err := ab.measureOpen(w, t); err != nil {
		return err
	}
	if err := ab.measureDelivery(w, t, s, root); err != nil {
		return err
	}
	t.flush()
	fmt.Fprintln(w, `
Baselines, measured in the same run:
  unaudited open: the same cache file opened directly (the client core locked
    meanwhile), cache Get in a read-only View, then the same decode as the
    core's (stored header, record.ParseBundle, record.Summarise); the two
    sides alternate in rounds over the same patients.
  unaudited search: cache Search on the same cache, no event written.
  raw delivery: the events' exact bytes (read back from the server after the
    real delivery) sent over a TLS websocket (gorilla) on loopback, one
    message per 1,000 events, each written to a plain bbolt file in one
    transaction; timed from dial to the server's reply after the last commit.
    No chain verification, signature, acknowledgement or deletion on the
    client.
  delivery: kmcr's SyncOnce with the events queued: connect, catch-up check,
    uploads of up to 1,000 events each verified and stored by the server,
    acknowledged, deleted from the client's outbox; until the queue is empty.`)
	return nil
}

// auditBench holds the suite's client.
type auditBench struct {
	sz    auditSizes
	core  *core.Core
	copts cache.Options // the core's cache, opened directly for the baseline
	nhs   []record.NHSNumber
}

// measureOpen alternates rounds of audited opens through the core with
// rounds of unaudited reads of the same cache, over the same patients.
func (ab *auditBench) measureOpen(w io.Writer, t *table) error {
	const warm = 20
	per := ab.sz.opens / ab.sz.rounds
	rng := rand.New(rand.NewPCG(benchSeed, 3))
	order := make([]record.NHSNumber, ab.sz.opens+warm*ab.sz.rounds)
	for i := range order {
		order[i] = ab.nhs[rng.IntN(len(ab.nhs))]
	}
	queries := make([]string, len(order))
	for i, n := range order {
		queries[i] = n.String()
	}
	var audited, plain, auditedSearch, plainSearch samples
	pass := []byte(benchPassphrase)
	pos := 0
	for r := range ab.sz.rounds {
		batch := order[pos : pos+per+warm]
		qs := queries[pos : pos+per+warm]
		pos += per + warm
		coreSide := func() error {
			if ab.core.Locked() {
				if err := ab.core.Unlock(pass); err != nil {
					return err
				}
			}
			for i, n := range batch {
				t0 := time.Now()
				v, err := ab.core.OpenPatient(n.Digits(), nil)
				d := time.Since(t0)
				if err != nil {
					return err
				}
				if v.Summary.Demographics.NHS != n {
					return fmt.Errorf("opened %s, wanted %s", v.Summary.Demographics.NHS, n)
				}
				t1 := time.Now()
				res, err := ab.core.Search(qs[i], 20)
				ds := time.Since(t1)
				if err != nil {
					return err
				}
				if res.Total != 1 {
					return fmt.Errorf("search %q found %d", qs[i], res.Total)
				}
				if i >= warm {
					audited, auditedSearch = append(audited, d), append(auditedSearch, ds)
				}
			}
			return ab.core.Close()
		}
		directSide := func() error {
			c, err := cache.Open(ab.copts, pass)
			if err != nil {
				return fmt.Errorf("opening the core's cache directly: %w", err)
			}
			defer c.Close()
			asOf := time.Now()
			for i, n := range batch {
				t0 := time.Now()
				var s *record.Summary
				err := c.View(func(tx *cache.Tx) error {
					rec, err := tx.Get(n)
					if err != nil {
						return err
					}
					s, err = decodeStored(rec.Data, asOf)
					return err
				})
				d := time.Since(t0)
				if err != nil {
					return err
				}
				if s.Demographics.NHS != n {
					return fmt.Errorf("read %s, wanted %s", s.Demographics.NHS, n)
				}
				t1 := time.Now()
				res, err := c.Search(qs[i], 20)
				ds := time.Since(t1)
				if err != nil {
					return err
				}
				if res.Total != 1 {
					return fmt.Errorf("search %q found %d", qs[i], res.Total)
				}
				if i >= warm {
					plain, plainSearch = append(plain, d), append(plainSearch, ds)
				}
			}
			return nil
		}
		first, second := coreSide, directSide
		if r%2 == 1 {
			first, second = directSide, coreSide
		}
		if err := ab.core.Close(); err != nil {
			return err
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
	}
	if err := ab.core.Unlock(pass); err != nil {
		return err
	}
	fmt.Fprintf(w, "opens: %s audited (core.OpenPatient) and %s unaudited, random patients, %d alternating rounds; each followed by a search by NHS number\n",
		count(len(audited)), count(len(plain)), ab.sz.rounds)
	for _, q := range []struct {
		name string
		p    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		a, b := audited.pct(q.p), plain.pct(q.p)
		t.row("open a summary with its audit event (core.OpenPatient) vs unaudited read + decode, "+q.name, dur(a), dur(b), durRatio(a, b), "-", "-")
	}
	t.row("  added cost of the audit write (difference of the p50s)", dur(audited.p50()-plain.p50()), "-", "-", "-", "-")
	for _, q := range []struct {
		name string
		p    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		a, b := auditedSearch.pct(q.p), plainSearch.pct(q.p)
		t.row("search with its audit event (core.Search) vs unaudited cache search, "+q.name, dur(a), dur(b), durRatio(a, b), "-", "-")
	}
	return nil
}

// measureDelivery queues events offline to the target count, then times
// SyncOnce delivering them, and the raw baseline with the same bytes.
func (ab *auditBench) measureDelivery(w io.Writer, t *table, s *benchServer, root string) error {
	// Deliver what the opens above queued (not timed), then time a sync
	// with nothing queued: the connection's fixed cost.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := ab.core.SyncOnce(ctx, nil); err != nil {
		return fmt.Errorf("delivering the events of the opens: %w", err)
	}
	empty, err := timed(func() error { return ab.core.SyncOnce(ctx, nil) })
	if err != nil {
		return fmt.Errorf("empty sync: %w", err)
	}
	if n := ab.core.Status().PendingAuditEvents; n != 0 {
		// SyncOnce returns when the queue is flushed; an event written by
		// the sync itself would show here.
		return fmt.Errorf("%d events still queued after SyncOnce", n)
	}
	// Queue events offline, through the same core calls a user makes: a
	// search by NHS number and an open, alternately.
	fill := time.Now()
	for i := 0; ab.core.Status().PendingAuditEvents < ab.sz.events; i++ {
		n := ab.nhs[i%len(ab.nhs)]
		if i%2 == 0 {
			if _, err := ab.core.Search(n.String(), 20); err != nil {
				return err
			}
		} else if _, err := ab.core.OpenPatient(n.Digits(), nil); err != nil {
			return err
		}
	}
	queued := ab.core.Status().PendingAuditEvents
	fillTime := time.Since(fill)
	device := ab.core.Profile().DeviceID
	before, err := countStored(s.st, device)
	if err != nil {
		return err
	}
	d, err := timed(func() error { return ab.core.SyncOnce(ctx, nil) })
	if err != nil {
		return fmt.Errorf("delivering %d events: %w", queued, err)
	}
	if n := ab.core.Status().PendingAuditEvents; n != 0 {
		return fmt.Errorf("%d events still queued after delivery", n)
	}
	after, err := countStored(s.st, device)
	if err != nil {
		return err
	}
	if after-before != queued {
		return fmt.Errorf("server stored %d new events, %d were queued", after-before, queued)
	}
	alerts := 0
	if err := s.st.Alerts(func(store.Alert) error { alerts++; return nil }); err != nil {
		return err
	}
	if alerts > 0 {
		return fmt.Errorf("the delivery raised %d alerts", alerts)
	}
	events, bytes, err := storedEvents(s.st, device, before)
	if err != nil {
		return err
	}
	raw, err := rawDelivery(s, filepath.Join(root, "raw-events.db"), events)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "delivery: %s events queued offline (searches and opens, %s to queue), %s of canonical events (%s B each on average); the server stored each once, no alerts\n\n",
		count(queued), dur(fillTime), mib(bytes), count(int(bytes)/max(1, queued)))
	req, res := "-", "-"
	if queued >= auditEventsRequired {
		req, res = "< "+dur(auditBudget), verdict(d < auditBudget)
	}
	t.row(fmt.Sprintf("deliver %s queued events (core.SyncOnce until the queue is empty)", count(queued)), dur(d), dur(raw), durRatio(d, raw), req, res)
	t.row("  events/s", rate(float64(queued), d), rate(float64(queued), raw), ratio(raw.Seconds(), d.Seconds()), "-", "-")
	t.row("  of which connecting and the catch-up check (SyncOnce with nothing queued)", dur(empty), "-", "-", "-", "-")
	return nil
}

// countStored counts the events the server holds for a device.
func countStored(st *store.Bolt, device string) (int, error) {
	n := 0
	err := st.AuditEvents(device, func(store.StoredEvent) error { n++; return nil })
	return n, err
}

// storedEvents returns the canonical bytes of a device's stored events
// after the first skip.
func storedEvents(st *store.Bolt, device string, skip int) ([]storedEvent, int64, error) {
	var out []storedEvent
	var total int64
	i := 0
	err := st.AuditEvents(device, func(e store.StoredEvent) error {
		if i++; i > skip {
			out = append(out, storedEvent{seq: e.Seq, canonical: e.Canonical})
			total += int64(len(e.Canonical))
		}
		return nil
	})
	return out, total, err
}
