package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"kmcr/internal/pgtest"
	"kmcr/server"
)

// TestCluster_StandbyPromotedAfterPrimaryKilled: two nodes reach the
// database through a multi-host connection string (the primary, then a
// synchronous hot standby made with pg_basebackup -R) with
// target_session_attrs=read-write. While 16 clients view patients (audit
// uploads) and caseloads change through both nodes, the primary is
// killed (SIGKILL to the postmaster and its backends) and the standby
// promoted. The nodes reach the new primary (their pools hold no
// connection to the dead one), clients are told the central record is
// unavailable and resume, and nothing that was acknowledged is missing:
// every caseload change an admin call returned from, every audit event a
// client was acknowledged (it deleted them from its queue, so a lost one
// would be a gap in its chain), and every change a client synced (its
// cursor): afterwards every cache matches the server and every view is
// stored exactly once.
func TestCluster_StandbyPromotedAfterPrimaryKilled(t *testing.T) {
	const users, perUser, caseloadN, pool = 8, 2, 10, 80
	primary := pgtest.Own(t)
	standby := primary.Standby(t)
	url := primary.MultiHostURL(primary.NewDB(t, ""), standby)
	c := newClusterAt(t, url, 2, pool, 71)
	rng := rand.New(rand.NewPCG(71, 71))
	caseloads := map[string][]string{}
	var clients []*faultClient
	for u := range users {
		name := fmt.Sprintf("user%02d", u)
		var cl []string
		for _, i := range rng.Perm(len(c.nhs))[:caseloadN] {
			cl = append(cl, c.nhs[i])
		}
		caseloads[name] = cl
		c.addUser(name, "paramedic", cl...)
		for range perUser {
			clients = append(clients, &faultClient{user: name})
		}
	}
	enrolFaultClients(t, c, clients)
	var mu sync.Mutex
	killed := false
	watchFaultClients(t, clients, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return killed
	})
	views := &viewLog{t: t, n: map[string]int{}}
	for _, fc := range clients {
		waitState(t, fc.core, time.Minute, "the live sync of "+fc.user, upToDate)
		views.view(fc, caseloads[fc.user], 2)
	}

	// Caseload changes go on through both nodes throughout: the ones an
	// admin call returned from are acknowledged and must survive.
	acked := map[string][]string{}
	failed := 0
	changing, stopChanging := context.WithCancel(context.Background())
	changed := make(chan struct{})
	go func() {
		defer close(changed)
		next := map[string]int{}
		for i := 0; changing.Err() == nil; i++ {
			u := i % users
			name := fmt.Sprintf("user%02d", u)
			in := map[string]bool{}
			for _, n := range caseloads[name] {
				in[n] = true
			}
			for _, n := range acked[name] {
				in[n] = true
			}
			for ; next[name] < len(c.nhs) && in[c.nhs[next[name]]]; next[name]++ {
			}
			if next[name] >= len(c.nhs) {
				continue
			}
			n := c.nhs[next[name]]
			next[name]++
			_, err := c.nodes[i%2].local.CaseloadAdd(context.Background(), server.NHSListArgs{User: name, NHS: []string{n}})
			mu.Lock()
			if err == nil {
				acked[name] = append(acked[name], n)
			} else {
				failed++
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	stopViewing := views.keepViewing(clients, caseloads)
	time.Sleep(500 * time.Millisecond) // changes and uploads under way

	mu.Lock()
	killed = true
	mu.Unlock()
	start := time.Now()
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	// The nodes see no primary until the standby is promoted.
	time.Sleep(300 * time.Millisecond)
	if err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	promoted := time.Since(start)
	mu.Lock()
	killed = false
	mu.Unlock()
	// Both nodes write to the new primary.
	for i, n := range c.nodes {
		eventually(t, 30*time.Second, fmt.Sprintf("node %d writing to the new primary", i), func() error {
			_, err := n.st.Secret("failover-check")
			return err
		})
	}
	reached := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	stopChanging()
	<-changed
	stopViewing()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("primary killed; standby promoted after %v; both nodes writing to it after %v", promoted.Round(time.Millisecond), reached.Round(time.Millisecond))
	checkTold(t, clients, reached)

	// No pooled connection is to the dead primary.
	for i, n := range c.nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conns := n.st.Pool().AcquireAllIdle(ctx)
		for _, pc := range conns {
			_, port, _ := net.SplitHostPort(pc.Conn().PgConn().Conn().RemoteAddr().String())
			if port != strconv.Itoa(standby.Port) {
				t.Errorf("node %d holds a pooled connection to port %s, not the new primary's %d", i, port, standby.Port)
			}
			pc.Release()
		}
		cancel()
		t.Logf("node %d: %d idle pooled connections, all to the new primary", i, len(conns))
	}

	// Every acknowledged change is there; the server's caseloads are what
	// the clients must hold (an unacknowledged change may or may not have
	// committed).
	total := 0
	for name, ns := range acked {
		total += len(ns)
		for _, n := range ns {
			ok, err := c.nodes[0].st.InCaseload(name, n)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Errorf("an acknowledged caseload change is missing after the failover: %s, %s", name, n)
			}
		}
	}
	t.Logf("%d caseload changes acknowledged during the failover, %d refused while no primary answered", total, failed)
	for name := range caseloads {
		var held []string
		for _, n := range c.nhs {
			ok, err := c.nodes[0].st.InCaseload(name, n)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				held = append(held, n)
			}
		}
		caseloads[name] = held
	}
	changeAndConverge(t, c, clients, caseloads)
	checkAuditOnce(t, c, len(clients), views.n)
}
