package cache

import (
	"fmt"
	"sort"
	"strings"

	"kmcr/record"
)

// SearchResult is what Search found: up to limit entries, sorted by family
// name, given name and birth date, and the total number of matches.
type SearchResult struct {
	Entries []IndexEntry
	Total   int
}

type queryKind int

const (
	qNone     queryKind = iota
	qNHS                // exact NHS number
	qName               // family name prefix
	qDOB                // birth date, optionally with a family name prefix
	qPostcode           // full postcode
	qDistrict           // postcode district or sector prefix
)

type query struct {
	kind queryKind
	nhs  record.NHSNumber
	name string // folded family-name prefix
	dob  string // YYYY-MM-DD
	key  string // postcode key or key prefix
}

// parseQuery reads what a user types into the search box.
func parseQuery(q string) (query, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return query{}, nil
	}
	if digits, ok := nhsDigits(q); ok {
		if len(digits) == 10 {
			return query{kind: qNHS, nhs: record.NHSNumber(digits)}, nil
		}
		// Fall through: "12-03-1962" is digits and hyphens too.
	}
	if out, in, ok := record.SplitPostcode(q); ok {
		return query{kind: qPostcode, key: out + " " + in}, nil
	}
	if compact := record.CompactPostcode(q); record.IsOutwardCode(compact) && len(strings.Fields(q)) == 1 {
		return query{kind: qDistrict, key: compact + " "}, nil
	}
	if f := strings.Fields(strings.ToUpper(q)); len(f) == 2 && record.IsOutwardCode(f[0]) && len(f[1]) == 1 && isDigit(f[1][0]) {
		return query{kind: qDistrict, key: f[0] + " " + f[1]}, nil // a sector, "ME7 2"
	}

	tokens := strings.FieldsFunc(q, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
	var name []string
	dob := ""
	for i := 0; i < len(tokens); i++ {
		t := tokens[i]
		d, ok := "", false
		if i+2 < len(tokens) && len(t) <= 2 && hasDigit(t) && !hasDigit(tokens[i+1]) {
			if d, ok = parseDate(t + " " + tokens[i+1] + " " + tokens[i+2]); ok {
				i += 2 // "12 Mar 1962"
			}
		}
		if !ok && hasDigit(t) {
			if d, ok = parseDate(t); !ok {
				return query{}, fmt.Errorf("%w: %q is not an NHS number (10 digits), a date (12-Mar-1962) or a postcode", ErrBadQuery, t)
			}
		}
		if ok {
			if dob != "" {
				return query{}, fmt.Errorf("%w: two dates of birth", ErrBadQuery)
			}
			dob = d
			continue
		}
		name = append(name, t)
	}
	folded := record.FoldName(strings.Join(name, ""))
	switch {
	case dob != "":
		return query{kind: qDOB, name: folded, dob: dob}, nil
	case folded != "":
		return query{kind: qName, name: folded}, nil
	}
	return query{}, nil
}

// nhsDigits returns the digits of s if s holds only digits, spaces and
// hyphens.
func nhsDigits(s string) (string, bool) {
	var b [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n == len(b) {
				return "", false
			}
			b[n] = c
			n++
		case c == ' ' || c == '-':
		default:
			return "", false
		}
	}
	return string(b[:n]), true
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

// Search finds patients by what a user types:
//
//   - an NHS number, with or without spaces or hyphens: "943 476 5919";
//   - a family name prefix, optionally with a birth date: "smi",
//     "smith 1962-03-12", "Smith 12/03/1962", "smith 12-Mar-1962";
//     case, accents, apostrophes, spaces and hyphens are ignored, so "zoe"
//     finds "Zoë" and "obriain" finds "Ó Briain";
//   - a birth date alone;
//   - a full postcode ("ME7 2JH", "me72jh") or a district ("ME7").
//
// Patients whose lease has ended are never returned. At most limit entries
// are returned (none if limit <= 0); Total counts every match. Each search
// is a binary search over sorted slices held in memory while unlocked.
func (c *Cache) Search(q string, limit int) (SearchResult, error) {
	pq, err := parseQuery(q)
	if err != nil {
		return SearchResult{}, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return SearchResult{}, ErrClosed
	}
	return c.idx.search(pq, max(limit, 0), c.opts.Now().UnixNano()), nil
}

