package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// StandbyName is the application_name a standby made by Standby connects
// with, and the name the primary's synchronous_standby_names waits for.
const StandbyName = "kmcr_standby"

// Standby makes a hot standby of s for a failover test: pg_basebackup -R
// (which writes primary_conninfo and standby.signal) into a folder of its
// own, started on a free loopback port of its own, streaming from s. s
// then replicates synchronously (synchronous_standby_names naming the
// standby, synchronous_commit = on): a commit s acknowledges has reached
// the standby's disk. The standby is stopped and removed when t ends.
//
// The standby's own configuration names no synchronous standby, so once
// promoted it commits alone.
func (s *Server) Standby(t testing.TB) *Server {
	t.Helper()
	sb, err := s.standby()
	if sb != nil {
		t.Cleanup(func() {
			if err := sb.Stop(); err != nil {
				t.Logf("pgtest: standby: %v", err)
			}
			_ = os.RemoveAll(sb.Dir)
		})
	}
	if err != nil {
		t.Fatal("pgtest: standby:", err)
	}
	return sb
}

func (s *Server) standby() (*Server, error) {
	sb := &Server{Bin: s.Bin, Password: s.Password, uid: s.uid, gid: s.gid, templates: map[string]error{}}
	dir, err := os.MkdirTemp("", "kmcr-pgtest-standby-")
	if err != nil {
		return nil, err
	}
	sb.Dir = dir
	if err := sb.chown(dir); err != nil {
		return sb, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return sb, err
	}
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=%s application_name=%s", s.Port, Superuser, StandbyName)
	cmd := sb.command(filepath.Join(s.Bin, "pg_basebackup"), "-D", sb.DataDir(), "-d", conninfo, "-R", "-X", "stream", "-c", "fast", "--no-sync")
	cmd.Env = append(cmd.Env, "PGPASSWORD="+s.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return sb, fmt.Errorf("pg_basebackup: %v\n%s", err, out)
	}
	// pg_basebackup -R keeps the password it connected with in
	// primary_conninfo only when the server asked for one; name it
	// explicitly so the standby can reconnect after its first session.
	auto := filepath.Join(sb.DataDir(), "postgresql.auto.conf")
	f, err := os.OpenFile(auto, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return sb, err
	}
	_, err = fmt.Fprintf(f, "primary_conninfo = '%s password=%s'\nhot_standby = on\n", conninfo, s.Password)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return sb, err
	}
	if _, err := os.Stat(filepath.Join(sb.DataDir(), "standby.signal")); err != nil {
		return sb, fmt.Errorf("pg_basebackup -R wrote no standby.signal: %w", err)
	}
	_ = os.Remove(filepath.Join(sb.DataDir(), "postmaster.pid")) // none is copied, but be sure
	for range 5 {
		if sb.Port, err = freePort(); err != nil {
			return sb, err
		}
		if err = sb.run(); err == nil {
			break
		} else if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "in use") {
			return sb, err
		}
	}
	if err != nil {
		return sb, err
	}
	// Synchronous from here on: the primary waits for the standby's flush
	// before it acknowledges a commit.
	for _, q := range []string{
		"ALTER SYSTEM SET synchronous_standby_names = " + quote(StandbyName),
		"ALTER SYSTEM SET synchronous_commit = 'on'",
		"SELECT pg_reload_conf()",
	} {
		if err := s.Exec("postgres", q); err != nil {
			return sb, fmt.Errorf("%s: %w", q, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		state, err := s.replicationState()
		if err == nil && state == "sync" {
			return sb, nil
		}
		if time.Now().After(deadline) {
			return sb, fmt.Errorf("the standby is not a synchronous standby after 60 s (state %q, %v): %s", state, err, sb.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replicationState is the standby's sync_state as the primary sees it.
func (s *Server) replicationState() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	var state string
	err = c.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1", StandbyName).Scan(&state)
	return state, err
}

// Promote makes a standby the primary (pg_ctl promote, waiting until it
// accepts writes).
func (s *Server) Promote() error {
	if err := s.PgCtl("promote"); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var inRecovery bool
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			err = c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
			c.Close(ctx)
		}
		cancel()
		if err == nil && !inRecovery {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still in recovery 60 s after pg_ctl promote (%v): %s", err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends a server started by Start (or Standby) as a crash would: SIGKILL
// to the postmaster and every backend (its process group), no shutdown
// checkpoint, connections cut. It returns once the postmaster has exited.
func (s *Server) Kill() error {
	s.mu.Lock()
	proc, exited := s.proc, s.exited
	s.mu.Unlock()
	if proc == nil || proc.Process == nil {
		return errors.New("pgtest: Kill needs a server started by Start (not by pg_ctl)")
	}
	pid := proc.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing process group %d: %w", pid, err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("postmaster %d still running 30 s after SIGKILL", pid)
	}
	// The killed server cannot be stopped; Stop treats it as stopped.
	_ = os.Remove(filepath.Join(s.DataDir(), "postmaster.pid"))
	return nil
}

// MultiHostURL is url (one of s's, as NewDB returns) with other's host
// added after s's and target_session_attrs=read-write: libpq's (and pgx's)
// way to reach whichever of the two accepts writes.
func (s *Server) MultiHostURL(url string, other *Server) string {
	one := "127.0.0.1:" + strconv.Itoa(s.Port)
	url = strings.Replace(url, "@"+one+"/", "@"+one+",127.0.0.1:"+strconv.Itoa(other.Port)+"/", 1)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "target_session_attrs=read-write"
}

func quote(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }
