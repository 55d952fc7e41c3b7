package cache

import (
	"os"
	"time"
)

// Stats describes an unlocked cache, for a status screen.
type Stats struct {
	Patients      int       // patients whose lease has not ended
	Expired       int       // patients past their lease whose keys Sweep has not yet destroyed
	Damaged       int       // patients whose values failed authentication at unlock (not listed or searchable)
	SoonestExpiry time.Time // the earliest lease end among Patients; zero if none
	OutboxCount   int       // queued audit events
	OldestOutbox  time.Time // occurred time of the oldest queued event; zero if none
	FileBytes     int64     // size of cache.db plus cache.keys
	ShredPending  int       // old key halves not yet overwritten because of a write error (normally 0)
}

// Stats reports counts from memory and file sizes from disk. After Close
// it returns the zero Stats.
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var s Stats
	if c.closed {
		return s
	}
	now := c.opts.Now().UnixNano()
	soonest := int64(0)
	for _, e := range c.idx.byName {
		if e.notAfter <= now {
			s.Expired++
			continue
		}
		s.Patients++
		if soonest == 0 || e.notAfter < soonest {
			soonest = e.notAfter
		}
	}
	if soonest != 0 {
		s.SoonestExpiry = time.Unix(0, soonest).UTC()
	}
	s.Damaged = len(c.damaged)
	s.OutboxCount = c.outboxCount
	s.OldestOutbox = c.outboxOldest
	s.ShredPending = int(c.shredPending.Load())
	for _, p := range []string{c.opts.dbPath(), c.opts.keysPath()} {
		if st, err := os.Stat(p); err == nil {
			s.FileBytes += st.Size()
		}
	}
	return s
}

// Sweep destroys the keys of every patient whose lease has ended (their
// key groups are rotated, as for Delete) and reports how many there were.
// Open runs it; a long-running client should run it periodically too, or
// before going offline.
func (c *Cache) Sweep() (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	// The index changes only under writeMu, which is held.
	ids := c.idx.expired(c.opts.Now().UnixNano())
	if len(ids) == 0 {
		return 0, nil
	}
	err := c.update(func(tx *Tx) error {
		for _, id := range ids {
			if err := tx.deleteID(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(ids), nil
}
