package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/klauspost/compress/zstd"

	"kmcr/core"
	"kmcr/demo"
	"kmcr/internal/faultproxy"
	"kmcr/internal/memsecrets"
	"kmcr/internal/netlab"
	"kmcr/record"
	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

func init() {
	register(&suite{
		name:    "link",
		summary: "sync over impaired links (tbf + fault proxy): compression and deltas against the plain protocol in the same run",
		run:     runLink,
	})
}

// linkProfile is one link of issue 12.
type linkBenchProfile struct {
	name string
	rate int // bits per second each way
	im   faultproxy.Impairment
}

var linkBenchProfiles = []linkBenchProfile{
	{"1 Mbit/s, 200 ms, 2% loss", 1_000_000, faultproxy.Impairment{RTT: 200 * time.Millisecond, Jitter: 20 * time.Millisecond, LossRate: 0.02, Seed: 1}},
	{"256 kbit/s, 600 ms, 5% loss", 256_000, faultproxy.Impairment{RTT: 600 * time.Millisecond, Jitter: 60 * time.Millisecond, LossRate: 0.05, Seed: 2}},
	{"256 kbit/s, drops 5 s every 15 s", 256_000, faultproxy.Impairment{RTT: 200 * time.Millisecond, LossRate: 0.02,
		DropEvery: 15 * time.Second, DropFor: 5 * time.Second, DropFirst: 4 * time.Second, Seed: 3}},
}

const linkPatients = 300

func runLink(w io.Writer, opt options) (err error) {
	root := filepath.Join(opt.dir, "link")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	printMachine(w)
	kernel := netlab.Available()
	if kernel == nil {
		fmt.Fprintln(w, "rate: tbf on a veth pair into a network namespace (the server listens inside it); latency, jitter, loss stalls and drops: the fault proxy on 127.0.0.1")
	} else {
		fmt.Fprintf(w, "rate: the fault proxy in userspace (tbf not available: %v)\n", kernel)
	}
	fmt.Fprintf(w, "each row: a new device's first sync of %d demo patients (seed %d), then one new observation for one of them while it is connected;\n"+
		"  kmcr is this build (zstd.d1 and deltas), the baseline the same client offering only kmcr.sync.v1 without deltas, over the same link\n", linkPatients, benchSeed)
	fmt.Fprintf(w, "dispatch prefetch (each profile; the 3 s goal on the 1 Mbit/s one): a crew device with a caseload of %d, connected through the link; a dispatch system on a good link POSTs an incident\n"+
		"  at a home outside the caseload; until the device's cache opens the patient, then DELETE until the summaries are gone; baseline the plain-protocol client\n", dispatchCaseload)
	profiles := linkBenchProfiles
	if opt.quick {
		profiles = profiles[:1]
	}
	t := newTable(w)
	for i, lp := range profiles {
		if err := measureLink(t, filepath.Join(root, fmt.Sprint(i)), lp, kernel == nil); err != nil {
			t.flush()
			return fmt.Errorf("%s: %w", lp.name, err)
		}
	}
	if err := measureCodecCPU(t, root); err != nil {
		return err
	}
	t.flush()
	return nil
}

// linkRun is what one client measured.
type linkRun struct {
	sync        time.Duration
	syncBytes   int64
	attempts    int
	changeBytes int64
	change      time.Duration
}

