package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// startTarget runs a loopback server that hands each connection to serve.
func startTarget(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// mustProxy starts a proxy to target that is closed when the test ends.
func mustProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads the echo, within a deadline.
func roundTrip(c net.Conn, msg string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

// TestNew_RejectsNonLoopback checks the proxy only ever forwards on loopback.
func TestNew_RejectsNonLoopback(t *testing.T) {
	for _, target := range []string{"192.0.2.1:80", "example.org:443", "nonsense"} {
		if p, err := New(target); err == nil {
			p.Close()
			t.Errorf("New(%q) accepted a non-loopback target", target)
		}
	}
}

// TestProxy_Pass_Echo checks bytes cross unchanged in both directions.
func TestProxy_Pass_Echo(t *testing.T) {
	p := mustProxy(t, startTarget(t, echo))
	c := dial(t, p)
	for _, msg := range []string{"hello", strings.Repeat("x", 100<<10)} {
		got, err := roundTrip(c, msg)
		if err != nil || got != msg {
			t.Fatalf("round trip of %d bytes: err %v, equal %v", len(msg), err, got == msg)
		}
	}
	if p.Accepted() != 1 {
		t.Fatalf("Accepted = %d", p.Accepted())
	}
	// Each pump counts a chunk once its write has returned, which can be
	// just after the peer has already read it: wait (bounded) for the
	// counts to settle, then require them exact.
	want := int64(len("hello") + 100<<10)
	var toClient, toServer int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		toClient, toServer = p.Bytes()
		if (toClient >= want && toServer >= want) || time.Now().After(deadline) {
			break
		}
	}
	if toClient != want || toServer != want {
		t.Fatalf("Bytes = %d to the client, %d to the server; want %d each", toClient, toServer, want)
	}
}

// TestProxy_Delay_HoldsEachChunk checks a round trip takes at least two delays.
func TestProxy_Delay_HoldsEachChunk(t *testing.T) {
	p := mustProxy(t, startTarget(t, echo))
	c := dial(t, p)
	const delay = 250 * time.Millisecond
	p.Delay(delay)
	start := time.Now()
	if got, err := roundTrip(c, "ping"); err != nil || got != "ping" {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if d := time.Since(start); d < 2*delay {
		t.Fatalf("round trip took %v; want at least two delays", d)
	}
	p.Pass()
	start = time.Now()
	if _, err := roundTrip(c, "ping"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 2*delay {
		t.Fatalf("Pass still delays: %v", d)
	}
}

// TestProxy_Drop_ResetsExistingAndNew checks Drop ends open connections,
// refuses new ones, and Pass lets new ones through again.
func TestProxy_Drop_ResetsExistingAndNew(t *testing.T) {
	p := mustProxy(t, startTarget(t, echo))
	old := dial(t, p)
	if _, err := roundTrip(old, "a"); err != nil {
		t.Fatal(err)
	}
	p.Drop()
	if _, err := roundTrip(old, "b"); err == nil || isTimeout(err) {
		t.Fatalf("open connection survived Drop: %v", err)
	}
	// A new connection is reset at once; the reset may even beat the
	// end of the dial.
	if fresh, err := net.DialTimeout("tcp", p.Addr(), 10*time.Second); err == nil {
		_, err = roundTrip(fresh, "c")
		fresh.Close()
		if err == nil || isTimeout(err) {
			t.Fatalf("new connection forwarded during Drop: %v", err)
		}
	}
	p.Pass()
	if got, err := roundTrip(dial(t, p), "d"); err != nil || got != "d" {
		t.Fatalf("after Pass: %q, %v", got, err)
	}
}

// TestProxy_CutAfter_MidStream checks exactly n server→client bytes arrive
// before the cut, on open connections and on new ones alike.
func TestProxy_CutAfter_MidStream(t *testing.T) {
	stream := bytes.Repeat([]byte("0123456789"), 50<<10)
	target := startTarget(t, func(c net.Conn) {
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err != nil { // wait for the go
			return
		}
		_, _ = c.Write(stream)
	})
	p := mustProxy(t, target)
	open := dial(t, p)
	time.Sleep(20 * time.Millisecond) // let the proxy accept it
	const n = 1234
	p.CutAfter(n)
	for i, c := range []net.Conn{open, dial(t, p)} {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if isTimeout(err) {
			t.Fatalf("connection %d not cut", i)
		}
		if len(got) != n || !bytes.Equal(got, stream[:n]) {
			t.Fatalf("connection %d: got %d bytes before the cut; want %d", i, len(got), n)
		}
	}
	if p.Cuts() != 2 {
		t.Fatalf("Cuts = %d; want 2", p.Cuts())
	}
}

// TestProxy_HalfOpen_Silent checks nothing is forwarded and no close is
// passed on while half-open, and that Pass resumes a held connection.
func TestProxy_HalfOpen_Silent(t *testing.T) {
	serverGone := make(chan struct{})
	target := startTarget(t, func(c net.Conn) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		_, _ = c.Write(buf)
		// The server then hangs up: the client must not hear of it.
		c.Close()
		close(serverGone)
	})
	p := mustProxy(t, target)
	c := dial(t, p)
	time.Sleep(20 * time.Millisecond)
	p.HalfOpen()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 5)
	if _, err := c.Read(buf); !isTimeout(err) {
		t.Fatalf("read during half-open = %v; want a timeout", err)
	}
	select {
	case <-serverGone:
		t.Fatal("bytes reached the server while half-open")
	default:
	}
	// New connections are accepted but carry nothing either.
	c2 := dial(t, p)
	_ = c2.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c2.Read(buf); !isTimeout(err) {
		t.Fatalf("new connection during half-open = %v; want a timeout", err)
	}
	p.Pass()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("after Pass: %q, %v", buf, err)
	}
}

// TestProxy_Close_EndsEverything checks Close ends all connections and
// every goroutine the proxy started, and is safe to repeat.
func TestProxy_Close_EndsEverything(t *testing.T) {
	p, err := New(startTarget(t, echo))
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 5 {
		conns = append(conns, dial(t, p))
	}
	p.HalfOpen()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("connection open after Close: %v", err)
		}
	}
	// Close has waited for every goroutine's Done; one may still be on
	// its way out of the function, so give them a moment to be gone.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "faultproxy.(*Proxy)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy goroutines left after Close:\n%s", stacks)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}
