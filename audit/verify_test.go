package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

// scenario is one upload: the server as it stands and what arrives.
type scenario struct {
	srv      *serverState
	batch    []Uploaded
	head     *SignedHead
	received time.Time
}

// expect is what VerifyBatch should conclude. Alert kinds are compared in
// order, leaving out break-glass alerts (one per break-glass event, checked
// on their own).
type expect struct {
	accepted   []uint64
	duplicates []uint64
	malformed  []uint64
	conflicts  []uint64
	conflictAs AlertKind
	alerts     []AlertKind
	ack        uint64
	lastSeq    uint64
	signedSeq  uint64
}

func sign(h Head) *SignedHead {
	_, priv := testKey()
	sh := SignHead(priv, testDevice, h)
	return &sh
}

// prefix copies the first n events of m: the device's cache as a backup
// taken after event n would hold it.
func (m *memStore) prefix(n uint64) *memStore {
	c := &memStore{events: slices.Clone(m.events[:n]), bytes: slices.Clone(m.bytes[:n])}
	if n > 0 {
		c.head = m.headAt(n)
	}
	return c
}

// received is a time shortly after the device's n-th event (one a minute from t0).
func receivedAfter(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// uploaded returns a server that has verified and stored m's events 1..n.
func uploaded(t *testing.T, m *memStore, n uint64) *serverState {
	t.Helper()
	s := newServer()
	if n > 0 {
		s.verify(t, m.uploads(1, n), m.headAt(n), receivedAfter(int(n)))
	}
	return s
}

func seqs(es []Event) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func rawSeqs(rs []RawEvent) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestVerifyBatch_Scenarios runs each upload scenario the server must handle
// and checks what is stored, acknowledged and alerted.
func TestVerifyBatch_Scenarios(t *testing.T) {
	_, otherPriv, _ := NewDeviceKey()
	tests := []struct {
		name  string
		setup func(t *testing.T) scenario
		want  expect
	}{
		{"clean first batch", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			return scenario{newServer(), m.uploads(1, 5), sign(m.head), receivedAfter(5)}
		}, expect{accepted: span(1, 5), ack: 5, lastSeq: 5, signedSeq: 5}},

		{"clean subsequent batch", func(t *testing.T) scenario {
			m := mustChain(t, 10)
			return scenario{uploaded(t, m, 5), m.uploads(6, 10), sign(m.head), receivedAfter(10)}
		}, expect{accepted: span(6, 10), ack: 10, lastSeq: 10, signedSeq: 10}},

		{"exact replay after a lost ack", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			return scenario{uploaded(t, m, 5), m.uploads(1, 5), sign(m.head), receivedAfter(9)}
		}, expect{duplicates: span(1, 5), ack: 5, lastSeq: 5, signedSeq: 5}},

		{"overlapping batch", func(t *testing.T) scenario {
			m := mustChain(t, 8)
			return scenario{uploaded(t, m, 5), m.uploads(4, 8), sign(m.head), receivedAfter(8)}
		}, expect{duplicates: []uint64{4, 5}, accepted: span(6, 8), ack: 8, lastSeq: 8, signedSeq: 8}},

		{"first chunk of a long queue", func(t *testing.T) scenario {
			m := mustChain(t, 10)
			return scenario{newServer(), m.uploads(1, 4), sign(m.head), receivedAfter(10)}
		}, expect{accepted: span(1, 4), ack: 4, lastSeq: 4, signedSeq: 0}},

		{"gap: events deleted from the outbox", func(t *testing.T) scenario {
			m := mustChain(t, 10)
			return scenario{uploaded(t, m, 5), m.uploads(8, 10), sign(m.head), receivedAfter(10)}
		}, expect{accepted: span(8, 10), alerts: []AlertKind{AlertGap}, ack: 10, lastSeq: 10, signedSeq: 10}},

		{"gap inside a batch", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			batch := append(m.uploads(1, 2), m.uploads(5, 5)...)
			return scenario{newServer(), batch, sign(m.head), receivedAfter(5)}
		}, expect{accepted: []uint64{1, 2, 5}, alerts: []AlertKind{AlertGap}, ack: 2, lastSeq: 5, signedSeq: 5}},

		{"late events fill an earlier gap", func(t *testing.T) scenario {
			m := mustChain(t, 10)
			s := uploaded(t, m, 5)
			s.verify(t, m.uploads(8, 10), m.head, receivedAfter(10))
			return scenario{s, m.uploads(6, 7), sign(m.head), receivedAfter(11)}
		}, expect{accepted: []uint64{6, 7}, ack: 7, lastSeq: 10, signedSeq: 10}},

		{"reorder", func(t *testing.T) scenario {
			m := mustChain(t, 8)
			u := m.uploads(6, 8)
			u[1], u[2] = u[2], u[1]
			return scenario{uploaded(t, m, 5), u, sign(m.head), receivedAfter(8)}
		}, expect{accepted: span(6, 8), alerts: []AlertKind{AlertReorder}, ack: 8, lastSeq: 8, signedSeq: 8}},

		{"changed: stored event re-sent with other content", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			e := m.events[2]
			e.User.Name = "Someone Else"
			u := []Uploaded{{Seq: 3, Canonical: e.Canonical()}}
			return scenario{uploaded(t, m, 5), u, sign(m.head), receivedAfter(6)}
		}, expect{conflicts: []uint64{3}, conflictAs: AlertChanged, alerts: []AlertKind{AlertChanged}, ack: 3, lastSeq: 5, signedSeq: 5}},

		{"changed: new event does not chain to the stored one", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			other := &memStore{}
			mustExtend(t, other, 6, t0.Add(time.Second), time.Minute) // same actions, other times
			return scenario{uploaded(t, m, 5), other.uploads(6, 6), sign(other.head), receivedAfter(7)}
		}, expect{accepted: []uint64{6}, alerts: []AlertKind{AlertChanged}, ack: 6, lastSeq: 6, signedSeq: 6}},

		{"changed: two versions of one seq in a batch", func(t *testing.T) scenario {
			m := mustChain(t, 6)
			e := m.events[5]
			e.Outcome.Detail = "edited"
			u := append(m.uploads(6, 6), Uploaded{Seq: 6, Canonical: e.Canonical()})
			return scenario{uploaded(t, m, 5), u, sign(m.head), receivedAfter(7)}
		}, expect{accepted: []uint64{6}, conflicts: []uint64{6}, conflictAs: AlertChanged,
			alerts: []AlertKind{AlertReorder, AlertChanged}, ack: 6, lastSeq: 6, signedSeq: 6}},

		{"rollback: restored cache reuses stored seqs", func(t *testing.T) scenario {
			m := mustChain(t, 10)
			old := m.prefix(6)
			mustExtend(t, old, 3, t0.Add(20*time.Minute), time.Minute) // new 7', 8', 9'
			return scenario{uploaded(t, m, 10), old.uploads(7, 9), sign(old.head), receivedAfter(25)}
		}, expect{conflicts: span(7, 9), conflictAs: AlertRollback, alerts: []AlertKind{AlertRollback, AlertRollback}, ack: 9, lastSeq: 10, signedSeq: 10}},

		{"rollback: restored cache writes past the stored head", func(t *testing.T) scenario {
			m := mustChain(t, 10)
			old := m.prefix(6)
			mustExtend(t, old, 6, t0.Add(20*time.Minute), time.Minute) // 7' .. 12'
			return scenario{uploaded(t, m, 10), old.uploads(7, 12), sign(old.head), receivedAfter(30)}
		}, expect{conflicts: span(7, 10), conflictAs: AlertRollback, accepted: []uint64{11, 12},
			alerts: []AlertKind{AlertRollback}, ack: 12, lastSeq: 12, signedSeq: 12}},

		{"rollback: restored cache reports an old head", func(t *testing.T) scenario {
			m := mustChain(t, 10)
			return scenario{uploaded(t, m, 10), nil, sign(m.headAt(6)), receivedAfter(11)}
		}, expect{alerts: []AlertKind{AlertRollback}, lastSeq: 10, signedSeq: 10}},

		{"rollback: head at the stored seq with another hash", func(t *testing.T) scenario {
			m := mustChain(t, 10)
			return scenario{uploaded(t, m, 10), nil, sign(Head{Seq: 10, Hash: Hash{1}}), receivedAfter(11)}
		}, expect{alerts: []AlertKind{AlertRollback}, lastSeq: 10, signedSeq: 10}},

		{"bad signature: another key", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			sh := SignHead(otherPriv, testDevice, m.head)
			return scenario{newServer(), m.uploads(1, 5), &sh, receivedAfter(5)}
		}, expect{accepted: span(1, 5), alerts: []AlertKind{AlertBadSignature}, ack: 5, lastSeq: 5, signedSeq: 0}},

		{"bad signature: no head", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			return scenario{newServer(), m.uploads(1, 5), nil, receivedAfter(5)}
		}, expect{accepted: span(1, 5), alerts: []AlertKind{AlertBadSignature}, ack: 5, lastSeq: 5, signedSeq: 0}},

		{"bad signature: events beyond the signed head", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			return scenario{newServer(), m.uploads(1, 5), sign(m.headAt(3)), receivedAfter(5)}
		}, expect{accepted: span(1, 5), alerts: []AlertKind{AlertBadSignature}, ack: 5, lastSeq: 5, signedSeq: 3}},

		{"changed: signed head does not match the event", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			return scenario{newServer(), m.uploads(1, 5), sign(Head{Seq: 5, Hash: Hash{7}}), receivedAfter(5)}
		}, expect{accepted: span(1, 5), alerts: []AlertKind{AlertChanged}, ack: 5, lastSeq: 5, signedSeq: 0}},

		{"clock moved two days ahead and back", func(t *testing.T) scenario {
			m := &memStore{}
			mustExtend(t, m, 3, t0, time.Minute)
			mustExtend(t, m, 2, t0.Add(48*time.Hour), time.Minute)
			mustExtend(t, m, 2, t0.Add(5*time.Minute), time.Minute)
			return scenario{newServer(), m.uploads(1, 7), sign(m.head), t0.Add(8 * time.Minute)}
		}, expect{accepted: span(1, 7), alerts: []AlertKind{AlertClockSkew, AlertClockSkew}, ack: 7, lastSeq: 7, signedSeq: 7}},

		{"clock went back across batches", func(t *testing.T) scenario {
			m := &memStore{}
			mustExtend(t, m, 3, t0, time.Minute)
			mustExtend(t, m, 1, t0.Add(-time.Hour), time.Minute)
			return scenario{uploaded(t, m, 3), m.uploads(4, 4), sign(m.head), t0.Add(4 * time.Minute)}
		}, expect{accepted: []uint64{4}, alerts: []AlertKind{AlertClockSkew}, ack: 4, lastSeq: 4, signedSeq: 4}},

		{"malformed: garbage bytes", func(t *testing.T) scenario {
			m := mustChain(t, 8)
			u := m.uploads(6, 8)
			u[1].Canonical = []byte("\x00\x01 not an event")
			return scenario{uploaded(t, m, 5), u, sign(m.head), receivedAfter(8)}
		}, expect{accepted: []uint64{6, 8}, malformed: []uint64{7}, alerts: []AlertKind{AlertMalformed, AlertChanged}, ack: 8, lastSeq: 8, signedSeq: 8}},

		{"malformed: non-canonical bytes still chain", func(t *testing.T) scenario {
			// The device hashed these odd bytes itself, so the chain holds through them.
			m2 := &memStore{}
			mustExtend(t, m2, 6, t0, time.Minute)
			e := validEvent(Actions()[6%len(Actions())])
			e, _ = Next(m2.head, e)
			odd := append([]byte(" "), e.Canonical()...)
			m2.AppendEvent(e, odd, Head{Seq: 7, Hash: HashCanonical(odd)})
			mustExtend(t, m2, 1, t0.Add(8*time.Minute), time.Minute)
			return scenario{uploaded(t, m2, 6), m2.uploads(7, 8), sign(m2.head), receivedAfter(9)}
		}, expect{accepted: []uint64{8}, malformed: []uint64{7}, alerts: []AlertKind{AlertMalformed}, ack: 8, lastSeq: 8, signedSeq: 8}},

		{"malformed: another device's event", func(t *testing.T) scenario {
			m := &memStore{}
			e := validEvent(ActionLogin)
			e.Device.ID = "dev-other"
			if _, err := Append(m, e); err != nil {
				t.Fatal(err)
			}
			return scenario{newServer(), m.uploads(1, 1), sign(m.head), receivedAfter(1)}
		}, expect{malformed: []uint64{1}, alerts: []AlertKind{AlertMalformed}, ack: 1, lastSeq: 1, signedSeq: 1}},

		{"malformed: sent under the wrong seq", func(t *testing.T) scenario {
			m := mustChain(t, 7)
			u := []Uploaded{{Seq: 6, Canonical: m.bytes[6]}}
			return scenario{uploaded(t, m, 5), u, sign(m.head), receivedAfter(7)}
		}, expect{malformed: []uint64{6}, alerts: []AlertKind{AlertMalformed}, ack: 6, lastSeq: 6, signedSeq: 5}},

		{"malformed: absurd seq does not move the chain", func(t *testing.T) scenario {
			m := mustChain(t, 6)
			u := append(m.uploads(6, 6), Uploaded{Seq: 1<<64 - 1, Canonical: []byte("junk")})
			return scenario{uploaded(t, m, 5), u, sign(m.head), receivedAfter(7)}
		}, expect{accepted: []uint64{6}, malformed: []uint64{1<<64 - 1}, alerts: []AlertKind{AlertMalformed, AlertBadSignature}, ack: 6, lastSeq: 6, signedSeq: 6}},

		{"conflict then the stored copy in one batch", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			e := m.events[2]
			e.Outcome.Detail = "edited"
			u := []Uploaded{{Seq: 3, Canonical: e.Canonical()}, {Seq: 3, Canonical: m.bytes[2]}}
			return scenario{uploaded(t, m, 5), u, sign(m.head), receivedAfter(6)}
		}, expect{conflicts: []uint64{3}, conflictAs: AlertChanged, duplicates: []uint64{3},
			alerts: []AlertKind{AlertReorder, AlertChanged}, ack: 3, lastSeq: 5, signedSeq: 5}},

		{"empty batch with the current head", func(t *testing.T) scenario {
			m := mustChain(t, 5)
			return scenario{uploaded(t, m, 5), nil, sign(m.head), receivedAfter(6)}
		}, expect{ack: 0, lastSeq: 5, signedSeq: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := tt.setup(t)
			pub, _ := testKey()
			before := sc.srv.chain
			r, err := VerifyBatch(sc.srv.chain, pub, sc.batch, sc.head, sc.srv.lookup, sc.received)
			if err != nil {
				t.Fatalf("VerifyBatch: %v", err)
			}
			var kinds []AlertKind
			for _, a := range r.Alerts {
				if a.Kind != AlertBreakGlass {
					kinds = append(kinds, a.Kind)
				}
				if a.DeviceID != testDevice {
					t.Errorf("alert %+v names device %q", a, a.DeviceID)
				}
			}
			w := tt.want
			check := func(what string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("accepted", seqs(r.Accepted), w.accepted)
			check("duplicates", r.Duplicates, w.duplicates)
			check("malformed", rawSeqs(r.Malformed), w.malformed)
			check("conflicts", rawSeqs(r.Conflicts), w.conflicts)
			check("alerts", kinds, w.alerts)
			check("ack through", r.AckThrough, w.ack)
			check("next last seq", r.Next.LastSeq, w.lastSeq)
			check("next signed seq", r.Next.SignedSeq, w.signedSeq)
			for _, c := range r.Conflicts {
				check("conflict kind", c.Kind, w.conflictAs)
			}
			if r.Next.DeviceID != before.DeviceID {
				t.Errorf("next device %q, want %q", r.Next.DeviceID, before.DeviceID)
			}
			if len(r.Accepted) == 0 && len(r.Malformed) == 0 && r.Next.LastHash != before.LastHash {
				t.Errorf("chain head moved with nothing stored")
			}
			for _, a := range r.Alerts {
				t.Logf("alert %s seq %d: %s", a.Kind, a.Seq, a.Detail)
			}
		})
	}
}

