package onerule

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"kmcr/cache"
	"kmcr/internal/memsecrets"
	"kmcr/record"
)

// names are classes of spellings one rule must treat as the same name;
// spellings in different classes are different names.
var names = [][]string{
	{"Ó'Brien-Łukasz", "O'BRIEN-LUKASZ", "o’brien łukasz", "O\u0301'Brien\u00a0Łukasz", "O'Brien\tLukasz", "obrienlukasz"},
	{"STRAßE", "STRASSE", "STRAẞE", "Strasse", "stra\u00dfe"},
	{"Zoë", "ZOE", "Zoe\u0308", "zoe"},
	{"Ødegård", "ODEGARD", "Ode\u030agard"},
	{"Smith-Jones", "SMITH JONES", "smith\u00a0jones"},
}

// postcodes are classes of spellings of one postcode.
var postcodes = [][]string{
	{"me14  1xx", "ME141XX", "ME14 1XX", "me14\t1xx", "ME14\u00a01XX", " ME14 1XX "},
	{"ME7 2JH", "me72jh", "Me7\t\t2Jh"},
	{"EC1A 1BB", "ec1a1bb"},
}

var asOf = time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)

// nhs returns the i-th valid test NHS number.
func nhs(t *testing.T, i int) record.NHSNumber {
	t.Helper()
	for j := i * 10; ; j++ {
		if n, ok := record.CompleteNHSNumber(fmt.Sprintf("999%06d", j)); ok {
			return n
		}
	}
}

// patient is a Patient resource with one name and one address.
func patient(t *testing.T, id string, n record.NHSNumber, updated time.Time, family, postcode string) record.Resource {
	t.Helper()
	p := map[string]any{
		"resourceType": "Patient", "id": id,
		"meta":       map[string]any{"lastUpdated": updated.Format(time.RFC3339)},
		"identifier": []any{map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": n.Digits()}},
		"name":       []any{map[string]any{"family": family, "given": []string{"Ann"}}},
		"address":    []any{map[string]any{"postalCode": postcode}},
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return record.Resource{Type: "Patient", ID: id, Raw: raw}
}

// forEachPair calls fn for every two spellings of a list of classes, with
// whether they are in the same class.
func forEachPair(classes [][]string, fn func(a, b string, same bool)) {
	for i, ca := range classes {
		for j, cb := range classes {
			for _, a := range ca {
				for _, b := range cb {
					fn(a, b, i == j)
				}
			}
		}
	}
}

// TestRule_FoldAndPostcode checks the rule itself: one form per class, a
// different form for every other class.
func TestRule_FoldAndPostcode(t *testing.T) {
	forEachPair(names, func(a, b string, same bool) {
		if (record.FoldName(a) == record.FoldName(b)) != same {
			t.Errorf("FoldName(%q) = %q, FoldName(%q) = %q; same name: %v", a, record.FoldName(a), b, record.FoldName(b), same)
		}
	})
	forEachPair(postcodes, func(a, b string, same bool) {
		if (record.NormalisePostcode(a) == record.NormalisePostcode(b)) != same {
			t.Errorf("NormalisePostcode(%q) = %q, NormalisePostcode(%q) = %q; same postcode: %v", a, record.NormalisePostcode(a), b, record.NormalisePostcode(b), same)
		}
	})
	for _, c := range postcodes {
		if got := record.NormalisePostcode(c[0]); strings.Count(got, " ") != 1 {
			t.Errorf("NormalisePostcode(%q) = %q; want OUTWARD INWARD", c[0], got)
		}
	}
}

// TestRule_SearchKeys checks a summary's search keys are the rule's forms.
func TestRule_SearchKeys(t *testing.T) {
	for _, c := range names {
		for k, spelling := range c {
			pc := postcodes[k%len(postcodes)][k%len(postcodes[k%len(postcodes)])]
			n := nhs(t, k)
			rec := &record.PatientRecord{Key: "Patient/p", NHS: n, Resources: []record.Resource{patient(t, "p", n, asOf, spelling, pc)}}
			keys := record.Summarise(rec, asOf).SearchKeys()
			if len(keys.Family) != 1 || keys.Family[0] != record.FoldName(spelling) {
				t.Errorf("SearchKeys of %q: family %q; want %q", spelling, keys.Family, record.FoldName(spelling))
			}
			if keys.Postcode != record.NormalisePostcode(pc) {
				t.Errorf("SearchKeys of postcode %q: %q; want %q", pc, keys.Postcode, record.NormalisePostcode(pc))
			}
		}
	}
}

// TestRule_ImportMerge checks the demographics merge the importer reports:
// two sources spelling one name or one postcode differently do not
// disagree, and two sources with different names or postcodes do.
func TestRule_ImportMerge(t *testing.T) {
	n := nhs(t, 1)
	conflicts := func(famA, pcA, famB, pcB string) map[string]bool {
		m := record.MergePatients([]record.Resource{
			patient(t, "a", n, asOf, famA, pcA),
			patient(t, "b", n, asOf.Add(-time.Hour), famB, pcB),
		}, asOf)
		out := map[string]bool{}
		for _, c := range m.Conflicts {
			out[c.Field] = true
		}
		return out
	}
	forEachPair(names, func(a, b string, same bool) {
		if got := conflicts(a, "ME14 1XX", b, "ME14 1XX")["name"]; got == same {
			t.Errorf("merge of names %q and %q: conflict %v; same name: %v", a, b, got, same)
		}
	})
	forEachPair(postcodes, func(a, b string, same bool) {
		if got := conflicts("Smith", a, "Smith", b)["postcode"]; got == same {
			t.Errorf("merge of postcodes %q and %q: conflict %v; same postcode: %v", a, b, got, same)
		}
	})
}

// TestRule_CacheSearch stores one patient per spelling in a real cache and
// searches with every spelling: each finds exactly the patients of its
// class, for names and for postcodes.
func TestRule_CacheSearch(t *testing.T) {
	c, err := cache.Create(cache.Options{Dir: t.TempDir(), Secrets: memsecrets.New(),
		KDF: cache.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, Now: func() time.Time { return asOf }}, []byte("correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	byClass := map[string][]string{} // "n0" / "p1" -> NHS numbers
	i := 0
	err = c.Update(func(tx *cache.Tx) error {
		put := func(class string, e cache.IndexEntry) error {
			e.NHS = nhs(t, 100+i)
			i++
			byClass[class] = append(byClass[class], e.NHS.Digits())
			return tx.Put(cache.Record{NHS: e.NHS, Version: 1, NotAfter: asOf.Add(24 * time.Hour), Data: []byte("x")}, e)
		}
		for k, cl := range names {
			for _, s := range cl {
				if err := put(fmt.Sprint("n", k), cache.IndexEntry{Family: s, Given: "Ann"}); err != nil {
					return err
				}
			}
		}
		for k, cl := range postcodes {
			for _, s := range cl {
				if err := put(fmt.Sprint("p", k), cache.IndexEntry{Family: "Postcode", Given: "Test", Postcode: s}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(kind string, classes [][]string) {
		for k, cl := range classes {
			want := slices.Sorted(slices.Values(byClass[fmt.Sprint(kind, k)]))
			for _, q := range cl {
				res, err := c.Search(q, 100)
				if err != nil {
					t.Errorf("search %q: %v", q, err)
					continue
				}
				var got []string
				for _, e := range res.Entries {
					got = append(got, e.NHS.Digits())
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("search %q found %v; want %v (every spelling of its class)", q, got, want)
				}
			}
		}
	}
	check("n", names)
	check("p", postcodes)
}
