// Package postgres is the PostgreSQL implementation of store.Store, for a
// central record served by several kmcr-server nodes on one database. It
// passes the same conformance suite (storetest) as the bbolt store.
//
// # Change log and notifications
//
// The change log is a table. Every transaction that appends to it first
// locks its one counter row (kmcr_meta), so sequence numbers are gapless
// and commit in order: a reader never sees seq n+1 without n. After
// appending, the transaction sends NOTIFY kmcr_changes with the newest
// sequence; every node LISTENs on a connection of its own and tells its
// subscribers, and polls the counter every PollInterval as a safety net,
// so a lost notification (a dropped connection, a restarted database)
// only delays.
//
// # Cluster-wide work
//
// Sweeps that must run once across the cluster (relationship expiry)
// take an advisory lock (TryLock). Audit ingestion locks the device's row,
// so one device's chain is verified by one node at a time, and a receipt
// per (device, seq) stores each event exactly once whichever node it
// reaches.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kmcr/server/store"
)

// Advisory lock keys (one namespace for kmcr: 0x6b6d6372 is "kmcr").
const (
	lockPartitions int64 = 0x6b6d6372_0001
	// LockSweep is held by the node running the cluster's periodic sweeps.
	LockSweep int64 = 0x6b6d6372_0002
)

// channel is the LISTEN/NOTIFY channel of the change log.
const channel = "kmcr_changes"

// PollInterval is how often a node reads the newest sequence in case a
// notification was lost.
var PollInterval = 3 * time.Second

// opTimeout bounds one store operation, so a database that stopped
// answering is an error, not a hang.
const opTimeout = 30 * time.Second

// page is how many rows an iteration reads per query; callbacks run
// between queries, never while a connection is held.
const page = 1000

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool  *pgxpool.Pool
	url   string
	epoch string

	mu     sync.Mutex
	subs   map[int]chan uint64
	next   int
	newest uint64

	partMu sync.Mutex
	parts  map[time.Time]bool // audit partitions known to exist

	lz4Once sync.Once
	lz4     bool // the server compresses TOAST with lz4 (see CommitPatients)

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a libpq URL or key=value string;
// several hosts and target_session_attrs=read-write are honoured), checks
// that its schema is the one this program knows, and starts listening for
// other nodes' changes.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("the store URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the store: %w", err)
	}
	s := &Store{pool: pool, url: url, subs: map[int]chan uint64{}, parts: map[time.Time]bool{}}
	if err := s.open(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stop, s.done = stop, make(chan struct{})
	go s.listen(lctx)
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	if err := checkSchema(ctx, s.pool, s.url); err != nil {
		return err
	}
	var r [10]byte
	if _, err := rand.Read(r[:]); err != nil {
		return err
	}
	epoch := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(r[:])
	if _, err := s.pool.Exec(ctx, "INSERT INTO kmcr_meta (epoch) VALUES ($1) ON CONFLICT DO NOTHING", epoch); err != nil {
		return fmt.Errorf("the store's epoch: %w", err)
	}
	var last int64
	if err := s.pool.QueryRow(ctx, "SELECT epoch, last_seq FROM kmcr_meta").Scan(&s.epoch, &last); err != nil {
		return fmt.Errorf("the store's epoch: %w", err)
	}
	s.newest = uint64(last)
	return nil
}

// Pool is the store's connection pool, for the cluster's own work
// (advisory locks) and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Epoch implements store.Store.
func (s *Store) Epoch() string { return s.epoch }

// Close implements store.Store; a second call does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
			<-s.done
		}
		s.pool.Close()
	})
	return nil
}

func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// LastSeq implements store.Store.
func (s *Store) LastSeq() (uint64, error) {
	ctx, cancel := opCtx()
	defer cancel()
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT last_seq FROM kmcr_meta").Scan(&n)
	return uint64(n), wrap(err)
}

// Secret implements store.Store.
func (s *Store) Secret(name string) ([]byte, error) {
	ctx, cancel := opCtx()
	defer cancel()
	v := make([]byte, 32)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	if _, err := s.pool.Exec(ctx, "INSERT INTO secret (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", name, v); err != nil {
		return nil, wrap(err)
	}
	var out []byte
	err := s.pool.QueryRow(ctx, "SELECT value FROM secret WHERE name = $1", name).Scan(&out)
	return out, wrap(err)
}

