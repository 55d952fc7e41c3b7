package syncclient

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
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
	case revoked: // as kmcr-server does: wipe, then close, before any Hello
		_ = ss.send(&protocol.Wipe{Reason: "this device has been revoked"})
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
