package client

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kmcr/sync/protocol"
)

// testTimeouts are short so a half-open link shows within seconds, and
// long enough that a busy test machine does not miss heartbeats.
var testTimeouts = protocol.Timeouts{Ping: 100 * time.Millisecond, Read: 1500 * time.Millisecond, Write: 2 * time.Second}

const (
	testPassword = "correct horse battery staple"
	testCAFile   = "test-ca.pem"
	testDocSize  = 400
)

// fakePatient is one patient document the fake server holds.
type fakePatient struct {
	nhs     string
	version uint64
	changed uint64 // server sequence of the last change
}

// Audit ack behaviours of the fake server.
const (
	auditAckNormal = iota // ack through the last event stored
	auditAckNone          // store but never ack
	auditAckZero          // ack through 0: nothing stored
)

// fakeServer is a small kmcr-server: /v1/login, /v1/token and /v1/sync
// over a real TLS listener on 127.0.0.1, serving a caseload in NHS-number
// order with the protocol's full-sync cursor and window.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	wg  sync.WaitGroup // sync handlers

	mu          sync.Mutex
	closed      bool
	epoch       string
	seq         uint64
	patients    []fakePatient // sorted by NHS number
	bgNHS       string        // the one patient break-glass is granted for
	batchDocs   int
	accessTTL   time.Duration
	access      map[string]time.Time // valid access tokens and their expiry
	refresh     map[string]bool      // unused refresh credentials
	nextToken   int
	revoked     bool
	failRefresh int // answer this many refreshes with 503
	logins      int
	refreshes   int
	tokensSeen  []string // Authorization tokens of sync upgrades, in order
	hellos      []protocol.Hello
	maxInFlight int
	clientClose []int             // close codes the client sent
	audit       map[uint64][]byte // stored events by sequence number
	auditDupes  int
	uploads     [][2]int // events and bytes of each upload
	auditAck    int
	cutAudit    int // uploads to store and then cut before acking
	script      func(ss *srvSession)
	sessions    map[*srvSession]struct{}
	errs        []string
}

// srvSession is one websocket session on the fake server.
type srvSession struct {
	fs    *fakeServer
	conn  *protocol.Conn
	ws    *websocket.Conn
	hello *protocol.Hello
	live  chan protocol.Message // pushed by the test: live batches, wipes
}

func newFakeServer(t *testing.T, patients int) *fakeServer {
	t.Helper()
	fs := &fakeServer{
		t:         t,
		epoch:     "epoch-1",
		batchDocs: 16,
		accessTTL: 10 * time.Minute,
		access:    map[string]time.Time{},
		refresh:   map[string]bool{},
		audit:     map[uint64][]byte{},
		sessions:  map[*srvSession]struct{}{},
	}
	for _, nhs := range nhsNumbers(patients + 1) {
		fs.seq++
		fs.patients = append(fs.patients, fakePatient{nhs: nhs, version: 1, changed: fs.seq})
	}
	// The last number is outside the caseload: break-glass only.
	fs.bgNHS = fs.patients[patients].nhs
	fs.patients = fs.patients[:patients]
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathLogin, fs.handleLogin)
	mux.HandleFunc("POST "+protocol.PathRefresh, fs.handleRefresh)
	mux.HandleFunc("GET "+protocol.PathSync, fs.handleSync)
	fs.srv = httptest.NewUnstartedServer(mux)
	fs.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut on purpose
	fs.srv.StartTLS()
	t.Cleanup(fs.close)
	return fs
}

// url is the server's websocket base.
func (fs *fakeServer) url() string { return "wss://" + fs.srv.Listener.Addr().String() }

// clientTLS trusts the server's certificate, as the CA file would.
func (fs *fakeServer) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(fs.srv.Certificate())
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// close ends every session and waits for the handlers, then reports any
// protocol fault the server saw.
func (fs *fakeServer) close() {
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return
	}
	fs.closed = true
	for ss := range fs.sessions {
		ss.conn.Close(protocol.CloseGoingAway, "test over")
	}
	fs.mu.Unlock()
	fs.srv.Close()
	fs.wg.Wait()
	for _, e := range fs.errs {
		fs.t.Errorf("fake server: %s", e)
	}
}

