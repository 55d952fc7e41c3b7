package cache

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"kmcr/record"
)

// Ensure typed dates of birth parse in UK order and reject impossible ones.
func TestParseDate(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"1962-03-12", "1962-03-12", true},
		{"12/03/1962", "1962-03-12", true},
		{"12-03-1962", "1962-03-12", true},
		{"12.03.1962", "1962-03-12", true},
		{"2/3/1962", "1962-03-02", true},
		{"12-Mar-1962", "1962-03-12", true},
		{"12-mar-1962", "1962-03-12", true},
		{"12 March 1962", "1962-03-12", true},
		{"12/Sept/1962", "1962-09-12", true},
		{"29-Feb-2000", "2000-02-29", true},
		{"29-Feb-1900", "", false},
		{"31/02/1962", "", false},
		{"12/13/1962", "", false},
		{"12/03/62", "", false},
		{"12-Mrz-1962", "", false},
		{"1962", "", false},
	}
	for _, tt := range tests {
		got, ok := parseDate(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseDate(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// searchFixture is a small cache with awkward names and postcodes.
func searchFixture(t *testing.T) (*Cache, map[string]record.NHSNumber) {
	c, _ := mustCreate(t)
	people := []struct{ key, family, given, dob, postcode string }{
		{"smithJohn", "Smith", "John", "1962-03-12", "ME7 2JH"},
		{"smithAnne62", "SMITH", "Anne", "1962-03-12", "me72jh"},
		{"smithAnne80", "Smith", "Anne", "1980-05-05", "ME10 1AB"},
		{"smithers", "Smithers", "Zed", "1962-03-12", "ME1 1AA"},
		{"smyth", "Smyth", "Jo", "1962-03-12", "ME7 1XX"},
		{"obriainS", "O'Briain", "Siobhán", "1975-07-07", "CT1 1AA"},
		{"obriainA", "Ó Briain", "Aoife", "1975-07-07", "CT1 1AA"},
		{"zoe", "Zoë", "Ann", "1990-09-09", "DA1 1AA"},
		{"berg", "van der Berg", "Pieter", "1955-01-01", "TN1 1AA"},
		{"muller", "Müller", "Jürgen", "1960-01-01", "ME7 2JH"},
	}
	ids := map[string]record.NHSNumber{}
	ns := nhsNumbers(0, len(people))
	var entries []IndexEntry
	for i, p := range people {
		ids[p.key] = ns[i]
		entries = append(entries, testEntry(ns[i], p.family, p.given, p.dob, p.postcode))
	}
	mustPut(t, c, entries...)
	return c, ids
}

// Ensure each kind of query finds the right patients in the right order.
func TestCache_Search(t *testing.T) {
	c, ids := searchFixture(t)
	tests := []struct {
		q     string
		limit int
		want  []string
		total int
	}{
		{"smith", 10, []string{"smithAnne62", "smithAnne80", "smithJohn", "smithers"}, 4},
		{"Smith", 2, []string{"smithAnne62", "smithAnne80"}, 4},
		{"smith", 0, nil, 4},
		{"smi 1962-03-12", 10, []string{"smithAnne62", "smithJohn", "smithers"}, 3},
		{"Smith 12/03/1962", 10, []string{"smithAnne62", "smithJohn", "smithers"}, 3},
		{"smith 12-Mar-1962", 10, []string{"smithAnne62", "smithJohn", "smithers"}, 3},
		{"smith 12 March 1962", 10, []string{"smithAnne62", "smithJohn", "smithers"}, 3},
		{"12/03/1962 smyth", 10, []string{"smyth"}, 1},
		{"1962-03-12", 10, []string{"smithAnne62", "smithJohn", "smithers", "smyth"}, 4},
		{"zoe", 10, []string{"zoe"}, 1},
		{"ZOË", 10, []string{"zoe"}, 1},
		{"obriain", 10, []string{"obriainA", "obriainS"}, 2},
		{"o'briain", 10, []string{"obriainA", "obriainS"}, 2},
		{"Ó Briain", 10, []string{"obriainA", "obriainS"}, 2},
		{"o briain 07/07/1975", 10, []string{"obriainA", "obriainS"}, 2},
		{"muller", 10, []string{"muller"}, 1},
		{"van der berg", 10, []string{"berg"}, 1},
		{"vanderb", 10, []string{"berg"}, 1},
		{"ME7 2JH", 10, []string{"muller", "smithAnne62", "smithJohn"}, 3},
		{"me72jh", 10, []string{"muller", "smithAnne62", "smithJohn"}, 3},
		{"ME7", 10, []string{"muller", "smithAnne62", "smithJohn", "smyth"}, 4},
		{"me7", 2, []string{"muller", "smithAnne62"}, 4},
		{"ME1", 10, []string{"smithers"}, 1},
		{"ME10", 10, []string{"smithAnne80"}, 1},
		{"ME7 2", 10, []string{"muller", "smithAnne62", "smithJohn"}, 3},
		{ids["smyth"].Digits(), 10, []string{"smyth"}, 1},
		{ids["smyth"].String(), 10, []string{"smyth"}, 1},
		{strings.ReplaceAll(ids["smyth"].String(), " ", "-"), 10, []string{"smyth"}, 1},
		{"9990000000", 10, nil, 0},
		{"xyz", 10, nil, 0},
		{"", 10, nil, 0},
		{"  ' - ", 10, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			res, err := c.Search(tt.q, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var want []record.NHSNumber
			for _, k := range tt.want {
				want = append(want, ids[k])
			}
			var got []record.NHSNumber
			for _, e := range res.Entries {
				got = append(got, e.NHS)
			}
			if !slices.Equal(got, want) || res.Total != tt.total {
				t.Errorf("Search(%q, %d) = %v (total %d), want %v (total %d)", tt.q, tt.limit, got, res.Total, want, tt.total)
			}
		})
	}
}

// Ensure queries that look like dates or numbers but are not fail clearly.
func TestCache_Search_BadQuery(t *testing.T) {
	c, _ := searchFixture(t)
	for _, q := range []string{"smith 31/02/1962", "12345", "smith 1962-03-12 1970-01-01", "smith2", "943 476"} {
		if _, err := c.Search(q, 10); !strings.Contains(fmt.Sprint(err), ErrBadQuery.Error()) {
			t.Errorf("Search(%q) error = %v, want ErrBadQuery", q, err)
		}
	}
}

// familyFits is the reference rule for one typed word: a family name
// prefix from three letters, the whole family name below that.
func familyFits(x *entry, p string) bool {
	if len(p) < 3 {
		return x.familyKey == p
	}
	return strings.HasPrefix(x.familyKey, p)
}

// Ensure given and family names are found in either order, with or
// without a date of birth in any of the forms people type, and that a
// family name shorter than three letters is matched whole.
func TestCache_Search_AsPeopleType(t *testing.T) {
	c, ids := searchFixture(t)
	tests := []struct {
		q    string
		want []string
	}{
		{"anne smith", []string{"smithAnne62", "smithAnne80"}},
		{"smith anne", []string{"smithAnne62", "smithAnne80"}},
		{"smith anne 12/03/1962", []string{"smithAnne62"}},
		{"anne smith 12031962", []string{"smithAnne62"}},
		{"smith 12.03.1962", []string{"smithAnne62", "smithJohn", "smithers"}},
		{"smith 12 Mar 1962", []string{"smithAnne62", "smithJohn", "smithers"}},
		{"smith 12 03 1962", []string{"smithAnne62", "smithJohn", "smithers"}},
		{"smith 1962-03-12", []string{"smithAnne62", "smithJohn", "smithers"}},
		{"john smith", []string{"smithJohn"}},
		{"smyth 12031962", []string{"smyth"}},
		{"sm", nil},
		{"smi", []string{"smithAnne62", "smithAnne80", "smithJohn", "smithers"}},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			res, err := c.Search(tt.q, 10)
			if err != nil {
				t.Fatal(err)
			}
			var want, got []record.NHSNumber
			for _, k := range tt.want {
				want = append(want, ids[k])
			}
			for _, e := range res.Entries {
				got = append(got, e.NHS)
			}
			if !slices.Equal(got, want) || res.Total != len(want) {
				t.Errorf("Search(%q) = %v (total %d), want %v", tt.q, got, res.Total, want)
			}
		})
	}
}

// Ensure a name query that finds nobody offers the close matches a slip
// of the finger misses, and nothing for an unrelated name.
func TestCache_Suggest_CloseMatches(t *testing.T) {
	c, ids := searchFixture(t)
	tests := []struct {
		q    string
		want []string
	}{
		{"smith anne 12/03/1963", []string{"smithAnne62"}}, // a year off
		{"smith anne 13/03/1962", []string{"smithAnne62"}}, // a digit off
		{"smiht 12/03/1962", []string{"smithAnne62", "smithJohn"}},
		{"smoth", []string{"smithAnne62", "smithAnne80", "smithJohn"}},
		{"quentin", nil},
		{"ME7 2JH", nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got, err := c.Suggest(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var gotN, want []record.NHSNumber
			for _, k := range tt.want {
				want = append(want, ids[k])
			}
			for _, e := range got {
				gotN = append(gotN, e.NHS)
			}
			if !slices.Equal(gotN, want) {
				t.Errorf("Suggest(%q) = %v, want %v", tt.q, gotN, want)
			}
		})
	}
}

// Ensure search agrees with a brute-force reference on random patients and
// queries, including expired ones, to catch off-by-one range errors.
func TestCache_Search_MatchesReference(t *testing.T) {
	c, e := mustCreate(t)
	rng := rand.New(rand.NewPCG(1, 2))
	families := []string{"Smith", "Smithson", "Smyth", "Jones", "O'Neill", "Ó Néill", "Brown", "Browne", "Ng", "Ba", "B"}
	givens := []string{"Ann", "Bob", "Zoë", "Éamon", "al"}
	districts := []string{"ME1", "ME10", "ME7", "CT1", "CT10", "TN2"}
	ns := nhsNumbers(0, 3000)
	var all []*entry
	err := c.Update(func(tx *Tx) error {
		for _, n := range ns {
			ie := IndexEntry{NHS: n, Family: families[rng.IntN(len(families))], Given: givens[rng.IntN(len(givens))],
				BirthDate: fmt.Sprintf("19%02d-0%d-1%d", rng.IntN(3), 1+rng.IntN(2), rng.IntN(3)),
				Postcode:  fmt.Sprintf("%s %d%c%c", districts[rng.IntN(len(districts))], rng.IntN(3), 'A'+rng.IntN(2), 'A'+rng.IntN(2))}
			notAfter := epoch.Add(time.Duration(rng.IntN(100)-10) * time.Hour)
			if err := tx.Put(testRecord(n, 1, notAfter), ie); err != nil {
				return err
			}
			all = append(all, newEntry(recordID{}, &ie, 1, notAfter.UnixNano()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	now := e.clock.Now().UnixNano()
	reference := func(match func(*entry) bool, limit int) ([]record.NHSNumber, int) {
		var hits []*entry
		for _, x := range all {
			if x.notAfter > now && match(x) {
				hits = append(hits, x)
			}
		}
		slices.SortFunc(hits, func(a, b *entry) int { return cmpName(a, b) })
		var out []record.NHSNumber
		for _, h := range hits[:min(limit, len(hits))] {
			out = append(out, h.ie.NHS)
		}
		return out, len(hits)
	}
	for i := 0; i < 400; i++ {
		limit := rng.IntN(30)
		var q string
		var match func(*entry) bool
		switch i % 5 {
		case 0:
			f := record.FoldName(families[rng.IntN(len(families))])
			p := f[:1+rng.IntN(len(f))]
			q, match = p, func(x *entry) bool { return familyFits(x, p) }
		case 1:
			f := record.FoldName(families[rng.IntN(len(families))])
			p, d := f[:1+rng.IntN(len(f))], all[rng.IntN(len(all))].ie.BirthDate
			q, match = p+" "+d, func(x *entry) bool { return familyFits(x, p) && x.ie.BirthDate == d }
		case 2:
			d := districts[rng.IntN(len(districts))]
			q, match = strings.ToLower(d), func(x *entry) bool { return strings.HasPrefix(x.postcodeKey, d+" ") }
		case 3:
			pc := all[rng.IntN(len(all))].postcodeKey
			q, match = strings.ReplaceAll(pc, " ", ""), func(x *entry) bool { return x.postcodeKey == pc }
		case 4:
			n := all[rng.IntN(len(all))].ie.NHS
			q, match = n.String(), func(x *entry) bool { return x.ie.NHS == n }
		}
		res, err := c.Search(q, limit)
		if err != nil {
			t.Fatalf("Search(%q): %v", q, err)
		}
		var got []record.NHSNumber
		for _, x := range res.Entries {
			got = append(got, x.NHS)
		}
		want, total := reference(match, limit)
		if !slices.Equal(got, want) || res.Total != total {
			t.Fatalf("Search(%q, %d) = %v (total %d), want %v (total %d)", q, limit, got, res.Total, want, total)
		}
	}
}

// Ensure look-alikes (a family name two letters apart at most, a date of
// birth equal or a slip apart, the same postcode district) are flagged,
// both of them, and nobody else is.
func TestCache_LookAlikes(t *testing.T) {
	c, _ := mustCreate(t)
	ns := nhsNumbers(0, 5)
	mustPut(t, c,
		testEntry(ns[0], "Smith", "Shirley", "1930-05-19", "TN23 1AA"),
		testEntry(ns[1], "Smith", "Valerie Irene", "1930-05-20", "TN23 4ZZ"), // next day, same district
		testEntry(ns[2], "Smith", "Shirley", "1930-05-19", "ME7 2JH"),        // another district
		testEntry(ns[3], "Jones", "Ann", "1930-05-19", "TN23 1AA"),           // another name
		testEntry(ns[4], "Smyth", "Ann", "1951-01-01", "TN23 1AB"),           // another date
	)
	got, err := c.LookAlikes(ns)
	if err != nil {
		t.Fatal(err)
	}
	want := map[record.NHSNumber]bool{ns[0]: true, ns[1]: true}
	if len(got) != len(want) || !got[ns[0]] || !got[ns[1]] {
		t.Errorf("LookAlikes = %v; want %v", got, want)
	}
}
