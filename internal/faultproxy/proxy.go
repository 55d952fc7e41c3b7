package faultproxy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Bounds that keep a forgotten proxy from outliving its test.
const (
	// MaxConns bounds the connections open through one proxy; more are
	// reset on accept.
	MaxConns = 64
	// MaxLifetime is how long a proxy runs before it closes itself.
	MaxLifetime = 5 * time.Minute
)

const (
	// chunkSize is the most one read forwards at a time: one "chunk" for
	// Delay and the granularity at which CutAfter counts.
	chunkSize = 32 << 10
	// dialTimeout and writeTimeout bound the proxy's own network calls on
	// loopback, so a stuck peer cannot hold a goroutine forever.
	dialTimeout  = 5 * time.Second
	writeTimeout = 10 * time.Second
)

type mode int

const (
	modePass mode = iota
	modeDelay
	modeDrop
	modeCut
	modeHalfOpen
)

func (m mode) String() string {
	return [...]string{"pass", "delay", "drop", "cut", "half-open"}[m]
}

// Proxy forwards TCP connections from a loopback port to a target and
// injects faults. All methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	life   *time.Timer
	wg     sync.WaitGroup

	mu       sync.Mutex
	mode     mode
	delay    time.Duration
	cutAfter int
	changed  chan struct{} // closed and replaced on every mode change
	links    map[*link]struct{}
	closed   bool
	accepted int
	cuts     int

	impair    Impairment    // applied to new connections (impair.go)
	stopCycle chan struct{} // ends the drop cycle, if one runs
	drops     int
	closing   chan struct{} // closed by Close
	links0    uint64        // connections made, for per-link loss seeds
	toClient  int64         // bytes forwarded server→client
	toServer  int64         // and client→server
}

// Bytes is how many bytes the proxy has forwarded to the client and to the
// server so far: what crossed the link.
func (p *Proxy) Bytes() (toClient, toServer int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.toClient, p.toServer
}

// link is one proxied connection: the client's side and the target's.
type link struct {
	client, server net.Conn
	done           chan struct{}
	once           sync.Once
	left           int // server→client bytes still allowed under CutAfter; guarded by Proxy.mu
}

func (l *link) close(reset bool) {
	l.once.Do(func() {
		if reset {
			setLinger0(l.client)
			setLinger0(l.server)
		}
		_ = l.client.Close()
		_ = l.server.Close()
		close(l.done)
	})
}