// TestVerifyBatch_EveryItemKept checks, for each scenario-like batch, that
// every uploaded item lands in exactly one list, so acknowledging it is safe.
func TestVerifyBatch_EveryItemKept(t *testing.T) {
	m := mustChain(t, 12)
	s := uploaded(t, m, 6)
	old := m.prefix(3)
	mustExtend(t, old, 6, t0.Add(time.Hour), time.Minute)
	batch := append(m.uploads(5, 8), old.uploads(4, 9)...)
	batch = append(batch, Uploaded{Seq: 10, Canonical: []byte("junk")}, Uploaded{Seq: 10, Canonical: m.bytes[9]})
	r, err := VerifyBatch(s.chain, mustPub(), batch, sign(m.head), s.lookup, receivedAfter(13))
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.Accepted) + len(r.Duplicates) + len(r.Malformed) + len(r.Conflicts)
	if n != len(batch) {
		t.Fatalf("%d items in the lists, %d uploaded: %+v", n, len(batch), r)
	}
	if r.AckThrough != 10 {
		t.Errorf("ack through %d, want 10", r.AckThrough)
	}
}

func mustPub() ed25519.PublicKey { p, _ := testKey(); return p }

// TestVerifyBatch_BreakGlassAlert checks every break-glass event raises a
// break-glass alert carrying the device time of the emergency access.
func TestVerifyBatch_BreakGlassAlert(t *testing.T) {
	m := &memStore{}
	e := validEvent(ActionBreakGlass)
	if _, err := Append(m, e); err != nil {
		t.Fatal(err)
	}
	s := newServer()
	r := s.verify(t, m.uploads(1, 1), m.head, receivedAfter(1))
	if len(r.Alerts) != 1 || r.Alerts[0].Kind != AlertBreakGlass || !r.Alerts[0].At.Equal(t0) || r.Alerts[0].Seq != 1 ||
		r.Alerts[0].User != e.User.ID || r.Alerts[0].Patient != testPatient {
		t.Fatalf("alerts = %+v, want one break-glass alert at %v", r.Alerts, t0)
	}
	if got := AlertsFor(validEvent(ActionView)); got != nil {
		t.Errorf("AlertsFor(view) = %v, want none", got)
	}
}

