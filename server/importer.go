package server

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"kmcr/record"
	"kmcr/server/store"
)

// Import batch sizes: resources staged per store transaction, and patients
// rebuilt per commit. They bound memory: only one batch is held at a time
// (beside the spool's part, see importspool.go).
const (
	stageBatch  = 5000
	commitBatch = 500
)

// ImportReport says what an import read, changed and refused.
type ImportReport struct {
	Files          int
	Resources      int
	ByType         map[string]int
	Patients       int // patients whose documents were rebuilt
	Changed        int // of those, whose documents differ from before
	Unchanged      int
	Sensitive      int // items kept off laptops for a sensitive label
	Restricted     int // patients not offered offline at all: their Patient resource is restricted
	Rejected       []string
	RejectedTotal  int
	Warnings       []string
	Elapsed        time.Duration
	PatientsStored int // patients the server now holds
}

// Import reads FHIR Bundles and Bulk NDJSON (files or folders) into the
// store and rebuilds the documents of every patient whose resources
// changed. Importing the same data again changes nothing. progress, if not
// nil, receives a line now and then.
func (s *Service) Import(paths []string, progress func(string)) (*ImportReport, error) {
	start := time.Now()
	if progress == nil {
		progress = func(string) {}
	}
	rep := &ImportReport{}
	dirty, keyNHS, err := s.stage(paths, rep, progress)
	if err != nil {
		return nil, err
	}
	if err := s.rebuild(dirty, keyNHS, rep, progress); err != nil {
		return nil, err
	}
	rep.PatientsStored, _ = s.st.PatientCount()
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// stage reads paths into the store and returns the source patient keys
// whose stored resources changed, and the NHS number of each source
// patient key whose Patient was read. Patients' resources go through a
// spool (see importspool.go) so that the store receives them grouped by
// patient; shared resources go in batches as read.
func (s *Service) stage(paths []string, rep *ImportReport, progress func(string)) (map[string]bool, map[string]string, error) {
	dirty := map[string]bool{}
	keyNHS := map[string]string{}
	sp := &spool{}
	defer sp.close()
	var shared []store.StoredResource
	flushShared := func() error {
		if len(shared) == 0 {
			return nil
		}
		err := s.st.PutShared(shared)
		shared = shared[:0]
		return err
	}
	read := 0
	scan, err := record.Scan(paths, func(it record.Item) error {
		r := it.Resource
		key := r.Key()
		read++
		if read%100000 == 0 {
			progress(fmt.Sprintf("read %d resources", read))
		}
		if it.PatientKey == "" {
			shared = append(shared, store.StoredResource{Key: key, FullURL: r.FullURL, Raw: r.Raw})
			if len(shared) >= stageBatch {
				return flushShared()
			}
			return nil
		}
		if r.Type == "Patient" && key == it.PatientKey {
			keyNHS[it.PatientKey] = it.NHS.Digits()
		}
		return sp.add(store.StagedResource{PatientKey: it.PatientKey, Key: key, FullURL: r.FullURL, Raw: r.Raw})
	})
	if err != nil {
		return nil, nil, err
	}
	if err := flushShared(); err != nil {
		return nil, nil, err
	}
	err = sp.drain(stageBatch, func(items []store.StagedResource) error {
		changed, err := s.st.StageResources(items)
		for _, k := range changed {
			dirty[k] = true
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if err := s.st.MapPatientKeys(keyNHS); err != nil {
		return nil, nil, err
	}
	// Patients stored before addresses were recorded are rebuilt once, so
	// a dispatch incident can find them by postcode.
	for key, nhs := range keyNHS {
		if dirty[key] {
			continue
		}
		if m, err := s.st.Patient(nhs); err == nil && !m.Restricted && !m.Unstorable && len(m.Addresses) == 0 {
			dirty[key] = true
		}
	}
	rep.Files, rep.Resources, rep.ByType, rep.RejectedTotal = scan.Files, scan.Resources, scan.ByType, scan.RejectedTotal
	for _, r := range scan.Rejected {
		rep.Rejected = append(rep.Rejected, r.Error())
	}
	for _, w := range scan.Warnings {
		rep.Warnings = append(rep.Warnings, w.String())
	}
	return dirty, keyNHS, nil
}

// rebuild rebuilds each affected NHS number's documents from everything
// stored under its source patient keys, committing a batch at a time in
// NHS-number order. The documents of a batch are built by several workers
// at once (a build reads the store and is otherwise pure), and judged and
// committed in order, so the report and the change log are as if built
// one by one.
func (s *Service) rebuild(dirty map[string]bool, keyNHS map[string]string, rep *ImportReport, progress func(string)) error {
	nhsList, err := s.dirtyNHS(dirty, keyNHS, rep)
	if err != nil {
		return err
	}
	cache := newSharedCache(s.st, sharedCacheBytes)
	type result struct {
		b   built
		err error
	}
	results := make([]result, commitBatch)
	workers := buildWorkers()
	var ups []store.PatientUpdate
	done := 0
	for start := 0; start < len(nhsList); start += commitBatch {
		batch := nhsList[start:min(start+commitBatch, len(nhsList))]
		srcs, err := s.st.PatientSources(batch)
		if err != nil {
			return err
		}
		next := make(chan int)
		var wg sync.WaitGroup
		for range min(workers, len(batch)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					b, err := s.buildFrom(batch[i], srcs[batch[i]], cache)
					results[i] = result{b, err}
				}
			}()
		}
		for i := range batch {
			next <- i
		}
		close(next)
		wg.Wait()
		ups = ups[:0]
		for i, nhs := range batch {
			b, err := results[i].b, results[i].err
			results[i] = result{}
			for _, w := range b.warnings {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("patient %s: %s", nhs, w))
			}
			if err != nil {
				rep.RejectedTotal++
				rep.Rejected = append(rep.Rejected, fmt.Sprintf("patient %s: %v", nhs, err))
				continue
			}
			for _, r := range b.refused {
				rep.RejectedTotal++
				rep.Rejected = append(rep.Rejected, fmt.Sprintf("patient %s: %s", nhs, r))
			}
			if b.up.Meta.Restricted {
				rep.Restricted++
			}
			rep.Sensitive += b.up.Meta.Sensitive
			ups = append(ups, b.up)
			rep.Patients++
		}
		if len(ups) > 0 {
			n, err := s.st.CommitPatients(ups, s.now())
			if err != nil {
				return err
			}
			rep.Changed += n
			rep.Unchanged += len(ups) - n
		}
		if done/10000 != (done+len(batch))/10000 {
			progress(fmt.Sprintf("built %d of %d patient documents", done+len(batch), len(nhsList)))
		}
		done += len(batch)
	}
	return nil
}

// buildWorkers is how many patients' documents an import builds at once:
// one per processor, and at least 4, so that a networked store's round
// trips overlap.
func buildWorkers() int {
	return max(4, runtime.GOMAXPROCS(0))
}

// dirtyNHS maps changed source patient keys to their NHS numbers, in
// order, reporting resources whose patient the store does not know. The
// keys whose Patient this import read (keyNHS, already mapped in the
// store) need no lookup.
func (s *Service) dirtyNHS(dirty map[string]bool, keyNHS map[string]string, rep *ImportReport) ([]string, error) {
	byNHS := map[string]bool{}
	for k := range dirty {
		if nhs, ok := keyNHS[k]; ok {
			byNHS[nhs] = true
			continue
		}
		nhs, ok, err := s.st.PatientKeyNHS(k)
		if err != nil {
			return nil, err
		}
		if !ok {
			rep.RejectedTotal++
			rep.Rejected = append(rep.Rejected, fmt.Sprintf("resources of %s: the patient is not in this import or the store; import the Patient first", k))
			continue
		}
		byNHS[nhs] = true
	}
	out := make([]string, 0, len(byNHS))
	for n := range byNHS {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
