package cache

import (
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The retry schedule after wrong passphrases: the first freeAttempts
// failures cost nothing (typos happen), then the wait doubles from one
// second up to maxRetryDelay. The counter lives in cache.db in the clear,
// so it is a speed bump for someone at the keyboard, not a protection
// against someone with a copy of the files: that is Argon2id's and the
// device secret's job.
const (
	freeAttempts  = 3
	maxRetryDelay = 5 * time.Minute
)

// freeLeft is how many more wrong passphrases cost no wait.
func freeLeft(failures uint32) int {
	if failures >= freeAttempts {
		return 0
	}
	return int(freeAttempts - failures)
}

// retryDelay is the wait imposed after the given number of consecutive
// failures: 0, 0, 0, 1s, 2s, 4s, ... capped at 5 minutes.
func retryDelay(failures uint32) time.Duration {
	if failures <= freeAttempts {
		return 0
	}
	shift := failures - freeAttempts - 1
	if shift >= 9 {
		return maxRetryDelay
	}
	return min(time.Second<<shift, maxRetryDelay)
}

// dbHeader is the plaintext header bucket of cache.db.
type dbHeader struct {
	format    uint16
	cacheID   [cacheIDSize]byte
	masterGen uint64
	failures  uint32
	failedAt  int64
}

// retryWait is how long until the next attempt is allowed. A clock that
// went backwards counts as no time elapsed.
func (h dbHeader) retryWait(now time.Time) time.Duration {
	d := retryDelay(h.failures)
	if d == 0 {
		return 0
	}
	elapsed := max(now.Sub(time.Unix(0, h.failedAt)), 0)
	if elapsed >= d {
		return 0
	}
	return d - elapsed
}

func readDBHeader(db *bolt.DB) (dbHeader, error) {
	var h dbHeader
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketHeader))
		if b == nil {
			return fmt.Errorf("%w: cache.db has no header (an enrolment did not finish); wipe it and enrol again", ErrCorrupt)
		}
		format, id, gen := b.Get([]byte(hkFormat)), b.Get([]byte(hkCacheID)), b.Get([]byte(hkMasterGen))
		fails, at := b.Get([]byte(hkFailures)), b.Get([]byte(hkFailedAtNs))
		if len(format) != 2 || len(id) != cacheIDSize || len(gen) != 8 || len(fails) != 4 || len(at) != 8 {
			return fmt.Errorf("%w: the header of cache.db is damaged", ErrCorrupt)
		}
		h.format = binary.BigEndian.Uint16(format)
		if f := h.format; f != dbFormat && f != dbFormatUpgradable {
			return fmt.Errorf("%w: cache.db has format %d; this version of kmcr reads format %d (wipe this profile and enrol again; the server sends everything back)", ErrCorrupt, f, dbFormat)
		}
		copy(h.cacheID[:], id)
		h.masterGen = binary.BigEndian.Uint64(gen)
		h.failures = binary.BigEndian.Uint32(fails)
		h.failedAt = int64(binary.BigEndian.Uint64(at))
		return nil
	})
	return h, err
}

func writeFailures(db *bolt.DB, failures uint32, at time.Time) error {
	return db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketHeader))
		return errors.Join(
			b.Put([]byte(hkFailures), binary.BigEndian.AppendUint32(nil, failures)),
			b.Put([]byte(hkFailedAtNs), be64(uint64(at.UnixNano()))),
		)
	})
}

// recordFailure counts a wrong passphrase and says how long to wait.
func recordFailure(db *bolt.DB, h dbHeader, now time.Time) error {
	n := h.failures
	if n < ^uint32(0) {
		n++
	}
	rerr := &RetryError{Wait: retryDelay(n), Failures: int(n), FreeLeft: freeLeft(n), NextWait: retryDelay(n + 1), Err: ErrWrongPassphrase}
	if err := writeFailures(db, n, now); err != nil {
		return errors.Join(rerr, fmt.Errorf("recording the failed attempt: %w", err))
	}
	return rerr
}

