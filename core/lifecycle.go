package core

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"kmcr/audit"
	"kmcr/cache"
)

// Unlock opens the cache with the passphrase and records an unlock audit
// event (and one unlock-failed event for each wrong passphrase since the
// last unlock: they could not be sealed when they happened). A wrong
// passphrase returns an error matching ErrWrongPassphrase, with a
// *RetryError saying how long to wait before the next attempt.
func (c *Core) Unlock(pass []byte) error { return boundary(c.unlock(pass, true)) }

// UnlockForCommand opens the cache for one command-line command. It
// records failed attempts but no unlock event: the command's own accesses
// (search, view) are recorded, and status or sync show no patient data.
func (c *Core) UnlockForCommand(pass []byte) error { return boundary(c.unlock(pass, false)) }

func (c *Core) unlock(pass []byte, logUnlock bool) error {
	if !c.Enrolled() {
		return ErrNotEnrolled
	}
	c.mu.Lock()
	if c.c != nil {
		c.mu.Unlock()
		return nil
	}
	opts := c.cacheOptions()
	c.mu.Unlock()
	cc, err := cache.Open(opts, pass)
	if err != nil {
		return err
	}
	var s session
	failures, lastFailure := cc.FailedUnlocks()
	err = cc.Update(func(tx *cache.Tx) error {
		ok, err := getJSON(tx, metaSession, &s)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("the cache has no session record; wipe and enrol again")
		}
		c.checkMark(tx, c.markStore(opts), s)
		for i := 0; i < failures; i++ {
			e := c.event(s, audit.ActionUnlockFailed)
			e.Occurred = lastFailure.UTC()
			e.Outcome = audit.Outcome{Result: audit.ResultFailure, Detail: fmt.Sprintf("wrong passphrase (%d of %d since the last unlock; the time is that of the last)", i+1, failures)}
			if err := c.writeEvent(tx, e); err != nil {
				return err
			}
		}
		if logUnlock {
			return c.writeEvent(tx, c.event(s, audit.ActionUnlock))
		}
		return nil
	})
	if err == nil {
		err = refreshIndexKeys(cc)
	}
	if err != nil {
		cc.Close()
		return fmt.Errorf("unlocking: %w", err)
	}
	c.mu.Lock()
	c.c, c.sess = cc, s
	c.mu.Unlock()
	c.scheduleIncidentExpiry(cc)
	c.notify()
	return nil
}

// checkMark compares the cache's audit chain head with the high-water
// mark kept outside the profile folder. A rollback is logged and kept for
// the next sync to report; the unlock goes on (the clinician may need the
// record), and a keyring that cannot be read only weakens detection.
func (c *Core) checkMark(tx *cache.Tx, secrets cache.SecretStore, s session) {
	head, err := chainHead(tx)
	if err != nil {
		c.cfg.Logf("reading the audit chain head: %v", err)
		return
	}
	r, err := c.marks.open(secrets, s.DeviceID, head, c.now())
	if err != nil {
		c.cfg.Logf("%v", err)
		return
	}
	if r != nil {
		c.cfg.Logf("this profile was restored from an older copy: its audit trail ends at %d but %d had been reached; the server will be told at the next sync", r.FoundSeq, r.AllocatedSeq)
	}
}

// Lock records a lock event, stops syncing (nothing can be stored without
// the keys) and closes the cache, forgetting every key and the in-memory
// index.
func (c *Core) Lock() error {
	cc, s, err := c.open()
	if errors.Is(err, ErrLocked) {
		return nil
	}
	c.StopSync()
	lerr := cc.Update(func(tx *cache.Tx) error { return c.writeEvent(tx, c.event(s, audit.ActionLock)) })
	c.mu.Lock()
	c.c = nil
	c.mu.Unlock()
	c.closeMark(cc)
	cerr := cc.Close()
	c.notify()
	return errors.Join(lerr, cerr)
}

// Wipe destroys the local cache: every key, the keyring entry, the files
// and the profile. When unlocked it first records a wipe event and gives
// the uploader a moment to deliver the queue.
func (c *Core) Wipe(flush time.Duration) error {
	if cc, s, err := c.open(); err == nil {
		if err := cc.Update(func(tx *cache.Tx) error { return c.writeEvent(tx, c.event(s, audit.ActionWipe)) }); err == nil && flush > 0 {
			c.flushBeforeWipe(flush)
		}
	}
	return c.wipeLocal(true)
}

// wipeLocal destroys everything without trying to talk to the server
// (a revoked device, or the server's wipe order). waitSync says whether to
// wait for a running ServeSync to end first; the sync goroutine itself,
// carrying out the server's order, must not wait for itself: it only
// cancels the service, which returns once the order has been carried out.
func (c *Core) wipeLocal(waitSync bool) error {
	if waitSync {
		c.StopSync()
	} else {
		c.cancelSync()
	}
	c.mu.Lock()
	cc := c.c
	c.c = nil
	opts := c.cacheOptions()
	var deviceID string
	marks := opts.Secrets
	if c.profile != nil {
		deviceID = c.profile.DeviceID
		if c.cfg.Secrets == nil && c.profile.Secrets == SecretsFile {
			marks = newMarkFile(c.profile.SecretFile)
		}
	}
	c.profile = nil
	c.mu.Unlock()
	var err error
	c.marks.drop()
	if deviceID != "" {
		if merr := forgetMark(marks, deviceID); merr != nil {
			c.cfg.Logf("removing the audit high-water mark: %v", merr)
		}
	}
	if cc != nil {
		err = cc.Wipe()
	} else if cache.Exists(opts.Dir) {
		err = cache.Wipe(opts)
	}
	for _, f := range []string{profileFile, caFile} {
		if rerr := os.Remove(filepath.Join(c.cfg.DataDir, f)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	c.notify()
	return err
}