func (fs *fakeServer) fail(format string, args ...any) {
	fs.mu.Lock()
	fs.errs = append(fs.errs, fmt.Sprintf(format, args...))
	fs.mu.Unlock()
}

// issue makes a token pair; fs.mu is held.
func (fs *fakeServer) issue() *protocol.TokenResponse {
	fs.nextToken++
	tr := &protocol.TokenResponse{
		AccessToken:  fmt.Sprintf("access-%d", fs.nextToken),
		ExpiresAt:    time.Now().Add(fs.accessTTL),
		RefreshToken: fmt.Sprintf("refresh-%d", fs.nextToken),
		User:         protocol.UserInfo{ID: "u1", Name: "Amy Paramedic", Role: "paramedic"},
		DeviceID:     "device-1",
		Epoch:        fs.epoch,
	}
	fs.access[tr.AccessToken] = tr.ExpiresAt
	fs.refresh[tr.RefreshToken] = true
	return tr
}

// tokens logs a device in directly and returns a store holding the answer.
func (fs *fakeServer) tokens() *fakeTokens {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	tr := fs.issue()
	return &fakeTokens{access: tr.AccessToken, refresh: tr.RefreshToken, expires: tr.ExpiresAt}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (fs *fakeServer) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req protocol.LoginRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, protocol.APIError{Code: protocol.ErrCodeBadRequest, Message: err.Error()})
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.logins++
	switch {
	case fs.revoked:
		writeJSON(w, 403, protocol.APIError{Code: protocol.ErrCodeDeviceRevoked, Message: "device revoked"})
	case req.User != "amy" || req.Password != testPassword:
		writeJSON(w, 401, protocol.APIError{Code: protocol.ErrCodeBadLogin, Message: "wrong user name or password"})
	case req.DeviceID == "":
		writeJSON(w, 400, protocol.APIError{Code: protocol.ErrCodeBadRequest, Message: "device_id missing"})
	default:
		writeJSON(w, 200, fs.issue())
	}
}

func (fs *fakeServer) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req protocol.RefreshRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, protocol.APIError{Code: protocol.ErrCodeBadRequest, Message: err.Error()})
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.refreshes++
	switch {
	case fs.failRefresh > 0:
		fs.failRefresh--
		writeJSON(w, 503, protocol.APIError{Code: protocol.ErrCodeInternal, Message: "try again"})
	case fs.revoked:
		writeJSON(w, 403, protocol.APIError{Code: protocol.ErrCodeDeviceRevoked, Message: "device revoked"})
	case !fs.refresh[req.RefreshToken] || req.DeviceID != "device-1":
		writeJSON(w, 401, protocol.APIError{Code: protocol.ErrCodeExpired, Message: "refresh credential expired or used"})
	default:
		delete(fs.refresh, req.RefreshToken) // single use
		writeJSON(w, 200, fs.issue())
	}
}

var upgrader = websocket.Upgrader{Subprotocols: []string{protocol.Subprotocol}}

