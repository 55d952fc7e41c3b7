package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"kmcr/cache"
	"kmcr/core"
	"kmcr/demo"
	"kmcr/internal/memsecrets"
	"kmcr/internal/pgtest"
	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store/postgres"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

func init() {
	register(&suite{
		name:    "cluster",
		summary: "kmcr-server nodes on PostgreSQL: first sync against a bbolt-backed node, live change latency across nodes (p50, p99), 200 clients over 2 nodes",
		run:     runCluster,
	})
}

// clusterSizes are the cluster suite's sizes.
type clusterSizes struct {
	patients  int // imported into each store; the first sync's size
	repeats   int // first syncs of each backend, alternating
	caseload  int // the live client's caseload
	changes   int // live changes timed
	clients   int // clients spread over the two nodes
	perClient int // their caseloads
}

func clusterSizesFor(quick bool) clusterSizes {
	if quick {
		return clusterSizes{patients: 2_000, repeats: 1, caseload: 100, changes: 10, clients: 20, perClient: 50}
	}
	return clusterSizes{patients: 10_000, repeats: 3, caseload: 300, changes: 100, clients: 200, perClient: 300}
}

// The requirements.
const (
	clusterSyncRatioBudget = 1.3                    // PostgreSQL first sync against bbolt's
	clusterLiveP99Budget   = 100 * time.Millisecond // cross-node live change
)

// pgNode is one kmcr-server node in this process on the cluster's
// database: its own store (pool and listener), TLS listener and Service.
type pgNode struct {
	st    *postgres.Store
	svc   *server.Service
	admin server.Admin
	url   string
	stop  context.CancelFunc
	done  chan error
}

// pgCluster is a throwaway PostgreSQL with nodes on one database, sharing
// the certificate and the token key file as real nodes do.
type pgCluster struct {
	pg     *pgtest.Server
	url    string
	dir    string
	caFile string
	nodes  []*pgNode
	log    *syncLog
}

func startCluster(root string, nodes, patients int, password server.PasswordParams) (c *pgCluster, imp time.Duration, err error) {
	pgbin, err := pgtest.FindBin()
	if err != nil {
		return nil, 0, err
	}
	c = &pgCluster{dir: filepath.Join(root, "cluster"), log: &syncLog{}}
	if c.pg, err = pgtest.Start(pgbin); err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			_ = c.close()
		}
	}()
	if err = c.pg.Exec("postgres", "CREATE DATABASE bench_cluster"); err != nil {
		return c, 0, err
	}
	c.url = c.pg.URL("bench_cluster")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err = postgres.Migrate(ctx, c.url); err != nil {
		return c, 0, err
	}
	if err = os.MkdirAll(c.dir, 0o700); err != nil {
		return c, 0, err
	}
	if c.caFile, err = pki.Init(c.dir, []string{"127.0.0.1"}, time.Now()); err != nil {
		return c, 0, err
	}
	cert, err := pki.LoadServer(c.dir)
	if err != nil {
		return c, 0, err
	}
	q := server.DefaultAuditQuota
	q.EventsPerMinute, q.EventBurst = 1_000_000, 1_000_000
	q.BytesPerMinute, q.ByteBurst = 1<<30, 1<<30
	for i := range nodes {
		n := &pgNode{done: make(chan error, 1)}
		if n.st, err = postgres.Open(ctx, c.url); err != nil {
			return c, 0, err
		}
		keys, err := server.OpenTokenKeys(filepath.Join(c.dir, server.TokenKeysFile), time.Now(), c.log.logf)
		if err != nil {
			n.st.Close()
			return c, 0, err
		}
		prefix := fmt.Sprintf("node %c: ", 'A'+i)
		logf := func(f string, a ...any) { c.log.logf(prefix+f, a...) }
		if n.svc, err = server.New(server.Config{Store: n.st, TokenKeys: keys, Logf: logf, AuditQuota: q, Password: password}); err != nil {
			n.st.Close()
			return c, 0, err
		}
		n.admin = server.LocalAdmin(n.svc)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			n.st.Close()
			return c, 0, err
		}
		n.url = "wss://" + ln.Addr().String()
		sctx, stop := context.WithCancel(context.Background())
		n.stop = stop
		go func() { n.done <- n.svc.Serve(sctx, ln, pki.ServerTLS(cert)) }()
		c.nodes = append(c.nodes, n)
	}
	seed := filepath.Join(root, "cluster-seed")
	if _, err = demo.Write(seed, demo.Options{Patients: patients, Seed: benchSeed}); err != nil {
		return c, 0, err
	}
	defer os.RemoveAll(seed)
	imp, err = timed(func() error {
		rep, err := c.nodes[0].svc.Import([]string{seed}, nil)
		if err == nil && rep.PatientsStored != patients {
			err = fmt.Errorf("import stored %d patients, want %d", rep.PatientsStored, patients)
		}
		return err
	})
	return c, imp, err
}

