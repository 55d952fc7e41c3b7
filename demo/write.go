package demo

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
)

// resourceTypes lists, in a fixed order, the FHIR resource types Write can
// produce.
var resourceTypes = [...]string{
	"Patient", "Organization", "Practitioner", "AllergyIntolerance", "Condition",
	"MedicationStatement", "MedicationRequest", "Encounter", "Observation", "Device",
	"Flag", "CarePlan", "Immunization",
}

const numTypes = len(resourceTypes)

// ResourceTypes returns the FHIR resource types Write can produce, in a
// fixed order. Each goes to its own file, FileName(type), as in a FHIR Bulk
// Data export.
func ResourceTypes() []string { return append([]string(nil), resourceTypes[:]...) }

// FileName is the NDJSON file name for a resource type.
func FileName(resourceType string) string { return resourceType + ".000.ndjson" }

func typeIndex(t string) int {
	for i, rt := range resourceTypes {
		if rt == t {
			return i
		}
	}
	panic("demo: unknown resource type " + t) // generator and resourceTypes disagree
}

const (
	// chunkSize patients make one unit of work: large enough that
	// hand-offs are rare, small enough that progress is smooth and memory
	// (chunks in flight times about 8 KB a patient) stays at a few MB.
	chunkSize = 256
	// writeBufferSize is per open file; thirteen of them.
	writeBufferSize = 1 << 20
	partialSuffix   = ".partial"
)

type chunk struct {
	seq     int // chunk number
	first   int
	bufs    [][]byte // by type index
	counts  []int
	tallies []tally
}

// Write generates opts.Patients patients into dir as FHIR Bulk Data NDJSON
// and reports what it wrote. It creates dir if needed. Files are written
// under temporary names and renamed when complete, so an interrupted run
// leaves no file that looks finished. Write replaces any file of the same
// name and removes stale "<Type>.000.ndjson" files for types it produced
// none of, so the directory never mixes two data sets; it touches no other
// file. Generation runs on all CPUs; the bytes do not depend on how many.
func Write(dir string, opts Options) (*Stats, error) {
	asOf, err := opts.check()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	w := &writer{dir: dir, stats: &Stats{Patients: opts.Patients, Resources: map[string]int{}}}
	defer w.abort()

	for _, r := range Shared() {
		if err := w.write(typeIndex(r.Type), r.JSON, 1); err != nil {
			return nil, err
		}
	}
	if err := w.patients(opts, asOf); err != nil {
		return nil, err
	}
	if err := w.commit(); err != nil {
		return nil, err
	}
	return w.stats, nil
}

type writer struct {
	dir   string
	files [numTypes]*os.File
	bufs  [numTypes]*bufio.Writer
	stats *Stats
	done  bool
}

func (w *writer) write(ti int, lines []byte, n int) error {
	if w.bufs[ti] == nil {
		name := filepath.Join(w.dir, FileName(resourceTypes[ti])+partialSuffix)
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("creating %s: %w", name, err)
		}
		w.files[ti], w.bufs[ti] = f, bufio.NewWriterSize(f, writeBufferSize)
	}
	if _, err := w.bufs[ti].Write(lines); err != nil {
		return fmt.Errorf("writing %s: %w", FileName(resourceTypes[ti]), err)
	}
	if n == 1 && (len(lines) == 0 || lines[len(lines)-1] != '\n') {
		if err := w.bufs[ti].WriteByte('\n'); err != nil {
			return fmt.Errorf("writing %s: %w", FileName(resourceTypes[ti]), err)
		}
		w.stats.Bytes++
	}
	w.stats.Bytes += int64(len(lines))
	w.stats.Resources[resourceTypes[ti]] += n
	return nil
}

// patients runs the generator on a worker pool and writes chunks in index
// order. Each worker owns a generator; a chunk's output does not depend on
// which worker made it, so the bytes do not depend on scheduling.
func (w *writer) patients(opts Options, asOf int) error {
	nChunks := (opts.Patients + chunkSize - 1) / chunkSize
	workers := min(runtime.GOMAXPROCS(0), nChunks)
	p := &pipeline{
		// slots bounds the chunks in flight, and so memory, whatever the
		// relative speed of generating and writing.
		slots:   make(chan struct{}, workers*3),
		jobs:    make(chan int),
		results: make(chan *chunk, workers*3),
		stop:    make(chan struct{}),
		pool: sync.Pool{New: func() any {
			return &chunk{bufs: make([][]byte, numTypes), counts: make([]int, numTypes)}
		}},
	}
	go p.feed(nChunks)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.generate(newGen(opts.Seed, asOf), opts.Patients)
		}()
	}
	go func() { wg.Wait(); close(p.results) }()
	return w.inOrder(p, opts)
}

