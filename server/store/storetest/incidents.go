package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"kmcr/record"
	"kmcr/server/store"
)

func incident(id string, crew []string, nums []string, opened, expires int) store.Incident {
	return store.Incident{ID: id, Source: "cad-1", Address: "12 High Street", Postcode: "ME1 1AA",
		Opened: at(opened), Updated: at(opened), Expires: at(expires), Crew: crew, NHS: nums}
}

func sameIncident(t *testing.T, got, want store.Incident, what string) {
	t.Helper()
	if got.ID != want.ID || got.Source != want.Source || got.Address != want.Address || got.Postcode != want.Postcode ||
		!got.Opened.Equal(want.Opened) || !got.Updated.Equal(want.Updated) || !got.Expires.Equal(want.Expires) ||
		!slices.Equal(got.Crew, want.Crew) || !slices.Equal(got.NHS, want.NHS) || !slices.Equal(got.Named, want.Named) {
		t.Fatalf("%s = %+v; want %+v", what, got, want)
	}
}

func incidentIDs(t *testing.T, s store.Store) []string {
	t.Helper()
	var out []string
	must(t, s.Incidents(func(in store.Incident) error { out = append(out, in.ID); return nil }))
	return out
}

var incidentCases = []testCase{
	{"PutGrantsCrewEachCandidate", func(t *testing.T, e *env) {
		in := incident("4711", []string{"amy", "bob"}, []string{nhs(1), nhs(2)}, 0, 240)
		in.Named = []string{nhs(2)}
		prev, had, err := e.s.PutIncident(in)
		must(t, err)
		if had || prev.ID != "" {
			t.Fatalf("a new incident had a previous version: %+v", prev)
		}
		expectChanges(t, e.s, 0, false,
			change{Kind: store.ChangeIncident, User: "amy", NHS: nhs(1), Reason: "4711", At: at(0)},
			change{Kind: store.ChangeIncident, User: "amy", NHS: nhs(2), Reason: "4711", At: at(0)},
			change{Kind: store.ChangeIncident, User: "bob", NHS: nhs(1), Reason: "4711", At: at(0)},
			change{Kind: store.ChangeIncident, User: "bob", NHS: nhs(2), Reason: "4711", At: at(0)},
			change{Kind: store.ChangeIncidentsList, User: "amy", Reason: "4711", At: at(0)},
			change{Kind: store.ChangeIncidentsList, User: "bob", Reason: "4711", At: at(0)})
		got, err := e.s.Incident("4711")
		must(t, err)
		sameIncident(t, got, in, "Incident")
		_, err = e.s.Incident("4712")
		wantIs(t, err, store.ErrNotFound, "Incident of an unknown id")
		for _, c := range []struct {
			user, n string
			now     int
			ok      bool
		}{{"amy", nhs(1), 10, true}, {"bob", nhs(2), 239, true}, {"amy", nhs(3), 10, false}, {"carl", nhs(1), 10, false}, {"amy", nhs(1), 240, false}, {"am", nhs(1), 10, false}} {
			exp, ok, err := e.s.IncidentGrant(c.user, c.n, at(c.now))
			must(t, err)
			if ok != c.ok || (ok && !exp.Equal(at(240))) {
				t.Errorf("IncidentGrant(%s, %s, at %d) = %v, %v; want %v", c.user, c.n, c.now, exp, ok, c.ok)
			}
		}
	}},
	{"PermittedListsIncidentGrantsLast", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		if _, err := e.s.CaseloadAdd("amy", []string{nhs(1)}); err != nil {
			t.Fatal(err)
		}
		must(t, e.s.GrantRelationship(store.Relationship{User: "amy", NHS: nhs(2), Granted: at(0), Expires: at(60)}))
		// Two incidents share nhs(4): the later expiry counts.
		for _, in := range []store.Incident{
			incident("a", []string{"amy"}, []string{nhs(1), nhs(2), nhs(3), nhs(4)}, 0, 120),
			incident("b", []string{"amy", "bob"}, []string{nhs(4), nhs(5)}, 0, 200),
			incident("c", []string{"amy"}, []string{nhs(6)}, 0, 20), // ended by the time asked
		} {
			if _, _, err := e.s.PutIncident(in); err != nil {
				t.Fatal(err)
			}
		}
		i := func(n, min int) string { return fmt.Sprintf("%s:i@%s", nhs(n), at(min).Format(time.RFC3339)) }
		want := []string{nhs(1) + ":c", fmt.Sprintf("%s:b@%s", nhs(2), at(60).Format(time.RFC3339)), i(3, 120), i(4, 200), i(5, 200)}
		if got := permitted(t, e.s, "amy", "", at(30)); !slices.Equal(got, want) {
			t.Fatalf("Permitted = %v\nwant %v", got, want)
		}
		if got := permitted(t, e.s, "amy", nhs(3), at(30)); !slices.Equal(got, want[3:]) {
			t.Fatalf("Permitted after %s = %v; want %v", nhs(3), got, want[3:])
		}
		if got := permitted(t, e.s, "amy", "", at(150)); !slices.Equal(got, []string{nhs(1) + ":c", i(4, 200), i(5, 200)}) {
			t.Fatalf("Permitted after incident a expired = %v", got)
		}
		if n, err := e.s.CountPermitted("bob", "", at(30)); err != nil || n != 2 {
			t.Fatalf("CountPermitted(bob) = %d, %v; want 2", n, err)
		}
	}},
	{"ReplaceEndsWhatItNoLongerGrants", func(t *testing.T, e *env) {
		first := incident("4711", []string{"amy", "bob"}, []string{nhs(1), nhs(2)}, 0, 240)
		if _, _, err := e.s.PutIncident(first); err != nil {
			t.Fatal(err)
		}
		seq := lastSeq(t, e.s)
		second := incident("4711", []string{"amy", "carl"}, []string{nhs(2)}, 0, 300)
		second.Updated = at(10)
		prev, had, err := e.s.PutIncident(second)
		must(t, err)
		if !had {
			t.Fatal("replacing reported no previous version")
		}
		sameIncident(t, prev, first, "previous version")
		expectChanges(t, e.s, seq, false,
			change{Kind: store.ChangeIncident, User: "amy", NHS: nhs(2), Reason: "4711", At: at(10)},
			change{Kind: store.ChangeIncident, User: "carl", NHS: nhs(2), Reason: "4711", At: at(10)},
			change{Kind: store.ChangeIncidentEnd, User: "amy", NHS: nhs(1), Reason: "4711", At: at(10)},
			change{Kind: store.ChangeIncidentEnd, User: "bob", NHS: nhs(1), Reason: "4711", At: at(10)},
			change{Kind: store.ChangeIncidentEnd, User: "bob", NHS: nhs(2), Reason: "4711", At: at(10)},
			change{Kind: store.ChangeIncidentsList, User: "amy", Reason: "4711", At: at(10)},
			change{Kind: store.ChangeIncidentsList, User: "bob", Reason: "4711", At: at(10)},
			change{Kind: store.ChangeIncidentsList, User: "carl", Reason: "4711", At: at(10)})
		if _, ok, _ := e.s.IncidentGrant("bob", nhs(2), at(20)); ok {
			t.Fatal("a crew member dropped from the incident kept the grant")
		}
		if exp, ok, _ := e.s.IncidentGrant("amy", nhs(2), at(20)); !ok || !exp.Equal(at(300)) {
			t.Fatalf("the replaced grant: %v, %v; want until %v", exp, ok, at(300))
		}
	}},
	{"EndAndExpire", func(t *testing.T, e *env) {
		for _, in := range []store.Incident{
			incident("a", []string{"amy"}, []string{nhs(1)}, 0, 60),
			incident("b", []string{"bob"}, []string{nhs(2)}, 0, 120),
			incident("c", []string{"bob"}, nil, 0, 30), // no candidates: only the list changes
		} {
			if _, _, err := e.s.PutIncident(in); err != nil {
				t.Fatal(err)
			}
		}
		if got := incidentIDs(t, e.s); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("Incidents = %v", got)
		}
		seq := lastSeq(t, e.s)
		ended, err := e.s.EndIncident("b", at(5))
		must(t, err)
		if ended.ID != "b" {
			t.Fatalf("EndIncident returned %+v", ended)
		}
		expectChanges(t, e.s, seq, true,
			change{Kind: store.ChangeIncidentEnd, User: "bob", NHS: nhs(2), Reason: "b", At: at(5)},
			change{Kind: store.ChangeIncidentsList, User: "bob", Reason: "b", At: at(5)})
		_, err = e.s.EndIncident("b", at(6))
		wantIs(t, err, store.ErrNotFound, "ending an ended incident")
		if _, ok, _ := e.s.IncidentGrant("bob", nhs(2), at(6)); ok {
			t.Fatal("a closed incident's grant still holds")
		}
		seq = lastSeq(t, e.s)
		exp, err := e.s.ExpireIncidents(at(29))
		must(t, err)
		if len(exp) != 0 {
			t.Fatalf("ExpireIncidents before any expiry: %+v", exp)
		}
		noChanges(t, e.s, seq, "expiring nothing")
		exp, err = e.s.ExpireIncidents(at(60))
		must(t, err)
		var ids []string
		for _, in := range exp {
			ids = append(ids, in.ID)
		}
		sameSet(t, ids, []string{"a", "c"}, "incidents expired at 60 (ending at 30 and exactly 60)")
		expectChanges(t, e.s, seq, false,
			change{Kind: store.ChangeIncidentEnd, User: "amy", NHS: nhs(1), Reason: "a", At: at(60)},
			change{Kind: store.ChangeIncidentsList, User: "amy", Reason: "a", At: at(60)},
			change{Kind: store.ChangeIncidentsList, User: "bob", Reason: "c", At: at(60)})
		if got := incidentIDs(t, e.s); len(got) != 0 {
			t.Fatalf("Incidents after all ended = %v", got)
		}
		// Incidents survive a restart.
		if _, _, err := e.s.PutIncident(incident("d", []string{"amy"}, []string{nhs(3)}, 0, 500)); err != nil {
			t.Fatal(err)
		}
		s := e.reopen(t)
		if _, ok, err := s.IncidentGrant("amy", nhs(3), at(100)); err != nil || !ok {
			t.Fatalf("after a restart the grant: %v, %v", ok, err)
		}
	}},
	{"PatientsAtPostcode", func(t *testing.T, e *env) {
		a := update(nhs(1), 1, 0)
		a.Meta.Addresses = []record.HomeAddress{{Postcode: "ME1 1AA", Line: "12 High Street"}, {Postcode: "ME4 4TR", Line: "Flat 2, 3 Dock Road"}}
		b := update(nhs(2), 1, 0)
		b.Meta.Addresses = []record.HomeAddress{{Postcode: "ME1 1AA", Line: "14 High Street"}}
		c := update(nhs(3), 1, 0)
		c.Meta.Addresses = []record.HomeAddress{{Postcode: "ME1 1AB", Line: "12 High Street"}}
		if _, err := e.s.CommitPatients([]store.PatientUpdate{c, b, a}, at(0)); err != nil {
			t.Fatal(err)
		}
		at1 := func() []string {
			ms, err := e.s.PatientsAtPostcode("ME1 1AA")
			must(t, err)
			var out []string
			for _, m := range ms {
				out = append(out, m.NHS)
				if m.NHS == nhs(1) && (len(m.Addresses) != 2 || m.Addresses[1].Line != "Flat 2, 3 Dock Road") {
					t.Fatalf("addresses read back: %+v", m.Addresses)
				}
			}
			return out
		}
		if got := at1(); !slices.Equal(got, []string{nhs(1), nhs(2)}) {
			t.Fatalf("PatientsAtPostcode(ME1 1AA) = %v", got)
		}
		// Moving away takes the patient out of the old postcode.
		a2 := update(nhs(1), 2, 0)
		a2.Meta.Addresses = []record.HomeAddress{{Postcode: "ME4 4TR", Line: "Flat 2, 3 Dock Road"}}
		if _, err := e.s.CommitPatients([]store.PatientUpdate{a2}, at(1)); err != nil {
			t.Fatal(err)
		}
		if got := at1(); !slices.Equal(got, []string{nhs(2)}) {
			t.Fatalf("after a move, PatientsAtPostcode(ME1 1AA) = %v", got)
		}
		// A restricted patient is found at no address.
		b2 := update(nhs(2), 3, 0)
		b2.Meta.Restricted, b2.Docs = true, nil
		b2.Meta.Addresses = b.Meta.Addresses
		if _, err := e.s.CommitPatients([]store.PatientUpdate{b2}, at(2)); err != nil {
			t.Fatal(err)
		}
		if got := at1(); len(got) != 0 {
			t.Fatalf("a restricted patient is found by address: %v", got)
		}
		if ms, err := e.s.PatientsAtPostcode("ZZ9 9ZZ"); err != nil || len(ms) != 0 {
			t.Fatalf("an unknown postcode: %v, %v", ms, err)
		}
	}},
}

