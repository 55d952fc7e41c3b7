package syncclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"kmcr/sync/protocol"
)

// closeWait bounds how long a failed send waits to learn why the
// connection ended.
const closeWait = time.Second

// errComplete ends a SyncOnce session that reached its goal.
var errComplete = errors.New("sync complete")

// inbound is one message from the reader, or the error that ended it.
type inbound struct {
	m   protocol.Message
	err error
}

// session is one websocket connection. Its reader goroutine receives
// messages; run's goroutine handles them in order, calling the Applier
// synchronously and sending acks and uploads. Only the reader and the
// connection's writer run beside it, and both end with the connection.
type session struct {
	c      *Client
	conn   *protocol.Conn
	goal   goal
	window int

	in         chan inbound
	bg         chan *bgCall
	tr         chan *traceCall // Trace calls (trace.go)
	quit       chan struct{}   // closed when run returns
	readerDone chan struct{}
	acked      atomic.Uint64 // batches acknowledged; the reader's flow-control check

	// Owned by run's goroutine.
	rollbackSent *protocol.RollbackReport // the rollback report the Hello carried
	welcomed     bool
	welcomeAt    time.Time
	nextBatch    uint64
	upToDate     bool
	asOf         time.Time
	done         int
	total        int
	lastError    *protocol.ErrorMsg
	audit        auditState
	pending      map[string]*bgCall
	traces       map[string]*traceCall // trace.go
	traceOK      bool                  // the Welcome listed FeatureTrace
	held         *inbound              // a message taken from in while gathering batches
	wantFull     map[uint64][]string   // batch id → patients whose delta did not apply (delta.go)
	incidents    bool                  // the Welcome echoed FeatureIncident (incident.go)
}

func newSession(c *Client, conn *protocol.Conn, g goal) *session {
	return &session{
		c:          c,
		conn:       conn,
		goal:       g,
		window:     c.cfg.Window,
		in:         make(chan inbound, c.cfg.Window+8),
		bg:         make(chan *bgCall),
		quit:       make(chan struct{}),
		readerDone: make(chan struct{}),
		nextBatch:  1,
		pending:    make(map[string]*bgCall),
		traces:     make(map[string]*traceCall),
		tr:         make(chan *traceCall),
		wantFull:   make(map[uint64][]string),
	}
}

// run says Hello, handles messages until the connection ends, ctx ends or
// (for SyncOnce) the goal is reached, and returns only once its reader
// has stopped.
func (s *session) run(ctx context.Context) (out outcome) {
	go s.read()
	defer func() {
		close(s.quit)
		s.c.clearLive(s)
		s.failPending()
		s.failTraces()
		<-s.readerDone
		out.welcomed, out.upToDate, out.done, out.total = s.welcomed, s.upToDate, s.done, s.total
		if s.welcomed {
			out.upFor = time.Since(s.welcomeAt)
		}
	}()
	err := s.hello(ctx)
	if err == nil {
		err = s.loop(ctx)
	}
	switch {
	case errors.Is(err, errComplete):
		s.conn.Close(protocol.CloseNormal, "sync complete")
		return outcome{}
	case ctx.Err() != nil:
		s.conn.Close(protocol.CloseGoingAway, "client stopping")
		return outcome{err: ctx.Err()}
	}
	// Every path that decided to end has already closed with its own
	// code; this covers the rest and is otherwise a no-op.
	s.conn.Close(protocol.CloseGoingAway, "client ending the session")
	return outcome{err: err}
}

func (s *session) hello(ctx context.Context) error {
	a := s.c.cfg.Applier
	cur, err := a.Cursor()
	if err != nil {
		s.conn.Close(protocol.CloseGoingAway, "client storage error")
		return local("reading the sync cursor: %w", err)
	}
	head, err := a.AuditHead()
	if err != nil {
		s.conn.Close(protocol.CloseGoingAway, "client storage error")
		return local("reading the audit chain head: %w", err)
	}
	h := &protocol.Hello{Protocol: protocol.Version, Client: s.c.cfg.Client, Cursor: cur, Window: s.window, AuditHead: head, Rollback: s.pendingRollback(), Deltas: s.c.deltaFormats(), Features: s.c.features()}
	return s.send(ctx, h)
}

