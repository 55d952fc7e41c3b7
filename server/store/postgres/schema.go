package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// The schema's versioned migrations, applied by goose (`kmcr-server
// migrate`): goose keeps the applied versions in a table of its own
// (VersionTable), runs each file in a transaction, and holds an advisory
// lock while it migrates, so two nodes migrating at once apply each file
// once.
//
//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is goose's table of applied migrations.
const VersionTable = "kmcr_schema_version"

// Errors of a schema that does not match this program.
var (
	// ErrSchemaOld: the database lacks migrations this program needs.
	ErrSchemaOld = errors.New("the database schema is older than this kmcr-server")
	// ErrSchemaNew: the database has migrations this program does not know.
	ErrSchemaNew = errors.New("the database schema is newer than this kmcr-server")
)

// SchemaVersion is the newest migration this program knows.
func SchemaVersion() int64 {
	var newest int64
	files, _ := fs.Glob(migrations, "migrations/*.sql")
	for _, f := range files {
		n, err := strconv.ParseInt(strings.SplitN(path.Base(f), "_", 2)[0], 10, 64)
		if err == nil && n > newest {
			newest = n
		}
	}
	return newest
}

// Migrate applies every migration the database lacks and returns the
// versions it applied. It refuses a database whose schema is newer than
// this program's.
func Migrate(ctx context.Context, url string) ([]int64, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("the store URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if v, err := dbVersion(ctx, db); err != nil {
		return nil, err
	} else if v > SchemaVersion() {
		return nil, fmt.Errorf("%w (database at version %d, this program knows %d): run a newer kmcr-server", ErrSchemaNew, v, SchemaVersion())
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithTableName(VersionTable), goose.WithSessionLocker(locker))
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	var applied []int64
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	// The months ahead get their audit partitions now, so the first
	// uploads after a migration do not wait for DDL.
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return applied, err
	}
	defer pool.Close()
	now := time.Now().UTC()
	for i := range partitionsAhead {
		if err := ensurePartition(ctx, pool, monthStart(now).AddDate(0, i, 0)); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// dbVersion is the newest applied migration, 0 for a database goose never
// touched.
func dbVersion(ctx context.Context, db *sql.DB) (int64, error) {
	var reg sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT to_regclass($1)::text", VersionTable).Scan(&reg); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	if !reg.Valid {
		return 0, nil
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT max(version_id) FROM "+VersionTable+" WHERE is_applied").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	return v.Int64, nil
}

// checkSchema refuses a database whose schema is not the one this program
// knows, saying what to run.
func checkSchema(ctx context.Context, pool *pgxpool.Pool, url string) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	v, err := dbVersion(ctx, db)
	if err != nil {
		return err
	}
	want := SchemaVersion()
	switch {
	case v < want:
		return fmt.Errorf("%w (database at version %d, this program needs %d): run kmcr-server migrate --store %s", ErrSchemaOld, v, want, redact(url))
	case v > want:
		return fmt.Errorf("%w (database at version %d, this program knows %d): run a newer kmcr-server, or this one against another database", ErrSchemaNew, v, want)
	}
	return nil
}

// redact hides a password in a URL for messages.
func redact(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil || cfg.Password == "" {
		return url
	}
	return strings.Replace(url, ":"+cfg.Password+"@", ":xxxxx@", 1)
}

// partitionsAhead is how many months of audit partitions exist ahead
// (this month and the next two).
const partitionsAhead = 3

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// partitionName names the audit partition of the month starting at m.
func partitionName(m time.Time) string {
	return fmt.Sprintf("audit_event_%04d_%02d", m.Year(), int(m.Month()))
}

// ensurePartition makes the audit partition of month m if it is missing.
// Nodes creating partitions at once are serialised by an advisory lock.
func ensurePartition(ctx context.Context, pool *pgxpool.Pool, m time.Time) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return ensurePartitionTx(ctx, tx, m) })
}

// ensurePartitionTx is ensurePartition inside a transaction.
func ensurePartitionTx(ctx context.Context, tx pgx.Tx, m time.Time) error {
	m = monthStart(m)
	name := partitionName(m)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockPartitions); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	sql := fmt.Sprintf("CREATE TABLE %s PARTITION OF audit_event FOR VALUES FROM ('%s') TO ('%s')",
		pgx.Identifier{name}.Sanitize(), m.Format(time.RFC3339), m.AddDate(0, 1, 0).Format(time.RFC3339))
	_, err := tx.Exec(ctx, sql)
	return err
}
