package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"kmcr/server/policy"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// upgrader accepts the compressed subprotocols first, then the plain one:
// compression is negotiated per connection by subprotocol (zstd with a
// trained dictionary), not by permessage-deflate.
var upgrader = websocket.Upgrader{
	Subprotocols:     protocol.Subprotocols(),
	HandshakeTimeout: protocol.HandshakeTimeout,
	ReadBufferSize:   32 << 10,
	WriteBufferSize:  64 << 10,
}

// handleSync upgrades to a websocket and runs one session. Authentication
// failures are reported after the upgrade, as close codes the client acts
// on (an HTTP error before the upgrade cannot carry one).
func (s *Service) handleSync(w http.ResponseWriter, r *http.Request) {
	c, tokErr := s.bearer(r)
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	conn := protocol.NewConn(ws, s.cfg.Timeouts, protocol.MaxClientMessage)
	if !protocol.Supported(ws.Subprotocol()) {
		conn.Close(protocol.CloseBadVersion, "subprotocol "+protocol.Subprotocol+" required")
		return
	}
	switch {
	case errors.Is(tokErr, store.ErrUnavailable):
		conn.Close(protocol.CloseInternalError, store.ErrUnavailable.Error()) // try again, with backoff
		return
	case errors.Is(tokErr, ErrTokenExpired):
		conn.Close(protocol.CloseTokenExpired, "access token expired")
		return
	case tokErr != nil:
		conn.Close(protocol.CloseUnauthorized, "access token missing or invalid")
		return
	}
	d, err := s.st.Device(c.Device)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		conn.Close(protocol.CloseInternalError, store.ErrUnavailable.Error()) // try again, with backoff
		return
	}
	if err != nil {
		conn.Close(protocol.CloseUnauthorized, "unknown device")
		return
	}
	if d.Revoked {
		_ = conn.Send(r.Context(), &protocol.Wipe{Reason: "this device has been revoked"})
		conn.Close(protocol.CloseDeviceRevoked, "device revoked")
		return
	}
	u, err := s.st.User(c.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		conn.Close(protocol.CloseInternalError, store.ErrUnavailable.Error())
		return
	}
	if err != nil || d.User != u.Name {
		conn.Close(protocol.CloseUnauthorized, "unknown user")
		return
	}
	if _, ok, err := s.orgCompliant(u); err == nil && !ok {
		// Its organisation no longer meets the toolkit: the device's
		// cache is revoked at this sync, as org set --dspt not-met does
		// for every device it finds.
		if err := s.st.RevokeDevice(d.ID, s.now()); err != nil {
			s.cfg.Logf("revoking device %s of a non-compliant organisation: %v", d.ID, err)
		}
		_ = conn.Send(r.Context(), &protocol.Wipe{Reason: "your organisation does not meet the Data Security and Protection Toolkit"})
		conn.Close(protocol.CloseDeviceRevoked, "organisation not compliant")
		return
	}
	if d.PrevRefreshHash != nil && c.Gen == d.TokenGen {
		s.endRefreshGrace(d.ID, c.Gen)
	}
	role, err := policy.ParseRole(u.Role)
	if err != nil {
		conn.Close(protocol.CloseUnauthorized, "user has no valid role")
		return
	}
	ss := &session{
		svc: s, conn: conn, user: u, device: d, rules: s.rulesFor(u, role),
		expiry: time.Unix(c.Expiry, 0), pending: map[string]*op{},
	}
	s.mu.Lock()
	s.sessions[ss] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
		s.wg.Done()
	}()
	if err := ss.run(); err != nil {
		s.cfg.Logf("session %s/%s: %v", u.Name, d.ID, err)
	}
	ss.logDeltas()
}

