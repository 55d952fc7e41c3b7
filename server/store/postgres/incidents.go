package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kmcr/server/store"
)

// PutIncident implements store.Store.
func (s *Store) PutIncident(in store.Incident) (store.Incident, bool, error) {
	var prev store.Incident
	had := false
	err := s.write(func(w *wtx) error {
		prev, had = store.Incident{}, false
		if err := w.lockLog(); err != nil {
			return err
		}
		var body []byte
		err := w.QueryRow(w.ctx, "SELECT body FROM incident WHERE id = $1 FOR UPDATE", in.ID).Scan(&body)
		switch {
		case err == nil:
			if err := json.Unmarshal(body, &prev); err != nil {
				return fmt.Errorf("incident %s: %w", in.ID, err)
			}
			had = true
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		nb, err := json.Marshal(in)
		if err != nil {
			return err
		}
		if _, err := w.Exec(w.ctx, `INSERT INTO incident (id, body, expires) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, expires = EXCLUDED.expires`, in.ID, nb, in.Expires.UTC()); err != nil {
			return err
		}
		if _, err := w.Exec(w.ctx, "DELETE FROM incident_grant WHERE incident = $1", in.ID); err != nil {
			return err
		}
		if len(in.Crew) > 0 && len(in.NHS) > 0 {
			if _, err := w.Exec(w.ctx, `INSERT INTO incident_grant (user_name, nhs, incident, expires)
				SELECT u, n, $3, $4 FROM unnest($1::text[]) u, unnest($2::text[]) n`, in.Crew, in.NHS, in.ID, in.Expires.UTC()); err != nil {
				return err
			}
		}
		_, err = w.appendChanges(store.IncidentChanges(prev, had, in, true, in.Updated.UTC()))
		return err
	})
	return prev, had, err
}

// endIncidents removes incidents and their grants (the grants go with
// the incident row) and logs their ends.
func (w *wtx) endIncidents(ins []store.Incident, now time.Time) error {
	var cs []store.Change
	ids := make([]string, 0, len(ins))
	for _, in := range ins {
		ids = append(ids, in.ID)
		cs = append(cs, store.IncidentChanges(in, true, store.Incident{}, false, now)...)
	}
	if _, err := w.Exec(w.ctx, "DELETE FROM incident WHERE id = ANY($1::text[])", ids); err != nil {
		return err
	}
	if len(cs) == 0 {
		return nil
	}
	_, err := w.appendChanges(cs)
	return err
}

// EndIncident implements store.Store.
func (s *Store) EndIncident(id string, now time.Time) (store.Incident, error) {
	var in store.Incident
	err := s.write(func(w *wtx) error {
		if err := w.lockLog(); err != nil {
			return err
		}
		var body []byte
		err := w.QueryRow(w.ctx, "SELECT body FROM incident WHERE id = $1 FOR UPDATE", id).Scan(&body)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("incident %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return fmt.Errorf("incident %s: %w", id, err)
		}
		return w.endIncidents([]store.Incident{in}, now.UTC())
	})
	return in, err
}

// Incident implements store.Store.
func (s *Store) Incident(id string) (store.Incident, error) {
	var in store.Incident
	err := s.query(func(ctx context.Context, q querier) error {
		var body []byte
		err := q.QueryRow(ctx, "SELECT body FROM incident WHERE id = $1", id).Scan(&body)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("incident %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(body, &in)
	})
	return in, err
}

func scanIncidents(rows pgx.Rows) ([]store.Incident, error) {
	var out []store.Incident
	var body []byte
	_, err := pgx.ForEachRow(rows, []any{&body}, func() error {
		var in store.Incident
		if err := json.Unmarshal(body, &in); err != nil {
			return err
		}
		out = append(out, in)
		return nil
	})
	return out, err
}

// Incidents implements store.Store.
func (s *Store) Incidents(fn func(store.Incident) error) error {
	var all []store.Incident
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, "SELECT body FROM incident ORDER BY id")
		if err != nil {
			return err
		}
		all, err = scanIncidents(rows)
		return err
	})
	if err != nil {
		return err
	}
	for _, in := range all {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// ExpireIncidents implements store.Store.
func (s *Store) ExpireIncidents(now time.Time) ([]store.Incident, error) {
	var ended []store.Incident
	err := s.write(func(w *wtx) error {
		ended = nil
		if err := w.lockLog(); err != nil {
			return err
		}
		rows, err := w.Query(w.ctx, "SELECT body FROM incident WHERE expires <= $1 ORDER BY id FOR UPDATE", now.UTC())
		if err != nil {
			return err
		}
		if ended, err = scanIncidents(rows); err != nil || len(ended) == 0 {
			return err
		}
		return w.endIncidents(ended, now.UTC())
	})
	return ended, err
}

// IncidentGrant implements store.Store.
func (s *Store) IncidentGrant(user, nhs string, now time.Time) (time.Time, bool, error) {
	var exp *time.Time
	err := s.query(func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, "SELECT max(expires) FROM incident_grant WHERE user_name = $1 AND nhs = $2 AND expires > $3", user, nhs, now.UTC()).Scan(&exp)
	})
	if err != nil || exp == nil {
		return time.Time{}, false, err
	}
	return exp.UTC(), true, nil
}

// PatientsAtPostcode implements store.Store.
func (s *Store) PatientsAtPostcode(postcode string) ([]store.PatientMeta, error) {
	var out []store.PatientMeta
	err := s.query(func(ctx context.Context, q querier) error {
		var err error
		out, err = queryPatients(ctx, q, `WHERE postcodes @> ARRAY[$1::text] ORDER BY nhs COLLATE "C"`, postcode)
		return err
	})
	return out, err
}

// AddDispatcher implements store.Store.
func (s *Store) AddDispatcher(d store.Dispatcher) error {
	return s.write(func(w *wtx) error {
		tag, err := w.Exec(w.ctx, "INSERT INTO dispatcher (name, secret_hash, created) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", d.Name, d.SecretHash, d.Created.UTC())
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("dispatch system %s: %w", d.Name, store.ErrExists)
		}
		return err
	})
}

// Dispatcher implements store.Store.
func (s *Store) Dispatcher(name string) (store.Dispatcher, error) {
	var d store.Dispatcher
	err := s.query(func(ctx context.Context, q querier) error {
		err := q.QueryRow(ctx, "SELECT name, secret_hash, created FROM dispatcher WHERE name = $1", name).Scan(&d.Name, &d.SecretHash, &d.Created)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("dispatch system %s: %w", name, store.ErrNotFound)
		}
		return err
	})
	d.Created = d.Created.UTC()
	return d, err
}

// Dispatchers implements store.Store.
func (s *Store) Dispatchers() ([]store.Dispatcher, error) {
	var out []store.Dispatcher
	err := s.query(func(ctx context.Context, q querier) error {
		out = nil
		rows, err := q.Query(ctx, "SELECT name, secret_hash, created FROM dispatcher ORDER BY name")
		if err != nil {
			return err
		}
		var d store.Dispatcher
		_, err = pgx.ForEachRow(rows, []any{&d.Name, &d.SecretHash, &d.Created}, func() error {
			d.Created = d.Created.UTC()
			out = append(out, d)
			d = store.Dispatcher{}
			return nil
		})
		return err
	})
	return out, err
}

// RemoveDispatcher implements store.Store.
func (s *Store) RemoveDispatcher(name string) error {
	return s.write(func(w *wtx) error {
		tag, err := w.Exec(w.ctx, "DELETE FROM dispatcher WHERE name = $1", name)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("dispatch system %s: %w", name, store.ErrNotFound)
		}
		return err
	})
}
