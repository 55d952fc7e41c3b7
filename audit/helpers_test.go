package audit

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kmcr/record"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// t0 is the fixed time test events happen at.
var t0 = time.Date(2026, 3, 12, 9, 30, 0, 123456789, time.UTC)

const testDevice = "dev-amb-17"

var testPatient = mustNHS("943 476 5919")

func mustNHS(s string) record.NHSNumber {
	n, err := record.ParseNHSNumber(s)
	if err != nil {
		panic(err)
	}
	return n
}

// testKey is a fixed device key so golden outputs and fuzz runs repeat.
func testKey() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// validEvent returns a valid, unchained event of the given action.
func validEvent(a Action) Event {
	e := Event{
		Action:   a,
		Occurred: t0,
		User:     Actor{ID: "u-1042", Name: "Sam Patel", Role: "paramedic"},
		Device:   Device{ID: testDevice, Host: "amb-17-laptop"},
		Outcome:  Outcome{Result: ResultSuccess},
	}
	switch a {
	case ActionSearch:
		e.Query, e.Results, e.Purpose = "PATEL 12-Mar-1962", 3, "TREAT"
	case ActionView:
		e.Patient, e.Sections, e.Purpose = testPatient, []string{"allergies", "medications", "problems"}, "TREAT"
	case ActionBreakGlass:
		e.Patient, e.Purpose = testPatient, "ETREAT"
		e.BreakGlass = &BreakGlass{ReasonCode: "unconscious", ReasonText: "Patient unresponsive at roadside, no relationship on record"}
	case ActionExport:
		e.Patient, e.Sections, e.Purpose = testPatient, []string{"medications"}, "TREAT"
	case ActionDenied:
		e.Patient, e.Outcome = testPatient, Outcome{Result: ResultDenied, Detail: "no legitimate relationship"}
	case ActionUnlockFailed:
		e.Outcome = Outcome{Result: ResultFailure, Detail: "wrong passphrase"}
	}
	return e
}

// memStore is an in-memory ChainStore, as the client core's cache would be.
type memStore struct {
	head   Head
	events []Event
	bytes  [][]byte
	err    error // returned by AppendEvent when set
}

func (m *memStore) ChainHead() (Head, error) { return m.head, nil }

func (m *memStore) AppendEvent(e Event, c []byte, h Head) error {
	if m.err != nil {
		return m.err
	}
	m.events = append(m.events, e)
	m.bytes = append(m.bytes, c)
	m.head = h
	return nil
}

// uploads returns the store's events from seq from to seq to, as sent.
func (m *memStore) uploads(from, to uint64) []Uploaded {
	var us []Uploaded
	for s := from; s <= to; s++ {
		us = append(us, Uploaded{Seq: s, Canonical: m.bytes[s-1]})
	}
	return us
}

// headAt returns the head after event seq.
func (m *memStore) headAt(seq uint64) Head {
	return Head{Seq: seq, Hash: HashCanonical(m.bytes[seq-1])}
}

// mustChain appends n events (cycling through every action) at one-minute
// intervals from t0 and returns the store.
func mustChain(t testing.TB, n int) *memStore {
	t.Helper()
	m := &memStore{}
	mustExtend(t, m, n, t0, time.Minute)
	return m
}

func mustExtend(t testing.TB, m *memStore, n int, from time.Time, step time.Duration) {
	t.Helper()
	actions := Actions()
	for i := range n {
		e := validEvent(actions[(len(m.events)+i)%len(actions)])
		e.Occurred = from.Add(time.Duration(i) * step)
		if _, err := Append(m, e); err != nil {
			t.Fatalf("Append event %d: %v", i+1, err)
		}
	}
}

// serverState is a fake server store: the hashes it holds per seq and its
// chain state, updated from a BatchResult as the real store would.
type serverState struct {
	chain  DeviceChain
	hashes map[uint64]Hash
}

func newServer() *serverState {
	return &serverState{chain: DeviceChain{DeviceID: testDevice}, hashes: map[uint64]Hash{}}
}

func (s *serverState) lookup(seq uint64) (Hash, bool) { h, ok := s.hashes[seq]; return h, ok }

func (s *serverState) apply(r BatchResult) {
	for _, e := range r.Accepted {
		s.hashes[e.Seq] = e.Hash()
	}
	for _, m := range r.Malformed {
		s.hashes[m.Seq] = m.Hash
	}
	s.chain = r.Next
}

// verify runs VerifyBatch with a head signed by the test key and applies
// the result.
func (s *serverState) verify(t testing.TB, batch []Uploaded, head Head, received time.Time) BatchResult {
	t.Helper()
	pub, priv := testKey()
	sh := SignHead(priv, testDevice, head)
	r, err := VerifyBatch(s.chain, pub, batch, &sh, s.lookup, received)
	if err != nil {
		t.Fatalf("VerifyBatch: %v", err)
	}
	s.apply(r)
	return r
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s missing: run go test ./audit -run %s -update", path, t.Name())
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from golden file:\n got: %s\nwant: %s", name, got, want)
	}
}
