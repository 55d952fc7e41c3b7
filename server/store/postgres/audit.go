package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"kmcr/server/store"
)

// partitionFor makes sure the audit partitions of these months exist,
// remembering the ones it has seen.
func (s *Store) partitionsFor(ctx context.Context, events []store.StoredEvent) error {
	for _, e := range events {
		m := monthStart(e.Recorded)
		s.partMu.Lock()
		known := s.parts[m]
		s.partMu.Unlock()
		if known {
			continue
		}
		if err := ensurePartition(ctx, s.pool, m); err != nil {
			return fmt.Errorf("the audit partition of %s: %w", m.Format("2006-01"), err)
		}
		s.partMu.Lock()
		s.parts[m] = true
		s.partMu.Unlock()
	}
	return nil
}

// StoreAudit implements store.Store. The device's row is locked for the
// transaction, so one device's batches are stored one at a time across
// every node; a receipt per (device, seq) keeps the first version of each
// sequence number whichever node received it.
func (s *Store) StoreAudit(device string, events, conflicts []store.StoredEvent, alerts []store.Alert, chain []byte) error {
	for _, e := range append(append([]store.StoredEvent(nil), events...), conflicts...) {
		if e.Seq > math.MaxInt64 {
			return fmt.Errorf("audit event %d of %s: sequence number out of range", e.Seq, device)
		}
	}
	ctx, cancel := opCtx()
	err := s.partitionsFor(ctx, events)
	cancel()
	if err != nil {
		return wrap(err)
	}
	return s.write(func(w *wtx) error {
		var one int
		if err := w.QueryRow(w.ctx, "SELECT 1 FROM device WHERE id = $1 FOR UPDATE", device).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("device %s: %w", device, store.ErrNotFound)
		} else if err != nil {
			return err
		}
		if len(events) > 0 {
			// The first of several versions of one sequence number in a
			// call wins, as it would against a stored one.
			first := map[uint64]int{}
			var seqs []int64
			var hashes [][]byte
			for i, e := range events {
				if _, dup := first[e.Seq]; dup {
					continue
				}
				first[e.Seq] = i
				seqs, hashes = append(seqs, int64(e.Seq)), append(hashes, e.Hash)
			}
			rows, err := w.Query(w.ctx, `INSERT INTO audit_receipt (device, seq, hash)
				SELECT $1, * FROM unnest($2::bigint[], $3::bytea[]) ON CONFLICT DO NOTHING RETURNING seq`, device, seqs, hashes)
			if err != nil {
				return err
			}
			fresh, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			evRows := make([][]any, 0, len(fresh))
			for _, seq := range fresh {
				e := events[first[uint64(seq)]]
				evRows = append(evRows, []any{device, seq, e.Recorded.UTC(), nullText(e.NHS), e.Hash, nonNil(e.Canonical), e.Malformed, e.Reason})
			}
			if _, err := w.CopyFrom(w.ctx, pgx.Identifier{"audit_event"}, []string{"device", "seq", "recorded", "nhs", "hash", "canonical", "malformed", "reason"}, pgx.CopyFromRows(evRows)); err != nil {
				return err
			}
		}
		if len(conflicts) > 0 {
			b := &pgx.Batch{}
			for _, e := range conflicts {
				b.Queue(`INSERT INTO audit_conflict (device, seq, hash, recorded, nhs, canonical, malformed, reason)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
					ON CONFLICT (device, seq, hash) DO UPDATE SET recorded = EXCLUDED.recorded, nhs = EXCLUDED.nhs,
						canonical = EXCLUDED.canonical, malformed = EXCLUDED.malformed, reason = EXCLUDED.reason`,
					device, int64(e.Seq), nonNil(e.Hash), e.Recorded.UTC(), nullText(e.NHS), nonNil(e.Canonical), e.Malformed, e.Reason)
			}
			if err := w.SendBatch(w.ctx, b).Close(); err != nil {
				return err
			}
		}
		if err := w.addAlerts(alerts); err != nil {
			return err
		}
		_, err := w.Exec(w.ctx, "UPDATE device SET chain = $2 WHERE id = $1", device, chain)
		return err
	})
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// AuditHash implements store.Store.
func (s *Store) AuditHash(device string, seq uint64) ([]byte, bool, error) {
	if seq > math.MaxInt64 {
		return nil, false, nil
	}
	var h []byte
	err := s.query(func(ctx context.Context, q querier) error {
		err := q.QueryRow(ctx, "SELECT hash FROM audit_receipt WHERE device = $1 AND seq = $2", device, int64(seq)).Scan(&h)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return h, h != nil, err
}

const eventCols = "device, seq, recorded, coalesce(nhs, ''), hash, canonical, malformed, reason"

// events reads one page of events.
func (s *Store) events(sql string, args ...any) ([]store.StoredEvent, error) {
	var out []store.StoredEvent
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		var e store.StoredEvent
		var seq int64
		_, err = pgx.ForEachRow(rows, []any{&e.Device, &seq, &e.Recorded, &e.NHS, &e.Hash, &e.Canonical, &e.Malformed, &e.Reason}, func() error {
			e.Seq, e.Recorded = uint64(seq), e.Recorded.UTC()
			out = append(out, e)
			e = store.StoredEvent{}
			return nil
		})
		return err
	})
	return out, err
}

