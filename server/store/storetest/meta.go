package storetest

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"kmcr/record"
	"kmcr/server/store"
)

// notifyWait bounds the wait for a notification that must arrive; it is
// generous so a loaded machine or an asynchronous backend cannot fail it.
const notifyWait = 20 * time.Second

// quietWait is how long a case waits to see that nothing more arrives.
const quietWait = 200 * time.Millisecond

var metaCases = []testCase{
	{"EpochNamesTheStore", func(t *testing.T, e *env) {
		ep := e.s.Epoch()
		if ep == "" {
			t.Fatal("empty epoch")
		}
		if ep != e.s.Epoch() {
			t.Fatal("the epoch changed between two calls")
		}
		if other := e.fresh(t).Epoch(); other == ep {
			t.Fatalf("two new stores share the epoch %q", ep)
		}
	}},
	{"LastSeqStartsAtZero", func(t *testing.T, e *env) {
		if n := lastSeq(t, e.s); n != 0 {
			t.Fatalf("LastSeq of a new store = %d", n)
		}
		noChanges(t, e.s, 0, "a new store")
	}},
	{"LastSeqIsTheNewestChange", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		if _, err := e.s.CaseloadAdd("amy", []string{nhs(0), nhs(1)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Object(nhs(0), "research"); err != nil {
			t.Fatal(err)
		}
		cs := allChanges(t, e.s, 0)
		if n := lastSeq(t, e.s); len(cs) != 3 || n != cs[len(cs)-1].Seq {
			t.Fatalf("LastSeq %d with changes %+v", n, cs)
		}
	}},
	{"SecretIsStableAndPerName", func(t *testing.T, e *env) {
		a, err := e.s.Secret("access-token")
		must(t, err)
		if len(a) != 32 || bytes.Equal(a, make([]byte, 32)) {
			t.Fatalf("secret %x; want 32 random bytes", a)
		}
		again, err := e.s.Secret("access-token")
		must(t, err)
		if !bytes.Equal(a, again) {
			t.Fatal("a second Secret call made a new secret")
		}
		again[0] ^= 0xff // the caller's copy is its own
		if b, _ := e.s.Secret("access-token"); !bytes.Equal(a, b) {
			t.Fatal("changing a returned secret changed the stored one")
		}
		b, err := e.s.Secret("other")
		must(t, err)
		if bytes.Equal(a, b) {
			t.Fatal("two names share a secret")
		}
		if c, _ := e.fresh(t).Secret("access-token"); bytes.Equal(a, c) {
			t.Fatal("two new stores made the same secret")
		}
		noChanges(t, e.s, 0, "Secret")
	}},
	{"CloseTwice", func(t *testing.T, e *env) {
		must(t, e.s.Close())
		must(t, e.s.Close())
	}},
}

var subscribeCases = []testCase{
	{"NotifiedOfChangesOnly", func(t *testing.T, e *env) {
		ch, cancel := e.s.Subscribe()
		defer cancel()
		// Mutations that append no change must not notify.
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		must(t, e.s.RegisterDevice(store.Device{ID: "device-1", User: "amy"}))
		must(t, e.s.UpdateDevice("device-1", func(d *store.Device) error { d.Host = "h"; return nil }))
		if _, err := e.s.StageResources([]store.StagedResource{{PatientKey: "Patient/a", Key: "Condition/1", Raw: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		must(t, e.s.PutShared([]store.StoredResource{{Key: "Organization/1", Raw: []byte(`{}`)}}))
		must(t, e.s.MapPatientKeys(map[string]string{"Patient/a": nhs(0)}))
		must(t, e.s.AddAlerts([]store.Alert{{Kind: "k", Detail: "d", At: at(0)}}))
		must(t, e.s.StoreAudit("device-1", []store.StoredEvent{{Device: "device-1", Seq: 1, Hash: []byte{1}, Canonical: []byte("e"), Recorded: at(0)}}, nil, nil, nil))
		if _, err := e.s.CaseloadAdd("amy", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Withdraw(nhs(0), "research"); err != nil {
			t.Fatal(err)
		}
		// A notification would be coalesced into the next one, so look now.
		expectQuiet(t, ch)
		if _, err := e.s.CaseloadAdd("amy", []string{nhs(0)}); err != nil {
			t.Fatal(err)
		}
		if got := next(t, ch); got != 1 {
			t.Fatalf("first notification carried %d; want 1 (something that changed nothing notified)", got)
		}
		expectQuiet(t, ch)
	}},
	{"CoalescesForASlowReader", func(t *testing.T, e *env) {
		ch, cancel := e.s.Subscribe()
		defer cancel()
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		const commits = 50
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range commits {
				if _, err := e.s.CaseloadAdd("amy", []string{nhs(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("commits blocked on a subscriber that does not read")
		}
		// Whatever arrives rises and ends at the newest sequence.
		var prev uint64
		deadline := time.After(notifyWait)
		for prev != commits {
			select {
			case seq := <-ch:
				if seq <= prev || seq > commits {
					t.Fatalf("notification %d after %d (newest is %d)", seq, prev, commits)
				}
				prev = seq
			case <-deadline:
				t.Fatalf("the newest sequence %d never arrived (last seen %d)", commits, prev)
			}
		}
		expectQuiet(t, ch)
	}},
	{"EverySubscriberHears", func(t *testing.T, e *env) {
		a, cancelA := e.s.Subscribe()
		defer cancelA()
		b, cancelB := e.s.Subscribe()
		defer cancelB()
		if _, err := e.s.Object(nhs(0), "research"); err != nil {
			t.Fatal(err)
		}
		if waitFor(t, a, 1) != 1 || waitFor(t, b, 1) != 1 {
			t.Fatal("a subscriber missed the change")
		}
	}},
	{"CancelStopsDelivery", func(t *testing.T, e *env) {
		ch, cancel := e.s.Subscribe()
		keep, cancelKeep := e.s.Subscribe()
		defer cancelKeep()
		cancel()
		cancel() // twice is harmless
		if _, err := e.s.Object(nhs(0), "research"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, keep, 1) // delivery has happened
		select {
		case seq, ok := <-ch:
			if ok {
				t.Fatalf("a cancelled subscription received %d", seq)
			}
		case <-time.After(quietWait):
		}
	}},
}

// waitFor reads ch until it carries at least want, returning that value.
func waitFor(t *testing.T, ch <-chan uint64, want uint64) uint64 {
	t.Helper()
	deadline := time.After(notifyWait)
	for {
		select {
		case seq := <-ch:
			if seq >= want {
				return seq
			}
		case <-deadline:
			t.Fatalf("no notification of sequence %d within %v", want, notifyWait)
			return 0
		}
	}
}

// next returns the next value on ch.
func next(t *testing.T, ch <-chan uint64) uint64 {
	t.Helper()
	select {
	case seq := <-ch:
		return seq
	case <-time.After(notifyWait):
		t.Fatalf("no notification within %v", notifyWait)
		return 0
	}
}

// expectQuiet checks nothing more arrives on ch for a moment.
func expectQuiet(t *testing.T, ch <-chan uint64) {
	t.Helper()
	select {
	case seq := <-ch:
		t.Fatalf("an extra notification of %d arrived", seq)
	case <-time.After(quietWait):
	}
}

var changesCases = []testCase{
	{"InOrderAfterASequence", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		for i := range 5 {
			if _, err := e.s.CaseloadAdd("amy", []string{nhs(i)}); err != nil {
				t.Fatal(err)
			}
		}
		for after := uint64(0); after <= 6; after++ {
			cs := allChanges(t, e.s, after)
			want := 5 - int(min(after, 5))
			if len(cs) != want {
				t.Fatalf("Changes(%d) gave %d; want %d", after, len(cs), want)
			}
			for i, c := range cs {
				if c.Seq != after+uint64(i)+1 || c.NHS != nhs(int(c.Seq)-1) {
					t.Fatalf("Changes(%d)[%d] = %+v", after, i, c)
				}
			}
		}
		noChanges(t, e.s, math.MaxUint64, "Changes(MaxUint64)")
		noChanges(t, e.s, math.MaxUint64-1, "Changes(MaxUint64-1)")
	}},
	{"CallbackErrorStops", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		if _, err := e.s.CaseloadAdd("amy", []string{nhs(0), nhs(1), nhs(2)}); err != nil {
			t.Fatal(err)
		}
		n := 0
		err := e.s.Changes(0, func(store.Change) error { n++; return errStop })
		if !errors.Is(err, errStop) || n != 1 {
			t.Fatalf("Changes with a failing callback: %v after %d calls; want errStop after 1", err, n)
		}
	}},
	{"ReadWhileWriting", func(t *testing.T, e *env) {
		// A reader sees a prefix of the log without gaps while a writer
		// appends.
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if _, err := e.s.CaseloadAdd("amy", []string{nhs(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		for range 20 {
			var seqs []uint64
			must(t, e.s.Changes(0, func(c store.Change) error { seqs = append(seqs, c.Seq); return nil }))
			for i, s := range seqs {
				if s != uint64(i)+1 {
					t.Fatalf("a read during writes saw %v: not a gapless prefix", seqs)
				}
			}
		}
		wg.Wait()
	}},
}

// fill sets every exported field of the struct v points to a non-zero
// value of its type (times distinct, UTC, whole microseconds), so a field
// a backend does not store is noticed when it is added.
func fill(v any) {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		if !f.CanSet() {
			continue
		}
		name := rv.Type().Field(i).Name
		switch f.Interface().(type) {
		case string:
			f.SetString("x-" + strings.ToLower(name))
		case bool:
			f.SetBool(true)
		case int:
			f.SetInt(int64(3 + i))
		case uint64:
			f.SetUint(uint64(3 + i))
		case time.Time:
			f.Set(reflect.ValueOf(at(100 + i)))
		case []byte:
			f.SetBytes([]byte{byte(i), 0xa5})
		case [][]byte:
			f.Set(reflect.ValueOf([][]byte{{byte(i)}, {0xa5, 0x5a}}))
		case []string:
			f.Set(reflect.ValueOf([]string{"a-" + name, "b-" + name}))
		case map[string]int:
			f.Set(reflect.ValueOf(map[string]int{"Claim": 2, "k-" + name: 1}))
		case []record.HomeAddress:
			f.Set(reflect.ValueOf([]record.HomeAddress{{Postcode: "ME1 1AA", Line: "a-" + name}, {Postcode: "ME4 4TR", Line: "b-" + name}}))
		default:
			panic("storetest.fill: add a value for " + f.Type().String() + " (" + name + ")")
		}
	}
}

// sameFields compares every exported field, times with Equal.
func sameFields(t *testing.T, got, want any, what string) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range w.NumField() {
		name := w.Type().Field(i).Name
		gf, wf := g.Field(i).Interface(), w.Field(i).Interface()
		if wt, ok := wf.(time.Time); ok {
			if !gf.(time.Time).Equal(wt) {
				t.Errorf("%s: field %s = %v; want %v (not stored?)", what, name, gf, wt)
			}
			continue
		}
		if !reflect.DeepEqual(gf, wf) {
			t.Errorf("%s: field %s = %#v; want %#v (not stored?)", what, name, gf, wf)
		}
	}
}

func init() {
	metaCases = append(metaCases, testCase{"EveryFieldSurvives", func(t *testing.T, e *env) {
		var u store.User
		fill(&u)
		u.Name = "amy"
		must(t, e.s.AddUser(u))
		gotU, err := e.s.User("amy")
		must(t, err)
		sameFields(t, gotU, u, "User")

		var d store.Device
		fill(&d)
		d.ID, d.User = "device-1", "amy"
		must(t, e.s.RegisterDevice(d))
		gotD, err := e.s.Device("device-1")
		must(t, err)
		sameFields(t, gotD, d, "Device")

		var r store.Relationship
		fill(&r)
		r.User, r.NHS = "amy", nhs(0)
		must(t, e.s.GrantRelationship(r))
		gotR, ok, err := e.s.Relationship("amy", nhs(0), at(0))
		must(t, err)
		if !ok {
			t.Fatal("the relationship is not live")
		}
		sameFields(t, gotR, r, "Relationship")

		var m store.PatientMeta
		fill(&m)
		m.NHS = nhs(1)
		if _, err := e.s.CommitPatients([]store.PatientUpdate{{Meta: m, Docs: map[string][]byte{store.DocFull: []byte("d")}}}, at(50)); err != nil {
			t.Fatal(err)
		}
		gotM, err := e.s.Patient(nhs(1))
		must(t, err)
		m.Version, m.Updated = gotM.Version, at(50) // the store's own
		sameFields(t, gotM, m, "PatientMeta")

		var ev store.StoredEvent
		fill(&ev)
		ev.Device, ev.Seq, ev.NHS = "device-1", 1, nhs(1)
		var conflict store.StoredEvent
		fill(&conflict)
		conflict.Device, conflict.Seq, conflict.NHS = "device-1", 1, nhs(1)
		conflict.Hash = []byte{0xcc}
		var al store.Alert
		fill(&al)
		must(t, e.s.StoreAudit("device-1", []store.StoredEvent{ev}, []store.StoredEvent{conflict}, []store.Alert{al}, []byte("chain")))
		evs := events(t, e.s, "device-1")
		if len(evs) != 1 {
			t.Fatalf("%d events", len(evs))
		}
		sameFields(t, evs[0], ev, "StoredEvent")
		cs := conflicts(t, e.s, "device-1")
		if len(cs) != 1 {
			t.Fatalf("%d conflicts", len(cs))
		}
		sameFields(t, cs[0], conflict, "a conflicting StoredEvent")
		as := alerts(t, e.s)
		if len(as) != 1 {
			t.Fatalf("%d alerts", len(as))
		}
		al.ID = as[0].ID // the store numbers alerts
		sameFields(t, as[0], al, "Alert")
	}})
}
