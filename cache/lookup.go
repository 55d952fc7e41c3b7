package cache

import (
	"fmt"
	"time"

	"kmcr/record"
)

// Entries returns the index entry of every patient whose lease has not
// ended, in result order (family, given, birth date): the caseload list.
func (c *Cache) Entries() []IndexEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil
	}
	now := c.opts.Now().UnixNano()
	out := make([]IndexEntry, 0, len(c.idx.byName))
	for _, e := range c.idx.byName {
		if e.notAfter > now {
			out = append(out, e.ie)
		}
	}
	return out
}

// Entry returns one patient's index entry, if the patient is cached and
// the lease has not ended.
func (c *Cache) Entry(nhs record.NHSNumber) (IndexEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return IndexEntry{}, false
	}
	e := c.idx.byNHS[nhs]
	if e == nil || e.notAfter <= c.opts.Now().UnixNano() {
		return IndexEntry{}, false
	}
	return e.ie, true
}

// FailedUnlocks reports the wrong passphrases entered since the previous
// successful unlock, and the time of the last one, as they stood when this
// cache was opened (Open then resets the counter). The caller records them
// in the audit trail, which could not be written while locked.
func (c *Cache) FailedUnlocks() (int, time.Time) {
	return c.failedBefore, c.failedAt
}

// Lease returns the end of a patient's lease, as this transaction sees it.
func (tx *Tx) Lease(nhs record.NHSNumber) (time.Time, error) {
	if err := tx.check(false); err != nil {
		return time.Time{}, err
	}
	id, err := tx.c.recordID(nhs)
	if err != nil {
		return time.Time{}, err
	}
	if e, changed := tx.changes[id]; changed {
		if e == nil {
			return time.Time{}, ErrNotFound
		}
		return time.Unix(0, e.notAfter).UTC(), nil
	}
	if tx.writable {
		tx.c.mu.RLock()
		defer tx.c.mu.RUnlock()
	}
	if tx.cleared {
		return time.Time{}, ErrNotFound
	}
	e := tx.c.idx.byID[id]
	if e == nil {
		return time.Time{}, ErrNotFound
	}
	return time.Unix(0, e.notAfter).UTC(), nil
}

// Renew moves a patient's lease end to notAfter without changing the
// record: the record and its key wrapping are sealed again under the same
// patient key with the new lease in their associated data. No key is
// destroyed, because the content is unchanged; an old copy in a freed page
// carries the old, shorter lease. A lease that has already ended cannot be
// renewed (ErrExpired): the record was never to be shown again, so it
// must come back from the server.
func (tx *Tx) Renew(nhs record.NHSNumber, notAfter time.Time) error {
	if err := tx.check(true); err != nil {
		return err
	}
	if notAfter.Before(minLease) || notAfter.After(maxLease) {
		return fmt.Errorf("%w: lease end %v out of range", ErrInvalid, notAfter)
	}
	id, err := tx.c.recordID(nhs)
	if err != nil {
		return err
	}
	key := id[:]
	wrapped := tx.bucket(bucketKeys).Get(key)
	if wrapped == nil {
		return ErrNotFound
	}
	gk, gen, ok := tx.groupKey(id.group())
	if !ok {
		return &RecordError{Bucket: bucketKeys, Key: id.String(), Err: ErrTampered}
	}
	var pk [keySize]byte
	defer clear(pk[:])
	version, oldNotAfter, err := openKeyWrap(gk, gen, id, wrapped, &pk)
	if err != nil {
		return &RecordError{Bucket: bucketKeys, Key: id.String(), Err: ErrTampered}
	}
	if tx.c.opts.Now().UnixNano() >= oldNotAfter {
		return ErrExpired
	}
	doc, slot := tx.document(id)
	data, err := openRecord(&pk, id, version, oldNotAfter, doc)
	if err != nil {
		return &RecordError{Bucket: bucketRecords, Key: id.String(), Err: ErrTampered}
	}
	defer clear(data)
	var ie IndexEntry
	if err := openIndex(&pk, id, version, tx.bucket(bucketIndex).Get(key), &ie); err != nil {
		return &RecordError{Bucket: bucketIndex, Key: id.String(), Err: ErrTampered}
	}
	n := notAfter.UnixNano()
	if err := tx.bucket(bucketKeys).Put(key, sealKeyWrap(gk, gen, id, &pk, version, n, nil)); err != nil {
		return tx.fail(err)
	}
	if err := tx.bucket(bucketRecords).Put(slot, sealRecord(&pk, id, version, n, data, nil)); err != nil {
		return tx.fail(err)
	}
	tx.changes[id] = newEntry(id, &ie, version, n)
	return nil
}

// Version returns the server's version of a cached patient's record, if
// the patient is cached and the lease has not ended: a screen showing the
// patient can tell a newer copy arrived without reading it.
func (c *Cache) Version(nhs record.NHSNumber) (uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0, false
	}
	e := c.idx.byNHS[nhs]
	if e == nil || e.notAfter <= c.opts.Now().UnixNano() {
		return 0, false
	}
	return e.version, true
}
