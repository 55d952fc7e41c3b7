package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"kmcr/server/store"
)

var userCases = []testCase{
	{"AddAndRead", func(t *testing.T, e *env) {
		u := store.User{Name: "amy", Role: "paramedic", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", Created: at(1)}
		must(t, e.s.AddUser(u))
		got, err := e.s.User("amy")
		must(t, err)
		if got.Name != u.Name || got.Role != u.Role || got.PasswordHash != u.PasswordHash || !got.Created.Equal(u.Created) {
			t.Fatalf("User = %+v; want %+v", got, u)
		}
		noChanges(t, e.s, 0, "AddUser")
	}},
	{"AddExistingRefused", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy", Role: "paramedic", PasswordHash: "first"}))
		wantIs(t, e.s.AddUser(store.User{Name: "amy", Role: "admin", PasswordHash: "second"}), store.ErrExists, "AddUser twice")
		got, err := e.s.User("amy")
		must(t, err)
		if got.Role != "paramedic" || got.PasswordHash != "first" {
			t.Fatalf("a refused AddUser changed the user: %+v", got)
		}
	}},
	{"UnknownUser", func(t *testing.T, e *env) {
		_, err := e.s.User("nobody")
		wantIs(t, err, store.ErrNotFound, "User(nobody)")
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		_, err = e.s.User("am")
		wantIs(t, err, store.ErrNotFound, "User(am) beside amy")
	}},
	{"ListAll", func(t *testing.T, e *env) {
		us, err := e.s.Users()
		must(t, err)
		if len(us) != 0 {
			t.Fatalf("Users of a new store = %+v", us)
		}
		names := []string{"zoe", "amy", "bob", "amy2", "Amy"}
		for i, n := range names {
			must(t, e.s.AddUser(store.User{Name: n, Role: "community", Created: at(i)}))
		}
		us, err = e.s.Users()
		must(t, err)
		var got []string
		for _, u := range us {
			got = append(got, u.Name)
			if u.Role != "community" {
				t.Errorf("user %s lost its role", u.Name)
			}
		}
		sameSet(t, got, names, "Users")
	}},
	{"UpdateKeepsWhatTheFunctionSets", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy", Role: "paramedic", PasswordHash: "first", Created: at(1)}))
		must(t, e.s.AddUser(store.User{Name: "amya", Role: "community", PasswordHash: "other"}))
		must(t, e.s.UpdateUser("amy", func(u *store.User) error {
			if u.PasswordHash != "first" || u.Role != "paramedic" {
				t.Fatalf("UpdateUser handed over %+v", *u)
			}
			u.Disabled, u.DisabledAt, u.PasswordHash, u.PasswordChanged = true, at(5), "second", at(6)
			return nil
		}))
		got, err := e.s.User("amy")
		must(t, err)
		if !got.Disabled || !got.DisabledAt.Equal(at(5)) || got.PasswordHash != "second" || !got.PasswordChanged.Equal(at(6)) ||
			got.Role != "paramedic" || !got.Created.Equal(at(1)) {
			t.Fatalf("User after UpdateUser = %+v", got)
		}
		if other, _ := e.s.User("amya"); other.Disabled || other.PasswordHash != "other" {
			t.Fatalf("UpdateUser of amy changed amya: %+v", other)
		}
		noChanges(t, e.s, 0, "UpdateUser")
	}},
	{"UpdateErrorChangesNothing", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy", Role: "paramedic", PasswordHash: "first"}))
		err := e.s.UpdateUser("amy", func(u *store.User) error { u.Disabled, u.PasswordHash = true, "x"; return errRefused })
		wantIs(t, err, errRefused, "UpdateUser whose function fails")
		err = e.s.UpdateUser("amy", func(u *store.User) error { u.Name = "bob"; return nil })
		if err == nil {
			t.Fatal("UpdateUser let its function change the name")
		}
		if got, _ := e.s.User("amy"); got.Disabled || got.PasswordHash != "first" {
			t.Fatalf("a refused UpdateUser changed the user: %+v", got)
		}
		if _, err := e.s.User("bob"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused rename made bob: %v", err)
		}
		called := false
		err = e.s.UpdateUser("nobody", func(*store.User) error { called = true; return nil })
		wantIs(t, err, store.ErrNotFound, "UpdateUser(nobody)")
		if called {
			t.Fatal("UpdateUser called its function for an unknown user")
		}
	}},
}