func measureLink(t *table, dir string, lp linkBenchProfile, kernel bool) (err error) {
	var link *netlab.Link
	listen := func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
	im := lp.im
	if kernel {
		if link, err = netlab.New(lp.rate); err != nil {
			return err
		}
		defer link.Close()
		listen = func() (net.Listener, error) { return link.Listen(0) }
	} else {
		im.Rate = lp.rate
	}
	s, addr, err := startLinkServer(dir, linkPatients, listen)
	if err != nil {
		return err
	}
	defer s.finish(&err)
	var runs [2]linkRun
	for i, plain := range []bool{false, true} {
		user := fmt.Sprintf("para%d", i)
		if err := s.addUser(user, linkPatients); err != nil {
			return err
		}
		var proxy *faultproxy.Proxy
		if kernel {
			proxy, err = faultproxy.NewToNamespace(addr)
		} else {
			proxy, err = faultproxy.New(addr)
		}
		if err != nil {
			return err
		}
		proxy.Impair(im)
		runs[i], err = linkClient(s, proxy, filepath.Join(dir, user), user, plain, i)
		proxy.Close()
		if err != nil {
			return fmt.Errorf("%s client: %w", map[bool]string{false: "kmcr", true: "plain"}[plain], err)
		}
	}
	k, b := runs[0], runs[1]
	name := lp.name
	sync := "first sync " + fmt.Sprint(linkPatients) + ", time"
	req := ""
	if lp.rate == 1_000_000 && lp.im.DropEvery == 0 {
		req = "< 5 s"
	}
	res := ""
	if req != "" {
		res = verdict(k.sync < 5*time.Second)
	}
	if lp.im.DropEvery > 0 {
		sync += fmt.Sprintf(" (attempts %d / %d)", k.attempts, b.attempts)
	}
	t.row(name+": "+sync, dur(k.sync), dur(b.sync), durRatio(k.sync, b.sync), req, res)
	t.row(name+": first sync, bytes to the client", kib(k.syncBytes), kib(b.syncBytes), ratio(float64(k.syncBytes), float64(b.syncBytes)), "", "")
	t.row(name+": one-observation change, bytes", fmt.Sprint(k.changeBytes)+" B", fmt.Sprint(b.changeBytes)+" B",
		ratio(float64(k.changeBytes), float64(b.changeBytes)), "< 1 KB", verdict(k.changeBytes < 1024))
	t.row(name+": one-observation change, until readable", dur(k.change), dur(b.change), durRatio(k.change, b.change), "", "")
	return measureDispatch(t, s, addr, dir, lp, im, kernel)
}

// linkClient enrols a new device through proxy (its first sync), then
// keeps it connected while one observation is imported, and measures both.
func linkClient(s *benchServer, proxy *faultproxy.Proxy, dir, user string, plain bool, patient int) (linkRun, error) {
	var r linkRun
	kc, err := core.Open(core.Config{DataDir: dir, Secrets: memsecrets.New(), SyncTweak: func(c *syncclient.Config) {
		c.Plain = plain
		c.Backoff = syncclient.Backoff{Base: 200 * time.Millisecond, Cap: time.Second, StableAfter: 10 * time.Second}
	}})
	if err != nil {
		return r, err
	}
	defer kc.Close()
	var start, end time.Time
	progress := func(st core.SyncState) {
		switch {
		case st.Kind == core.SyncConnecting && start.IsZero():
			start = time.Now()
		case st.Kind == core.SyncConnecting:
			r.attempts++
		case st.Kind == core.SyncUpToDate && end.IsZero():
			end = time.Now()
		}
	}
	r.attempts = 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err = kc.Enrol(ctx, core.EnrolRequest{Server: "wss://" + proxy.Addr(), CAFile: s.caFile, User: user, Password: benchUserPassword(user),
		Passphrase: []byte(benchPassphrase), Host: "bench-host"}, progress)
	// Resume until done; the link may be down for a while (bounded by ctx).
	for err != nil && kc.Enrolled() && ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		err = kc.SyncOnce(ctx, progress)
	}
	if err != nil {
		return r, err
	}
	r.sync = end.Sub(start)
	r.syncBytes, _ = proxy.Bytes()
	if n := kc.Status().CachedPatients; n != linkPatients {
		return r, fmt.Errorf("cached %d of %d", n, linkPatients)
	}
	// The change, with the device connected and up to date.
	proxy.Impair(faultproxy.Impairment{RTT: 200 * time.Millisecond}) // no drops while measuring one change
	syncCtx, stopSync := context.WithCancel(ctx)
	synced := make(chan error, 1)
	go func() { synced <- kc.ServeSync(syncCtx) }()
	defer func() { stopSync(); <-synced }()
	if err := waitUpToDate(kc, time.Minute); err != nil {
		return r, err
	}
	time.Sleep(time.Second)
	before, _ := proxy.Bytes()
	value := 150 + patient
	changed := time.Now()
	if err := importObservation(s, patient, value); err != nil {
		return r, err
	}
	nhs := demo.NHSNumber(benchSeed, patient)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if hasReading(kc, nhs, value) {
			break
		}
		if time.Now().After(deadline) {
			return r, errors.New("the new observation did not arrive within a minute")
		}
	}
	r.change = time.Since(changed)
	time.Sleep(500 * time.Millisecond) // the up_to_date that follows
	after, _ := proxy.Bytes()
	r.changeBytes = after - before
	return r, nil
}

func waitUpToDate(kc *core.Core, within time.Duration) error {
	for deadline := time.Now().Add(within); kc.Status().State != core.SyncUpToDate; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("not up to date after %v: %s", within, kc.Status().Connection)
		}
	}
	return nil
}

