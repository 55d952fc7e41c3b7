package syncclient

import (
	"fmt"
	"time"
)

// StateKind is what the connection is doing, in the words the status bar
// uses.
type StateKind int

// Connection states.
const (
	// Offline: no connection. Err says why when an attempt failed, and
	// RetryIn when the next attempt is due.
	Offline StateKind = iota
	// Connecting: refreshing the token, dialling, or waiting for the
	// server's Welcome.
	Connecting
	// Syncing: connected, and a full or catch-up sync is arriving; Done of
	// Total documents applied.
	Syncing
	// UpToDate: connected and current; live changes are applied as they
	// happen. AsOf is when the server last declared the cache complete.
	UpToDate
	// Error: something the user must act on (log in again, device
	// revoked, untrusted certificate, update the client, local storage
	// failing). Err says what; RetryIn is set if the client keeps trying.
	Error
)

// String names the state as the status bar shows it.
func (k StateKind) String() string {
	switch k {
	case Offline:
		return "offline"
	case Connecting:
		return "connecting"
	case Syncing:
		return "syncing"
	case UpToDate:
		return "up to date"
	case Error:
		return "error"
	}
	return fmt.Sprintf("state %d", int(k))
}

// State is a truthful snapshot of the connection for the status bar.
type State struct {
	Kind StateKind
	// Done and Total count documents in a full or catch-up sync.
	Done, Total int
	// AsOf is the server's time when it last declared this client up to
	// date (zero if not since the Client was made).
	AsOf time.Time
	// PendingAudit is the number of audit events queued on this device,
	// or -1 if the Applier cannot count them cheaply (see AuditCounter).
	PendingAudit int
	// Err is the reason for Error, and for Offline after a failure.
	Err string
	// RetryIn is the delay before the next attempt, when one is scheduled.
	RetryIn time.Duration
	// Server is the address this state is about: the node connected to,
	// being tried, or tried next (see Config.Servers).
	Server string
}

// String renders the state for logs and a plain-text status line.
func (s State) String() string {
	var out string
	switch s.Kind {
	case Syncing:
		out = fmt.Sprintf("syncing %d of %d", s.Done, s.Total)
	case UpToDate:
		out = "up to date as of " + s.AsOf.UTC().Format(time.RFC3339)
	default:
		out = s.Kind.String()
	}
	if s.Err != "" {
		out += ": " + s.Err
	}
	if s.RetryIn > 0 {
		out += fmt.Sprintf(" (retrying in %s)", s.RetryIn.Round(100*time.Millisecond))
	}
	return out
}

// setState records s (keeping AsOf and PendingAudit current) and reports
// it to OnState if it changed. It is called only from the goroutine running
// Serve or SyncOnce, so reports arrive in order.
func (c *Client) setState(s State) {
	s.PendingAudit = c.queuedAudit()
	s.Server = c.Server()
	c.mu.Lock()
	if s.AsOf.IsZero() {
		s.AsOf = c.state.AsOf
	}
	changed := s != c.state
	c.state = s
	c.mu.Unlock()
	if changed {
		c.cfg.OnState(s)
	}
}

// queuedAudit asks the Applier for its queue length if it can tell.
func (c *Client) queuedAudit() int {
	if ac, ok := c.cfg.Applier.(AuditCounter); ok {
		return ac.QueuedAudit()
	}
	return -1
}
