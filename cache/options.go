package cache

import (
	"fmt"
	"path/filepath"
	"time"
)

// File names inside a profile directory.
const (
	dbFileName   = "cache.db"
	keysFileName = "cache.keys"
)

// DefaultLockTimeout is how long Create, Open and Wipe wait for another
// process to release the cache before returning ErrAlreadyRunning.
const DefaultLockTimeout = time.Second

// DefaultKeyringTimeout is the timeout of the OS keyring store used when
// Options.Secrets is nil. It is long enough for a user to answer an unlock
// prompt and short enough that a hung Secret Service is reported.
const DefaultKeyringTimeout = 15 * time.Second

// KDFParams are the Argon2id parameters that stretch the passphrase. They are
// stored beside the wrapped master key, so they can be raised later (by
// ChangePassphrase) without breaking existing caches.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // parallelism
}

// DefaultKDF is Argon2id with t=3, m=64 MiB, p=4: the RFC 9106 "second
// recommended option" and what Bitwarden and age-style tools use. About
// 0.13 s on the 2-core test machine, paid once per unlock.
var DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// Bounds for KDF parameters read from a file, so that an edited cache.keys
// cannot make Open allocate unbounded memory or spin for hours.
const (
	maxKDFTime      = 64
	maxKDFMemoryKiB = 1 << 20 // 1 GiB: 16x the default, and still safe to allocate on a laptop
)

func (p KDFParams) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Errorf("%w: Argon2 time %d is outside 1..%d", ErrInvalid, p.Time, maxKDFTime)
	case p.Threads < 1:
		return fmt.Errorf("%w: Argon2 threads must be at least 1", ErrInvalid)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB:
		return fmt.Errorf("%w: Argon2 memory %d KiB is outside %d..%d KiB", ErrInvalid, p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemoryKiB)
	}
	return nil
}

func (p KDFParams) isZero() bool { return p == KDFParams{} }

// Options configure Create, Open and Wipe.
type Options struct {
	// Dir is the profile directory holding cache.db and cache.keys.
	Dir string
	// Secrets holds the device secret. Nil means the OS keyring with
	// DefaultKeyringTimeout. Open must be given the same kind of store that
	// Create was given.
	Secrets SecretStore
	// KDF is used by Create, and by ChangePassphrase when non-zero; Open
	// reads the parameters from cache.keys. Zero means DefaultKDF.
	KDF KDFParams
	// Now is the clock used for leases and the retry delay. Nil means
	// time.Now.
	Now func() time.Time
	// LockTimeout bounds the wait for another process's lock. Zero means
	// DefaultLockTimeout.
	LockTimeout time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, fmt.Errorf("%w: Options.Dir is empty", ErrInvalid)
	}
	if o.Secrets == nil {
		o.Secrets = NewOSKeyring(DefaultKeyringTimeout)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	return o, nil
}

func (o Options) dbPath() string   { return filepath.Join(o.Dir, dbFileName) }
func (o Options) keysPath() string { return filepath.Join(o.Dir, keysFileName) }