// session is one client's sync connection. One goroutine (run) owns all
// of its state; a reader goroutine only forwards decoded messages.
type session struct {
	svc    *Service
	conn   *protocol.Conn
	user   store.User
	device store.Device
	rules  policy.Rules
	expiry time.Time
	window int
	epoch  string

	sent, acked uint64 // batch ids
	full        bool   // still sending the full state
	after       string // full phase: last NHS number covered
	snapshot    uint64 // full phase: change sequence the full state starts from
	liveSeq     uint64 // live phase: change log scanned through
	cursorSeq   uint64 // live phase: sequence the last sent cursor carries
	dirty       bool   // changes may exist after liveSeq
	announce    bool   // an UpToDate is owed
	done, total int

	pending map[string]*op // live phase: patients to send, by NHS number
	order   []string       // their order
	wipe    bool           // this device was revoked while connected

	held      *protocol.AuditUpload // an audit upload past the device's quota, not yet stored
	heldRetry <-chan time.Time      // when to try it again
	delta     deltaSession          // deltas: whether the client applies them, and what it holds (delta.go)
	traceOK   bool                  // the client listed FeatureTrace and the Welcome echoed it
	sizer     batchSizer            // batch bytes adapted to the link (batchsize.go)

	// The incident lane (incidentlane.go), only for a client that listed
	// protocol.FeatureIncident: incident summaries go ahead of other work.
	incidents bool            // the client speaks FeatureIncident
	prio      []string        // patients to send ahead of everything else
	prioSet   map[string]bool // prio as a set
	prioSeq   uint64          // change log scanned for incident grants through
	prioDirty bool            // changes may exist after prioSeq
	listDirty bool            // an Incidents message is owed
}

// op is what a live batch must do for one patient: reason, when set, is a
// revocation to send first (so the client destroys the old key), and the
// patient's current state is then decided afresh.
type op struct {
	nhs    string
	reason string
	// gone, when set, is the revocation to send only if the patient is no
	// longer permitted (an incident grant ended: another relationship may
	// still hold the patient).
	gone string
}

func (ss *session) send(m protocol.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), ss.svc.cfg.Timeouts.Write+30*time.Second)
	defer cancel()
	return ss.conn.Send(ctx, m)
}

func (ss *session) fail(code int, err error) error {
	_ = ss.send(&protocol.ErrorMsg{Code: code, Message: err.Error()})
	ss.conn.Close(code, err.Error())
	return err
}

// run is the session: the hello, then the loop that sends batches as the
// window allows and answers the client, until the connection ends.
func (ss *session) run() error {
	welcome, err := ss.hello()
	if err != nil {
		return err
	}
	if err := ss.send(welcome); err != nil {
		return err
	}
	if err := ss.startIncidents(); err != nil {
		return ss.fail(protocol.CloseInternalError, err)
	}
	in, rerr := ss.startReader()
	notify, cancel := ss.svc.st.Subscribe()
	defer cancel()
	expire := time.NewTimer(time.Until(ss.expiry))
	defer expire.Stop()
	ev := events{in: in, rerr: rerr, notify: notify, expire: expire.C}
	for {
		if ss.wipe {
			_ = ss.send(&protocol.Wipe{Reason: "this device has been revoked"})
			ss.conn.Close(protocol.CloseDeviceRevoked, "device revoked")
			return nil
		}
		sent, err := ss.step(ev.draining)
		if err != nil {
			return err
		}
		if sent {
			continue
		}
		if ev.draining && ss.sent == ss.acked {
			ss.conn.Close(protocol.CloseServerShutdown, "server shutting down")
			return nil
		}
		if done, err := ss.wait(&ev); done || err != nil {
			return err
		}
	}
}