func (fs *fakeServer) handleSync(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		http.Error(w, "closing", http.StatusServiceUnavailable)
		return
	}
	fs.wg.Add(1)
	defer fs.wg.Done()
	if r.URL.RawQuery != "" {
		fs.errs = append(fs.errs, "sync URL carries a query: "+r.URL.RawQuery)
	}
	token, _ := strings.CutPrefix(r.Header.Get(protocol.AuthHeader), "Bearer ")
	fs.tokensSeen = append(fs.tokensSeen, token)
	expiry, known := fs.access[token]
	revoked := fs.revoked
	fs.mu.Unlock()

	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ss := &srvSession{fs: fs, ws: ws, conn: protocol.NewConn(ws, testTimeouts, protocol.MaxClientMessage), live: make(chan protocol.Message, 16)}
	defer ss.drain()
	switch {
	case revoked:
		ss.conn.Close(protocol.CloseDeviceRevoked, "device revoked")
		return
	case !known:
		ss.conn.Close(protocol.CloseUnauthorized, "unknown token")
		return
	case time.Now().After(expiry):
		ss.conn.Close(protocol.CloseTokenExpired, "token expired")
		return
	}
	m, err := ss.conn.Receive()
	if err != nil {
		return
	}
	h, ok := m.(*protocol.Hello)
	if !ok {
		ss.conn.Close(protocol.CloseOutOfOrder, "expected hello")
		return
	}
	ss.hello = h
	fs.mu.Lock()
	fs.hellos = append(fs.hellos, *h)
	fs.sessions[ss] = struct{}{}
	script := fs.script
	fs.mu.Unlock()
	defer func() {
		fs.mu.Lock()
		delete(fs.sessions, ss)
		fs.mu.Unlock()
	}()
	if script != nil {
		script(ss)
		return
	}
	ss.serve()
}

// drain reads until the connection ends, recording the client's close code.
func (ss *srvSession) drain() {
	for {
		if _, err := ss.conn.Receive(); err != nil {
			ss.closedBy(err)
			return
		}
	}
}

// closedBy records a close the client sent.
func (ss *srvSession) closedBy(err error) {
	var ce *protocol.CloseError
	if errors.As(err, &ce) && ce.Remote {
		ss.fs.mu.Lock()
		ss.fs.clientClose = append(ss.fs.clientClose, ce.Code)
		ss.fs.mu.Unlock()
	}
}

func (ss *srvSession) send(m protocol.Message) error {
	return ss.conn.Send(ss.fs.t.Context(), m)
}

// plan decides the Welcome and the batches for a Hello, as the real
// server does: resume a full sync after its cursor, continue a live
// cursor with the changes since, or start over.
func (fs *fakeServer) plan(h *protocol.Hello) (*protocol.Welcome, []*protocol.Batch, *protocol.UpToDate) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	now := time.Now().UTC()
	w := &protocol.Welcome{Protocol: protocol.Version, Server: "fake", Epoch: fs.epoch, ServerTime: now,
		User: protocol.UserInfo{ID: "u1", Name: "Amy Paramedic", Role: "paramedic"}, Mode: protocol.ModeFull, Total: len(fs.patients)}
	cur := h.Cursor
	var todo []fakePatient
	switch {
	case cur.Epoch == fs.epoch && cur.Phase == protocol.PhaseLive:
		w.Mode = protocol.ModeLive
		for _, p := range fs.patients {
			if p.changed > cur.Seq {
				todo = append(todo, p)
			}
		}
		w.Total = len(todo)
	case cur.Epoch == fs.epoch && cur.Phase == protocol.PhaseFull:
		i := sort.Search(len(fs.patients), func(i int) bool { return fs.patients[i].nhs > cur.After })
		todo, w.Done = fs.patients[i:], i
	default:
		todo = fs.patients
		w.Reset = !cur.IsZero()
	}
	var batches []*protocol.Batch
	done := w.Done
	after := cur.After
	for len(todo) > 0 {
		n := min(fs.batchDocs, len(todo))
		b := &protocol.Batch{Done: done + n, Total: w.Total}
		for _, p := range todo[:n] {
			b.Upserts = append(b.Upserts, fakeMeta(p.nhs, p.version, protocol.RelCaseload))
			b.Docs = append(b.Docs, fakeDoc(p.nhs))
		}
		last := todo[n-1].nhs
		if w.Mode == protocol.ModeFull {
			b.Cursor = protocol.Cursor{Epoch: fs.epoch, Seq: fs.seq, Phase: protocol.PhaseFull, After: last}
			b.Range = &protocol.NHSRange{After: after, Through: last}
		} else {
			b.Cursor = protocol.Cursor{Epoch: fs.epoch, Seq: todo[n-1].changed, Phase: protocol.PhaseLive}
		}
		batches = append(batches, b)
		after, done, todo = last, done+n, todo[n:]
	}
	u := &protocol.UpToDate{Cursor: protocol.Cursor{Epoch: fs.epoch, Seq: fs.seq, Phase: protocol.PhaseLive},
		AsOf: now, LeaseUntil: now.Add(24 * time.Hour), Total: w.Total}
	if w.Mode == protocol.ModeFull {
		u.Range = &protocol.NHSRange{After: after}
	}
	return w, batches, u
}

