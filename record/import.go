package record

import (
	"fmt"
	"sort"
	"strings"
)

// PatientRecord is everything read about one patient: a self-contained set
// of resources from which a Summary can be built, and which BuildBundle
// turns into the document the server sends.
type PatientRecord struct {
	Key         string    // canonical key, "Patient/<id>"
	NHS         NHSNumber // from the Patient, or assigned (see AssignNHSNumber)
	NHSAssigned bool      // NHS was assigned because the source carried none

	// Resources are the Patient first, then the patient's other resources
	// in source order, then the shared resources they refer to, directly or
	// through each other (GP practice, practitioners, medications...).
	Resources []Resource

	// Omitted counts, by type, the patient's resources that whoever built
	// the record left out of it (the server keeps claims and billing out
	// of the documents it sends), so a summary can still count them.
	// BuildBundle and ParseBundle carry it (see BundleMeta.Omitted).
	Omitted []TypeCount
}

// Import is the result of ReadPaths: every patient's record, the shared
// resources, and the Report.
type Import struct {
	Patients []*PatientRecord

	// Shared holds resources that belong to no patient, by canonical key
	// ("Organization/123") and by fullUrl when they had one.
	Shared map[string]Resource

	Report Report
}

// Patient returns the record with the given key or NHS number, or nil.
func (imp *Import) Patient(keyOrNHS string) *PatientRecord {
	for _, p := range imp.Patients {
		if p.Key == keyOrNHS || string(p.NHS) == keyOrNHS {
			return p
		}
	}
	return nil
}

// ReadPaths reads paths as Scan does and groups the result by patient, in
// memory. It suits tests and small imports; the server streams with Scan.
//
// Resources whose patient is not in the import are rejected (a record
// without its Patient has no identity to show). The Report warns when two
// patients share an NHS number and when a Patient appears twice.
func ReadPaths(paths ...string) (*Import, error) {
	imp := &Import{Shared: map[string]Resource{}}
	type building struct {
		rec      *PatientRecord
		patients []Resource // Patient resources for this key
		others   []Resource
	}
	byKey := map[string]*building{}
	var order []*building
	rep, err := Scan(paths, func(it Item) error {
		r := it.Resource
		if it.PatientKey == "" {
			key := r.Key()
			if _, dup := imp.Shared[key]; !dup {
				imp.Shared[key] = r
			}
			if r.FullURL != "" {
				imp.Shared[r.FullURL] = r
			}
			return nil
		}
		b := byKey[it.PatientKey]
		if b == nil {
			b = &building{rec: &PatientRecord{Key: it.PatientKey}}
			byKey[it.PatientKey] = b
			order = append(order, b)
		}
		if r.Type == "Patient" && it.PatientKey == r.Key() {
			if len(b.patients) == 0 {
				b.rec.NHS, b.rec.NHSAssigned = it.NHS, it.NHSAssigned
			} else {
				imp.Report.Warnings = append(imp.Report.Warnings, Warning{r.Source,
					fmt.Sprintf("%s appears again (first read from %s); the first is shown", it.PatientKey, b.patients[0].Source)})
			}
			b.patients = append(b.patients, r)
			return nil
		}
		b.others = append(b.others, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	warnings := imp.Report.Warnings
	imp.Report = *rep
	imp.Report.Warnings = append(imp.Report.Warnings, warnings...)

	sharedIdx := newSharedIndex(imp.Shared)
	byNHS := map[NHSNumber]string{}
	for _, b := range order {
		if len(b.patients) == 0 {
			for _, r := range b.others {
				imp.Report.Resources--
				imp.Report.ByType[r.Type]--
				imp.Report.reject(r.Source, "patient %s is not in the import", b.rec.Key)
			}
			continue
		}
		if other, dup := byNHS[b.rec.NHS]; dup {
			imp.Report.Warnings = append(imp.Report.Warnings, Warning{b.patients[0].Source,
				fmt.Sprintf("NHS number %s is also on %s", b.rec.NHS, other)})
		} else {
			byNHS[b.rec.NHS] = b.rec.Key
		}
		res := make([]Resource, 0, len(b.patients)+len(b.others))
		res = append(append(res, b.patients...), b.others...)
		b.rec.Resources = sharedIdx.close(res)
		imp.Patients = append(imp.Patients, b.rec)
	}
	for t, n := range imp.Report.ByType {
		if n == 0 {
			delete(imp.Report.ByType, t)
		}
	}
	return imp, nil
}

// sharedIndex resolves references to shared resources.
type sharedIndex struct {
	byKey  map[string]Resource
	byCond map[string]Resource // "Type?identifier=system|value"
}

func newSharedIndex(shared map[string]Resource) *sharedIndex {
	x := &sharedIndex{byKey: shared, byCond: map[string]Resource{}}
	// Sorted, so that when two resources share an identifier the same one
	// wins on every run.
	keys := make([]string, 0, len(shared))
	for k := range shared {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := shared[k]
		for _, id := range readHeader(r.Raw).ids {
			cond := r.Type + "?identifier=" + id.system + "|" + id.value
			if _, dup := x.byCond[cond]; !dup {
				x.byCond[cond] = r
			}
		}
	}
	return x
}

func (x *sharedIndex) lookup(ref string) (Resource, bool) {
	if r, ok := x.byKey[ref]; ok {
		return r, true
	}
	if strings.Contains(ref, "?identifier=") {
		r, ok := x.byCond[ref]
		return r, ok
	}
	if k, ok := canonicalRef(ref); ok {
		r, ok := x.byKey[k]
		return r, ok
	}
	return Resource{}, false
}

// close appends to res the shared resources it refers to, and the ones
// those refer to, each once, in the order first referred to.
func (x *sharedIndex) close(res []Resource) []Resource {
	seen := map[string]bool{}
	for _, r := range res {
		seen[r.Key()] = true
	}
	for i := 0; i < len(res); i++ {
		eachReference(res[i].Raw, func(ref string) {
			s, ok := x.lookup(ref)
			if !ok {
				return
			}
			k := s.Key()
			if !seen[k] {
				seen[k] = true
				res = append(res, s)
			}
		})
	}
	return res
}
