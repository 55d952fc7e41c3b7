package cache

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"kmcr/record"
)

// TestMain removes the shared benchmark fixtures after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range fixtureDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

var fixtureDirs []string

var kekSink [keySize]byte

// summary is a typed view of the benchmark document, as a screen would
// decode it.
type summary struct {
	ResourceType string `json:"resourceType"`
	NHS          string `json:"nhs"`
	AsOf         string `json:"asOf"`
	Allergies    []struct {
		Code, Display, Reaction, Severity string
	} `json:"allergies"`
	Medications []struct {
		Code, Display, Dose, Route, Started string
	} `json:"medications"`
	Problems []struct {
		Code, Display, Onset, Status string
	} `json:"problems"`
}

// summaryDoc makes a JSON summary of about size bytes.
func summaryDoc(n record.NHSNumber, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"resourceType":"Summary","nhs":%q,"asOf":"2025-11-01T09:00:00Z","allergies":[`, n.Digits())
	b.WriteString(`{"Code":"91936005","Display":"Allergy to penicillin","Reaction":"Urticaria","Severity":"moderate"}],"medications":[`)
	for i := 0; b.Len() < size*2/3; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Code":"3225211%03d","Display":"Amlodipine %d mg tablets","Dose":"One tablet once daily","Route":"Oral","Started":"2019-0%d-1%d"}`, i, 5+i%5, 1+i%9, i%10)
	}
	b.WriteString(`],"problems":[`)
	for i := 0; b.Len() < size-2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Code":"3827300%d","Display":"Essential hypertension","Onset":"2011-04-0%d","Status":"active"}`, i%10, 1+i%9)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

var (
	benchFamilies = strings.Fields("Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey")
	benchAccented = []string{"Ó Briain", "O'Neill", "Müller", "Zoë", "Ní Bhriain", "Ødegård", "van der Berg", "Smith-Jones", "D'Arcy", "Łukasz"}
	benchGivens   = strings.Fields("Oliver George Harry Jack Noah Leo Arthur Muhammad Oscar Charlie Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia John Margaret Susan David Anne Peter Mary Michael Elizabeth Paul Siobhán Zoë Éamon Aoife Seán")
	benchAreas    = strings.Fields("ME CT TN DA")
)

