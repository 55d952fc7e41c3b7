package syncclient

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// scriptedWelcome is the Welcome scripted sessions start with.
func scriptedWelcome(fs *fakeServer) *protocol.Welcome {
	return &protocol.Welcome{Protocol: protocol.Version, Epoch: fs.epoch, Mode: protocol.ModeFull, Total: 2, ServerTime: time.Now()}
}

// scriptedBatch is a full-sync batch of the given patients.
func scriptedBatch(fs *fakeServer, id uint64, nhs ...string) *protocol.Batch {
	b := &protocol.Batch{ID: id, Cursor: protocol.Cursor{Epoch: fs.epoch, Seq: 1, Phase: protocol.PhaseFull, After: nhs[len(nhs)-1]},
		Range: &protocol.NHSRange{Through: nhs[len(nhs)-1]}}
	for _, n := range nhs {
		b.Upserts = append(b.Upserts, fakeMeta(n, 1, protocol.RelCaseload))
		b.Docs = append(b.Docs, fakeDoc(n))
	}
	return b
}

// TestClient_SyncOnce_ServerViolations checks every message the server
// may not send in the state it sends it closes the connection with the
// documented code, and nothing of it is stored.
func TestClient_SyncOnce_ServerViolations(t *testing.T) {
	nhs := nhsNumbers(6)
	badCheck := nhs[0][:9] + string('0'+(nhs[0][9]-'0'+1)%10)
	now := time.Now()
	tests := []struct {
		name     string
		send     func(fs *fakeServer) []protocol.Message
		wantCode int
		wantErr  error
		stored   int // batches the client may have stored
	}{
		{"batch before welcome", func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{scriptedBatch(fs, 1, nhs[0])}
		}, protocol.CloseOutOfOrder, nil, 0},
		{"up to date before welcome", func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{&protocol.UpToDate{AsOf: now}}
		}, protocol.CloseOutOfOrder, nil, 0},
		{"batch id skipped", func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{scriptedWelcome(fs), scriptedBatch(fs, 2, nhs[0])}
		}, protocol.CloseOutOfOrder, nil, 0},
		{"batch id repeated", func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{scriptedWelcome(fs), scriptedBatch(fs, 1, nhs[0]), scriptedBatch(fs, 1, nhs[1])}
		}, protocol.CloseOutOfOrder, nil, 1},
		{"second welcome", func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{scriptedWelcome(fs), scriptedWelcome(fs)}
		}, protocol.CloseOutOfOrder, nil, 0},
		{"audit ack for no upload", func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{scriptedWelcome(fs), &protocol.AuditAck{ID: 9, Through: 5}}
		}, protocol.CloseOutOfOrder, nil, 0},
		{"break-glass result for no request", func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{scriptedWelcome(fs), &protocol.BreakGlassResult{RequestID: "nope"}}
		}, protocol.CloseOutOfOrder, nil, 0},
		{"client message", func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{scriptedWelcome(fs), &protocol.Ack{ID: 1}}
		}, protocol.CloseOutOfOrder, nil, 0},
		{"malformed batch", func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{scriptedWelcome(fs), scriptedBatch(fs, 1, nhs[1], badCheck)}
		}, protocol.CloseProtocolError, ErrBadBatch, 0},
		{"window exceeded", func(fs *fakeServer) []protocol.Message {
			var ms []protocol.Message = []protocol.Message{scriptedWelcome(fs)}
			for i := range 6 { // window 4; the client acks slowly
				ms = append(ms, scriptedBatch(fs, uint64(i+1), nhs[i]))
			}
			return ms
		}, protocol.CloseFlowControl, nil, 5},
		{"wrong version", func(fs *fakeServer) []protocol.Message {
			w := scriptedWelcome(fs)
			w.Protocol = protocol.Version + 1
			return []protocol.Message{w}
		}, protocol.CloseBadVersion, ErrIncompatible, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t, 0)
			fs.script = func(ss *srvSession) {
				for _, m := range tt.send(fs) {
					if ss.send(m) != nil {
						break
					}
				}
			}
			tc := newTestClient(t, fs, "", nil)
			tc.app.delay = 50 * time.Millisecond
			err := tc.SyncOnce(t.Context())
			if err == nil {
				t.Fatal("SyncOnce succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("SyncOnce = %v; want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !strings.Contains(err.Error(), "protocol violation by the server") {
				t.Fatalf("SyncOnce = %v", err)
			}
			waitFor(t, 10*time.Second, "the client's close", func() bool { return len(fs.snapshot().clientClose) > 0 })
			if got := fs.snapshot().clientClose[0]; got != tt.wantCode {
				t.Fatalf("client closed with %d (%s); want %d (%s)", got, protocol.CloseText(got), tt.wantCode, protocol.CloseText(tt.wantCode))
			}
			cur, docs, _, _, _, _ := tc.app.view()
			if tt.stored == 0 && (!cur.IsZero() || len(docs) != 0) {
				t.Fatalf("stored %d docs, cursor %+v from a refused session", len(docs), cur)
			}
			if len(docs) > tt.stored {
				t.Fatalf("stored %d docs; at most %d expected", len(docs), tt.stored)
			}
		})
	}
}
