package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"kmcr/server"
	"kmcr/server/store"
)

// defaultDataDir is where the server keeps its store when --data-dir is
// not given: the user config folder.
func defaultDataDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "kmcr-server")
	}
	return "kmcr-server-data"
}

func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data-dir", defaultDataDir(), "the server's data directory")
}

// withAdmin runs fn with an Admin for dataDir: in-process when no server
// holds the store, or through the running server's control socket. Either
// way the command behaves and prints the same.
func withAdmin(dataDir string, fn func(ctx context.Context, a server.Admin) error) error {
	return withAdminKeys(dataDir, "", fn)
}

// withAdminKeys is withAdmin with the token key file at keysPath ("" for
// the data directory's) when no server is running.
func withAdminKeys(dataDir, keysPath string, fn func(ctx context.Context, a server.Admin) error) error {
	ctx := context.Background()
	if !store.Exists(dataDir) {
		return fmt.Errorf("no kmcr-server store in %s: run \"kmcr-server init --data-dir %s\" first", dataDir, dataDir)
	}
	if _, err := privateDataDir(dataDir, nil); err != nil {
		return err
	}
	// A server that answers holds the store; asking it first saves the
	// wait for the store's lock.
	if server.Serving(dataDir) {
		return fn(ctx, server.RemoteAdmin(dataDir))
	}
	st, err := store.OpenBolt(dataDir, 200*time.Millisecond)
	if errors.Is(err, store.ErrLocked) {
		return fn(ctx, server.RemoteAdmin(dataDir))
	}
	if err != nil {
		return err
	}
	defer st.Close()
	quiet := func(string, ...any) {}
	keys, err := openTokenKeys(dataDir, keysPath, st, quiet)
	if err != nil {
		return err
	}
	svc, err := server.New(server.Config{Store: st, TokenKeys: keys, Logf: quiet})
	if err != nil {
		return err
	}
	return fn(ctx, server.LocalAdmin(svc))
}