// DropSecret deletes the secret kept under name and reports whether one
// was there (store.Bolt's counterpart: it moves a key an older version
// kept in the database out of it).
func (s *Store) DropSecret(name string) (bool, error) {
	ctx, cancel := opCtx()
	defer cancel()
	tag, err := s.pool.Exec(ctx, "DELETE FROM secret WHERE name = $1", name)
	if err != nil {
		return false, wrap(err)
	}
	return tag.RowsAffected() > 0, nil
}

// Subscribe implements store.Store.
func (s *Store) Subscribe() (<-chan uint64, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	ch := make(chan uint64, 1)
	s.subs[id] = ch
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

// notify tells subscribers the newest sequence, replacing an unread one;
// an older number than one already told is dropped (notifications from
// this node's commits, other nodes' NOTIFYs and the poll can cross).
func (s *Store) notify(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.newest {
		return
	}
	s.newest = seq
	for _, ch := range s.subs {
		select {
		case <-ch:
		default:
		}
		ch <- seq
	}
}

// listen follows other nodes' changes: LISTEN on a connection of its own,
// a poll of the counter every PollInterval, and on every (re)connection a
// poll too, for what was committed while it was not listening.
func (s *Store) listen(ctx context.Context) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		_ = err // the database is away: keep polling through the pool until it is back
		s.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, PollInterval)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	s.poll(ctx)
	for {
		wctx, cancel := context.WithTimeout(ctx, PollInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if seq, perr := strconv.ParseUint(n.Payload, 10, 64); perr == nil {
				s.notify(seq)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			s.poll(ctx)
		default:
			return err
		}
	}
}

// poll reads the newest sequence and tells subscribers if it moved.
func (s *Store) poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(pctx, "SELECT last_seq FROM kmcr_meta").Scan(&n); err == nil {
		s.notify(uint64(n))
	}
}

// TryLock runs fn if this node gets the cluster-wide advisory lock key,
// and reports whether it did; fn runs while the lock is held, so work
// guarded by one key runs on one node at a time.
func (s *Store) TryLock(ctx context.Context, key int64, fn func() error) (bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, wrap(err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, wrap(err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", key); err != nil {
			conn.Conn().Close(context.Background()) // a session lock dies with its session
		}
	}()
	return true, fn()
}

var _ store.Exclusive = (*Store)(nil)

// Exclusive implements store.Exclusive with a session advisory lock whose
// key is derived from name, so one node at a time runs work of that name.
func (s *Store) Exclusive(name string, fn func() error) (bool, error) {
	h := fnv.New64a()
	h.Write([]byte("kmcr/" + name))
	ctx, cancel := opCtx()
	defer cancel()
	return s.TryLock(ctx, int64(h.Sum64()), fn)
}

// wtx is a write transaction that may append to the change log.
type wtx struct {
	pgx.Tx
	ctx    context.Context
	locked bool
	last   uint64 // the counter after this transaction's appends
	added  int
}

