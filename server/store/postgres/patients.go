package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"kmcr/server/store"
)

// StageResources implements store.Store. Of several items with one key in
// a call, the last is kept.
func (s *Store) StageResources(items []store.StagedResource) ([]string, error) {
	var changed []string
	err := s.write(func(w *wtx) error {
		changed = nil
		if len(items) == 0 {
			return nil
		}
		type k struct{ p, key string }
		last := map[k]int{}
		for i, it := range items {
			last[k{it.PatientKey, it.Key}] = i
		}
		var pk, key, url []string
		var raw [][]byte
		for i, it := range items {
			if last[k{it.PatientKey, it.Key}] != i {
				continue
			}
			pk, key, url, raw = append(pk, it.PatientKey), append(key, it.Key), append(url, it.FullURL), append(raw, it.Raw)
		}
		rows, err := w.Query(w.ctx, `INSERT INTO resource (patient_key, key, full_url, raw)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])
			ON CONFLICT (patient_key, key) DO UPDATE SET full_url = EXCLUDED.full_url, raw = EXCLUDED.raw
			WHERE resource.full_url <> EXCLUDED.full_url OR resource.raw <> EXCLUDED.raw
			RETURNING patient_key`, pk, key, url, raw)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, p := range got {
			seen[p] = true
		}
		for _, it := range items { // in the order first given
			if seen[it.PatientKey] {
				changed = append(changed, it.PatientKey)
				delete(seen, it.PatientKey)
			}
		}
		return nil
	})
	return changed, err
}

// PutShared implements store.Store: a resource is found by its key or its
// fullUrl (the newest one put with it).
func (s *Store) PutShared(items []store.StoredResource) error {
	return s.write(func(w *wtx) error {
		if len(items) == 0 {
			return nil
		}
		last := map[string]int{}
		for i, it := range items {
			last[it.Key] = i
		}
		var key, url []string
		var raw [][]byte
		for i, it := range items {
			if last[it.Key] == i {
				key, url, raw = append(key, it.Key), append(url, it.FullURL), append(raw, it.Raw)
			}
		}
		_, err := w.Exec(w.ctx, `INSERT INTO shared_resource (key, full_url, raw)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
			ON CONFLICT (key) DO UPDATE SET full_url = EXCLUDED.full_url, raw = EXCLUDED.raw, put_at = clock_timestamp()`, key, url, raw)
		return err
	})
}

// Shared implements store.Store.
func (s *Store) Shared(key string) (store.StoredResource, bool, error) {
	r := store.StoredResource{Key: key}
	found := false
	err := s.query(func(ctx context.Context, q querier) error {
		err := q.QueryRow(ctx, `SELECT full_url, raw FROM (
				SELECT full_url, raw, 0 AS rank, put_at FROM shared_resource WHERE key = $1
				UNION ALL
				SELECT full_url, raw, 1, put_at FROM shared_resource WHERE full_url = $1 AND full_url <> ''
			) r ORDER BY rank, put_at DESC LIMIT 1`, key).Scan(&r.FullURL, &r.Raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	return r, found, err
}

// PatientResources implements store.Store.
func (s *Store) PatientResources(patientKey string) ([]store.StoredResource, error) {
	var out []store.StoredResource
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, "SELECT key, full_url, raw FROM resource WHERE patient_key = $1 ORDER BY key", patientKey)
		if err != nil {
			return err
		}
		var r store.StoredResource
		_, err = pgx.ForEachRow(rows, []any{&r.Key, &r.FullURL, &r.Raw}, func() error {
			out = append(out, r)
			r = store.StoredResource{}
			return nil
		})
		return err
	})
	return out, err
}

