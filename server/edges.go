package server

import (
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"kmcr/internal/safetext"
	"kmcr/sync/protocol"
)

// Listener timeouts (see Serve). writeTimeout leaves room for a login
// that waits for a password-hash slot (hashWait) and then hashes.
const (
	headerTimeout  = 10 * time.Second
	readTimeout    = 20 * time.Second
	writeTimeout   = 60 * time.Second
	idleTimeout    = 60 * time.Second
	maxHeaderBytes = 64 << 10
)

// hotConnsPerSecond is how many new connections a second an address under
// a login delay or lock may open: enough for its devices' reconnects, too
// few for a flood to spend the server's CPU on TLS handshakes.
const hotConnsPerSecond = 10

// limitListener closes, as soon as it is accepted, a connection from an
// address that already holds max open connections, or that is hot (under
// a login delay or lock) and opened hotConnsPerSecond this second.
type limitListener struct {
	net.Listener
	max  int
	hot  func(src string) bool // nil: none is
	logf func(string, ...any)

	mu      sync.Mutex
	open    map[string]int
	refused map[string]time.Time // last time a refusal was logged, per address
	second  time.Time            // the second recent counts
	recent  map[string]int       // hot addresses' new connections this second
}

func newLimitListener(ln net.Listener, max int, logf func(string, ...any)) net.Listener {
	return &limitListener{Listener: ln, max: max, logf: logf, open: map[string]int{}, refused: map[string]time.Time{}, recent: map[string]int{}}
}

// overRate counts a new connection of a hot address and says whether it
// is over this second's allowance. l.mu is held.
func (l *limitListener) overRate(src string, now time.Time) bool {
	if l.hot == nil || !l.hot(src) {
		return false
	}
	if sec := now.Truncate(time.Second); !sec.Equal(l.second) {
		l.second, l.recent = sec, map[string]int{}
	}
	l.recent[src]++
	return l.recent[src] > hotConnsPerSecond
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c.RemoteAddr().String())
		l.mu.Lock()
		now := time.Now()
		if l.open[src] >= l.max || l.overRate(src, now) {
			logIt := now.Sub(l.refused[src]) > time.Minute
			if logIt {
				l.refused[src] = now
			}
			l.mu.Unlock()
			_ = c.Close()
			if logIt {
				l.logf("refusing connections from %s: over its limit (%d open, or %d a second while its logins are throttled)", src, l.max, hotConnsPerSecond)
			}
			continue
		}
		l.open[src]++
		l.mu.Unlock()
		return &limitConn{Conn: c, l: l, src: src}, nil
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	src  string
	once sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.open[c.src]--; c.l.open[c.src] <= 0 {
			delete(c.l.open, c.src)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// limitDeviceSessions refuses a sync upgrade whose token names a device
// that already holds MaxSessionsPerDevice sessions. Requests without a
// valid token pass through: the session refuses them with a close code.
func (s *Service) limitDeviceSessions(next http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	open := map[string]int{}
	return func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get(protocol.AuthHeader), "Bearer ")
		c, err := s.tok.check(tok, s.now())
		if err != nil {
			next(w, r)
			return
		}
		mu.Lock()
		if open[c.Device] >= s.cfg.MaxSessionsPerDevice {
			mu.Unlock()
			throttledError(w, 5*time.Second, "this device has too many sync connections open")
			return
		}
		open[c.Device]++
		mu.Unlock()
		defer func() {
			mu.Lock()
			if open[c.Device]--; open[c.Device] <= 0 {
				delete(open, c.Device)
			}
			mu.Unlock()
		}()
		next(w, r)
	}
}

// nhsInText finds what may be an NHS number in a log line: ten digits,
// alone or spaced 3-3-4.
var nhsInText = regexp.MustCompile(`\b\d{3}[ -]?\d{3}[ -]?\d{4}\b`)

// safeLogf wraps the service's log so that every line is safe to show: no
// control characters or bidi overrides from client-supplied strings (user
// names, host names), and no NHS numbers, whatever a caller formats. A
// patient is never named in the server log; the audit trail is where
// accesses are recorded.
func safeLogf(logf func(string, ...any)) func(string, ...any) {
	return func(format string, args ...any) {
		line := safetext.Sprintf(format, args...)
		line = nhsInText.ReplaceAllString(line, "[NHS number]")
		logf("%s", line)
	}
}
