package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kmcr/server/store"
)

// AddUser implements store.Store.
func (s *Store) AddUser(u store.User) error {
	return s.write(func(w *wtx) error {
		tag, err := w.Exec(w.ctx, "INSERT INTO app_user ("+userCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING", userArgs(u)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %q: %w", u.Name, store.ErrExists)
		}
		return nil
	})
}

const userCols = "name, role, password_hash, created, disabled, disabled_at, password_changed, org"

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	var created, disabledAt, changed *time.Time
	err := row.Scan(&u.Name, &u.Role, &u.PasswordHash, &created, &u.Disabled, &disabledAt, &changed, &u.Org)
	u.Created, u.DisabledAt, u.PasswordChanged = timeOf(created), timeOf(disabledAt), timeOf(changed)
	return u, err
}

func userArgs(u store.User) []any {
	return []any{u.Name, u.Role, u.PasswordHash, nullTime(u.Created), u.Disabled, nullTime(u.DisabledAt), nullTime(u.PasswordChanged), u.Org}
}

// UpdateUser implements store.Store: the user's row is locked while fn
// runs, so two nodes updating one user take turns.
func (s *Store) UpdateUser(name string, fn func(u *store.User) error) error {
	err := s.write(func(w *wtx) error {
		u, err := scanUser(w.QueryRow(w.ctx, "SELECT "+userCols+" FROM app_user WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user %s: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			return errFn{err}
		}
		if u.Name != name {
			return fmt.Errorf("updating user %s: the name cannot change (to %q)", name, u.Name)
		}
		_, err = w.Exec(w.ctx, "UPDATE app_user SET role = $2, password_hash = $3, created = $4, disabled = $5, disabled_at = $6, password_changed = $7, org = $8 WHERE name = $1", userArgs(u)...)
		return err
	})
	var fe errFn
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// User implements store.Store.
func (s *Store) User(name string) (store.User, error) {
	var u store.User
	err := s.query(func(ctx context.Context, q querier) error {
		var err error
		u, err = scanUser(q.QueryRow(ctx, "SELECT "+userCols+" FROM app_user WHERE name = $1", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user %s: %w", name, store.ErrNotFound)
		}
		return err
	})
	return u, err
}

// Users implements store.Store.
func (s *Store) Users() ([]store.User, error) {
	var out []store.User
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, "SELECT "+userCols+" FROM app_user ORDER BY name")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	return out, err
}

func (w *wtx) userExists(user string) error {
	var one int
	err := w.QueryRow(w.ctx, "SELECT 1 FROM app_user WHERE name = $1", user).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("user %q: %w", user, store.ErrNotFound)
	}
	return err
}

// CaseloadAdd implements store.Store.
func (s *Store) CaseloadAdd(user string, nhs []string) ([]string, error) {
	var changed []string
	err := s.write(func(w *wtx) error {
		changed = nil
		if err := w.lockLog(); err != nil {
			return err
		}
		if err := w.userExists(user); err != nil {
			return err
		}
		if len(nhs) == 0 {
			return nil
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		rows, err := w.Query(w.ctx, `INSERT INTO caseload (nhs, user_name, added)
			SELECT n, $1, $3 FROM unnest($2::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i
			ON CONFLICT DO NOTHING RETURNING nhs`, user, nhs, now)
		if err != nil {
			return err
		}
		changed, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		cs := make([]store.Change, len(changed))
		for i, n := range changed {
			cs[i] = store.Change{Kind: store.ChangeCaseloadAdd, User: user, NHS: n, At: now}
		}
		_, err = w.appendChanges(cs)
		return err
	})
	return changed, err
}

// CaseloadRemove implements store.Store.
func (s *Store) CaseloadRemove(user string, nhs []string) ([]string, error) {
	var changed []string
	err := s.write(func(w *wtx) error {
		changed = nil
		if err := w.lockLog(); err != nil {
			return err
		}
		if err := w.userExists(user); err != nil {
			return err
		}
		if len(nhs) == 0 {
			return nil
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		rows, err := w.Query(w.ctx, "DELETE FROM caseload WHERE user_name = $1 AND nhs = ANY($2::text[]) RETURNING nhs", user, nhs)
		if err != nil {
			return err
		}
		changed, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		cs := make([]store.Change, len(changed))
		for i, n := range changed {
			cs[i] = store.Change{Kind: store.ChangeCaseloadRemove, User: user, NHS: n, At: now}
		}
		_, err = w.appendChanges(cs)
		return err
	})
	return changed, err
}

// InCaseload implements store.Store.
func (s *Store) InCaseload(user, nhs string) (bool, error) {
	var in bool
	err := s.query(func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM caseload WHERE nhs = $1 AND user_name = $2)", nhs, user).Scan(&in)
	})
	return in, err
}

// permittedSQL is the user's caseload merged with their live
// relationships and incident grants, after an NHS number, in NHS-number
// order; a number in several is the caseload's, then the relationship's.
const permittedSQL = `
	SELECT nhs, min(src), max(expires) FILTER (WHERE src = 1), max(expires) FILTER (WHERE src = 2) FROM (
		SELECT nhs, 0 AS src, NULL::timestamptz AS expires FROM caseload WHERE user_name = $1 AND nhs > $2
		UNION ALL
		SELECT nhs, 1, expires FROM relationship WHERE user_name = $1 AND nhs > $2 AND expires > $3
		UNION ALL
		SELECT nhs, 2, expires FROM incident_grant WHERE user_name = $1 AND nhs > $2 AND expires > $3
	) p GROUP BY nhs`

// Permitted implements store.Store.
func (s *Store) Permitted(user, after string, now time.Time, fn func(nhs, rel string, expires time.Time) error) error {
	type item struct {
		nhs         string
		src         int
		rel, incExp *time.Time
	}
	for {
		var batch []item
		err := s.query(func(ctx context.Context, q querier) error {
			rows, err := q.Query(ctx, permittedSQL+" ORDER BY nhs LIMIT $4", user, after, now.UTC(), page)
			if err != nil {
				return err
			}
			var it item
			_, err = pgx.ForEachRow(rows, []any{&it.nhs, &it.src, &it.rel, &it.incExp}, func() error {
				batch = append(batch, it)
				return nil
			})
			return err
		})
		if err != nil {
			return err
		}
		for _, it := range batch {
			var err error
			switch it.src {
			case 0:
				err = fn(it.nhs, "caseload", time.Time{})
			case 1:
				err = fn(it.nhs, "break-glass", timeOf(it.rel))
			default:
				err = fn(it.nhs, "incident", timeOf(it.incExp))
			}
			if err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		after = batch[len(batch)-1].nhs
	}
}

// CountPermitted implements store.Store.
func (s *Store) CountPermitted(user, after string, now time.Time) (int, error) {
	var n int
	err := s.query(func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, "SELECT count(*) FROM ("+permittedSQL+") c", user, after, now.UTC()).Scan(&n)
	})
	return n, err
}

