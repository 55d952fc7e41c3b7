package core

import (
	"context"
	"testing"
	"time"
)

// TestServeSync_RevokedWhileServing_WipesAndReturns: a wipe order that
// arrives while ServeSync runs is carried out from the sync goroutine
// itself; the wipe must not wait for that goroutine to end (it would wait
// for itself), and ServeSync returns.
func TestServeSync_RevokedWhileServing_WipesAndReturns(t *testing.T) {
	ts := startServer(t, 3)
	ts.addUser("amy", "paramedic", ts.nhs...)
	c, _ := enrolled(t, ts, "amy")
	syncOnce(t, c)
	device := c.Profile().DeviceID

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.ServeSync(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); c.Status().State != SyncUpToDate; {
		if time.Now().After(deadline) {
			t.Fatalf("sync never came up to date: %+v", c.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := ts.admin.DeviceRevoke(context.Background(), device); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ServeSync did not return after the server ordered a wipe (deadlock)")
	}
	if c.Profile().DeviceID != "" {
		t.Fatalf("profile still present after the wipe: %+v", c.Profile())
	}
}
