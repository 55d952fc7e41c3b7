package server

import (
	"container/list"
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// Login throttling. Failures are counted per user name (existing or not,
// so the answer reveals nothing) and per source address. From the
// freeFailures'th failure on, each further attempt must wait an
// exponentially growing delay, refused at once (no password hash) while
// it runs, and such a refused attempt counts as a failure too; at
// lockFailures the name or address is locked for lockFor and one alert is
// raised. A success clears the user's count, not the
// address's.
const (
	freeFailures  = 5
	lockFailures  = 20
	lockFor       = 15 * time.Minute
	maxDelay      = 5 * time.Minute
	failureMemory = time.Hour // a count with no failure for this long is forgotten
	maxTracked    = 20000     // names or addresses tracked before forgetting the oldest
)

// Password-hash admission. Each Argon2id verification takes 64 MiB and
// about a second of CPU, so at most hashSlots run at once; a waiting
// request waits hashWait at most and a full queue refuses at once, so a
// flood answers fast instead of making every login wait. Waiters whose
// user and address have no recent failure are served first, so a flood's
// queued attempts cannot sit ahead of a good login.
const (
	hashSlots    = 4
	hashQueueMax = 32
	hashWait     = 1500 * time.Millisecond
)

// failures is one name's or address's recent failed logins.
type failures struct {
	n      int
	last   time.Time
	until  time.Time // attempts before this are refused without hashing
	locked bool      // until is a lock (alert raised)
}

// loginGuard keeps the failure counts and the hash semaphore.
type loginGuard struct {
	mu      sync.Mutex
	users   map[string]*failures
	sources map[string]*failures

	busy    int
	waiting [2]*list.List // [0] clean waiters, [1] suspect waiters
}

func newLoginGuard() *loginGuard {
	return &loginGuard{users: map[string]*failures{}, sources: map[string]*failures{}, waiting: [2]*list.List{list.New(), list.New()}}
}

// sourceOf is the address a request came from, without its port.
func sourceOf(remoteAddr string) string {
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return h
	}
	return remoteAddr
}

// throttled says whether an attempt for user from source must be refused
// now, and for how long.
func (g *loginGuard) throttled(user, source string, now time.Time) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	wait := time.Duration(0)
	for _, f := range []*failures{g.users[user], g.sources[source]} {
		if f != nil && now.Before(f.until) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	return wait, wait > 0
}

// suspect says whether user or source has failures on record.
func (g *loginGuard) suspect(user, source string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range []*failures{g.users[user], g.sources[source]} {
		if f != nil && f.n > 0 && now.Sub(f.last) < failureMemory {
			return true
		}
	}
	return false
}

// lockout describes a lock a failure just caused, for the alert.
type lockout struct {
	what, key string // "user" or "address", and which
	n         int
}

// failed records a failed attempt and returns the locks it started.
func (g *loginGuard) failed(user, source string, now time.Time) []lockout {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []lockout
	for _, t := range []struct {
		m         map[string]*failures
		what, key string
	}{{g.users, "user", user}, {g.sources, "address", source}} {
		f := t.m[t.key]
		if f == nil || now.Sub(f.last) >= failureMemory {
			if len(t.m) >= maxTracked {
				forget(t.m, now)
			}
			f = &failures{}
			t.m[t.key] = f
		}
		f.n++
		f.last = now
		switch {
		case f.n >= lockFailures:
			f.until = now.Add(lockFor)
			if !f.locked {
				f.locked = true
				out = append(out, lockout{t.what, t.key, f.n})
			}
		case f.n >= freeFailures:
			f.until = now.Add(min(maxDelay, time.Second<<(f.n-freeFailures)))
		}
	}
	return out
}

// succeeded clears the user's failures after a correct password.
func (g *loginGuard) succeeded(user string) {
	g.mu.Lock()
	delete(g.users, user)
	g.mu.Unlock()
}

// forget drops counts older than failureMemory, and if none is that old
// the oldest half, so a flood of new names cannot grow the map unbounded.
func forget(m map[string]*failures, now time.Time) {
	for k, f := range m {
		if now.Sub(f.last) >= failureMemory && !now.Before(f.until) {
			delete(m, k)
		}
	}
	if len(m) < maxTracked {
		return
	}
	var oldest time.Time
	for _, f := range m {
		if oldest.IsZero() || f.last.Before(oldest) {
			oldest = f.last
		}
	}
	cut := oldest.Add(now.Sub(oldest) / 2)
	for k, f := range m {
		if f.last.Before(cut) && !now.Before(f.until) { // delays and locks in force stay
			delete(m, k)
		}
	}
}

// errHashBusy is returned by acquire when no hash slot came free in time
// or the queue is full.
var errHashBusy = fmt.Errorf("the server is busy checking other logins")

// acquire takes a hash slot, waiting hashWait at most; suspect attempts
// queue behind clean ones. The caller must release a slot it got.
func (g *loginGuard) acquire(ctx context.Context, suspect bool) error {
	g.mu.Lock()
	if g.busy < hashSlots && g.waiting[0].Len() == 0 && g.waiting[1].Len() == 0 {
		g.busy++
		g.mu.Unlock()
		return nil
	}
	if g.waiting[0].Len()+g.waiting[1].Len() >= hashQueueMax {
		g.mu.Unlock()
		return errHashBusy
	}
	lane := 0
	if suspect {
		lane = 1
	}
	ready := make(chan struct{})
	el := g.waiting[lane].PushBack(ready)
	g.mu.Unlock()
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case <-ready:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-ready: // handed a slot while giving up: pass it on
		g.releaseLocked()
	default:
		g.waiting[lane].Remove(el)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errHashBusy
}

// release returns a hash slot, handing it to the first clean waiter, else
// the first suspect one.
func (g *loginGuard) release() {
	g.mu.Lock()
	g.releaseLocked()
	g.mu.Unlock()
}

func (g *loginGuard) releaseLocked() {
	for _, l := range g.waiting {
		if el := l.Front(); el != nil {
			l.Remove(el)
			close(el.Value.(chan struct{}))
			return // the slot passes on: busy is unchanged
		}
	}
	g.busy--
}

// queued reports how many attempts wait for a hash slot.
func (g *loginGuard) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting[0].Len() + g.waiting[1].Len()
}
