package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kmcr/core"
	"kmcr/internal/pgtest"
	"kmcr/server/pki"
	"kmcr/sync/protocol"
)

// procCluster is the central record as it is deployed: kmcr-server serve
// processes (the real binary) on one PostgreSQL database, sharing one
// data directory's certificate and token key file, made and loaded with
// the real commands against the database.
type procCluster struct {
	*serverData
	url   string // the database: what --store and KMCR_STORE name
	nodes []*serverProc
	logs  *logSink
}

// newProcCluster migrates a new database with "kmcr-server init --store",
// imports patients demo patients with "import --store" and starts nodes
// serve processes on it.
func newProcCluster(t *testing.T, nodes, patients int, seed uint64) *procCluster {
	t.Helper()
	root := t.TempDir()
	c := &procCluster{serverData: &serverData{t: t, dir: filepath.Join(root, "server"), seed: seed}, url: pgtest.NewDB(t, ""), logs: newLogSink(t)}
	out := mustRun(t, serverBin, runOpts{}, "init", "--data-dir", c.dir, "--store", c.url)
	if !strings.Contains(out.stdout, "CA certificate: ") {
		t.Fatalf("init did not name its CA file:\n%s", out)
	}
	c.ca = filepath.Join(c.dir, pki.CAFile)
	if patients > 0 {
		c.seedDir = filepath.Join(root, "seed")
		mustRun(t, serverBin, runOpts{}, "seed", "--patients", fmt.Sprint(patients), "--seed", fmt.Sprint(seed), "--out", c.seedDir)
		mustRun(t, serverBin, runOpts{}, "import", "--data-dir", c.dir, "--store", c.url, c.seedDir)
		c.nhs = seededNHS(seed, patients)
	}
	for range nodes {
		c.nodes = append(c.nodes, c.serve("127.0.0.1:0", "--store", c.url))
	}
	return c
}

// command runs an admin command against the database (KMCR_STORE: no
// node is asked).
func (c *procCluster) command(o runOpts, args ...string) result {
	c.t.Helper()
	o.env = append(o.env, "KMCR_STORE="+c.url)
	r := run(c.t, serverBin, o, append(args, "--data-dir", c.dir)...)
	if r.code != 0 {
		c.t.Fatalf("want success:\n%s", r)
	}
	return r
}

// addUser adds a user (password "password-" + name) with a caseload.
func (c *procCluster) addUser(name, role string, caseload ...string) {
	c.t.Helper()
	c.command(runOpts{stdin: userPassword(name) + "\n"}, "user", "add", "--name", name, "--role", role, "--password-stdin")
	if len(caseload) > 0 {
		c.command(runOpts{}, append([]string{"caseload", "add", "--user", name, "--nhs"}, caseload...)...)
	}
}

// kill ends a node with SIGKILL: no drain, no close frames; its sockets
// are closed by the kernel.
func (p *serverProc) kill() {
	t := p.d.t
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the node on %s did not die within 30 s of SIGKILL", p.addr)
	}
}

// enrolAt enrols a profile in-process against every address in servers,
// reporting the first sync's progress; ctx bounds the enrolment.
func enrolAt(ctx context.Context, t *testing.T, p *profile, servers []string, ca, user string, logf func(string, ...any), progress func(core.SyncState)) (*core.Core, error) {
	t.Helper()
	c := openCore(t, p, coreOpts{}, logf)
	err := c.Enrol(ctx, core.EnrolRequest{Servers: servers, CAFile: ca, User: user, Password: userPassword(user),
		Passphrase: []byte(p.pass), DeviceSecretFile: p.secret, Host: "e2e-host"}, progress)
	return c, err
}

// firstSyncWatch follows one client's first sync across a node's death:
// the client is held (its sync goroutine blocks in the callback) once it
// has applied hold documents, so the node dies while it is mid-sync; it
// records the progress last seen before the failure and where the sync
// resumed after it.
type firstSyncWatch struct {
	hold    int
	reached chan struct{} // closed when the client is held
	release chan struct{} // closed by the test after the kill

	mu           sync.Mutex
	held         bool
	failed       bool // a non-syncing state after the release
	lastBefore   int  // Done last reported before the failure
	resumedAt    int  // Done first reported after it (-1 until then)
	resumedTotal int
}

func newFirstSyncWatch(hold int, release chan struct{}) *firstSyncWatch {
	return &firstSyncWatch{hold: hold, reached: make(chan struct{}), release: release, resumedAt: -1}
}

