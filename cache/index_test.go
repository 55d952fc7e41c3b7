package cache

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"kmcr/record"
)

// Ensure merge gives the same order as sorting the union, keeps an element
// of a before an equal element of b, and places additions at the ends and
// between equal runs correctly.
func TestIndex_Merge_MatchesStableSort(t *testing.T) {
	byKey := func(x, y *entry) int { return cmp.Compare(x.postcodeKey, y.postcodeKey) }
	mk := func(tag string, keys ...int) []*entry {
		out := make([]*entry, len(keys))
		for i, k := range keys {
			out[i] = &entry{postcodeKey: fmt.Sprintf("%03d", k), nameKey: fmt.Sprintf("%s%d", tag, i)}
		}
		return out
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randomKeys := func(n, span int) []int {
		ks := make([]int, n)
		for i := range ks {
			ks[i] = rng.IntN(span)
		}
		slices.Sort(ks)
		return ks
	}
	tests := []struct {
		name string
		a, b []int
	}{
		{"empty b", []int{1, 2, 3}, nil},
		{"empty a", nil, []int{1, 2}},
		{"before all", []int{5, 6, 7}, []int{1}},
		{"after all", []int{5, 6, 7}, []int{9}},
		{"between", []int{1, 3, 5, 7}, []int{2, 6}},
		{"equal keys: a first", []int{1, 2, 2, 2, 3}, []int{2, 2}},
		{"one into many", randomKeys(1000, 500), []int{250}},
		{"many into many", randomKeys(1000, 100), randomKeys(300, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := mk("a", tt.a...), mk("b", tt.b...)
			want := slices.Concat(a, b)
			slices.SortStableFunc(want, byKey)
			got := merge(a, b, byKey)
			if len(got) != len(want) {
				t.Fatalf("merged %d entries, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("entry %d is %s/%s, want %s/%s", i, got[i].postcodeKey, got[i].nameKey, want[i].postcodeKey, want[i].nameKey)
				}
			}
		})
	}
}

// Ensure index.apply, after many small commits of additions, replacements
// and removals, holds exactly what building the index from scratch holds.
func TestIndex_Apply_MatchesRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ns := nhsNumbers(0, 400)
	ix := newIndex()
	live := map[recordID]*entry{}
	for round := range 200 {
		changes := map[recordID]*entry{}
		for range 1 + rng.IntN(5) {
			n := ns[rng.IntN(len(ns))]
			var id recordID
			copy(id[:], n)
			if _, ok := live[id]; ok && rng.IntN(3) == 0 {
				changes[id] = nil
				continue
			}
			ie := IndexEntry{NHS: n, Family: fmt.Sprintf("Fam%d", rng.IntN(20)), Given: "G", BirthDate: fmt.Sprintf("19%02d-01-02", rng.IntN(100)), Postcode: fmt.Sprintf("ME%d 1AA", rng.IntN(9))}
			changes[id] = newEntry(id, &ie, uint64(round), 1)
		}
		ix.apply(false, changes)
		for id, e := range changes {
			if e == nil {
				delete(live, id)
			} else {
				live[id] = e
			}
		}
	}
	var all []*entry
	for _, e := range live {
		c := *e
		all = append(all, &c)
	}
	want := buildIndex(all)
	for _, s := range []struct {
		name      string
		got, want []*entry
	}{{"byName", ix.byName, want.byName}, {"byDOB", ix.byDOB, want.byDOB}, {"byPostcode", ix.byPostcode, want.byPostcode}} {
		if len(s.got) != len(s.want) {
			t.Fatalf("%s holds %d entries, want %d", s.name, len(s.got), len(s.want))
		}
		for i := range s.want {
			if s.got[i].id != s.want[i].id {
				t.Fatalf("%s entry %d differs from a rebuilt index", s.name, i)
			}
		}
	}
}

// patientsReference is the straightforward merge index.patients must
// agree with: every committed entry compared with the next addition.
func patientsReference(ix *index, now int64, changes map[recordID]*entry, cleared bool) []record.NHSNumber {
	var out []record.NHSNumber
	var adds []*entry
	for _, e := range changes {
		if e != nil && e.notAfter > now {
			adds = append(adds, e)
		}
	}
	slices.SortFunc(adds, cmpName)
	var committed []*entry
	if !cleared {
		committed = ix.byName
	}
	i, j := 0, 0
	for i < len(committed) || j < len(adds) {
		var e *entry
		if j >= len(adds) || (i < len(committed) && cmpName(committed[i], adds[j]) < 0) {
			e = committed[i]
			i++
			if _, changed := changes[e.id]; changed || e.notAfter <= now {
				continue
			}
		} else {
			e = adds[j]
			j++
		}
		out = append(out, e.ie.NHS)
	}
	return out
}

// Ensure index.patients lists what the straightforward merge lists, for
// transactions that add, replace, delete and expire patients, and after
// DeleteAll.
func TestIndex_Patients_MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ns := nhsNumbers(0, 300)
	idFor := func(n record.NHSNumber) recordID {
		var id recordID
		copy(id[:], n)
		return id
	}
	mkEntry := func(n record.NHSNumber, notAfter int64) *entry {
		ie := IndexEntry{NHS: n, Family: fmt.Sprintf("Fam%d", rng.IntN(15)), Given: fmt.Sprintf("G%d", rng.IntN(3)), BirthDate: fmt.Sprintf("19%02d-01-02", rng.IntN(100))}
		return newEntry(idFor(n), &ie, 1, notAfter)
	}
	const now = 100
	var all []*entry
	for _, n := range ns[:200] {
		all = append(all, mkEntry(n, int64(50+rng.IntN(100)))) // some already expired
	}
	ix := buildIndex(all)
	for round := range 300 {
		changes := map[recordID]*entry{}
		for range rng.IntN(8) {
			n := ns[rng.IntN(len(ns))]
			switch rng.IntN(3) {
			case 0:
				changes[idFor(n)] = nil
			default:
				changes[idFor(n)] = mkEntry(n, int64(50+rng.IntN(100)))
			}
		}
		cleared := round%50 == 49
		got := ix.patients(now, changes, cleared)
		want := patientsReference(ix, now, changes, cleared)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: listed %d patients, want %d (or a different order)", round, len(got), len(want))
		}
		if round%3 == 0 {
			ix.apply(false, changes)
		}
	}
	if got := ix.patients(now, nil, false); !slices.Equal(got, patientsReference(ix, now, nil, false)) {
		t.Fatal("a read-only listing differs from the reference")
	}
}