// Object implements store.Store.
func (s *Store) Object(nhs, purpose string) (bool, error) {
	changed := false
	err := s.write(func(w *wtx) error {
		changed = false
		if err := w.lockLog(); err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		tag, err := w.Exec(w.ctx, "INSERT INTO objection (nhs, purpose, added) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", nhs, purpose, now)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		changed = true
		_, err = w.appendChanges([]store.Change{{Kind: store.ChangeObjection, NHS: nhs, Reason: purpose, At: now}})
		return err
	})
	return changed, err
}

// Withdraw implements store.Store.
func (s *Store) Withdraw(nhs, purpose string) (bool, error) {
	changed := false
	err := s.write(func(w *wtx) error {
		changed = false
		if err := w.lockLog(); err != nil {
			return err
		}
		tag, err := w.Exec(w.ctx, "DELETE FROM objection WHERE nhs = $1 AND purpose = $2", nhs, purpose)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		changed = true
		_, err = w.appendChanges([]store.Change{{Kind: store.ChangeWithdraw, NHS: nhs, Reason: purpose, At: time.Now().UTC().Truncate(time.Microsecond)}})
		return err
	})
	return changed, err
}

// Objections implements store.Store, in the order they were made.
func (s *Store) Objections(nhs string) ([]string, error) {
	var out []string
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, "SELECT purpose FROM objection WHERE nhs = $1 ORDER BY added, purpose", nhs)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}

