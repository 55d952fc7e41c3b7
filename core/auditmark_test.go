package core

import (
	"testing"
	"time"

	"kmcr/internal/memsecrets"
)

// The mark finds a head behind the last clean close, and behind the
// reserved block, but never a head that merely failed to commit.
func TestMarkKeeper_DetectsRollback(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	sec := memsecrets.New()
	var k markKeeper
	k.logf = t.Logf
	if r, err := k.open(sec, "dev1", 0, now); r != nil || err != nil {
		t.Fatalf("new mark: %v %v", r, err)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		k.reserve(seq)
	}
	k.closed(10)
	if r, err := k.open(sec, "dev1", 10, now); r != nil || err != nil {
		t.Fatalf("same head after a clean close: %v %v", r, err)
	}
	k.closed(10)
	r, err := k.open(sec, "dev1", 7, now)
	if err != nil || r == nil || r.FoundSeq != 7 || r.AllocatedSeq != 10 {
		t.Fatalf("restored to 7 after closing at 10: %+v %v", r, err)
	}
	if p := k.pending(); p == nil || *p != *r {
		t.Fatalf("pending %+v, want %+v", p, r)
	}
	// Restoring again before the report reached the server keeps it.
	k.closed(7)
	r2, _ := k.open(sec, "dev1", 5, now.Add(time.Hour))
	if r2 == nil || r2.FoundSeq != 5 || r2.AllocatedSeq != 10 || !r2.DetectedAt.Equal(now) {
		t.Fatalf("second restore: %+v", r2)
	}
	if err := k.reported(*r2); err != nil || k.pending() != nil {
		t.Fatalf("reported: %v, pending %+v", err, k.pending())
	}

	// A crash (no clean close) after a block was reserved: a head one
	// block behind is a rollback, a failed commit at the block's start is not.
	var c markKeeper
	c.logf = t.Logf
	if _, err := c.open(sec, "dev2", 0, now); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 300; seq++ {
		c.reserve(seq)
	}
	if c.mark.Reserved != 256+256 {
		t.Fatalf("reserved %d after 300 events, want 512", c.mark.Reserved)
	}
	var d markKeeper
	d.logf = t.Logf
	if r, _ := d.open(sec, "dev2", 256, now); r != nil {
		t.Fatalf("head at the block's start flagged: %+v", r)
	}
	var e markKeeper
	e.logf = t.Logf
	if r, _ := e.open(sec, "dev2", 100, now); r == nil || r.AllocatedSeq != 256 {
		t.Fatalf("head a block behind: %+v", r)
	}
	if sec.Len() != 2 {
		t.Errorf("%d keyring entries, want one mark per device", sec.Len())
	}
}