func (c *pgCluster) close() error {
	var errs []error
	for _, n := range c.nodes {
		n.stop()
		errs = append(errs, <-n.done, n.st.Close())
	}
	if c.pg != nil {
		errs = append(errs, c.pg.Stop(), os.RemoveAll(c.pg.Dir))
	}
	return errors.Join(errs...)
}

// addUser adds a paramedic whose caseload is the demo patients from..to-1
// (wrapping at patients).
func (c *pgCluster) addUser(name string, from, n, patients int) error {
	a := c.nodes[0].admin
	if err := a.UserAdd(context.Background(), server.UserAddArgs{Name: name, Role: "paramedic", Password: benchUserPassword(name)}); err != nil {
		return err
	}
	nhs := make([]string, n)
	for i := range nhs {
		nhs[i] = demo.NHSNumber(benchSeed, (from+i)%patients).Digits()
	}
	res, err := a.CaseloadAdd(context.Background(), server.NHSListArgs{User: name, NHS: nhs})
	if err == nil && len(res.Refused) > 0 {
		err = fmt.Errorf("caseload refused %d numbers: %s", len(res.Refused), res.Refused[0])
	}
	return err
}

func runCluster(w io.Writer, opt options) (err error) {
	sz := clusterSizesFor(opt.quick)
	root := filepath.Join(opt.dir, "cluster")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	printMachine(w)
	setup := time.Now()
	// The bbolt-backed node: the sync suite's server.
	bolt, _, boltImp, err := startServer(filepath.Join(root, "bolt"), sz.patients)
	if err != nil {
		return err
	}
	defer bolt.finish(&err)
	c, pgImp, err := startCluster(root, 2, sz.patients, server.DefaultPasswordParams)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			if l := c.log.String(); l != "" {
				fmt.Fprintf(os.Stderr, "cluster log:\n%s\n", l)
			}
		}
	}()
	fmt.Fprintf(w, "stores: %s demo patients (seed %d) imported into bbolt in %s and into PostgreSQL (a throwaway server, fsync off) through node A in %s\n",
		count(sz.patients), benchSeed, dur(boltImp), dur(pgImp))
	fmt.Fprintf(w, "nodes: in-process Services, TLS on loopback, production timeouts; two on the PostgreSQL database, one on the bbolt file\n")

	t := newTable(w)
	if err := clusterFirstSync(w, t, bolt, c, root, sz); err != nil {
		return fmt.Errorf("first sync: %w", err)
	}
	if err := clusterLive(w, t, c, root, sz); err != nil {
		return fmt.Errorf("live changes: %w", err)
	}
	if err := clusterMany(w, t, c, root, sz); err != nil {
		return fmt.Errorf("%d clients: %w", sz.clients, err)
	}
	fmt.Fprintf(w, "setup and measurement took %s\n\n", dur(time.Since(setup)))
	t.flush()
	fmt.Fprintln(w, `
First sync: the real client core enrolling a new device (default Argon2id)
in a subprocess of its own, timed from its first "connecting" state to the
end of SyncOnce, against node A (PostgreSQL) and the bbolt node in turn.
Live change: from the start of svc.Import of one new Flag on node A to the
notification, in a client core connected to node B, of the applied batch
that holds it (confirmed by opening the patient): node B learns of it
through LISTEN/NOTIFY. Many clients: client cores in this process (a cheap
cache KDF: Argon2id is each laptop's own cost) enrolling at once, half on
each node, production Argon2id logins on the nodes; the total is from the
first enrolment's start to the last first sync's end.`)
	return nil
}

