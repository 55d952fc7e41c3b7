package server

import (
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// TestBatchSizer_AdaptsToRate drives the sizer with the acks a link of a
// given rate would produce, batches pipelined as the window allows, and
// checks each batch then takes about batchSeconds, within the bounds.
func TestBatchSizer_AdaptsToRate(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate float64 // document bytes per second the link carries
		want int
	}{
		{"256 kbit/s, 10x compression", 320e3, int(320e3 * batchSeconds)},
		{"1 Mbit/s, no compression", 125e3, int(125e3 * batchSeconds)},
		{"very slow", 2e3, minBatchBytes},
		{"LAN", 200e6, protocol.BatchBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bs batchSizer
			if bs.limit() != firstBatchBytes {
				t.Fatalf("first limit %d", bs.limit())
			}
			now := time.Unix(1e9, 0)
			linkFree := now // when the link finishes what it has been given
			var id uint64
			inflight := []uint64{}
			done := map[uint64]time.Time{}
			for range 40 {
				for len(inflight) < 4 {
					id++
					n := bs.limit()
					bs.sent(id, n, now)
					start := linkFree
					if now.After(start) {
						start = now
					}
					linkFree = start.Add(time.Duration(float64(n) / tc.rate * float64(time.Second)))
					done[id] = linkFree
					inflight = append(inflight, id)
				}
				first := inflight[0]
				inflight = inflight[1:]
				now = done[first]
				bs.acked(first, now)
			}
			got := bs.limit()
			if got < tc.want*8/10 || got > tc.want*12/10 {
				t.Fatalf("limit %d after 40 batches; want about %d", got, tc.want)
			}
		})
	}
}