func fakeMeta(nhs string, version uint64, rel string) protocol.DocMeta {
	now := time.Now().UTC()
	return protocol.DocMeta{NHS: nhs, Version: version, NotAfter: now.Add(24 * time.Hour), AsOf: now, Relationship: rel, Sections: []string{"allergies"}}
}

func fakeDoc(nhs string) []byte {
	doc := fmt.Sprintf(`{"resourceType":"Bundle","id":%q,"pad":"`, nhs)
	return []byte(doc + strings.Repeat("x", max(0, testDocSize-len(doc)-2)) + `"}`)
}

// serve runs the default session: the planned sync within the window,
// then live batches, audit acks and break-glass answers.
func (ss *srvSession) serve() {
	fs := ss.fs
	window := ss.hello.Window
	if window == 0 {
		window = protocol.DefaultWindow
	}
	w, batches, utd := fs.plan(ss.hello)
	if ss.send(w) != nil {
		return
	}
	queue := make([]protocol.Message, 0, len(batches)+1)
	for _, b := range batches {
		queue = append(queue, b)
	}
	queue = append(queue, utd)

	in := make(chan protocol.Message)
	readerDone := make(chan error, 1)
	go func() {
		for {
			m, err := ss.conn.Receive()
			if err != nil {
				readerDone <- err
				return
			}
			in <- m
		}
	}()
	readerEnded := false
	defer func() {
		ss.conn.Close(protocol.CloseNormal, "")
		for !readerEnded { // let the reader finish
			select {
			case <-in:
			case err := <-readerDone:
				ss.closedBy(err)
				readerEnded = true
			}
		}
	}()

	var nextID, acked uint64
	cursors := map[uint64]protocol.Cursor{}
	for {
		for len(queue) > 0 {
			if b, ok := queue[0].(*protocol.Batch); ok {
				if int(nextID-acked) >= window {
					break
				}
				nextID++
				b.ID = nextID
				cursors[b.ID] = b.Cursor
				fs.mu.Lock()
				fs.maxInFlight = max(fs.maxInFlight, int(nextID-acked))
				fs.mu.Unlock()
			}
			if ss.send(queue[0]) != nil {
				return
			}
			queue = queue[1:]
		}
		select {
		case m := <-in:
			switch v := m.(type) {
			case *protocol.Ack:
				if v.ID != acked+1 || v.Cursor != cursors[v.ID] {
					fs.fail("ack %d %+v; want ack %d %+v", v.ID, v.Cursor, acked+1, cursors[acked+1])
					return
				}
				acked = v.ID
			case *protocol.AuditUpload:
				ack, cut := fs.storeAudit(v)
				if cut {
					_ = ss.ws.NetConn().Close() // stored, but the ack is lost
					return
				}
				if ack != nil {
					queue = append(queue, ack)
				}
			case *protocol.BreakGlass:
				queue = append(queue, fs.breakGlass(v)...)
			default:
				fs.fail("unexpected %s from the client", m.Type())
				return
			}
		case m := <-ss.live:
			queue = append(queue, m)
		case err := <-readerDone:
			ss.closedBy(err)
			readerEnded = true
			return
		}
	}
}

