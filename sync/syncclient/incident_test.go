package syncclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// incidentApplier is a fakeApplier that keeps the open incidents, as the
// client core does, and can refuse a list.
type incidentApplier struct {
	*fakeApplier
	mu    sync.Mutex
	lists []protocol.Incidents // every list applied, in order
	fail  error                // returned by the next ApplyIncidents
}

func (a *incidentApplier) ApplyIncidents(in *protocol.Incidents) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		err := a.fail
		a.fail = nil
		return err
	}
	a.lists = append(a.lists, *in)
	return nil
}

func (a *incidentApplier) applied() []protocol.Incidents {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.lists)
}

// plainApplier hides every optional interface of the Applier it wraps: a
// client core from before incidents existed.
type plainApplier struct{ Applier }

// incidentBatch is a live batch carrying incident documents.
func incidentBatch(fs *fakeServer, id uint64, nhs ...string) *protocol.Batch {
	b := &protocol.Batch{ID: id, Cursor: protocol.Cursor{Epoch: fs.epoch, Seq: 10 + id, Phase: protocol.PhaseLive}}
	for _, n := range nhs {
		m := fakeMeta(n, 1, protocol.RelIncident)
		m.NotAfter = time.Now().Add(4 * time.Hour).UTC()
		b.Upserts = append(b.Upserts, m)
		b.Docs = append(b.Docs, fakeDoc(n))
	}
	return b
}

func openIncidents(nhs ...string) *protocol.Incidents {
	now := time.Now().UTC()
	return &protocol.Incidents{Open: []protocol.Incident{{ID: "4711", Address: "12 High Street, Rochester", Postcode: "ME1 1AA",
		Opened: now, Expires: now.Add(4 * time.Hour), NHS: nhs}}}
}

// TestClient_Incidents_Agreed checks a client whose core keeps incidents
// lists the feature in Hello; once the Welcome echoes it, incident
// documents are stored like any other and each Incidents list reaches the
// core whole, in order, the later replacing the earlier.
func TestClient_Incidents_Agreed(t *testing.T) {
	nhs := nhsNumbers(3)
	fs := newFakeServer(t, 0)
	fs.script = func(ss *srvSession) {
		w := scriptedWelcome(fs)
		w.Mode, w.Total = protocol.ModeLive, 2
		if slices.Contains(ss.hello.Features, protocol.FeatureIncident) {
			w.Features = []string{protocol.FeatureIncident}
		}
		b := incidentBatch(fs, 1, nhs[0], nhs[1])
		for _, m := range []protocol.Message{w, b, openIncidents(nhs[0], nhs[1]), openIncidents()} {
			if ss.send(m) != nil {
				return
			}
		}
		if m, err := ss.conn.Receive(); err != nil || m.Type() != protocol.TypeAck {
			t.Errorf("after the batch the client sent %v, %v; want its ack", m, err)
			return
		}
		_ = ss.send(&protocol.UpToDate{Cursor: b.Cursor, AsOf: time.Now(), LeaseUntil: time.Now().Add(time.Hour)})
		ss.drain()
	}
	app := &incidentApplier{fakeApplier: newFakeApplier()}
	tc := newTestClient(t, fs, "", func(c *Config) { c.Applier = app })
	tc.app = app.fakeApplier
	if err := tc.SyncOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h := fs.snapshot().hellos; len(h) != 1 || !slices.Equal(h[0].Features, []string{protocol.FeatureTrace, protocol.FeatureIncident}) {
		t.Fatalf("hello features %v; want [%s %s]", h[0].Features, protocol.FeatureTrace, protocol.FeatureIncident)
	}
	_, docs, _, _, _, _ := tc.app.view()
	if docs[nhs[0]] != protocol.RelIncident || docs[nhs[1]] != protocol.RelIncident || len(docs) != 2 {
		t.Fatalf("stored %v; want the two incident documents", docs)
	}
	lists := app.applied()
	if len(lists) != 2 || len(lists[0].Open) != 1 || !slices.Equal(lists[0].Open[0].NHS, []string{nhs[0], nhs[1]}) || len(lists[1].Open[0].NHS) != 0 {
		t.Fatalf("incident lists applied %+v", lists)
	}
	if in := lists[0].Open[0]; in.ID != "4711" || in.Postcode != "ME1 1AA" || in.Address != "12 High Street, Rochester" {
		t.Fatalf("incident %+v", in)
	}
}

