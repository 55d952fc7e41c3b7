package syncclient

import (
	"context"
	"sync"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// coalescingApplier is a fakeApplier that also takes several batches per
// call and is told of each batch as it arrives, recording both.
type coalescingApplier struct {
	*fakeApplier
	mu       sync.Mutex
	groups   [][]uint64 // batch ids per ApplyBatches call
	prepared map[*protocol.Batch]bool
	unready  int // batches applied before they were prepared

	// inFlight, when set, reports how many batches the server has sent
	// unacknowledged; the first commit waits until some are waiting, so
	// a loaded machine cannot hide the coalescing.
	inFlight func() int
}

var (
	_ BatchesApplier = (*coalescingApplier)(nil)
	_ Preparer       = (*coalescingApplier)(nil)
)

func (a *coalescingApplier) PrepareBatch(b *protocol.Batch) {
	a.mu.Lock()
	a.prepared[b] = true
	a.mu.Unlock()
}

func (a *coalescingApplier) ApplyBatches(bs []*protocol.Batch) error {
	a.mu.Lock()
	first := len(a.groups) == 0
	a.mu.Unlock()
	if first && a.inFlight != nil {
		for end := time.Now().Add(5 * time.Second); a.inFlight() < 3 && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(3 * time.Millisecond) // a slow commit, so batches queue up
	a.mu.Lock()
	var ids []uint64
	for _, b := range bs {
		ids = append(ids, b.ID)
		if !a.prepared[b] {
			a.unready++
		}
	}
	a.groups = append(a.groups, ids)
	a.mu.Unlock()
	for _, b := range bs {
		if err := a.fakeApplier.ApplyBatch(b); err != nil {
			return err
		}
	}
	return nil
}

func (a *coalescingApplier) ApplyBatch(b *protocol.Batch) error {
	return a.ApplyBatches([]*protocol.Batch{b})
}

// TestClient_SyncOnce_CoalescesWaitingBatches checks that batches waiting
// behind a slow commit are stored together, every batch is prepared before
// it is applied, each is acknowledged in order, and nothing is applied
// twice or skipped.
func TestClient_SyncOnce_CoalescesWaitingBatches(t *testing.T) {
	fs := newFakeServer(t, 600)
	ca := &coalescingApplier{prepared: map[*protocol.Batch]bool{}, inFlight: func() int {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return fs.maxInFlight
	}}
	tc := newTestClient(t, fs, "", func(c *Config) { c.Window = 8 })
	ca.fakeApplier = tc.app
	tc.Client.cfg.Applier = ca
	if err := tc.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, fs, tc.app)
	ca.mu.Lock()
	defer ca.mu.Unlock()
	var next uint64 = 1
	multi := 0
	for _, g := range ca.groups {
		if len(g) > maxCoalesce {
			t.Fatalf("%d batches in one call; at most %d", len(g), maxCoalesce)
		}
		if len(g) > 1 {
			multi++
		}
		for _, id := range g {
			if id != next {
				t.Fatalf("batch %d applied where %d was due: %v", id, next, ca.groups)
			}
			next++
		}
	}
	if multi == 0 {
		t.Fatalf("no batches were stored together: %v", ca.groups)
	}
	if ca.unready != 0 {
		t.Fatalf("%d batches were applied before they were prepared", ca.unready)
	}
}
