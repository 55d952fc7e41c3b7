package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"kmcr/cache"
	"kmcr/demo"
	"kmcr/internal/storeddoc"
	"kmcr/record"
)

// benchSeed selects the demo data set every suite generates, so the suites
// measure the same patients.
const benchSeed = 7

// benchPassphrase protects the benchmark's caches. Unlock is measured with
// the default Argon2id parameters, whose cost does not depend on it.
const benchPassphrase = "correct horse battery staple"

// printMachine prints what the numbers were measured on.
func printMachine(w io.Writer) {
	fmt.Fprintf(w, "machine: %d CPUs, GOMAXPROCS %d, %s/%s, %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// samples are repeated measurements of one operation.
type samples []time.Duration

// pct returns the p-th quantile (0..1) by the nearest-rank method.
func (s samples) pct(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(math.Ceil(p*float64(len(c)))) - 1
	return c[min(max(i, 0), len(c)-1)]
}

func (s samples) p50() time.Duration { return s.pct(0.50) }
func (s samples) p99() time.Duration { return s.pct(0.99) }

// timed runs fn and returns how long it took.
func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// dur formats a duration with three significant digits in a unit that
// suits it.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond)) + " µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + " ms"
	}
	return sig3(d.Seconds()) + " s"
}

// sig3 formats v with three significant digits.
func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// ratio formats a/b as "1.23x".
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return sig3(a/b) + "x"
}

func durRatio(a, b time.Duration) string { return ratio(float64(a), float64(b)) }

// verdict turns a requirement check into the table's last column.
func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// mib formats a byte count in MiB.
func mib(n int64) string { return sig3(float64(n)/(1<<20)) + " MiB" }

// kib formats a byte count in KiB.
func kib(n int64) string { return sig3(float64(n)/(1<<10)) + " KiB" }

// count formats an integer with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// rate formats n things per duration as "12.3k/s".
func rate(n float64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	v := n / d.Seconds()
	if v >= 1000 {
		return sig3(v/1000) + "k/s"
	}
	return sig3(v) + "/s"
}

// newTable starts a results table with the columns every suite uses.
func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.row("measurement", "kmcr", "baseline", "ratio", "requirement", "result")
	return t
}

// patientDoc is one demo patient as the client caches it: the Bundle the
// server would send and the search keys the client indexes it by.
type patientDoc struct {
	nhs record.NHSNumber
	doc []byte
	idx cache.IndexEntry
}

// docMaker builds demo patients' documents in memory, with the shared
// resources (practices, GPs) each one refers to, as the server does, so
// every document is self-contained.
type docMaker struct {
	opts   demo.Options
	shared map[string]record.Resource // by "Type/id"
}

func newDocMaker(patients int) *docMaker {
	m := &docMaker{opts: demo.Options{Patients: patients, Seed: benchSeed}, shared: map[string]record.Resource{}}
	for _, r := range demo.Shared() {
		m.shared[r.Type+"/"+r.ID] = record.ResourceFromRaw(r.JSON, "")
	}
	return m
}

// make returns patient i's document.
func (m *docMaker) make(i int) (patientDoc, error) {
	rs := demo.Patient(m.opts, i)
	rec := &record.PatientRecord{NHS: demo.NHSNumber(m.opts.Seed, i)}
	seen := map[string]bool{}
	for _, r := range rs {
		res := record.ResourceFromRaw(r.JSON, "")
		if rec.Key == "" && res.Type == "Patient" {
			rec.Key = res.Key()
		}
		seen[res.Key()] = true
		rec.Resources = append(rec.Resources, res)
	}
	// Close over references to shared resources, as the server does.
	for j := 0; j < len(rec.Resources); j++ {
		record.References(rec.Resources[j].Raw, func(ref string) {
			key, ok := record.CanonicalRef(ref)
			if !ok || seen[key] {
				return
			}
			if sr, ok := m.shared[key]; ok {
				seen[key] = true
				rec.Resources = append(rec.Resources, sr)
			}
		})
	}
	doc, err := record.BuildBundle(rec, record.BundleMeta{ID: rec.NHS.Digits()})
	if err != nil {
		return patientDoc{}, err
	}
	idx, err := storeddoc.SearchKeys(doc)
	if err != nil {
		return patientDoc{}, err
	}
	return patientDoc{nhs: rec.NHS, doc: doc, idx: idx}, nil
}

// batch builds patients [from, to) on every CPU.
func (m *docMaker) batch(from, to int) ([]patientDoc, error) {
	out := make([]patientDoc, to-from)
	errs := make([]error, to-from)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < to; i += workers {
				out[i-from], errs[i-from] = m.make(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeSummary is the decode every open of a summary pays, whatever the
// storage: find the resources, then build the typed summary a screen shows.
func decodeSummary(doc []byte, asOf time.Time) (*record.Summary, error) {
	rec, err := record.ParseBundle(doc)
	if err != nil {
		return nil, err
	}
	return record.Summarise(rec, asOf), nil
}