// syntheticEntry makes the i-th of a deterministic population.
func syntheticEntry(rng *rand.Rand, n record.NHSNumber) IndexEntry {
	family := benchFamilies[rng.IntN(len(benchFamilies))]
	if rng.IntN(20) == 0 {
		family = benchAccented[rng.IntN(len(benchAccented))]
	}
	given := benchGivens[rng.IntN(len(benchGivens))]
	dob := time.Date(1930+rng.IntN(90), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	pc := fmt.Sprintf("%s%d %d%c%c", benchAreas[rng.IntN(len(benchAreas))], 1+rng.IntN(20), rng.IntN(10), 'A'+rng.IntN(26), 'A'+rng.IntN(26))
	return IndexEntry{NHS: n, Family: family, Given: given, BirthDate: dob, Postcode: pc,
		Display: strings.ToUpper(family) + ", " + given}
}

// fixture is a closed cache of many patients shared by benchmarks.
type fixture struct {
	opts     Options
	entries  []IndexEntry
	plain    int64 // plaintext bytes stored (documents and index fields)
	buildErr error
}

var (
	fixtures   = map[string]*fixture{}
	fixturesMu sync.Mutex
)

// sharedFixture builds (once per run) a cache of n patients with docSize
// documents.
func sharedFixture(b *testing.B, n, docSize int) *fixture {
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	name := fmt.Sprintf("%d-%d", n, docSize)
	if f := fixtures[name]; f != nil {
		if f.buildErr != nil {
			b.Fatal(f.buildErr)
		}
		return f
	}
	dir, err := os.MkdirTemp("", "kmcr-cache-bench-")
	if err != nil {
		b.Fatal(err)
	}
	fixtureDirs = append(fixtureDirs, dir)
	clock := &fakeClock{t: epoch}
	f := &fixture{opts: Options{Dir: filepath.Join(dir, "profile"), Secrets: newMemStore(), KDF: fastKDF, Now: clock.Now}}
	fixtures[name] = f
	c, err := Create(f.opts, []byte(testPass))
	if err != nil {
		f.buildErr = err
		b.Fatal(err)
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(docSize)))
	ns := nhsNumbers(0, n)
	for start := 0; start < n; start += 2000 {
		err := c.Update(func(tx *Tx) error {
			for _, nhs := range ns[start:min(start+2000, n)] {
				ie := syntheticEntry(rng, nhs)
				doc := summaryDoc(nhs, docSize)
				f.entries = append(f.entries, ie)
				f.plain += int64(len(doc) + len(ie.Family) + len(ie.Given) + len(ie.BirthDate) + len(ie.Postcode) + len(ie.Display) + 10)
				if err := tx.Put(Record{NHS: nhs, Version: 1, NotAfter: lease, Data: doc}, ie); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			f.buildErr = err
			b.Fatal(err)
		}
	}
	return f
}

func openFixture(b *testing.B, f *fixture) *Cache {
	c, err := Open(f.opts, []byte(testPass))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// plainBolt stores the same documents in a plain bbolt file: the baseline.
func plainBolt(b *testing.B, docs [][]byte) (*bolt.DB, [][]byte) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "plain.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	keys := make([][]byte, len(docs))
	err = db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket([]byte("records"))
		if err != nil {
			return err
		}
		for i, d := range docs {
			keys[i] = []byte(fmt.Sprintf("%016x", i*7919))
			if err := bk.Put(keys[i], d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return db, keys
}

const benchDocs = 2000

// BenchmarkPlainBolt_8KB is the baseline: a bbolt read of an 8 KB summary,
// copied out of the transaction, with and without a JSON decode.
func BenchmarkPlainBolt_8KB(b *testing.B) {
	f := sharedFixture(b, benchDocs, 8<<10)
	docs := make([][]byte, len(f.entries))
	for i, ie := range f.entries {
		docs[i] = summaryDoc(ie.NHS, 8<<10)
	}
	db, keys := plainBolt(b, docs)
	for _, decode := range []bool{false, true} {
		b.Run(map[bool]string{false: "read", true: "read+json"}[decode], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(docs[0])))
			i := 0
			for b.Loop() {
				var out []byte
				_ = db.View(func(tx *bolt.Tx) error {
					out = slices.Clone(tx.Bucket([]byte("records")).Get(keys[i%len(keys)]))
					return nil
				})
				if decode {
					var s summary
					if err := json.Unmarshal(out, &s); err != nil {
						b.Fatal(err)
					}
				}
				i++
			}
		})
	}
}

// BenchmarkGet_8KB opens a cached 8 KB summary (unwrap the patient key,
// decrypt, authenticate), with and without a JSON decode. Compare with
// BenchmarkPlainBolt_8KB: the budget is 1.5x a plain read plus decode.
func BenchmarkGet_8KB(b *testing.B) {
	f := sharedFixture(b, benchDocs, 8<<10)
	c := openFixture(b, f)
	for _, decode := range []bool{false, true} {
		b.Run(map[bool]string{false: "read", true: "read+json"}[decode], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(8 << 10)
			i := 0
			for b.Loop() {
				rec, err := c.Get(f.entries[i%len(f.entries)].NHS)
				if err != nil {
					b.Fatal(err)
				}
				if decode {
					var s summary
					if err := json.Unmarshal(rec.Data, &s); err != nil {
						b.Fatal(err)
					}
				}
				i++
			}
		})
	}
}