// clusterFirstSync times first syncs of every patient from node A
// (PostgreSQL) and from the bbolt node, alternating.
func clusterFirstSync(w io.Writer, t *table, bolt *benchServer, c *pgCluster, root string, sz clusterSizes) error {
	user := "first-sync"
	if err := bolt.addUser(user, sz.patients); err != nil {
		return err
	}
	if err := c.addUser(user, 0, sz.patients, sz.patients); err != nil {
		return err
	}
	// Bring both stores into memory before the first timed run.
	if _, _, err := bolt.caseloadDocs(sz.patients); err != nil {
		return err
	}
	var pgRuns, boltRuns []childResult
	for r := range sz.repeats {
		runPG := func() error {
			res, err := runClientChild(childEnrol, childArgs{server: c.nodes[0].url, ca: c.caFile, user: user, dir: filepath.Join(root, fmt.Sprintf("pg-client-%d", r)), expect: sz.patients}, benchUserPassword(user))
			pgRuns = append(pgRuns, res)
			return err
		}
		runBolt := func() error {
			res, err := runClientChild(childEnrol, childArgs{server: bolt.url, ca: bolt.caFile, user: user, dir: filepath.Join(root, fmt.Sprintf("bolt-client-%d", r)), expect: sz.patients}, benchUserPassword(user))
			boltRuns = append(boltRuns, res)
			return err
		}
		first, second := runPG, runBolt
		if r%2 == 1 {
			first, second = runBolt, runPG
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
	}
	p, b := medianResult(pgRuns), medianResult(boltRuns)
	label := fmt.Sprintf("first sync of %s from a PostgreSQL node", count(sz.patients))
	if sz.repeats > 1 {
		label += fmt.Sprintf(", median of %d", sz.repeats)
	}
	res := verdict(float64(p.Sync) <= clusterSyncRatioBudget*float64(b.Sync))
	if sz.patients != clusterSizesFor(false).patients {
		res = "-"
	}
	t.row(label, dur(p.Sync), "bbolt node: "+dur(b.Sync), durRatio(p.Sync, b.Sync), fmt.Sprintf("<= %sx", sig3(clusterSyncRatioBudget)), res)
	t.row("  summaries/s", rate(float64(sz.patients), p.Sync), rate(float64(sz.patients), b.Sync), ratio(b.Sync.Seconds(), p.Sync.Seconds()), "-", "-")
	var all []string
	for i := range pgRuns {
		all = append(all, dur(pgRuns[i].Sync)+" / "+dur(boltRuns[i].Sync))
	}
	fmt.Fprintf(w, "first syncs of %s (PostgreSQL / bbolt): %v\n", count(sz.patients), all)
	return nil
}

// clusterLive connects a client core to node B and times changes imported
// through node A until each is in the client's cache.
func clusterLive(w io.Writer, t *table, c *pgCluster, root string, sz clusterSizes) error {
	const user = "live"
	if err := c.addUser(user, 0, sz.caseload, sz.patients); err != nil {
		return err
	}
	kc, err := core.Open(core.Config{DataDir: filepath.Join(root, "live-client"), Secrets: memsecrets.New()})
	if err != nil {
		return err
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err = kc.Enrol(ctx, core.EnrolRequest{Server: c.nodes[1].url, CAFile: c.caFile, User: user, Password: benchUserPassword(user),
		Passphrase: []byte(benchPassphrase), Host: "bench-live"}, nil)
	if err != nil {
		return fmt.Errorf("enrolling the live client on node B: %w", err)
	}
	notes := make(chan time.Time, 256)
	stopWatch := kc.Watch(func(core.Status) {
		select {
		case notes <- time.Now():
		default:
		}
	})
	defer stopWatch()
	syncCtx, stopSync := context.WithCancel(context.Background())
	synced := make(chan error, 1)
	go func() { synced <- kc.ServeSync(syncCtx) }()
	defer func() { stopSync(); <-synced }()
	for deadline := time.Now().Add(time.Minute); kc.Status().State != core.SyncUpToDate; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("live client not up to date after a minute: %s", kc.Status().Connection)
		}
	}
	var lat, imp samples
	for j := range sz.changes {
		i := (j*7919 + 13) % sz.caseload
		nhs := demo.NHSNumber(benchSeed, i)
		text := fmt.Sprintf("kmcr-bench cluster change %d", j)
		file, err := writeChange(filepath.Join(root, fmt.Sprintf("cluster-change-%d", j)), 1_000_000+j, demo.PatientID(benchSeed, i), text)
		if err != nil {
			return err
		}
		// Let the previous change's audit upload finish, then forget
		// every notification so far.
		time.Sleep(200 * time.Millisecond)
		for len(notes) > 0 {
			<-notes
		}
		t0 := time.Now()
		rep, err := c.nodes[0].svc.Import([]string{file}, nil)
		if err != nil {
			return err
		}
		imp = append(imp, time.Since(t0))
		if rep.Changed != 1 {
			return fmt.Errorf("live change %d: import changed %d patients, want 1", j, rep.Changed)
		}
		arrived, err := awaitChange(kc, notes, nhs, text)
		if err != nil {
			return fmt.Errorf("live change %d: %w", j, err)
		}
		lat = append(lat, arrived.Sub(t0))
	}
	fmt.Fprintf(w, "live changes: %d, each one new Flag imported through node A for a patient of a client core connected to node B (%s patients)\n", len(lat), count(sz.caseload))
	t.row(fmt.Sprintf("live change across nodes (import on A to the cache of B's client), p50 of %d", len(lat)), dur(lat.p50()), "-", "-", "-", "-")
	t.row("  p99", dur(lat.p99()), "-", "-", "< "+dur(clusterLiveP99Budget), verdict(lat.p99() < clusterLiveP99Budget))
	t.row("  slowest", dur(lat.pct(1)), "-", "-", "-", "-")
	t.row("  of which svc.Import of the change on node A, p50", dur(imp.p50()), "-", "-", "-", "-")
	return nil
}