// hello reads and checks the client's hello and plans the session.
func (ss *session) hello() (*protocol.Welcome, error) {
	// A peer that answers pings but never says hello would hold a
	// connection (and a slot of its device) for ever: the hello must come
	// within one read timeout.
	late := time.AfterFunc(ss.svc.cfg.Timeouts.Read, func() {
		ss.conn.Close(protocol.CloseOutOfOrder, "no hello within the read timeout")
	})
	defer late.Stop()
	m, err := ss.conn.Receive()
	if err != nil {
		return nil, err
	}
	hello, ok := m.(*protocol.Hello)
	if !ok {
		return nil, ss.fail(protocol.CloseOutOfOrder, fmt.Errorf("expected hello, got %s", m.Type()))
	}
	if hello.Protocol < protocol.MinVersion || hello.Protocol > protocol.Version {
		return nil, ss.fail(protocol.CloseBadVersion, fmt.Errorf("protocol version %d is not supported (this server speaks %d to %d)", hello.Protocol, protocol.MinVersion, protocol.Version))
	}
	ss.delta.init(hello)
	ss.incidents = slices.Contains(hello.Features, protocol.FeatureIncident)
	if ss.incidents {
		ss.svc.cfg.Logf("session %s/%s: incident prefetch on (the client lists the %q feature)", ss.user.Name, ss.device.ID, protocol.FeatureIncident)
	}
	ss.window = hello.Window
	if ss.window == 0 {
		ss.window = protocol.DefaultWindow
	}
	if hello.Rollback != nil {
		ss.svc.reportRollback(ss.device, ss.user, hello.Rollback)
	}
	if hello.AuditHead != nil {
		ss.svc.checkHead(ss.device.ID, hello.AuditHead)
	}
	welcome, err := ss.plan(hello.Cursor)
	if err != nil {
		return nil, ss.fail(protocol.CloseInternalError, err)
	}
	welcome.Protocol = hello.Protocol
	if slices.Contains(hello.Features, protocol.FeatureTrace) {
		ss.traceOK = true
		welcome.Features = append(welcome.Features, protocol.FeatureTrace)
	}
	if ss.incidents {
		welcome.Features = append(welcome.Features, protocol.FeatureIncident)
	}
	return welcome, nil
}

// startReader starts the goroutine that only forwards decoded messages.
func (ss *session) startReader() (<-chan protocol.Message, <-chan error) {
	in := make(chan protocol.Message)
	rerr := make(chan error, 1)
	go func() {
		for {
			m, err := ss.conn.Receive()
			if err != nil {
				rerr <- err
				return
			}
			select {
			case in <- m:
			case <-ss.conn.Done():
				return
			}
		}
	}()
	return in, rerr
}

// step sends the next batch, or the UpToDate owed, when the window has
// room; it reports whether it sent anything.
func (ss *session) step(draining bool) (bool, error) {
	if draining {
		return false, nil
	}
	if sent, err := ss.stepIncidents(); sent || err != nil {
		return sent, err
	}
	if ss.sent-ss.acked >= uint64(ss.window) {
		return false, nil
	}
	b, err := ss.produce()
	if err != nil {
		return false, ss.fail(protocol.CloseInternalError, err)
	}
	if ss.wipe {
		return true, nil
	}
	if b != nil {
		return true, ss.send(b)
	}
	if ss.announce && !ss.full && !ss.dirty && len(ss.order) == 0 {
		ss.announce = false
		return true, ss.send(ss.upToDate())
	}
	return false, nil
}

// events are what a session waits on between steps.
type events struct {
	in           <-chan protocol.Message
	rerr         <-chan error
	notify       <-chan uint64
	expire       <-chan time.Time
	draining     bool
	drainTimeout <-chan time.Time
}

// wait blocks until something happens and handles it; done reports that
// the session has ended (err nil for an orderly end).
func (ss *session) wait(ev *events) (done bool, err error) {
	select {
	case m := <-ev.in:
		return false, ss.handle(m)
	case <-ss.heldRetry:
		return false, ss.retryHeld()
	case err := <-ev.rerr:
		if protocol.CloseCode(err) == protocol.CloseNormal || protocol.CloseCode(err) == protocol.CloseGoingAway {
			return true, nil
		}
		return true, err
	case <-ev.notify:
		ss.dirty, ss.prioDirty = true, ss.incidents
	case <-ss.svc.draining:
		if !ev.draining {
			ev.draining = true
			ev.drainTimeout = time.After(ss.svc.cfg.DrainTimeout)
		}
	case <-ev.drainTimeout:
		ss.conn.Close(protocol.CloseServerShutdown, "server shutting down")
		return true, nil
	case <-ev.expire:
		ss.conn.Close(protocol.CloseTokenExpired, "access token expired")
		return true, nil
	}
	return false, nil
}

