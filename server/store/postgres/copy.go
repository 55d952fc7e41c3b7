package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kmcr/server/store"
)

// ErrNotEmpty is returned by Import into a store that already holds data.
var ErrNotEmpty = errors.New("the PostgreSQL store is not empty")

// CopyReport counts what Import stored.
type CopyReport struct {
	Epoch     string         `json:"epoch"`
	LastSeq   uint64         `json:"last_seq"`
	LastAlert uint64         `json:"last_alert"`
	Rows      map[string]int `json:"rows"` // by table
}

// Import fills the empty store at url (migrating it first) with what
// export hands its sink, in one transaction: nothing is visible, and
// nothing is left behind, unless all of it is stored. The store keeps the
// source's epoch and change sequence, so clients carry on from their
// cursors.
func Import(ctx context.Context, url string, export func(store.Sink) error) (*CopyReport, error) {
	if _, err := Migrate(ctx, url); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if err := checkSchema(ctx, pool, url); err != nil {
		return nil, err
	}
	rep := &CopyReport{Rows: map[string]int{}}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var seq int64
		err := tx.QueryRow(ctx, "SELECT last_seq FROM kmcr_meta FOR UPDATE").Scan(&seq)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM app_user) OR EXISTS (SELECT 1 FROM device) OR EXISTS (SELECT 1 FROM patient)
			OR EXISTS (SELECT 1 FROM resource) OR EXISTS (SELECT 1 FROM change_log) OR EXISTS (SELECT 1 FROM alert)`).Scan(&used); err != nil {
			return err
		}
		if seq != 0 || used {
			return fmt.Errorf("%w: copy into a new database (this one has changes up to %d)", ErrNotEmpty, seq)
		}
		sk := &sink{ctx: ctx, tx: tx, rep: rep, bufs: map[string][][]any{}, parts: map[time.Time]bool{}}
		if err := export(sk); err != nil {
			return err
		}
		if !sk.begun {
			return errors.New("the source handed over nothing")
		}
		return sk.flushAll()
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// sink writes a store.Sink's records into tables with COPY, in batches.
type sink struct {
	ctx   context.Context
	tx    pgx.Tx
	rep   *CopyReport
	begun bool
	bufs  map[string][][]any
	parts map[time.Time]bool
	order int64 // keeps objections in the order they were made
}

var copyCols = map[string][]string{
	"app_user":        {"name", "role", "password_hash", "created", "disabled", "disabled_at", "password_changed", "org"},
	"organisation":    {"ods", "name", "kind", "dspt", "created", "updated"},
	"caseload":        {"nhs", "user_name", "added"},
	"objection":       {"nhs", "purpose", "added"},
	"relationship":    {"nhs", "user_name", "granted", "expires", "reason_code", "reason_text", "device"},
	"device":          {"id", "user_name", "public_key", "host", "registered", "last_seen", "revoked", "revoked_at", "refresh_hash", "refresh_expires", "prev_refresh_hash", "prev_refresh_until", "token_gen", "chain", "spent_refresh"},
	"resource":        {"patient_key", "key", "full_url", "raw"},
	"shared_resource": {"key", "full_url", "raw"},
	"patient_key":     {"nhs", "patient_key"},
	"patient":         {"nhs", "version", "keys", "doc_hash", "sections", "sensitive", "omitted", "too_large", "updated", "family", "restricted", "unstorable", "birth", "postcode", "addresses", "postcodes"},
	"document":        {"nhs", "kind", "body"},
	"change_log":      {"seq", "kind", "nhs", "user_name", "device", "reason", "at"},
	"audit_receipt":   {"device", "seq", "hash"},
	"audit_event":     {"device", "seq", "recorded", "nhs", "hash", "canonical", "malformed", "reason"},
	"audit_conflict":  {"device", "seq", "hash", "recorded", "nhs", "canonical", "malformed", "reason"},
	"alert":           {"id", "kind", "device", "user_name", "nhs", "seq", "detail", "at"},
	"dispatcher":      {"name", "secret_hash", "created"},
	"incident":        {"id", "body", "expires"},
	"incident_grant":  {"user_name", "nhs", "incident", "expires"},
	"notification":    {"id", "nhs", "kind", "org", "who", "at", "created", "quiet", "claimed_by", "claimed_at", "attempts", "next_attempt", "last_error", "sent", "sent_to"},
	"contact":         {"nhs", "email"},
}

// flushAt is how many rows a table's buffer holds before it is copied.
const flushAt = 2000

func (k *sink) add(table string, row ...any) error {
	if !k.begun {
		return errors.New("store copy: records before Begin")
	}
	k.bufs[table] = append(k.bufs[table], row)
	k.rep.Rows[table]++
	if len(k.bufs[table]) >= flushAt {
		return k.flush(table)
	}
	return nil
}

func (k *sink) flush(table string) error {
	rows := k.bufs[table]
	if len(rows) == 0 {
		return nil
	}
	k.bufs[table] = nil
	if _, err := k.tx.CopyFrom(k.ctx, pgx.Identifier{table}, copyCols[table], pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copying into %s: %w", table, err)
	}
	return nil
}

// flushAll copies what is left, parents before the rows that refer to them.
func (k *sink) flushAll() error {
	for _, t := range []string{"app_user", "organisation", "caseload", "objection", "relationship", "device", "resource", "shared_resource", "patient_key", "patient", "document", "change_log", "audit_receipt", "audit_event", "audit_conflict", "alert", "dispatcher", "incident", "incident_grant", "notification", "contact"} {
		if err := k.flush(t); err != nil {
			return err
		}
	}
	return nil
}

func checkU64(what string, n uint64) error {
	if n > math.MaxInt64 {
		return fmt.Errorf("store copy: %s %d is out of range", what, n)
	}
	return nil
}

func (k *sink) Begin(epoch string, lastSeq, lastAlert uint64, secrets map[string][]byte) error {
	if k.begun {
		return errors.New("store copy: Begin twice")
	}
	if err := checkU64("sequence", lastSeq); err != nil {
		return err
	}
	k.begun = true
	k.rep.Epoch, k.rep.LastSeq, k.rep.LastAlert = epoch, lastSeq, lastAlert
	if _, err := k.tx.Exec(k.ctx, `INSERT INTO kmcr_meta (epoch, last_seq) VALUES ($1, $2)
		ON CONFLICT (only_row) DO UPDATE SET epoch = EXCLUDED.epoch, last_seq = EXCLUDED.last_seq`, epoch, int64(lastSeq)); err != nil {
		return err
	}
	if _, err := k.tx.Exec(k.ctx, "UPDATE alert_counter SET last_id = $1", int64(lastAlert)); err != nil {
		return err
	}
	for name, v := range secrets {
		if _, err := k.tx.Exec(k.ctx, "INSERT INTO secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", name, v); err != nil {
			return err
		}
	}
	return nil
}

func (k *sink) User(u store.User) error {
	return k.add("app_user", userArgs(u)...)
}

func (k *sink) Org(o store.Org) error {
	return k.add("organisation", orgArgs(o)...)
}

func (k *sink) Caseload(user, nhs string, added time.Time) error {
	if added.IsZero() {
		added = time.Now().UTC()
	}
	if err := k.flush("app_user"); err != nil { // caseload rows refer to users
		return err
	}
	return k.add("caseload", nhs, user, added.UTC())
}

func (k *sink) Objection(nhs string, purposes []string) error {
	base := time.Now().UTC().Truncate(time.Second)
	for _, p := range purposes {
		k.order++
		if err := k.add("objection", nhs, p, base.Add(time.Duration(k.order)*time.Microsecond)); err != nil {
			return err
		}
	}
	return nil
}

func (k *sink) Relationship(r store.Relationship) error {
	return k.add("relationship", r.NHS, r.User, nullTime(r.Granted), r.Expires.UTC(), r.ReasonCode, r.ReasonText, r.Device)
}

func (k *sink) Device(d store.Device) error {
	if err := checkU64("token generation", d.TokenGen); err != nil {
		return err
	}
	return k.add("device", deviceArgs(d)...)
}

func (k *sink) Resource(patientKey string, r store.StoredResource) error {
	return k.add("resource", patientKey, r.Key, r.FullURL, nonNil(r.Raw))
}

func (k *sink) Shared(r store.StoredResource) error {
	return k.add("shared_resource", r.Key, r.FullURL, nonNil(r.Raw))
}

func (k *sink) PatientKey(patientKey, nhs string) error {
	return k.add("patient_key", nhs, patientKey)
}

func (k *sink) Patient(m store.PatientMeta, docs map[string][]byte) error {
	if err := checkU64("patient version", m.Version); err != nil {
		return err
	}
	var omitted []byte
	if m.Omitted != nil {
		var err error
		if omitted, err = json.Marshal(m.Omitted); err != nil {
			return err
		}
	}
	if err := k.add("patient", patientArgs(m, omitted)...); err != nil {
		return err
	}
	for kind, d := range docs {
		if err := k.add("document", m.NHS, kind, nonNil(d)); err != nil {
			return err
		}
	}
	return nil
}

func (k *sink) Change(c store.Change) error {
	if err := checkU64("sequence", c.Seq); err != nil {
		return err
	}
	return k.add("change_log", int64(c.Seq), c.Kind, nullText(c.NHS), nullText(c.User), nullText(c.Device), nullText(c.Reason), c.At.UTC())
}

func (k *sink) Event(e store.StoredEvent) error {
	if err := checkU64("audit sequence", e.Seq); err != nil {
		return err
	}
	if m := monthStart(e.Recorded); !k.parts[m] {
		if err := ensurePartitionTx(k.ctx, k.tx, m); err != nil {
			return err
		}
		k.parts[m] = true
	}
	if err := k.add("audit_receipt", e.Device, int64(e.Seq), nonNil(e.Hash)); err != nil {
		return err
	}
	return k.add("audit_event", e.Device, int64(e.Seq), e.Recorded.UTC(), nullText(e.NHS), nonNil(e.Hash), nonNil(e.Canonical), e.Malformed, e.Reason)
}

func (k *sink) Conflict(e store.StoredEvent) error {
	if err := checkU64("audit sequence", e.Seq); err != nil {
		return err
	}
	return k.add("audit_conflict", e.Device, int64(e.Seq), nonNil(e.Hash), e.Recorded.UTC(), nullText(e.NHS), nonNil(e.Canonical), e.Malformed, e.Reason)
}

func (k *sink) Alert(a store.Alert) error {
	if err := checkU64("alert number", a.ID); err != nil {
		return err
	}
	return k.add("alert", int64(a.ID), a.Kind, nullText(a.Device), nullText(a.User), nullText(a.NHS), int64(a.Seq), a.Detail, a.At.UTC())
}

func (k *sink) Dispatcher(d store.Dispatcher) error {
	return k.add("dispatcher", d.Name, nonNil(d.SecretHash), d.Created.UTC())
}

func (k *sink) Incident(in store.Incident) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if err := k.add("incident", in.ID, body, in.Expires.UTC()); err != nil {
		return err
	}
	// Its grants refer to it: it goes in first (a grant buffer may be
	// copied before the incident buffer would be).
	if err := k.flush("incident"); err != nil {
		return err
	}
	for _, u := range in.Crew {
		for _, n := range in.NHS {
			if err := k.add("incident_grant", u, n, in.ID, in.Expires.UTC()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (k *sink) Notification(n store.Notification) error {
	return k.add("notification", n.ID, n.NHS, n.Kind, n.Org, n.Who, n.At.UTC(), n.Created.UTC(), n.Quiet, n.ClaimedBy, nullTime(n.ClaimedAt),
		int32(n.Attempts), nullTime(n.NextAttempt), n.LastError, nullTime(n.Sent), n.To)
}

func (k *sink) Contact(nhs, email string) error { return k.add("contact", nhs, email) }
