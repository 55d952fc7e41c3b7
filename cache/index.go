package cache

import (
	"cmp"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"kmcr/record"
)

// entry is one patient in the in-memory index. The index exists only while
// the cache is unlocked; it is rebuilt from the sealed index bucket by Open
// and dropped by Close.
type entry struct {
	id       recordID
	ie       IndexEntry
	version  uint64
	notAfter int64 // Unix ns

	// Normalised forms, computed once so that search allocates nothing
	// per candidate.
	familyKey   string // foldName(Family)
	givenKey    string // foldName(Given)
	postcodeKey string // normPostcode(Postcode)
	rank        int32  // position in byName; orders results without string compares
	dead        bool   // removed by the change being applied
}

func newEntry(id recordID, ie *IndexEntry, version uint64, notAfter int64) *entry {
	return &entry{
		id: id, ie: *ie, version: version, notAfter: notAfter,
		familyKey:   foldName(ie.Family),
		givenKey:    foldName(ie.Given),
		postcodeKey: normPostcode(ie.Postcode),
	}
}

// index holds the patients three ways, each a slice sorted so that a query
// is a binary search for a contiguous range.
type index struct {
	byID       map[recordID]*entry
	byNHS      map[record.NHSNumber]*entry
	byName     []*entry // (familyKey, givenKey, birth date, NHS): the result order
	byDOB      []*entry // (birth date, rank)
	byPostcode []*entry // (postcodeKey, rank)
}

func newIndex() *index {
	return &index{byID: map[recordID]*entry{}, byNHS: map[record.NHSNumber]*entry{}}
}

func cmpName(a, b *entry) int {
	if c := strings.Compare(a.familyKey, b.familyKey); c != 0 {
		return c
	}
	if c := strings.Compare(a.givenKey, b.givenKey); c != 0 {
		return c
	}
	if c := strings.Compare(a.ie.BirthDate, b.ie.BirthDate); c != 0 {
		return c
	}
	return strings.Compare(string(a.ie.NHS), string(b.ie.NHS))
}

func cmpDOB(a, b *entry) int {
	if c := strings.Compare(a.ie.BirthDate, b.ie.BirthDate); c != 0 {
		return c
	}
	return cmp.Compare(a.rank, b.rank)
}

func cmpPostcode(a, b *entry) int {
	if c := strings.Compare(a.postcodeKey, b.postcodeKey); c != 0 {
		return c
	}
	return cmp.Compare(a.rank, b.rank)
}

func buildIndex(entries []*entry) *index {
	ix := newIndex()
	adds := make(map[recordID]*entry, len(entries))
	for _, e := range entries {
		adds[e.id] = e
	}
	ix.apply(false, adds)
	return ix
}

// apply installs the changes of a committed transaction: every id in
// changes loses its old entry, and non-nil values are added. It merges
// sorted runs, O(n + k log k), so a batch of k changes costs one pass.
func (ix *index) apply(cleared bool, changes map[recordID]*entry) {
	if cleared {
		*ix = *newIndex()
	}
	if len(changes) == 0 {
		return
	}
	var adds []*entry
	removed := 0
	for id, e := range changes {
		if old := ix.byID[id]; old != nil {
			old.dead = true
			removed++
			delete(ix.byID, id)
			delete(ix.byNHS, old.ie.NHS)
		}
		if e != nil {
			ix.byID[id] = e
			ix.byNHS[e.ie.NHS] = e
			adds = append(adds, e)
		}
	}
	live := func(s []*entry) []*entry {
		if removed == 0 {
			return s
		}
		return slices.DeleteFunc(s, func(e *entry) bool { return e.dead })
	}
	slices.SortFunc(adds, cmpName)
	ix.byName = merge(live(ix.byName), adds, cmpName)
	for i, e := range ix.byName {
		e.rank = int32(i)
	}
	// Ranks were renumbered, but existing entries kept their relative
	// order, so the other two slices are still sorted.
	slices.SortFunc(adds, cmpDOB)
	ix.byDOB = merge(live(ix.byDOB), adds, cmpDOB)
	slices.SortFunc(adds, cmpPostcode)
	ix.byPostcode = merge(live(ix.byPostcode), adds, cmpPostcode)
}

// merge returns the sorted union of two sorted slices in a new slice.
func merge(a, b []*entry, cmp func(x, y *entry) int) []*entry {
	if len(b) == 0 {
		return a
	}
	out := make([]*entry, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if cmp(b[j], a[i]) < 0 {
			out = append(out, b[j])
			j++
		} else {
			out = append(out, a[i])
			i++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// patients lists live NHS numbers in name order, overlaying a transaction's
// uncommitted changes when given.
func (ix *index) patients(now int64, changes map[recordID]*entry, cleared bool) []record.NHSNumber {
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

// expired lists the ids of patients whose lease has ended.
func (ix *index) expired(now int64) []recordID {
	var ids []recordID
	for _, e := range ix.byName {
		if e.notAfter <= now {
			ids = append(ids, e.id)
		}
	}
	return ids
}

// loadIndex unseals every index entry into memory. An entry that fails to
// open is skipped and counted as damaged: one bad value must not stop an
// unlock. Faults while reading a damaged cache.db become ErrCorrupt rather
// than a crash.
func (c *Cache) loadIndex() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: cache.db cannot be read (%v)", ErrCorrupt, r)
		}
	}()
	var entries []*entry
	err = c.db.View(func(btx *bolt.Tx) error {
		keys, idx, out := btx.Bucket([]byte(bucketKeys)), btx.Bucket([]byte(bucketIndex)), btx.Bucket([]byte(bucketOutbox))
		if keys == nil || idx == nil || out == nil || btx.Bucket([]byte(bucketRecords)) == nil || btx.Bucket([]byte(bucketMeta)) == nil {
			return fmt.Errorf("%w: cache.db is missing a bucket", ErrCorrupt)
		}
		entries = make([]*entry, 0, keys.Stats().KeyN)
		cur := keys.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if len(k) != recordIDSize {
				continue // not a record id; rotation of its group removes it
			}
			id := recordID(k)
			if e := c.openEntry(id, v, idx.Get(k)); e != nil {
				entries = append(entries, e)
			} else {
				c.damaged[id] = struct{}{}
			}
		}
		ic := idx.Cursor()
		for k, _ := ic.First(); k != nil; k, _ = ic.Next() {
			if len(k) == recordIDSize && keys.Get(k) == nil {
				c.damaged[recordID(k)] = struct{}{}
			}
		}
		return c.loadOutboxStats(out)
	})
	if err != nil {
		return err
	}
	c.idx = buildIndex(entries)
	return nil
}

func (c *Cache) openEntry(id recordID, wrapped, sealedIndex []byte) *entry {
	gs := &c.groups[id.group()]
	if gs.half < 0 || sealedIndex == nil {
		return nil
	}
	var pk [keySize]byte
	defer clear(pk[:])
	version, notAfter, err := openKeyWrap(&gs.key, gs.gen, id, wrapped, &pk)
	if err != nil {
		return nil
	}
	var ie IndexEntry
	if openIndex(&pk, id, version, sealedIndex, &ie) != nil {
		return nil
	}
	return newEntry(id, &ie, version, notAfter)
}
