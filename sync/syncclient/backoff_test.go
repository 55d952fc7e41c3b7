package syncclient

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestBackoff_Ceiling_DoublesToCap checks the exponential bound and its cap.
func TestBackoff_Ceiling_DoublesToCap(t *testing.T) {
	b := DefaultBackoff
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for n, w := range want {
		if got := b.Ceiling(n); got != w {
			t.Errorf("Ceiling(%d) = %v; want %v", n, got, w)
		}
	}
	if got := b.Ceiling(1000); got != b.Cap {
		t.Errorf("Ceiling(1000) = %v; want the cap", got)
	}
	huge := Backoff{Base: time.Hour, Cap: 1<<63 - 1, StableAfter: time.Minute}
	if got := huge.Ceiling(80); got != huge.Cap {
		t.Errorf("Ceiling overflowed: %v", got)
	}
}

// TestBackoff_Delay_SeededSchedule checks full jitter: each delay is in
// [0, ceiling), the schedule is reproducible from a seed, and it spreads.
func TestBackoff_Delay_SeededSchedule(t *testing.T) {
	b := DefaultBackoff
	schedule := func(seed uint64) []time.Duration {
		r := rand.New(rand.NewPCG(seed, 1))
		var out []time.Duration
		for n := range 10 {
			out = append(out, b.Delay(n, r))
		}
		return out
	}
	a, again, other := schedule(42), schedule(42), schedule(43)
	same := 0
	for n := range a {
		if a[n] != again[n] {
			t.Fatalf("seed 42 gave %v then %v at attempt %d", a[n], again[n], n)
		}
		if a[n] < 0 || a[n] >= b.Ceiling(n) {
			t.Errorf("attempt %d: delay %v outside [0, %v)", n, a[n], b.Ceiling(n))
		}
		if a[n] == other[n] {
			same++
		}
	}
	if same == len(a) {
		t.Error("different seeds gave the same schedule")
	}
	// Full jitter: the mean of many draws is about half the ceiling.
	r := rand.New(rand.NewPCG(7, 7))
	var sum time.Duration
	const draws = 10000
	for range draws {
		sum += b.Delay(3, r)
	}
	if mean, half := sum/draws, b.Ceiling(3)/2; mean < half*9/10 || mean > half*11/10 {
		t.Errorf("mean delay %v; want about %v", mean, half)
	}
}

// TestRetry_Next_ResetsAfterStableConnection checks the attempt count
// grows across quick failures and starts again after a stable connection.
func TestRetry_Next_ResetsAfterStableConnection(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Cap: time.Second, StableAfter: time.Minute}
	r := retry{b: b, rng: rand.New(rand.NewPCG(1, 2))}
	steps := []struct {
		upFor       time.Duration
		wantAttempt int // the attempt whose ceiling bounds this delay
	}{
		{0, 0}, {0, 1}, {time.Second, 2}, {0, 3}, {0, 4}, {0, 5},
		{time.Minute, 0}, // stayed up: start again
		{0, 1},
	}
	for i, s := range steps {
		d := r.next(s.upFor)
		if d >= b.Ceiling(s.wantAttempt) {
			t.Fatalf("step %d: delay %v not below ceiling %v", i, d, b.Ceiling(s.wantAttempt))
		}
		if r.attempt != s.wantAttempt+1 {
			t.Fatalf("step %d: next attempt %d; want %d", i, r.attempt, s.wantAttempt+1)
		}
	}
}
