package cache

import (
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"kmcr/record"
)

// Tx is a cache transaction: one bbolt transaction plus the key rotations
// and index changes it makes. A Tx is valid only inside the function given
// to Update or View, and only on that function's goroutine. Values it
// returns are copies and stay valid afterwards.
type Tx struct {
	c        *Cache
	btx      *bolt.Tx
	writable bool
	done     bool

	rot     map[byte]*rotation  // groups rotated in this transaction
	changes map[recordID]*entry // index changes to apply after commit; nil removes
	cleared bool                // DeleteAll ran: the committed index is dropped first
	failed  error               // a change failed halfway: the transaction must not commit

	outboxAdded   int
	outboxDeleted int
	outboxFirst   time.Time // occurred time of the first entry appended to an empty outbox
}

// rotation is a group's replacement key while its transaction is open.
type rotation struct {
	key     [keySize]byte
	gen     uint64
	newHalf int
}

// View runs fn in a read-only transaction. It sees a consistent snapshot
// and runs concurrently with other readers and with a writer's function.
func (c *Cache) View(fn func(tx *Tx) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	return c.db.View(func(btx *bolt.Tx) error {
		tx := &Tx{c: c, btx: btx}
		defer func() { tx.done = true }()
		return fn(tx)
	})
}

// Update runs fn in a read-write transaction: if fn returns nil every change
// is committed, otherwise none is (including key rotations). Replaced and
// deleted patients' keys are destroyed in two phases around the commit, so
// a crash at any point leaves a consistent cache (see the package doc).
//
// If overwriting old keys after the commit fails (a disk error), Update
// still returns nil because the change is committed; the overwrite is
// retried on the next Update and by Close, and Stats().ShredPending counts
// it meanwhile.
func (c *Cache) Update(fn func(tx *Tx) error) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.update(fn)
}

