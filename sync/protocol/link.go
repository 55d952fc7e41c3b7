package protocol

import (
	"math"
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

// linkMeter measures a connection's link. The rate counts a message's
// bytes over the time since the previous message arrived, when that gap
// is short (the peer is streaming); idle gaps are not a slow link.
type linkMeter struct {
	mu       sync.Mutex
	last     time.Time
	rate     float64
	rtt      time.Duration
	pingSent time.Time
}

// busyGap is the longest gap between messages still counted as streaming.
const busyGap = 3 * time.Second

func (l *linkMeter) received(n int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if gap := now.Sub(l.last); !l.last.IsZero() && gap < busyGap && n >= 1024 {
		r := float64(n) / math.Max(gap.Seconds(), 1e-3)
		if l.rate == 0 {
			l.rate = r
		} else {
			l.rate = 0.7*l.rate + 0.3*r
		}
	}
	l.last = now
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
	return Link{Compression: c.Compression(), RateIn: c.link.rate, RTT: c.link.rtt, LastContact: c.link.last}
}