func (w *firstSyncWatch) see(kind core.SyncKind, done, total int) {
	w.mu.Lock()
	switch {
	case kind == core.SyncSyncing && !w.held && done >= w.hold && done < total:
		w.held, w.lastBefore = true, done
		w.mu.Unlock()
		close(w.reached)
		<-w.release
		return
	case !w.held:
	case kind == core.SyncSyncing && !w.failed:
		w.lastBefore = done
	case kind == core.SyncSyncing && w.resumedAt < 0 && done > 0:
		// (A syncing state before the welcome's counts says nothing of
		// where the sync resumed.)
		w.resumedAt, w.resumedTotal = done, total
	case kind != core.SyncSyncing && kind != core.SyncUpToDate:
		w.failed = true
	}
	w.mu.Unlock()
}

func (w *firstSyncWatch) progress(s core.SyncState) { w.see(s.Kind, s.Done, s.Total) }
func (w *firstSyncWatch) status(s core.Status)      { w.see(s.State, s.Done, s.Total) }

// check asserts the sync failed over and resumed where it stopped.
func (w *firstSyncWatch) check(t *testing.T, who string, caseload int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !w.failed:
		t.Fatalf("%s: never saw the node fail", who)
	case w.resumedAt < 0:
		// Node B may send the rest before any progress is reported
		// (the client then goes straight to up to date); the cursor
		// carried over is asserted by syncclient's
		// TestClient_Serve_MovesToNextServer.
		t.Logf("%s: %d of %d applied at node A when it was killed; node B sent the rest without a progress report", who, w.lastBefore, caseload)
		return
	case w.resumedAt < w.lastBefore || w.resumedTotal != 0 && w.resumedTotal != caseload:
		t.Fatalf("%s: %d of %d applied before node A died; the sync at node B resumed at %d of %d (want the same place, not a restart)",
			who, w.lastBefore, caseload, w.resumedAt, w.resumedTotal)
	}
	t.Logf("%s: %d of %d applied at node A when it was killed; node B resumed at %d", who, w.lastBefore, caseload, w.resumedAt)
}

// TestCluster_NodeKilledMidFirstSync: two kmcr-server processes on one
// PostgreSQL store; three clients enrolled against both addresses start
// their first syncs at node A, which is killed with SIGKILL while every
// one of them is part-way through (each is held at a point of its sync
// until the kill). Two are in enrolment's first sync (SyncOnce), the
// third in the background sync (ServeSync) resuming a first sync an
// earlier run left part-done. Each finishes at node B with the same
// credentials, resuming from its cursor rather than from zero, with its
// cache exactly its caseload; a change made afterwards reaches them
// through B; each device's audit chain verifies.
func TestCluster_NodeKilledMidFirstSync(t *testing.T) {
	const patients, caseloadN = 2400, 1200
	c := newProcCluster(t, 2, patients, 71)
	a, b := c.nodes[0], c.nodes[1]
	servers := []string{a.url(), b.url()}
	caseloads := [][]string{c.nhs[:caseloadN], c.nhs[600 : 600+caseloadN], c.nhs[patients-caseloadN:]}
	for i, cl := range caseloads {
		c.addUser(fmt.Sprintf("user%d", i), "paramedic", cl...)
	}
	release := make(chan struct{})
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseAll)

	// The third client: enrolment's first sync stopped part-way (the
	// context ends), so background sync resumes the first sync.
	p3 := newProfile(t)
	ctx3, stop3 := context.WithCancel(context.Background())
	c3, err := enrolAt(ctx3, t, p3, servers, c.ca, "user2", c.logs.prefixed("user2: "), func(s core.SyncState) {
		if s.Kind == core.SyncSyncing && s.Done >= 100 {
			stop3()
		}
	})
	stop3()
	if !errors.Is(err, core.ErrFirstSync) || c3.Status().CachedPatients == 0 || c3.Status().CachedPatients >= caseloadN {
		t.Fatalf("the third client's first enrolment run: %v with %d cached; want a first sync stopped part-way", err, c3.Status().CachedPatients)
	}
	w3 := newFirstSyncWatch(c3.Status().CachedPatients+300, release)
	unwatch := c3.Watch(w3.status)
	defer unwatch()
	serveSync(t, c3)

	type enrolled struct {
		core *core.Core
		err  error
	}
	watches := []*firstSyncWatch{newFirstSyncWatch(300, release), newFirstSyncWatch(500, release)}
	results := make([]chan enrolled, 2)
	for i := range 2 {
		results[i] = make(chan enrolled, 1)
		p := newProfile(t)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cc, err := enrolAt(ctx, t, p, servers, c.ca, fmt.Sprintf("user%d", i), c.logs.prefixed(fmt.Sprintf("user%d: ", i)), watches[i].progress)
			results[i] <- enrolled{cc, err}
		}()
	}
	all := append(slices.Clone(watches), w3)
	for i, w := range all {
		select {
		case <-w.reached:
		case <-time.After(2 * time.Minute):
			releaseAll() // before the cleanups, which wait for the held clients
			t.Fatalf("client %d never got part-way through its first sync at node A", i)
		}
	}
	a.kill()
	killed := time.Now()
	releaseAll()

	cores := make([]*core.Core, 3)
	for i := range 2 {
		r := <-results[i]
		if r.err != nil {
			t.Fatalf("client %d: enrolment across node A's death: %v", i, r.err)
		}
		cores[i] = r.core
	}
	cores[2] = c3
	waitState(t, c3, 2*time.Minute, "the background sync finishing at node B", func(st core.Status) bool {
		return upToDate(st) && st.CachedPatients == caseloadN
	})
	t.Logf("every client finished at node B within %v of node A's SIGKILL", time.Since(killed).Round(time.Millisecond))
	for i, cc := range cores {
		all[i].check(t, fmt.Sprintf("client %d", i), caseloadN)
		st := cc.Status()
		if st.Server != b.url() || !slices.Equal(st.Servers, servers) {
			t.Fatalf("client %d: server %q of %q; want node B %q", i, st.Server, st.Servers, b.url())
		}
		checkConsistent(t, cc, caseloads[i], sample(caseloads[i], 3))
	}

	// Node B carries on live: a change through the database reaches the
	// client syncing in the background.
	c.command(runOpts{}, "caseload", "remove", "--user", "user2", "--nhs", caseloads[2][0])
	waitState(t, c3, time.Minute, "a change after the failover", func(st core.Status) bool {
		return upToDate(st) && st.CachedPatients == caseloadN-1
	})
	checkConsistent(t, c3, caseloads[2][1:], nil)
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := cores[i].SyncOnce(ctx, nil); err != nil {
			t.Fatalf("client %d: a sync after the failover: %v", i, err)
		}
		cancel()
	}
	c.command(runOpts{}, "audit", "verify")
}