// read is the session's only reader. It enforces the window: more
// unacknowledged batches than the client asked for is a server fault.
func (s *session) read() {
	defer close(s.readerDone)
	var received uint64
	for {
		m, err := s.conn.Receive()
		if b, ok := m.(*protocol.Batch); ok && err == nil {
			received++
			if n := received - s.acked.Load(); n > uint64(s.window) {
				reason := fmt.Sprintf("%d unacknowledged batches, window %d", n, s.window)
				m, err = nil, s.violation(protocol.CloseFlowControl, reason)
			} else if p, ok := s.c.cfg.Applier.(Preparer); ok && !hasDelta(b) {
				// Overlap this batch's parsing with the previous one's commit.
				p.PrepareBatch(b)
			}
		}
		select {
		case s.in <- inbound{m, err}:
		case <-s.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *session) loop(ctx context.Context) error {
	for {
		if err := s.goalReached(); err != nil {
			return err
		}
		var err error
		if s.held != nil {
			in := *s.held
			s.held = nil
			if in.err != nil {
				return s.ended(in.err)
			}
			if err := s.handle(ctx, in.m); err != nil {
				return err
			}
			continue
		}
		select {
		case in := <-s.in:
			if in.err != nil {
				return s.ended(in.err)
			}
			if b, ok := in.m.(*protocol.Batch); ok && s.welcomed {
				if ba, ok := s.c.cfg.Applier.(BatchesApplier); ok {
					err = s.onBatches(ctx, ba, s.gather(b))
					break
				}
			}
			err = s.handle(ctx, in.m)
		case <-s.c.flush:
			s.audit.stalled = nil // the user wants another try
			err = s.sendAudit(ctx)
		case call := <-s.bg:
			err = s.startBreakGlass(ctx, call)
		case call := <-s.tr:
			err = s.startTrace(ctx, call)
		case <-ctx.Done():
			return ctx.Err()
		}
		if err != nil {
			return err
		}
	}
}

// goalReached ends a SyncOnce session once everything is done, or once it
// is clear the audit queue cannot be flushed on this connection.
func (s *session) goalReached() error {
	if s.goal != goalSynced || !s.upToDate || len(s.pending) > 0 {
		return nil
	}
	if s.audit.stalled != nil {
		s.conn.Close(protocol.CloseNormal, "audit upload refused")
		return s.audit.stalled
	}
	if s.audit.inflight == nil && s.audit.idle {
		return errComplete
	}
	return nil
}

func (s *session) handle(ctx context.Context, m protocol.Message) error {
	switch v := m.(type) {
	case *protocol.ErrorMsg:
		// The reason for the close that follows.
		s.lastError = v
		s.c.cfg.Logf("sync: server error %d: %s", v.Code, v.Message)
		return nil
	case *protocol.Wipe:
		// Honoured at any time, even before Welcome: a revoked device
		// is told to wipe as soon as it connects.
		return s.onWipe(v)
	}
	if _, ok := m.(*protocol.Welcome); !ok && !s.welcomed {
		return s.violation(protocol.CloseOutOfOrder, m.Type().String()+" before welcome")
	}
	switch v := m.(type) {
	case *protocol.Welcome:
		s.traceOK = slices.Contains(v.Features, protocol.FeatureTrace)
		return s.onWelcome(ctx, v)
	case *protocol.Batch:
		return s.onBatch(ctx, v)
	case *protocol.UpToDate:
		return s.onUpToDate(v)
	case *protocol.AuditAck:
		return s.onAuditAck(ctx, v)
	case *protocol.BreakGlassResult:
		return s.onBreakGlassResult(v)
	case *protocol.TraceResult:
		return s.onTraceResult(v)
	case *protocol.Incidents:
		return s.onIncidents(v)
	}
	return s.violation(protocol.CloseOutOfOrder, m.Type().String()+" is a client message")
}

func (s *session) onWelcome(ctx context.Context, w *protocol.Welcome) error {
	if s.welcomed {
		return s.violation(protocol.CloseOutOfOrder, "second welcome")
	}
	if w.Protocol != protocol.Version {
		s.conn.Close(protocol.CloseBadVersion, fmt.Sprintf("client speaks version %d", protocol.Version))
		return fmt.Errorf("%w (server version %d, client version %d)", ErrIncompatible, w.Protocol, protocol.Version)
	}
	s.rollbackAnswered()
	s.agreeFeatures(w)
	if wa, ok := s.c.cfg.Applier.(WelcomeApplier); ok {
		if err := wa.ApplyWelcome(w); err != nil {
			s.conn.Close(protocol.CloseGoingAway, "client storage error")
			return local("storing the session policy: %w", err)
		}
	}
	if w.Reset {
		s.c.cfg.Logf("sync: the server cannot continue from this device's cursor (%s); full resync", w.ResetReason)
	}
	s.welcomed, s.welcomeAt = true, time.Now()
	s.done, s.total = w.Done, w.Total
	s.c.setLive(s)
	s.report()
	return s.sendAudit(ctx)
}

func (s *session) onBatch(ctx context.Context, b *protocol.Batch) error {
	if b.ID != s.nextBatch {
		return s.violation(protocol.CloseOutOfOrder, fmt.Sprintf("batch %d, expected %d", b.ID, s.nextBatch))
	}
	if err := s.checkRelationships(b); err != nil {
		return err
	}
	if err := s.resolve(b); err != nil {
		return err
	}
	if err := s.c.cfg.Applier.ApplyBatch(b); err != nil {
		if errors.Is(err, ErrBadBatch) {
			// The Applier stored nothing; the server resends from the
			// same cursor, so a persistently bad document shows as
			// repeated failures rather than as data silently skipped.
			s.conn.Close(protocol.CloseProtocolError, fmt.Sprintf("batch %d rejected: %v", b.ID, err))
			return fmt.Errorf("protocol violation by the server: batch %d rejected: %w", b.ID, err)
		}
		s.conn.Close(protocol.CloseGoingAway, "client could not store a batch")
		return local("storing batch %d: %w", b.ID, err)
	}
	return s.acknowledge(ctx, b)
}

// acknowledge sends the ack of a stored batch and updates progress.
func (s *session) acknowledge(ctx context.Context, b *protocol.Batch) error {
	s.nextBatch++
	// Count the ack before sending it: the server may answer with the
	// next batch before Send returns.
	s.acked.Add(1)
	full := s.wantFull[b.ID]
	delete(s.wantFull, b.ID)
	if err := s.send(ctx, &protocol.Ack{ID: b.ID, Cursor: b.Cursor, Full: full}); err != nil {
		return err
	}
	if b.Total > 0 {
		s.total = b.Total
	}
	if b.Done > 0 {
		s.done = b.Done
	} else {
		s.done += len(b.Upserts)
	}
	if !s.upToDate {
		s.report()
	}
	s.breakGlassApplied(b)
	return nil
}

// gather collects the batches already waiting behind b, up to
// maxCoalesce; the first other message is held for the loop.
func (s *session) gather(b *protocol.Batch) []*protocol.Batch {
	bs := []*protocol.Batch{b}
	for len(bs) < maxCoalesce {
		select {
		case in := <-s.in:
			if nb, ok := in.m.(*protocol.Batch); ok && in.err == nil {
				bs = append(bs, nb)
				continue
			}
			s.held = &in
			return bs
		default:
			return bs
		}
	}
	return bs
}

// onBatches stores consecutive batches in one transaction, then
// acknowledges each in order.
func (s *session) onBatches(ctx context.Context, ba BatchesApplier, bs []*protocol.Batch) error {
	if len(bs) == 1 {
		return s.onBatch(ctx, bs[0])
	}
	for i, b := range bs {
		if b.ID != s.nextBatch+uint64(i) {
			return s.violation(protocol.CloseOutOfOrder, fmt.Sprintf("batch %d, expected %d", b.ID, s.nextBatch+uint64(i)))
		}
		if err := s.checkRelationships(b); err != nil {
			return err
		}
		if err := s.resolve(b); err != nil {
			return err
		}
	}
	if err := ba.ApplyBatches(bs); err != nil {
		first, last := bs[0].ID, bs[len(bs)-1].ID
		if errors.Is(err, ErrBadBatch) {
			s.conn.Close(protocol.CloseProtocolError, fmt.Sprintf("batches %d-%d rejected: %v", first, last, err))
			return fmt.Errorf("protocol violation by the server: batches %d-%d rejected: %w", first, last, err)
		}
		s.conn.Close(protocol.CloseGoingAway, "client could not store a batch")
		return local("storing batches %d-%d: %w", first, last, err)
	}
	for _, b := range bs {
		if err := s.acknowledge(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) onUpToDate(u *protocol.UpToDate) error {
	if err := s.c.cfg.Applier.ApplyUpToDate(u); err != nil {
		s.conn.Close(protocol.CloseGoingAway, "client storage error")
		return local("storing the end of the sync: %w", err)
	}
	s.upToDate, s.asOf = true, u.AsOf
	if u.Total > 0 {
		s.total = u.Total
	}
	s.done = max(s.done, s.total)
	s.report()
	return nil
}

func (s *session) onWipe(w *protocol.Wipe) error {
	s.c.cfg.Logf("sync: the server ordered a wipe: %s", w.Reason)
	err := s.c.cfg.Applier.Wipe(w.Reason)
	// A revoked device is told to wipe and then closed with 4003: say
	// "revoked" rather than only "wiped", so the caller can tell.
	why := ErrWiped
	if s.awaitClose() == protocol.CloseDeviceRevoked {
		why = ErrDeviceRevoked
	}
	s.conn.Close(protocol.CloseNormal, "wiped")
	switch {
	case err != nil:
		return fmt.Errorf("%w (%s); wiping the local cache failed: %v", why, w.Reason, err)
	case why == ErrDeviceRevoked:
		return fmt.Errorf("%w; its local cache has been wiped", why)
	}
	return fmt.Errorf("%w: %s", why, w.Reason)
}

// awaitClose waits a moment for the server's close after a Wipe and
// returns its code (0 if none came). Nothing else matters once wiped.
func (s *session) awaitClose() int {
	t := time.NewTimer(closeWait)
	defer t.Stop()
	for {
		select {
		case in := <-s.in:
			if in.err != nil {
				return remoteCloseCode(in.err)
			}
		case <-t.C:
			return 0
		}
	}
}

// report publishes the session's progress as the client's state.
func (s *session) report() {
	if s.upToDate {
		s.c.setState(State{Kind: UpToDate, AsOf: s.asOf})
		return
	}
	s.c.setState(State{Kind: Syncing, Done: s.done, Total: s.total})
}

// violation closes the connection with code because the server broke the
// protocol, and returns the error that ends the session.
func (s *session) violation(code int, reason string) error {
	s.conn.Close(code, reason)
	return fmt.Errorf("protocol violation by the server: %w", &protocol.CloseError{Code: code, Text: reason})
}

// send sends m; if the connection has ended, the error is the reader's,
// which says why.
func (s *session) send(ctx context.Context, m protocol.Message) error {
	err := s.conn.Send(ctx, m)
	if err == nil || ctx.Err() != nil {
		return err
	}
	// A failed write ends the connection just after Send returns; an
	// encoding error (a bug here) leaves it open.
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-s.conn.Done():
	case <-t.C:
		return err
	}
	// The reader always delivers the error that ended the connection. A
	// Wipe just before it still counts: a revoked device is told to wipe
	// and closed straight away. What gather took ahead (s.held) comes
	// first; the reader may have delivered everything and stopped.
	if s.held != nil {
		if why, ok := s.endOf(*s.held); ok {
			s.held = nil
			return why
		}
	}
	for {
		select {
		case in := <-s.in:
			if why, ok := s.endOf(in); ok {
				return why
			}
		case <-s.readerDone:
			for {
				select {
				case in := <-s.in:
					if why, ok := s.endOf(in); ok {
						return why
					}
				default:
					return err
				}
			}
		}
	}
}

// endOf says how a message from the reader ends the session, if it does:
// a Wipe, or the error that ended the connection.
func (s *session) endOf(in inbound) (error, bool) {
	if w, ok := in.m.(*protocol.Wipe); ok {
		return s.onWipe(w), true
	}
	if in.err != nil {
		return s.ended(in.err), true
	}
	return nil, false
}

// ended words the error that ended the reader.
func (s *session) ended(err error) error {
	if errors.Is(err, net.ErrClosed) {
		// The writer failed first and closed the socket under the
		// reader: its error is the cause.
		if werr := s.conn.Err(); werr != nil && !errors.Is(werr, net.ErrClosed) {
			err = werr
		}
	}
	var ce *protocol.CloseError
	switch {
	case errors.Is(err, protocol.ErrMalformed), errors.Is(err, protocol.ErrTooLarge), errors.Is(err, protocol.ErrUnknownType):
		return fmt.Errorf("protocol violation by the server: %w", err)
	case errors.As(err, &ce) && !ce.Remote && ce.Code == protocol.CloseHeartbeatTimout:
		return fmt.Errorf("connection lost: no answer from the server for %v: %w", s.c.cfg.Timeouts.Read, err)
	case errors.As(err, &ce) && ce.Remote && ce.Code == protocol.CloseBadVersion:
		return fmt.Errorf("%w: %w", ErrIncompatible, err)
	case errors.As(err, &ce) && ce.Remote:
		if ce.Text == "" && s.lastError != nil {
			return fmt.Errorf("%w: %s", err, s.lastError.Message)
		}
		return err
	case errors.As(err, &ce):
		return err
	}
	return fmt.Errorf("connection lost: %w", err)
}

func deadline(d time.Duration) time.Time { return time.Now().Add(d) }
