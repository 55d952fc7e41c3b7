package server

import (
	"time"

	"kmcr/sync/protocol"
)

// Batches are sized by bytes and adapted to the link: the session measures
// how fast its batches are acknowledged and aims each at about
// batchSeconds, so on a slow or dropping link every batch (and so every
// cursor step) completes within a few seconds, while a fast link gets
// batches of up to protocol.BatchBytes. The first batch is small, so a
// first sync shows progress at once and a link that drops every 15 s still
// moves the cursor each time.
const (
	batchSeconds    = 2.0
	firstBatchBytes = 64 << 10
	minBatchBytes   = 16 << 10
	batchRateWeight = 0.5 // weight of the newest measurement
)

// batchSizer measures a session's acknowledged throughput (document bytes
// per second, before compression) and sizes its next batch.
type batchSizer struct {
	rate    float64 // bytes per second; 0 until measured
	sentAt  map[uint64]sentBatch
	lastAck time.Time
}

type sentBatch struct {
	at    time.Time
	bytes int
}

// limit is the document bytes the next batch may carry.
func (bs *batchSizer) limit() int {
	if bs.rate == 0 {
		return firstBatchBytes
	}
	return min(max(int(bs.rate*batchSeconds), minBatchBytes), protocol.BatchBytes)
}

func (bs *batchSizer) sent(id uint64, bytes int, now time.Time) {
	if bs.sentAt == nil {
		bs.sentAt = map[uint64]sentBatch{}
	}
	bs.sentAt[id] = sentBatch{now, bytes}
}

// acked measures the batches acknowledged through id: the bytes over the
// time since the later of their sending and the previous ack (batches in
// flight together share the link).
func (bs *batchSizer) acked(id uint64, now time.Time) {
	bytes := 0
	var first time.Time
	for bid, s := range bs.sentAt {
		if bid > id {
			continue
		}
		bytes += s.bytes
		if first.IsZero() || s.at.Before(first) {
			first = s.at
		}
		delete(bs.sentAt, bid)
	}
	if bytes < minBatchBytes/4 || first.IsZero() {
		bs.lastAck = now
		return // too small to say anything about the link
	}
	start := first
	if bs.lastAck.After(start) {
		start = bs.lastAck
	}
	bs.lastAck = now
	d := now.Sub(start).Seconds()
	if d <= 0 {
		return
	}
	r := float64(bytes) / d
	if bs.rate == 0 {
		bs.rate = r
	} else {
		bs.rate = batchRateWeight*r + (1-batchRateWeight)*bs.rate
	}
}
