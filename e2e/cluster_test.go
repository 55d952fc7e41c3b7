package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kmcr/demo"
	"kmcr/internal/pgtest"
	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store/postgres"
)

// cluster is a PostgreSQL store of its own with kmcr-server nodes on it,
// in process: each node a Service with its own postgres.Store (pool and
// listener), on a TLS listener of its own, sharing the certificate and
// the token key file as real nodes would.
type cluster struct {
	t     testing.TB
	url   string
	dir   string // the shared certificate and token key file
	ca    string
	nodes []*clusterNode
	nhs   []string
	seed  string
	logs  *logSink
}

// clusterNode is one node.
type clusterNode struct {
	st    *postgres.Store
	svc   *server.Service
	local server.Admin
	addr  string
	stop  func()
}

func (n *clusterNode) url() string { return "wss://" + n.addr }

// newCluster migrates a new database, starts nodes on it and imports
// patients demo patients through the first.
func newCluster(t testing.TB, nodes, patients int, seed uint64) *cluster {
	t.Helper()
	return newClusterOn(t, nil, nodes, patients, seed)
}

// newClusterOn is newCluster on a server of the test's own (pgtest.Own),
// or the package's when srv is nil.
func newClusterOn(t testing.TB, srv *pgtest.Server, nodes, patients int, seed uint64) *cluster {
	t.Helper()
	var url string
	if srv != nil {
		url = srv.NewDB(t, "")
	} else {
		url = pgtest.NewDB(t, "")
	}
	return newClusterAt(t, url, nodes, patients, seed)
}

// newClusterAt is newCluster on the (empty) database at url.
func newClusterAt(t testing.TB, url string, nodes, patients int, seed uint64) *cluster {
	t.Helper()
	c := &cluster{t: t, url: url, dir: filepath.Join(t.TempDir(), "server"), logs: newLogSink(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := postgres.Migrate(ctx, c.url); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var err error
	if c.ca, err = pki.Init(c.dir, []string{"127.0.0.1", "localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for range nodes {
		c.addNode()
	}
	if patients > 0 {
		c.seed = filepath.Join(t.TempDir(), "seed")
		if _, err := demo.Write(c.seed, demo.Options{Patients: patients, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.nodes[0].svc.Import([]string{c.seed}, nil); err != nil {
			t.Fatal(err)
		}
		c.nhs = seededNHS(seed, patients)
	}
	return c
}

// addNode starts one more node on the cluster's database.
func (c *cluster) addNode() *clusterNode {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	st, err := postgres.Open(ctx, c.url)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := server.OpenTokenKeys(filepath.Join(c.dir, server.TokenKeysFile), time.Now(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	i := len(c.nodes)
	svc, err := server.New(server.Config{Store: st, TokenKeys: keys, Timeouts: shortTimeouts, Password: fastPassword,
		Logf: c.logs.prefixed("node" + string(rune('A'+i)) + ": ")})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.LoadServer(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stopServe := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- svc.Serve(sctx, ln, pki.ServerTLS(cert)) }()
	n := &clusterNode{st: st, svc: svc, local: server.LocalAdmin(svc), addr: ln.Addr().String()}
	stopped := false
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		stopServe()
		select {
		case <-served:
		case <-time.After(30 * time.Second):
			t.Errorf("node %s did not stop within 30 s", n.addr)
		}
		st.Close()
	}
	t.Cleanup(n.stop)
	c.nodes = append(c.nodes, n)
	return n
}

// addUser adds a user with a caseload through node 0's admin.
func (c *cluster) addUser(name, role string, caseload ...string) {
	c.t.Helper()
	a := c.nodes[0].local
	if err := a.UserAdd(context.Background(), server.UserAddArgs{Name: name, Role: role, Password: userPassword(name)}); err != nil {
		c.t.Fatal(err)
	}
	if len(caseload) > 0 {
		if _, err := a.CaseloadAdd(context.Background(), server.NHSListArgs{User: name, NHS: caseload}); err != nil {
			c.t.Fatal(err)
		}
	}
}

// TestCluster_ChangeThroughOneNodeReachesAnother: a client enrolled on node
// B receives, live, a caseload change made through node A and one made by
// the admin command against the database (no node's socket), and a
// device revoked that way is wiped at its next sync through node B.
func TestCluster_ChangeThroughOneNodeReachesAnother(t *testing.T) {
	c := newCluster(t, 2, 30, 51)
	c.addUser("amy", "paramedic", c.nhs[:10]...)
	p := newProfile(t)
	core := enrolCore(t, p, c.nodes[1].url(), c.ca, "amy", coreOpts{}, c.logs.prefixed("client: "))
	serveSync(t, core)
	waitState(t, core, time.Minute, "the live sync on node B", upToDate)
	if d := diffSets(cachedSet(t, core), sortedCopy(c.nhs[:10])); d != "" {
		t.Fatalf("after the first sync the cache %s", d)
	}

	start := time.Now()
	if _, err := c.nodes[0].local.CaseloadAdd(context.Background(), server.NHSListArgs{User: "amy", NHS: c.nhs[10:12]}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "node A's caseload change in node B's client", func() error {
		if d := diffSets(cachedSet(t, core), sortedCopy(c.nhs[:12])); d != "" {
			return fmt.Errorf("cache %s", d)
		}
		return nil
	})
	t.Logf("a change through node A reached node B's client in %v", time.Since(start).Round(time.Millisecond))

	// The admin command works on the database itself: no node is asked.
	mustRun(t, serverBin, runOpts{}, "caseload", "remove", "--store", c.url, "--data-dir", t.TempDir(), "--user", "amy", "--nhs", c.nhs[0])
	want := sortedCopy(c.nhs[1:12])
	eventually(t, 30*time.Second, "the command's removal in node B's client", func() error {
		if d := diffSets(cachedSet(t, core), want); d != "" {
			return fmt.Errorf("cache %s", d)
		}
		return nil
	})
	checkConsistent(t, core, want, want[:2])

	devices, err := c.nodes[0].local.DeviceList(context.Background())
	if err != nil || len(devices) != 1 {
		t.Fatalf("devices: %v, %v", devices, err)
	}
	// A device revoked by the command is wiped at its next sync through
	// node B. (Background sync is stopped first: a wipe arriving during
	// ServeSync deadlocks the client core today, core.wipeLocal calling
	// StopSync from the sync goroutine itself.)
	core.StopSync()
	mustRun(t, serverBin, runOpts{}, "device", "revoke", "--store", c.url, "--data-dir", t.TempDir(), devices[0].ID)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = core.SyncOnce(ctx, nil)
	if st := core.Status(); st.WipeReason == "" {
		t.Fatalf("after the revocation a sync through node B gave %v and no wipe (status %+v)", err, st)
	}
}