// hasReading reports whether the cached summary of nhs shows a heart rate
// of value. Opening it writes an audit event, as a clinician's view would.
func hasReading(kc *core.Core, nhs record.NHSNumber, value int) bool {
	v, err := kc.OpenPatient(nhs.Digits(), nil)
	if err != nil {
		return false
	}
	for _, o := range v.Summary.Observations.Items {
		if o.Quantity != nil && o.Quantity.Value == float64(value) {
			return true
		}
	}
	return false
}

// importObservation imports one new heart-rate reading for demo patient i.
func importObservation(s *benchServer, i, value int) error {
	line := fmt.Sprintf(`{"resourceType":"Observation","id":"obs-bench-%d-%d","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/%s"},"effectiveDateTime":"%s","valueQuantity":{"value":%d,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}`,
		i, value, demo.PatientID(benchSeed, i), time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), value)
	dir, err := os.MkdirTemp(s.dir, "change")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "Observation.bench.ndjson"), []byte(line+"\n"), 0o600); err != nil {
		return err
	}
	rep, err := s.svc.Import([]string{dir}, nil)
	if err == nil && rep.Changed != 1 {
		err = fmt.Errorf("import changed %d documents", rep.Changed)
	}
	return err
}

// startLinkServer is startServer with the listener chosen (inside a
// namespace for tbf) and the address it listens on.
func startLinkServer(dir string, patients int, listen func() (net.Listener, error)) (*benchServer, string, error) {
	s := &benchServer{dir: filepath.Join(dir, "server"), log: &syncLog{}, done: make(chan error, 1)}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, "", err
	}
	seed := filepath.Join(dir, "seed")
	if _, err := demo.Write(seed, demo.Options{Patients: patients, Seed: benchSeed}); err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(seed)
	var err error
	if s.st, err = store.OpenBolt(s.dir, time.Second); err != nil {
		return nil, "", err
	}
	fail := func(err error) (*benchServer, string, error) { s.st.Close(); return nil, "", err }
	if s.caFile, err = pki.Init(s.dir, []string{"127.0.0.1"}, time.Now()); err != nil {
		return fail(err)
	}
	if s.cert, err = pki.LoadServer(s.dir); err != nil {
		return fail(err)
	}
	if s.svc, err = server.New(server.Config{Store: s.st, Logf: s.log.logf}); err != nil {
		return fail(err)
	}
	s.admin = server.LocalAdmin(s.svc)
	if _, err := s.svc.Import([]string{seed}, nil); err != nil {
		return fail(err)
	}
	ln, err := listen()
	if err != nil {
		return fail(err)
	}
	s.url = "wss://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.done <- s.svc.Serve(ctx, ln, pki.ServerTLS(s.cert)) }()
	return s, ln.Addr().String(), nil
}

// measureCodecCPU measures the client's cost of decompression per MB of
// summaries, and the compression ratio, on the same documents a first
// sync carries, in batches of about 1 MiB.
func measureCodecCPU(t *table, root string) error {
	docs := newDocMaker(linkPatients)
	var frames [][]byte
	var cur []byte
	raw := 0
	for i := 0; i < linkPatients; i++ {
		pd, err := docs.make(i)
		if err != nil {
			return err
		}
		cur = append(cur, pd.doc...)
		raw += len(pd.doc)
		if len(cur) >= 1<<20 || i == linkPatients-1 {
			frames = append(frames, cur)
			cur = nil
		}
	}
	dict := protocol.Dictionary(1)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDict(dict), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		return err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDicts(dict), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer dec.Close()
	var wire [][]byte
	packed := 0
	for _, f := range frames {
		c := enc.EncodeAll(f, nil)
		wire = append(wire, c)
		packed += len(c)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const rounds = 20
	copyStart := time.Now()
	for range rounds {
		for _, f := range frames {
			_ = append([]byte(nil), f...)
		}
	}
	copyTime := time.Since(copyStart)
	start := time.Now()
	for range rounds {
		for _, c := range wire {
			if _, err := dec.DecodeAll(c, nil); err != nil {
				return err
			}
		}
	}
	d := time.Since(start)
	mb := float64(raw*rounds) / 1e6
	perMB := time.Duration(float64(d) / mb)
	t.row("compression ratio on the first sync's summaries (zstd.d1, ~1 MiB batches)", ratio(float64(raw), float64(packed))+" smaller", "", "", "", "")
	t.row("client CPU to decompress, per MB of summaries", dur(perMB), dur(time.Duration(float64(copyTime)/mb))+" (copy)", durRatio(perMB, time.Duration(float64(copyTime)/mb)), "", "")
	_ = root
	return nil
}
