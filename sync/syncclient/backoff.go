package syncclient

import (
	"errors"
	"math/rand/v2"
	"time"
)

// Backoff is the reconnect schedule: full-jitter exponential backoff. The
// delay before reconnect attempt n (counting from 0) is drawn uniformly
// from [0, min(Cap, Base·2ⁿ)). The count starts again once a connection
// has stayed up for StableAfter, so one drop after a long session is
// retried quickly while a server that accepts and then drops at once is
// not hammered. Jitter spreads the reconnects of many clients after a
// server restart.
type Backoff struct {
	Base        time.Duration // ceiling of the first delay
	Cap         time.Duration // largest ceiling
	StableAfter time.Duration // a connection up this long resets the schedule
}

// DefaultBackoff is the production schedule.
var DefaultBackoff = Backoff{Base: 500 * time.Millisecond, Cap: 30 * time.Second, StableAfter: 60 * time.Second}

func (b Backoff) validate() error {
	if b.Base <= 0 || b.Cap < b.Base || b.StableAfter <= 0 {
		return errors.New("client config: backoff wants 0 < Base <= Cap and StableAfter > 0")
	}
	return nil
}

// Ceiling is the upper bound of the delay before attempt n:
// min(Cap, Base·2ⁿ), computed without overflow.
func (b Backoff) Ceiling(attempt int) time.Duration {
	d := b.Base
	for i := 0; i < attempt && d < b.Cap; i++ {
		if d > b.Cap/2 {
			return b.Cap
		}
		d *= 2
	}
	return min(d, b.Cap)
}

// Delay draws the delay before attempt n from [0, Ceiling(n)) using r.
func (b Backoff) Delay(attempt int, r *rand.Rand) time.Duration {
	c := b.Ceiling(attempt)
	if c <= 0 {
		return 0
	}
	return time.Duration(r.Int64N(int64(c)))
}

// retry is Serve's place in the Backoff schedule.
type retry struct {
	b       Backoff
	rng     *rand.Rand
	attempt int
}

// next returns the delay before the next attempt, given how long the
// connection that just ended stayed up: one that stayed up StableAfter
// starts the schedule again.
func (r *retry) next(upFor time.Duration) time.Duration {
	r.settle(upFor)
	d := r.b.Delay(r.attempt, r.rng)
	r.attempt++
	return d
}

// settle starts the schedule again when the connection that just ended
// stayed up StableAfter, and reports whether it did.
func (r *retry) settle(upFor time.Duration) bool {
	if upFor >= r.b.StableAfter {
		r.attempt = 0
		return true
	}
	return false
}

// round is the client's place in one round of its addresses: how many
// failed since the last backoff delay or the last stable connection.
// Every address is tried once before a delay of the backoff schedule.
type round struct {
	size  int // addresses configured
	count int // failures in this round
}

// failed records a failure and reports whether a backoff step comes
// before the next attempt. stable says the connection that ended stayed
// up StableAfter (a new round starts), moved that the client has moved
// to another address. A failure that did not move on (one address, or a
// failure on this device) ends the round; so does the one that completes
// it.
func (r *round) failed(stable, moved bool) (backoff bool) {
	if stable {
		r.count = 0
	}
	r.count++
	if moved && r.count < r.size {
		return false
	}
	r.count = 0
	return true
}
