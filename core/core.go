// Package core is the client core that the desktop GUI and the command line
// share: the profile, enrolment, unlock and lock, search and opening a
// patient with its audit event, break-glass, status, sync control and wipe.
// It ties the encrypted cache, the audit chain and the sync client
// together, and imports no GUI toolkit: package ui presents it.
//
// # Audit before display
//
// Every access to patient data writes its audit event in the same cache
// transaction that reads the data, and the data is returned only after that
// transaction commits. If the event cannot be written, nothing is shown and
// the caller gets the reason.
package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"kmcr/cache"
	"kmcr/internal/fsperm"
	"kmcr/sync/syncclient"
)

// Version is the client's version, shown in About and sent to the server.
const Version = "0.1.0"

// Errors callers tell apart.
var (
	// ErrNotEnrolled is returned when the profile has not been enrolled.
	ErrNotEnrolled = errors.New("this profile is not enrolled: run kmcr enrol (or open kmcr to enrol)")
	// ErrEnrolled is returned by Enrol when the profile is already enrolled.
	ErrEnrolled = errors.New("this profile is already enrolled; wipe it first to enrol again")
	// ErrLocked is returned when an operation needs the cache unlocked.
	ErrLocked = errors.New("kmcr is locked: unlock it with your passphrase")
	// ErrNotCached is returned when a patient is not in the cache (never
	// synced, revoked, or past its lease).
	ErrNotCached = errors.New("this patient is not available on this device")
	// ErrSetAside is returned with ErrNotCached when the patient's record
	// arrived but could not be stored here (kmcr status lists why).
	ErrSetAside = errors.New("set aside when it arrived")
	// ErrBreakGlassNotAllowed is returned when the user's role may not use
	// emergency access.
	ErrBreakGlassNotAllowed = errors.New("your role may not use emergency (break-glass) access")
)

// Config configures a Core.
type Config struct {
	// DataDir is the profile directory (DefaultDataDir when empty).
	DataDir string
	// Secrets overrides the device secret store (tests). When nil, the
	// profile's choice is used: the OS keyring, or a device secret file.
	Secrets cache.SecretStore
	// KeyringTimeout bounds OS keyring calls (cache.DefaultKeyringTimeout
	// when zero).
	KeyringTimeout time.Duration
	// KDF overrides the passphrase stretching for new profiles (tests).
	KDF cache.KDFParams
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// SyncTweak, when set, adjusts the sync client's configuration (tests
	// shorten timeouts and backoff with it).
	SyncTweak func(*syncclient.Config)
	// Logf receives diagnostics; never patient data.
	Logf func(format string, args ...any)
}

// Core is one profile's client core. Its methods are safe for concurrent
// use; none of them should be called on a GUI's event goroutine, because
// key derivation, keyring calls and disk writes take time.
type Core struct {
	cfg Config

	mu         sync.Mutex
	profile    *Profile
	c          *cache.Cache // nil while locked
	sess       session      // who is using the cache, read from it at unlock
	sync       *syncclient.Client
	lastSync   *syncclient.Client // the last one, once ended: its link measurements
	stopSync   context.CancelFunc
	syncDone   chan struct{}
	state      syncclient.State
	onProgress func(syncclient.State) // SyncOnce's caller, while it runs
	prepared   sync.Map               // *protocol.Batch -> preparedBatch, ahead of their commits
	wipeReason string                 // why the server ordered a wipe, if it did
	watchers   map[int]func(Status)
	nextW      int
	marks      markKeeper // the audit high-water mark outside the profile folder
	// incidentTimer ends open incidents at their expiry (incident.go).
	incidentTimer *time.Timer
}

// Open reads the profile in cfg.DataDir, if any. It does not unlock.
func Open(cfg Config) (*Core, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("profile folder: %w", err)
	}
	// A profile folder others can read (made by hand, or copied) is made
	// private; one owned by another user is refused.
	if msg, err := fsperm.TightenDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("profile folder: %w", err)
	} else if msg != "" {
		cfg.Logf("%s", msg)
	}
	p, err := loadProfile(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	c := &Core{cfg: cfg, profile: p, watchers: map[int]func(Status){}}
	c.marks.logf = cfg.Logf
	return c, nil
}

func (c *Core) now() time.Time { return c.cfg.Now().UTC() }

// DataDir is the profile directory.
func (c *Core) DataDir() string { return c.cfg.DataDir }

// Enrolled reports whether the profile has been enrolled.
func (c *Core) Enrolled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.profile != nil && cache.Exists(c.cfg.DataDir)
}

// Profile returns a copy of the profile (zero before enrolment).
func (c *Core) Profile() Profile {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.profile == nil {
		return Profile{}
	}
	return *c.profile
}

// Locked reports whether the cache is locked.
func (c *Core) Locked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c == nil
}

// cacheOptions are the cache options for this profile.
func (c *Core) cacheOptions() cache.Options {
	o := cache.Options{Dir: c.cfg.DataDir, KDF: c.cfg.KDF, Now: c.cfg.Now}
	switch {
	case c.cfg.Secrets != nil:
		o.Secrets = c.cfg.Secrets
	case c.profile != nil && c.profile.Secrets == SecretsFile:
		o.Secrets = cache.NewFileSecretStore(c.profile.SecretFile)
	default:
		t := c.cfg.KeyringTimeout
		if t == 0 {
			t = cache.DefaultKeyringTimeout
		}
		o.Secrets = cache.NewOSKeyring(t)
	}
	return o
}

// open returns the unlocked cache or ErrLocked.
func (c *Core) open() (*cache.Cache, session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return nil, session{}, ErrLocked
	}
	return c.c, c.sess, nil
}

// Close stops syncing and locks the cache without an audit event (the
// process is ending). Use Lock for a user's lock.
func (c *Core) Close() error {
	c.StopSync()
	c.mu.Lock()
	cc := c.c
	c.c = nil
	c.mu.Unlock()
	if cc != nil {
		c.closeMark(cc)
		return cc.Close()
	}
	return nil
}

// closeMark records the exact audit chain head in the high-water mark
// before the cache closes.
func (c *Core) closeMark(cc *cache.Cache) {
	var head uint64
	if err := cc.View(func(tx *cache.Tx) error {
		var err error
		head, err = chainHead(tx)
		return err
	}); err != nil {
		c.cfg.Logf("reading the audit chain head at close: %v", err)
		return
	}
	c.marks.closed(head)
}
