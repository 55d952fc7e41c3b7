package protocol

import (
	"strconv"
	"sync"
	"time"
)

// Link is what a connection has measured of its link, for an honest status
// line: the rate at which messages arrive while data is flowing, the round
// trip of the last ping, and when the peer was last heard from.
type Link struct {
	Compression string        // negotiated compression, "" for none
	RateIn      float64       // bytes per second received while data flows (0: not measured yet)
	RTT         time.Duration // last ping's round trip (0: not measured yet)
	LastContact time.Time     // last message, ping or pong from the peer
}

// linkMeter measures a connection's link. The rate is measured over
// bursts: messages arriving less than burstGap apart are one transfer, and
// the rate is the bytes of every burst so far (after each one's first
// message) over their total duration. An idle link is not a slow one, so
// gaps between bursts do not count.
type linkMeter struct {
	mu         sync.Mutex
	last       time.Time // last contact of any kind
	lastMsg    time.Time
	burstStart time.Time
	burstBytes int
	busyBytes  int           // finished bursts' bytes
	busyTime   time.Duration // and durations
	rtt        time.Duration
	pingSent   time.Time
}

const (
	burstGap      = 2 * time.Second
	minBurst      = 500 * time.Millisecond
	minBurstBytes = 16 << 10
)

func (l *linkMeter) received(n int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastMsg.IsZero() || now.Sub(l.lastMsg) > burstGap {
		if d := l.lastMsg.Sub(l.burstStart); d > 0 {
			l.busyBytes += l.burstBytes
			l.busyTime += d
		}
		l.burstStart, l.burstBytes = now, 0
	} else {
		l.burstBytes += n
	}
	l.lastMsg, l.last = now, now
}

// rate is the bytes per second over every burst so far, the current one
// included, once they are long enough to say.
func (l *linkMeter) rateNow() float64 {
	b, d := l.busyBytes, l.busyTime
	if cur := l.lastMsg.Sub(l.burstStart); cur > 0 {
		b, d = b+l.burstBytes, d+cur
	}
	if d < minBurst || b < minBurstBytes {
		return 0
	}
	return float64(b) / d.Seconds()
}

func (l *linkMeter) contact() {
	l.mu.Lock()
	l.last = time.Now()
	l.mu.Unlock()
}

// ping returns the payload of a ping: its send time, echoed by the pong.
func (l *linkMeter) ping() []byte {
	now := time.Now()
	l.mu.Lock()
	l.pingSent = now
	l.mu.Unlock()
	return strconv.AppendInt(nil, now.UnixNano(), 10)
}

func (l *linkMeter) pong(data string) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = now
	if ns, err := strconv.ParseInt(data, 10, 64); err == nil && ns == l.pingSent.UnixNano() {
		l.rtt = now.Sub(l.pingSent)
	}
}

// Link reports what the connection has measured.
func (c *Conn) Link() Link {
	c.link.mu.Lock()
	defer c.link.mu.Unlock()
	return Link{Compression: c.Compression(), RateIn: c.link.rateNow(), RTT: c.link.rtt, LastContact: c.link.last}
}
