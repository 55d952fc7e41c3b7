package main

import (
	"math/rand/v2"
	"strings"

	"kmcr/cache"
	"kmcr/record"
)

// benchQuery is one search, as typed and as the baseline's pre-parsed form.
type benchQuery struct {
	text   string
	kind   string // "nhs", "name", "name+dob", "postcode", "district"
	nhs    string
	prefix string // normalised family-name prefix
	dob    string
	pc     string // normalised postcode (no spaces), or district
	inward int    // district: the length of an inward code
}

// plainEntry is a plaintext index entry, normalised once.
type plainEntry struct {
	nhs, family, given, dob, postcode string
}

// makeQueries draws n searches from the cached population: NHS numbers
// (with and without spaces), family-name prefixes, family name and date of
// birth, full postcodes and postcode districts.
func makeQueries(entries []cache.IndexEntry, n int) []benchQuery {
	rng := rand.New(rand.NewPCG(benchSeed, 2))
	var out []benchQuery
	for i := 0; len(out) < n; i++ {
		if i > 100*n {
			break // a population with no usable keys; the caller checks
		}
		e := entries[rng.IntN(len(entries))]
		fam := record.FoldName(e.Family)
		pc := strings.Fields(strings.ToUpper(e.Postcode)) // outward and inward codes
		switch len(out) % 6 {
		case 0:
			out = append(out, benchQuery{text: e.NHS.String(), kind: "nhs", nhs: e.NHS.Digits()})
		case 1:
			out = append(out, benchQuery{text: e.NHS.Digits(), kind: "nhs", nhs: e.NHS.Digits()})
		case 2:
			if fam != "" {
				p := string([]rune(fam)[:min(3, len([]rune(fam)))])
				out = append(out, benchQuery{text: p, kind: "name", prefix: p})
			}
		case 3:
			if fam != "" && e.BirthDate != "" {
				out = append(out, benchQuery{text: e.Family + " " + e.BirthDate, kind: "name+dob", prefix: fam, dob: e.BirthDate})
			}
		case 4:
			if len(pc) == 2 {
				out = append(out, benchQuery{text: e.Postcode, kind: "postcode", pc: pc[0] + pc[1]})
			}
		case 5:
			if len(pc) == 2 {
				out = append(out, benchQuery{text: pc[0], kind: "district", pc: pc[0], inward: len(pc[1])})
			}
		}
	}
	return out
}

// linearSearch is the baseline: every entry checked, the first page kept.
func linearSearch(idx []plainEntry, q benchQuery, limit int) (page []int, total int) {
	for i := range idx {
		e := &idx[i]
		var ok bool
		switch q.kind {
		case "nhs":
			ok = e.nhs == q.nhs
		case "name":
			ok = strings.HasPrefix(e.family, q.prefix)
		case "name+dob":
			ok = e.dob == q.dob && strings.HasPrefix(e.family, q.prefix)
		case "postcode":
			ok = e.postcode == q.pc
		case "district":
			// The district is the postcode less its inward code: "ME7"
			// must not match "ME72 ...".
			ok = len(e.postcode) == len(q.pc)+q.inward && strings.HasPrefix(e.postcode, q.pc)
		}
		if ok {
			total++
			if len(page) < limit {
				page = append(page, i)
			}
		}
	}
	return page, total
}

// cmpJoin compares pairs of strings in order: (a1, b1), then (a2, b2)...
func cmpJoin(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}
