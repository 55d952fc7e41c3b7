package storetest

import (
	"testing"

	"kmcr/server/store"
)

func fullOrg(ods string) store.Org {
	return store.Org{ODS: ods, Name: "Practice " + ods, Kind: "gp", DSPT: "met", Created: at(1), Updated: at(2)}
}

func sameOrg(t *testing.T, got, want store.Org, what string) {
	t.Helper()
	if got.ODS != want.ODS || got.Name != want.Name || got.Kind != want.Kind || got.DSPT != want.DSPT ||
		!got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) {
		t.Fatalf("%s = %+v; want %+v", what, got, want)
	}
}

var orgCases = []testCase{
	{"AddAndRead", func(t *testing.T, e *env) {
		must(t, e.s.AddOrg(fullOrg("G82001")))
		got, err := e.s.Org("G82001")
		must(t, err)
		sameOrg(t, got, fullOrg("G82001"), "Org")
		noChanges(t, e.s, 0, "AddOrg")
	}},
	{"AddExistingRefused", func(t *testing.T, e *env) {
		must(t, e.s.AddOrg(fullOrg("G82001")))
		second := fullOrg("G82001")
		second.Name, second.DSPT = "Another", "not-met"
		wantIs(t, e.s.AddOrg(second), store.ErrExists, "AddOrg twice")
		got, _ := e.s.Org("G82001")
		sameOrg(t, got, fullOrg("G82001"), "Org after a refused AddOrg")
	}},
	{"Unknown", func(t *testing.T, e *env) {
		_, err := e.s.Org("G82001")
		wantIs(t, err, store.ErrNotFound, "Org(absent)")
		must(t, e.s.AddOrg(fullOrg("G82001")))
		_, err = e.s.Org("G8200")
		wantIs(t, err, store.ErrNotFound, "Org(prefix of one stored)")
		called := false
		err = e.s.UpdateOrg("RYD", func(*store.Org) error { called = true; return nil })
		wantIs(t, err, store.ErrNotFound, "UpdateOrg(absent)")
		if called {
			t.Fatal("UpdateOrg called its function for an unknown organisation")
		}
	}},
	{"ListInCodeOrder", func(t *testing.T, e *env) {
		if os, err := e.s.Orgs(); err != nil || len(os) != 0 {
			t.Fatalf("Orgs of a new store = %v, %v", os, err)
		}
		for _, c := range []string{"RYD", "G82001", "G82002", "A1"} {
			must(t, e.s.AddOrg(fullOrg(c)))
		}
		os, err := e.s.Orgs()
		must(t, err)
		var got []string
		for _, o := range os {
			sameOrg(t, o, fullOrg(o.ODS), "a listed organisation")
			got = append(got, o.ODS)
		}
		want := []string{"A1", "G82001", "G82002", "RYD"}
		if len(got) != len(want) {
			t.Fatalf("Orgs = %v; want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("Orgs = %v; want %v (byte order)", got, want)
			}
		}
	}},
	{"UpdateChangesWhatTheFunctionSets", func(t *testing.T, e *env) {
		must(t, e.s.AddOrg(fullOrg("G82001")))
		must(t, e.s.AddOrg(fullOrg("G82002")))
		err := e.s.UpdateOrg("G82001", func(o *store.Org) error {
			sameOrg(t, *o, fullOrg("G82001"), "the organisation UpdateOrg hands over")
			o.DSPT, o.Updated = "not-met", at(40)
			return nil
		})
		must(t, err)
		want := fullOrg("G82001")
		want.DSPT, want.Updated = "not-met", at(40)
		got, _ := e.s.Org("G82001")
		sameOrg(t, got, want, "Org after UpdateOrg")
		other, _ := e.s.Org("G82002")
		sameOrg(t, other, fullOrg("G82002"), "another organisation after UpdateOrg")
		noChanges(t, e.s, 0, "UpdateOrg")
	}},
	{"UpdateErrorChangesNothing", func(t *testing.T, e *env) {
		must(t, e.s.AddOrg(fullOrg("G82001")))
		err := e.s.UpdateOrg("G82001", func(o *store.Org) error {
			o.DSPT, o.Name = "not-met", "changed"
			return errRefused
		})
		wantIs(t, err, errRefused, "UpdateOrg whose function fails")
		got, _ := e.s.Org("G82001")
		sameOrg(t, got, fullOrg("G82001"), "Org after a failed update")
	}},
	{"UpdateCannotMoveTheOrg", func(t *testing.T, e *env) {
		must(t, e.s.AddOrg(fullOrg("G82001")))
		err := e.s.UpdateOrg("G82001", func(o *store.Org) error { o.ODS = "G82009"; return nil })
		if err == nil {
			t.Fatal("UpdateOrg accepted a changed ODS code")
		}
		if _, err := e.s.Org("G82009"); err == nil {
			t.Fatal("UpdateOrg stored the organisation under a new code")
		}
		got, _ := e.s.Org("G82001")
		sameOrg(t, got, fullOrg("G82001"), "Org after a refused move")
	}},
	{"UserKeepsItsOrg", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy", Role: "paramedic", Org: "RYD"}))
		must(t, e.s.AddUser(store.User{Name: "old", Role: "paramedic"}))
		u, err := e.s.User("amy")
		must(t, err)
		if u.Org != "RYD" {
			t.Fatalf("User.Org = %q; want RYD", u.Org)
		}
		if u, _ := e.s.User("old"); u.Org != "" {
			t.Fatalf("a user stored without an organisation reads back with %q", u.Org)
		}
	}},
	{"SurviveReopen", func(t *testing.T, e *env) {
		must(t, e.s.AddOrg(fullOrg("G82001")))
		must(t, e.s.UpdateOrg("G82001", func(o *store.Org) error { o.DSPT = "not-met"; return nil }))
		s := e.reopen(t)
		got, err := s.Org("G82001")
		must(t, err)
		want := fullOrg("G82001")
		want.DSPT = "not-met"
		sameOrg(t, got, want, "Org after reopening")
	}},
}