// GrantRelationship implements store.Store; a second grant replaces the first.
func (s *Store) GrantRelationship(r store.Relationship) error {
	return s.write(func(w *wtx) error {
		if err := w.lockLog(); err != nil {
			return err
		}
		_, err := w.Exec(w.ctx, `INSERT INTO relationship (nhs, user_name, granted, expires, reason_code, reason_text, device)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (nhs, user_name) DO UPDATE SET granted = EXCLUDED.granted, expires = EXCLUDED.expires,
				reason_code = EXCLUDED.reason_code, reason_text = EXCLUDED.reason_text, device = EXCLUDED.device`,
			r.NHS, r.User, nullTime(r.Granted), r.Expires.UTC(), r.ReasonCode, r.ReasonText, r.Device)
		if err != nil {
			return err
		}
		_, err = w.appendChanges([]store.Change{{Kind: store.ChangeRelationship, User: r.User, NHS: r.NHS, Reason: r.ReasonCode, At: r.Granted}})
		return err
	})
}

// Relationship implements store.Store.
func (s *Store) Relationship(user, nhs string, now time.Time) (store.Relationship, bool, error) {
	var r store.Relationship
	found := false
	err := s.query(func(ctx context.Context, q querier) error {
		var granted, expires *time.Time
		err := q.QueryRow(ctx, "SELECT nhs, user_name, granted, expires, reason_code, reason_text, device FROM relationship WHERE nhs = $1 AND user_name = $2", nhs, user).
			Scan(&r.NHS, &r.User, &granted, &expires, &r.ReasonCode, &r.ReasonText, &r.Device)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		r.Granted, r.Expires = timeOf(granted), timeOf(expires)
		found = r.Expires.After(now)
		return nil
	})
	return r, found, err
}

// ExpireRelationships implements store.Store.
func (s *Store) ExpireRelationships(now time.Time) (int, error) {
	n := 0
	err := s.write(func(w *wtx) error {
		n = 0
		if err := w.lockLog(); err != nil {
			return err
		}
		rows, err := w.Query(w.ctx, "DELETE FROM relationship WHERE expires <= $1 RETURNING user_name, nhs", now.UTC())
		if err != nil {
			return err
		}
		var cs []store.Change
		var user, nhs string
		if _, err := pgx.ForEachRow(rows, []any{&user, &nhs}, func() error {
			cs = append(cs, store.Change{Kind: store.ChangeRelationshipEnd, User: user, NHS: nhs, At: now})
			return nil
		}); err != nil {
			return err
		}
		n = len(cs)
		_, err = w.appendChanges(cs)
		return err
	})
	return n, err
}

const deviceCols = "id, user_name, public_key, host, registered, last_seen, revoked, revoked_at, refresh_hash, refresh_expires, prev_refresh_hash, prev_refresh_until, token_gen, chain, spent_refresh"

func scanDevice(row pgx.Row) (store.Device, error) {
	var d store.Device
	var reg, seen, revAt, refExp, prevUntil *time.Time
	var gen int64
	err := row.Scan(&d.ID, &d.User, &d.PublicKey, &d.Host, &reg, &seen, &d.Revoked, &revAt, &d.RefreshHash, &refExp, &d.PrevRefreshHash, &prevUntil, &gen, &d.Chain, &d.SpentRefresh)
	d.Registered, d.LastSeen, d.RevokedAt, d.RefreshExpires, d.PrevRefreshUntil = timeOf(reg), timeOf(seen), timeOf(revAt), timeOf(refExp), timeOf(prevUntil)
	d.TokenGen = uint64(gen)
	return d, err
}

