package core

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kmcr/internal/memsecrets"
)

// shortProfileDir is a profile folder whose control socket path stays
// within the unix limit whatever the test's name.
func shortProfileDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "kmcr-ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "profile")
}

// serveControl runs c's control socket until the test ends.
func serveControl(t *testing.T, c *Core) (stop func()) {
	t.Helper()
	ctl, err := c.ListenControl()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctl.Serve(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("control socket: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the control socket did not stop within 30 s")
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestControl_StatusAndLock checks "kmcr status" and "kmcr lock" reach the
// kmcr holding a profile: the status is the running core's, and a lock
// locks it.
func TestControl_StatusAndLock(t *testing.T) {
	ts := startServer(t, 3)
	ts.addUser("cara", "paramedic", ts.nhs...)
	dir := shortProfileDir(t)
	c := newCore(t, dir, memsecrets.New())
	if err := c.Enrol(context.Background(), EnrolRequest{Server: "wss://" + ts.addr, CAFile: ts.ca, User: "cara", Password: "password cara", Passphrase: []byte(testPassphrase), Host: "test-laptop"}, nil); err != nil {
		t.Fatal(err)
	}
	serveControl(t, c)
	st, err := RemoteStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Status(); st.User != "cara" || st.DeviceID != want.DeviceID || st.CachedPatients != 3 || st.Locked {
		t.Fatalf("remote status %+v; want the running core's (%s, 3 cached, unlocked)", st, want.DeviceID)
	}
	if err := RemoteLock(dir); err != nil {
		t.Fatal(err)
	}
	if !c.Locked() {
		t.Fatal("RemoteLock did not lock the running core")
	}
	if st, err := RemoteStatus(dir); err != nil || !st.Locked {
		t.Fatalf("status after a remote lock: %+v, %v", st, err)
	}
	if err := RemoteLock(dir); err != nil {
		t.Fatalf("locking a locked core: %v", err)
	}
}

// TestControl_AlreadyRunning checks a second kmcr on the same profile is
// told another one runs, and the first keeps answering.
func TestControl_AlreadyRunning(t *testing.T) {
	dir := shortProfileDir(t)
	first := newCore(t, dir, memsecrets.New())
	serveControl(t, first)
	second := newCore(t, dir, memsecrets.New())
	if _, err := second.ListenControl(); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second ListenControl = %v; want ErrAlreadyRunning", err)
	}
	if st, err := RemoteStatus(dir); err != nil || st.Enrolled {
		t.Fatalf("the first kmcr after a refused second: %+v, %v", st, err)
	}
}

// TestControl_NotRunning checks a profile nobody holds gives ErrNotRunning,
// before any kmcr ran, after one stopped, and with a socket a crash left.
func TestControl_NotRunning(t *testing.T) {
	dir := shortProfileDir(t)
	c := newCore(t, dir, memsecrets.New())
	check := func(when string) {
		t.Helper()
		if _, err := RemoteStatus(dir); !errors.Is(err, ErrNotRunning) {
			t.Errorf("%s: RemoteStatus = %v; want ErrNotRunning", when, err)
		}
		if err := RemoteLock(dir); !errors.Is(err, ErrNotRunning) {
			t.Errorf("%s: RemoteLock = %v; want ErrNotRunning", when, err)
		}
	}
	check("never ran")
	stop := serveControl(t, c)
	if _, err := RemoteStatus(dir); err != nil {
		t.Fatal(err)
	}
	stop()
	check("stopped")

	// A crash leaves the socket file behind with nobody answering.
	ln, err := net.Listen("unix", filepath.Join(dir, controlSocket))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	check("stale socket")
	serveControl(t, c)
	if _, err := RemoteStatus(dir); err != nil {
		t.Fatalf("after replacing a stale socket: %v", err)
	}
}
