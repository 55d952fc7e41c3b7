package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"kmcr/server"
	"kmcr/server/store"
	"kmcr/server/store/postgres"
)

// storeEnv names the environment variable --store defaults to.
const storeEnv = "KMCR_STORE"

// storeFlags are every command's choice of store: the data directory
// (bbolt's file, the TLS certificate and the admin socket live there) and
// --store, a PostgreSQL URL that puts the store in that database instead.
type storeFlags struct {
	dir *string
	url *string
}

func storeFlag(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		dir: dataDirFlag(fs),
		url: fs.String("store", os.Getenv(storeEnv), "the store: a PostgreSQL URL (postgres://...) shared by every node; empty for the bbolt file in --data-dir (default $"+storeEnv+")"),
	}
}

// isPostgres reports whether a --store value names a PostgreSQL database.
func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") || strings.Contains(url, "host=") || strings.Contains(url, "dbname=")
}

// check refuses a --store value that is neither empty nor PostgreSQL.
func (f storeFlags) check() error {
	if *f.url != "" && !isPostgres(*f.url) {
		return fmt.Errorf("%w: --store %q is not a PostgreSQL URL (postgres://USER@HOST/DB); leave it empty for the bbolt file in --data-dir", errUsage, *f.url)
	}
	return nil
}

// postgres reports whether the store is PostgreSQL.
func (f storeFlags) postgres() bool { return *f.url != "" }

// openPostgres opens the PostgreSQL store, bounded in time.
func openPostgres(url string) (*postgres.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return postgres.Open(ctx, url)
}

// withPostgresAdmin runs fn with an in-process Admin on the database:
// every node shares it, so what fn changes reaches every node (through
// the change log) and no node's socket is needed.
func withPostgresAdmin(url string, fn func(ctx context.Context, a server.Admin) error) error {
	st, err := openPostgres(url)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := server.New(server.Config{Store: st, Logf: func(string, ...any) {}})
	if err != nil {
		return err
	}
	return fn(context.Background(), server.LocalAdmin(svc))
}

// withStoreAdmin is withAdmin for either store.
func withStoreAdmin(f storeFlags, fn func(ctx context.Context, a server.Admin) error) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.postgres() {
		return withPostgresAdmin(*f.url, fn)
	}
	return withAdmin(*f.dir, fn)
}

func init() {
	register(&command{name: "migrate", summary: "apply the PostgreSQL store's schema migrations (--store URL)", run: runMigrate})
}

func runMigrate(env *cmdEnv, args []string) error {
	fs := newFlags(env, "migrate")
	f := storeFlag(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	if !f.postgres() {
		return fmt.Errorf("%w: migrate needs --store postgres://... (or $%s); the bbolt store needs no migration", errUsage, storeEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	applied, err := postgres.Migrate(ctx, *f.url)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(env.stdout, "the schema is up to date (version %d)\n", postgres.SchemaVersion())
	} else {
		fmt.Fprintf(env.stdout, "applied migration(s) %v; the schema is at version %d\n", applied, postgres.SchemaVersion())
	}
	st, err := openPostgres(*f.url)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(env.stdout, "store epoch %s\n", st.Epoch())
	return nil
}

// errNoStore is a bbolt data directory without a store.
func errNoStore(dir string) error {
	return fmt.Errorf("no kmcr-server store in %s: run \"kmcr-server init --data-dir %s\" first", dir, dir)
}

// openServeStore opens the store serve runs on.
func openServeStore(f storeFlags) (store.Store, error) {
	if f.postgres() {
		return openPostgres(*f.url)
	}
	if !store.Exists(*f.dir) {
		return nil, errNoStore(*f.dir)
	}
	st, err := store.OpenBolt(*f.dir, time.Second)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("another kmcr-server is already serving %s", *f.dir)
	}
	return st, err
}

func init() {
	register(&command{name: "store", summary: "store copy --from DIR --to URL: move a bbolt store into PostgreSQL, keeping its epoch and change sequence", run: runStore})
}

func runStore(env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "copy" {
		return fmt.Errorf("%w: kmcr-server store copy --from DIR --to postgres://URL", errUsage)
	}
	fs := newFlags(env, "store copy")
	from := fs.String("from", "", "the bbolt data directory to copy (no server may be serving it)")
	to := fs.String("to", "", "the PostgreSQL URL of a new, empty database")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	if _, err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *from == "" || !isPostgres(*to) {
		return fmt.Errorf("%w: kmcr-server store copy --from DIR --to postgres://URL", errUsage)
	}
	if !store.Exists(*from) {
		return errNoStore(*from)
	}
	src, err := store.OpenBolt(*from, 500*time.Millisecond)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("a kmcr-server is serving %s: stop it first, so nothing changes during the copy", *from)
	}
	if err != nil {
		return err
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
	defer cancel()
	rep, err := postgres.Import(ctx, *to, src.Export)
	if err != nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(env.stdout, "copied %s into PostgreSQL: epoch %s, changes up to %d, alerts up to %d\n", *from, rep.Epoch, rep.LastSeq, rep.LastAlert)
	tables := make([]string, 0, len(rep.Rows))
	for t := range rep.Rows {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Fprintf(env.stdout, "  %-16s %d\n", t, rep.Rows[t])
	}
	fmt.Fprintf(env.stdout, "serve it with: kmcr-server serve --data-dir %s --store URL (clients carry on from their cursors)\n", *from)
	return nil
}