// TestClient_Incidents_NotAgreed checks the feature is a contract: a core
// that does not keep incidents does not list it, and on a session whose
// Welcome did not echo it an incident document or an Incidents list is a
// protocol violation that stores nothing, as an unknown relationship was
// before the feature existed. An Incidents list before the Welcome, or one
// the core refuses as malformed, ends the session too.
func TestClient_Incidents_NotAgreed(t *testing.T) {
	nhs := nhsNumbers(2)
	tests := []struct {
		name     string
		plain    bool // the core keeps no incidents
		echo     bool // the Welcome echoes the feature
		send     func(fs *fakeServer) []protocol.Message
		fail     error
		wantCode int
	}{
		{"incident document, feature not echoed", false, false, func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{incidentBatch(fs, 1, nhs[0])}
		}, nil, protocol.CloseProtocolError},
		{"incident document among caseload ones, feature not echoed", false, false, func(fs *fakeServer) []protocol.Message {
			b := incidentBatch(fs, 1, nhs[0])
			b.Upserts = append([]protocol.DocMeta{fakeMeta(nhs[1], 1, protocol.RelCaseload)}, b.Upserts...)
			b.Docs = append([][]byte{fakeDoc(nhs[1])}, b.Docs...)
			return []protocol.Message{b}
		}, nil, protocol.CloseProtocolError},
		{"incident document to a client without the feature", true, true, func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{incidentBatch(fs, 1, nhs[0])}
		}, nil, protocol.CloseProtocolError},
		{"incidents, feature not echoed", false, false, func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{openIncidents(nhs[0])}
		}, nil, protocol.CloseOutOfOrder},
		{"incidents to a client without the feature", true, true, func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{openIncidents(nhs[0])}
		}, nil, protocol.CloseOutOfOrder},
		{"incidents refused by the core", false, true, func(fs *fakeServer) []protocol.Message {
			return []protocol.Message{openIncidents(nhs[0])}
		}, fmt.Errorf("%w: incident NHS number fails its check digit", ErrBadBatch), protocol.CloseProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t, 0)
			fs.script = func(ss *srvSession) {
				if got := slices.Contains(ss.hello.Features, protocol.FeatureIncident); got == tt.plain {
					t.Errorf("hello features %v from a core that keeps incidents: %v", ss.hello.Features, !tt.plain)
				}
				w := scriptedWelcome(fs)
				w.Mode = protocol.ModeLive
				if tt.echo {
					w.Features = []string{protocol.FeatureIncident}
				}
				for _, m := range append([]protocol.Message{w}, tt.send(fs)...) {
					if ss.send(m) != nil {
						return
					}
				}
				ss.drain()
			}
			app := &incidentApplier{fakeApplier: newFakeApplier(), fail: tt.fail}
			tc := newTestClient(t, fs, "", func(c *Config) {
				c.Applier = app
				if tt.plain {
					c.Applier = plainApplier{app.fakeApplier}
				}
			})
			tc.app = app.fakeApplier
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := tc.SyncOnce(ctx)
			if err == nil || !strings.Contains(err.Error(), "protocol violation by the server") {
				t.Fatalf("SyncOnce = %v; want a protocol violation", err)
			}
			if tt.fail != nil && !errors.Is(err, ErrBadBatch) {
				t.Fatalf("SyncOnce = %v; want ErrBadBatch", err)
			}
			waitFor(t, 10*time.Second, "the client's close", func() bool { return len(fs.snapshot().clientClose) > 0 })
			if got := fs.snapshot().clientClose[0]; got != tt.wantCode {
				t.Fatalf("client closed with %d (%s); want %d (%s)", got, protocol.CloseText(got), tt.wantCode, protocol.CloseText(tt.wantCode))
			}
			cur, docs, _, _, _, _ := tc.app.view()
			if len(docs) != 0 || !cur.IsZero() || len(app.applied()) != 0 {
				t.Fatalf("stored %v (cursor %+v) and incident lists %v from a refused session", docs, cur, app.applied())
			}
		})
	}
}

// TestClient_Incidents_BeforeWelcome checks an Incidents list before the
// Welcome is out of order.
func TestClient_Incidents_BeforeWelcome(t *testing.T) {
	fs := newFakeServer(t, 0)
	fs.script = func(ss *srvSession) {
		if ss.send(openIncidents()) == nil {
			ss.drain()
		}
	}
	app := &incidentApplier{fakeApplier: newFakeApplier()}
	tc := newTestClient(t, fs, "", func(c *Config) { c.Applier = app })
	if err := tc.SyncOnce(t.Context()); err == nil || !strings.Contains(err.Error(), "incidents before welcome") {
		t.Fatalf("SyncOnce = %v", err)
	}
	waitFor(t, 10*time.Second, "the client's close", func() bool { return len(fs.snapshot().clientClose) > 0 })
	if got := fs.snapshot().clientClose[0]; got != protocol.CloseOutOfOrder {
		t.Fatalf("client closed with %d; want %d", got, protocol.CloseOutOfOrder)
	}
	if len(app.applied()) != 0 {
		t.Fatal("an out-of-order list was applied")
	}
}
