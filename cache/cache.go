package cache

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// dbFormat is the layout version of cache.db, kept in the header bucket.
// Format 2 keeps documents under sequential slot numbers (bucket slots).
// Format 3 lets index entries carry gender and held (see encodeIndex):
// a format-2 file is upgraded at its first unlock (its entries read as
// they are), and an older kmcr refuses a format-3 file rather than misread
// it.
const dbFormat = 3

// dbFormatUpgradable is the older format an unlock upgrades in place.
const dbFormatUpgradable = 2

// Keys of the plaintext header bucket. Nothing here names or describes a
// patient; the failure counter is deliberately readable before unlock.
const (
	hkFormat     = "format"       // 2 bytes
	hkCacheID    = "cache-id"     // 16 bytes, as in cache.keys
	hkMasterGen  = "master-gen"   // 8 bytes: generation of the current master half
	hkFailures   = "unlock-fails" // 4 bytes: wrong passphrases since the last unlock
	hkFailedAtNs = "unlock-last"  // 8 bytes: time of the last wrong passphrase, Unix ns
)

// Cache is an unlocked encrypted cache. It is safe for concurrent use: any
// number of View, Get and Search calls run alongside one Update at a time.
// Do not call Cache methods from inside an Update or View function.
type Cache struct {
	opts Options
	db   *bolt.DB
	keys keysFile
	hdr  keysHeader

	// writeMu admits one writer (Update, Sweep, ChangePassphrase, Close,
	// Wipe). The writer's function runs concurrently with readers; mu is
	// taken exclusively only around the bbolt commit and the swap of
	// in-memory keys and index, so a reader never sees a snapshot whose
	// group keys are not in memory.
	writeMu sync.Mutex
	mu      sync.RWMutex
	closed  bool

	master     [keySize]byte
	sub        subkeys
	masterGen  uint64
	masterHalf int
	kdf        KDFParams
	groups     [numGroups]groupState

	idx          *index
	damaged      map[recordID]struct{}
	outboxCount  int
	outboxOldest time.Time
	pendingZero  []halfRef    // old halves a failed overwrite left; retried on every commit and Close (writeMu)
	shredPending atomic.Int32 // len(pendingZero), for Stats without writeMu

	// failedBefore and failedAt are the failure counter as Open found it.
	failedBefore int
	failedAt     time.Time

	hooks testHooks
}

// groupState is the committed key of one group.
type groupState struct {
	key  [keySize]byte
	gen  uint64
	half int // which half of the slot holds it; -1 if the slot did not open
}

// testHooks simulate a crash between the phases of a key rotation: a hook
// that returns an error makes the commit stop right there, leaving the
// files as a power cut would.
type testHooks struct {
	afterPhase1 func() error // new halves written and synced, bbolt not committed
	afterCommit func() error // bbolt committed, old halves not yet zeroed
}

// Exists reports whether dir holds a cache (or the remains of one).
func Exists(dir string) bool {
	o := Options{Dir: dir}
	return fileExists(o.dbPath()) || fileExists(o.keysPath())
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func openBolt(opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(opts.dbPath(), 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, ErrAlreadyRunning
	}
	if err != nil {
		return nil, fmt.Errorf("%w: opening cache.db: %v", ErrCorrupt, err)
	}
	return db, nil
}

// Create makes a new cache in opts.Dir, protected by passphrase and a new
// device secret stored in opts.Secrets. It fails with ErrExist if the
// directory already holds a cache. The caller keeps ownership of
// passphrase (and should clear it).
func Create(opts Options, passphrase []byte) (*Cache, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	kdf := opts.KDF
	if kdf.isZero() {
		kdf = DefaultKDF
	}
	if err := kdf.validate(); err != nil {
		return nil, err
	}
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("%w: the passphrase is empty", ErrInvalid)
	}
	if Exists(opts.Dir) {
		return nil, ErrExist
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating profile directory: %w", err)
	}
	db, err := openBolt(opts)
	if err != nil {
		return nil, err
	}
	// Under the lock, make sure no other Create finished first.
	if fileExists(opts.keysPath()) || hasHeader(db) {
		db.Close()
		return nil, ErrExist
	}
	c, secretID, err := create(opts, db, kdf, passphrase)
	if err != nil {
		db.Close()
		os.Remove(opts.keysPath())
		os.Remove(opts.dbPath())
		if secretID != "" {
			_ = opts.Secrets.Delete(secretID)
		}
		return nil, err
	}
	return c, nil
}

