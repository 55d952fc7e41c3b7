package syncclient

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"
)

// checkAuditDelivered fails unless the server stored events 1..n once
// each and the client's queue is empty.
func checkAuditDelivered(t *testing.T, fs *fakeServer, app *fakeApplier, n int) {
	t.Helper()
	snap := fs.snapshot()
	if len(snap.audit) != n {
		t.Fatalf("server stored %d events; want %d", len(snap.audit), n)
	}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		if _, ok := snap.audit[seq]; !ok {
			t.Fatalf("event %d not stored", seq)
		}
	}
	if _, _, _, _, _, queued := app.view(); queued != 0 {
		t.Fatalf("%d events still queued", queued)
	}
}

// TestClient_SyncOnce_AuditUploadsInBatches checks a large queue goes up
// in uploads within the count and byte limits, each acked and deleted
// exactly through its Through.
func TestClient_SyncOnce_AuditUploadsInBatches(t *testing.T) {
	tests := []struct {
		name       string
		events     int
		size       int
		wantCounts []int
	}{
		{"count bound", 2500, 300, []int{1000, 1000, 500}},
		{"byte bound", 800, 3000, []int{349, 349, 102}}, // 1 MiB / 3000 bytes = 349
		{"one event", 1, 200, []int{1}},
		{"empty queue", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t, 3)
			tc := newTestClient(t, fs, "", nil)
			tc.app.queue(tt.events, tt.size)
			if err := tc.SyncOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
			checkAuditDelivered(t, fs, tc.app, tt.events)
			var counts []int
			var wantAcks []uint64
			through := uint64(0)
			for _, u := range fs.snapshot().uploads {
				counts = append(counts, u[0])
				if u[1] > auditUploadBytes {
					t.Fatalf("upload of %d bytes; limit %d", u[1], auditUploadBytes)
				}
				through += uint64(u[0])
				wantAcks = append(wantAcks, through)
			}
			if !slices.Equal(counts, tt.wantCounts) {
				t.Fatalf("upload sizes %v; want %v", counts, tt.wantCounts)
			}
			if _, _, _, _, acks, _ := tc.app.view(); !slices.Equal(acks, wantAcks) {
				t.Fatalf("AckAudit calls %v; want %v", acks, wantAcks)
			}
			if s := tc.State(); s.PendingAudit != 0 {
				t.Fatalf("state says %d events pending", s.PendingAudit)
			}
		})
	}
}

// TestClient_Serve_AuditAckLost checks events whose ack was lost to a cut
// are sent again on the next connection and stored once by the server.
func TestClient_Serve_AuditAckLost(t *testing.T) {
	fs := newFakeServer(t, 3)
	fs.cutAudit = 1 // store the first upload, then cut before acking
	tc := newTestClient(t, fs, "", nil)
	tc.app.queue(1500, 200)
	tc.serve(t)
	waitFor(t, 10*time.Second, "the queue to empty", func() bool { return tc.app.QueuedAudit() == 0 })
	checkAuditDelivered(t, fs, tc.app, 1500)
	snap := fs.snapshot()
	if snap.auditDupes < 1000 || len(snap.hellos) < 2 {
		t.Fatalf("duplicates %d over %d sessions; want the first 1000 again on a later session", snap.auditDupes, len(snap.hellos))
	}
	// The client deleted only what was acknowledged: each ack is the end
	// of an upload (1000 events, then the remaining 500).
	_, _, _, _, acks, _ := tc.app.view()
	if len(acks) < 2 || acks[0] != 1000 || acks[len(acks)-1] != 1500 {
		t.Fatalf("AckAudit calls %v", acks)
	}
	for _, a := range acks {
		if a != 1000 && a != 1500 {
			t.Fatalf("AckAudit calls %v", acks)
		}
	}
}

// TestClient_Serve_FlushAuditUploadsNewEvents checks events written while
// live go up when the client core nudges.
func TestClient_Serve_FlushAuditUploadsNewEvents(t *testing.T) {
	fs := newFakeServer(t, 3)
	tc := newTestClient(t, fs, "", nil)
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	for i := range 3 {
		tc.app.queue(2, 100)
		tc.FlushAudit()
		waitFor(t, 20*time.Second, "the new events delivered", func() bool { return len(fs.snapshot().audit) == 2*(i+1) })
	}
	waitState(t, tc, 20*time.Second, "nothing pending", func(s State) bool { return s.PendingAudit == 0 })
}

// TestClient_SyncOnce_AuditNotAcknowledged checks SyncOnce never reports
// success while the audit queue is not acknowledged.
func TestClient_SyncOnce_AuditNotAcknowledged(t *testing.T) {
	tests := []struct {
		name string
		mode int
		want string
	}{
		{"no ack", auditAckNone, `^audit upload not acknowledged: context canceled$`},
		{"nothing stored", auditAckZero, `^audit upload not acknowledged: the server stored none of audit events 1\.\.5$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t, 3)
			fs.auditAck = tt.mode
			tc := newTestClient(t, fs, "", nil)
			tc.app.queue(5, 100)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go func() { // give up once the upload is stored and not acked
				for len(fs.snapshot().uploads) == 0 && ctx.Err() == nil {
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond)
				cancel()
			}()
			err := tc.SyncOnce(ctx)
			if err == nil || !regexp.MustCompile(tt.want).MatchString(err.Error()) {
				t.Fatalf("SyncOnce = %v; want %s", err, tt.want)
			}
			if _, _, _, _, _, queued := tc.app.view(); queued != 5 {
				t.Fatalf("%d events queued; the unacknowledged 5 must stay", queued)
			}
		})
	}
}
