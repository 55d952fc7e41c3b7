package pgtest_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kmcr/internal/pgtest"
)

// TestStandby_SynchronousThenPromoted: a standby made by Standby is a
// synchronous one (the primary's pg_stat_replication says "sync"), holds
// every row the primary committed when the primary is killed, and once
// promoted accepts writes; a multi-host URL with
// target_session_attrs=read-write reaches the primary first and the
// promoted standby after the kill.
func TestStandby_SynchronousThenPromoted(t *testing.T) {
	primary := pgtest.Own(t)
	standby := primary.Standby(t)
	if got := query(t, primary.URL("postgres"), "SELECT sync_state FROM pg_stat_replication WHERE application_name = '"+pgtest.StandbyName+"'"); got != "sync" {
		t.Fatalf("the standby's state on the primary: %q, want sync", got)
	}
	if got := query(t, primary.URL("postgres"), "SHOW synchronous_commit"); got != "on" {
		t.Fatalf("synchronous_commit on the primary: %s", got)
	}
	if got := query(t, standby.URL("postgres"), "SELECT pg_is_in_recovery()::text"); got != "true" {
		t.Fatalf("the standby is not in recovery: %s", got)
	}
	url := primary.URL("postgres")
	multi := primary.MultiHostURL(url, standby)
	if got := query(t, multi, "SELECT inet_server_port()::text"); got != strconv.Itoa(primary.Port) {
		t.Fatalf("the multi-host URL reached port %s, want the primary's %d", got, primary.Port)
	}
	if err := primary.Exec("postgres", "CREATE TABLE acked (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := primary.Exec("postgres", "INSERT INTO acked VALUES ("+strconv.Itoa(i)+")"); err != nil {
			t.Fatal(err)
		}
	}
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if c, err := pgx.Connect(ctx, url); err == nil {
		c.Close(ctx)
		t.Fatal("the killed primary still accepts connections")
	}
	cancel()
	if err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	if got := query(t, standby.URL("postgres"), "SELECT count(*)::text FROM acked"); got != "100" {
		t.Fatalf("the promoted standby holds %s of 100 acknowledged rows", got)
	}
	if got := query(t, multi, "SELECT inet_server_port()::text"); got != strconv.Itoa(standby.Port) {
		t.Fatalf("after the failover the multi-host URL reached port %s, want the promoted standby's %d", got, standby.Port)
	}
	if err := standby.Exec("postgres", "INSERT INTO acked VALUES (100)"); err != nil {
		t.Fatalf("a write on the promoted standby (it must not wait for a standby of its own): %v", err)
	}
}
