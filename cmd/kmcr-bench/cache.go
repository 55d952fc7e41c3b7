package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/argon2"

	"kmcr/cache"
	"kmcr/internal/memsecrets"
	"kmcr/record"
)

func init() {
	register(&suite{
		name:    "cache",
		summary: "encrypted cache: open, open-and-decode, search, unlock and size against plain bbolt",
		run:     runCache,
	})
}

// cacheSizes are the cache suite's sizes.
type cacheSizes struct {
	patients int // cached patients
	batch    int // patients per Update while building
	samples  int // measured calls per single-operation row
	queries  int // measured searches
	unlocks  int // measured unlocks
	writes   int // measured single-record commits
}

func cacheSizesFor(quick bool) cacheSizes {
	if quick {
		return cacheSizes{patients: 5_000, batch: 1_000, samples: 1_000, queries: 1_000, unlocks: 3, writes: 40}
	}
	return cacheSizes{patients: 100_000, batch: 2_500, samples: 3_000, queries: 3_000, unlocks: 5, writes: 60}
}

// Plain bbolt buckets of the baseline file.
var (
	plainRecords = []byte("records")
	plainIndex   = []byte("index")
)

// An "8 KB summary" is a demo document of about this size.
const (
	docTarget = 8 << 10
	docMin    = docTarget * 7 / 8
	docMax    = docTarget * 9 / 8
)

// cacheBench holds the suite's state: the encrypted cache under test and a
// plain bbolt file holding the same documents, keyed by NHS number.
type cacheBench struct {
	sz      cacheSizes
	copts   cache.Options
	c       *cache.Cache
	plain   *bolt.DB
	plainFn string
	maker   *docMaker

	entries   []cache.IndexEntry // every patient's index entry
	plainDocs int64              // sum of document bytes stored
	eightK    patientDoc         // the document nearest 8 KiB
	near8K    []record.NHSNumber // patients with documents of about 8 KiB
}

func runCache(w io.Writer, opt options) (err error) {
	sz := cacheSizesFor(opt.quick)
	root := filepath.Join(opt.dir, "cache")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	printMachine(w)
	b := &cacheBench{
		sz:      sz,
		copts:   cache.Options{Dir: filepath.Join(root, "profile"), Secrets: memsecrets.New()}, // KDF zero: cache.DefaultKDF
		plainFn: filepath.Join(root, "plain.db"),
		maker:   newDocMaker(sz.patients + 2*sz.writes),
	}
	defer func() {
		if b.c != nil {
			err = errors.Join(err, b.c.Close())
		}
		if b.plain != nil {
			err = errors.Join(err, b.plain.Close())
		}
	}()
	if err := b.build(w); err != nil {
		return err
	}
	t := newTable(w)
	if err := b.measureOpen(t); err != nil {
		return err
	}
	if err := b.measureSearch(w, t); err != nil {
		return err
	}
	if err := b.measureSize(t); err != nil {
		return err
	}
	if err := b.measureUnlock(t); err != nil {
		return err
	}
	if err := b.measureWrites(t); err != nil {
		return err
	}
	t.flush()
	fmt.Fprintln(w, `
Baselines, measured in the same run on the same documents:
  plain bbolt read: one read-only bbolt transaction, Get by NHS number, bytes copied out.
  decode: record.ParseBundle + record.Summarise, identical on both sides.
  linear scan: every query checked against all plaintext index entries held in
    memory (already normalised and sorted, queries already parsed), the result
    page of 20 kept; a store with no index at all.
  plain bbolt open: bolt.Open and Close of the plain file; "+ read index" also
    decodes every plaintext index entry (JSON) into memory.
  plain bbolt commit: one read-write bbolt transaction putting the same bytes,
    fsync included, as in the cache's commit.`)
	return nil
}