// PatientKeyNHS implements store.Store.
func (s *Store) PatientKeyNHS(patientKey string) (string, bool, error) {
	var nhs string
	err := s.query(func(ctx context.Context, q querier) error {
		err := q.QueryRow(ctx, "SELECT nhs FROM patient_key WHERE patient_key = $1", patientKey).Scan(&nhs)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return nhs, nhs != "", err
}

// MapPatientKeys implements store.Store.
func (s *Store) MapPatientKeys(m map[string]string) error {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // one order for every writer: no deadlocks between nodes
	nhs := make([]string, len(keys))
	for i, k := range keys {
		nhs[i] = m[k]
	}
	return s.write(func(w *wtx) error {
		_, err := w.Exec(w.ctx, `INSERT INTO patient_key (patient_key, nhs)
			SELECT * FROM unnest($1::text[], $2::text[])
			ON CONFLICT (patient_key) DO UPDATE SET nhs = EXCLUDED.nhs WHERE patient_key.nhs <> EXCLUDED.nhs`, keys, nhs)
		return err
	})
}

// PatientKeys implements store.Store.
func (s *Store) PatientKeys(nhs string) ([]string, error) {
	var out []string
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, "SELECT patient_key FROM patient_key WHERE nhs = $1 ORDER BY patient_key", nhs)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}

// CommitPatients implements store.Store.
func (s *Store) CommitPatients(ups []store.PatientUpdate, now time.Time) (int, error) {
	n := 0
	now = now.UTC()
	err := s.write(func(w *wtx) error {
		n = 0
		if err := w.lockLog(); err != nil {
			return err
		}
		if len(ups) == 0 {
			return nil
		}
		nums := make([]string, 0, len(ups))
		for _, up := range ups {
			nums = append(nums, up.Meta.NHS)
		}
		type state struct {
			hash      []byte
			sensitive int
		}
		cur := map[string]state{}
		rows, err := w.Query(w.ctx, "SELECT nhs, doc_hash, sensitive FROM patient WHERE nhs = ANY($1::text[])", nums)
		if err != nil {
			return err
		}
		var nhs string
		var st state
		if _, err := pgx.ForEachRow(rows, []any{&nhs, &st.hash, &st.sensitive}, func() error {
			cur[nhs] = st
			st = state{}
			return nil
		}); err != nil {
			return err
		}
		// Which updates change something, judged in order as if applied one
		// by one (a patient twice in a batch: the second against the first).
		var todo []int
		var cs []store.Change
		for i, up := range ups {
			old, had := cur[up.Meta.NHS]
			if had && bytes.Equal(old.hash, up.Meta.DocHash) {
				continue
			}
			kind := store.ChangePatient
			switch {
			case up.Meta.Restricted:
				kind = store.ChangeRestricted
			case had && up.Meta.Sensitive > old.sensitive:
				kind = store.ChangeRelabel
			}
			cur[up.Meta.NHS] = state{up.Meta.DocHash, up.Meta.Sensitive}
			todo = append(todo, i)
			cs = append(cs, store.Change{Kind: kind, NHS: up.Meta.NHS, At: now})
		}
		if len(todo) == 0 {
			return nil
		}
		first, err := w.appendChanges(cs)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		for j, i := range todo {
			m := ups[i].Meta
			m.Version, m.Updated = first+uint64(j), now
			var omitted []byte
			if m.Omitted != nil {
				if omitted, err = json.Marshal(m.Omitted); err != nil {
					return err
				}
			}
			b.Queue(`INSERT INTO patient (`+patientCols+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
				ON CONFLICT (nhs) DO UPDATE SET version = EXCLUDED.version, keys = EXCLUDED.keys, doc_hash = EXCLUDED.doc_hash,
					sections = EXCLUDED.sections, sensitive = EXCLUDED.sensitive, omitted = EXCLUDED.omitted,
					too_large = EXCLUDED.too_large, updated = EXCLUDED.updated, family = EXCLUDED.family,
					restricted = EXCLUDED.restricted, unstorable = EXCLUDED.unstorable`,
				patientArgs(m, omitted)...)
			kinds := make([]string, 0, len(ups[i].Docs))
			for kind := range ups[i].Docs {
				kinds = append(kinds, kind)
			}
			slices.Sort(kinds)
			// The documents are replaced as a set: a kind the patient no
			// longer has is removed, not left to be served or copied.
			b.Queue("DELETE FROM document WHERE nhs = $1 AND NOT (kind = ANY($2::text[]))", m.NHS, kinds)
			for _, kind := range kinds {
				b.Queue(`INSERT INTO document (nhs, kind, body) VALUES ($1, $2, $3)
					ON CONFLICT (nhs, kind) DO UPDATE SET body = EXCLUDED.body`, m.NHS, kind, ups[i].Docs[kind])
			}
		}
		if err := w.SendBatch(w.ctx, b).Close(); err != nil {
			return err
		}
		n = len(todo)
		return nil
	})
	return n, err
}

const patientCols = "nhs, version, keys, doc_hash, sections, sensitive, omitted, too_large, updated, family, restricted, unstorable"

func patientArgs(m store.PatientMeta, omitted []byte) []any {
	return []any{m.NHS, int64(m.Version), m.Keys, m.DocHash, m.Sections, m.Sensitive, omitted, m.TooLarge, m.Updated.UTC(), nullText(m.FamilyIndex), m.Restricted, m.Unstorable}
}

func scanPatient(row pgx.Row) (store.PatientMeta, error) {
	var m store.PatientMeta
	var version int64
	var omitted []byte
	var family *string
	err := row.Scan(&m.NHS, &version, &m.Keys, &m.DocHash, &m.Sections, &m.Sensitive, &omitted, &m.TooLarge, &m.Updated, &family, &m.Restricted, &m.Unstorable)
	if err != nil {
		return m, err
	}
	m.Version, m.Updated = uint64(version), m.Updated.UTC()
	if family != nil {
		m.FamilyIndex = *family
	}
	if omitted != nil {
		if err := json.Unmarshal(omitted, &m.Omitted); err != nil {
			return m, fmt.Errorf("patient %s: omitted counts: %w", m.NHS, err)
		}
	}
	return m, nil
}

// Patient implements store.Store.
func (s *Store) Patient(nhs string) (store.PatientMeta, error) {
	var m store.PatientMeta
	err := s.query(func(ctx context.Context, q querier) error {
		var err error
		m, err = scanPatient(q.QueryRow(ctx, "SELECT "+patientCols+" FROM patient WHERE nhs = $1", nhs))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("patient %s: %w", nhs, store.ErrNotFound)
		}
		return err
	})
	return m, err
}

// Doc implements store.Store.
func (s *Store) Doc(nhs, kind string) ([]byte, error) {
	var d []byte
	err := s.query(func(ctx context.Context, q querier) error {
		err := q.QueryRow(ctx, "SELECT body FROM document WHERE nhs = $1 AND kind = $2", nhs, kind).Scan(&d)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("document %s of %s: %w", kind, nhs, store.ErrNotFound)
		}
		return err
	})
	return d, err
}

var _ store.BatchReader = (*Store)(nil)

// PatientsAndObjections implements store.BatchReader: two queries for
// every patient asked.
func (s *Store) PatientsAndObjections(nhs []string) (map[string]store.PatientMeta, map[string][]string, error) {
	metas := make(map[string]store.PatientMeta, len(nhs))
	objs := map[string][]string{}
	if len(nhs) == 0 {
		return metas, objs, nil
	}
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, "SELECT "+patientCols+" FROM patient WHERE nhs = ANY($1)", nhs)
		if err != nil {
			return err
		}
		for rows.Next() {
			m, err := scanPatient(rows)
			if err != nil {
				rows.Close()
				return err
			}
			metas[m.NHS] = m
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = q.Query(ctx, "SELECT nhs, purpose FROM objection WHERE nhs = ANY($1) ORDER BY nhs, added, purpose", nhs)
		if err != nil {
			return err
		}
		var n, purpose string
		_, err = pgx.ForEachRow(rows, []any{&n, &purpose}, func() error {
			objs[n] = append(objs[n], purpose)
			return nil
		})
		return err
	})
	return metas, objs, err
}

// Docs implements store.BatchReader: one query.
func (s *Store) Docs(keys []store.DocKey) (map[store.DocKey][]byte, error) {
	out := make(map[store.DocKey][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	nhs, kinds := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		nhs[i], kinds[i] = k.NHS, k.Kind
	}
	err := s.query(func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, `SELECT d.nhs, d.kind, d.body FROM document d
			JOIN unnest($1::text[], $2::text[]) AS k(nhs, kind) ON d.nhs = k.nhs AND d.kind = k.kind`, nhs, kinds)
		if err != nil {
			return err
		}
		var k store.DocKey
		var body []byte
		_, err = pgx.ForEachRow(rows, []any{&k.NHS, &k.Kind, &body}, func() error {
			out[k] = body
			body = nil
			return nil
		})
		return err
	})
	return out, err
}

// PatientCount implements store.Store.
func (s *Store) PatientCount() (int, error) {
	var n int
	err := s.query(func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, "SELECT count(*) FROM patient").Scan(&n)
	})
	return n, err
}
