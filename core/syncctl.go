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

// StartSync keeps the cache in sync in the background until StopSync,
// Lock or Close. It needs the cache unlocked.
func (c *Core) StartSync() error {
	if _, _, err := c.open(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.sync != nil {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	sc, err := c.newSyncClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.mu.Lock()
	c.sync, c.stopSync, c.syncDone = sc, cancel, done
	c.mu.Unlock()
	go func() {
		defer close(done)
		err := sc.Serve(ctx)
		if err != nil {
			c.cfg.Logf("sync stopped: %v", err)
		}
		c.mu.Lock()
		if c.sync == sc {
			c.sync, c.stopSync, c.syncDone = nil, nil, nil
		}
		c.mu.Unlock()
		c.notify()
	}()
	return nil
}

// StopSync stops background syncing and waits for it to end.
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

// Syncing reports whether background sync is running.
func (c *Core) Syncing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sync != nil
}

// SyncOnce connects, syncs until up to date with the audit queue flushed,
// and returns; progress receives each state change. It cannot run while
// background sync does.
func (c *Core) SyncOnce(ctx context.Context, progress func(SyncState)) error {
	if _, _, err := c.open(); err != nil {
		return err
	}
	if c.Syncing() {
		return errors.New("background sync is running")
	}
	sc, err := c.newSyncClient()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sync, c.onProgress = sc, progressOf(progress)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.sync == sc {
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
