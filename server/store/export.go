package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Sink receives everything a store holds, for moving it to another
// backend (kmcr-server store copy). Calls come in the order of the
// methods below; Begin first, once.
type Sink interface {
	// Begin carries the store's identity and counters: the epoch, the
	// newest change's sequence, the last alert number, and named secrets.
	Begin(epoch string, lastSeq, lastAlert uint64, secrets map[string][]byte) error
	User(u User) error
	Org(o Org) error
	Caseload(user, nhs string, added time.Time) error
	Objection(nhs string, purposes []string) error
	Relationship(r Relationship) error
	Device(d Device) error
	Resource(patientKey string, r StoredResource) error
	// Shared is called for each key a shared resource is found by (its
	// key, and its fullUrl).
	Shared(r StoredResource) error
	PatientKey(patientKey, nhs string) error
	Patient(m PatientMeta, docs map[string][]byte) error
	Change(c Change) error
	Event(e StoredEvent) error
	Conflict(e StoredEvent) error
	Alert(a Alert) error
	// Dispatcher and Incident carry dispatch systems' credentials and the
	// open incidents (their grants follow from them).
	Dispatcher(d Dispatcher) error
	Incident(in Incident) error
	// Notification and Contact carry the patient notification outbox and
	// the addresses notifications go to.
	Notification(n Notification) error
	Contact(nhs, email string) error
}

// Export hands everything in the store to sink, from one read transaction
// (a consistent snapshot while the store serves).
func (s *Bolt) Export(sink Sink) error {
	return s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		secrets := map[string][]byte{}
		if err := m.ForEach(func(k, v []byte) error {
			if name, ok := strings.CutPrefix(string(k), "secret/"); ok {
				secrets[name] = append([]byte(nil), v...)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := sink.Begin(s.epoch, u64(m.Get(kSeq)), u64(m.Get(kAlertID)), secrets); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bUsers), func(_ []byte, u User) error { return sink.User(u) }); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bOrgs), func(_ []byte, o Org) error { return sink.Org(o) }); err != nil {
			return err
		}
		if err := tx.Bucket(bCaseload).ForEachBucket(func(user []byte) error {
			return tx.Bucket(bCaseload).Bucket(user).ForEach(func(nhs, v []byte) error {
				added, _ := time.Parse(time.RFC3339, string(v))
				return sink.Caseload(string(user), string(nhs), added)
			})
		}); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bObjection), func(nhs []byte, ps []string) error {
			if len(ps) == 0 {
				return nil
			}
			return sink.Objection(string(nhs), ps)
		}); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bRels), func(_ []byte, r Relationship) error { return sink.Relationship(r) }); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bDevices), func(_ []byte, d Device) error { return sink.Device(d) }); err != nil {
			return err
		}
		res := tx.Bucket(bRes)
		if err := res.ForEachBucket(func(pk []byte) error {
			return res.Bucket(pk).ForEach(func(k, v []byte) error {
				r, err := decodeStored(k, v)
				if err != nil {
					return err
				}
				return sink.Resource(string(pk), r)
			})
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bShared).ForEach(func(k, v []byte) error {
			r, err := decodeStored(k, v)
			if err != nil {
				return err
			}
			return sink.Shared(r)
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bPKeys).ForEach(func(k, v []byte) error { return sink.PatientKey(string(k), string(v)) }); err != nil {
			return err
		}
		docs := tx.Bucket(bDocs)
		if err := eachJSON(tx.Bucket(bPatients), func(nhs []byte, pm PatientMeta) error {
			ds := map[string][]byte{}
			prefix := append(append([]byte(nil), nhs...), 0)
			c := docs.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				ds[string(k[len(prefix):])] = append([]byte(nil), v...)
			}
			return sink.Patient(pm, ds)
		}); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bChanges), func(_ []byte, c Change) error { return sink.Change(c) }); err != nil {
			return err
		}
		audit := tx.Bucket(bAudit)
		if err := audit.ForEachBucket(func(dev []byte) error {
			return eachJSON(audit.Bucket(dev), func(_ []byte, e StoredEvent) error { return sink.Event(e) })
		}); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bConflicts), func(_ []byte, e StoredEvent) error { return sink.Conflict(e) }); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bAlerts), func(_ []byte, a Alert) error { return sink.Alert(a) }); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bDispatch), func(_ []byte, d Dispatcher) error { return sink.Dispatcher(d) }); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bIncidents), func(_ []byte, in Incident) error { return sink.Incident(in) }); err != nil {
			return err
		}
		if err := eachJSON(tx.Bucket(bNotify), func(_ []byte, n Notification) error { return sink.Notification(n) }); err != nil {
			return err
		}
		return tx.Bucket(bContacts).ForEach(func(k, v []byte) error { return sink.Contact(string(k), string(v)) })
	})
}

// eachJSON decodes every value of b as a T.
func eachJSON[T any](b *bolt.Bucket, fn func(k []byte, v T) error) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			return nil // a nested bucket
		}
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("stored value %q: %w", k, err)
		}
		return fn(k, x)
	})
}
