package cache

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OutboxEntry is one queued audit event.
type OutboxEntry struct {
	Seq      uint64
	Occurred time.Time
	Payload  []byte
}

// OutboxAppend queues a sealed audit event under seq, which must be greater
// than every sequence number still queued. Numbering without gaps, and the
// hash chain, are the audit layer's; the cache keeps order and secrecy.
// Call it in the same Update as the access it records.
func (tx *Tx) OutboxAppend(seq uint64, occurred time.Time, payload []byte) error {
	if err := tx.check(true); err != nil {
		return err
	}
	if seq == 0 {
		return fmt.Errorf("%w: outbox sequence numbers start at 1", ErrInvalid)
	}
	b := tx.bucket(bucketOutbox)
	last, _ := b.Cursor().Last()
	if last != nil && binary.BigEndian.Uint64(last) >= seq {
		return fmt.Errorf("%w: outbox sequence %d is not after %d", ErrInvalid, seq, binary.BigEndian.Uint64(last))
	}
	if last == nil && tx.outboxAdded == 0 {
		tx.outboxFirst = occurred
	}
	if err := b.Put(be64(seq), sealOutbox(&tx.c.sub.outbox, seq, occurred, payload, nil)); err != nil {
		return err
	}
	tx.outboxAdded++
	return nil
}

// OutboxDeleteThrough removes every queued event with a sequence number up
// to and including seq, once the server has acknowledged them.
func (tx *Tx) OutboxDeleteThrough(seq uint64) error {
	if err := tx.check(true); err != nil {
		return err
	}
	cur := tx.bucket(bucketOutbox).Cursor()
	for k, _ := cur.First(); k != nil && binary.BigEndian.Uint64(k) <= seq; k, _ = cur.First() {
		if err := cur.Delete(); err != nil {
			return tx.fail(err)
		}
		tx.outboxDeleted++
	}
	return nil
}

// outboxOldest reads the occurred time of the first queued event as this
// transaction leaves it.
func (tx *Tx) outboxOldest() time.Time {
	k, v := tx.bucket(bucketOutbox).Cursor().First()
	if k == nil {
		return time.Time{}
	}
	if tx.outboxDeleted == 0 && tx.c.outboxCount > 0 {
		return tx.c.outboxOldest // unchanged head
	}
	if tx.outboxDeleted == 0 && !tx.outboxFirst.IsZero() {
		return tx.outboxFirst.UTC()
	}
	occurred, _, err := openOutbox(&tx.c.sub.outbox, binary.BigEndian.Uint64(k), v)
	if err != nil {
		return time.Time{}
	}
	return occurred
}

// Outbox returns up to limit queued events with sequence numbers after
// afterSeq, in sequence order (limit <= 0 means all). An event that fails
// authentication stops the listing: the events before it are returned with
// a *RecordError naming it, so the caller can report the gap.
func (c *Cache) Outbox(afterSeq uint64, limit int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := c.View(func(tx *Tx) error {
		if afterSeq == math.MaxUint64 {
			return nil
		}
		cur := tx.bucket(bucketOutbox).Cursor()
		for k, v := cur.Seek(be64(afterSeq + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = cur.Next() {
			if len(k) != 8 {
				return &RecordError{Bucket: bucketOutbox, Key: fmt.Sprintf("%x", k), Err: ErrTampered}
			}
			seq := binary.BigEndian.Uint64(k)
			occurred, payload, err := openOutbox(&c.sub.outbox, seq, v)
			if err != nil {
				return &RecordError{Bucket: bucketOutbox, Key: strconv.FormatUint(seq, 10), Err: ErrTampered}
			}
			out = append(out, OutboxEntry{Seq: seq, Occurred: occurred, Payload: payload})
		}
		return nil
	})
	return out, err
}

// loadOutboxStats counts the queue and reads its oldest event at unlock.
func (c *Cache) loadOutboxStats(b *bolt.Bucket) error {
	c.outboxCount = 0
	cur := b.Cursor()
	for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
		c.outboxCount++
	}
	if k, v := cur.First(); len(k) == 8 {
		if occurred, _, err := openOutbox(&c.sub.outbox, binary.BigEndian.Uint64(k), v); err == nil {
			c.outboxOldest = occurred
		}
	}
	return nil
}