// setLinger0 makes Close send a reset rather than a graceful FIN, which is
// what a dropped network looks like to the peer.
func setLinger0(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// New starts a proxy on 127.0.0.1 (a free port) that forwards to target,
// which must be a loopback host:port. It starts in Pass mode.
func New(target string) (*Proxy, error) { return newProxy(target, false) }

// NewToNamespace is New for a target in a network namespace the test made
// on this machine (a veth peer): target must be a private IPv4 address
// (10.0.0.0/8), which such tests use, so nothing leaves the machine.
func NewToNamespace(target string) (*Proxy, error) { return newProxy(target, true) }

func newProxy(target string, private bool) (*Proxy, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	ip := net.ParseIP(host)
	switch {
	case host == "localhost" || (ip != nil && ip.IsLoopback()):
	case private && ip != nil && ip.To4() != nil && ip.To4()[0] == 10:
	case private:
		return nil, fmt.Errorf("faultproxy: target %q is not a namespace address in 10.0.0.0/8", target)
	default:
		return nil, fmt.Errorf("faultproxy: target %q is not a loopback address", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{
		target:  target,
		ln:      ln,
		changed: make(chan struct{}),
		links:   make(map[*link]struct{}),
		closing: make(chan struct{}),
	}
	p.life = time.AfterFunc(MaxLifetime, func() { _ = p.Close() })
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address, "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Pass forwards bytes unchanged from now on; held half-open connections
// resume.
func (p *Proxy) Pass() { p.setMode(modePass, 0, 0) }

// Delay holds every chunk, in both directions, for d before forwarding it.
func (p *Proxy) Delay(d time.Duration) { p.setMode(modeDelay, d, 0) }

// Drop resets every open connection, and resets new ones as soon as they
// are accepted, until the mode changes.
func (p *Proxy) Drop() { p.setMode(modeDrop, 0, 0) }

// CutAfter lets n more bytes through from the server to the client on each
// connection, open now or opened while the mode lasts, then closes both
// sides of that connection.
func (p *Proxy) CutAfter(n int) { p.setMode(modeCut, 0, max(n, 0)) }

// HalfOpen stops forwarding in both directions and stops passing on
// closes, silently: connections stay open and new ones are accepted, but
// nothing arrives, as when a mobile link dies without a reset.
func (p *Proxy) HalfOpen() { p.setMode(modeHalfOpen, 0, 0) }

// Accepted is how many connections the proxy has forwarded so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Cuts is how many connections CutAfter has cut so far.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *Proxy) setMode(m mode, d time.Duration, n int) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.mode, p.delay, p.cutAfter = m, d, n
	close(p.changed)
	p.changed = make(chan struct{})
	var drop []*link
	for l := range p.links {
		switch m {
		case modeCut:
			l.left = n
			if n == 0 {
				drop = append(drop, l)
			}
		case modeDrop:
			drop = append(drop, l)
		}
	}
	p.mu.Unlock()
	for _, l := range drop {
		l.close(m == modeDrop)
	}
}

// Close stops the proxy, closes every connection and waits for every
// goroutine it started. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	p.life.Stop()
	close(p.changed)
	close(p.closing)
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		l.close(false)
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				// Transient accept errors (out of descriptors) are
				// rare on loopback; back off a little and go on.
				time.Sleep(10 * time.Millisecond)
				p.mu.Lock()
				closed := p.closed
				p.mu.Unlock()
				if !closed {
					continue
				}
			}
			return
		}
		p.mu.Lock()
		refuse := p.closed || p.mode == modeDrop || len(p.links) >= MaxConns
		p.mu.Unlock()
		if refuse {
			setLinger0(c)
			_ = c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, dialTimeout)
		if err != nil {
			setLinger0(c)
			_ = c.Close()
			continue
		}
		l := &link{client: c, server: s, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed || p.mode == modeDrop {
			p.mu.Unlock()
			l.close(true)
			continue
		}
		p.accepted++
		p.links[l] = struct{}{}
		if p.mode == modeCut {
			l.left = p.cutAfter
		}
		im := p.impair
		p.links0++
		seed := p.links0
		p.wg.Add(2)
		p.mu.Unlock()
		if im.active() {
			go p.pumpImpaired(l, c, s, false, im, rand.New(rand.NewPCG(im.Seed, seed*2)))
			go p.pumpImpaired(l, s, c, true, im, rand.New(rand.NewPCG(im.Seed, seed*2+1)))
			continue
		}
		go p.pump(l, c, s, false)
		go p.pump(l, s, c, true)
	}
}

// pump copies src to dst under the current mode until either side ends,
// then closes the link. toClient marks the server→client direction.
func (p *Proxy) pump(l *link, src, dst net.Conn, toClient bool) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
		l.close(false)
	}()
	buf := make([]byte, chunkSize)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if !p.forward(l, dst, buf[:n], toClient) {
				return
			}
		}
		if rerr != nil {
			// A half-open link must not pass on the close either.
			p.waitWhileHalfOpen(l)
			return
		}
	}
}

// forward writes one chunk under the current mode; false ends the link.
func (p *Proxy) forward(l *link, dst net.Conn, chunk []byte, toClient bool) bool {
	if !p.waitWhileHalfOpen(l) {
		return false
	}
	p.mu.Lock()
	m, d := p.mode, p.delay
	cut := false
	if m == modeCut && toClient {
		if l.left < len(chunk) {
			chunk = chunk[:l.left]
			cut = true
		}
		l.left -= len(chunk)
		if cut {
			p.cuts++
		}
	}
	p.mu.Unlock()
	if m == modeDelay && d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return false
		}
	}
	if len(chunk) > 0 {
		_ = dst.SetWriteDeadline(time.Now().Add(writeTimeout))
		n, err := dst.Write(chunk)
		p.mu.Lock()
		if toClient {
			p.toClient += int64(n)
		} else {
			p.toServer += int64(n)
		}
		p.mu.Unlock()
		if err != nil {
			return false
		}
	}
	return !cut
}

// waitWhileHalfOpen blocks while the proxy is half-open; false means the
// link or the proxy closed meanwhile.
func (p *Proxy) waitWhileHalfOpen(l *link) bool {
	for {
		p.mu.Lock()
		m, ch, closed := p.mode, p.changed, p.closed
		p.mu.Unlock()
		if closed {
			return false
		}
		if m != modeHalfOpen {
			return true
		}
		select {
		case <-ch:
		case <-l.done:
			return false
		}
	}
}