// Open unlocks the cache in opts.Dir with passphrase and the device secret
// from opts.Secrets, then destroys the keys of expired records (Sweep).
//
// A wrong passphrase gives a *RetryError matching ErrWrongPassphrase; after
// repeated failures, attempts are refused with a *RetryError matching
// ErrTooSoon until its Wait has passed. Other errors: ErrNotExist,
// ErrAlreadyRunning, ErrCorrupt, ErrSecretStoreMismatch, ErrNoDeviceSecret,
// ErrWrongDeviceSecret, ErrNoKeyring, ErrKeyringTimeout.
func Open(opts Options, passphrase []byte) (*Cache, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	hasDB, hasKeys := fileExists(opts.dbPath()), fileExists(opts.keysPath())
	switch {
	case !hasDB && !hasKeys:
		return nil, ErrNotExist
	case !hasKeys:
		return nil, fmt.Errorf("%w: cache.keys is missing, so the cache can never be unlocked; wipe it and enrol again", ErrCorrupt)
	case !hasDB:
		return nil, fmt.Errorf("%w: cache.db is missing; wipe the cache and enrol again", ErrCorrupt)
	}
	if err := checkBoltFile(opts.dbPath()); err != nil {
		return nil, err
	}
	db, err := openBolt(opts)
	if err != nil {
		return nil, err
	}
	c, err := open(opts, db, passphrase)
	if err != nil {
		db.Close()
		return nil, err
	}
	if _, err := c.Sweep(); err != nil {
		c.Close()
		return nil, fmt.Errorf("destroying expired records: %w", err)
	}
	return c, nil
}

func open(opts Options, db *bolt.DB, passphrase []byte) (*Cache, error) {
	h, err := readDBHeader(db)
	if err != nil {
		return nil, err
	}
	now := opts.Now()
	if wait := h.retryWait(now); wait > 0 {
		return nil, &RetryError{Wait: wait, Failures: int(h.failures), FreeLeft: freeLeft(h.failures), NextWait: retryDelay(h.failures + 1), Err: ErrTooSoon}
	}
	f, err := os.OpenFile(opts.keysPath(), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening cache.keys: %w", err)
	}
	c := &Cache{opts: opts, db: db, keys: keysFile{f}, damaged: map[recordID]struct{}{}}
	ok := false
	defer func() {
		if !ok {
			c.forget()
			f.Close()
		}
	}()
	img, err := c.keys.readAll()
	if err != nil {
		return nil, err
	}
	defer clear(img)
	if c.hdr, err = parseKeys(img); err != nil {
		return nil, err
	}
	if c.hdr.cacheID != h.cacheID {
		return nil, fmt.Errorf("%w: cache.keys and cache.db belong to different caches", ErrCorrupt)
	}
	device, err := c.deviceSecret()
	if err != nil {
		return nil, err
	}
	defer clear(device)

	half := pickHalf(img, masterHalfOffset(0), masterHalfOffset(1), h.masterGen)
	if half < 0 {
		return nil, fmt.Errorf("%w: cache.keys holds no master key of the generation cache.db records", ErrCorrupt)
	}
	hb := img[masterHalfOffset(half):][:masterHalfSize]
	mh := parseMasterHalf(hb)
	if err := mh.kdf.validate(); err != nil {
		return nil, fmt.Errorf("%w: cache.keys: %v", ErrCorrupt, err)
	}
	kek := deriveKEK(passphrase, device, mh.salt[:], mh.kdf, c.hdr.cacheID[:])
	m, unlocked := openMasterHalf(&c.hdr, hb, &kek)
	clear(kek[:])
	if !unlocked {
		return nil, recordFailure(db, h, now)
	}
	if h.failures != 0 {
		c.failedBefore, c.failedAt = int(h.failures), time.Unix(0, h.failedAt).UTC()
		if err := writeFailures(db, 0, time.Unix(0, 0)); err != nil {
			return nil, fmt.Errorf("resetting the failure counter: %w", err)
		}
	}
	if h.format != dbFormat {
		// Only after the passphrase was right: a wrong one changes nothing.
		if err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketHeader)).Put([]byte(hkFormat), binary.BigEndian.AppendUint16(nil, dbFormat))
		}); err != nil {
			return nil, fmt.Errorf("upgrading cache.db from format %d to %d: %w", h.format, dbFormat, err)
		}
	}
	c.master = m
	clear(m[:])
	c.sub = deriveSubkeys(&c.master)
	c.masterGen, c.masterHalf, c.kdf = h.masterGen, half, mh.kdf
	if err := c.reconcile(img); err != nil {
		return nil, err
	}
	if err := c.loadIndex(); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// deviceSecret fetches and checks the device secret, telling a missing