// AccessLog implements store.Store: by recorded time, then device and
// sequence.
func (s *Store) AccessLog(nhs string, fn func(store.StoredEvent) error) error {
	var (
		at     = time.Time{}
		device = ""
		seq    = int64(-1)
		first  = true
	)
	for {
		var batch []store.StoredEvent
		var err error
		if first {
			batch, err = s.events("SELECT "+eventCols+" FROM audit_event WHERE nhs = $1 ORDER BY recorded, device, seq LIMIT $2", nhs, page)
		} else {
			batch, err = s.events("SELECT "+eventCols+" FROM audit_event WHERE nhs = $1 AND (recorded, device, seq) > ($2, $3, $4) ORDER BY recorded, device, seq LIMIT $5", nhs, at, device, seq, page)
		}
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		l := batch[len(batch)-1]
		at, device, seq, first = l.Recorded, l.Device, int64(l.Seq), false
	}
}

// AuditEvents implements store.Store.
func (s *Store) AuditEvents(device string, fn func(store.StoredEvent) error) error {
	after := int64(-1)
	for {
		batch, err := s.events("SELECT "+eventCols+" FROM audit_event WHERE device = $1 AND seq > $2 ORDER BY seq LIMIT $3", device, after, page)
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		after = int64(batch[len(batch)-1].Seq)
	}
}

// Conflicts implements store.Store.
func (s *Store) Conflicts(device string, fn func(store.StoredEvent) error) error {
	var (
		seq  = int64(-1)
		hash []byte
	)
	for {
		batch, err := s.events("SELECT "+eventCols+" FROM audit_conflict WHERE device = $1 AND (seq, hash) > ($2, $3) ORDER BY seq, hash LIMIT $4", device, seq, nonNil(hash), page)
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		l := batch[len(batch)-1]
		seq, hash = int64(l.Seq), l.Hash
	}
}

// AddAlerts implements store.Store.
func (s *Store) AddAlerts(alerts []store.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	return s.write(func(w *wtx) error { return w.addAlerts(alerts) })
}

// addAlerts numbers alerts from the cluster's one counter, whose row lock
// keeps the numbers gapless and in commit order.
func (w *wtx) addAlerts(alerts []store.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	var last int64
	if err := w.QueryRow(w.ctx, "UPDATE alert_counter SET last_id = last_id + $1 RETURNING last_id", len(alerts)).Scan(&last); err != nil {
		return err
	}
	first := last - int64(len(alerts)) + 1
	rows := make([][]any, len(alerts))
	for i, a := range alerts {
		if a.Seq > math.MaxInt64 {
			return fmt.Errorf("alert %q: sequence number out of range", a.Kind)
		}
		rows[i] = []any{first + int64(i), a.Kind, nullText(a.Device), nullText(a.User), nullText(a.NHS), int64(a.Seq), a.Detail, a.At.UTC()}
	}
	_, err := w.CopyFrom(w.ctx, pgx.Identifier{"alert"}, []string{"id", "kind", "device", "user_name", "nhs", "seq", "detail", "at"}, pgx.CopyFromRows(rows))
	return err
}

// Alerts implements store.Store.
func (s *Store) Alerts(fn func(store.Alert) error) error {
	after := int64(0)
	for {
		var batch []store.Alert
		err := s.query(func(ctx context.Context, q querier) error {
			rows, err := q.Query(ctx, "SELECT id, kind, coalesce(device, ''), coalesce(user_name, ''), coalesce(nhs, ''), seq, detail, at FROM alert WHERE id > $1 ORDER BY id LIMIT $2", after, page)
			if err != nil {
				return err
			}
			var a store.Alert
			var id, seq int64
			_, err = pgx.ForEachRow(rows, []any{&id, &a.Kind, &a.Device, &a.User, &a.NHS, &seq, &a.Detail, &a.At}, func() error {
				a.ID, a.Seq, a.At = uint64(id), uint64(seq), a.At.UTC()
				batch = append(batch, a)
				return nil
			})
			return err
		})
		if err != nil {
			return err
		}
		for _, a := range batch {
			if err := fn(a); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		after = int64(batch[len(batch)-1].ID)
	}
}

// AccessLogSince implements store.Store: AccessLog from the events
// recorded at or after since, paged the same way.
func (s *Store) AccessLogSince(nhs string, since time.Time, fn func(store.StoredEvent) error) error {
	var (
		at     = time.Time{}
		device = ""
		seq    = int64(-1)
		first  = true
	)
	for {
		var batch []store.StoredEvent
		var err error
		if first {
			batch, err = s.events("SELECT "+eventCols+" FROM audit_event WHERE nhs = $1 AND recorded >= $2 ORDER BY recorded, device, seq LIMIT $3", nhs, since.UTC(), page)
		} else {
			batch, err = s.events("SELECT "+eventCols+" FROM audit_event WHERE nhs = $1 AND (recorded, device, seq) > ($2, $3, $4) ORDER BY recorded, device, seq LIMIT $5", nhs, at, device, seq, page)
		}
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		l := batch[len(batch)-1]
		at, device, seq, first = l.Recorded, l.Device, int64(l.Seq), false
	}
}
