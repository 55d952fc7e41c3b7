package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// controlSocket is how "kmcr status" and "kmcr lock" reach the kmcr that
// holds the profile open (the window or "kmcr sync"): a unix socket in the
// profile folder, mode 0600, so only the same OS user can use it.
const controlSocket = "kmcr.sock"

// ErrNotRunning is returned by RemoteLock and RemoteStatus when no kmcr
// holds the profile.
var ErrNotRunning = errors.New("kmcr is not running with this profile")

// ErrAlreadyRunning is returned by ServeControl when another kmcr answers
// on the profile's control socket.
var ErrAlreadyRunning = errors.New("kmcr is already running with this profile: use that window, or close it first")

// ServeControl answers status and lock requests from other kmcr commands
// until the returned function is called. If another kmcr already answers
// on this profile, it returns ErrAlreadyRunning and leaves that one alone.
func (c *Core) ServeControl() (func(), error) {
	path := filepath.Join(c.cfg.DataDir, controlSocket)
	if _, err := RemoteStatus(c.cfg.DataDir); err == nil {
		return nil, ErrAlreadyRunning
	}
	// Nobody answers, so a socket left here is stale (a crash).
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.Status())
	})
	mux.HandleFunc("POST /lock", func(w http.ResponseWriter, r *http.Request) {
		if err := c.Lock(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = os.Remove(path)
	}, nil
}

func controlClient(dataDir string) *http.Client {
	path := filepath.Join(dataDir, controlSocket)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// RemoteStatus asks the running kmcr of a profile for its status.
func RemoteStatus(dataDir string) (Status, error) {
	var st Status
	resp, err := controlClient(dataDir).Get("http://kmcr/status")
	if err != nil {
		return st, ErrNotRunning
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// RemoteLock asks the running kmcr of a profile to lock now.
func RemoteLock(dataDir string) error {
	resp, err := controlClient(dataDir).Post("http://kmcr/lock", "", nil)
	if err != nil {
		return ErrNotRunning
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("the running kmcr could not lock (status %s)", resp.Status)
	}
	return nil
}