// BenchmarkPut_8KB stores 8 KB summaries: one new patient per transaction
// (a commit and its fsync each), a batch of 100 per transaction (as the sync
// layer applies them), and a replacement (which rotates the key group:
// two more fsyncs of cache.keys). It reports the file size against the
// plaintext stored and against plain bbolt holding the same documents.
func BenchmarkPut_8KB(b *testing.B) {
	for _, mode := range []string{"new", "batch100", "replace"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			c, err := Create(e.opts, []byte(testPass))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			per := map[string]int{"new": 1, "batch100": 100, "replace": 1}[mode]
			rng := rand.New(rand.NewPCG(3, 4))
			var docs [][]byte
			var plain int64
			next := 0
			if mode == "replace" {
				mustPut(b, c, syntheticEntry(rng, nhs1(0)))
			}
			b.ReportAllocs()
			b.SetBytes(int64(8 << 10 * per))
			for b.Loop() {
				err := c.Update(func(tx *Tx) error {
					for range per {
						n := nhs1(next)
						if mode == "replace" {
							n = nhs1(0)
						}
						next++
						doc := summaryDoc(n, 8<<10)
						ie := syntheticEntry(rng, n)
						if mode != "replace" {
							docs = append(docs, doc)
							plain += int64(len(doc) + len(ie.Family) + len(ie.Given) + len(ie.BirthDate) + len(ie.Postcode) + len(ie.Display) + 10)
						}
						if err := tx.Put(Record{NHS: n, Version: uint64(next), NotAfter: lease, Data: doc}, ie); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if mode == "batch100" && plain > 0 {
				db, _ := plainBolt(b, docs)
				path := db.Path()
				db.Close()
				st, _ := os.Stat(path)
				b.ReportMetric(float64(c.Stats().FileBytes)/float64(plain), "x-plaintext-size")
				b.ReportMetric(float64(c.Stats().FileBytes)/float64(st.Size()), "x-plain-bolt-size")
			}
		})
	}
}

// BenchmarkSearch_100k runs a mix of typed queries over 100,000 patients
// and reports the latency percentiles of single searches.
func BenchmarkSearch_100k(b *testing.B) {
	f := sharedFixture(b, 100_000, 512)
	c := openFixture(b, f)
	rng := rand.New(rand.NewPCG(5, 6))
	var queries []string
	for i := 0; i < 1000; i++ {
		ie := f.entries[rng.IntN(len(f.entries))]
		fam := strings.ToLower(ie.Family)
		switch i % 8 {
		case 0:
			queries = append(queries, fam[:1]) // the worst case: one letter
		case 1:
			queries = append(queries, fam[:min(3, len(fam))])
		case 2:
			queries = append(queries, fam+" "+ie.BirthDate)
		case 3:
			d, _ := time.Parse(time.DateOnly, ie.BirthDate)
			queries = append(queries, fam[:min(3, len(fam))]+" "+d.Format("02-Jan-2006"))
		case 4:
			queries = append(queries, ie.NHS.String())
		case 5:
			queries = append(queries, strings.ReplaceAll(ie.Postcode, " ", ""))
		case 6:
			queries = append(queries, strings.Fields(ie.Postcode)[0]) // a district
		case 7:
			queries = append(queries, "o'briain")
		}
	}
	lat := make([]time.Duration, 0, 1<<16)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := c.Search(queries[i%len(queries)], 20); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
		i++
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// BenchmarkOpen_100k unlocks a cache of 100,000 patients: with tiny Argon2
// parameters (the unlock work alone) and with DefaultKDF (what a user
// waits for), and times DefaultKDF's Argon2id on its own.
func BenchmarkOpen_100k(b *testing.B) {
	f := sharedFixture(b, 100_000, 512)
	b.Run("excluding-argon2", func(b *testing.B) {
		for b.Loop() {
			c, err := Open(f.opts, []byte(testPass))
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("including-argon2", func(b *testing.B) {
		// A copy of the profile re-wrapped under DefaultKDF.
		opts := f.opts
		opts.Dir = b.TempDir()
		for _, name := range []string{dbFileName, keysFileName} {
			data, err := os.ReadFile(filepath.Join(f.opts.Dir, name))
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(opts.Dir, name), data, 0o600); err != nil {
				b.Fatal(err)
			}
		}
		opts.KDF = DefaultKDF
		c, err := Open(opts, []byte(testPass))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.ChangePassphrase([]byte(testPass), []byte(testPass)); err != nil {
			b.Fatal(err)
		}
		c.Close()
		b.ResetTimer()
		for b.Loop() {
			c, err := Open(opts, []byte(testPass))
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("argon2-only", func(b *testing.B) {
		for b.Loop() {
			kekSink = deriveKEK([]byte(testPass), make([]byte, 32), make([]byte, 16), DefaultKDF, make([]byte, 16))
		}
	})
}