// storeAudit stores an upload's events once each, deduplicating by
// sequence number, and returns the ack to send (nil for none) and whether
// to cut the connection instead.
func (fs *fakeServer) storeAudit(up *protocol.AuditUpload) (*protocol.AuditAck, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	total := 0
	ack := &protocol.AuditAck{ID: up.ID}
	for i, seq := range up.Seqs {
		total += len(up.Events[i])
		if _, dup := fs.audit[seq]; dup {
			fs.auditDupes++
			ack.Duplicates++
			continue
		}
		fs.audit[seq] = bytes.Clone(up.Events[i])
		ack.Accepted++
	}
	fs.uploads = append(fs.uploads, [2]int{len(up.Seqs), total})
	if up.Head.Seq != up.Seqs[len(up.Seqs)-1] {
		fs.errs = append(fs.errs, fmt.Sprintf("upload head %d does not match its last event %d", up.Head.Seq, up.Seqs[len(up.Seqs)-1]))
	}
	if fs.cutAudit > 0 {
		fs.cutAudit--
		return nil, true
	}
	switch fs.auditAck {
	case auditAckNone:
		return nil, false
	case auditAckZero:
		return ack, false
	}
	ack.Through = up.Seqs[len(up.Seqs)-1]
	return ack, false
}

// breakGlass grants access to fs.bgNHS only; the document follows the
// answer as an ordinary batch.
func (fs *fakeServer) breakGlass(r *protocol.BreakGlass) []protocol.Message {
	if r.NHS != fs.bgNHS {
		return []protocol.Message{&protocol.BreakGlassResult{RequestID: r.RequestID, Error: "no such patient"}}
	}
	exp := time.Now().Add(2 * time.Hour).UTC()
	fs.mu.Lock()
	fs.seq++
	cur := protocol.Cursor{Epoch: fs.epoch, Seq: fs.seq, Phase: protocol.PhaseLive}
	fs.mu.Unlock()
	return []protocol.Message{
		&protocol.BreakGlassResult{RequestID: r.RequestID, Granted: true, ExpiresAt: exp},
		&protocol.Batch{Cursor: cur, Upserts: []protocol.DocMeta{fakeMeta(r.NHS, 1, protocol.RelBreakGlass)}, Docs: [][]byte{fakeDoc(r.NHS)}},
	}
}

// push sends m to every open session (a live batch, a wipe).
func (fs *fakeServer) push(m protocol.Message) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for ss := range fs.sessions {
		ss.live <- m
	}
}

// closeAll closes every session with code, as the server does when a
// token expires or a device is revoked.
func (fs *fakeServer) closeAll(code int, reason string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for ss := range fs.sessions {
		ss.conn.Close(code, reason)
	}
}

// snapshot returns a copy of the counters a test checks, under the lock.
func (fs *fakeServer) snapshot() fakeServer {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fakeServer{
		logins: fs.logins, refreshes: fs.refreshes, maxInFlight: fs.maxInFlight, auditDupes: fs.auditDupes,
		hellos: append([]protocol.Hello(nil), fs.hellos...), tokensSeen: append([]string(nil), fs.tokensSeen...),
		clientClose: append([]int(nil), fs.clientClose...), uploads: append([][2]int(nil), fs.uploads...),
		audit: func() map[uint64][]byte {
			m := make(map[uint64][]byte, len(fs.audit))
			for k, v := range fs.audit {
				m[k] = v
			}
			return m
		}(),
	}
}

// nhsNumbers returns n valid NHS numbers in ascending order (999 prefix,
// the range reserved for test data).
func nhsNumbers(n int) []string {
	var out []string
	for body := 999000000; len(out) < n; body++ {
		s := fmt.Sprintf("%09d", body)
		if c := checkDigit(s); c >= 0 {
			out = append(out, fmt.Sprintf("%s%d", s, c))
		}
	}
	return out
}

// checkDigit is the NHS modulus 11 check digit of nine digits, or -1 where
// no valid number exists.
func checkDigit(nine string) int {
	sum := 0
	for i := range 9 {
		sum += int(nine[i]-'0') * (10 - i)
	}
	c := 11 - sum%11
	switch c {
	case 11:
		return 0
	case 10:
		return -1
	}
	return c
}

func validNHS(s string) bool {
	return len(s) == 10 && tenDigits(s) && checkDigit(s[:9]) == int(s[9]-'0')
}
