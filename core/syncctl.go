package core

import (
	"context"
	"crypto/tls"
	"errors"
	"path/filepath"
	"time"

	"kmcr/sync/syncclient"
)

// newSyncClient makes a sync client for this profile.
func (c *Core) newSyncClient() (*syncclient.Client, error) {
	p := c.Profile()
	if p.Server == "" {
		return nil, ErrNotEnrolled
	}
	caPath := filepath.Join(c.cfg.DataDir, caFile)
	pool, _, err := loadCA(caPath)
	if err != nil {
		return nil, err
	}
	cfg := syncclient.Config{
		Server:   p.Server,
		Servers:  p.Servers,
		TLS:      &tls.Config{RootCAs: pool},
		CAFile:   caPath,
		DeviceID: p.DeviceID,
		Applier:  syncer{c},
		Tokens:   syncer{c},
		OnState:  c.setState,
		Client:   "kmcr/" + Version,
		Logf:     c.cfg.Logf,
	}
	if c.cfg.SyncTweak != nil {
		c.cfg.SyncTweak(&cfg)
	}
	return syncclient.New(cfg)
}

// ErrSyncRunning is returned by ServeSync and SyncOnce when this core
// already syncs: one connection per device at a time.
var ErrSyncRunning = errors.New("this profile is already syncing")

// ServeSync keeps the cache in sync, reconnecting as needed, until ctx
// ends or the cache is locked, wiped or closed (StopSync), and then
// returns nil; it is a service its caller runs. It needs the cache
// unlocked.
func (c *Core) ServeSync(ctx context.Context) error {
	if _, _, err := c.open(); err != nil {
		return err
	}
	sc, err := c.newSyncClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	c.mu.Lock()
	if c.sync != nil {
		c.mu.Unlock()
		return ErrSyncRunning
	}
	c.sync, c.stopSync, c.syncDone = sc, cancel, done
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.lastSync = c.sync
		c.sync, c.stopSync, c.syncDone = nil, nil, nil
		c.mu.Unlock()
		close(done)
		c.notify()
	}()
	err = sc.Serve(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// StopSync ends a running ServeSync and waits until it has returned; it
// does nothing when none runs. Lock, Wipe and Close call it.
func (c *Core) StopSync() {
	c.mu.Lock()
	cancel, done := c.stopSync, c.syncDone
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// cancelSync asks a running ServeSync to end without waiting for it.
func (c *Core) cancelSync() {
	c.mu.Lock()
	cancel := c.stopSync
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Syncing reports whether background sync is running.
func (c *Core) Syncing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sync != nil
}

// SyncOnce connects, syncs until up to date with the audit queue flushed,
// and returns; progress receives each state change. It cannot run while
// ServeSync does (ErrSyncRunning).
func (c *Core) SyncOnce(ctx context.Context, progress func(SyncState)) error {
	if _, _, err := c.open(); err != nil {
		return err
	}
	sc, err := c.newSyncClient()
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.sync != nil {
		c.mu.Unlock()
		return ErrSyncRunning
	}
	c.sync, c.onProgress = sc, progressOf(progress)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.sync == sc {
			c.lastSync = sc
			c.sync, c.onProgress = nil, nil
		}
		c.mu.Unlock()
	}()
	return sc.SyncOnce(ctx)
}

// flushBeforeWipe tries, for at most d, to deliver queued audit events.
func (c *Core) flushBeforeWipe(d time.Duration) {
	if c.Syncing() {
		c.StopSync()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.SyncOnce(ctx, nil); err != nil {
		c.cfg.Logf("could not deliver the audit queue before wiping: %v", err)
	}
}
