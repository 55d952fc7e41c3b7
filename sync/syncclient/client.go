package syncclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kmcr/sync/protocol"
)

// Client is one device's connection to kmcr-server. Make it with New, run
// Serve (or SyncOnce) on one goroutine, and call BreakGlass, FlushAudit
// and State from any goroutine.
type Client struct {
	cfg   Config
	eps   []endpoints // the addresses, in the order they are tried
	http  *http.Client
	flush chan struct{} // FlushAudit's nudge; capacity 1

	running atomic.Bool  // Serve or SyncOnce is running
	cur     atomic.Int32 // index in eps of the address in use; set by the goroutine running Serve or SyncOnce

	// Owned by the goroutine running Serve or SyncOnce.
	rng          *mrand.Rand
	unsaved      *protocol.TokenResponse // refreshed but not yet stored
	forceRefresh bool                    // the server refused the access token: refresh before the next dial

	mu       sync.Mutex
	state    State
	live     *session      // the session past its Welcome, if any
	lastLink protocol.Link // what the last session measured, once it has ended
}

// New checks cfg, fills in its defaults and returns a Client. It does not
// connect.
func New(cfg Config) (*Client, error) {
	cfg, ns, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:   cfg,
		eps:   ns.eps,
		http:  newHTTPClient(cfg),
		flush: make(chan struct{}, 1),
		rng:   mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64())),
	}
	c.cur.Store(int32(ns.start))
	c.state = State{Kind: Offline, PendingAudit: c.queuedAudit(), Server: c.Server()}
	return c, nil
}

// Server returns the address in use: the node the current (or last)
// attempt went to, or the one the next attempt goes to.
func (c *Client) Server() string { return c.node().addr }

// Servers returns every configured address, in the order they are tried.
func (c *Client) Servers() []string {
	out := make([]string, len(c.eps))
	for i, ep := range c.eps {
		out[i] = ep.addr
	}
	return out
}

func (c *Client) node() endpoints { return c.eps[c.cur.Load()] }

// moveOn makes the next address current after a failure of the node in
// use, and reports whether there is another address to move to.
func (c *Client) moveOn(err error) bool {
	if len(c.eps) < 2 || !nodeFailure(err) {
		return false
	}
	c.cur.Store((c.cur.Load() + 1) % int32(len(c.eps)))
	return true
}