// build fills the cache and the plain file with the same documents, a
// batch per transaction on each side.
func (b *cacheBench) build(w io.Writer) error {
	var err error
	start := time.Now()
	if b.c, err = cache.Create(b.copts, []byte(benchPassphrase)); err != nil {
		return fmt.Errorf("creating the cache: %w", err)
	}
	if b.plain, err = bolt.Open(b.plainFn, 0o600, &bolt.Options{Timeout: time.Second}); err != nil {
		return err
	}
	err = b.plain.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(plainRecords); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(plainIndex)
		return err
	})
	if err != nil {
		return err
	}
	lease := time.Now().Add(30 * 24 * time.Hour)
	var genTime, putTime, plainTime time.Duration
	var near []record.NHSNumber
	for from := 0; from < b.sz.patients; from += b.sz.batch {
		to := min(from+b.sz.batch, b.sz.patients)
		t0 := time.Now()
		docs, err := b.maker.batch(from, to)
		if err != nil {
			return err
		}
		genTime += time.Since(t0)
		d, err := timed(func() error {
			return b.c.Update(func(tx *cache.Tx) error {
				for _, p := range docs {
					if err := tx.Put(cache.Record{NHS: p.nhs, Version: 1, NotAfter: lease, Data: p.doc}, p.idx); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("storing patients %d to %d: %w", from, to, err)
		}
		putTime += d
		d, err = timed(func() error {
			return b.plain.Update(func(tx *bolt.Tx) error {
				recs, idx := tx.Bucket(plainRecords), tx.Bucket(plainIndex)
				for _, p := range docs {
					ij, err := json.Marshal(p.idx)
					if err != nil {
						return err
					}
					if err := recs.Put([]byte(p.nhs.Digits()), p.doc); err != nil {
						return err
					}
					if err := idx.Put([]byte(p.nhs.Digits()), ij); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		plainTime += d
		for _, p := range docs {
			b.plainDocs += int64(len(p.doc))
			b.entries = append(b.entries, p.idx)
			if len(p.doc) >= docMin && len(p.doc) <= docMax {
				near = append(near, p.nhs)
			}
			if b.eightK.doc == nil || abs(len(p.doc)-docTarget) < abs(len(b.eightK.doc)-docTarget) {
				b.eightK = p
			}
		}
	}
	if len(near) == 0 {
		return errors.New("no demo document of about 8 KiB")
	}
	rng := rand.New(rand.NewPCG(benchSeed, 1))
	rng.Shuffle(len(near), func(i, j int) { near[i], near[j] = near[j], near[i] })
	b.near8K = near[:min(len(near), 1000)]
	fmt.Fprintf(w, "sizes: %s patients (demo seed %d), documents %s on average, %s of them between %s and %s\n",
		count(b.sz.patients), benchSeed, kib(b.plainDocs/int64(b.sz.patients)), count(len(near)), kib(docMin), kib(docMax))
	fmt.Fprintf(w, "the 8 KB summary: %s bytes; open-and-decode samples %s documents of about 8 KiB\n",
		count(len(b.eightK.doc)), count(len(b.near8K)))
	fmt.Fprintf(w, "setup (not part of any result): %s in all; generating %s, cache puts %s (%s patients a transaction, %s), plain bbolt puts %s\n\n",
		dur(time.Since(start)), dur(genTime), dur(putTime), count(b.sz.batch), rate(float64(b.sz.patients), putTime), dur(plainTime))
	return nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// plainGet is the baseline read: one read-only transaction, bytes copied
// out as the cache copies them.
func (b *cacheBench) plainGet(nhs record.NHSNumber) ([]byte, error) {
	var out []byte
	err := b.plain.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(plainRecords).Get([]byte(nhs.Digits()))
		if v == nil {
			return fmt.Errorf("plain bbolt: %s missing", nhs)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// interleave measures a and b in alternating rounds of per calls each,
// a first in even rounds and b first in odd ones, so that drift in the
// machine (other processes, the garbage collector, the page cache) falls on
// both alike. The first round of each is a warm-up and is not kept.
func interleave(rounds, per int, a, b func(i int) error) (sa, sb samples, err error) {
	run := func(fn func(int) error, i0 int, keep bool, out *samples) error {
		for i := i0; i < i0+per; i++ {
			t0 := time.Now()
			if err := fn(i); err != nil {
				return err
			}
			if keep {
				*out = append(*out, time.Since(t0))
			}
		}
		return nil
	}
	for r := 0; r <= rounds; r++ {
		keep := r > 0
		first, second, fo, so := a, b, &sa, &sb
		if r%2 == 1 {
			first, second, fo, so = b, a, &sb, &sa
		}
		if err := run(first, r*per, keep, fo); err != nil {
			return nil, nil, err
		}
		if err := run(second, r*per, keep, so); err != nil {
			return nil, nil, err
		}
	}
	return sa, sb, nil
}

// measureOpen times opening the 8 KB summary, and opening and decoding
// summaries of about 8 KiB, against plain bbolt.
func (b *cacheBench) measureOpen(t *table) error {
	const per = 100
	rounds := b.sz.samples / per
	want := b.eightK.doc
	get := func(int) error {
		rec, err := b.c.Get(b.eightK.nhs)
		if err != nil {
			return err
		}
		if len(rec.Data) != len(want) {
			return errors.New("cache returned a different document")
		}
		return nil
	}
	plainGet := func(int) error {
		v, err := b.plainGet(b.eightK.nhs)
		if err == nil && len(v) != len(want) {
			err = errors.New("plain bbolt returned a different document")
		}
		return err
	}
	k, p, err := interleave(rounds, per, get, plainGet)
	if err != nil {
		return err
	}
	t.row(fmt.Sprintf("open one 8 KB summary (Get: unwrap key, decrypt), p50 of %s", count(len(k))), dur(k.p50()), dur(p.p50()), durRatio(k.p50(), p.p50()), "-", "-")

	asOf := time.Now()
	decodeCheck := func(data []byte, nhs record.NHSNumber) error {
		s, err := decodeSummary(data, asOf)
		if err != nil {
			return err
		}
		if s.Demographics.NHS != nhs {
			return fmt.Errorf("decoded %s, wanted %s", s.Demographics.NHS, nhs)
		}
		return nil
	}
	n := len(b.near8K)
	openDecode := func(i int) error {
		nhs := b.near8K[i%n]
		rec, err := b.c.Get(nhs)
		if err != nil {
			return err
		}
		return decodeCheck(rec.Data, nhs)
	}
	plainDecode := func(i int) error {
		nhs := b.near8K[i%n]
		v, err := b.plainGet(nhs)
		if err != nil {
			return err
		}
		return decodeCheck(v, nhs)
	}
	k, p, err = interleave(rounds, per, openDecode, plainDecode)
	if err != nil {
		return err
	}
	const budget = 1.5
	for _, q := range []struct {
		name string
		p    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		kv, pv := k.pct(q.p), p.pct(q.p)
		t.row(fmt.Sprintf("open and decode a ~8 KB summary (Get + ParseBundle + Summarise), %s of %s", q.name, count(len(k))),
			dur(kv), dur(pv), durRatio(kv, pv), "<= 1.5x plain read + decode", verdict(float64(kv) <= budget*float64(pv)))
	}
	// Where the time goes: the decode on its own, from memory.
	doc := b.eightK.doc
	dec, _, err := interleave(rounds, per, func(int) error { return decodeCheck(doc, b.eightK.nhs) }, func(int) error { return nil })
	if err != nil {
		return err
	}
	t.row("  of which decode alone (the 8 KB summary, from memory), p50", dur(dec.p50()), "-", "-", "-", "-")
	return nil
}

func (b *cacheBench) measureSearch(w io.Writer, t *table) error {
	const limit = 20
	idx := make([]plainEntry, len(b.entries))
	for i, e := range b.entries {
		idx[i] = plainEntry{nhs: e.NHS.Digits(), family: record.FoldName(e.Family), given: record.FoldName(e.Given), dob: e.BirthDate, postcode: record.CompactPostcode(e.Postcode)}
	}
	slices.SortFunc(idx, func(a, b plainEntry) int {
		return cmpJoin(a.family, b.family, a.given, b.given, a.dob, b.dob)
	})
	qs := makeQueries(b.entries, b.sz.queries)
	kinds := map[string]int{}
	for _, q := range qs {
		kinds[q.kind]++
	}
	var empty, wrong int
	const per = 100
	k, p, err := interleave(b.sz.queries/per, per, func(i int) error {
		q := qs[i%len(qs)]
		res, err := b.c.Search(q.text, limit)
		if err != nil {
			return fmt.Errorf("search %q: %w", q.text, err)
		}
		if res.Total == 0 {
			empty++
		}
		if q.kind == "nhs" && (res.Total != 1 || res.Entries[0].NHS.Digits() != q.nhs) {
			wrong++
		}
		return nil
	}, func(i int) error {
		linearSearch(idx, qs[i%len(qs)], limit)
		return nil
	})
	if err != nil {
		return err
	}
	if len(qs) < b.sz.queries {
		return fmt.Errorf("could make only %d searches from the population", len(qs))
	}
	if wrong > 0 {
		return fmt.Errorf("%d NHS-number searches did not find exactly their patient", wrong)
	}
	fmt.Fprintf(w, "search mix over %s patients: %d NHS number, %d family-name prefix, %d family name + birth date, %d postcode, %d district; %d of %d searches matched nothing\n\n",
		count(len(b.entries)), kinds["nhs"], kinds["name"], kinds["name+dob"], kinds["postcode"], kinds["district"], empty, len(k)+per)
	t.row(fmt.Sprintf("search %s patients, p50 of %s", count(len(b.entries)), count(len(k))), dur(k.p50()), dur(p.p50()), durRatio(k.p50(), p.p50()), "-", "-")
	t.row(fmt.Sprintf("search %s patients, p99", count(len(b.entries))), dur(k.p99()), dur(p.p99()), durRatio(k.p99(), p.p99()), "p99 < 20 ms", verdict(k.p99() < 20*time.Millisecond))
	return nil
}

func (b *cacheBench) measureSize(t *table) error {
	st := b.c.Stats()
	if st.Patients != len(b.entries) {
		return fmt.Errorf("cache holds %d patients, want %d", st.Patients, len(b.entries))
	}
	info, err := os.Stat(b.plainFn)
	if err != nil {
		return err
	}
	t.row("file size (cache.db + cache.keys) against the documents' bytes", mib(st.FileBytes), mib(b.plainDocs), ratio(float64(st.FileBytes), float64(b.plainDocs)), "-", "-")
	t.row("file size against a plain bbolt file of the same documents and index", mib(st.FileBytes), mib(info.Size()), ratio(float64(st.FileBytes), float64(info.Size())), "-", "-")
	return nil
}

// measureUnlock times Open (Argon2id, unwrap, sweep, index load) of the
// full cache, Argon2id alone with the same parameters, Open again once the
// passphrase is re-wrapped under negligible Argon2id parameters (the rest
// of an unlock, measured rather than subtracted), and opening the plain
// file.
func (b *cacheBench) measureUnlock(t *table) error {
	if err := b.c.Close(); err != nil {
		return err
	}
	b.c = nil
	if err := b.plain.Close(); err != nil {
		return err
	}
	b.plain = nil
	pass := []byte(benchPassphrase)
	unlock, err := b.unlocks(b.copts)
	if err != nil {
		return err
	}
	var kdf, plainOpen, plainIndex samples
	salt := make([]byte, 16)
	p := cache.DefaultKDF
	for r := 0; r <= b.sz.unlocks; r++ {
		dk, _ := timed(func() error { argon2.IDKey(pass, salt, p.Time, p.MemoryKiB, p.Threads, 32); return nil })
		dp, err := timed(func() error {
			db, err := bolt.Open(b.plainFn, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				return err
			}
			return db.Close()
		})
		if err != nil {
			return err
		}
		di, err := timed(func() error { return b.plainIndexLoad() })
		if err != nil {
			return err
		}
		if r > 0 { // the first round is a warm-up
			kdf, plainOpen, plainIndex = append(kdf, dk), append(plainOpen, dp), append(plainIndex, di)
		}
	}
	// The same cache with its master key re-wrapped under Argon2id at its
	// smallest: what is left of an unlock is the index load.
	cheap := b.copts
	cheap.KDF = cache.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	c, err := cache.Open(cheap, pass)
	if err != nil {
		return err
	}
	if err := c.ChangePassphrase(pass, pass); err != nil {
		c.Close()
		return err
	}
	if err := c.Close(); err != nil {
		return err
	}
	rest, err := b.unlocks(cheap)
	if err != nil {
		return err
	}
	n := count(len(b.entries))
	t.row(fmt.Sprintf("unlock with %s patients (cache.Open, DefaultKDF), median of %d", n, len(unlock)), dur(unlock.p50()), dur(plainOpen.p50()), durRatio(unlock.p50(), plainOpen.p50()), "-", "-")
	t.row(fmt.Sprintf("  of which Argon2id t=%d m=%d MiB p=%d, alone", p.Time, p.MemoryKiB>>10, p.Threads), dur(kdf.p50()), "-", "-", "-", "-")
	t.row(fmt.Sprintf("  the rest: unlock with Argon2id at its smallest, vs plain open + read %s index entries", n), dur(rest.p50()), dur(plainIndex.p50()), durRatio(rest.p50(), plainIndex.p50()), "-", "-")
	if b.c, err = cache.Open(b.copts, pass); err != nil {
		return err
	}
	b.plain, err = bolt.Open(b.plainFn, 0o600, &bolt.Options{Timeout: time.Second})
	return err
}

// unlocks times Open and Close of the cache after a warm-up, checking each
// time that every patient is listed.
func (b *cacheBench) unlocks(opts cache.Options) (samples, error) {
	var out samples
	for r := 0; r <= b.sz.unlocks; r++ {
		var c *cache.Cache
		d, err := timed(func() (err error) { c, err = cache.Open(opts, []byte(benchPassphrase)); return err })
		if err != nil {
			return nil, fmt.Errorf("unlocking: %w", err)
		}
		if n := c.Stats().Patients; n != len(b.entries) {
			c.Close()
			return nil, fmt.Errorf("unlocked cache lists %d patients, want %d", n, len(b.entries))
		}
		if err := c.Close(); err != nil {
			return nil, err
		}
		if r > 0 {
			out = append(out, d)
		}
	}
	return out, nil
}

// plainIndexLoad opens the plain file and decodes every index entry.
func (b *cacheBench) plainIndexLoad() error {
	db, err := bolt.Open(b.plainFn, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return err
	}
	out := make([]cache.IndexEntry, 0, len(b.entries))
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(plainIndex).ForEach(func(_, v []byte) error {
			var e cache.IndexEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err == nil && len(out) != len(b.entries) {
		err = fmt.Errorf("plain index holds %d entries", len(out))
	}
	return errors.Join(err, db.Close())
}

// measureWrites times sealing one summary in its own transaction: a new
// patient, and a replaced one (which rotates the patient's key group),
// against a plain bbolt commit of the same bytes.
func (b *cacheBench) measureWrites(t *table) error {
	extra, err := b.maker.batch(b.sz.patients, b.sz.patients+2*b.sz.writes)
	if err != nil {
		return err
	}
	lease := time.Now().Add(30 * 24 * time.Hour)
	put := func(p patientDoc, version uint64) error {
		return b.c.Update(func(tx *cache.Tx) error {
			return tx.Put(cache.Record{NHS: p.nhs, Version: version, NotAfter: lease, Data: p.doc}, p.idx)
		})
	}
	plainPut := func(p patientDoc) error {
		return b.plain.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(plainRecords).Put([]byte(p.nhs.Digits()), p.doc)
		})
	}
	// New patients: the warm-up round and the measured ones each take
	// fresh patients.
	half := b.sz.writes / 2
	k, p, err := interleave(1, half, func(i int) error { return put(extra[i], 1) }, func(i int) error { return plainPut(extra[b.sz.writes+i]) })
	if err != nil {
		return err
	}
	t.row(fmt.Sprintf("seal one new summary (Update + Put, own commit), p50 of %d", len(k)), dur(k.p50()), dur(p.p50()), durRatio(k.p50(), p.p50()), "-", "-")
	v := uint64(1)
	k, p, err = interleave(1, half, func(int) error { v++; return put(b.eightK, v) }, func(int) error { return plainPut(b.eightK) })
	if err != nil {
		return err
	}
	t.row(fmt.Sprintf("seal a replacement of the 8 KB summary (old key destroyed), p50 of %d", len(k)), dur(k.p50()), dur(p.p50()), durRatio(k.p50(), p.p50()), "-", "-")
	return nil
}