// TestCluster_TokenFromOneNodeHonouredByAnother: node A logs a device in;
// node B accepts A's access token for a sync session and exchanges A's
// refresh credential; A accepts the access token B issued, and a full
// sync at B with it delivers the caseload. The credential family is one
// across nodes: the access token B's refresh superseded is refused at B,
// and after the exchanged credential is replayed at A, B refuses the
// family's access token and refresh credential.
func TestCluster_TokenFromOneNodeHonouredByAnother(t *testing.T) {
	c := newProcCluster(t, 2, 30, 72)
	c.addUser("para", "paramedic", c.nhs[:20]...)
	atA, atB := newAttacker(t, c.nodes[0], "127.0.0.1"), newAttacker(t, c.nodes[1], "127.0.0.1")
	dev := newDevice()
	fromA := atA.mustLogin("para", dev)

	s, status := atB.dial(fromA.AccessToken)
	if status != 0 {
		t.Fatalf("node B refused node A's access token: HTTP %d", status)
	}
	s.welcomed(t)
	s.conn.Close(protocol.CloseNormal, "done")

	ans := atB.refresh(dev, fromA.RefreshToken)
	if ans.tok == nil {
		t.Fatalf("node B refused node A's refresh credential: %d %s %s", ans.status, ans.code, ans.msg)
	}
	fromB := ans.tok
	s, status = atA.dial(fromB.AccessToken)
	if status != 0 {
		t.Fatalf("node A refused node B's access token: HTTP %d", status)
	}
	s.welcomed(t)
	s.conn.Close(protocol.CloseNormal, "done")

	if got := fullSync(t, atB, fromB.AccessToken); !slices.Equal(got, sortedCopy(c.nhs[:20])) {
		t.Fatalf("a full sync at node B with node B's token delivered %d patients; want the caseload of 20", len(got))
	}
	// A's access token was superseded by B's answer, at every node.
	if old, status := atB.dial(fromA.AccessToken); status == 0 {
		if code, _ := old.ended(t, 10*time.Second); code != protocol.CloseUnauthorized {
			t.Fatalf("the superseded access token at node B: close %d; want %d", code, protocol.CloseUnauthorized)
		}
	} else if status != http.StatusUnauthorized {
		t.Fatalf("the superseded access token at node B: HTTP %d", status)
	}
	// A's exchanged credential replayed at A ends the family at every
	// node: B refuses its access token and its refresh credential. (A
	// session already open at B is not closed until its token expires:
	// ending sessions is each node's own, see docs/protocol.md.)
	if got := atA.refresh(dev, fromA.RefreshToken); got.tok != nil || got.status != http.StatusUnauthorized {
		t.Fatalf("the replay at node A was answered: %d %s", got.status, got.code)
	}
	if s, status := atB.dial(fromB.AccessToken); status == 0 {
		if code, _ := s.ended(t, 10*time.Second); code != protocol.CloseUnauthorized {
			t.Fatalf("node B after the family ended at node A: close %d; want %d", code, protocol.CloseUnauthorized)
		}
	} else if status != http.StatusUnauthorized {
		t.Fatalf("node B after the family ended at node A: HTTP %d", status)
	}
	if got := atB.refresh(dev, fromB.RefreshToken); got.tok != nil || got.status != http.StatusUnauthorized {
		t.Fatalf("node B exchanged a credential of the family ended at node A: %d %s", got.status, got.code)
	}
}