var caseloadCases = []testCase{
	{"AddLogsEachNewNumber", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		got, err := e.s.CaseloadAdd("amy", []string{nhs(2), nhs(0), nhs(2), nhs(1)})
		must(t, err)
		sameSet(t, got, []string{nhs(0), nhs(1), nhs(2)}, "CaseloadAdd")
		expectChanges(t, e.s, 0, false,
			change{Kind: store.ChangeCaseloadAdd, User: "amy", NHS: nhs(0)},
			change{Kind: store.ChangeCaseloadAdd, User: "amy", NHS: nhs(1)},
			change{Kind: store.ChangeCaseloadAdd, User: "amy", NHS: nhs(2)})
		for i := range 3 {
			if in, err := e.s.InCaseload("amy", nhs(i)); err != nil || !in {
				t.Fatalf("InCaseload(%s) = %v, %v", nhs(i), in, err)
			}
		}
		seq := lastSeq(t, e.s)
		again, err := e.s.CaseloadAdd("amy", []string{nhs(1), nhs(3)})
		must(t, err)
		sameSet(t, again, []string{nhs(3)}, "CaseloadAdd with one held")
		expectChanges(t, e.s, seq, true, change{Kind: store.ChangeCaseloadAdd, User: "amy", NHS: nhs(3)})
		seq = lastSeq(t, e.s)
		none, err := e.s.CaseloadAdd("amy", []string{nhs(0)})
		must(t, err)
		if len(none) != 0 {
			t.Fatalf("adding a held number reported %v", none)
		}
		if empty, err := e.s.CaseloadAdd("amy", nil); err != nil || len(empty) != 0 {
			t.Fatalf("adding nothing: %v, %v", empty, err)
		}
		noChanges(t, e.s, seq, "adding held numbers")
	}},
	{"RemoveLogsEachHeldNumber", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		must(t, e.s.AddUser(store.User{Name: "bob"}))
		if got, err := e.s.CaseloadRemove("amy", []string{nhs(0)}); err != nil || len(got) != 0 {
			t.Fatalf("removing from a caseload never made: %v, %v", got, err)
		}
		if _, err := e.s.CaseloadAdd("amy", []string{nhs(0), nhs(1), nhs(2)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.CaseloadAdd("bob", []string{nhs(0)}); err != nil {
			t.Fatal(err)
		}
		seq := lastSeq(t, e.s)
		got, err := e.s.CaseloadRemove("amy", []string{nhs(0), nhs(9), nhs(2), nhs(0)})
		must(t, err)
		sameSet(t, got, []string{nhs(0), nhs(2)}, "CaseloadRemove")
		expectChanges(t, e.s, seq, false,
			change{Kind: store.ChangeCaseloadRemove, User: "amy", NHS: nhs(0)},
			change{Kind: store.ChangeCaseloadRemove, User: "amy", NHS: nhs(2)})
		for i, want := range []bool{false, true, false} {
			if in, _ := e.s.InCaseload("amy", nhs(i)); in != want {
				t.Errorf("after removal InCaseload(amy, %s) = %v", nhs(i), in)
			}
		}
		if in, _ := e.s.InCaseload("bob", nhs(0)); !in {
			t.Error("removing from amy's caseload removed from bob's")
		}
		seq = lastSeq(t, e.s)
		if again, err := e.s.CaseloadRemove("amy", []string{nhs(0)}); err != nil || len(again) != 0 {
			t.Fatalf("removing again: %v, %v", again, err)
		}
		noChanges(t, e.s, seq, "removing numbers not held")
	}},
	{"UnknownUserRefused", func(t *testing.T, e *env) {
		_, err := e.s.CaseloadAdd("nobody", []string{nhs(0)})
		wantIs(t, err, store.ErrNotFound, "CaseloadAdd(nobody)")
		_, err = e.s.CaseloadRemove("nobody", []string{nhs(0)})
		wantIs(t, err, store.ErrNotFound, "CaseloadRemove(nobody)")
		noChanges(t, e.s, 0, "refused caseload changes")
		if in, err := e.s.InCaseload("nobody", nhs(0)); err != nil || in {
			t.Fatalf("InCaseload(nobody) = %v, %v; want false, nil", in, err)
		}
		must(t, e.s.AddUser(store.User{Name: "nobody"}))
		if n, err := e.s.CountPermitted("nobody", "", base); err != nil || n != 0 {
			t.Fatalf("a refused CaseloadAdd left %d permitted (%v)", n, err)
		}
	}},
}