// update is Update with writeMu held.
func (c *Cache) update(fn func(tx *Tx) error) error {
	btx, err := c.db.Begin(true)
	if err != nil {
		return fmt.Errorf("starting a cache transaction: %w", err)
	}
	tx := &Tx{c: c, btx: btx, writable: true, rot: map[byte]*rotation{}, changes: map[recordID]*entry{}}
	handedOver := false
	defer func() {
		tx.done = true
		if !handedOver {
			_ = btx.Rollback()
			tx.zeroRotations()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if tx.failed != nil {
		return fmt.Errorf("a change failed part-way, so none is committed: %w", tx.failed)
	}
	tx.done = true
	handedOver = true
	return c.commit(tx)
}

// fail records an error that left the transaction half-changed, so that
// Update rolls it back even if the caller's function ignores the error.
// Errors found before anything changes (invalid arguments) do not poison
// the transaction: a sync batch may skip one bad record.
func (tx *Tx) fail(err error) error {
	if tx.failed == nil {
		tx.failed = err
	}
	return err
}

func (tx *Tx) zeroRotations() {
	for _, r := range tx.rot {
		clear(r.key[:])
	}
}

// commit runs the two-phase commit of a write transaction and owns btx.
func (c *Cache) commit(tx *Tx) error {
	btx := tx.btx
	groups := make([]byte, 0, len(tx.rot))
	for g := range tx.rot {
		groups = append(groups, g)
	}
	slices.Sort(groups)

	// Phase 1: new group keys are durable in cache.keys before cache.db
	// records their generations. Until the commit, Open would still pick
	// the old halves.
	var written, old []halfRef
	for _, g := range groups {
		r := tx.rot[g]
		r.newHalf = 0
		if c.groups[g].half == 0 {
			r.newHalf = 1
		}
		ref := halfRef{int(g), r.newHalf}
		c.dropPending(ref)
		buf := encodeGroupHalf(&c.hdr, &c.sub.slots, g, r.gen, &r.key, nil)
		if err := c.keys.writeAt(buf, ref.offset()); err != nil {
			return c.abort(tx, written, err)
		}
		written = append(written, ref)
		old = append(old, halfRef{int(g), 1 - r.newHalf})
	}
	if len(written) > 0 {
		if err := c.keys.sync(); err != nil {
			return c.abort(tx, written, err)
		}
	}
	var oldest time.Time
	if tx.outboxAdded > 0 || tx.outboxDeleted > 0 {
		oldest = tx.outboxOldest()
	}
	if c.hooks.afterPhase1 != nil {
		if err := c.hooks.afterPhase1(); err != nil {
			_ = btx.Rollback()
			tx.zeroRotations()
			return err
		}
	}

	c.mu.Lock()
	if err := btx.Commit(); err != nil {
		c.mu.Unlock()
		// The new halves stay: a commit can fail after its meta page reached
		// the disk, and then cache.db names the new keys. The next Open
		// keeps whichever half cache.db names and zeroes the other.
		tx.zeroRotations()
		return fmt.Errorf("committing the cache: %w", err)
	}
	for _, g := range groups {
		r, gs := tx.rot[g], &c.groups[g]
		gs.key, gs.gen, gs.half = r.key, r.gen, r.newHalf
		clear(r.key[:])
	}
	c.idx.apply(tx.cleared, tx.changes)
	if tx.cleared {
		clear(c.damaged)
	}
	for id := range tx.changes {
		delete(c.damaged, id)
	}
	if tx.outboxAdded > 0 || tx.outboxDeleted > 0 {
		c.outboxCount += tx.outboxAdded - tx.outboxDeleted
		c.outboxOldest = oldest
	}
	c.mu.Unlock()

	if c.hooks.afterCommit != nil {
		if err := c.hooks.afterCommit(); err != nil {
			return err
		}
	}
	// Phase 2: the old group keys are overwritten in place.
	c.pendingZero = append(c.pendingZero, old...)
	_ = c.flushPendingZero() // kept and retried if it fails
	return nil
}

// abort rolls back a transaction that failed before its commit was tried,
// and overwrites the new halves it had written (best effort: Open would
// zero them anyway).
func (c *Cache) abort(tx *Tx, written []halfRef, err error) error {
	_ = tx.btx.Rollback()
	tx.zeroRotations()
	_ = c.keys.zeroHalves(written)
	return err
}

func (tx *Tx) check(write bool) error {
	if tx.done || (write && !tx.writable) {
		return ErrTxDone
	}
	if write && tx.failed != nil {
		return tx.failed
	}
	return nil
}

func (tx *Tx) bucket(name string) *bolt.Bucket {
	b := tx.btx.Bucket([]byte(name))
	if b == nil {
		// Create makes every bucket and nothing deletes one for good.
		panic("cache: bucket " + name + " missing")
	}
	return b
}

// groupKey returns the key a value in group g is wrapped with in this
// transaction, and whether the group has a usable key.
func (tx *Tx) groupKey(g byte) (*[keySize]byte, uint64, bool) {
	if r := tx.rot[g]; r != nil {
		return &r.key, r.gen, true
	}
	gs := &tx.c.groups[g]
	return &gs.key, gs.gen, gs.half >= 0
}

// Patients lists the NHS numbers of the cached patients whose leases have
// not ended, in (family, given, birth date) order. In an Update it includes
// the transaction's own changes. Patients whose entries could not be read
// at unlock are not listed (see Stats.Damaged).
func (tx *Tx) Patients() ([]record.NHSNumber, error) {
	if err := tx.check(false); err != nil {
		return nil, err
	}
	now := tx.c.opts.Now().UnixNano()
	if !tx.writable {
		// View holds the read lock already.
		return tx.c.idx.patients(now, nil, false), nil
	}
	tx.c.mu.RLock()
	defer tx.c.mu.RUnlock()
	return tx.c.idx.patients(now, tx.changes, tx.cleared), nil
}
