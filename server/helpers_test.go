package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kmcr/demo"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// fastPassword keeps Argon2id cheap in tests; production uses the default.
var fastPassword = PasswordParams{Time: 1, Memory: 64, Threads: 1}

// testServer is a Service on a real TLS listener on 127.0.0.1 with demo
// patients imported.
type testServer struct {
	t     *testing.T
	svc   *Service
	st    *store.Bolt
	admin Admin
	srv   *httptest.Server
	nhs   []string // the demo patients' NHS numbers, in seed order
	seed  string   // the demo data folder
}

func newTestServer(t *testing.T, patients int) *testServer {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := New(Config{Store: st, Password: fastPassword, Logf: t.Logf,
		Timeouts: protocol.Timeouts{Ping: 200 * time.Millisecond, Read: 2 * time.Second, Write: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, svc: svc, st: st, admin: LocalAdmin(svc)}
	if patients > 0 {
		ts.seed = t.TempDir()
		if _, err := demo.Write(ts.seed, demo.Options{Patients: patients, Seed: 7}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Import([]string{ts.seed}, nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < patients; i++ {
			ts.nhs = append(ts.nhs, demo.NHSNumber(7, i).Digits())
		}
	}
	ts.srv = httptest.NewUnstartedServer(svc.Handler())
	ts.srv.StartTLS()
	t.Cleanup(func() {
		svc.Drain()
		ts.srv.Close()
	})
	return ts
}

func (ts *testServer) addUser(name, role string, caseload ...string) {
	ts.t.Helper()
	if err := ts.admin.UserAdd(context.Background(), UserAddArgs{Name: name, Role: role, Password: "password " + name}); err != nil {
		ts.t.Fatal(err)
	}
	if len(caseload) > 0 {
		if _, err := ts.admin.CaseloadAdd(context.Background(), NHSListArgs{User: name, NHS: caseload}); err != nil {
			ts.t.Fatal(err)
		}
	}
}

func (ts *testServer) tlsConfig() *tls.Config {
	return ts.srv.Client().Transport.(*http.Transport).TLSClientConfig
}

// login registers a device for user and returns its token answer and key.
func (ts *testServer) login(user, device string) (*protocol.TokenResponse, ed25519.PrivateKey) {
	ts.t.Helper()
	_, priv, _ := ed25519.GenerateKey(nil)
	return ts.loginKey(user, device, priv), priv
}

// loginKey logs in again from a device whose key is priv.
func (ts *testServer) loginKey(user, device string, priv ed25519.PrivateKey) *protocol.TokenResponse {
	ts.t.Helper()
	pub := priv.Public().(ed25519.PublicKey)
	body, _ := json.Marshal(protocol.LoginRequest{User: user, Password: "password " + user, DeviceID: device, PublicKey: pub, Host: "test-host"})
	resp, err := ts.srv.Client().Post(ts.srv.URL+protocol.PathLogin, "application/json", bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e protocol.APIError
		json.NewDecoder(resp.Body).Decode(&e)
		ts.t.Fatalf("login %s: %s %+v", user, resp.Status, e)
	}
	var tok protocol.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		ts.t.Fatal(err)
	}
	return &tok
}

// dial opens a sync websocket with an access token, offering only the
// plain subprotocol (as a client built before compression).
func (ts *testServer) dial(token string) *protocol.Conn {
	ts.t.Helper()
	return ts.dialProtos(token, []string{protocol.Subprotocol})
}

// dialProtos is dial offering the given subprotocols.
func (ts *testServer) dialProtos(token string, protos []string) *protocol.Conn {
	ts.t.Helper()
	d := websocket.Dialer{TLSClientConfig: ts.tlsConfig(), Subprotocols: protos, HandshakeTimeout: 5 * time.Second}
	h := http.Header{}
	h.Set(protocol.AuthHeader, "Bearer "+token)
	ws, _, err := d.Dial("wss"+strings.TrimPrefix(ts.srv.URL, "https")+protocol.PathSync, h)
	if err != nil {
		ts.t.Fatal(err)
	}
	c := protocol.NewConn(ws, protocol.Timeouts{Ping: 200 * time.Millisecond, Read: 5 * time.Second, Write: 2 * time.Second}, protocol.MaxServerMessage)
	ts.t.Cleanup(func() { c.Close(protocol.CloseNormal, "") })
	return c
}

// client is a scripted protocol client that keeps an in-memory "cache"
// applying batches as the real client must.
type client struct {
	t        *testing.T
	c        *protocol.Conn
	cursor   protocol.Cursor
	held     map[string]protocol.DocMeta
	docs     map[string][]byte
	dels     []protocol.Delete
	upTo     *protocol.UpToDate
	wel      *protocol.Welcome
	maxOut   int                       // most unacknowledged batches seen
	deltas   bool                      // say in Hello that deltas are applied
	spoil    func(delta []byte) []byte // corrupts each delta received, when set
	got      []protocol.DocMeta        // every upsert received, as sent
	full     []string                  // patients whose delta did not apply, for the next ack
	feats    []string                  // Hello.Features
	lists    []*protocol.Incidents     // every Incidents message received
	arrivals []string                  // what arrived, in order: "incidents", "batch", "batch-range", "up_to_date"
	in       chan protocol.Message
	errs     chan error
}

func newClient(t *testing.T, c *protocol.Conn) *client {
	return &client{t: t, c: c, held: map[string]protocol.DocMeta{}, docs: map[string][]byte{}}
}

func (cl *client) send(m protocol.Message) {
	cl.t.Helper()
	if err := cl.c.Send(context.Background(), m); err != nil {
		cl.t.Fatal(err)
	}
}

func (cl *client) hello(window int) *protocol.Welcome {
	cl.t.Helper()
	h := &protocol.Hello{Protocol: protocol.Version, Client: "test", Cursor: cl.cursor, Window: window}
	if cl.deltas {
		h.Deltas = []string{protocol.DeltaZstd}
	}
	h.Features = cl.feats
	cl.send(h)
	m, err := cl.recv()
	if err != nil {
		cl.t.Fatal(err)
	}
	w, ok := m.(*protocol.Welcome)
	if !ok {
		cl.t.Fatalf("got %T, want Welcome", m)
	}
	cl.wel = w
	return w
}

// apply applies a batch like the real client: deletes, upserts, range purge.
func (cl *client) apply(b *protocol.Batch) {
	for _, d := range b.Deletes {
		delete(cl.held, d.NHS)
		delete(cl.docs, d.NHS)
		cl.dels = append(cl.dels, d)
	}
	keep := map[string]bool{}
	for i, u := range b.Upserts {
		cl.got = append(cl.got, u)
		doc := b.Docs[i]
		if u.Delta != nil {
			if cl.spoil != nil {
				doc = cl.spoil(doc)
			}
			whole, err := protocol.ApplyDelta(cl.docs[u.NHS], *u.Delta, doc, u.Hash)
			if err != nil {
				cl.full = append(cl.full, u.NHS) // keep the old version, ask again
				keep[u.NHS] = true
				continue
			}
			doc = whole
		}
		if u.Hash != nil && !bytes.Equal(protocol.DocHash(doc), u.Hash) {
			cl.t.Fatalf("document for %s does not match its hash", u.NHS)
		}
		cl.held[u.NHS] = u
		cl.docs[u.NHS] = doc
		keep[u.NHS] = true
	}
	if b.Range != nil {
		for n := range cl.held {
			if b.Range.Contains(n) && !keep[n] {
				delete(cl.held, n)
				delete(cl.docs, n)
			}
		}
	}
	cl.cursor = b.Cursor
}

// untilUpToDate reads, applying and acknowledging batches, until
// UpToDate. It holds up to ackLag batches unacknowledged, and when it holds
// that many it waits a moment for more: a server that respects a window of
// ackLag sends nothing more, so maxOut records any excess.
func (cl *client) untilUpToDate(ackLag int) {
	cl.t.Helper()
	if cl.in == nil {
		cl.in = make(chan protocol.Message, 64)
		cl.errs = make(chan error, 1)
		go func(c *protocol.Conn, in chan protocol.Message, errs chan error) {
			for {
				m, err := c.Receive()
				if err != nil {
					errs <- err
					return
				}
				in <- m
			}
		}(cl.c, cl.in, cl.errs)
	}
	var pending []*protocol.Batch
	ackOne := func() {
		b := pending[0]
		pending = pending[1:]
		cl.apply(b)
		cl.send(&protocol.Ack{ID: b.ID, Cursor: b.Cursor, Full: cl.full})
		cl.full = nil
	}
	deadline := time.After(20 * time.Second)
	for {
		var m protocol.Message
		if ackLag > 0 && len(pending) >= ackLag {
			select {
			case m = <-cl.in:
			case err := <-cl.errs:
				if m, err = cl.queuedFirst(err); err != nil {
					cl.t.Fatalf("receive: %v", err)
				}
			case <-time.After(150 * time.Millisecond):
				ackOne()
				continue
			}
		} else {
			select {
			case m = <-cl.in:
			case err := <-cl.errs:
				if m, err = cl.queuedFirst(err); err != nil {
					cl.t.Fatalf("receive: %v", err)
				}
			case <-deadline:
				cl.t.Fatal("no up_to_date within 20 s")
			}
		}
		switch v := m.(type) {
		case *protocol.Incidents:
			cl.lists = append(cl.lists, v)
			cl.arrivals = append(cl.arrivals, "incidents")
		case *protocol.Batch:
			if v.Range != nil {
				cl.arrivals = append(cl.arrivals, "batch-range")
			} else {
				cl.arrivals = append(cl.arrivals, "batch")
			}
			pending = append(pending, v)
			cl.maxOut = max(cl.maxOut, len(pending))
			for len(pending) > ackLag {
				ackOne()
			}
		case *protocol.UpToDate:
			cl.arrivals = append(cl.arrivals, "up_to_date")
			for len(pending) > 0 {
				ackOne()
			}
			if v.Range != nil {
				for n := range cl.held {
					if v.Range.Contains(n) {
						delete(cl.held, n)
					}
				}
			}
			cl.cursor, cl.upTo = v.Cursor, v
			return
		default:
			cl.t.Fatalf("unexpected %T %+v", m, m)
		}
	}
}

// recv reads one message through the reader goroutine if it runs.
func (cl *client) recv() (protocol.Message, error) {
	if cl.in == nil {
		return cl.c.Receive()
	}
	select {
	case m := <-cl.in:
		return m, nil
	case err := <-cl.errs:
		return cl.queuedFirst(err)
	case <-time.After(10 * time.Second):
		cl.t.Fatal("no message within 10 s")
		return nil, nil
	}
}

// queuedFirst is called when the reader's final error won a select. The
// reader queues every message before that error, but a select between two
// ready channels picks at random: it hands out what is still queued first
// and keeps the error for the next call.
func (cl *client) queuedFirst(err error) (protocol.Message, error) {
	select {
	case m := <-cl.in:
		cl.errs <- err
		return m, nil
	default:
		return nil, err
	}
}

// redial replaces the connection (the reader goroutine ends with the old one).
func (cl *client) redial(c *protocol.Conn) {
	cl.c, cl.in, cl.errs = c, nil, nil
}

func (cl *client) heldSet() map[string]bool {
	out := map[string]bool{}
	for n := range cl.held {
		out[n] = true
	}
	return out
}

func sameSet(t *testing.T, got map[string]bool, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("hold %d patients, want %d", len(got), len(want))
	}
	for _, n := range want {
		if !got[n] {
			t.Fatalf("missing %s", n)
		}
	}
}

func devID(i int) string { return fmt.Sprintf("device-test-%08d", i) }