// clusterMany enrols clients at once, half on each node, each with a
// caseload of its own, and reports the total time and the errors.
func clusterMany(w io.Writer, t *table, c *pgCluster, root string, sz clusterSizes) error {
	for i := range sz.clients {
		if err := c.addUser(fmt.Sprintf("many-%03d", i), i*(sz.patients/sz.clients), sz.perClient, sz.patients); err != nil {
			return err
		}
	}
	type outcome struct {
		sync time.Duration
		err  error
	}
	out := make([]outcome, sz.clients)
	cheap := cache.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	var retries atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for i := range sz.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("many-%03d", i)
			for try := 0; ; try++ {
				var throttled bool
				out[i].sync, throttled, out[i].err = clusterClient(c.nodes[i%2].url, c.caFile, name, filepath.Join(root, "many", fmt.Sprintf("%s-%d", name, try)), sz.perClient, cheap)
				if !throttled || try == 20 {
					return
				}
				// The node is busy checking other logins and says when to
				// come back, as a client would.
				retries.Add(1)
				time.Sleep(time.Second + time.Duration(rand.IntN(500))*time.Millisecond)
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	var syncs samples
	var errs []error
	for _, o := range out {
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		syncs = append(syncs, o.sync)
	}
	docs := sz.clients * sz.perClient
	fmt.Fprintf(w, "%d clients, %d on each node, first sync of %s patients each (%s documents in all): %d errors\n", sz.clients, sz.clients/2, count(sz.perClient), count(docs), len(errs))
	for i, e := range errs {
		if i == 5 {
			fmt.Fprintf(w, "  ... and %d more\n", len(errs)-5)
			break
		}
		fmt.Fprintf(w, "  error: %v\n", e)
	}
	t.row(fmt.Sprintf("%d clients over 2 nodes, first sync of %s each: total", sz.clients, count(sz.perClient)), dur(total), "-", "-", "no errors", verdict(len(errs) == 0))
	t.row("  errors", fmt.Sprint(len(errs)), "-", "-", "-", "-")
	t.row("  logins told to come back (the node busy checking other logins), retried", fmt.Sprint(retries.Load()), "-", "-", "-", "-")
	t.row("  summaries/s over all clients", rate(float64(docs), total), "-", "-", "-", "-")
	t.row("  one client's first sync, p50", dur(syncs.p50()), "-", "-", "-", "-")
	t.row("  one client's first sync, p99", dur(syncs.p99()), "-", "-", "-", "-")
	return nil
}

// clusterClient enrols one client core (login, cache creation, first sync)
// and reports its first sync's time, or whether the node refused the
// login as busy (throttled), or the error.
func clusterClient(url, ca, name, dir string, want int, kdf cache.KDFParams) (time.Duration, bool, error) {
	kc, err := core.Open(core.Config{DataDir: dir, Secrets: memsecrets.New(), KDF: kdf})
	if err != nil {
		return 0, false, err
	}
	defer kc.Close()
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var syncStart time.Time
	err = kc.Enrol(ctx, core.EnrolRequest{Server: url, CAFile: ca, User: name, Password: benchUserPassword(name),
		Passphrase: []byte(benchPassphrase), Host: "bench-many"}, func(core.SyncState) {
		if syncStart.IsZero() {
			syncStart = time.Now()
		}
	})
	var ae *syncclient.APIError
	if errors.As(err, &ae) && ae.Code == protocol.ErrCodeThrottled {
		return 0, true, err
	}
	if err != nil {
		return 0, false, err
	}
	took := time.Since(syncStart)
	if n := kc.Status().CachedPatients; n != want {
		return took, false, fmt.Errorf("%s holds %d patients after its first sync, want %d", name, n, want)
	}
	return took, false, nil
}
