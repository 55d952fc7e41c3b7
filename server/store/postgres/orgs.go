package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kmcr/server/store"
)

const orgCols = "ods, name, kind, dspt, created, updated"

func scanOrg(row pgx.Row) (store.Org, error) {
	var o store.Org
	var created, updated *time.Time
	err := row.Scan(&o.ODS, &o.Name, &o.Kind, &o.DSPT, &created, &updated)
	o.Created, o.Updated = timeOf(created), timeOf(updated)
	return o, err
}

func orgArgs(o store.Org) []any {
	return []any{o.ODS, o.Name, o.Kind, o.DSPT, nullTime(o.Created), nullTime(o.Updated)}
}

// AddOrg implements store.Store.
func (s *Store) AddOrg(o store.Org) error {
	return s.write(func(w *wtx) error {
		tag, err := w.Exec(w.ctx, "INSERT INTO organisation ("+orgCols+") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING", orgArgs(o)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("organisation %s: %w", o.ODS, store.ErrExists)
		}
		return nil
	})
}

// Org implements store.Store.
func (s *Store) Org(ods string) (store.Org, error) {
	var o store.Org
	err := s.query(func(ctx context.Context, q querier) error {
		var err error
		o, err = scanOrg(q.QueryRow(ctx, "SELECT "+orgCols+" FROM organisation WHERE ods = $1", ods))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("organisation %s: %w", ods, store.ErrNotFound)
		}
		return err
	})
	return o, err
}

// Orgs implements store.Store, in byte order of the code.
func (s *Store) Orgs() ([]store.Org, error) {
	var out []store.Org
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, `SELECT `+orgCols+` FROM organisation ORDER BY ods COLLATE "C"`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o, err := scanOrg(rows)
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return rows.Err()
	})
	return out, err
}

// UpdateOrg implements store.Store: the row is locked while fn runs.
func (s *Store) UpdateOrg(ods string, fn func(o *store.Org) error) error {
	err := s.write(func(w *wtx) error {
		o, err := scanOrg(w.QueryRow(w.ctx, "SELECT "+orgCols+" FROM organisation WHERE ods = $1 FOR UPDATE", ods))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("organisation %s: %w", ods, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := fn(&o); err != nil {
			return errFn{err}
		}
		if o.ODS != ods {
			return fmt.Errorf("updating organisation %s: its ODS code cannot change (to %q)", ods, o.ODS)
		}
		_, err = w.Exec(w.ctx, "UPDATE organisation SET name = $2, kind = $3, dspt = $4, created = $5, updated = $6 WHERE ods = $1", orgArgs(o)...)
		return err
	})
	var fe errFn
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}
