package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestAppend_Chain1000_Verifies appends 1,000 events of every kind and checks
// the chain link by link, then that the server accepts it all without alerts
// (beyond one break-glass alert per break-glass event).
func TestAppend_Chain1000_Verifies(t *testing.T) {
	m := mustChain(t, 1000)
	if m.head.Seq != 1000 {
		t.Fatalf("head seq = %d, want 1000", m.head.Seq)
	}
	var prev Hash
	for i, e := range m.events {
		if e.Seq != uint64(i+1) || e.Prev != prev {
			t.Fatalf("event %d: seq %d prev %s, want seq %d prev %s", i, e.Seq, e.Prev, i+1, prev)
		}
		if !bytes.Equal(e.Canonical(), m.bytes[i]) {
			t.Fatalf("event %d: stored bytes are not its canonical encoding", e.Seq)
		}
		prev = HashCanonical(m.bytes[i])
	}
	if prev != m.head.Hash {
		t.Fatalf("head hash %s, want %s", m.head.Hash, prev)
	}
	s := newServer()
	r := s.verify(t, m.uploads(1, 1000), m.head, t0.Add(1000*time.Minute))
	if len(r.Accepted) != 1000 || r.AckThrough != 1000 || r.Next.SignedSeq != 1000 {
		t.Fatalf("accepted %d, ack %d, signed %d; want 1000 each", len(r.Accepted), r.AckThrough, r.Next.SignedSeq)
	}
	for _, a := range r.Alerts {
		if a.Kind != AlertBreakGlass {
			t.Errorf("unexpected alert %+v", a)
		}
	}
}

// TestAppend_Rejects checks that Append refuses invalid events, corrupt heads
// and store failures, leaving the store unchanged.
func TestAppend_Rejects(t *testing.T) {
	storeErr := errors.New("disk full")
	tests := []struct {
		name  string
		store *memStore
		event Event
		want  error
	}{
		{"invalid event", &memStore{}, Event{Action: ActionView}, ErrInvalidEvent},
		{"head seq without hash", &memStore{head: Head{Seq: 3}}, validEvent(ActionLock), ErrCorruptHead},
		{"head hash without seq", &memStore{head: Head{Hash: Hash{1}}}, validEvent(ActionLock), ErrCorruptHead},
		{"store fails", &memStore{err: storeErr}, validEvent(ActionLock), storeErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.store.head
			if _, err := Append(tt.store, tt.event); !errors.Is(err, tt.want) {
				t.Fatalf("Append = %v, want %v", err, tt.want)
			}
			if tt.store.head != before || len(tt.store.events) != 0 {
				t.Fatalf("store changed after a failed Append")
			}
		})
	}
}

// TestNext_FillsChainFields checks Next sets seq and prev, normalizes the
// event and returns the head of the new event.
func TestNext_FillsChainFields(t *testing.T) {
	head := Head{Seq: 7, Hash: HashCanonical([]byte("seven"))}
	e := validEvent(ActionView)
	e.Occurred = time.Now() // carries a monotonic reading and a local zone
	e.Seq, e.Prev = 99, Hash{9}
	got, nh := Next(head, e)
	if got.Seq != 8 || got.Prev != head.Hash {
		t.Fatalf("Next: seq %d prev %s", got.Seq, got.Prev)
	}
	if nh != (Head{Seq: 8, Hash: got.Hash()}) {
		t.Fatalf("Next head = %+v, want seq 8 and the event's hash", nh)
	}
	if got.Occurred.Location() != time.UTC || got.Occurred != got.Occurred.Round(0) {
		t.Fatalf("Next did not normalize the time: %v", got.Occurred)
	}
}

// TestParseHash_Forms checks hash parsing accepts one spelling only and
// round-trips through text and JSON.
func TestParseHash_Forms(t *testing.T) {
	h := HashCanonical([]byte("x"))
	tests := []struct {
		in string
		ok bool
	}{
		{h.String(), true},
		{"", false},
		{h.String()[:63], false},
		{h.String() + "0", false},
		{"F" + h.String()[1:], false},
		{"g" + h.String()[1:], false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseHash(tt.in)
			if (err == nil) != tt.ok || (tt.ok && got != h) {
				t.Fatalf("ParseHash(%q) = %v, %v", tt.in, got, err)
			}
			if err != nil && !errors.Is(err, ErrBadHash) {
				t.Fatalf("error %v is not ErrBadHash", err)
			}
		})
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back Hash
	if err := json.Unmarshal(j, &back); err != nil || back != h {
		t.Fatalf("JSON round trip: %s -> %v, %v", j, back, err)
	}
}
