package cache

import (
	"fmt"
	"sort"
	"strings"
	"time"

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
	kind  queryKind
	nhs   record.NHSNumber
	name  string   // folded family-name prefix: every name word run together
	words []string // each name word folded, for given and family in either order
	dob   string   // YYYY-MM-DD
	key   string   // postcode key or key prefix
}

// minPrefix is the shortest family name matched as a prefix: "smi" finds
// SMITH and SMITHERS, but "sm" finds only a family called Sm.
const minPrefix = 3

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
		if i+2 < len(tokens) && len(t) <= 2 && hasDigit(t) {
			if d, ok = parseDate(t + " " + tokens[i+1] + " " + tokens[i+2]); ok {
				i += 2 // "12 Mar 1962", "12 03 1962"
			}
		}
		if !ok && hasDigit(t) {
			if d, ok = parseDate(t); !ok {
				return query{}, fmt.Errorf("%w: %q is not an NHS number (10 digits), a date of birth or a postcode", ErrBadQuery, t)
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
	var words []string
	for _, n := range name {
		if w := record.FoldName(n); w != "" {
			words = append(words, w)
		}
	}
	switch {
	case dob != "":
		return query{kind: qDOB, name: folded, words: words, dob: dob}, nil
	case folded != "":
		return query{kind: qName, name: folded, words: words}, nil
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
	case qName, qDOB:
		for _, e := range ix.nameHits(q, now) {
			take(e)
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

// nameOpt is one reading of the name words typed: a family name (a prefix
// from minPrefix letters, else the whole name) and given-name words.
type nameOpt struct {
	family string
	exact  bool
	givens []string
}

// nameOpts are the readings of the words typed: all of them run together
// as the family name ("van der berg", "o briain"), and, for two words or
// more, each word as the family name with the others as given names, so
// "shirley smith" and "smith shirley" both find SMITH, Shirley.
func nameOpts(q query) []nameOpt {
	if q.name == "" {
		return nil
	}
	opts := []nameOpt{{family: q.name, exact: len(q.name) < minPrefix}}
	if len(q.words) >= 2 {
		for i, w := range q.words {
			var g []string
			for j, x := range q.words {
				if j != i {
					g = append(g, x)
				}
			}
			opts = append(opts, nameOpt{family: w, exact: len(w) < minPrefix, givens: g})
		}
	}
	return opts
}

// givenKey is the entry's folded given names.
func (e *entry) givenKey() string {
	rest := e.nameKey[len(e.familyKey)+1:]
	if i := strings.IndexByte(rest, 0); i >= 0 {
		return rest[:i]
	}
	return rest
}

// match reports whether e's names fit this reading: the family name, and
// each given word at the start of the given names or, from minPrefix
// letters, anywhere in them (a middle name).
func (o nameOpt) match(e *entry) bool {
	if o.exact && e.familyKey != o.family || !o.exact && !strings.HasPrefix(e.familyKey, o.family) {
		return false
	}
	given := e.givenKey()
	for _, g := range o.givens {
		if !strings.HasPrefix(given, g) && (len(g) < minPrefix || !strings.Contains(given, g)) {
			return false
		}
	}
	return true
}

// nameHits are the live entries that a name (and date of birth) query
// matches under any reading, once each, in name order.
func (ix *index) nameHits(q query, now int64) []*entry {
	opts := nameOpts(q)
	var hits []*entry
	if q.kind == qDOB {
		d := dobDays(q.dob)
		lo := sort.Search(len(ix.byDOB), func(i int) bool { return ix.byDOB[i].dob >= d })
		hi := lo + sort.Search(len(ix.byDOB)-lo, func(i int) bool { return ix.byDOB[lo+i].dob != d })
		for _, e := range ix.byDOB[lo:hi] {
			if e.notAfter > now && (len(opts) == 0 || anyMatch(opts, e)) {
				hits = append(hits, e)
			}
		}
	} else {
		seen := map[*entry]bool{}
		for _, o := range opts {
			lo, hi := prefixRange(ix.byName, familyKeyOf, o.family)
			for _, e := range ix.byName[lo:hi] {
				if e.notAfter > now && !seen[e] && o.match(e) {
					seen[e] = true
					hits = append(hits, e)
				}
			}
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].rank < hits[j].rank })
	return hits
}

func anyMatch(opts []nameOpt, e *entry) bool {
	for _, o := range opts {
		if o.match(e) {
			return true
		}
	}
	return false
}

// maxSuggestions bounds "Did you mean".
const maxSuggestions = 3

// Suggest offers close matches for a name query that found nobody: the
// same names with a date of birth a digit or a year away (or the day and
// month swapped), or a family name one or two letters off with the same
// date of birth. It returns at most three, in name order, and nothing for
// other kinds of query. Like Search, it never returns an ended lease.
func (c *Cache) Suggest(q string) ([]IndexEntry, error) {
	pq, err := parseQuery(q)
	if err != nil || (pq.kind != qName && pq.kind != qDOB) || pq.name == "" {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	now := c.opts.Now().UnixNano()
	ix := c.idx
	seen := map[*entry]bool{}
	var out []*entry
	add := func(e *entry) {
		if e.notAfter > now && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	opts := nameOpts(pq)
	if pq.kind == qDOB {
		// The names as typed, a date of birth close to the one typed.
		want := dobDays(pq.dob)
		for _, o := range opts {
			lo, hi := prefixRange(ix.byName, familyKeyOf, o.family)
			for _, e := range ix.byName[lo:hi] {
				if o.match(e) && closeDate(e.dob, want) {
					add(e)
				}
			}
		}
		// The date as typed, a family name a letter or two off.
		lo := sort.Search(len(ix.byDOB), func(i int) bool { return ix.byDOB[i].dob >= want })
		for _, e := range ix.byDOB[lo:] {
			if e.dob != want {
				break
			}
			for _, w := range append([]string{pq.name}, pq.words...) {
				if len(w) >= minPrefix && editDistance(w, e.familyKey) <= 2 {
					add(e)
				}
			}
		}
	} else {
		// A family name a letter off, sharing the first two letters.
		for _, w := range append([]string{pq.name}, pq.words...) {
			if len(w) < 4 {
				continue
			}
			lo, hi := prefixRange(ix.byName, familyKeyOf, w[:2])
			for _, e := range ix.byName[lo:hi] {
				if editDistance(w, e.familyKey) == 1 {
					add(e)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rank < out[j].rank })
	res := make([]IndexEntry, 0, min(len(out), maxSuggestions))
	for _, e := range out[:min(len(out), maxSuggestions)] {
		res = append(res, e.ie)
	}
	return res, nil
}

// closeDate reports whether two YYYYMMDD dates are a slip apart: one digit
// different, a day apart, the day and month swapped, or the same day a
// year away.
func closeDate(a, b int32) bool {
	if a < 0 || b < 0 || a == b {
		return false
	}
	da, db := fmt.Sprintf("%08d", a), fmt.Sprintf("%08d", b)
	diff := 0
	for i := range da {
		if da[i] != db[i] {
			diff++
		}
	}
	swapped := da[:4]+da[6:8]+da[4:6] == db
	ta := time.Date(int(a/10000), time.Month(a/100%100), int(a%100), 0, 0, 0, 0, time.UTC)
	tb := time.Date(int(b/10000), time.Month(b/100%100), int(b%100), 0, 0, 0, 0, time.UTC)
	dayApart := ta.Sub(tb) == 24*time.Hour || tb.Sub(ta) == 24*time.Hour
	return diff == 1 || swapped || dayApart || (da[4:] == db[4:] && (a-b == 10000 || b-a == 10000))
}

// editDistance is the Levenshtein distance between two short ASCII words.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// LookAlikes reports which of nhs have another live patient on the device
// whose name, date of birth and postcode closely match theirs: a family
// name at most two letters apart, a date of birth equal or a slip apart
// (closeDate), and the same postcode district. Rows of such patients are
// flagged "similar record on this device" so that two look-alikes listed
// side by side are not taken for each other. It scans the device's index
// once per patient asked about.
func (c *Cache) LookAlikes(nhs []record.NHSNumber) (map[record.NHSNumber]bool, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	now := c.opts.Now().UnixNano()
	ix := c.idx
	out := map[record.NHSNumber]bool{}
	for _, n := range nhs {
		e := ix.byNHS[n]
		if e == nil || e.dob < 0 {
			continue
		}
		area := district(e.postcodeKey)
		for _, o := range ix.byName {
			if o == e || o.notAfter <= now || o.dob < 0 || area == "" || district(o.postcodeKey) != area {
				continue
			}
			if (o.dob == e.dob || closeDate(o.dob, e.dob)) && editDistance(o.familyKey, e.familyKey) <= 2 {
				out[n] = true
				break
			}
		}
	}
	return out, nil
}

// district is a normalised postcode's outward code ("ME7" of "ME7 2JH").
func district(pc string) string {
	d, _, _ := strings.Cut(pc, " ")
	return d
}