// fullSync runs a first sync by hand with token and returns the NHS
// numbers delivered, sorted.
func fullSync(t *testing.T, a *attacker, token string) []string {
	t.Helper()
	s, status := a.dial(token)
	if status != 0 {
		t.Fatalf("sync refused: HTTP %d", status)
	}
	defer s.conn.Close(protocol.CloseNormal, "done")
	var got []string
	deadline := time.After(time.Minute)
	for {
		select {
		case m := <-s.msgs:
			switch v := m.(type) {
			case *protocol.Batch:
				for _, u := range v.Upserts {
					got = append(got, u.NHS)
				}
			case *protocol.UpToDate:
				slices.Sort(got)
				return got
			}
		case err := <-s.err:
			t.Fatalf("the sync ended before it was up to date: %v", err)
		case <-deadline:
			t.Fatal("not up to date within a minute")
		}
	}
}

// TestCluster_StatusListsServers: "kmcr enrol" with --server twice keeps
// both addresses; "kmcr status --json" lists them as servers, with node A
// as the server in use. Node A is killed: "kmcr sync --once" succeeds
// through node B, and status then names B.
func TestCluster_StatusListsServers(t *testing.T) {
	c := newProcCluster(t, 2, 20, 73)
	c.addUser("para", "paramedic", c.nhs[:10]...)
	a, b := c.nodes[0], c.nodes[1]
	p := newProfile(t)
	args := []string{"enrol", "--server", a.url(), "--server", b.url(), "--ca", c.ca, "--user", "para", "--password-stdin", "--device-secret-file", p.secret}
	if r := p.kmcr(runOpts{stdin: userPassword("para") + "\n"}, args...); r.code != 0 {
		t.Fatalf("enrol:\n%s", r)
	}
	type servers struct {
		Server  string   `json:"server"`
		Servers []string `json:"servers"`
		Cached  int      `json:"cached_patients"`
	}
	status := func() servers {
		t.Helper()
		r := p.mustKmcr("status", "--json")
		var st servers
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, r)
		}
		return st
	}
	if st := status(); st.Server != a.url() || !slices.Equal(st.Servers, []string{a.url(), b.url()}) || st.Cached != 10 {
		t.Fatalf("after enrolment: %+v; want server %s of [%s %s] and 10 cached", st, a.url(), a.url(), b.url())
	}
	a.kill()
	r := p.mustKmcr("sync", "--once")
	if !strings.Contains(r.stdout, "up to date") {
		t.Fatalf("sync --once with node A dead:\n%s", r)
	}
	if st := status(); st.Server != b.url() || !slices.Equal(st.Servers, []string{a.url(), b.url()}) {
		t.Fatalf("after a sync through node B: %+v", st)
	}
	if r := p.mustKmcr("status"); !strings.Contains(r.stdout, "Servers:         "+a.url()+", "+b.url()) {
		t.Fatalf("status does not list the servers:\n%s", r)
	}

	// A profile enrolled against one address, as before: servers holds it.
	p1 := newProfile(t)
	p1.enrol(b.url(), c.ca, "para")
	r = p1.mustKmcr("status", "--json")
	var st servers
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Server != b.url() || !slices.Equal(st.Servers, []string{b.url()}) {
		t.Fatalf("one address: %+v %v", st, err)
	}
}