// nodeFailure reports whether err may be the node's (or the network's on
// the way to it), so another node may do better: every failure but one
// on this device (the cache, the token store) and the caller's own end.
func nodeFailure(err error) bool {
	var le *localError
	return err != nil && !errors.As(err, &le) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// State returns the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// FlushAudit asks for queued audit events to be uploaded now. The client
// core calls it after writing an event; it never blocks. Offline, the
// queue is uploaded when the next session opens.
func (c *Client) FlushAudit() {
	select {
	case c.flush <- struct{}{}:
	default:
	}
}

// Serve keeps this device in sync until ctx ends: it connects, syncs,
// stays live, and reconnects after any failure with full-jitter backoff
// (at once after the server says the access token expired). It reports
// every state change through Config.OnState.
//
// With several addresses (Config.Servers), a failure that may be the
// node's (anything but the user's to act on, a refused token, which is
// refreshed at once, and a failure on this device) moves the client to
// the next address with the same cursor and credentials: at once but for
// a jitter of up to Backoff.Base, and only when every address has failed
// since the last delay (or the last connection that stayed up
// StableAfter) is there a step of the backoff schedule. So a client of a
// node that dies carries on at another within about Backoff.Base, and a
// cluster that is down gets one round of attempts per backoff step.
//
// Serve returns nil when ctx ends. It stops early only when the user must
// act: ErrLoginRequired, ErrDeviceRevoked and ErrWiped (the cache has then
// been wiped). Other failures, including an untrusted certificate, are
// reported as State Error or Offline and retried. Serve and SyncOnce
// cannot run at the same time on one Client (ErrBusy).
func (c *Client) Serve(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrBusy
	}
	defer c.running.Store(false)
	backoff := retry{b: c.cfg.Backoff, rng: c.rng}
	justRefreshed := false // the last attempt was an immediate retry after a token refusal
	rnd := round{size: len(c.eps)}
	for {
		out := c.connect(ctx, goalLive)
		if ctx.Err() != nil {
			c.setState(State{Kind: Offline})
			return nil
		}
		err := out.err
		step := nextStep(err)
		if step == stepNow && justRefreshed && !out.welcomed {
			// A token refused right after a refresh is not going to
			// improve by refreshing again at once.
			if closeCodeOf(err) == protocol.CloseUnauthorized {
				err, step = fmt.Errorf("%w (the server refused a newly refreshed token: %v)", ErrLoginRequired, err), stepStop
			} else {
				step = stepBackoff
			}
		}
		switch step {
		case stepStop:
			c.cfg.Logf("sync: stopping: %v", err)
			c.setState(State{Kind: Error, Err: err.Error()})
			return err
		case stepNow:
			c.cfg.Logf("sync: %v; refreshing the token and reconnecting", err)
			c.forceRefresh, justRefreshed = true, true
			continue
		}
		justRefreshed = false
		var delay time.Duration
		if rnd.failed(backoff.settle(out.upFor), c.moveOn(err)) {
			delay = backoff.next(out.upFor)
			c.cfg.Logf("sync: %v; reconnecting in %v", err, delay.Round(time.Millisecond))
		} else {
			// Another node has not been tried since the last delay: go
			// there after a short jitter (the first step of the schedule),
			// which spreads the clients of a failed node over the others.
			delay = c.cfg.Backoff.Delay(0, c.rng)
			c.cfg.Logf("sync: %v; trying %s in %v", err, c.node().display, delay.Round(time.Millisecond))
		}
		c.setState(State{Kind: kindFor(err), Err: err.Error(), RetryIn: delay})
		if !sleep(ctx, delay) {
			c.setState(State{Kind: Offline})
			return nil
		}
	}
}

// SyncOnce connects, syncs until the server says the cache is up to date
// and every queued audit event has been uploaded and acknowledged, closes
// the connection normally and returns nil. It returns nil in no other
// case. Errors say how far it got: "server unreachable: ...", "sync
// interrupted after 120 of 10000: ...", "audit upload not acknowledged:
// ...". An expired access token is refreshed and the connection retried
// once. With several addresses (Config.Servers) a failure of the node
// moves on to the next, once round them all, carrying on from the cursor
// the last one reached; otherwise SyncOnce does not retry. The sentinel
// errors of Serve apply, and errors.Is finds them in the chain.
func (c *Client) SyncOnce(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrBusy
	}
	defer c.running.Store(false)
	refreshed, rnd := false, round{size: len(c.eps)}
	for {
		out := c.connect(ctx, goalSynced)
		if out.err == nil {
			c.setState(State{Kind: Offline})
			return nil
		}
		step := nextStep(out.err)
		if step == stepNow && !refreshed {
			c.forceRefresh, refreshed = true, true
			continue
		}
		if step == stepBackoff && ctx.Err() == nil {
			if !rnd.failed(false, c.moveOn(out.err)) {
				c.cfg.Logf("sync: %v; trying %s", out.err, c.node().display)
				continue
			}
		}
		kind := kindFor(out.err)
		if step == stepStop {
			kind = Error
		}
		err := out.describe()
		c.setState(State{Kind: kind, Err: err.Error()})
		return err
	}
}

