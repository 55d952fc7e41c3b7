package server

import (
	"errors"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// TestSession_NoHello_ClosedAfterReadTimeout: a connection that answers
// pings but never sends its hello is closed after one read timeout (2 s
// in tests), with a close code that says why, rather than held for ever.
func TestSession_NoHello_ClosedAfterReadTimeout(t *testing.T) {
	ts := newTestServer(t, 0)
	ts.addUser("amy", "paramedic")
	tok, _ := ts.login("amy", devID(1))
	c := ts.dial(tok.AccessToken)
	start := time.Now()
	_, err := c.Receive() // reading answers the server's pings
	took := time.Since(start)
	var ce *protocol.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseOutOfOrder {
		t.Fatalf("got %v, want a close %d", err, protocol.CloseOutOfOrder)
	}
	if took < 1500*time.Millisecond || took > 15*time.Second {
		t.Fatalf("closed after %v, want about the 2 s read timeout", took)
	}
}
