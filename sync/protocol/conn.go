package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// ErrClosed is returned by Send after the connection has closed.
var ErrClosed = errors.New("connection closed")

// closeGrace is how long Close waits for the peer's answering close frame
// before it drops the TCP connection, so our close frame is not lost to a
// reset.
const closeGrace = time.Second

// Conn wraps a websocket with the protocol's rules: one writer goroutine
// (gorilla/websocket does not allow concurrent writers), pings every
// Timeouts.Ping, a read deadline renewed by every frame and pong, a read
// limit, and typed messages. One goroutine may call Receive; any number
// may call Send and Close.
type Conn struct {
	ws   *websocket.Conn
	t    Timeouts
	send chan sendReq
	stop chan closeReq
	done chan struct{}

	closeOnce sync.Once
	mu        sync.Mutex
	closeErr  error // why the connection ended, once it has

	codec *codec // nil: frames travel uncompressed
	stats connCounters
	link  linkMeter // link.go
}

// connCounters count a connection's bytes, as sent on the wire (after
// compression) and as frames (before).
type connCounters struct {
	wireIn, wireOut, rawIn, rawOut, msgsIn, msgsOut atomic.Int64
}

// ConnStats are a connection's byte counts so far.
type ConnStats struct {
	WireIn, WireOut int64 // websocket message bytes received and sent
	RawIn, RawOut   int64 // the same messages' kmcr frames, uncompressed
	MsgsIn, MsgsOut int64
}

// Stats returns the connection's byte counts so far.
func (c *Conn) Stats() ConnStats {
	s := &c.stats
	return ConnStats{WireIn: s.wireIn.Load(), WireOut: s.wireOut.Load(), RawIn: s.rawIn.Load(),
		RawOut: s.rawOut.Load(), MsgsIn: s.msgsIn.Load(), MsgsOut: s.msgsOut.Load()}
}

// Compression names the negotiated compression ("zstd.d1"), "" for none.
func (c *Conn) Compression() string {
	if c.codec == nil {
		return ""
	}
	return Compression(c.ws.Subprotocol())
}

type sendReq struct {
	frame []byte
	size  int
	res   chan error
}

type closeReq struct {
	code   int
	reason string
}

// NewConn takes ownership of ws and starts its writer goroutine. readLimit
// is MaxServerMessage on a client and MaxClientMessage on the server; it
// bounds a message both as received and, when the negotiated subprotocol
// compresses (see Subprotocols), once decompressed.
func NewConn(ws *websocket.Conn, t Timeouts, readLimit int64) *Conn {
	c := &Conn{
		ws:   ws,
		t:    t,
		send: make(chan sendReq),
		stop: make(chan closeReq, 1),
		done: make(chan struct{}),
	}
	// A subprotocol this build does not know has no codec; the caller
	// checks Supported and closes with CloseBadVersion.
	c.codec, _ = codecFor(ws.Subprotocol(), readLimit)
	ws.SetReadLimit(readLimit)
	c.extendRead()
	ws.SetPongHandler(func(data string) error { c.extendRead(); c.link.pong(data); return nil })
	ws.SetPingHandler(func(data string) error {
		c.extendRead()
		c.link.contact()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(t.Write))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil
			}
			return err
		}
		return nil
	})
	go c.writer()
	return c
}

func (c *Conn) extendRead() { _ = c.ws.SetReadDeadline(time.Now().Add(c.t.Read)) }

// writer is the only goroutine that writes data frames and pings.
func (c *Conn) writer() {
	tick := time.NewTicker(c.t.Ping)
	defer tick.Stop()
	for {
		select {
		case req := <-c.send:
			// Allow a slow link about 32 KiB/s on top of the base timeout.
			d := c.t.Write + time.Duration(req.size/(32<<10))*time.Second
			_ = c.ws.SetWriteDeadline(time.Now().Add(d))
			err := c.ws.WriteMessage(websocket.BinaryMessage, req.frame)
			req.res <- err
			if err != nil {
				c.finish(fmt.Errorf("writing: %w", err))
				_ = c.ws.Close()
				return
			}
		case <-tick.C:
			if err := c.ws.WriteControl(websocket.PingMessage, c.link.ping(), time.Now().Add(c.t.Write)); err != nil {
				c.finish(fmt.Errorf("sending ping: %w", err))
				_ = c.ws.Close()
				return
			}
		case cr := <-c.stop:
			c.sendClose(cr)
			return
		case <-c.done:
			select {
			case cr := <-c.stop:
				c.sendClose(cr)
			default:
				_ = c.ws.Close()
			}
			return
		}
	}
}

// sendClose writes the close frame, then gives the reader a moment to see
// the peer's answering close before the socket is dropped.
func (c *Conn) sendClose(cr closeReq) {
	msg := websocket.FormatCloseMessage(cr.code, truncateReason(cr.reason))
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.t.Write))
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
	time.AfterFunc(closeGrace, func() { _ = c.ws.Close() })
}