// write runs fn in a transaction and, once it commits, tells subscribers
// of what it appended.
func (s *Store) write(fn func(w *wtx) error) error {
	ctx, cancel := opCtx()
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback(context.Background())
	w := &wtx{Tx: tx, ctx: ctx}
	if err := fn(w); err != nil {
		return wrap(err)
	}
	if w.added > 0 {
		if _, err := tx.Exec(ctx, "UPDATE kmcr_meta SET last_seq = $1", int64(w.last)); err != nil {
			return wrap(err)
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, strconv.FormatUint(w.last, 10)); err != nil {
			return wrap(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(err)
	}
	if w.added > 0 {
		s.notify(w.last)
	}
	return nil
}

// lockLog takes the change log's lock; every transaction that may append
// takes it before anything else, so they commit in sequence order and
// cannot deadlock on it.
func (w *wtx) lockLog() error {
	if w.locked {
		return nil
	}
	var n int64
	if err := w.QueryRow(w.ctx, "SELECT last_seq FROM kmcr_meta FOR UPDATE").Scan(&n); err != nil {
		return err
	}
	w.locked, w.last = true, uint64(n)
	return nil
}

// appendChanges logs cs with the next sequence numbers, returning the
// first one.
func (w *wtx) appendChanges(cs []store.Change) (uint64, error) {
	if err := w.lockLog(); err != nil {
		return 0, err
	}
	first := w.last + 1
	if len(cs) == 0 {
		return first, nil
	}
	rows := make([][]any, len(cs))
	for i, c := range cs {
		c.Seq = first + uint64(i)
		rows[i] = []any{int64(c.Seq), c.Kind, nullText(c.NHS), nullText(c.User), nullText(c.Device), nullText(c.Reason), c.At.UTC()}
	}
	if _, err := w.CopyFrom(w.ctx, pgx.Identifier{"change_log"}, []string{"seq", "kind", "nhs", "user_name", "device", "reason", "at"}, pgx.CopyFromRows(rows)); err != nil {
		return 0, err
	}
	w.last += uint64(len(cs))
	w.added += len(cs)
	return first, nil
}

// Changes implements store.Store.
func (s *Store) Changes(after uint64, fn func(store.Change) error) error {
	if after >= math.MaxInt64 {
		return nil // no sequence number can follow it
	}
	cur := int64(after)
	for {
		var batch []store.Change
		err := s.query(func(ctx context.Context, q querier) error {
			rows, err := q.Query(ctx, "SELECT seq, kind, coalesce(nhs, ''), coalesce(user_name, ''), coalesce(device, ''), coalesce(reason, ''), at FROM change_log WHERE seq > $1 ORDER BY seq LIMIT $2", cur, page)
			if err != nil {
				return err
			}
			var c store.Change
			var seq int64
			_, err = pgx.ForEachRow(rows, []any{&seq, &c.Kind, &c.NHS, &c.User, &c.Device, &c.Reason, &c.At}, func() error {
				c.Seq, c.At = uint64(seq), c.At.UTC()
				batch = append(batch, c)
				return nil
			})
			return err
		})
		if err != nil {
			return err
		}
		for _, c := range batch {
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		cur = int64(batch[len(batch)-1].Seq)
	}
}

// querier is what reads need of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// query runs fn with a bounded context.
func (s *Store) query(fn func(ctx context.Context, q querier) error) error {
	ctx, cancel := opCtx()
	defer cancel()
	return wrap(fn(ctx, s.pool))
}

// ErrUnavailable is store.ErrUnavailable: the database cannot be reached
// (down, restarting, failing over), so callers can say "central record
// unavailable" rather than report a bug, and try again later.
var ErrUnavailable = store.ErrUnavailable

// unavailable is an ErrUnavailable whose text says what happened without
// the database's address or user (sync sessions pass it to clients).
type unavailable struct {
	what  string
	cause error
}

func (e *unavailable) Error() string   { return store.ErrUnavailable.Error() + ": " + e.what }
func (e *unavailable) Unwrap() []error { return []error{store.ErrUnavailable, e.cause} }

// wrap marks connection failures with ErrUnavailable; other errors pass.
func wrap(err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57P01" || pgErr.Code == "57P02":
			return &unavailable{"the database is shutting down", err}
		case pgErr.Code == "57P03":
			return &unavailable{"the database is starting up", err}
		case strings.HasPrefix(pgErr.Code, "08"):
			return &unavailable{"the database connection failed", err}
		case pgErr.Code == "25006":
			return &unavailable{"the database is a read-only standby", err}
		}
		return err
	}
	if isConnErr(err) || pgconn.Timeout(err) {
		return &unavailable{"the database cannot be reached", err}
	}
	return err
}

func isConnErr(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := err.Error()
	for _, m := range []string{"conn closed", "connection reset", "broken pipe", "unexpected EOF", "connection refused", "failed to connect"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// nullText stores "" as NULL.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime stores the zero time as NULL, others in UTC.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// timeOf reads a nullable time.
func timeOf(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.UTC()
}
