package server

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"time"

	"kmcr/record"
	"kmcr/server/policy"
	"kmcr/server/store"
	"kmcr/sync/protocol"
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
	rep.Files, rep.Resources, rep.ByType, rep.RejectedTotal = scan.Files, scan.Resources, scan.ByType, scan.RejectedTotal
	for _, r := range scan.Rejected {
		rep.Rejected = append(rep.Rejected, r.Error())
	}
	for _, w := range scan.Warnings {
		rep.Warnings = append(rep.Warnings, w.String())
	}

	// Rebuild each affected NHS number's documents from everything stored
	// under its source patient keys.
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
	nhsList := make([]string, 0, len(byNHS))
	for n := range byNHS {
		nhsList = append(nhsList, n)
	}
	sort.Strings(nhsList)
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
		up, merged, err := s.buildPatient(nhs)
		for _, w := range merged {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("patient %s: %s", nhs, w))
		}
		if err != nil {
			rep.RejectedTotal++
			rep.Rejected = append(rep.Rejected, fmt.Sprintf("patient %s: %v", nhs, err))
			continue
		}
		rep.Sensitive += up.Meta.Sensitive
		ups = append(ups, up)
		rep.Patients++
		if len(ups) >= commitBatch {
			if err := commit(); err != nil {
				return nil, err
			}
		}
		if (i+1)%10000 == 0 {
			progress(fmt.Sprintf("built %d of %d patient documents", i+1, len(nhsList)))
		}
	}
	if err := commit(); err != nil {
		return nil, err
	}
	rep.PatientsStored, _ = s.st.PatientCount()
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// buildPatient assembles a patient's documents: the full one (summary
// types, no sensitive items, plus the shared resources they refer to) and
// the demographics one (Patient, registered GP). Every source's Patient
// goes into both, best first by the demographics rule of
// record.MergePatients, whose report (the sources merged, and where they
// disagree) it returns for the import's warnings.
func (s *Service) buildPatient(nhs string) (store.PatientUpdate, []string, error) {
	keys, err := s.st.PatientKeys(nhs)
	if err != nil {
		return store.PatientUpdate{}, nil, err
	}
	n, err := record.ParseNHSNumber(nhs)
	if err != nil {
		return store.PatientUpdate{}, nil, err
	}
	var patients []record.Resource
	var full []record.Resource
	meta := store.PatientMeta{NHS: nhs, Keys: keys, Omitted: map[string]int{}}
	sections := map[string]bool{}
	for _, k := range keys {
		rs, err := s.st.PatientResources(k)
		if err != nil {
			return store.PatientUpdate{}, nil, err
		}
		for _, sr := range rs {
			r := record.ResourceFromRaw(sr.Raw, sr.FullURL)
			switch {
			case r.Type == "Patient" && r.Key() == k:
				patients = append(patients, r)
				continue
			case policy.IsSensitive(r.Security):
				meta.Sensitive++
				continue
			case !policy.SummaryTypes[r.Type]:
				meta.Omitted[r.Type]++
				continue
			}
			full = append(full, r)
			sections[record.SectionOf(r.Type)] = true
		}
	}
	if len(patients) == 0 {
		return store.PatientUpdate{}, nil, fmt.Errorf("no Patient resource stored")
	}
	for _, p := range patients {
		if policy.IsSensitive(p.Security) {
			return store.PatientUpdate{}, nil, fmt.Errorf("the Patient resource %s itself carries a sensitive label; not offered offline", p.Key())
		}
	}
	merge := record.MergePatients(patients, s.now())
	patients = merge.Patients
	sections[record.SectionDemographics] = true
	full = append(append([]record.Resource{}, patients...), full...)
	full = s.closeShared(full)
	demo := s.closeShared(append([]record.Resource{}, patients...))
	for _, r := range demo[len(patients):] {
		if r.Type == "Organization" {
			sections[record.SectionGP] = true
		}
	}
	rec := &record.PatientRecord{Key: patients[0].Key(), NHS: n, Resources: full, Omitted: omittedCounts(meta.Omitted)}
	fullDoc, err := record.BuildBundle(rec, record.BundleMeta{ID: nhs})
	if err != nil {
		return store.PatientUpdate{}, nil, err
	}
	rec.Resources, rec.Omitted = demoTypes(demo), nil
	demoDoc, err := record.BuildBundle(rec, record.BundleMeta{ID: nhs})
	if err != nil {
		return store.PatientUpdate{}, nil, err
	}
	meta.TooLarge = len(fullDoc) > protocol.MaxDocument
	for sec := range sections {
		meta.Sections = append(meta.Sections, sec)
	}
	sort.Strings(meta.Sections)
	h := sha256.New()
	h.Write(fullDoc)
	h.Write([]byte{0})
	h.Write(demoDoc)
	meta.DocHash = h.Sum(nil)
	if len(meta.Omitted) == 0 {
		meta.Omitted = nil
	}
	docs := map[string][]byte{store.DocDemographics: demoDoc}
	if !meta.TooLarge {
		docs[store.DocFull] = fullDoc
	}
	return store.PatientUpdate{Meta: meta, Docs: docs}, merge.Report(), nil
}

// omittedCounts sorts the counts of left-out types for the document.
func omittedCounts(m map[string]int) []record.TypeCount {
	out := make([]record.TypeCount, 0, len(m))
	for t, n := range m {
		out = append(out, record.TypeCount{Type: t, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// demoTypes keeps only the resource types a demographics document carries.
func demoTypes(rs []record.Resource) []record.Resource {
	out := rs[:0:0]
	for _, r := range rs {
		if policy.DemographicTypes[r.Type] {
			out = append(out, r)
		}
	}
	return out
}

// closeShared appends the shared resources that rs refer to, directly or
// in turn, each once: the GP practice, practitioners, medications.
func (s *Service) closeShared(rs []record.Resource) []record.Resource {
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Key()] = true
		if r.FullURL != "" {
			seen[r.FullURL] = true
		}
	}
	for i := 0; i < len(rs); i++ {
		var refs []string
		record.References(rs[i].Raw, func(ref string) { refs = append(refs, ref) })
		for _, ref := range refs {
			key := ref
			if !strings.HasPrefix(ref, "urn:") {
				if k, ok := record.CanonicalRef(ref); ok {
					key = k
				}
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			sr, ok, err := s.st.Shared(key)
			if err != nil || !ok {
				continue
			}
			r := record.ResourceFromRaw(sr.Raw, sr.FullURL)
			if seen[r.Key()] && r.Key() != key {
				continue
			}
			seen[r.Key()] = true
			if policy.IsSensitive(r.Security) {
				continue
			}
			rs = append(rs, r)
		}
	}
	return rs
}