// truncateReason keeps a close reason within the 123 bytes a close frame
// allows, cutting at a rune boundary.
func truncateReason(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xC0 {
		s = s[:len(s)-1]
	}
	return s
}

// finish records why the connection ended and releases waiters, once.
func (c *Conn) finish(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closeErr = err
		c.mu.Unlock()
		close(c.done)
	})
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended (nil while it is open).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// Send encodes m and waits until the writer has written it, ctx ends, or
// the connection closes. Sending blocks while another send is in flight,
// which is the sender's backpressure.
func (c *Conn) Send(ctx context.Context, m Message) error {
	frame, err := Encode(m)
	if err != nil {
		return err
	}
	raw := len(frame)
	if c.codec != nil {
		frame = c.codec.compress(frame)
	}
	c.stats.rawOut.Add(int64(raw))
	c.stats.wireOut.Add(int64(len(frame)))
	c.stats.msgsOut.Add(1)
	req := sendReq{frame: frame, size: len(frame), res: make(chan error, 1)}
	select {
	case c.send <- req:
	case <-c.done:
		return fmt.Errorf("sending %s: %w", m.Type(), ErrClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.res:
		if err != nil {
			return fmt.Errorf("sending %s: %w", m.Type(), err)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("sending %s: %w", m.Type(), ErrClosed)
	}
}

// Receive reads and decodes the next message. A frame that does not decode
// closes the connection with the matching close code; the error says why.
// A close from the peer is returned as a *CloseError.
func (c *Conn) Receive() (Message, error) {
	typ, frame, err := c.ws.ReadMessage()
	if err != nil {
		err = classifyReadError(err)
		var ce *CloseError
		if errors.As(err, &ce) && ce.Code == CloseHeartbeatTimout {
			c.Close(CloseHeartbeatTimout, "no frame or pong within the read timeout")
		} else if errors.As(err, &ce) && ce.Code == CloseMessageTooBig && !ce.Remote {
			c.Close(CloseTooLarge, "message exceeds the read limit")
		}
		c.finish(err)
		return nil, err
	}
	c.extendRead()
	if typ != websocket.BinaryMessage {
		err := fmt.Errorf("%w: text frame; kmcr frames are binary", ErrMalformed)
		c.Close(CloseProtocolError, err.Error())
		return nil, err
	}
	c.stats.wireIn.Add(int64(len(frame)))
	c.stats.msgsIn.Add(1)
	c.link.received(len(frame))
	if c.codec != nil {
		if frame, err = c.codec.decompress(frame); err != nil {
			c.Close(CloseCodeFor(err), err.Error())
			return nil, err
		}
	}
	c.stats.rawIn.Add(int64(len(frame)))
	m, err := Decode(frame)
	if err != nil {
		c.Close(CloseCodeFor(err), err.Error())
		return nil, err
	}
	return m, nil
}

// Close sends a close frame with code and reason (at most once) and ends
// the connection; pending and later sends fail with ErrClosed.
func (c *Conn) Close(code int, reason string) {
	select {
	case c.stop <- closeReq{code: code, reason: reason}:
	default:
	}
	c.finish(&CloseError{Code: code, Text: reason, Remote: false})
}

// CloseError is a connection end with a close code: sent by the peer
// (Remote) or by this side.
type CloseError struct {
	Code   int
	Text   string
	Remote bool
}

func (e *CloseError) Error() string {
	who := "closed"
	if e.Remote {
		who = "closed by peer"
	}
	if e.Text != "" {
		return fmt.Sprintf("%s: %s (%d): %s", who, CloseText(e.Code), e.Code, e.Text)
	}
	return fmt.Sprintf("%s: %s (%d)", who, CloseText(e.Code), e.Code)
}

// CloseCode returns the close code inside err, or 0 if it has none.
func CloseCode(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// classifyReadError turns library errors into CloseErrors where a code
// applies: the peer's close frame, our read limit, or a missed heartbeat.
func classifyReadError(err error) error {
	var wce *websocket.CloseError
	if errors.As(err, &wce) {
		if wce.Code == websocket.CloseAbnormalClosure {
			// gorilla reports a connection that ended without a close
			// frame as code 1006, which no peer may send: the network
			// dropped, the peer did not close.
			return fmt.Errorf("connection dropped without a close frame: %w", io.ErrUnexpectedEOF)
		}
		return &CloseError{Code: wce.Code, Text: wce.Text, Remote: true}
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return &CloseError{Code: CloseMessageTooBig, Text: err.Error()}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &CloseError{Code: CloseHeartbeatTimout, Text: "no frame or pong within the read timeout"}
	}
	return err
}
