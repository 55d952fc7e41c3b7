package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kmcr/core"
	"kmcr/internal/pgtest"
	"kmcr/server"
)

// dbFault is one way of taking the cluster's database away while clients
// on two nodes sync and upload audit events.
type dbFault struct {
	users, perUser int // clients: users × devices each, spread over the nodes
	caseload       int // patients per user (from a pool of 4×caseload)
	// fault takes the database away and brings it back. It calls outage
	// as the database goes down (views go on from the caches throughout)
	// and returns once the database is back; told counts the clients
	// told so far that the central record is unavailable.
	fault func(t *testing.T, srv *pgtest.Server, outage func(), told func() int)
}

// unavailableText is what a client's status says while the central record
// cannot be reached: the reason the server gives with close code 4011 (or
// its 503), passed on by the sync client.
const unavailableText = "central record unavailable"

// faultClient is one light client of a fault test: the client core (no
// window) on a profile of its own, and what its status said.
type faultClient struct {
	user string
	core *core.Core

	mu          sync.Mutex
	unavailable int    // statuses that said the central record is unavailable
	said        string // the first of them
	misnamed    string // one that called it the client's protocol error
	claimed     bool   // up to date with nothing pending while the database was down
}

// runDatabaseFault is the database fault test: every client's cache is
// its caseload afterwards, a change made after the fault reaches every
// client (so both nodes listen again), and every view made before, during
// and after the fault is stored exactly once, in intact chains, with no
// audit alert.
func runDatabaseFault(t *testing.T, o dbFault) {
	const viewsEach = 2
	srv := pgtest.Own(t)
	c := newClusterOn(t, srv, 2, 4*o.caseload, 61)
	rng := rand.New(rand.NewPCG(61, 61))
	caseloads := map[string][]string{}
	var clients []*faultClient
	for u := range o.users {
		name := fmt.Sprintf("user%02d", u)
		var cl []string
		for _, i := range rng.Perm(len(c.nhs))[:o.caseload] {
			cl = append(cl, c.nhs[i])
		}
		caseloads[name] = cl
		c.addUser(name, "paramedic", cl...)
		for range o.perUser {
			clients = append(clients, &faultClient{user: name})
		}
	}
	enrolFaultClients(t, c, clients)
	var down sync.Mutex // held by the test while the database is down
	dbDown := false
	watchFaultClients(t, clients, func() bool {
		down.Lock()
		defer down.Unlock()
		return dbDown
	})

	views := &viewLog{t: t, n: map[string]int{}}
	for _, fc := range clients {
		waitState(t, fc.core, time.Minute, "the live sync of "+fc.user, upToDate)
		views.view(fc, caseloads[fc.user], viewsEach)
	}

	// Views go on from the caches throughout the fault, one client after
	// another, so uploads reach the nodes while the database goes away
	// and comes back.
	stopViewing := views.keepViewing(clients, caseloads)
	faultStart := time.Now()
	o.fault(t, srv, func() {
		down.Lock()
		dbDown = true
		down.Unlock()
	}, func() int { return countTold(clients) })
	down.Lock()
	dbDown = false
	down.Unlock()
	faultTook := time.Since(faultStart)
	// Let the views run on a little after the database is back, while
	// the nodes and clients reconnect.
	time.Sleep(500 * time.Millisecond)
	stopViewing()
	if t.Failed() {
		t.FailNow()
	}

	checkTold(t, clients, faultTook)

	changeAndConverge(t, c, clients, caseloads)
	checkAuditOnce(t, c, len(clients), views.n)
}