// store, a missing entry and a wrong entry apart from a wrong passphrase.
func (c *Cache) deviceSecret() ([]byte, error) {
	store := c.opts.Secrets
	if store.Kind() != c.hdr.kind {
		return nil, fmt.Errorf("%w: it was enrolled with %v but is being opened with %v; open it the same way, or wipe it and enrol again", ErrSecretStoreMismatch, c.hdr.kind, store.Kind())
	}
	device, err := store.Get(hex.EncodeToString(c.hdr.cacheID[:]))
	switch {
	case errors.Is(err, ErrSecretNotFound):
		return nil, fmt.Errorf("%w (%v)", ErrNoDeviceSecret, err)
	case err != nil:
		return nil, fmt.Errorf("reading the device secret from %v: %w", c.hdr.kind, err)
	}
	check := deviceCheck(device, c.hdr.cacheID[:])
	if len(device) != deviceSecretSize || subtle.ConstantTimeCompare(check[:], c.hdr.check[:]) != 1 {
		clear(device)
		return nil, ErrWrongDeviceSecret
	}
	return device, nil
}

// reconcile finishes or undoes any slot change a crash interrupted: the
// generations in cache.db say which half of each slot is current, and the
// other half is zeroed. It then unwraps the group keys; a slot that does
// not open leaves its group without a key (its patients count as damaged
// until the group is next rotated).
func (c *Cache) reconcile(img []byte) error {
	var stale []halfRef
	if other := 1 - c.masterHalf; !isZero(img[masterHalfOffset(other):][:masterHalfSize]) {
		stale = append(stale, halfRef{-1, other})
	}
	gens, err := c.readGroupGens()
	if err != nil {
		return err
	}
	for g := range numGroups {
		gs := &c.groups[g]
		gs.gen, gs.half = gens[g], -1
		h := pickHalf(img, groupHalfOffset(byte(g), 0), groupHalfOffset(byte(g), 1), gens[g])
		if h < 0 {
			continue
		}
		if other := 1 - h; !isZero(img[groupHalfOffset(byte(g), other):][:groupHalfSize]) {
			stale = append(stale, halfRef{g, other})
		}
		if k, ok := openGroupHalf(&c.hdr, &c.sub.slots, byte(g), img[groupHalfOffset(byte(g), h):][:groupHalfSize]); ok {
			gs.key, gs.half = k, h
		}
	}
	if err := c.keys.zeroHalves(stale); err != nil {
		return fmt.Errorf("finishing an interrupted key rotation: %w", err)
	}
	return nil
}