// permitted lists Permitted's calls as "nhs:rel" (and the expiry for
// break-glass).
func permitted(t *testing.T, s store.Store, user, after string, now time.Time) []string {
	t.Helper()
	var out []string
	must(t, s.Permitted(user, after, now, func(n, rel string, exp time.Time) error {
		switch {
		case rel == "caseload" && exp.IsZero():
			out = append(out, n+":c")
		case rel == "break-glass":
			out = append(out, fmt.Sprintf("%s:b@%s", n, exp.UTC().Format(time.RFC3339)))
		case rel == "incident":
			out = append(out, fmt.Sprintf("%s:i@%s", n, exp.UTC().Format(time.RFC3339)))
		default:
			out = append(out, n+":?"+rel)
		}
		return nil
	}))
	return out
}

var permittedCases = []testCase{
	{"MergesCaseloadAndLiveRelationships", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		must(t, e.s.AddUser(store.User{Name: "amya"}))
		if _, err := e.s.CaseloadAdd("amy", []string{nhs(3), nhs(1), nhs(5)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.CaseloadAdd("amya", []string{nhs(0)}); err != nil {
			t.Fatal(err)
		}
		now := at(60)
		for _, r := range []store.Relationship{
			{User: "amy", NHS: nhs(2), Granted: at(0), Expires: at(120)},
			{User: "amy", NHS: nhs(5), Granted: at(0), Expires: at(120)}, // also in the caseload
			{User: "amy", NHS: nhs(4), Granted: at(0), Expires: at(30)},  // expired
			{User: "amy", NHS: nhs(7), Granted: at(0), Expires: now},     // ends exactly now
			{User: "amya", NHS: nhs(6), Granted: at(0), Expires: at(120)},
			{User: "am", NHS: nhs(8), Granted: at(0), Expires: at(120)},
			{User: "amy", NHS: nhs(9), Granted: at(0), Expires: at(90)},
		} {
			must(t, e.s.GrantRelationship(r))
		}
		b := func(i, min int) string { return fmt.Sprintf("%s:b@%s", nhs(i), at(min).Format(time.RFC3339)) }
		want := []string{nhs(1) + ":c", b(2, 120), nhs(3) + ":c", nhs(5) + ":c", b(9, 90)}
		if got := permitted(t, e.s, "amy", "", now); !slices.Equal(got, want) {
			t.Fatalf("Permitted = %v\nwant %v", got, want)
		}
		for i, after := range []string{nhs(1), nhs(2), nhs(3), nhs(4), nhs(5), nhs(9)} {
			cut := []int{1, 2, 3, 3, 4, 5}[i]
			if got := permitted(t, e.s, "amy", after, now); !slices.Equal(got, want[cut:]) {
				t.Errorf("Permitted after %s = %v; want %v", after, got, want[cut:])
			}
			if n, err := e.s.CountPermitted("amy", after, now); err != nil || n != len(want)-cut {
				t.Errorf("CountPermitted after %s = %d, %v; want %d", after, n, err, len(want)-cut)
			}
		}
		if n, err := e.s.CountPermitted("amy", "", now); err != nil || n != len(want) {
			t.Fatalf("CountPermitted = %d, %v; want %d", n, err, len(want))
		}
		// Later, only the caseload is left.
		if got := permitted(t, e.s, "amy", "", at(200)); !slices.Equal(got, []string{nhs(1) + ":c", nhs(3) + ":c", nhs(5) + ":c"}) {
			t.Fatalf("Permitted after every relationship ended = %v", got)
		}
		if got := permitted(t, e.s, "amya", "", now); !slices.Equal(got, []string{nhs(0) + ":c", b(6, 120)}) {
			t.Fatalf("amya's Permitted = %v (a user whose name extends another's)", got)
		}
		if got := permitted(t, e.s, "nobody", "", now); len(got) != 0 {
			t.Fatalf("an unknown user is permitted %v", got)
		}
	}},
	{"OnlyRelationships", func(t *testing.T, e *env) {
		must(t, e.s.GrantRelationship(store.Relationship{User: "pam", NHS: nhs(4), Granted: at(0), Expires: at(60)}))
		must(t, e.s.GrantRelationship(store.Relationship{User: "pam", NHS: nhs(2), Granted: at(0), Expires: at(60)}))
		want := []string{fmt.Sprintf("%s:b@%s", nhs(2), at(60).Format(time.RFC3339)), fmt.Sprintf("%s:b@%s", nhs(4), at(60).Format(time.RFC3339))}
		if got := permitted(t, e.s, "pam", "", at(1)); !slices.Equal(got, want) {
			t.Fatalf("Permitted = %v; want %v", got, want)
		}
	}},
	{"NHSOrderAtScale", func(t *testing.T, e *env) {
		// A shuffled caseload and relationships, against a sorted model.
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		r := rand.New(rand.NewPCG(1, 2))
		order := r.Perm(len(nhsList))
		var caseload []string
		model := map[string]string{}
		for k, i := range order {
			n := nhs(i)
			switch k % 3 {
			case 0:
				caseload = append(caseload, n)
				model[n] = n + ":c"
			case 1:
				must(t, e.s.GrantRelationship(store.Relationship{User: "amy", NHS: n, Granted: at(0), Expires: at(100 + k)}))
				model[n] = fmt.Sprintf("%s:b@%s", n, at(100+k).Format(time.RFC3339))
			default:
				must(t, e.s.GrantRelationship(store.Relationship{User: "amy", NHS: n, Granted: at(0), Expires: at(10)}))
			}
		}
		if _, err := e.s.CaseloadAdd("amy", caseload); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for n := range model {
			keys = append(keys, n)
		}
		sort.Strings(keys)
		var want []string
		for _, n := range keys {
			want = append(want, model[n])
		}
		if got := permitted(t, e.s, "amy", "", at(50)); !slices.Equal(got, want) {
			t.Fatalf("Permitted is not the sorted merge:\n got %v\nwant %v", got, want)
		}
	}},
	{"CallbackErrorStops", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		if _, err := e.s.CaseloadAdd("amy", []string{nhs(0), nhs(1)}); err != nil {
			t.Fatal(err)
		}
		must(t, e.s.GrantRelationship(store.Relationship{User: "amy", NHS: nhs(2), Granted: at(0), Expires: at(60)}))
		for stopAt := 1; stopAt <= 3; stopAt++ {
			n := 0
			err := e.s.Permitted("amy", "", at(1), func(string, string, time.Time) error {
				n++
				if n == stopAt {
					return errStop
				}
				return nil
			})
			if !errors.Is(err, errStop) || n != stopAt {
				t.Fatalf("stopping at call %d: %v after %d calls", stopAt, err, n)
			}
		}
	}},
}

