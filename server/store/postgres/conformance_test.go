package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"kmcr/internal/pgtest"
	"kmcr/server/store"
	"kmcr/server/store/postgres"
	"kmcr/server/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// template is the name of the migrated template database.
const template = "kmcr_migrated"

// newDB returns the URL of a new database with the schema applied.
func newDB(t testing.TB) string {
	t.Helper()
	srv := pgtest.Shared(t)
	if err := srv.Template(template, func(url string) error {
		_, err := postgres.Migrate(context.Background(), url)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return pgtest.NewDB(t, template)
}

func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPostgres_Conformance runs the store conformance suite on PostgreSQL,
// one new database per case.
func TestPostgres_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, storetest.Reopen) {
		url := newDB(t)
		return open(t, url), func(t *testing.T) store.Store { return open(t, url) }
	})
}