func (c *Cache) readGroupGens() ([numGroups]uint64, error) {
	var gens [numGroups]uint64
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketGroups))
		if b == nil {
			return fmt.Errorf("%w: cache.db has no key-group table", ErrCorrupt)
		}
		for g := range numGroups {
			if v := b.Get([]byte{byte(g)}); len(v) == 8 {
				gens[g] = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return gens, err
}

// ChangePassphrase re-wraps the master key under a key derived from the new
// passphrase (and the same device secret), with a fresh salt and
// Options.KDF if set. Records are not re-encrypted. The old wrapping is
// overwritten in place, so the old passphrase stops working even on a copy
// of cache.db. M itself does not change: someone who already copied
// cache.keys and knows the old passphrase (and has the device secret) is
// not locked out by a change; after such a compromise, wipe and sync again.
// A wrong old passphrase counts as a failed unlock.
func (c *Cache) ChangePassphrase(old, new []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if len(new) == 0 {
		return fmt.Errorf("%w: the new passphrase is empty", ErrInvalid)
	}
	kdf := c.kdf
	if !c.opts.KDF.isZero() {
		kdf = c.opts.KDF
	}
	if err := kdf.validate(); err != nil {
		return err
	}
	h, err := readDBHeader(c.db)
	if err != nil {
		return err
	}
	now := c.opts.Now()
	if wait := h.retryWait(now); wait > 0 {
		return &RetryError{Wait: wait, Failures: int(h.failures), FreeLeft: freeLeft(h.failures), NextWait: retryDelay(h.failures + 1), Err: ErrTooSoon}
	}
	device, err := c.deviceSecret()
	if err != nil {
		return err
	}
	defer clear(device)
	hb := make([]byte, masterHalfSize)
	if _, err := c.keys.f.ReadAt(hb, masterHalfOffset(c.masterHalf)); err != nil {
		return fmt.Errorf("reading cache.keys: %w", err)
	}
	mh := parseMasterHalf(hb)
	kek := deriveKEK(old, device, mh.salt[:], mh.kdf, c.hdr.cacheID[:])
	m, ok := openMasterHalf(&c.hdr, hb, &kek)
	ok = ok && subtle.ConstantTimeCompare(m[:], c.master[:]) == 1
	clear(m[:])
	clear(kek[:])
	if !ok {
		return recordFailure(c.db, h, now)
	}

	next := masterHalf{gen: c.masterGen + 1, kdf: kdf}
	randomBytes(next.salt[:])
	kek = deriveKEK(new, device, next.salt[:], kdf, c.hdr.cacheID[:])
	newHalf := 1 - c.masterHalf
	buf := encodeMasterHalf(&c.hdr, next, &kek, &c.master, nil)
	clear(kek[:])
	c.dropPending(halfRef{-1, newHalf})
	// Phase 1: the new wrapping is durable before cache.db points at it.
	if err := c.keys.writeAt(buf, masterHalfOffset(newHalf)); err != nil {
		return err
	}
	if err := c.keys.sync(); err != nil {
		return err
	}
	if c.hooks.afterPhase1 != nil {
		if err := c.hooks.afterPhase1(); err != nil {
			return err
		}
	}
	err = c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketHeader))
		return errors.Join(
			b.Put([]byte(hkMasterGen), be64(next.gen)),
			b.Put([]byte(hkFailures), make([]byte, 4)),
			b.Put([]byte(hkFailedAtNs), make([]byte, 8)),
		)
	})
	if err != nil {
		// The new half stays: if the commit reached the disk despite the
		// error, it is the only wrapping of M that cache.db names. Open
		// reconciles.
		return fmt.Errorf("changing the passphrase: %w", err)
	}
	oldHalf := c.masterHalf
	c.masterGen, c.masterHalf, c.kdf = next.gen, newHalf, kdf
	if c.hooks.afterCommit != nil {
		if err := c.hooks.afterCommit(); err != nil {
			return err
		}
	}
	// Phase 2: the old wrapping is destroyed.
	c.pendingZero = append(c.pendingZero, halfRef{-1, oldHalf})
	_ = c.flushPendingZero() // kept and retried if it fails
	return nil
}

// dropPending forgets a pending zeroing of a half about to be rewritten.
func (c *Cache) dropPending(r halfRef) {
	for i, p := range c.pendingZero {
		if p == r {
			c.pendingZero = append(c.pendingZero[:i], c.pendingZero[i+1:]...)
			return
		}
	}
}