// pipeline is what the feeder, the workers and the writer share.
type pipeline struct {
	slots   chan struct{} // one per chunk in flight
	jobs    chan int      // chunk numbers to generate
	results chan *chunk   // generated chunks, in any order
	stop    chan struct{} // closed when writing failed
	pool    sync.Pool     // reused chunks
}

// feed hands out chunk numbers in order, each once a slot is free.
func (p *pipeline) feed(nChunks int) {
	defer close(p.jobs)
	for seq := 0; seq < nChunks; seq++ {
		select {
		case p.slots <- struct{}{}:
		case <-p.stop:
			return
		}
		select {
		case p.jobs <- seq:
		case <-p.stop:
			return
		}
	}
}

// generate makes the patients of each chunk number it is given.
func (p *pipeline) generate(g *gen, total int) {
	for seq := range p.jobs {
		c := p.pool.Get().(*chunk)
		c.seq, c.first = seq, seq*chunkSize
		for ti := range c.bufs {
			c.bufs[ti] = c.bufs[ti][:0]
			c.counts[ti] = 0
		}
		c.tallies = c.tallies[:0]
		for i := c.first; i < min(c.first+chunkSize, total); i++ {
			g.patient(i)
			for _, r := range g.res {
				ti := typeIndex(r.Type)
				c.bufs[ti] = append(append(c.bufs[ti], r.JSON...), '\n')
				c.counts[ti]++
			}
			c.tallies = append(c.tallies, g.t)
		}
		p.results <- c
	}
}

// inOrder writes chunks as they arrive, each only after every chunk before
// it, and reports progress. After a failure it keeps draining so the
// workers can finish.
func (w *writer) inOrder(p *pipeline, opts Options) error {
	pending := map[int]*chunk{}
	next, done := 0, 0
	var werr error
	for c := range p.results {
		if werr != nil {
			continue
		}
		pending[c.seq] = c
		for pc, ok := pending[next]; ok; pc, ok = pending[next] {
			delete(pending, next)
			if werr = w.writeChunk(pc); werr != nil {
				close(p.stop)
				break
			}
			done += len(pc.tallies)
			next++
			p.pool.Put(pc)
			<-p.slots
			if opts.Progress != nil {
				opts.Progress(done, opts.Patients)
			}
		}
	}
	return werr
}

// writeChunk appends a chunk's resources to their files and its patients
// to the statistics.
func (w *writer) writeChunk(c *chunk) error {
	for ti, b := range c.bufs {
		if len(b) == 0 {
			continue
		}
		if err := w.write(ti, b, c.counts[ti]); err != nil {
			return err
		}
	}
	for k := range c.tallies {
		w.stats.add(&c.tallies[k])
	}
	return nil
}

// commit flushes and closes every file, renames it into place, and removes
// stale files of the types not produced. It does not fsync: the renames
// guard against an interrupted run, which is what happens in practice, and
// data that can be regenerated byte for byte does not need to survive a
// power cut (syncing thirteen files costs more than generating a thousand
// patients).
func (w *writer) commit() error {
	for ti, b := range w.bufs {
		if b == nil {
			continue
		}
		if err := b.Flush(); err != nil {
			return fmt.Errorf("writing %s: %w", FileName(resourceTypes[ti]), err)
		}
		if err := w.files[ti].Close(); err != nil {
			return fmt.Errorf("closing %s: %w", FileName(resourceTypes[ti]), err)
		}
		w.files[ti] = nil
	}
	for ti, b := range w.bufs {
		final := filepath.Join(w.dir, FileName(resourceTypes[ti]))
		if b == nil {
			if err := os.Remove(final); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing stale %s: %w", final, err)
			}
			continue
		}
		if err := os.Rename(final+partialSuffix, final); err != nil {
			return fmt.Errorf("renaming %s into place: %w", final, err)
		}
		w.stats.Files = append(w.stats.Files, FileName(resourceTypes[ti]))
	}
	sort.Strings(w.stats.Files)
	w.done = true
	return nil
}

// abort closes and removes partial files after a failure.
func (w *writer) abort() {
	if w.done {
		return
	}
	for ti, f := range w.files {
		if f != nil {
			f.Close()
			os.Remove(filepath.Join(w.dir, FileName(resourceTypes[ti])+partialSuffix))
		}
	}
}
