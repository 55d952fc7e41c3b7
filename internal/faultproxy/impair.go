package faultproxy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"time"
)

// Impairment models a poor mobile link in userspace, on top of the mode:
// latency and jitter (order kept, throughput not limited by them), the
// stalls that lost segments cause (a retransmission timeout on a share of
// segments), periodic drops, and optionally a rate. The rate is better set
// by the kernel (tbf on a veth between network namespaces); Rate here is
// for machines without root.
type Impairment struct {
	// RTT is added to every round trip: half to each direction.
	RTT time.Duration
	// Jitter adds up to this much more to each chunk, order kept.
	Jitter time.Duration
	// LossRate is the share of 1460-byte segments lost; a chunk holding a
	// lost segment stalls its direction for RTO, as TCP waits for the
	// retransmission.
	LossRate float64
	// RTO is a stall's length; zero means 200 ms plus RTT (Linux's floor
	// plus one round trip).
	RTO time.Duration
	// DropEvery and DropFor: every DropEvery the link drops for DropFor
	// (every connection reset, new ones refused), then comes back.
	DropEvery, DropFor time.Duration
	// DropFirst is when the first drop comes (zero: DropEvery-DropFor).
	DropFirst time.Duration
	// Rate, when set, limits each direction to this many bits per second.
	Rate int
	// Seed makes the losses repeatable.
	Seed uint64
}

// segment is the size Impairment's loss is counted over.
const segment = 1460

func (im Impairment) active() bool {
	return im.RTT > 0 || im.Jitter > 0 || im.LossRate > 0 || im.Rate > 0
}

func (im Impairment) rto() time.Duration {
	if im.RTO > 0 {
		return im.RTO
	}
	return 200*time.Millisecond + im.RTT
}

// String describes the impairment for logs and benchmark output.
func (im Impairment) String() string {
	s := fmt.Sprintf("RTT %v, jitter %v, loss %.1f%%", im.RTT, im.Jitter, im.LossRate*100)
	if im.Rate > 0 {
		s += fmt.Sprintf(", %d kbit/s (userspace)", im.Rate/1000)
	}
	if im.DropEvery > 0 {
		s += fmt.Sprintf(", drops for %v every %v", im.DropFor, im.DropEvery)
	}
	return s
}

// Impair applies im to connections opened from now on, and starts (or
// stops, when im has none) the drop cycle. It returns at once.
func (p *Proxy) Impair(im Impairment) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.impair = im
	if p.stopCycle != nil {
		close(p.stopCycle)
		p.stopCycle = nil
	}
	var stop chan struct{}
	if im.DropEvery > 0 && im.DropFor > 0 {
		stop = make(chan struct{})
		p.stopCycle = stop
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if stop != nil {
		go p.dropCycle(im, stop)
	}
}

// Drops is how many times the drop cycle has dropped the link.
func (p *Proxy) Drops() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.drops
}

func (p *Proxy) dropCycle(im Impairment, stop chan struct{}) {
	defer p.wg.Done()
	up := im.DropEvery - im.DropFor
	wait := up
	if im.DropFirst > 0 {
		wait = im.DropFirst
	}
	for {
		select {
		case <-time.After(wait):
		case <-stop:
			return
		case <-p.changedOrClosed():
			return
		}
		p.Drop()
		p.mu.Lock()
		p.drops++
		p.mu.Unlock()
		select {
		case <-time.After(im.DropFor):
		case <-stop:
			p.Pass()
			return
		}
		p.Pass()
		wait = up
	}
}

// changedOrClosed is a channel closed when the proxy closes.
func (p *Proxy) changedOrClosed() <-chan struct{} { return p.closing }

// delayed is a chunk on its way, due at a time.
type delayed struct {
	data []byte
	due  time.Time
}

// pumpImpaired copies src to dst through a delay line: a reader stamps each
// chunk with when it is due (latency, jitter, a stall for each lost
// segment, the rate), a writer delivers it then. At most 64 chunks wait,
// which bounds memory and pushes back on the sender.
func (p *Proxy) pumpImpaired(l *link, src, dst net.Conn, toClient bool, im Impairment, rng *rand.Rand) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
		l.close(false)
	}()
	line := make(chan delayed, 64)
	readerDone := make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(readerDone)
		defer close(line)
		var last time.Time // when the previous chunk is due: order is kept
		var free time.Time // when the rate limit lets the next byte go
		for {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				now := time.Now()
				due := now.Add(im.RTT / 2)
				if im.Jitter > 0 {
					due = due.Add(time.Duration(rng.Int64N(int64(im.Jitter))))
				}
				if im.Rate > 0 {
					if free.Before(now) {
						free = now
					}
					free = free.Add(time.Duration(float64(n*8) / float64(im.Rate) * float64(time.Second)))
					if f := free.Add(im.RTT / 2); due.Before(f) {
						due = f
					}
				}
				if due.Before(last) {
					due = last
				}
				// A lost segment holds up this chunk and everything
				// behind it until the retransmission arrives.
				if im.LossRate > 0 {
					for s := 0; s < n; s += segment {
						if rng.Float64() < im.LossRate {
							due = due.Add(im.rto())
							free = free.Add(im.rto())
						}
					}
				}
				last = due
				select {
				case line <- delayed{buf[:n], due}:
				case <-l.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range line {
		if d := time.Until(c.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return
			}
		}
		if !p.forward(l, dst, c.data, toClient) {
			return
		}
	}
	<-readerDone
	p.waitWhileHalfOpen(l)
}
