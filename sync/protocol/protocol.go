// Package protocol is the kmcr sync wire format: the HTTPS login API, the
// websocket subprotocol, its typed messages, their codec, limits and close
// codes, and a connection wrapper that owns the heartbeat and the single
// writer goroutine that gorilla/websocket requires.
//
// It imports nothing else from kmcr: the server and the client both depend
// on it, and it depends on neither. docs/protocol.md is the human-readable
// specification; the constants here are its source of truth.
//
// # Frames
//
// Every websocket message is one binary frame:
//
//	type (1 byte) | header length (4 bytes, big endian) | header (JSON) | payload
//
// The header is a small JSON object whose shape depends on the type. Only
// batches (documents) and audit uploads (events) carry a payload: the raw
// bytes of each item, concatenated, with their sizes listed in the header, so
// the large documents are never re-encoded as JSON strings.
package protocol

import (
	"fmt"
	"time"
)

// Subprotocol is the websocket subprotocol name; its suffix is the protocol
// version. A server that cannot speak it refuses the upgrade.
const Subprotocol = "kmcr.sync.v1"

// Version is the newest protocol revision, carried in Hello and Welcome;
// MinVersion the oldest a server still speaks. A server answers in the
// client's revision. Revision 2 adds Hello.Rollback.
const (
	Version    = 2
	MinVersion = 1
)

// HTTP paths served by kmcr-server.
const (
	PathHealth    = "/healthz"
	PathLogin     = "/v1/login"
	PathRefresh   = "/v1/token"
	PathSync      = "/v1/sync"
	PathAccessLog = "/v1/access-log"
	PathAlerts    = "/v1/alerts"
	// PathDispatchIncidents takes a dispatch system's incidents: POST
	// opens or updates one, DELETE PathDispatchIncidents+"/{id}" ends it.
	PathDispatchIncidents = "/v1/dispatch/incidents"
)

// Limits. Each is enforced by the side that receives.
const (
	// MaxServerMessage bounds a message from the server (read limit on the
	// client): a batch of documents plus its header.
	MaxServerMessage = 8 << 20
	// MaxClientMessage bounds a message from a client (read limit on the
	// server): an audit upload is the largest.
	MaxClientMessage = 2 << 20
	// MaxHeader bounds the JSON header of any message.
	MaxHeader = 1 << 20
	// MaxDocument bounds one patient document; a larger one is withheld
	// with a reason rather than sent, so nothing is silently truncated.
	MaxDocument = 6 << 20
	// BatchBytes and BatchCount bound a batch the server builds: it closes
	// a batch when either is reached (a single larger document goes alone).
	BatchBytes = 1 << 20
	BatchCount = 256
	// MaxWindow bounds the flow-control window a client may ask for: the
	// number of batches the server may send before it waits for an ack.
	MaxWindow = 16
	// DefaultWindow is the window a client asks for by default.
	DefaultWindow = 8
	// MaxAuditBatch bounds the number of events in one audit upload.
	MaxAuditBatch = 1000
	// MaxAuditEvent bounds one canonical audit event.
	MaxAuditEvent = 64 << 10
)

// Timing. A half-open connection is noticed by whichever side next misses
// a pong: at most PingInterval+ReadTimeout, well under a minute.
const (
	PingInterval = 15 * time.Second
	ReadTimeout  = 40 * time.Second
	WriteTimeout = 10 * time.Second
	// HandshakeTimeout bounds TLS plus the websocket upgrade.
	HandshakeTimeout = 10 * time.Second
	// AccessTokenTTL is how long an access token lasts; the refresh
	// credential gets a new one.
	AccessTokenTTL = 15 * time.Minute
	// RefreshTTL is how long an unused refresh credential lasts.
	RefreshTTL = 30 * 24 * time.Hour
	// RefreshGrace is how long, at most, a refresh credential still works
	// after it was exchanged, so an answer lost on a failing link (the
	// client then holds only the old credential) does not log the user
	// out when the link comes back. It ends sooner, as soon as the client
	// opens a sync session with the access token from the new answer.
	RefreshGrace = 24 * time.Hour
)

// Timeouts groups the connection timings so tests can shorten them.
type Timeouts struct {
	Ping  time.Duration
	Read  time.Duration
	Write time.Duration
}

// DefaultTimeouts are the production timings.
var DefaultTimeouts = Timeouts{Ping: PingInterval, Read: ReadTimeout, Write: WriteTimeout}

// Close codes sent in the websocket close frame (4000-4999 is the private
// range). Each is documented in docs/protocol.md with what the client does.
const (
	CloseNormal          = 1000 // websocket: normal closure
	CloseGoingAway       = 1001 // websocket: server shutting down or client leaving
	CloseMessageTooBig   = 1009 // websocket: sent by the library when the read limit is exceeded
	CloseProtocolError   = 4000 // malformed frame or header, or a field out of range
	CloseTokenExpired    = 4001 // access token expired: refresh, then reconnect at once
	CloseUnauthorized    = 4002 // token missing or invalid: log in again
	CloseDeviceRevoked   = 4003 // device revoked: wipe the local cache
	CloseBadVersion      = 4004 // unsupported protocol version
	CloseTooLarge        = 4005 // a message over its limit (header, document, batch)
	CloseUnknownType     = 4006 // unknown message type
	CloseOutOfOrder      = 4007 // a message not allowed in the current state
	CloseFlowControl     = 4008 // more unacknowledged batches than the window
	CloseServerShutdown  = 4009 // server draining: reconnect with backoff
	CloseInternalError   = 4011 // server fault: reconnect with backoff
	CloseHeartbeatTimout = 4012 // no frame or pong within the read timeout
)

// CloseText names a close code for people.
func CloseText(code int) string {
	switch code {
	case CloseNormal:
		return "normal closure"
	case CloseGoingAway:
		return "going away"
	case CloseMessageTooBig:
		return "message too big"
	case CloseProtocolError:
		return "protocol error"
	case CloseTokenExpired:
		return "access token expired"
	case CloseUnauthorized:
		return "not authorised"
	case CloseDeviceRevoked:
		return "device revoked"
	case CloseBadVersion:
		return "unsupported protocol version"
	case CloseTooLarge:
		return "message too large"
	case CloseUnknownType:
		return "unknown message type"
	case CloseOutOfOrder:
		return "message out of order"
	case CloseFlowControl:
		return "flow control window exceeded"
	case CloseServerShutdown:
		return "server shutting down"
	case CloseInternalError:
		return "server error"
	case CloseHeartbeatTimout:
		return "heartbeat timeout"
	}
	return fmt.Sprintf("close code %d", code)
}

// Cursor says how far a device's cache reflects the server. Epoch names
// the server's store: a store restored from backup gets a new one, and a
// cursor from another epoch forces a clean resync. Seq is the server change
// sequence the cache reflects. During a full sync (Phase "full") After is
// the last NHS number applied in NHS-number order, so an interrupted first
// sync resumes where it stopped.
type Cursor struct {
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
	Phase string `json:"phase"`           // "" (nothing yet), "full", or "live"
	After string `json:"after,omitempty"` // full phase only
}

// Cursor phases.
const (
	PhaseNone = ""
	PhaseFull = "full"
	PhaseLive = "live"
)

// IsZero reports whether the cursor is the "nothing synced yet" cursor.
func (c Cursor) IsZero() bool { return c.Epoch == "" && c.Seq == 0 && c.Phase == "" }