// enrolFaultClients enrols (login and first sync) every client at once,
// alternating nodes.
func enrolFaultClients(t *testing.T, c *cluster, clients []*faultClient) {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	for i, fc := range clients {
		node := c.nodes[i%len(c.nodes)]
		p := newProfile(t)
		fc.core = openCore(t, p, coreOpts{timeouts: shortTimeouts}, c.logs.prefixed(fc.user+": "))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err := fc.core.Enrol(ctx, core.EnrolRequest{Server: node.url(), CAFile: c.ca, User: fc.user, Password: userPassword(fc.user),
				Passphrase: []byte(p.pass), DeviceSecretFile: p.secret, Host: "e2e-host"}, nil)
			switch {
			case errors.Is(err, core.ErrFirstSync):
				// Enrolled; many first syncs at once on two cores can
				// outlast the short heartbeat. The live sync resumes it.
				t.Logf("%s: %v", fc.user, err)
			case err != nil:
				t.Errorf("enrolling a device of %s: %v", fc.user, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d clients enrolled on %d nodes in %v", len(clients), len(c.nodes), time.Since(start).Round(time.Millisecond))
}

// watchFaultClients records what each client's status says, and starts
// its live sync. isDown says whether the database is away now.
func watchFaultClients(t *testing.T, clients []*faultClient, isDown func() bool) {
	t.Helper()
	for _, fc := range clients {
		stop := fc.core.Watch(func(st core.Status) {
			saysUnavailable := strings.Contains(st.Connection+" "+st.Error, unavailableText)
			down := isDown()
			fc.mu.Lock()
			if saysUnavailable {
				if fc.unavailable == 0 {
					fc.said = st.Connection
				}
				fc.unavailable++
				if strings.Contains(st.Connection, "protocol error") {
					fc.misnamed = st.Connection
				}
			}
			if down && upToDate(st) && st.PendingAuditEvents == 0 && !saysUnavailable {
				fc.claimed = true
			}
			fc.mu.Unlock()
		})
		t.Cleanup(stop)
		serveSync(t, fc.core)
	}
}

// countTold counts the clients told the central record is unavailable.
func countTold(clients []*faultClient) int {
	n := 0
	for _, fc := range clients {
		fc.mu.Lock()
		if fc.unavailable > 0 {
			n++
		}
		fc.mu.Unlock()
	}
	return n
}

// checkTold fails unless some client was told the central record is
// unavailable, and fails for any told it as the client's protocol error.
func checkTold(t *testing.T, clients []*faultClient, away time.Duration) {
	t.Helper()
	told, claimed, said := countTold(clients), 0, ""
	for _, fc := range clients {
		fc.mu.Lock()
		if said == "" {
			said = fc.said
		}
		if fc.misnamed != "" {
			t.Errorf("%s: the database's absence reported as the client's fault: %s", fc.user, fc.misnamed)
		}
		if fc.claimed {
			claimed++
		}
		fc.mu.Unlock()
	}
	t.Logf("the database was away for %v; %d of %d clients were told %q", away.Round(time.Millisecond), told, len(clients), unavailableText)
	if told == 0 {
		t.Errorf("no client was told %q while the database was away", unavailableText)
	} else {
		t.Logf("a client's status said: %s", said)
	}
	if claimed > 0 {
		t.Logf("%d clients were up to date with nothing pending during the outage (they had nothing to deliver)", claimed)
	}
}

// viewLog counts the views clients make, by patient.
type viewLog struct {
	t  *testing.T
	mu sync.Mutex
	n  map[string]int
}

// view opens n patients (at random) of caseload on fc, counting each.
func (v *viewLog) view(fc *faultClient, caseload []string, n int) {
	some := []string{caseload[rand.IntN(len(caseload))]}
	if n > 1 {
		some = sample(caseload, n)
	}
	for _, nhs := range some {
		if _, err := fc.core.OpenPatient(nhs, nil); err != nil {
			v.t.Errorf("%s opening %s: %v", fc.user, nhs, err)
			return
		}
		v.mu.Lock()
		v.n[nhs]++
		v.mu.Unlock()
	}
}

// keepViewing views one patient after another, round the clients, until
// the returned stop is called (it waits for the last view).
func (v *viewLog) keepViewing(clients []*faultClient, caseloads map[string][]string) (stop func()) {
	cl := make(map[string][]string, len(caseloads))
	for u, l := range caseloads {
		cl[u] = slices.Clone(l) // the test goes on changing its own
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			fc := clients[i%len(clients)]
			v.view(fc, cl[fc.user], 1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { cancel(); <-done }
}

// changeAndConverge adds one patient to every user's caseload, through
// each node in turn (retrying while the database comes back), and waits
// until every client, on either node, holds exactly its caseload with
// its audit queue delivered.
func changeAndConverge(t *testing.T, c *cluster, clients []*faultClient, caseloads map[string][]string) {
	t.Helper()
	users := slices.Sorted(maps.Keys(caseloads))
	for u, name := range users {
		in := map[string]bool{}
		for _, n := range caseloads[name] {
			in[n] = true
		}
		for _, n := range c.nhs {
			if !in[n] {
				eventually(t, 30*time.Second, "a caseload change after the fault", func() error {
					_, err := c.nodes[u%len(c.nodes)].local.CaseloadAdd(context.Background(), server.NHSListArgs{User: name, NHS: []string{n}})
					return err
				})
				caseloads[name] = append(caseloads[name], n)
				break
			}
		}
	}
	for _, fc := range clients {
		want := caseloads[fc.user]
		eventually(t, time.Minute, fc.user+" resuming after the fault", func() error {
			st := fc.core.Status()
			if d := diffSets(cachedSet(t, fc.core), sortedCopy(want)); d != "" || !upToDate(st) || st.PendingAuditEvents != 0 {
				return fmt.Errorf("connection %q, %d pending; cache %s", st.Connection, st.PendingAuditEvents, d)
			}
			return nil
		})
		checkConsistent(t, fc.core, want, nil)
	}
}

// checkAuditOnce checks the cluster's audit record: devices intact
// chains, every view in views stored exactly once, no audit alert.
func checkAuditOnce(t *testing.T, c *cluster, devices int, views map[string]int) {
	t.Helper()
	verify, err := c.nodes[1].local.AuditVerify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if verify.Broken || len(verify.Devices) != devices {
		t.Fatalf("audit verify: broken %v over %d devices, want %d: %+v", verify.Broken, len(verify.Devices), devices, verify.Devices)
	}
	total := 0
	for n, want := range views {
		total += want
		res, err := c.nodes[0].local.AccessLog(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, e := range res.Entries {
			if e.Event.Action == "view" {
				got++
			}
		}
		if got != want {
			t.Errorf("patient %s: %d view events stored, %d views made (lost or doubled)", n, got, want)
		}
	}
	t.Logf("%d views of %d patients, each stored once", total, len(views))
	as, err := c.nodes[0].local.Alerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if strings.HasPrefix(a.Kind, "audit") {
			t.Errorf("an audit alert after the fault: %+v", a)
		}
	}
}

// TestCluster_DatabaseRestartedUnderFiftyClients: pg_ctl restart -m fast
// while 50 clients (25 users with two devices, on two nodes) sync and
// upload audit events. The nodes reconnect (pool and listener), clients
// are told the central record is unavailable and then resume; every cache
// matches the server and no audit event is lost or stored twice.
func TestCluster_DatabaseRestartedUnderFiftyClients(t *testing.T) {
	runDatabaseFault(t, dbFault{users: 25, perUser: 2, caseload: 15,
		fault: func(t *testing.T, srv *pgtest.Server, outage func(), _ func() int) {
			outage()
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}})
}

// TestCluster_DatabaseRestartedWhileClientsSyncAndUpload: PostgreSQL is
// stopped (pg_ctl stop -m fast) and, once a client has been told the
// central record is unavailable, started again, under 12 clients on two
// nodes; afterwards every client's cache is its caseload, changes made
// after the restart arrive, and every view is stored exactly once with
// intact chains.
func TestCluster_DatabaseRestartedWhileClientsSyncAndUpload(t *testing.T) {
	runDatabaseFault(t, dbFault{users: 6, perUser: 2, caseload: 15,
		fault: func(t *testing.T, srv *pgtest.Server, outage func(), told func() int) {
			outage()
			if err := srv.PgCtl("stop", "-m", "fast"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "a client told the central record is unavailable", func() error {
				if told() == 0 {
					return fmt.Errorf("no client told yet")
				}
				return nil
			})
			if err := srv.StartAgain(); err != nil {
				t.Fatal(err)
			}
		}})
}