func (ix *index) search(q query, limit int, now int64) SearchResult {
	res := SearchResult{}
	take := func(e *entry) {
		if e.notAfter <= now {
			return
		}
		res.Total++
		if len(res.Entries) < limit {
			if res.Entries == nil {
				res.Entries = make([]IndexEntry, 0, min(limit, 64))
			}
			res.Entries = append(res.Entries, e.ie)
		}
	}
	switch q.kind {
	case qNHS:
		if e := ix.byNHS[q.nhs]; e != nil {
			take(e)
		}
	case qName:
		lo, hi := prefixRange(ix.byName, familyKeyOf, q.name)
		for _, e := range ix.byName[lo:hi] {
			take(e)
		}
	case qDOB:
		d := dobDays(q.dob)
		lo := sort.Search(len(ix.byDOB), func(i int) bool { return ix.byDOB[i].dob >= d })
		hi := lo + sort.Search(len(ix.byDOB)-lo, func(i int) bool { return ix.byDOB[lo+i].dob != d })
		for _, e := range ix.byDOB[lo:hi] {
			if strings.HasPrefix(e.familyKey, q.name) {
				take(e)
			}
		}
	case qPostcode:
		lo, hi := equalRange(ix.byPostcode, postcodeKeyOf, q.key)
		for _, e := range ix.byPostcode[lo:hi] {
			take(e)
		}
	case qDistrict:
		lo, hi := prefixRange(ix.byPostcode, postcodeKeyOf, q.key)
		res = topByRank(ix.byPostcode[lo:hi], limit, now)
	}
	return res
}

func familyKeyOf(e *entry) string   { return e.familyKey }
func postcodeKeyOf(e *entry) string { return e.postcodeKey }

// prefixRange returns the range of s (sorted by key) whose keys start with p.
func prefixRange(s []*entry, key func(*entry) string, p string) (int, int) {
	lo := sort.Search(len(s), func(i int) bool { return key(s[i]) >= p })
	hi := lo + sort.Search(len(s)-lo, func(i int) bool { return !strings.HasPrefix(key(s[lo+i]), p) })
	return lo, hi
}

// equalRange returns the range of s (sorted by key) whose keys equal v.
func equalRange(s []*entry, key func(*entry) string, v string) (int, int) {
	lo := sort.Search(len(s), func(i int) bool { return key(s[i]) >= v })
	hi := lo + sort.Search(len(s)-lo, func(i int) bool { return key(s[lo+i]) != v })
	return lo, hi
}

// topByRank picks the live entries of s with the lowest ranks (that is,
// first in name order) using a bounded max-heap: O(n log limit) and no
// string comparisons, for a district that may hold most of the patients.
func topByRank(s []*entry, limit int, now int64) SearchResult {
	var res SearchResult
	h := make([]*entry, 0, min(limit, len(s)))
	for _, e := range s {
		if e.notAfter <= now {
			continue
		}
		res.Total++
		switch {
		case len(h) < limit:
			h = append(h, e)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if h[p].rank >= h[i].rank {
					break
				}
				h[p], h[i] = h[i], h[p]
				i = p
			}
		case limit > 0 && e.rank < h[0].rank:
			h[0] = e
			for i := 0; ; {
				l, r, m := 2*i+1, 2*i+2, i
				if l < len(h) && h[l].rank > h[m].rank {
					m = l
				}
				if r < len(h) && h[r].rank > h[m].rank {
					m = r
				}
				if m == i {
					break
				}
				h[m], h[i] = h[i], h[m]
				i = m
			}
		}
	}
	sort.Slice(h, func(i, j int) bool { return h[i].rank < h[j].rank })
	if len(h) > 0 {
		res.Entries = make([]IndexEntry, len(h))
		for i, e := range h {
			res.Entries[i] = e.ie
		}
	}
	return res
}