// BreakGlass asks for emergency access to the patient with NHS number nhs,
// with a coded reason (one of protocol.BreakGlassReasons) and the free
// text the user typed. It needs a live session (ErrOffline otherwise). It
// waits for the server's answer and, if access is granted, until the
// batch carrying the patient's document has been applied, so the caller
// can open it at once. Give ctx a deadline: a grant whose document the
// server never sends waits until ctx ends. A refusal is a result with
// Granted false and Error saying why, not an error.
func (c *Client) BreakGlass(ctx context.Context, nhs, code, text string) (*protocol.BreakGlassResult, error) {
	text = strings.TrimSpace(text)
	switch {
	case !tenDigits(nhs):
		return nil, fmt.Errorf("break-glass: %q is not a 10-digit NHS number", nhs)
	case !protocol.ValidBreakGlassReason(code):
		return nil, fmt.Errorf("break-glass: unknown reason code %q", code)
	case text == "":
		return nil, errors.New("break-glass: a reason in your own words is required")
	case len(text) > protocol.MaxText:
		return nil, fmt.Errorf("break-glass: the reason is %d bytes; at most %d", len(text), protocol.MaxText)
	}
	call := &bgCall{
		req: protocol.BreakGlass{RequestID: newRequestID(), NHS: nhs, ReasonCode: code, ReasonText: text},
		res: make(chan bgAnswer, 1),
	}
	return ask(ctx, c, func(s *session) chan<- *bgCall { return s.bg }, call, call.res)
}

// outcome is how one connection attempt ended.
type outcome struct {
	err         error // nil only when SyncOnce's goal was reached
	welcomed    bool
	upFor       time.Duration // from Welcome to the end
	done, total int
	upToDate    bool
}

// describe words a SyncOnce failure by how far the sync got.
func (o outcome) describe() error {
	switch {
	case !o.welcomed:
		return o.err
	case !o.upToDate:
		return fmt.Errorf("sync interrupted after %d of %d: %w", o.done, o.total, o.err)
	default:
		return fmt.Errorf("audit upload not acknowledged: %w", o.err)
	}
}

// goal says when a session ends by itself.
type goal int

const (
	goalLive   goal = iota // never: stay live until the connection or ctx ends (Serve)
	goalSynced             // once up to date with the audit queue flushed (SyncOnce)
)

// connect makes one attempt: token, dial, session.
func (c *Client) connect(ctx context.Context, g goal) outcome {
	c.setState(State{Kind: Connecting})
	out := c.attempt(ctx, g)
	if remoteCloseCode(out.err) == protocol.CloseDeviceRevoked {
		c.cfg.Logf("sync: %v", out.err)
		out.err = wipeRevoked(c.cfg.Applier, c.cfg.Logf)
	}
	return out
}

func (c *Client) attempt(ctx context.Context, g goal) outcome {
	token, err := c.accessToken(ctx)
	if err != nil {
		return outcome{err: err}
	}
	conn, err := c.dial(ctx, token)
	if err != nil {
		return outcome{err: err}
	}
	return newSession(c, conn, g).run(ctx)
}

type step int

const (
	stepBackoff step = iota // reconnect after a backoff delay
	stepNow                 // refresh the token and reconnect at once
	stepStop                // the user must act
)

func nextStep(err error) step {
	if errors.Is(err, ErrLoginRequired) || errors.Is(err, ErrDeviceRevoked) || errors.Is(err, ErrWiped) {
		return stepStop
	}
	switch remoteCloseCode(err) {
	case protocol.CloseTokenExpired, protocol.CloseUnauthorized:
		return stepNow
	}
	return stepBackoff
}

// kindFor says whether a retried failure is the network's (Offline) or
// needs the user (Error).
func kindFor(err error) StateKind {
	var le *localError
	var ae *APIError
	if errors.Is(err, ErrCertificate) || errors.Is(err, ErrIncompatible) || errors.As(err, &le) ||
		errors.As(err, &ae) && ae.Code == protocol.ErrCodeForbidden {
		return Error
	}
	return Offline
}

// sleep waits d or until ctx ends; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Client) setLive(s *session) {
	c.mu.Lock()
	c.live = s
	c.mu.Unlock()
}

func (c *Client) clearLive(s *session) {
	c.mu.Lock()
	if c.live == s {
		c.live = nil
		c.lastLink = s.conn.Link()
	}
	c.mu.Unlock()
}

// newRequestID names a break-glass request so its answer can be matched.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// tenDigits checks the shape of an NHS number; the server checks the rest.
func tenDigits(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := range 10 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