var objectionCases = []testCase{
	{"ObjectAndWithdraw", func(t *testing.T, e *env) {
		if ps, err := e.s.Objections(nhs(0)); err != nil || len(ps) != 0 {
			t.Fatalf("Objections of a patient with none: %v, %v", ps, err)
		}
		changed, err := e.s.Object(nhs(0), "research")
		must(t, err)
		if !changed {
			t.Fatal("a first objection reported no change")
		}
		expectChanges(t, e.s, 0, true, change{Kind: store.ChangeObjection, NHS: nhs(0), Reason: "research"})
		seq := lastSeq(t, e.s)
		if changed, err := e.s.Object(nhs(0), "research"); err != nil || changed {
			t.Fatalf("objecting again: %v, %v; want false", changed, err)
		}
		noChanges(t, e.s, seq, "a repeated objection")
		if _, err := e.s.Object(nhs(0), "planning"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Object(nhs(1), "emergency-care"); err != nil {
			t.Fatal(err)
		}
		ps, err := e.s.Objections(nhs(0))
		must(t, err)
		sameSet(t, ps, []string{"research", "planning"}, "Objections")
		seq = lastSeq(t, e.s)
		if changed, err := e.s.Withdraw(nhs(0), "research"); err != nil || !changed {
			t.Fatalf("Withdraw: %v, %v", changed, err)
		}
		expectChanges(t, e.s, seq, true, change{Kind: store.ChangeWithdraw, NHS: nhs(0), Reason: "research"})
		ps, _ = e.s.Objections(nhs(0))
		sameSet(t, ps, []string{"planning"}, "Objections after a withdrawal")
		ps, _ = e.s.Objections(nhs(1))
		sameSet(t, ps, []string{"emergency-care"}, "another patient's objections")
		seq = lastSeq(t, e.s)
		if changed, err := e.s.Withdraw(nhs(0), "research"); err != nil || changed {
			t.Fatalf("withdrawing again: %v, %v", changed, err)
		}
		if changed, err := e.s.Withdraw(nhs(5), "research"); err != nil || changed {
			t.Fatalf("withdrawing for a patient who never objected: %v, %v", changed, err)
		}
		noChanges(t, e.s, seq, "withdrawals that changed nothing")
		if _, err := e.s.Withdraw(nhs(0), "planning"); err != nil {
			t.Fatal(err)
		}
		if ps, _ := e.s.Objections(nhs(0)); len(ps) != 0 {
			t.Fatalf("every objection withdrawn, still %v", ps)
		}
	}},
}

var relationshipCases = []testCase{
	{"GrantAndRead", func(t *testing.T, e *env) {
		r := store.Relationship{User: "amy", NHS: nhs(0), Granted: at(0), Expires: at(120), ReasonCode: "emergency-treatment", ReasonText: "unconscious at scene", Device: "device-1"}
		must(t, e.s.GrantRelationship(r))
		expectChanges(t, e.s, 0, true, change{Kind: store.ChangeRelationship, User: "amy", NHS: nhs(0), Reason: "emergency-treatment", At: at(0)})
		got, ok, err := e.s.Relationship("amy", nhs(0), at(60))
		must(t, err)
		if !ok || got.User != r.User || got.NHS != r.NHS || !got.Granted.Equal(r.Granted) || !got.Expires.Equal(r.Expires) ||
			got.ReasonCode != r.ReasonCode || got.ReasonText != r.ReasonText || got.Device != r.Device {
			t.Fatalf("Relationship = %+v, %v; want %+v", got, ok, r)
		}
		for _, now := range []time.Time{at(120), at(121)} {
			if _, ok, err := e.s.Relationship("amy", nhs(0), now); err != nil || ok {
				t.Fatalf("Relationship at %v (expires %v) = %v, %v; want not live", now, r.Expires, ok, err)
			}
		}
		for _, q := range [][2]string{{"amy", nhs(1)}, {"bob", nhs(0)}, {"am", nhs(0)}} {
			if _, ok, err := e.s.Relationship(q[0], q[1], at(1)); err != nil || ok {
				t.Fatalf("Relationship(%s, %s) = %v, %v; want none", q[0], q[1], ok, err)
			}
		}
	}},
	{"RegrantReplaces", func(t *testing.T, e *env) {
		must(t, e.s.GrantRelationship(store.Relationship{User: "amy", NHS: nhs(0), Granted: at(0), Expires: at(60), ReasonCode: "a"}))
		must(t, e.s.GrantRelationship(store.Relationship{User: "amy", NHS: nhs(0), Granted: at(50), Expires: at(200), ReasonCode: "b"}))
		got, ok, err := e.s.Relationship("amy", nhs(0), at(100))
		if err != nil || !ok || got.ReasonCode != "b" || !got.Expires.Equal(at(200)) {
			t.Fatalf("after a second grant: %+v, %v, %v", got, ok, err)
		}
		expectChanges(t, e.s, 0, true,
			change{Kind: store.ChangeRelationship, User: "amy", NHS: nhs(0), Reason: "a", At: at(0)},
			change{Kind: store.ChangeRelationship, User: "amy", NHS: nhs(0), Reason: "b", At: at(50)})
		if n, err := e.s.ExpireRelationships(at(100)); err != nil || n != 0 {
			t.Fatalf("the first grant's expiry ended the second: %d, %v", n, err)
		}
	}},
	{"ExpireEndsOnlyThePast", func(t *testing.T, e *env) {
		if n, err := e.s.ExpireRelationships(at(0)); err != nil || n != 0 {
			t.Fatalf("expiring none: %d, %v", n, err)
		}
		for i, exp := range []int{10, 20, 30, 40} {
			must(t, e.s.GrantRelationship(store.Relationship{User: "amy", NHS: nhs(i), Granted: at(0), Expires: at(exp)}))
		}
		must(t, e.s.GrantRelationship(store.Relationship{User: "bob", NHS: nhs(0), Granted: at(0), Expires: at(15)}))
		seq := lastSeq(t, e.s)
		n, err := e.s.ExpireRelationships(at(20))
		must(t, err)
		if n != 3 {
			t.Fatalf("ExpireRelationships(at 20) = %d; want 3 (those ending at 10, 15 and exactly 20)", n)
		}
		expectChanges(t, e.s, seq, false,
			change{Kind: store.ChangeRelationshipEnd, User: "amy", NHS: nhs(0), At: at(20)},
			change{Kind: store.ChangeRelationshipEnd, User: "amy", NHS: nhs(1), At: at(20)},
			change{Kind: store.ChangeRelationshipEnd, User: "bob", NHS: nhs(0), At: at(20)})
		// An ended relationship is gone even when asked about an earlier time.
		if _, ok, err := e.s.Relationship("amy", nhs(0), at(5)); err != nil || ok {
			t.Fatalf("an expired relationship still answers for an earlier time: %v, %v", ok, err)
		}
		if _, ok, _ := e.s.Relationship("amy", nhs(2), at(21)); !ok {
			t.Fatal("a live relationship was ended")
		}
		seq = lastSeq(t, e.s)
		if n, err := e.s.ExpireRelationships(at(20)); err != nil || n != 0 {
			t.Fatalf("expiring again: %d, %v", n, err)
		}
		noChanges(t, e.s, seq, "a second expiry at the same time")
		if n, _ := e.s.ExpireRelationships(at(1000)); n != 2 {
			t.Fatalf("expiring the rest: %d; want 2", n)
		}
		if got := permitted(t, e.s, "amy", "", at(0)); len(got) != 0 {
			t.Fatalf("after every relationship expired, Permitted at an earlier time = %v", got)
		}
	}},
}
