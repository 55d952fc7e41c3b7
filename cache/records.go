package cache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"kmcr/record"
)

// Record is one patient's cached document.
type Record struct {
	NHS      record.NHSNumber
	Version  uint64    // the server's version of the record
	NotAfter time.Time // end of the offline lease: after it the record is never returned
	Data     []byte    // the opaque document (a summary), owned by the caller
}

// IndexEntry is what Search matches and returns about a patient. It is
// sealed under the patient's own key, so shredding the patient shreds it.
type IndexEntry struct {
	NHS       record.NHSNumber
	Family    string
	Given     string
	BirthDate string // YYYY-MM-DD, or empty if unknown
	Postcode  string
	Display   string // optional label, e.g. "SMITH, John"
	// Died is empty unless the patient has died; then it says when, in a
	// form the caller chooses (the client core keeps the FHIR date, or
	// "deceased" when the date is unknown). Search does not use it.
	Died string
	// Gender (FHIR administrative gender) and Held (why the device holds
	// the patient: the relationship the server sent, such as "caseload" or
	// "break-glass") are for lists of patients; Search does not use them.
	Gender string
	Held   string
}

// Lease times must fit in Unix nanoseconds.
var (
	minLease = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxLease = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func (c *Cache) recordID(nhs record.NHSNumber) (recordID, error) {
	if !validNHS(nhs) {
		return recordID{}, fmt.Errorf("%w: NHS number must be 10 digits", ErrInvalid)
	}
	return makeRecordID(&c.sub.id, nhs), nil
}

// Put stores rec and its index entry under a new random patient key. If the
// patient was already cached, the old values are deleted and their key is
// destroyed by rotating the patient's key group, so the old version cannot
// be recovered from bbolt's freed pages. idx.NHS may be left empty; if set
// it must equal rec.NHS.
func (tx *Tx) Put(rec Record, idx IndexEntry) error {
	if err := tx.check(true); err != nil {
		return err
	}
	if idx.NHS.IsZero() {
		idx.NHS = rec.NHS
	}
	switch {
	case idx.NHS != rec.NHS:
		return fmt.Errorf("%w: index entry is for a different NHS number than the record", ErrInvalid)
	case rec.NotAfter.Before(minLease) || rec.NotAfter.After(maxLease):
		return fmt.Errorf("%w: record has no valid lease (NotAfter %v)", ErrInvalid, rec.NotAfter)
	case idx.BirthDate != "" && !isISODate(idx.BirthDate):
		return fmt.Errorf("%w: birth date %q is not YYYY-MM-DD", ErrInvalid, idx.BirthDate)
	}
	for _, f := range [...]string{idx.Family, idx.Given, idx.Postcode, idx.Display, idx.Died, idx.Gender, idx.Held} {
		if len(f) > maxIndexField {
			return fmt.Errorf("%w: index field longer than %d bytes", ErrInvalid, maxIndexField)
		}
	}
	// Everything is checked before anything changes: a failed Put leaves
	// the transaction as it was.
	id, err := tx.c.recordID(rec.NHS)
	if err != nil {
		return err
	}
	g := id.group()
	if tx.exists(id) {
		if err := tx.remove(id[:]); err != nil {
			return tx.fail(err)
		}
		tx.changes[id] = nil
		if err := tx.rotate(g); err != nil {
			return tx.fail(err)
		}
	} else if _, _, ok := tx.groupKey(g); !ok {
		if err := tx.rotate(g); err != nil { // the group's slot is damaged: start it afresh
			return tx.fail(err)
		}
	}
	gk, gen, _ := tx.groupKey(g)

	pk := newKey()
	defer clear(pk[:])
	notAfter := rec.NotAfter.UnixNano()
	iv, err := sealIndex(&pk, id, rec.Version, &idx, nil)
	if err != nil {
		return tx.fail(err)
	}
	key := id[:]
	if err := tx.bucket(bucketKeys).Put(key, sealKeyWrap(gk, gen, id, &pk, rec.Version, notAfter, nil)); err != nil {
		return tx.fail(err)
	}
	if err := tx.bucket(bucketIndex).Put(key, iv); err != nil {
		return tx.fail(err)
	}
	// Documents, the large values, go under the next slot number rather
	// than the random record id: appending keeps bbolt from rewriting
	// half-full leaves of other patients' documents on every commit.
	records := tx.bucket(bucketRecords)
	slot, err := records.NextSequence()
	if err != nil {
		return tx.fail(err)
	}
	sk := be64(slot)
	if err := records.Put(sk, sealRecord(&pk, id, rec.Version, notAfter, rec.Data, nil)); err != nil {
		return tx.fail(err)
	}
	if err := tx.bucket(bucketSlots).Put(key, sk); err != nil {
		return tx.fail(err)
	}
	tx.changes[id] = newEntry(id, &idx, rec.Version, notAfter)
	return nil
}

// document returns a patient's sealed document and (a copy of) its key in
// the records bucket; nil, nil when there is none.
func (tx *Tx) document(id recordID) (value, slot []byte) {
	slot = tx.bucket(bucketSlots).Get(id[:])
	if slot == nil {
		return nil, nil
	}
	slot = bytes.Clone(slot)
	return tx.bucket(bucketRecords).Get(slot), slot
}

// Get returns a patient's record. It returns ErrNotFound if the patient is
// not cached, an error matching ErrExpired once the lease has ended (the
// data is not decrypted), and a *RecordError matching ErrTampered if a
// stored value fails authentication.
func (tx *Tx) Get(nhs record.NHSNumber) (*Record, error) {
	if err := tx.check(false); err != nil {
		return nil, err
	}
	id, err := tx.c.recordID(nhs)
	if err != nil {
		return nil, err
	}
	key := id[:]
	wrapped := tx.bucket(bucketKeys).Get(key)
	if wrapped == nil {
		return nil, ErrNotFound
	}
	gk, gen, ok := tx.groupKey(id.group())
	if !ok {
		return nil, &RecordError{Bucket: bucketKeys, Key: id.String(), Err: ErrTampered}
	}
	var pk [keySize]byte
	defer clear(pk[:])
	version, notAfter, err := openKeyWrap(gk, gen, id, wrapped, &pk)
	if err != nil {
		return nil, &RecordError{Bucket: bucketKeys, Key: id.String(), Err: ErrTampered}
	}
	if tx.c.opts.Now().UnixNano() >= notAfter {
		return nil, fmt.Errorf("%w (lease ended %s)", ErrExpired, time.Unix(0, notAfter).UTC().Format(time.RFC3339))
	}
	doc, _ := tx.document(id)
	data, err := openRecord(&pk, id, version, notAfter, doc)
	if err != nil {
		return nil, &RecordError{Bucket: bucketRecords, Key: id.String(), Err: ErrTampered}
	}
	return &Record{NHS: nhs, Version: version, NotAfter: time.Unix(0, notAfter).UTC(), Data: data}, nil
}

// Get returns a patient's record; see Tx.Get.
func (c *Cache) Get(nhs record.NHSNumber) (*Record, error) {
	var rec *Record
	err := c.View(func(tx *Tx) error {
		var err error
		rec, err = tx.Get(nhs)
		return err
	})
	return rec, err
}

// Delete removes a patient and destroys their key (crypto-shredding): the
// key group is rotated, so no copy of the patient's key, index entry or
// record left in bbolt's freed pages can be opened again, even with the
// passphrase. Deleting a patient who is not cached does nothing.
func (tx *Tx) Delete(nhs record.NHSNumber) error {
	if err := tx.check(true); err != nil {
		return err
	}
	id, err := tx.c.recordID(nhs)
	if err != nil {
		return err
	}
	return tx.deleteID(id)
}

func (tx *Tx) deleteID(id recordID) error {
	if !tx.exists(id) {
		return nil
	}
	if err := tx.remove(id[:]); err != nil {
		return tx.fail(err)
	}
	tx.changes[id] = nil
	if err := tx.rotate(id.group()); err != nil {
		return tx.fail(err)
	}
	return nil
}

// DeleteAll removes every patient and rotates every key group, for example
// when the server forces a full resync. Meta values and the audit outbox
// are kept.
func (tx *Tx) DeleteAll() error {
	if err := tx.check(true); err != nil {
		return err
	}
	for _, name := range []string{bucketKeys, bucketIndex, bucketRecords, bucketSlots} {
		if err := tx.btx.DeleteBucket([]byte(name)); err != nil {
			return tx.fail(err)
		}
		if _, err := tx.btx.CreateBucket([]byte(name)); err != nil {
			return tx.fail(err)
		}
	}
	for g := range numGroups {
		if err := tx.rotate(byte(g)); err != nil {
			return tx.fail(err)
		}
	}
	tx.cleared = true
	clear(tx.changes)
	return nil
}

func (tx *Tx) exists(id recordID) bool {
	return tx.bucket(bucketKeys).Get(id[:]) != nil ||
		tx.bucket(bucketIndex).Get(id[:]) != nil ||
		tx.bucket(bucketSlots).Get(id[:]) != nil
}

// remove deletes a patient's values: key, index entry, document and its
// slot. bbolt refuses only if a key names a nested bucket, which only an
// edited file can contain.
func (tx *Tx) remove(key []byte) error {
	if slot := tx.bucket(bucketSlots).Get(key); slot != nil {
		if err := tx.bucket(bucketRecords).Delete(bytes.Clone(slot)); err != nil {
			return fmt.Errorf("%w: bucket %s: %v", ErrCorrupt, bucketRecords, err)
		}
	}
	for _, name := range []string{bucketKeys, bucketIndex, bucketSlots} {
		if err := tx.bucket(name).Delete(key); err != nil {
			return fmt.Errorf("%w: bucket %s: %v", ErrCorrupt, name, err)
		}
	}
	return nil
}

// rotate replaces group g's key within this transaction: a fresh key and
// generation, and every remaining patient key of the group re-wrapped under
// it. Values that no longer open (damage) are removed, since they could
// never be read again. Once per group per transaction is enough, because
// bbolt writes nothing to disk before the commit.
func (tx *Tx) rotate(g byte) error {
	if tx.rot[g] != nil {
		return nil
	}
	old := &tx.c.groups[g]
	r := &rotation{key: newKey(), gen: old.gen + 1}
	done := false
	defer func() {
		if !done {
			clear(r.key[:])
		}
	}()
	keys := tx.bucket(bucketKeys)
	type rewrap struct {
		key, value []byte
	}
	var rewraps []rewrap
	var drop [][]byte // raw keys: a damaged key need not be 16 bytes
	cur := keys.Cursor()
	for k, v := cur.Seek([]byte{g}); k != nil && k[0] == g; k, v = cur.Next() {
		if len(k) != recordIDSize || old.half < 0 {
			drop = append(drop, bytes.Clone(k))
			continue
		}
		id := recordID(k)
		var pk [keySize]byte
		version, notAfter, err := openKeyWrap(&old.key, old.gen, id, v, &pk)
		if err != nil {
			drop = append(drop, bytes.Clone(k))
			continue
		}
		rewraps = append(rewraps, rewrap{bytes.Clone(k), sealKeyWrap(&r.key, r.gen, id, &pk, version, notAfter, nil)})
		clear(pk[:])
	}
	for _, w := range rewraps {
		if err := keys.Put(w.key, w.value); err != nil {
			return err
		}
	}
	// Orphans: an index entry or document whose key is gone is unreadable.
	for _, name := range []string{bucketIndex, bucketSlots} {
		cur := tx.bucket(name).Cursor()
		for k, _ := cur.Seek([]byte{g}); k != nil && k[0] == g; k, _ = cur.Next() {
			if keys.Get(k) == nil {
				drop = append(drop, bytes.Clone(k))
			}
		}
	}
	for _, k := range drop {
		if err := tx.remove(k); err != nil {
			return err
		}
		if len(k) == recordIDSize {
			tx.changes[recordID(k)] = nil
		}
	}
	if err := tx.bucket(bucketGroups).Put([]byte{g}, binary.BigEndian.AppendUint64(nil, r.gen)); err != nil {
		return err
	}
	tx.rot[g] = r
	done = true
	return nil
}