// handle processes one client message.
func (ss *session) handle(m protocol.Message) error {
	switch v := m.(type) {
	case *protocol.Ack:
		if v.ID <= ss.acked || v.ID > ss.sent {
			return ss.fail(protocol.CloseOutOfOrder, fmt.Errorf("ack of batch %d; batches %d..%d are unacknowledged", v.ID, ss.acked+1, ss.sent))
		}
		ss.acked = v.ID
		ss.ackedDocs(v)
		return nil
	case *protocol.AuditUpload:
		if ss.held != nil {
			return ss.fail(protocol.CloseOutOfOrder, fmt.Errorf("audit upload %d while upload %d is unanswered", v.ID, ss.held.ID))
		}
		ss.held = v
		return ss.retryHeld()
	case *protocol.BreakGlass:
		res := ss.svc.breakGlass(ss.user, ss.rules, ss.device.ID, v)
		if res.Granted {
			ss.queue(v.NHS, "")
		}
		return ss.send(res)
	case *protocol.Trace:
		if !ss.traceOK {
			return ss.fail(protocol.CloseOutOfOrder, fmt.Errorf("trace without the %q feature in hello", protocol.FeatureTrace))
		}
		return ss.send(ss.svc.trace(ss.user, ss.rules, ss.device.ID, v))
	}
	return ss.fail(protocol.CloseOutOfOrder, fmt.Errorf("%s is not a client message", m.Type()))
}

// retryHeld tries to store the held audit upload. Past the device's quota
// it stays held (the session goes on sending batches) and is tried again
// when the allowance has refilled; its acknowledgement waits with it.
func (ss *session) retryHeld() error {
	ss.heldRetry = nil
	ack, hold, err := ss.svc.ingestAudit(ss.device, ss.user, ss.held)
	if errors.Is(err, store.ErrUnavailable) {
		// The database, not the upload: the client keeps its events and
		// tries again with backoff.
		return ss.fail(protocol.CloseInternalError, err)
	}
	if err != nil {
		return ss.fail(protocol.CloseProtocolError, err)
	}
	if hold > 0 {
		ss.heldRetry = time.After(hold)
		return nil
	}
	ss.held = nil
	return ss.send(ack)
}

// plan decides, from the client's cursor, what this session will send.
func (ss *session) plan(cur protocol.Cursor) (*protocol.Welcome, error) {
	st := ss.svc.st
	now := ss.svc.now()
	ss.epoch = st.Epoch()
	last, err := st.LastSeq()
	if err != nil {
		return nil, err
	}
	w := &protocol.Welcome{
		Protocol: protocol.Version, Server: "kmcr-server/" + Version, Epoch: ss.epoch, ServerTime: now,
		User:   protocol.UserInfo{ID: ss.user.Name, Name: ss.user.Name, Role: ss.user.Role},
		Policy: ss.rules.Wire(),
	}
	switch {
	case cur.IsZero():
		ss.full, ss.snapshot = true, last
	case cur.Epoch != ss.epoch:
		ss.full, ss.snapshot = true, last
		w.Reset, w.ResetReason = true, "this server's store is not the one the cache was synced from (restored from backup or replaced)"
	case cur.Seq > last:
		ss.full, ss.snapshot = true, last
		w.Reset, w.ResetReason = true, "this server's change log is behind the cache (restored from backup)"
	case cur.Phase == protocol.PhaseFull:
		ss.full, ss.snapshot, ss.after = true, cur.Seq, cur.After
	default:
		ss.liveSeq, ss.cursorSeq, ss.dirty = cur.Seq, cur.Seq, true
	}
	if ss.full {
		w.Mode = protocol.ModeFull
		total, err := st.CountPermitted(ss.user.Name, "", now)
		if err != nil {
			return nil, err
		}
		left, err := st.CountPermitted(ss.user.Name, ss.after, now)
		if err != nil {
			return nil, err
		}
		ss.total, ss.done = total, total-left
	} else {
		w.Mode = protocol.ModeLive
		n, err := ss.countRelevant(ss.liveSeq)
		if err != nil {
			return nil, err
		}
		ss.total = n
	}
	ss.announce = true
	w.Total, w.Done = ss.total, ss.done
	return w, nil
}

func (ss *session) upToDate() *protocol.UpToDate {
	now := ss.svc.now()
	return &protocol.UpToDate{
		Cursor:     protocol.Cursor{Epoch: ss.epoch, Seq: ss.cursorSeq, Phase: protocol.PhaseLive},
		AsOf:       now,
		LeaseUntil: now.Add(ss.rules.Lease),
		Total:      ss.total,
	}
}
