package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"kmcr/server/store"
)

var reopenCases = []testCase{
	{"EverythingSurvives", func(t *testing.T, e *env) {
		s := e.s
		epoch := s.Epoch()
		secret, err := s.Secret("access-token")
		must(t, err)
		must(t, s.AddUser(store.User{Name: "amy", Role: "paramedic", PasswordHash: "h", Created: at(0)}))
		if _, err := s.CaseloadAdd("amy", []string{nhs(0), nhs(1)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Object(nhs(1), "research"); err != nil {
			t.Fatal(err)
		}
		must(t, s.GrantRelationship(store.Relationship{User: "amy", NHS: nhs(2), Granted: at(0), Expires: at(600), ReasonCode: "emergency-treatment", ReasonText: "why"}))
		must(t, s.RegisterDevice(fullDevice("device-1", "amy")))
		if _, err := s.StageResources([]store.StagedResource{{PatientKey: "Patient/a", Key: "Condition/1", FullURL: "urn:uuid:1", Raw: []byte(`{"a":1}`)}}); err != nil {
			t.Fatal(err)
		}
		must(t, s.PutShared([]store.StoredResource{{Key: "Organization/1", FullURL: "urn:uuid:o", Raw: []byte(`{"o":1}`)}}))
		must(t, s.MapPatientKeys(map[string]string{"Patient/a": nhs(0)}))
		if _, err := s.CommitPatients([]store.PatientUpdate{update(nhs(0), 1, 1)}, at(5)); err != nil {
			t.Fatal(err)
		}
		ev := event("device-1", 1, nhs(0), 6)
		must(t, s.StoreAudit("device-1", []store.StoredEvent{ev}, []store.StoredEvent{event("device-1", 1, nhs(0), 7)}, []store.Alert{{Kind: "k", Detail: "d", At: at(6)}}, []byte("chain")))
		seq := lastSeq(t, s)
		before := allChanges(t, s, 0)

		s = e.reopen(t)
		if s.Epoch() != epoch {
			t.Fatalf("epoch %q became %q", epoch, s.Epoch())
		}
		if again, _ := s.Secret("access-token"); !bytes.Equal(again, secret) {
			t.Fatal("the secret changed across a restart")
		}
		if n := lastSeq(t, s); n != seq {
			t.Fatalf("LastSeq %d became %d", seq, n)
		}
		after := allChanges(t, s, 0)
		if fmt.Sprintf("%+v", stripTimes(after)) != fmt.Sprintf("%+v", stripTimes(before)) {
			t.Fatalf("the change log changed across a restart:\n%+v\n%+v", before, after)
		}
		for i := range before {
			if !after[i].At.Equal(before[i].At) {
				t.Fatalf("change %d's time moved", before[i].Seq)
			}
		}
		if u, err := s.User("amy"); err != nil || u.Role != "paramedic" || u.PasswordHash != "h" || !u.Created.Equal(at(0)) {
			t.Fatalf("user after restart: %+v, %v", u, err)
		}
		want := []string{nhs(0) + ":c", nhs(1) + ":c", fmt.Sprintf("%s:b@%s", nhs(2), at(600).Format("2006-01-02T15:04:05Z07:00"))}
		if got := permitted(t, s, "amy", "", at(1)); !slices.Equal(got, want) {
			t.Fatalf("Permitted after restart = %v; want %v", got, want)
		}
		if r, ok, _ := s.Relationship("amy", nhs(2), at(1)); !ok || r.ReasonText != "why" {
			t.Fatalf("relationship after restart: %+v, %v", r, ok)
		}
		if ps, _ := s.Objections(nhs(1)); !slices.Equal(ps, []string{"research"}) {
			t.Fatalf("objections after restart: %v", ps)
		}
		d, _ := s.Device("device-1")
		wantDev := fullDevice("device-1", "amy")
		wantDev.Chain = []byte("chain")
		sameDevice(t, d, wantDev, "device after restart")
		if got := res(t, s, "Patient/a"); !slices.Equal(got, []string{`Condition/1|urn:uuid:1|{"a":1}`}) {
			t.Fatalf("resources after restart: %v", got)
		}
		if r, ok, _ := s.Shared("urn:uuid:o"); !ok || string(r.Raw) != `{"o":1}` {
			t.Fatal("shared resource lost in a restart")
		}
		if keys, _ := s.PatientKeys(nhs(0)); !slices.Equal(keys, []string{"Patient/a"}) {
			t.Fatalf("patient keys after restart: %v", keys)
		}
		if m, err := s.Patient(nhs(0)); err != nil || m.Version == 0 || m.Sensitive != 1 || docOf(t, s, nhs(0), store.DocFull) != "full b" {
			t.Fatalf("patient after restart: %+v, %v", m, err)
		}
		if evs := events(t, s, "device-1"); len(evs) != 1 {
			t.Fatalf("events after restart: %v", evs)
		} else {
			sameEvent(t, evs[0], ev, "event after restart")
		}
		if len(conflicts(t, s, "device-1")) != 1 || len(accessLog(t, s, nhs(0))) != 1 {
			t.Fatal("conflicts or the access log lost in a restart")
		}
		// Numbering carries on: no sequence number or alert ID is reused.
		if _, err := s.CaseloadAdd("amy", []string{nhs(3)}); err != nil {
			t.Fatal(err)
		}
		if cs := allChanges(t, s, seq); len(cs) != 1 || cs[0].Seq != seq+1 {
			t.Fatalf("the change after a restart: %+v; want sequence %d", cs, seq+1)
		}
		must(t, s.AddAlerts([]store.Alert{{Kind: "k2", Detail: "d", At: at(9)}}))
		if as := alerts(t, s); len(as) != 2 || as[1].ID != 2 {
			t.Fatalf("alerts after restart: %+v", as)
		}
	}},
	{"SubscribeAfterRestart", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		if _, err := e.s.CaseloadAdd("amy", []string{nhs(0)}); err != nil {
			t.Fatal(err)
		}
		s := e.reopen(t)
		ch, cancel := s.Subscribe()
		defer cancel()
		if _, err := s.CaseloadAdd("amy", []string{nhs(1)}); err != nil {
			t.Fatal(err)
		}
		if got := waitFor(t, ch, 2); got != 2 {
			t.Fatalf("notified %d after a restart; want 2", got)
		}
	}},
}

// stripTimes drops the times, which are compared with Equal separately.
func stripTimes(cs []store.Change) []store.Change {
	out := slices.Clone(cs)
	for i := range out {
		out[i].At = time.Time{}
	}
	return out
}

var concurrencyCases = []testCase{
	{"ConcurrentWritersLeaveNoGaps", func(t *testing.T, e *env) {
		const writers, each = 8, 10
		for w := range writers {
			must(t, e.s.AddUser(store.User{Name: fmt.Sprintf("user-%d", w)}))
		}
		ch, cancel := e.s.Subscribe()
		defer cancel()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					user := fmt.Sprintf("user-%d", w)
					var err error
					switch i % 3 {
					case 0:
						_, err = e.s.CaseloadAdd(user, []string{nhs(i)})
					case 1:
						_, err = e.s.Object(nhs(w*each+i), "research")
					default:
						err = e.s.GrantRelationship(store.Relationship{User: user, NHS: nhs(i), Granted: at(i), Expires: at(600)})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		cs := allChanges(t, e.s, 0)
		if len(cs) != writers*each {
			t.Fatalf("%d changes from %d writes", len(cs), writers*each)
		}
		for i, c := range cs {
			if c.Seq != uint64(i)+1 {
				t.Fatalf("change %d has sequence %d: the log has a gap or a repeat", i, c.Seq)
			}
		}
		if n := lastSeq(t, e.s); n != writers*each {
			t.Fatalf("LastSeq %d", n)
		}
		waitFor(t, ch, writers*each)
	}},
}