func hasHeader(db *bolt.DB) bool {
	found := false
	_ = db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket([]byte(bucketHeader)) != nil
		return nil
	})
	return found
}

func create(opts Options, db *bolt.DB, kdf KDFParams, passphrase []byte) (_ *Cache, _ string, err error) {
	c := &Cache{opts: opts, db: db, kdf: kdf, masterGen: 1, damaged: map[recordID]struct{}{}, idx: newIndex()}
	defer func() {
		if err != nil {
			c.forget()
		}
	}()
	c.hdr.kind = opts.Secrets.Kind()
	randomBytes(c.hdr.cacheID[:])
	secretID := hex.EncodeToString(c.hdr.cacheID[:])

	device := make([]byte, deviceSecretSize)
	randomBytes(device)
	defer clear(device)
	c.hdr.check = deviceCheck(device, c.hdr.cacheID[:])
	if err := opts.Secrets.Set(secretID, device); err != nil {
		return nil, "", fmt.Errorf("storing the device secret in %v: %w", c.hdr.kind, err)
	}

	c.master = newKey()
	c.sub = deriveSubkeys(&c.master)
	mh := masterHalf{gen: c.masterGen, kdf: kdf}
	randomBytes(mh.salt[:])
	kek := deriveKEK(passphrase, device, mh.salt[:], kdf, c.hdr.cacheID[:])
	defer clear(kek[:])

	img := make([]byte, keysFileSize)
	c.hdr.encode(img)
	copy(img[masterHalfOffset(0):], encodeMasterHalf(&c.hdr, mh, &kek, &c.master, nil))
	for g := range numGroups {
		gs := &c.groups[g]
		gs.key, gs.gen, gs.half = newKey(), 1, 0
		copy(img[groupHalfOffset(byte(g), 0):], encodeGroupHalf(&c.hdr, &c.sub.slots, byte(g), gs.gen, &gs.key, nil))
	}
	f, err := os.OpenFile(opts.keysPath(), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, secretID, fmt.Errorf("creating cache.keys: %w", err)
	}
	c.keys.f = f
	err = c.keys.writeAt(img, 0)
	clear(img)
	if err == nil {
		err = c.keys.sync()
	}
	if err == nil {
		err = syncDir(opts.Dir)
	}
	if err != nil {
		f.Close()
		return nil, secretID, err
	}

	// The header bucket is written last: its presence marks a finished
	// enrolment.
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{bucketGroups, bucketKeys, bucketIndex, bucketRecords, bucketSlots, bucketMeta, bucketOutbox, bucketHeader} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		gb := tx.Bucket([]byte(bucketGroups))
		for g := range numGroups {
			if err := gb.Put([]byte{byte(g)}, be64(1)); err != nil {
				return err
			}
		}
		h := tx.Bucket([]byte(bucketHeader))
		return errors.Join(
			h.Put([]byte(hkFormat), binary.BigEndian.AppendUint16(nil, dbFormat)),
			h.Put([]byte(hkCacheID), append([]byte(nil), c.hdr.cacheID[:]...)),
			h.Put([]byte(hkMasterGen), be64(c.masterGen)),
			h.Put([]byte(hkFailures), make([]byte, 4)),
			h.Put([]byte(hkFailedAtNs), make([]byte, 8)),
		)
	})
	if err != nil {
		f.Close()
		return nil, secretID, fmt.Errorf("initialising cache.db: %w", err)
	}
	return c, secretID, nil
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// Close locks the cache: it overwrites the key material in memory, drops
// the in-memory index and closes the files. Go may have left copies of keys
// elsewhere in memory (the garbage collector moves and copies); Close
// removes every copy the package holds. Close after Close returns nil.
func (c *Cache) Close() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	err := c.flushPendingZero()
	c.forget()
	return errors.Join(err, c.db.Close(), c.keys.f.Close())
}

