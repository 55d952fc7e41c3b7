package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kmcr/internal/pgtest"
	"kmcr/server/store"
	"kmcr/server/store/postgres"
)

func exec(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func scalar[T any](t *testing.T, url, sql string, args ...any) T {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v T
	if err := c.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// TestOpen_RefusesAnotherSchema: a database never migrated, or migrated
// by a newer program, is refused with what to run.
func TestOpen_RefusesAnotherSchema(t *testing.T) {
	ctx := context.Background()
	empty := pgtest.NewDB(t, "")
	_, err := postgres.Open(ctx, empty)
	if !errors.Is(err, postgres.ErrSchemaOld) || !strings.Contains(err.Error(), "kmcr-server migrate --store") {
		t.Fatalf("opening an unmigrated database: %v; want ErrSchemaOld naming kmcr-server migrate", err)
	}
	if strings.Contains(err.Error(), pgtest.Shared(t).Password) {
		t.Fatalf("the error shows the password: %v", err)
	}
	applied, err := postgres.Migrate(ctx, empty)
	if err != nil || len(applied) != int(postgres.SchemaVersion()) {
		t.Fatalf("Migrate applied %v, %v; want every version up to %d", applied, err, postgres.SchemaVersion())
	}
	if again, err := postgres.Migrate(ctx, empty); err != nil || len(again) != 0 {
		t.Fatalf("a second Migrate applied %v, %v; want nothing", again, err)
	}
	s, err := postgres.Open(ctx, empty)
	if err != nil {
		t.Fatalf("opening the migrated database: %v", err)
	}
	s.Close()

	newer := postgres.SchemaVersion() + 1
	exec(t, empty, "INSERT INTO "+postgres.VersionTable+" (version_id, is_applied) VALUES ($1, true)", newer)
	_, err = postgres.Open(ctx, empty)
	if !errors.Is(err, postgres.ErrSchemaNew) || !strings.Contains(err.Error(), "newer kmcr-server") {
		t.Fatalf("opening a database of schema %d: %v; want ErrSchemaNew", newer, err)
	}
	if _, err := postgres.Migrate(ctx, empty); !errors.Is(err, postgres.ErrSchemaNew) {
		t.Fatalf("migrating a newer database: %v; want ErrSchemaNew", err)
	}
}

// TestAudit_PartitionedByMonth: events land in the partition of the month
// they were recorded, made when first needed, and read back across them.
func TestAudit_PartitionedByMonth(t *testing.T) {
	url := newDB(t)
	s := open(t, url)
	if err := s.RegisterDevice(store.Device{ID: "device-1", User: "amy"}); err != nil {
		t.Fatal(err)
	}
	months := []time.Time{
		time.Date(2024, 11, 30, 23, 59, 59, 0, time.UTC),
		time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC),
	}
	var evs []store.StoredEvent
	for i, m := range months {
		evs = append(evs, store.StoredEvent{Device: "device-1", Seq: uint64(i + 1), Hash: []byte{byte(i)}, Canonical: []byte("{}"), Recorded: m, NHS: "9434765919"})
	}
	if err := s.StoreAudit("device-1", evs, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"audit_event_2024_11", "audit_event_2024_12", "audit_event_2025_01"} {
		got := scalar[string](t, url, "SELECT tableoid::regclass::text FROM audit_event WHERE seq = $1", i+1)
		if got != want {
			t.Errorf("event %d recorded %v is in %s; want %s", i+1, months[i], got, want)
		}
	}
	if n := scalar[int64](t, url, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_event'::regclass"); n < 3+3 {
		t.Errorf("%d partitions; want the three months used and the three made ahead by migrate", n)
	}
	var got []uint64
	if err := s.AccessLog("9434765919", func(e store.StoredEvent) error { got = append(got, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("access log across partitions = %v", got)
	}
}

// TestNodes_SeeEachOthersChanges: two stores on one database (two nodes):
// a change committed through one reaches the other's subscribers through
// NOTIFY, and through the poll when notifications are lost.
func TestNodes_SeeEachOthersChanges(t *testing.T) {
	url := newDB(t)
	a, b := open(t, url), open(t, url)
	if a.Epoch() != b.Epoch() {
		t.Fatalf("two nodes on one database disagree on the epoch: %s, %s", a.Epoch(), b.Epoch())
	}
	ch, cancel := b.Subscribe()
	defer cancel()
	if err := a.AddUser(store.User{Name: "amy"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := a.CaseloadAdd("amy", []string{"9434765919"}); err != nil {
		t.Fatal(err)
	}
	select {
	case seq := <-ch:
		if seq != 1 {
			t.Fatalf("node B heard %d; want 1", seq)
		}
		if d := time.Since(start); d >= postgres.PollInterval {
			t.Logf("the change took %v: the notification was not used", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node B never heard of node A's change")
	}
	// A change whose NOTIFY never happens (written behind the nodes' backs)
	// still arrives, by the poll.
	exec(t, url, "UPDATE kmcr_meta SET last_seq = last_seq + 1")
	exec(t, url, "INSERT INTO change_log (seq, kind, at) VALUES (2, 'patient', now())")
	select {
	case seq := <-ch:
		if seq != 2 {
			t.Fatalf("node B polled %d; want 2", seq)
		}
	case <-time.After(postgres.PollInterval + 20*time.Second):
		t.Fatal("a change without a notification never reached node B")
	}
	if n, err := b.LastSeq(); err != nil || n != 2 {
		t.Fatalf("node B's LastSeq = %d, %v", n, err)
	}
}

// TestNodes_AuditExactlyOnce: the same events uploaded through two nodes at
// once are stored once each, and every batch sees the device's chain state
// of the one before it (the device row serialises them).
func TestNodes_AuditExactlyOnce(t *testing.T) {
	url := newDB(t)
	a, b := open(t, url), open(t, url)
	if err := a.RegisterDevice(store.Device{ID: "device-1", User: "amy"}); err != nil {
		t.Fatal(err)
	}
	const n = 60
	var wg sync.WaitGroup
	var failed atomic.Int32
	for _, node := range []*postgres.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= n; i += 5 {
				var evs []store.StoredEvent
				for seq := i; seq < i+5; seq++ {
					evs = append(evs, store.StoredEvent{Device: "device-1", Seq: uint64(seq), Hash: []byte{byte(seq)}, Canonical: []byte("{}"), Recorded: time.Now().UTC().Truncate(time.Microsecond), NHS: "9434765919"})
				}
				if err := node.StoreAudit("device-1", evs, nil, nil, []byte(fmt.Sprint(i))); err != nil {
					t.Error(err)
					failed.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return
	}
	var seqs []uint64
	if err := b.AuditEvents("device-1", func(e store.StoredEvent) error { seqs = append(seqs, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != n {
		t.Fatalf("%d events stored from two nodes uploading %d each; want %d", len(seqs), n, n)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("events %v: not each sequence number once", seqs)
		}
	}
	if c := scalar[int64](t, url, "SELECT count(*) FROM audit_receipt"); c != n {
		t.Fatalf("%d receipts; want %d", c, n)
	}
}

// TestTryLock_OneNodeAtATime: a cluster-wide sweep guarded by the advisory
// lock runs on one node while the other is refused, and on the other once
// the first is done.
func TestTryLock_OneNodeAtATime(t *testing.T) {
	url := newDB(t)
	a, b := open(t, url), open(t, url)
	ctx := context.Background()
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		ran, err := a.TryLock(ctx, postgres.LockSweep, func() error {
			close(inside)
			<-release
			return nil
		})
		if err == nil && !ran {
			err = errors.New("node A did not get a free lock")
		}
		done <- err
	}()
	<-inside
	ran, err := b.TryLock(ctx, postgres.LockSweep, func() error { return nil })
	if err != nil || ran {
		t.Fatalf("node B ran the sweep while node A held it: %v, %v", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ran, err = b.TryLock(ctx, postgres.LockSweep, func() error { return nil })
	if err != nil || !ran {
		t.Fatalf("node B could not take the released lock: %v, %v", ran, err)
	}
}

// TestExclusive_OnceAcrossNodes: work of one name runs on one node at a
// time; other names are not held up.
func TestExclusive_OnceAcrossNodes(t *testing.T) {
	url := newDB(t)
	a, b := open(t, url), open(t, url)
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan bool, 1)
	go func() {
		ran, err := a.Exclusive("expire-relationships", func() error { close(inside); <-release; return nil })
		if err != nil {
			t.Error(err)
		}
		done <- ran
	}()
	<-inside
	if ran, err := b.Exclusive("expire-relationships", func() error { return nil }); err != nil || ran {
		t.Fatalf("node B ran the sweep node A was running: %v, %v", ran, err)
	}
	if ran, err := b.Exclusive("another-sweep", func() error { return nil }); err != nil || !ran {
		t.Fatalf("another name was held up: %v, %v", ran, err)
	}
	close(release)
	if !<-done {
		t.Fatal("node A did not run the sweep")
	}
	var s store.Exclusive = b
	if ran, err := s.Exclusive("expire-relationships", func() error { return nil }); err != nil || !ran {
		t.Fatalf("after node A finished, node B could not run it: %v, %v", ran, err)
	}
}