var dispatcherCases = []testCase{
	{"AddReadListRemove", func(t *testing.T, e *env) {
		d := store.Dispatcher{Name: "medway-cad", SecretHash: bytes.Repeat([]byte{7}, 32), Created: at(0)}
		must(t, e.s.AddDispatcher(d))
		wantIs(t, e.s.AddDispatcher(store.Dispatcher{Name: "medway-cad", SecretHash: []byte{1}, Created: at(1)}), store.ErrExists, "adding a name again")
		must(t, e.s.AddDispatcher(store.Dispatcher{Name: "kent-cad", SecretHash: []byte{2}, Created: at(2)}))
		got, err := e.s.Dispatcher("medway-cad")
		must(t, err)
		if got.Name != d.Name || !bytes.Equal(got.SecretHash, d.SecretHash) || !got.Created.Equal(d.Created) {
			t.Fatalf("Dispatcher = %+v; want %+v", got, d)
		}
		all, err := e.s.Dispatchers()
		must(t, err)
		if len(all) != 2 || all[0].Name != "kent-cad" || all[1].Name != "medway-cad" {
			t.Fatalf("Dispatchers = %+v; want kent-cad, medway-cad", all)
		}
		seq := lastSeq(t, e.s)
		must(t, e.s.RemoveDispatcher("kent-cad"))
		wantIs(t, e.s.RemoveDispatcher("kent-cad"), store.ErrNotFound, "removing twice")
		_, err = e.s.Dispatcher("kent-cad")
		wantIs(t, err, store.ErrNotFound, "a removed dispatch system")
		noChanges(t, e.s, seq, "dispatch credentials")
		s := e.reopen(t)
		if _, err := s.Dispatcher("medway-cad"); err != nil {
			t.Fatalf("after a restart: %v", err)
		}
	}},
}
