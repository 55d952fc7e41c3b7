package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store"
	"kmcr/server/store/postgres"
)

func init() {
	register(&command{name: "init", summary: "create the store, a private CA and the TLS certificate", run: runInit})
}

func runInit(env *cmdEnv, args []string) error {
	fs := newFlags(env, "init")
	f := storeFlag(fs)
	dir := f.dir
	hosts := fs.String("hosts", "127.0.0.1,localhost,::1", "comma-separated host names and IP addresses the TLS certificate is for")
	caKeyOut := fs.String("ca-key-out", "", "write the CA's private key to this file (removable media, say) instead of the data directory; serve never needs it")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if _, err := privateDataDir(*dir, func(f string, a ...any) { fmt.Fprintf(env.stderr, f+"\n", a...) }); err != nil {
		return err
	}
	epoch, where, err := initStore(f)
	if err != nil {
		return err
	}
	keys := filepath.Join(*dir, server.TokenKeysFile)
	var hs []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	caKey := filepath.Join(*dir, pki.CAKeyFile)
	if *caKeyOut != "" {
		if caKey, err = filepath.Abs(*caKeyOut); err != nil {
			return err
		}
	}
	ca, err := pki.InitCAKeyAt(*dir, caKey, hs, time.Now())
	if errors.Is(err, pki.ErrExists) {
		return fmt.Errorf("%s is already initialised; its CA certificate is %s", *dir, ca)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "Created the store in %s (epoch %s).\n", where, epoch)
	fmt.Fprintf(env.stdout, "TLS certificate for: %s\n", strings.Join(hs, ", "))
	fmt.Fprintf(env.stdout, "CA certificate: %s\n", ca)
	fmt.Fprintf(env.stdout, "Give it to clients: kmcr enrol --server wss://HOST:PORT --ca %s --user NAME\n", ca)
	fmt.Fprintf(env.stdout, "Token signing key: %s (mode 0600, kept apart from the database; rotate with kmcr-server keys rotate)\n", keys)
	fmt.Fprintf(env.stdout, "CA private key: %s\n", caKey)
	fmt.Fprintln(env.stdout, "  kmcr-server serve never reads it. Keep it offline: copy it to removable media kept locked away, then delete it here")
	fmt.Fprintln(env.stdout, "  (or use --ca-key-out next time). It is needed only to issue a new server certificate, every 397 days.")
	return nil
}

// initStore creates the store (for PostgreSQL: applies the migrations) and
// the token key file in the data directory, and returns the store's epoch
// and where it is.
func initStore(f storeFlags) (epoch, where string, err error) {
	quiet := func(string, ...any) {}
	if f.postgres() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if _, err := postgres.Migrate(ctx, *f.url); err != nil {
			return "", "", err
		}
		st, err := openPostgres(*f.url)
		if err != nil {
			return "", "", err
		}
		defer st.Close()
		if _, err := openTokenKeys(*f.dir, "", st, quiet); err != nil {
			return "", "", err
		}
		return st.Epoch(), "PostgreSQL", nil
	}
	st, err := store.OpenBolt(*f.dir, 500*time.Millisecond)
	if errors.Is(err, store.ErrLocked) {
		return "", "", fmt.Errorf("a kmcr-server is already running on %s", *f.dir)
	}
	if err != nil {
		return "", "", err
	}
	defer st.Close()
	if _, err := openTokenKeys(*f.dir, "", st, quiet); err != nil {
		return "", "", err
	}
	return st.Epoch(), *f.dir, nil
}