// forget zeroes key material and drops the index. Callers hold both locks.
func (c *Cache) forget() {
	c.closed = true
	clear(c.master[:])
	c.sub.zero()
	for g := range c.groups {
		clear(c.groups[g].key[:])
	}
	c.idx = nil
	c.damaged = nil
}

// flushPendingZero retries overwriting old halves left by a failed phase 2.
func (c *Cache) flushPendingZero() error {
	defer func() { c.shredPending.Store(int32(len(c.pendingZero))) }()
	if len(c.pendingZero) == 0 {
		return nil
	}
	if err := c.keys.zeroHalves(c.pendingZero); err != nil {
		return fmt.Errorf("destroying old keys in cache.keys: %w", err)
	}
	c.pendingZero = nil
	return nil
}

// Wipe destroys the open cache: it overwrites cache.keys (so no key can be
// unwrapped again, whatever copies of cache.db exist), deletes the device
// secret from its store, closes and removes both files. The Cache is closed
// afterwards.
func (c *Cache) Wipe() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	errZero := c.keys.writeAt(make([]byte, keysFileSize), 0)
	if errZero == nil {
		errZero = c.keys.sync()
	}
	c.forget()
	errClose := errors.Join(c.db.Close(), c.keys.f.Close())
	return destroy(c.opts, c.hdr.kind, hex.EncodeToString(c.hdr.cacheID[:]), errors.Join(errZero, errClose))
}

// Wipe destroys the cache in opts.Dir without its passphrase: the keys in
// cache.keys are overwritten, the device secret is deleted from
// opts.Secrets, and both files are removed. It returns ErrAlreadyRunning if
// another process has the cache open, and ErrNotExist if there is none.
// A damaged cache is wiped as far as possible.
func Wipe(opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	hasDB, hasKeys := fileExists(opts.dbPath()), fileExists(opts.keysPath())
	if !hasDB && !hasKeys {
		return ErrNotExist
	}
	var errs []error
	kind, secretID := SecretStoreKind(0), ""
	if hasDB && checkBoltFile(opts.dbPath()) == nil {
		db, err := openBolt(opts)
		if errors.Is(err, ErrAlreadyRunning) {
			return err
		}
		if db != nil {
			if h, err := readDBHeader(db); err == nil {
				secretID = hex.EncodeToString(h.cacheID[:])
			}
			defer db.Close()
		}
	}
	if hasKeys {
		if b, err := os.ReadFile(opts.keysPath()); err == nil {
			if h, err := parseKeys(b); err == nil {
				kind, secretID = h.kind, hex.EncodeToString(h.cacheID[:])
			}
		}
		if err := overwriteWithZeros(opts.keysPath()); err != nil {
			errs = append(errs, fmt.Errorf("overwriting cache.keys: %w", err))
		}
	}
	return destroy(opts, kind, secretID, errors.Join(errs...))
}

// destroy removes the files and the device secret after the keys are gone.
func destroy(opts Options, kind SecretStoreKind, secretID string, prior error) error {
	errs := []error{prior}
	for _, p := range []string{opts.keysPath(), opts.dbPath()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, syncDir(opts.Dir))
	switch {
	case secretID == "":
	case kind != 0 && kind != opts.Secrets.Kind():
		errs = append(errs, fmt.Errorf("the device secret was not removed: it is in %v, not %v: %w", kind, opts.Secrets.Kind(), ErrSecretStoreMismatch))
	default:
		if err := opts.Secrets.Delete(secretID); err != nil {
			errs = append(errs, fmt.Errorf("the cache is destroyed, but removing its device secret failed: %w", err))
		}
	}
	return errors.Join(errs...)
}