func deviceArgs(d store.Device) []any {
	return []any{d.ID, d.User, d.PublicKey, d.Host, nullTime(d.Registered), nullTime(d.LastSeen), d.Revoked, nullTime(d.RevokedAt),
		d.RefreshHash, nullTime(d.RefreshExpires), d.PrevRefreshHash, nullTime(d.PrevRefreshUntil), int64(d.TokenGen), d.Chain, d.SpentRefresh}
}

// RegisterDevice implements store.Store.
func (s *Store) RegisterDevice(d store.Device) error {
	if d.TokenGen > 1<<62 {
		return fmt.Errorf("device %s: token generation %d out of range", d.ID, d.TokenGen)
	}
	return s.write(func(w *wtx) error {
		tag, err := w.Exec(w.ctx, "INSERT INTO device ("+deviceCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING", deviceArgs(d)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("device %s: %w", d.ID, store.ErrExists)
		}
		return nil
	})
}

func (w *wtx) lockDevice(id string) (store.Device, error) {
	d, err := scanDevice(w.QueryRow(w.ctx, "SELECT "+deviceCols+" FROM device WHERE id = $1 FOR UPDATE", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	return d, err
}

func (w *wtx) putDevice(d store.Device) error {
	if d.TokenGen > 1<<62 {
		return fmt.Errorf("device %s: token generation %d out of range", d.ID, d.TokenGen)
	}
	_, err := w.Exec(w.ctx, `UPDATE device SET user_name = $2, public_key = $3, host = $4, registered = $5, last_seen = $6, revoked = $7,
		revoked_at = $8, refresh_hash = $9, refresh_expires = $10, prev_refresh_hash = $11, prev_refresh_until = $12, token_gen = $13, chain = $14,
		spent_refresh = $15 WHERE id = $1`, deviceArgs(d)...)
	return err
}

// Device implements store.Store.
func (s *Store) Device(id string) (store.Device, error) {
	var d store.Device
	err := s.query(func(ctx context.Context, q querier) error {
		var err error
		d, err = scanDevice(q.QueryRow(ctx, "SELECT "+deviceCols+" FROM device WHERE id = $1", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("device %s: %w", id, store.ErrNotFound)
		}
		return err
	})
	return d, err
}

// errFn keeps the update function's error apart from the database's.
type errFn struct{ err error }

func (e errFn) Error() string { return e.err.Error() }
func (e errFn) Unwrap() error { return e.err }

// UpdateDevice implements store.Store: the device's row is locked while
// fn runs, so two nodes updating one device take turns.
func (s *Store) UpdateDevice(id string, fn func(d *store.Device) error) error {
	err := s.write(func(w *wtx) error {
		d, err := w.lockDevice(id)
		if err != nil {
			return err
		}
		if err := fn(&d); err != nil {
			return errFn{err}
		}
		if d.ID != id {
			return fmt.Errorf("updating device %s: its ID cannot change (to %q)", id, d.ID)
		}
		return w.putDevice(d)
	})
	var fe errFn
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// Devices implements store.Store.
func (s *Store) Devices() ([]store.Device, error) {
	var out []store.Device
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, "SELECT "+deviceCols+" FROM device ORDER BY id")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDevice(rows)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// RevokeDevice implements store.Store.
func (s *Store) RevokeDevice(id string, now time.Time) error {
	return s.write(func(w *wtx) error {
		if err := w.lockLog(); err != nil {
			return err
		}
		d, err := w.lockDevice(id)
		if err != nil || d.Revoked {
			return err
		}
		d.Revoked, d.RevokedAt, d.RefreshHash, d.PrevRefreshHash = true, now, nil, nil
		if err := w.putDevice(d); err != nil {
			return err
		}
		_, err = w.appendChanges([]store.Change{{Kind: store.ChangeDeviceRevoked, Device: id, User: d.User, At: now}})
		return err
	})
}
