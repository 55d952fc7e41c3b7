// Package storetest is the conformance suite of store.Store: every method,
// its error cases, the change log each mutation appends, the orderings the
// server relies on, and what survives a restart. A backend passes it by
// providing a constructor:
//
//	func TestBolt_Conformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) (store.Store, storetest.Reopen) { ... })
//	}
//
// # Conventions
//
// Every case gets a new, empty store. Times are UTC and whole microseconds,
// the finest a SQL timestamp keeps, and are compared with Equal. Notification
// checks allow delivery to be asynchronous (a database's LISTEN/NOTIFY, say):
// they wait, with generous bounds, for what must arrive, and check only
// what must never arrive after the fact.
//
// The suite calls every method of store.Store through a recording wrapper
// and fails if one is never called, so a method added to the interface
// without a case here is reported (add the case, and the method to the
// wrapper in recorder.go).
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"kmcr/demo"
	"kmcr/server/store"
)

// Open makes a new, empty store for one case and registers its cleanup with
// t (closing whichever store is open at the end; Close must be safe to call
// twice). reopen opens the same store again, as a restarted process would,
// after the suite has closed the previous one.
type Open func(t *testing.T) (s store.Store, reopen Reopen)

// Reopen opens again the store an Open made; the suite has closed it first.
type Reopen func(t *testing.T) store.Store

// testCase is one case of the suite.
type testCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// env is what a case works with: the store under test (recorded), a way to
// reopen it, and a way to make a second, independent store.
type env struct {
	s      store.Store
	reopen func(t *testing.T) store.Store
	fresh  func(t *testing.T) store.Store
}

// Run runs the whole suite against stores made by open.
func Run(t *testing.T, open Open) {
	rec := newCalls()
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Meta", metaCases},
		{"Subscribe", subscribeCases},
		{"Changes", changesCases},
		{"Users", userCases},
		{"Orgs", orgCases},
		{"Caseload", caseloadCases},
		{"Permitted", permittedCases},
		{"Objections", objectionCases},
		{"Relationships", relationshipCases},
		{"Incidents", incidentCases},
		{"Dispatchers", dispatcherCases},
		{"Devices", deviceCases},
		{"Resources", resourceCases},
		{"Patients", patientCases},
		{"Audit", auditCases},
		{"Alerts", alertCases},
		{"Outbox", outboxCases},
		{"Reopen", reopenCases},
		{"Concurrency", concurrencyCases},
	}
	total, ran := 0, 0
	for _, g := range groups {
		total += len(g.cases)
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					ran++
					s, reopen := open(t)
					e := &env{s: rec.wrap(s)}
					e.reopen = func(t *testing.T) store.Store {
						t.Helper()
						if err := e.s.Close(); err != nil {
							t.Fatalf("Close: %v", err)
						}
						e.s = rec.wrap(reopen(t))
						return e.s
					}
					e.fresh = func(t *testing.T) store.Store {
						s2, _ := open(t)
						return rec.wrap(s2)
					}
					c.run(t, e)
				})
			}
		})
	}
	if t.Failed() || ran < total {
		return // a failure says more, and a -run filter leaves methods uncalled
	}
	var missing []string
	st := reflect.TypeFor[store.Store]()
	for i := range st.NumMethod() {
		if m := st.Method(i).Name; !rec.called(m) {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Errorf("the conformance suite never calls Store.%v: add cases for them (and the methods to storetest's recorder)", missing)
	}
}

// base is the suite's reference time.
var base = time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)

// at is base plus n minutes.
func at(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }

// nhs returns the i-th of a fixed list of valid NHS numbers (test range),
// sorted, so nhs(i) < nhs(i+1).
func nhs(i int) string { return nhsList[i] }

var nhsList = func() []string {
	out := make([]string, 128)
	for i := range out {
		out[i] = demo.NHSNumber(42, i).Digits()
	}
	sort.Strings(out)
	return out
}()

// errStop is a callback's error that iteration must return unchanged.
var errStop = errors.New("storetest: stop iterating")

// must fails the case on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantIs fails unless errors.Is(err, target).
func wantIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v; want %v", what, err, target)
	}
}

// allChanges returns the change log after seq.
func allChanges(t *testing.T, s store.Store, after uint64) []store.Change {
	t.Helper()
	var out []store.Change
	must(t, s.Changes(after, func(c store.Change) error { out = append(out, c); return nil }))
	return out
}

// lastSeq is s.LastSeq, failing the case on error.
func lastSeq(t *testing.T, s store.Store) uint64 {
	t.Helper()
	n, err := s.LastSeq()
	must(t, err)
	return n
}

// noChanges checks nothing was appended after seq.
func noChanges(t *testing.T, s store.Store, after uint64, what string) {
	t.Helper()
	if cs := allChanges(t, s, after); len(cs) > 0 {
		t.Fatalf("%s appended %d change(s): %+v", what, len(cs), cs)
	}
}

// change is an expected change log entry; a zero At means "any non-zero
// time".
type change struct {
	Kind, NHS, User, Device, Reason string
	At                              time.Time
}

// expectChanges checks the entries after seq: one per wanted change, with
// consecutive sequence numbers from seq+1. ordered says whether the order
// of want is guaranteed; otherwise the entries are compared as a set.
func expectChanges(t *testing.T, s store.Store, after uint64, ordered bool, want ...change) {
	t.Helper()
	got := allChanges(t, s, after)
	if len(got) != len(want) {
		t.Fatalf("%d change(s) after %d: %+v; want %d: %+v", len(got), after, got, len(want), want)
	}
	for i, c := range got {
		if c.Seq != after+uint64(i)+1 {
			t.Fatalf("change %d has sequence %d; want %d (no gaps, in order)", i, c.Seq, after+uint64(i)+1)
		}
		if c.At.IsZero() {
			t.Errorf("change %d (%s) has no time", c.Seq, c.Kind)
		}
	}
	key := func(k, n, u, d, r string) string { return fmt.Sprintf("%s|%s|%s|%s|%s", k, n, u, d, r) }
	var gk, wk []string
	for i, c := range got {
		gk = append(gk, key(c.Kind, c.NHS, c.User, c.Device, c.Reason))
		w := want[i]
		wk = append(wk, key(w.Kind, w.NHS, w.User, w.Device, w.Reason))
	}
	if !ordered {
		slices.Sort(gk)
		slices.Sort(wk)
	}
	if !slices.Equal(gk, wk) {
		t.Fatalf("changes (kind|nhs|user|device|reason):\n got %v\nwant %v", gk, wk)
	}
	for i, w := range want {
		if w.At.IsZero() {
			continue
		}
		for j, c := range got {
			if (ordered && j == i) || (!ordered && key(c.Kind, c.NHS, c.User, c.Device, c.Reason) == key(w.Kind, w.NHS, w.User, w.Device, w.Reason)) {
				if !c.At.Equal(w.At) {
					t.Errorf("change %d (%s %s) at %v; want %v", c.Seq, c.Kind, c.NHS, c.At, w.At)
				}
				break
			}
		}
	}
}

// sameSet compares two string lists ignoring order.
func sameSet(t *testing.T, got, want []string, what string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s = %v; want %v (any order)", what, got, want)
	}
}
