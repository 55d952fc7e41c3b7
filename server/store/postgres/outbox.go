package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kmcr/server/store"
)

const notifyCols = "id, nhs, kind, org, who, at, created, quiet, claimed_by, claimed_at, attempts, next_attempt, last_error, sent, sent_to"

func scanNotification(row pgx.Row) (store.Notification, error) {
	var n store.Notification
	var at, created time.Time
	var claimed, next, sent *time.Time
	err := row.Scan(&n.ID, &n.NHS, &n.Kind, &n.Org, &n.Who, &at, &created, &n.Quiet, &n.ClaimedBy, &claimed, &n.Attempts, &next, &n.LastError, &sent, &n.To)
	n.At, n.Created = at.UTC(), created.UTC()
	n.ClaimedAt, n.NextAttempt, n.Sent = timeOf(claimed), timeOf(next), timeOf(sent)
	return n, err
}

// AddNotifications implements store.Store: ON CONFLICT DO NOTHING, so two
// nodes queuing one event make one row.
func (s *Store) AddNotifications(ns []store.Notification) (int, error) {
	added := 0
	err := s.write(func(w *wtx) error {
		added = 0
		for _, n := range ns {
			tag, err := w.Exec(w.ctx, "INSERT INTO notification ("+notifyCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING",
				n.ID, n.NHS, n.Kind, n.Org, n.Who, n.At.UTC(), n.Created.UTC(), n.Quiet, n.ClaimedBy, nullTime(n.ClaimedAt), n.Attempts, nullTime(n.NextAttempt), n.LastError, nullTime(n.Sent), n.To)
			if err != nil {
				return err
			}
			added += int(tag.RowsAffected())
		}
		return nil
	})
	return added, err
}

// Notification implements store.Store.
func (s *Store) Notification(id string) (store.Notification, error) {
	var n store.Notification
	err := s.query(func(ctx context.Context, q querier) error {
		var err error
		n, err = scanNotification(q.QueryRow(ctx, "SELECT "+notifyCols+" FROM notification WHERE id = $1", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("notification %s: %w", id, store.ErrNotFound)
		}
		return err
	})
	return n, err
}

// PatientNotifications implements store.Store.
func (s *Store) PatientNotifications(nhs string) ([]store.Notification, error) {
	var out []store.Notification
	err := s.query(func(ctx context.Context, q querier) error {
		out = nil
		rows, err := q.Query(ctx, "SELECT "+notifyCols+` FROM notification WHERE nhs = $1 AND NOT quiet ORDER BY at DESC, id COLLATE "C"`, nhs)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}

// ClaimNotification implements store.Store: one UPDATE whose row is
// chosen with FOR UPDATE SKIP LOCKED, so nodes claiming at once take
// different rows and never the same one.
func (s *Store) ClaimNotification(node string, now time.Time, stale time.Duration) (store.Notification, bool, error) {
	var n store.Notification
	ok := false
	err := s.write(func(w *wtx) error {
		var err error
		n, err = scanNotification(w.QueryRow(w.ctx, `UPDATE notification SET claimed_by = $1, claimed_at = $2, attempts = attempts + 1
WHERE id = (SELECT id FROM notification
    WHERE sent IS NULL AND NOT quiet AND (next_attempt IS NULL OR next_attempt <= $2)
      AND (claimed_by = '' OR claimed_at <= $3)
    ORDER BY created, id COLLATE "C" LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING `+notifyCols, node, now.UTC(), now.Add(-stale).UTC()))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		ok = err == nil
		return err
	})
	return n, ok, err
}

func (s *Store) updateNotification(id, sql string, args ...any) error {
	return s.write(func(w *wtx) error {
		var one int
		err := w.QueryRow(w.ctx, "SELECT 1 FROM notification WHERE id = $1 FOR UPDATE", id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("notification %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = w.Exec(w.ctx, sql, append([]any{id}, args...)...)
		return err
	})
}

// NotificationSent implements store.Store.
func (s *Store) NotificationSent(id, node string, at time.Time, to string) error {
	return s.updateNotification(id, "UPDATE notification SET sent = $2, sent_to = $3, claimed_by = '', claimed_at = NULL WHERE id = $1", at.UTC(), to)
}

// NotificationRetry implements store.Store.
func (s *Store) NotificationRetry(id, node string, next time.Time, reason string) error {
	return s.updateNotification(id, "UPDATE notification SET claimed_by = '', claimed_at = NULL, next_attempt = $3, last_error = $4 WHERE id = $1 AND claimed_by = $2 AND sent IS NULL",
		node, next.UTC(), reason)
}

// SetContact implements store.Store.
func (s *Store) SetContact(nhs, email string) error {
	return s.write(func(w *wtx) error {
		if email == "" {
			_, err := w.Exec(w.ctx, "DELETE FROM contact WHERE nhs = $1", nhs)
			return err
		}
		_, err := w.Exec(w.ctx, "INSERT INTO contact (nhs, email) VALUES ($1, $2) ON CONFLICT (nhs) DO UPDATE SET email = EXCLUDED.email", nhs, email)
		return err
	})
}

// Contact implements store.Store.
func (s *Store) Contact(nhs string) (string, error) {
	var email string
	err := s.query(func(ctx context.Context, q querier) error {
		err := q.QueryRow(ctx, "SELECT email FROM contact WHERE nhs = $1", nhs).Scan(&email)
		if errors.Is(err, pgx.ErrNoRows) {
			email = ""
			return nil
		}
		return err
	})
	return email, err
}
