package syncclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// TestClient_BreakGlass_Granted checks a granted request returns only once
// the batch carrying the document has been applied.
func TestClient_BreakGlass_Granted(t *testing.T) {
	fs := newFakeServer(t, 10)
	tc := newTestClient(t, fs, "", nil)
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := tc.BreakGlass(ctx, fs.bgNHS, "emergency-treatment", "  unconscious at scene, no ID  ")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Granted || res.ExpiresAt.IsZero() {
		t.Fatalf("result %+v", res)
	}
	if _, docs, _, _, _, _ := tc.app.view(); docs[fs.bgNHS] != protocol.RelBreakGlass {
		t.Fatalf("document not applied when BreakGlass returned: %q", docs[fs.bgNHS])
	}
}

// TestClient_BreakGlass_Refused checks a refusal is a result, not an error.
func TestClient_BreakGlass_Refused(t *testing.T) {
	fs := newFakeServer(t, 10)
	tc := newTestClient(t, fs, "", nil)
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	res, err := tc.BreakGlass(t.Context(), fs.patients[0].nhs, "unplanned-care", "walk-in")
	if err != nil || res.Granted || res.Error == "" {
		t.Fatalf("BreakGlass = %+v, %v; want a refusal with a reason", res, err)
	}
}

// TestClient_BreakGlass_Rejected checks requests that cannot be made fail
// before anything is sent.
func TestClient_BreakGlass_Rejected(t *testing.T) {
	fs := newFakeServer(t, 1)
	tc := newTestClient(t, fs, "", nil)
	tests := []struct {
		name, nhs, code, text string
		want                  error
	}{
		{"offline", fs.bgNHS, "emergency-treatment", "unconscious", ErrOffline},
		{"bad number", "12345", "emergency-treatment", "unconscious", nil},
		{"unknown reason", fs.bgNHS, "curiosity", "unconscious", nil},
		{"no free text", fs.bgNHS, "emergency-treatment", "   ", nil},
		{"text too long", fs.bgNHS, "other", strings.Repeat("a", protocol.MaxText+1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tc.BreakGlass(t.Context(), tt.nhs, tt.code, tt.text)
			if err == nil || res != nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("BreakGlass = %v, %v; want an error %v", res, err, tt.want)
			}
		})
	}
	if n := len(fs.snapshot().hellos); n != 0 {
		t.Fatalf("%d sessions opened", n)
	}
}

// TestClient_BreakGlass_ConnectionLost checks a caller waiting for an
// answer is told when the connection ends first.
func TestClient_BreakGlass_ConnectionLost(t *testing.T) {
	fs := newFakeServer(t, 1)
	fs.script = func(ss *srvSession) {
		_ = ss.send(&protocol.Welcome{Protocol: protocol.Version, Epoch: fs.epoch, Mode: protocol.ModeLive})
		_ = ss.send(&protocol.UpToDate{Cursor: protocol.Cursor{Epoch: fs.epoch, Seq: 1, Phase: protocol.PhaseLive}, AsOf: time.Now()})
		for {
			m, err := ss.conn.Receive()
			if err != nil {
				return
			}
			if _, ok := m.(*protocol.BreakGlass); ok {
				ss.conn.Close(protocol.CloseInternalError, "server fault")
				return
			}
		}
	}
	tc := newTestClient(t, fs, "", nil)
	tc.serve(t)
	waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
	_, err := tc.BreakGlass(t.Context(), fs.bgNHS, "emergency-treatment", "unconscious")
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "may have been recorded") {
		t.Fatalf("BreakGlass = %v", err)
	}
}

// TestClient_BreakGlass_Orders checks the call completes whichever way the
// server orders the answer and the document, and when the document is
// withheld after the grant.
func TestClient_BreakGlass_Orders(t *testing.T) {
	tests := []struct {
		name    string
		order   []string // "result", "doc", "delete"
		wantDoc bool
	}{
		{"answer then document", []string{"result", "doc"}, true},
		{"document then answer", []string{"doc", "result"}, true},
		{"answer then withheld", []string{"result", "delete"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t, 1)
			fs.script = func(ss *srvSession) {
				cur := protocol.Cursor{Epoch: fs.epoch, Seq: 1, Phase: protocol.PhaseLive}
				_ = ss.send(&protocol.Welcome{Protocol: protocol.Version, Epoch: fs.epoch, Mode: protocol.ModeLive})
				_ = ss.send(&protocol.UpToDate{Cursor: cur, AsOf: time.Now()})
				id := uint64(0)
				for {
					m, err := ss.conn.Receive()
					if err != nil {
						return
					}
					bg, ok := m.(*protocol.BreakGlass)
					if !ok {
						continue
					}
					for _, what := range tt.order {
						var out protocol.Message
						switch what {
						case "result":
							out = &protocol.BreakGlassResult{RequestID: bg.RequestID, Granted: true, ExpiresAt: time.Now().Add(time.Hour)}
						case "doc":
							id++
							out = &protocol.Batch{ID: id, Cursor: cur, Upserts: []protocol.DocMeta{fakeMeta(bg.NHS, 1, protocol.RelBreakGlass)}, Docs: [][]byte{fakeDoc(bg.NHS)}}
						case "delete":
							id++
							out = &protocol.Batch{ID: id, Cursor: cur, Deletes: []protocol.Delete{{NHS: bg.NHS, Reason: protocol.DelObjection}}}
						}
						if ss.send(out) != nil {
							return
						}
					}
				}
			}
			tc := newTestClient(t, fs, "", nil)
			tc.serve(t)
			waitState(t, tc, 20*time.Second, "up to date", isUpToDate)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			res, err := tc.BreakGlass(ctx, fs.bgNHS, "safeguarding", "concern raised by neighbour")
			if err != nil || !res.Granted {
				t.Fatalf("BreakGlass = %+v, %v", res, err)
			}
			if _, docs, _, _, _, _ := tc.app.view(); (docs[fs.bgNHS] != "") != tt.wantDoc {
				t.Fatalf("document present %v; want %v", docs[fs.bgNHS] != "", tt.wantDoc)
			}
		})
	}
}
