package server

import (
	"fmt"
	"sort"
	"time"

	"kmcr/record"
	"kmcr/server/store"
)

// Import batch sizes: resources staged per store transaction, and patients
// rebuilt per commit. They bound memory: only one batch is held at a time.
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
	dirty, err := s.stage(paths, rep, progress)
	if err != nil {
		return nil, err
	}
	if err := s.rebuild(dirty, rep, progress); err != nil {
		return nil, err
	}
	rep.PatientsStored, _ = s.st.PatientCount()
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// stage reads paths into the store, a batch of resources per transaction,
// and returns the source patient keys whose stored resources changed.
func (s *Service) stage(paths []string, rep *ImportReport, progress func(string)) (map[string]bool, error) {
	dirty := map[string]bool{}
	keyNHS := map[string]string{}
	var staged []store.StagedResource
	var shared []store.StoredResource
	flush := func() error {
		if len(staged) > 0 {
			changed, err := s.st.StageResources(staged)
			if err != nil {
				return err
			}
			for _, k := range changed {
				dirty[k] = true
			}
			staged = staged[:0]
		}
		if len(shared) > 0 {
			if err := s.st.PutShared(shared); err != nil {
				return err
			}
			shared = shared[:0]
		}
		return nil
	}
	read := 0
	scan, err := record.Scan(paths, func(it record.Item) error {
		r := it.Resource
		key := r.Key()
		if it.PatientKey == "" {
			shared = append(shared, store.StoredResource{Key: key, FullURL: r.FullURL, Raw: r.Raw})
		} else {
			if r.Type == "Patient" && key == it.PatientKey {
				keyNHS[it.PatientKey] = it.NHS.Digits()
			}
			staged = append(staged, store.StagedResource{PatientKey: it.PatientKey, Key: key, FullURL: r.FullURL, Raw: r.Raw})
		}
		read++
		if read%100000 == 0 {
			progress(fmt.Sprintf("read %d resources", read))
		}
		if len(staged)+len(shared) >= stageBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := s.st.MapPatientKeys(keyNHS); err != nil {
		return nil, err
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
	return dirty, nil
}

// rebuild rebuilds each affected NHS number's documents from everything
// stored under its source patient keys, committing a batch at a time.
func (s *Service) rebuild(dirty map[string]bool, rep *ImportReport, progress func(string)) error {
	nhsList, err := s.dirtyNHS(dirty, rep)
	if err != nil {
		return err
	}
	var ups []store.PatientUpdate
	commit := func() error {
		if len(ups) == 0 {
			return nil
		}
		n, err := s.st.CommitPatients(ups, s.now())
		if err != nil {
			return err
		}
		rep.Changed += n
		rep.Unchanged += len(ups) - n
		ups = ups[:0]
		return nil
	}
	for i, nhs := range nhsList {
		b, err := s.buildPatient(nhs)
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
		if len(ups) >= commitBatch {
			if err := commit(); err != nil {
				return err
			}
		}
		if (i+1)%10000 == 0 {
			progress(fmt.Sprintf("built %d of %d patient documents", i+1, len(nhsList)))
		}
	}
	return commit()
}

// dirtyNHS maps changed source patient keys to their NHS numbers, in
// order, reporting resources whose patient the store does not know.
func (s *Service) dirtyNHS(dirty map[string]bool, rep *ImportReport) ([]string, error) {
	byNHS := map[string]bool{}
	for k := range dirty {
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
