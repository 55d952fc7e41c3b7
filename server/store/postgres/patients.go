package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// PatientSources implements store.Store: one query for all the numbers,
// ordered here rather than by the database (a sort of a batch's
// resources there outgrows work_mem and goes to disk).
func (s *Store) PatientSources(nhs []string) (map[string][]store.PatientSource, error) {
	out := map[string][]store.PatientSource{}
	if len(nhs) == 0 {
		return out, nil
	}
	type row struct {
		nhs, pk string
		has     bool
		r       store.StoredResource
	}
	var got []row
	err := s.query(func(ctx context.Context, q querier) error {
		got = got[:0]
		rows, err := q.Query(ctx, `SELECT k.nhs, k.patient_key, r.key, r.full_url, r.raw
			FROM patient_key k LEFT JOIN resource r ON r.patient_key = k.patient_key
			WHERE k.nhs = ANY($1::text[])`, nhs)
		if err != nil {
			return err
		}
		var n, pk string
		var key, url *string
		var raw []byte
		_, err = pgx.ForEachRow(rows, []any{&n, &pk, &key, &url, &raw}, func() error {
			x := row{nhs: n, pk: pk, has: key != nil}
			if x.has {
				x.r = store.StoredResource{Key: *key, FullURL: *url, Raw: raw}
			}
			got = append(got, x)
			raw = nil
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	// Byte order, as COLLATE "C" and bbolt keep it.
	slices.SortFunc(got, func(a, b row) int {
		if c := strings.Compare(a.nhs, b.nhs); c != 0 {
			return c
		}
		if c := strings.Compare(a.pk, b.pk); c != 0 {
			return c
		}
		return strings.Compare(a.r.Key, b.r.Key)
	})
	for _, x := range got {
		srcs := out[x.nhs]
		if len(srcs) == 0 || srcs[len(srcs)-1].Key != x.pk {
			srcs = append(srcs, store.PatientSource{Key: x.pk})
		}
		if x.has {
			last := &srcs[len(srcs)-1]
			last.Resources = append(last.Resources, x.r)
		}
		out[x.nhs] = srcs
	}
	return out, nil
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
		// Each patient's row and documents are written by one statement
		// for the whole batch (rows of arrays): a patient twice in the
		// batch is written as its last update, which replaces the first.
		lastOf := map[string]int{}
		for j, i := range todo {
			lastOf[ups[i].Meta.NHS] = j
		}
		var (
			pNHS, pFamily, pKeys, pSections, pOmitted []*string
			pBirth, pPostcode, pAddrs, pPostcodes     []*string
			pVersion                                  []int64
			pHash                                     [][]byte
			pSensitive                                []int32
			pTooLarge, pRestricted, pUnstorable       []bool
			dNHS, dKind                               []string
			dBody                                     [][]byte
			keepNHS                                   []string
		)
		for j, i := range todo {
			m := ups[i].Meta
			if lastOf[m.NHS] != j {
				continue
			}
			m.Version, m.Updated = first+uint64(j), now
			var omitted *string
			if m.Omitted != nil {
				o, err := json.Marshal(m.Omitted)
				if err != nil {
					return err
				}
				omitted = ptr(string(o))
			}
			keys, err := textArrayJSON(m.Keys)
			if err != nil {
				return err
			}
			sections, err := textArrayJSON(m.Sections)
			if err != nil {
				return err
			}
			var family *string
			if m.FamilyIndex != "" {
				family = ptr(m.FamilyIndex)
			}
			pNHS, pVersion, pKeys, pHash = append(pNHS, ptr(m.NHS)), append(pVersion, int64(m.Version)), append(pKeys, keys), append(pHash, m.DocHash)
			pSections, pSensitive, pOmitted, pTooLarge = append(pSections, sections), append(pSensitive, int32(m.Sensitive)), append(pOmitted, omitted), append(pTooLarge, m.TooLarge)
			pFamily, pRestricted, pUnstorable = append(pFamily, family), append(pRestricted, m.Restricted), append(pUnstorable, m.Unstorable)
			pBirth, pPostcode = append(pBirth, nonEmpty(m.Birth)), append(pPostcode, nonEmpty(m.Postcode))
			addrs, postcodes, err := patientAddresses(m)
			if err != nil {
				return err
			}
			pAddrs, pPostcodes = append(pAddrs, addrs), append(pPostcodes, postcodes)
			kinds := make([]string, 0, len(ups[i].Docs))
			for kind := range ups[i].Docs {
				kinds = append(kinds, kind)
			}
			slices.Sort(kinds)
			for _, kind := range kinds {
				dNHS, dKind, dBody = append(dNHS, m.NHS), append(dKind, kind), append(dBody, ups[i].Docs[kind])
			}
			// The documents are replaced as a set: a kind the patient no
			// longer has is removed, not left to be served or copied.
			keepNHS = append(keepNHS, m.NHS)
		}
		b := &pgx.Batch{}
		if s.hasLZ4(w) {
			// Documents are large JSON, kept out of line and compressed:
			// lz4 costs a fraction of the CPU of PostgreSQL's default
			// (pglz) for about the same size (docs/storage.md).
			b.Queue("SET LOCAL default_toast_compression = lz4")
		}
		b.Queue(`INSERT INTO patient (`+patientCols+`)
			SELECT u.nhs, u.version,
				CASE WHEN u.keys IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.keys::jsonb)) END,
				u.doc_hash,
				CASE WHEN u.sections IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.sections::jsonb)) END,
				u.sensitive, u.omitted::jsonb, u.too_large, $12::timestamptz, u.family, u.restricted, u.unstorable, u.birth, u.postcode,
				u.addresses::jsonb,
				CASE WHEN u.postcodes IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.postcodes::jsonb)) END
			FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[], $5::text[], $6::int[], $7::text[], $8::bool[], $9::text[], $10::bool[], $11::bool[], $13::text[], $14::text[], $15::text[], $16::text[])
				AS u(nhs, version, keys, doc_hash, sections, sensitive, omitted, too_large, family, restricted, unstorable, birth, postcode, addresses, postcodes)
			ORDER BY u.nhs
			ON CONFLICT (nhs) DO UPDATE SET version = EXCLUDED.version, keys = EXCLUDED.keys, doc_hash = EXCLUDED.doc_hash,
				sections = EXCLUDED.sections, sensitive = EXCLUDED.sensitive, omitted = EXCLUDED.omitted,
				too_large = EXCLUDED.too_large, updated = EXCLUDED.updated, family = EXCLUDED.family,
				restricted = EXCLUDED.restricted, unstorable = EXCLUDED.unstorable,
				birth = EXCLUDED.birth, postcode = EXCLUDED.postcode,
				addresses = EXCLUDED.addresses, postcodes = EXCLUDED.postcodes`,
			pNHS, pVersion, pKeys, pHash, pSections, pSensitive, pOmitted, pTooLarge, pFamily, pRestricted, pUnstorable, now, pBirth, pPostcode, pAddrs, pPostcodes)
		b.Queue(`DELETE FROM document d WHERE d.nhs = ANY($1::text[])
			AND (d.nhs, d.kind) NOT IN (SELECT * FROM unnest($2::text[], $3::text[]))`, keepNHS, dNHS, dKind)
		if len(dNHS) > 0 {
			b.Queue(`INSERT INTO document (nhs, kind, body)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) AS u(nhs, kind, body) ORDER BY nhs, kind
				ON CONFLICT (nhs, kind) DO UPDATE SET body = EXCLUDED.body`, dNHS, dKind, dBody)
		}
		if err := w.SendBatch(w.ctx, b).Close(); err != nil {
			return err
		}
		n = len(todo)
		return nil
	})
	return n, err
}

// hasLZ4 reports, once per store, whether the server was built with lz4.
func (s *Store) hasLZ4(w *wtx) bool {
	s.lz4Once.Do(func() {
		_ = w.QueryRow(w.ctx, "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").Scan(&s.lz4)
	})
	return s.lz4
}

func ptr[T any](v T) *T { return &v }

// nonEmpty is s, or nil (NULL) when it is empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// textArrayJSON is a text array as a JSON array (nil: NULL), for a column
// of text[] written a batch of rows at a time.
func textArrayJSON(a []string) (*string, error) {
	if a == nil {
		return nil, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	return ptr(string(b)), nil
}

const patientCols = "nhs, version, keys, doc_hash, sections, sensitive, omitted, too_large, updated, family, restricted, unstorable, birth, postcode, addresses, postcodes"

// patientAddresses are a patient's current addresses as JSON and the
// postcodes PatientsAtPostcode finds them by, as a JSON array (nil: none;
// a restricted patient is never found at an address).
func patientAddresses(m store.PatientMeta) (addrs, postcodes *string, err error) {
	if len(m.Addresses) == 0 {
		return nil, nil, nil
	}
	a, err := json.Marshal(m.Addresses)
	if err != nil {
		return nil, nil, err
	}
	var pcs []string
	if !m.Restricted {
		for _, ad := range m.Addresses {
			pcs = append(pcs, ad.Postcode)
		}
	}
	pj, err := textArrayJSON(pcs)
	return ptr(string(a)), pj, err
}

func patientArgs(m store.PatientMeta, omitted []byte) []any {
	var addrs []byte
	var postcodes []string
	if len(m.Addresses) > 0 {
		addrs, _ = json.Marshal(m.Addresses) // plain strings: cannot fail
		if !m.Restricted {
			for _, a := range m.Addresses {
				postcodes = append(postcodes, a.Postcode)
			}
		}
	}
	return []any{m.NHS, int64(m.Version), m.Keys, m.DocHash, m.Sections, m.Sensitive, omitted, m.TooLarge, m.Updated.UTC(), nullText(m.FamilyIndex), m.Restricted, m.Unstorable, nullText(m.Birth), nullText(m.Postcode), addrs, postcodes}
}

func scanPatient(row pgx.Row) (store.PatientMeta, error) {
	var m store.PatientMeta
	var version int64
	var omitted []byte
	var family, birth, postcode *string
	var addrs []byte
	var postcodes []string
	err := row.Scan(&m.NHS, &version, &m.Keys, &m.DocHash, &m.Sections, &m.Sensitive, &omitted, &m.TooLarge, &m.Updated, &family, &m.Restricted, &m.Unstorable, &birth, &postcode, &addrs, &postcodes)
	if err != nil {
		return m, err
	}
	if addrs != nil {
		if err := json.Unmarshal(addrs, &m.Addresses); err != nil {
			return m, fmt.Errorf("patient %s: addresses: %w", m.NHS, err)
		}
	}
	m.Version, m.Updated = uint64(version), m.Updated.UTC()
	if family != nil {
		m.FamilyIndex = *family
	}
	if birth != nil {
		m.Birth = *birth
	}
	if postcode != nil {
		m.Postcode = *postcode
	}
	if omitted != nil {
		if err := json.Unmarshal(omitted, &m.Omitted); err != nil {
			return m, fmt.Errorf("patient %s: omitted counts: %w", m.NHS, err)
		}
	}
	return m, nil
}

// TracePatients implements store.Store.
func (s *Store) TracePatients(family, birth string, limit int) ([]store.PatientMeta, error) {
	if family == "" || birth == "" || limit <= 0 {
		return nil, nil
	}
	var out []store.PatientMeta
	err := s.query(func(ctx context.Context, q querier) error {
		var err error
		out, err = queryPatients(ctx, q, `WHERE family = $1 AND birth = $2 AND NOT restricted AND NOT unstorable ORDER BY nhs COLLATE "C" LIMIT $3`, family, birth, limit)
		return err
	})
	return out, err
}

// queryPatients reads the patient rows that where (a WHERE clause and
// what follows it) selects.
func queryPatients(ctx context.Context, q querier, where string, args ...any) ([]store.PatientMeta, error) {
	rows, err := q.Query(ctx, "SELECT "+patientCols+" FROM patient "+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.PatientMeta, error) { return scanPatient(r) })
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
		ms, err := queryPatients(ctx, q, "WHERE nhs = ANY($1)", nhs)
		if err != nil {
			return err
		}
		for _, m := range ms {
			metas[m.NHS] = m
		}
		rows, err := q.Query(ctx, "SELECT nhs, purpose FROM objection WHERE nhs = ANY($1) ORDER BY nhs, added, purpose", nhs)
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
