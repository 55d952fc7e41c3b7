package audit

import (
	"testing"
	"time"
)

// BenchmarkAppend measures what the client adds to each access: validate,
// chain, canonical encoding and hash (the store here is in memory).
func BenchmarkAppend(b *testing.B) {
	m := &memStore{}
	e := validEvent(ActionView)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Append(m, e); err != nil {
			b.Fatal(err)
		}
		m.events, m.bytes = m.events[:0], m.bytes[:0] // keep the head, drop the copies
	}
}

// BenchmarkVerifyBatch1000 measures the server verifying a batch of 1,000
// new events (decode, re-encode, hash, link, clock checks, one signature);
// events/s is the figure to hold against the 10,000-events-in-2-s budget.
func BenchmarkVerifyBatch1000(b *testing.B) {
	m := mustChain(b, 1000)
	batch := m.uploads(1, 1000)
	head := sign(m.head)
	pub := mustPub()
	state := DeviceChain{DeviceID: testDevice}
	received := t0.Add(1000 * time.Minute)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		r, err := VerifyBatch(state, pub, batch, head, nil, received)
		if err != nil || len(r.Accepted) != 1000 {
			b.Fatal(err, len(r.Accepted))
		}
	}
	b.ReportMetric(float64(b.N)*1000/time.Since(start).Seconds(), "events/s")
}

// BenchmarkDecode compares Decode with the encoding/json path it falls back
// to, measured in the same run: the ratio is what the fast path buys.
func BenchmarkDecode(b *testing.B) {
	c := chained(ActionView).Canonical()
	for _, bm := range []struct {
		name   string
		decode func([]byte) (Event, error)
	}{{"fast", Decode}, {"encoding-json", decodeSlow}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bm.decode(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
