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
// about a second of CPU, so at most hashSlots run at once, and at most
// slotsPerSource for one address: a flood from one address holds one slot
// and leaves the others to everyone else. A request waits hashWait at most
// and a full queue refuses at once, as does an address with failures on
// record whose slot is taken, so a flood is answered fast instead of
// making every login wait. Waiters whose user and address have no recent
// failure are served first. A flood from many addresses at once can still
// fill every slot: then good logins are refused fast (429, Retry-After),
// never kept waiting.
const (
	hashSlots      = 4
	slotsPerSource = 1
	hashQueueMax   = 128
	hashWait       = 1500 * time.Millisecond
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
	hashing map[string]int // slots held, by address
	waiting *list.List     // of *waiter, oldest first
}

// waiter is a login waiting for a hash slot.
type waiter struct {
	ready   chan struct{}
	source  string
	suspect bool
}

func newLoginGuard() *loginGuard {
	return &loginGuard{users: map[string]*failures{}, sources: map[string]*failures{}, hashing: map[string]int{}, waiting: list.New()}
}

// sourceOf is the address a request came from, without its port. An IPv6
// address counts by its /64, the block one subscriber is usually given, so
// rotating through it gains nothing.
func sourceOf(remoteAddr string) string {
	h, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		h = remoteAddr
	}
	if ip := net.ParseIP(h); ip != nil && ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return h
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

// sourceThrottled says whether an address is under a login delay or lock.
func (g *loginGuard) sourceThrottled(source string, now time.Time) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.sources[source]; f != nil && now.Before(f.until) {
		return f.until.Sub(now), true
	}
	return 0, false
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

// acquire takes a hash slot for an attempt from source, waiting hashWait
// at most; suspect attempts queue behind clean ones. The caller must
// release the slot it got, with the same source.
func (g *loginGuard) acquire(ctx context.Context, source string, suspect bool) error {
	g.mu.Lock()
	if g.busy < hashSlots && g.hashing[source] < slotsPerSource && g.waiting.Len() == 0 {
		g.take(source)
		g.mu.Unlock()
		return nil
	}
	// A queue that is full, or an address with failures on record whose
	// slot is taken, is refused at once: a flood is answered fast.
	if g.waiting.Len() >= hashQueueMax || (suspect && g.hashing[source] >= slotsPerSource) {
		g.mu.Unlock()
		return errHashBusy
	}
	w := &waiter{ready: make(chan struct{}), source: source, suspect: suspect}
	el := g.waiting.PushBack(w)
	g.dispatchLocked() // a slot may be free for this one but not the head
	g.mu.Unlock()
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case <-w.ready:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-w.ready: // handed a slot while giving up: pass it on
		g.releaseLocked(source)
	default:
		g.waiting.Remove(el)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errHashBusy
}

func (g *loginGuard) take(source string) {
	g.busy++
	g.hashing[source]++
}

// release returns source's hash slot and hands free slots on.
func (g *loginGuard) release(source string) {
	g.mu.Lock()
	g.releaseLocked(source)
	g.mu.Unlock()
}

func (g *loginGuard) releaseLocked(source string) {
	g.busy--
	if g.hashing[source]--; g.hashing[source] <= 0 {
		delete(g.hashing, source)
	}
	g.dispatchLocked()
}

// dispatchLocked gives free slots to waiters: the oldest clean one whose
// address may take a slot, else the oldest such suspect one.
func (g *loginGuard) dispatchLocked() {
	for g.busy < hashSlots {
		var pick *list.Element
		for _, wantSuspect := range []bool{false, true} {
			for el := g.waiting.Front(); el != nil && pick == nil; el = el.Next() {
				w := el.Value.(*waiter)
				if w.suspect == wantSuspect && g.hashing[w.source] < slotsPerSource {
					pick = el
				}
			}
		}
		if pick == nil {
			return
		}
		w := g.waiting.Remove(pick).(*waiter)
		g.take(w.source)
		close(w.ready)
	}
}

// queued reports how many attempts wait for a hash slot.
func (g *loginGuard) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting.Len()
}