// TestVerifyBatch_FoldsRepeatedFindings checks a finding repeated on
// consecutive events gives one alert, not one per event.
func TestVerifyBatch_FoldsRepeatedFindings(t *testing.T) {
	m := &memStore{}
	mustExtend(t, m, 50, t0.Add(72*time.Hour), time.Second)
	s := newServer()
	r := s.verify(t, m.uploads(1, 50), m.head, t0)
	var skew []Alert
	for _, a := range r.Alerts {
		if a.Kind == AlertClockSkew {
			skew = append(skew, a)
		}
	}
	if len(skew) != 1 || skew[0].Seq != 1 || !bytes.Contains([]byte(skew[0].Detail), []byte("49 following events")) {
		t.Fatalf("clock-skew alerts = %+v, want one folded alert", skew)
	}
}

// TestVerifyBatch_CallerErrors checks the errors for calls that cannot be
// verified at all.
func TestVerifyBatch_CallerErrors(t *testing.T) {
	pub := mustPub()
	tests := []struct {
		name   string
		state  DeviceChain
		pub    ed25519.PublicKey
		stored StoredHash
		at     time.Time
		want   error
	}{
		{"bad key", DeviceChain{DeviceID: "d"}, pub[:5], nil, t0, ErrBadKey},
		{"no device", DeviceChain{}, pub, nil, t0, ErrNoDeviceID},
		{"no receive time", DeviceChain{DeviceID: "d"}, pub, nil, time.Time{}, ErrNoReceiveAt},
		{"no lookup", DeviceChain{DeviceID: "d", LastSeq: 5}, pub, nil, t0, ErrNoLookup},
		{"no lookup needed", DeviceChain{DeviceID: "d", LastSeq: 1}, pub, nil, t0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyBatch(tt.state, tt.pub, nil, nil, tt.stored, tt.at)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifyBatch = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDeviceChain_JSON checks the chain state survives encoding/json, which
// is how a server store can keep it as bytes.
func TestDeviceChain_JSON(t *testing.T) {
	m := mustChain(t, 3)
	s := uploaded(t, m, 3)
	b, err := json.Marshal(s.chain)
	if err != nil {
		t.Fatal(err)
	}
	var back DeviceChain
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != s.chain {
		t.Fatalf("round trip: %+v, want %+v (json %s)", back, s.chain, b)
	}
}
