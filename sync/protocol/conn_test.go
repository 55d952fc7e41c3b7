package protocol

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

var fastTimeouts = Timeouts{Ping: 50 * time.Millisecond, Read: 300 * time.Millisecond, Write: time.Second}

// pair starts a TLS websocket server on loopback whose handler gets the
// raw server-side websocket, and returns the client side wrapped in a Conn.
func pair(t *testing.T, readLimit int64, handle func(ws *websocket.Conn)) *Conn {
	t.Helper()
	return pairWith(t, fastTimeouts, readLimit, handle)
}

// pairWith is pair with the client side's timeouts chosen.
func pairWith(t *testing.T, to Timeouts, readLimit int64, handle func(ws *websocket.Conn)) *Conn {
	t.Helper()
	up := websocket.Upgrader{Subprotocols: []string{Subprotocol}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		handle(ws)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	d := websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig, Subprotocols: []string{Subprotocol}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(ws, to, readLimit)
	t.Cleanup(func() { c.Close(CloseNormal, "") })
	return c
}

// TestConn_SendReceive checks typed messages cross a real TLS websocket in
// both directions, with concurrent senders sharing the one writer.
func TestConn_SendReceive(t *testing.T) {
	c := pair(t, MaxServerMessage, func(ws *websocket.Conn) {
		sc := NewConn(ws, fastTimeouts, MaxClientMessage)
		for {
			m, err := sc.Receive()
			if err != nil {
				return
			}
			ack := m.(*Ack)
			if err := sc.Send(context.Background(), &AuditAck{ID: ack.ID, Through: ack.ID}); err != nil {
				return
			}
		}
	})
	var wg sync.WaitGroup
	for i := 1; i <= 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := c.Send(context.Background(), &Ack{ID: uint64(i)}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	seen := map[uint64]bool{}
	for len(seen) < 20 {
		m, err := c.Receive()
		if err != nil {
			t.Fatal(err)
		}
		seen[m.(*AuditAck).ID] = true
	}
	wg.Wait()
}

// TestConn_HalfOpen checks a peer that stops answering is noticed within
// the read timeout, by the heartbeat, not never.
func TestConn_HalfOpen(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	c := pair(t, MaxServerMessage, func(ws *websocket.Conn) {
		<-hold // never reads, so never answers a ping
		ws.Close()
	})
	start := time.Now()
	_, err := c.Receive()
	if CloseCode(err) != CloseHeartbeatTimout {
		t.Fatalf("Receive error = %v; want heartbeat timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second { // read timeout 300ms; slack for a busy machine
		t.Fatalf("half-open connection noticed after %v", d)
	}
}

// TestConn_Heartbeat_KeepsIdleConnection checks an idle but live
// connection survives several read timeouts thanks to pings and pongs.
func TestConn_Heartbeat_KeepsIdleConnection(t *testing.T) {
	// Pings far inside the read timeout, so a busy machine's scheduling
	// stalls cannot drop a live link; the idle time spans three timeouts.
	idle := Timeouts{Ping: 100 * time.Millisecond, Read: 800 * time.Millisecond, Write: time.Second}
	c := pairWith(t, idle, MaxServerMessage, func(ws *websocket.Conn) {
		sc := NewConn(ws, idle, MaxClientMessage)
		time.Sleep(3 * idle.Read)
		_ = sc.Send(context.Background(), &Wipe{Reason: "after idle"})
		_, _ = sc.Receive()
	})
	m, err := c.Receive()
	if err != nil {
		t.Fatalf("idle connection dropped: %v", err)
	}
	if w, ok := m.(*Wipe); !ok || w.Reason != "after idle" {
		t.Fatalf("got %#v", m)
	}
}

// TestConn_Receive_DroppedIsNotRemoteClose checks a connection that ends
// without a close frame is reported as dropped, not as a close code 1006
// from the peer.
func TestConn_Receive_DroppedIsNotRemoteClose(t *testing.T) {
	c := pair(t, MaxServerMessage, func(ws *websocket.Conn) {
		ws.NetConn().Close()
	})
	_, err := c.Receive()
	if !errors.Is(err, io.ErrUnexpectedEOF) || CloseCode(err) != 0 {
		t.Fatalf("Receive error = %v (close code %d); want a dropped connection", err, CloseCode(err))
	}
}

// TestConn_Malformed checks a garbage frame closes the connection with the
// documented code, which the sender sees.
func TestConn_Malformed(t *testing.T) {
	got := make(chan error, 1)
	c := pair(t, MaxServerMessage, func(ws *websocket.Conn) {
		sc := NewConn(ws, fastTimeouts, MaxClientMessage)
		_, err := sc.Receive()
		got <- err
	})
	// Bypass the codec: write a frame with an unknown type.
	c.ws.WriteMessage(websocket.BinaryMessage, []byte{42, 0, 0, 0, 2, '{', '}'})
	serverErr := <-got
	if !errors.Is(serverErr, ErrUnknownType) {
		t.Fatalf("server error = %v", serverErr)
	}
	_, err := c.Receive()
	if CloseCode(err) != CloseUnknownType {
		t.Fatalf("client saw %v; want close code %d", err, CloseUnknownType)
	}
}

// TestConn_ReadLimit checks an oversized message is refused with a close.
func TestConn_ReadLimit(t *testing.T) {
	got := make(chan error, 1)
	c := pair(t, MaxServerMessage, func(ws *websocket.Conn) {
		sc := NewConn(ws, fastTimeouts, 1024)
		_, err := sc.Receive()
		got <- err
	})
	big := &AuditUpload{ID: 1, Seqs: []uint64{1}, Head: SignedHead{Seq: 1, Hash: make([]byte, 32), Sig: make([]byte, 64)}, Events: [][]byte{make([]byte, 4096)}}
	_ = c.Send(context.Background(), big)
	if err := <-got; CloseCode(err) != CloseMessageTooBig {
		t.Fatalf("server error = %v", err)
	}
	_, err := c.Receive()
	if code := CloseCode(err); code != CloseMessageTooBig && code != CloseTooLarge {
		t.Fatalf("client saw %v; want %d or %d", err, CloseMessageTooBig, CloseTooLarge)
	}
}

// TestConn_SendAfterClose checks sends fail cleanly once closed.
func TestConn_SendAfterClose(t *testing.T) {
	c := pair(t, MaxServerMessage, func(ws *websocket.Conn) {
		sc := NewConn(ws, fastTimeouts, MaxClientMessage)
		_, _ = sc.Receive()
	})
	c.Close(CloseNormal, "bye")
	if err := c.Send(context.Background(), &Ack{ID: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
}

// TestTruncateReason checks close reasons fit a close frame and stay UTF-8.
func TestTruncateReason(t *testing.T) {
	s := truncateReason(strings.Repeat("é", 100))
	if len(s) > 123 || !strings.HasPrefix(strings.Repeat("é", 100), s) {
		t.Fatalf("bad truncation %q", s)
	}
}
