package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	bolt "go.etcd.io/bbolt"

	"kmcr/core"
	"kmcr/demo"
	"kmcr/internal/memsecrets"
	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// benchServer is a real kmcr-server Service in this process, serving TLS
// on a loopback port, with demo patients imported.
type benchServer struct {
	dir    string
	st     *store.Bolt
	svc    *server.Service
	admin  server.Admin
	cert   tls.Certificate
	caFile string
	url    string // wss://127.0.0.1:PORT
	stop   context.CancelFunc
	done   chan error
	log    *syncLog
}

// syncLog keeps the server's diagnostics for an error report instead of
// interleaving them with the tables.
type syncLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *syncLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 1000 {
		l.lines = append(l.lines, fmt.Sprintf(format, args...))
	}
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// benchUserPassword is every benchmark user's password.
func benchUserPassword(user string) string { return "password for " + user }

// startServer makes a store, a CA and a server certificate in dir,
// imports patients demo patients through the real importer and serves on
// 127.0.0.1. It reports how long generating and importing took.
func startServer(dir string, patients int) (s *benchServer, gen, imp time.Duration, err error) {
	s = &benchServer{dir: filepath.Join(dir, "server"), log: &syncLog{}, done: make(chan error, 1)}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, 0, 0, err
	}
	seed := filepath.Join(dir, "seed")
	gen, err = timed(func() error {
		_, err := demo.Write(seed, demo.Options{Patients: patients, Seed: benchSeed})
		return err
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("writing demo data: %w", err)
	}
	defer os.RemoveAll(seed)
	if s.st, err = store.OpenBolt(s.dir, time.Second); err != nil {
		return nil, 0, 0, err
	}
	if s.caFile, err = pki.Init(s.dir, []string{"127.0.0.1"}, time.Now()); err != nil {
		s.st.Close()
		return nil, 0, 0, err
	}
	if s.cert, err = pki.LoadServer(s.dir); err != nil {
		s.st.Close()
		return nil, 0, 0, err
	}
	// Production settings throughout: default timeouts and Argon2id
	// password hashes (paid at login, outside every timed interval). One
	// exception: the audit suite queues tens of thousands of events in a
	// minute, faster than any person could, so the per-device upload
	// quota (a defence, measured by its own tests) is lifted and the
	// pipeline itself is what is timed.
	q := server.DefaultAuditQuota
	q.EventsPerMinute, q.EventBurst = 1_000_000, 1_000_000
	q.BytesPerMinute, q.ByteBurst = 1<<30, 1<<30
	if s.svc, err = server.New(server.Config{Store: s.st, Logf: s.log.logf, AuditQuota: q}); err != nil {
		s.st.Close()
		return nil, 0, 0, err
	}
	s.admin = server.LocalAdmin(s.svc)
	imp, err = timed(func() error {
		rep, err := s.svc.Import([]string{seed}, nil)
		if err == nil && rep.PatientsStored != patients {
			err = fmt.Errorf("import stored %d patients, want %d (%d rejected)", rep.PatientsStored, patients, rep.RejectedTotal)
		}
		return err
	})
	if err != nil {
		s.st.Close()
		return nil, 0, 0, fmt.Errorf("importing: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.st.Close()
		return nil, 0, 0, err
	}
	s.url = "wss://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.done <- s.svc.Serve(ctx, ln, pki.ServerTLS(s.cert)) }()
	return s, gen, imp, nil
}

// finish closes the server at the end of a suite, keeping the suite's
// error (*err) or reporting the close's, and shows the server's log when
// the suite failed. Use it as: defer s.finish(&err).
func (s *benchServer) finish(err *error) {
	if cerr := s.close(); cerr != nil && *err == nil {
		*err = cerr
	}
	if *err != nil {
		if l := s.log.String(); l != "" {
			fmt.Fprintf(os.Stderr, "server log:\n%s\n", l)
		}
	}
}

func (s *benchServer) close() error {
	s.stop()
	err := <-s.done
	return errors.Join(err, s.st.Close())
}

// addUser adds a paramedic with the first n demo patients as caseload.
func (s *benchServer) addUser(name string, n int) error {
	if err := s.admin.UserAdd(context.Background(), server.UserAddArgs{Name: name, Role: "paramedic", Password: benchUserPassword(name)}); err != nil {
		return err
	}
	nhs := make([]string, n)
	for i := range nhs {
		nhs[i] = demo.NHSNumber(benchSeed, i).Digits()
	}
	res, err := s.admin.CaseloadAdd(context.Background(), server.NHSListArgs{User: name, NHS: nhs})
	if err != nil {
		return err
	}
	if len(res.Refused) > 0 {
		return fmt.Errorf("caseload refused %d numbers: %s", len(res.Refused), res.Refused[0])
	}
	return nil
}

// caseloadDocs returns the NHS numbers of the first n demo patients in
// the order the server sends them (NHS-number order) and the total size of
// the documents it holds for them: the bytes a first sync carries. Reading
// them also brings the server's file into the page cache, so neither side
// of a comparison pays for a cold disk.
func (s *benchServer) caseloadDocs(n int) ([]string, int64, error) {
	nhs := make([]string, n)
	for i := range nhs {
		nhs[i] = demo.NHSNumber(benchSeed, i).Digits()
	}
	slices.Sort(nhs)
	var total int64
	for _, x := range nhs {
		d, err := s.st.Doc(x, store.DocFull)
		if err != nil {
			return nil, 0, fmt.Errorf("document of %s: %w", x, err)
		}
		total += int64(len(d))
	}
	return nhs, total, nil
}

// The subprocesses this binary runs as: the measured client side of a
// first sync, alone in its process so that its peak RSS is its own.
const (
	childEnrol    = "__sync-client"
	childBaseline = "__sync-baseline"
)

func init() {
	if len(os.Args) > 1 && (os.Args[1] == childEnrol || os.Args[1] == childBaseline) {
		if err := runChild(os.Args[1], os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// childResult is what a client subprocess reports on its last stdout line.
type childResult struct {
	Enrol       time.Duration `json:"enrol"`         // login, cache creation and first sync
	Sync        time.Duration `json:"sync"`          // first sync: connect to up to date, audit flushed
	Patients    int           `json:"patients"`      // patients in the cache afterwards
	Bytes       int64         `json:"bytes"`         // document bytes stored (baseline)
	CacheBytes  int64         `json:"cache_bytes"`   // size of the cache files
	PeakRSSKiB  int64         `json:"peak_rss_kib"`  // VmHWM read by the process itself
	PeakAnonKiB int64         `json:"peak_anon_kib"` // largest RssAnon sampled: heap, stacks
	PeakFileKiB int64         `json:"peak_file_kib"` // largest RssFile sampled: mapped files (the cache's bbolt file)
	Batches     int           `json:"batches"`       // baseline: transactions
	ProgressMax int           `json:"progress_max"`  // largest Done reported
}

// childArgs are the flags a client subprocess takes. The password comes
// on standard input.
type childArgs struct {
	server, ca, user, dir string
	expect                int
}

func runChild(mode string, args []string) error {
	var a childArgs
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	fs.StringVar(&a.server, "server", "", "wss://HOST:PORT")
	fs.StringVar(&a.ca, "ca", "", "CA certificate file")
	fs.StringVar(&a.user, "user", "", "user name")
	fs.StringVar(&a.dir, "dir", "", "profile folder")
	fs.IntVar(&a.expect, "expect", 0, "patients the sync must bring")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pw, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the password: %w", err)
	}
	pw = strings.TrimRight(pw, "\n")
	var res childResult
	sampler := startRSSSampler()
	if mode == childEnrol {
		res, err = enrolChild(a, pw)
	} else {
		res, err = baselineChild(a, pw)
	}
	if err != nil {
		return err
	}
	res.PeakRSSKiB = selfStatus()["VmHWM"]
	res.PeakAnonKiB, res.PeakFileKiB = sampler()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// enrolChild enrols a new device with the real client core: login, an
// encrypted cache (default Argon2id), and the first sync into it.
func enrolChild(a childArgs, password string) (childResult, error) {
	var res childResult
	kc, err := core.Open(core.Config{DataDir: a.dir, Secrets: memsecrets.New()})
	if err != nil {
		return res, err
	}
	var syncStart time.Time
	progress := func(s core.SyncState) {
		if syncStart.IsZero() {
			syncStart = time.Now()
		}
		res.ProgressMax = max(res.ProgressMax, s.Done)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	err = kc.Enrol(ctx, core.EnrolRequest{
		Server: a.server, CAFile: a.ca, User: a.user, Password: password,
		Passphrase: []byte(benchPassphrase), Host: "bench-host",
	}, progress)
	end := time.Now()
	if err != nil {
		kc.Close()
		return res, fmt.Errorf("enrol: %w", err)
	}
	st := kc.Status()
	res.Enrol, res.Sync = end.Sub(start), end.Sub(syncStart)
	res.Patients, res.CacheBytes = st.CachedPatients, st.CacheBytes
	if err := kc.Close(); err != nil {
		return res, err
	}
	if res.Patients != a.expect {
		return res, fmt.Errorf("the cache holds %d patients after the first sync, want %d", res.Patients, a.expect)
	}
	return res, nil
}

// The baseline's own websocket path on its own listener.
const baselinePath = "/baseline"

// baselineChild receives the raw stream: one websocket message per batch,
// written to a plain bbolt file in one transaction per message.
func baselineChild(a childArgs, token string) (childResult, error) {
	var res childResult
	pool, err := pki.LoadCAPool(a.ca)
	if err != nil {
		return res, err
	}
	db, err := bolt.Open(filepath.Join(a.dir, "plain.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return res, err
	}
	defer db.Close()
	start := time.Now()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 10 * time.Second}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	ws, _, err := d.Dial(a.server+baselinePath, h)
	if err != nil {
		return res, err
	}
	defer ws.Close()
	ws.SetReadLimit(protocol.MaxServerMessage)
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return res, fmt.Errorf("baseline stream: %w", err)
		}
		if len(msg) == 0 {
			break
		}
		err = db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(plainRecords)
			if err != nil {
				return err
			}
			for len(msg) > 0 {
				if len(msg) < 14 {
					return errors.New("baseline stream: short record")
				}
				key, n := msg[:10], binary.BigEndian.Uint32(msg[10:14])
				if uint64(len(msg)-14) < uint64(n) {
					return errors.New("baseline stream: short document")
				}
				if err := bk.Put(key, msg[14:14+n]); err != nil {
					return err
				}
				res.Patients++
				res.Bytes += int64(n)
				msg = msg[14+n:]
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Batches++
	}
	res.Sync = time.Since(start)
	_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if res.Patients != a.expect {
		return res, fmt.Errorf("baseline stored %d documents, want %d", res.Patients, a.expect)
	}
	return res, nil
}

// baselineServer streams documents from the server's store over a plain
// gorilla websocket on TLS, with nothing of the protocol: no login, no
// policy, no acknowledgements or flow control, batches closed by the same
// byte and count limits as the server's.
type baselineServer struct {
	st    *store.Bolt
	token string
	mu    sync.Mutex
	nhs   []string // what the next connection streams
	hs    *http.Server
	url   string
	errs  chan error
}

func startBaseline(s *benchServer) (*baselineServer, error) {
	b := &baselineServer{st: s.st, token: "baseline-" + strconv.FormatInt(time.Now().UnixNano(), 36), errs: make(chan error, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+baselinePath, b.handle)
	b.hs = &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
	b.url = "wss://" + ln.Addr().String()
	go b.hs.Serve(tls.NewListener(ln, pki.ServerTLS(s.cert)))
	return b, nil
}

func (b *baselineServer) close() error { return b.hs.Close() }

var baselineUpgrader = websocket.Upgrader{ReadBufferSize: 32 << 10, WriteBufferSize: 64 << 10}

func (b *baselineServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+b.token {
		http.Error(w, "no", http.StatusUnauthorized)
		return
	}
	ws, err := baselineUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	b.mu.Lock()
	nhs := b.nhs
	b.mu.Unlock()
	err = b.stream(ws, nhs)
	select {
	case b.errs <- err:
	default:
	}
}

func (b *baselineServer) stream(ws *websocket.Conn, nhs []string) error {
	var msg bytes.Buffer
	count := 0
	flush := func() error {
		err := ws.WriteMessage(websocket.BinaryMessage, msg.Bytes())
		msg.Reset()
		count = 0
		return err
	}
	for _, n := range nhs {
		doc, err := b.st.Doc(n, store.DocFull)
		if err != nil {
			return err
		}
		msg.WriteString(n)
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(doc)))
		msg.Write(l[:])
		msg.Write(doc)
		count++
		if count >= protocol.BatchCount || msg.Len() >= protocol.BatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if count > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, nil); err != nil {
		return err
	}
	// Wait for the client's close, so the connection outlives its last
	// commit.
	ws.SetReadDeadline(time.Now().Add(5 * time.Minute))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return nil
		}
	}
}

// runClientChild runs this binary as a client subprocess and returns what
// it reported. The child reads its own peak RSS: getrusage's maxrss for a
// child is no use here, because Go starts children with vfork and Linux
// carries the parent's high-water mark across the exec.
func runClientChild(mode string, a childArgs, password string) (childResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return childResult{}, err
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return childResult{}, err
	}
	defer os.RemoveAll(a.dir)
	cmd := exec.Command(exe, mode, "--server", a.server, "--ca", a.ca, "--user", a.user, "--dir", a.dir, "--expect", strconv.Itoa(a.expect))
	cmd.Stdin = strings.NewReader(password + "\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return childResult{}, fmt.Errorf("%s: %v: %s", mode, err, strings.TrimSpace(errb.String()))
	}

	var res childResult
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		return res, fmt.Errorf("%s: reading its report: %w", mode, err)
	}
	return res, nil
}

// selfStatus reads this process's memory figures in KiB from
// /proc/self/status (VmHWM, RssAnon, RssFile...) where the system has it
// (Linux); elsewhere it is empty.
func selfStatus() map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil {
			out[name] = n
		}
	}
	return out
}

// startRSSSampler samples the anonymous and file-backed parts of the
// resident set every 20 ms, since the kernel keeps a high-water mark only
// of their sum; the function it returns stops it and gives their peaks.
// File-backed pages are mostly bbolt's read-only map of the cache file:
// page cache the kernel can reclaim, which VmHWM counts all the same.
func startRSSSampler() func() (anon, file int64) {
	var mu sync.Mutex
	var peakAnon, peakFile int64
	sample := func() {
		st := selfStatus()
		mu.Lock()
		peakAnon, peakFile = max(peakAnon, st["RssAnon"]), max(peakFile, st["RssFile"])
		mu.Unlock()
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sample()
			case <-stop:
				return
			}
		}
	}()
	return func() (int64, int64) {
		close(stop)
		<-done
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peakAnon, peakFile
	}
}
