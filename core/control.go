package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"kmcr/internal/ctlsock"
)

// controlSocket is how "kmcr status" and "kmcr lock" reach the kmcr that
// holds the profile open (the window or "kmcr sync"): a unix socket in the
// profile folder, mode 0600, so only the same OS user can use it.
const controlSocket = "kmcr.sock"

// controlTimeout bounds a status or lock request to the running kmcr.
const controlTimeout = 10 * time.Second

// The control operations.
var (
	opStatus = ctlsock.Op[ctlsock.None, Status]{Name: "status"}
	opLock   = ctlsock.Op[ctlsock.None, ctlsock.None]{Name: "lock"}
)

// ErrNotRunning is returned by RemoteLock and RemoteStatus when no kmcr
// holds the profile.
var ErrNotRunning = errors.New("kmcr is not running with this profile")

// Control answers status and lock requests from other kmcr commands on the
// profile's control socket; it is a service run with Serve.
type Control struct{ srv *ctlsock.Server }

// ListenControl binds the profile's control socket. If another kmcr already
// answers there it returns ErrAlreadyRunning and leaves that one alone; a
// socket left by a crash is replaced.
func (c *Core) ListenControl() (*Control, error) {
	srv, err := ctlsock.Listen(c.cfg.DataDir, controlSocket, nil)
	if errors.Is(err, ctlsock.ErrInUse) {
		return nil, ErrAlreadyRunning
	}
	if err != nil {
		return nil, err
	}
	ctlsock.Handle(srv, opStatus, ctlsock.NoArgs(func(context.Context) (Status, error) { return c.Status(), nil }))
	ctlsock.Handle(srv, opLock, ctlsock.NoResult(func(context.Context, ctlsock.None) error { return c.Lock() }))
	return &Control{srv: srv}, nil
}

// Serve answers until ctx ends, then removes the socket.
func (ctl *Control) Serve(ctx context.Context) error { return ctl.srv.Serve(ctx) }

// Close releases the socket of a Control that will not be served.
func (ctl *Control) Close() error { return ctl.srv.Close() }

// controlCall runs op on the kmcr holding the profile in dataDir.
func controlCall[R any](dataDir string, op ctlsock.Op[ctlsock.None, R]) (R, error) {
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	r, err := ctlsock.Call(ctx, ctlsock.NewClient(dataDir, controlSocket, nil), op, ctlsock.None{})
	if errors.Is(err, ctlsock.ErrNotAnswering) {
		return r, ErrNotRunning
	}
	return r, err
}

// RemoteStatus asks the running kmcr of a profile for its status.
func RemoteStatus(dataDir string) (Status, error) {
	return controlCall(dataDir, opStatus)
}

// RemoteLock asks the running kmcr of a profile to lock now.
func RemoteLock(dataDir string) error {
	_, err := controlCall(dataDir, opLock)
	if err != nil && !errors.Is(err, ErrNotRunning) {
		return fmt.Errorf("the running kmcr could not lock: %w", err)
	}
	return err
}
