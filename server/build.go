package server

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"sync"

	"kmcr/record"
	"kmcr/server/policy"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// built is one patient's rebuilt documents and what the build has to say
// about them.
type built struct {
	up       store.PatientUpdate
	warnings []string // the demographics merge, a restriction
	refused  []string // what the client's limits refused, and why
}

// buildPatient assembles a patient's documents: the full one (summary
// types, no withheld items, plus the shared resources they refer to) and
// the demographics one (Patient, registered GP). Every source's Patient
// goes into both, best first by the demographics rule of
// record.MergePatients, whose report (the sources merged, and where they
// disagree) becomes the import's warnings. A patient whose Patient
// resource is restricted gets no documents at all (see restrictedPatient).
func (s *Service) buildPatient(nhs string) (built, error) {
	srcs, err := s.st.PatientSources([]string{nhs})
	if err != nil {
		return built{}, err
	}
	return s.buildFrom(nhs, srcs[nhs], newSharedCache(s.st, 0))
}

// buildFrom is buildPatient on the patient's sources as read
// (store.PatientSources), reading shared resources through cache (an
// import builds many patients pointing at the same practices and
// medicines).
func (s *Service) buildFrom(nhs string, srcs []store.PatientSource, cache *sharedCache) (built, error) {
	keys := make([]string, 0, len(srcs))
	for _, src := range srcs {
		keys = append(keys, src.Key)
	}
	n, err := record.ParseNHSNumber(nhs)
	if err != nil {
		return built{}, err
	}
	patients, others := patientResources(srcs)
	if len(patients) == 0 {
		return built{}, fmt.Errorf("no Patient resource stored")
	}
	meta := store.PatientMeta{NHS: nhs, Keys: keys, Omitted: map[string]int{}}
	for _, p := range patients {
		if policy.ResourceSensitive(p) {
			return restrictedPatient(meta, p), nil
		}
	}
	judge := &sharedJudge{c: cache, memo: map[string]bool{}}
	kept, withheld := s.withhold(patients, others, judge)
	meta.Sensitive = withheld
	var full []record.Resource
	sections := map[string]bool{record.SectionDemographics: true}
	for _, r := range kept {
		if !policy.SummaryTypes[r.Type] {
			meta.Omitted[r.Type]++
			continue
		}
		full = append(full, r)
		sections[record.SectionOf(r.Type)] = true
	}
	merge := record.MergePatients(patients, s.now())
	patients = merge.Patients
	traceKeys(&meta, n, patients)
	meta.Addresses = record.CurrentAddresses(patients, s.now())
	b := built{warnings: merge.Report()}
	full = append(append([]record.Resource{}, patients...), full...)
	full = closeShared(full, judge)
	demo := closeShared(append([]record.Resource{}, patients...), judge)
	for _, r := range demo[len(patients):] {
		if r.Type == "Organization" {
			sections[record.SectionGP] = true
		}
	}
	rec := &record.PatientRecord{Key: patients[0].Key(), NHS: n, Resources: full, Omitted: omittedCounts(meta.Omitted)}
	fullDoc, err := record.BuildBundle(rec, record.BundleMeta{ID: nhs})
	if err != nil {
		return built{}, err
	}
	rec.Resources, rec.Omitted = demoTypes(demo), nil
	demoDoc, err := record.BuildBundle(rec, record.BundleMeta{ID: nhs})
	if err != nil {
		return built{}, err
	}
	docs := map[string][]byte{}
	meta.TooLarge = len(fullDoc) > protocol.MaxDocument
	if !meta.TooLarge {
		if err := record.CheckDocument(fullDoc, n); err != nil {
			// The client could not store it: offer what it can store, as
			// for a document too large, and say so at import.
			b.refused = append(b.refused, fmt.Sprintf("full document refused, demographics only offered: %v", err))
			meta.TooLarge = true
		} else {
			docs[store.DocFull] = fullDoc
		}
	}
	if err := record.CheckDocument(demoDoc, n); err != nil {
		b.refused = append(b.refused, fmt.Sprintf("not offered offline: the demographics document fails the client's limits: %v", err))
		meta.Unstorable = true
		docs = map[string][]byte{}
	} else {
		docs[store.DocDemographics] = demoDoc
	}
	for sec := range sections {
		meta.Sections = append(meta.Sections, sec)
	}
	sort.Strings(meta.Sections)
	h := sha256.New()
	h.Write(fullDoc)
	h.Write([]byte{0})
	h.Write(demoDoc)
	if meta.Unstorable {
		h.Write([]byte("\x00unstorable"))
	}
	// The addresses found by postcode are part of what is stored: a store
	// built before they were recorded gets them at its next import.
	for _, a := range meta.Addresses {
		h.Write([]byte("\x00addr\x00" + a.Postcode + "\x00" + a.Line))
	}
	meta.DocHash = h.Sum(nil)
	if len(meta.Omitted) == 0 {
		meta.Omitted = nil
	}
	b.up = store.PatientUpdate{Meta: meta, Docs: docs}
	return b, nil
}

// patientResources splits the resources stored under a patient's source
// keys: each source's own Patient apart from the rest.
func patientResources(srcs []store.PatientSource) (patients, others []record.Resource) {
	for _, src := range srcs {
		for _, sr := range src.Resources {
			r := record.ResourceFromRaw(sr.Raw, sr.FullURL)
			if r.Type == "Patient" && r.Key() == src.Key {
				patients = append(patients, r)
			} else {
				others = append(others, r)
			}
		}
	}
	return patients, others
}

// restrictedPatient is the update for a patient whose Patient resource
// carries a sensitive label: no document at all, so that the store drops
// any it held and logs the change that makes every device holding the
// patient purge it (store.ChangeRestricted).
func restrictedPatient(meta store.PatientMeta, p record.Resource) built {
	meta.Restricted = true
	meta.Omitted = nil
	h := sha256.Sum256([]byte("restricted\x00" + meta.NHS))
	meta.DocHash = h[:]
	rule, _ := policy.SensitiveRule(append(append([]record.Coding{}, p.Security...), p.Contained...))
	return built{
		up:       store.PatientUpdate{Meta: meta, Docs: map[string][]byte{}},
		warnings: []string{fmt.Sprintf("the Patient resource %s carries a restricted label (rule %s): not offered offline, and withdrawn from every device at its next sync", p.Key(), rule)},
	}
}

// withhold splits a patient's resources into those that may be cached
// offline and a count of those that may not: a resource is withheld when
// it, or a resource it contains, carries a sensitive label, or when it
// refers to a withheld resource (a medicine's request naming a labelled
// condition tells what the condition is), to a fixed point. The Patient is
// not among rs: its own labels decide the whole patient. A reference to
// the patient's own resources (or Patient) is judged by them alone, as the
// documents carry them and never a shared resource of the same key; only
// other references are put to the judge of shared resources.
func (s *Service) withhold(patients, rs []record.Resource, judge *sharedJudge) ([]record.Resource, int) {
	own := map[string]bool{}
	for _, group := range [][]record.Resource{patients, rs} {
		for _, r := range group {
			own[r.Key()] = true
			if r.FullURL != "" {
				own[r.FullURL] = true
			}
		}
	}
	out := map[string]bool{} // keys and fullUrls of withheld resources
	withheld := make([]bool, len(rs))
	mark := func(i int) {
		withheld[i] = true
		out[rs[i].Key()] = true
		if rs[i].FullURL != "" {
			out[rs[i].FullURL] = true
		}
	}
	for i, r := range rs {
		if policy.ResourceSensitive(r) {
			mark(i)
		}
	}
	refs := make([][]string, len(rs))
	for changed := true; changed; {
		changed = false
		for i := range rs {
			if withheld[i] {
				continue
			}
			if refs[i] == nil {
				refs[i] = refKeys(rs[i].Raw)
			}
			for _, k := range refs[i] {
				if out[k] || !own[k] && judge.withheld(k) {
					mark(i)
					changed = true
					break
				}
			}
		}
	}
	kept := rs[:0:0]
	n := 0
	for i, r := range rs {
		if withheld[i] {
			n++
		} else {
			kept = append(kept, r)
		}
	}
	return kept, n
}

// sharedJudge decides, once per key for one patient's build, whether a
// shared resource (a Medication, an Organization) is withheld: by its own
// or contained labels, or because it refers to a shared resource that is
// (a Medication naming a labelled Substance), in turn.
type sharedJudge struct {
	c    *sharedCache
	memo map[string]bool
}

func (j *sharedJudge) withheld(key string) bool {
	if v, ok := j.memo[key]; ok {
		return v
	}
	j.memo[key] = false // a cycle of references withholds nothing by itself
	e, err := j.c.get(key)
	if err != nil || !e.found {
		return false
	}
	v := e.sensitive
	for _, k := range e.refs {
		if v {
			break
		}
		v = k != key && j.withheld(k)
	}
	j.memo[key] = v
	return v
}

// sharedCacheBytes bounds the shared resources an import keeps read.
const sharedCacheBytes = 64 << 20

// sharedEntry is a shared resource looked up by a key (or fullUrl), read
// once: parsed, its labels judged and its references listed.
type sharedEntry struct {
	found     bool
	r         record.Resource
	key       string // r.Key()
	sensitive bool   // policy.ResourceSensitive(r)
	refs      []string
}

// sharedCache reads shared resources for builds, keeping up to limit
// bytes of them (0: a lookup per key per build, no more), safe for
// concurrent builds. Shared resources do not change while an import
// rebuilds (it puts them all first); a failed read is not kept.
type sharedCache struct {
	st    store.Store
	limit int

	mu    sync.Mutex
	m     map[string]*sharedEntry
	bytes int
}

func newSharedCache(st store.Store, limit int) *sharedCache {
	return &sharedCache{st: st, limit: limit, m: map[string]*sharedEntry{}}
}

func (c *sharedCache) get(key string) (*sharedEntry, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return e, nil
	}
	sr, found, err := c.st.Shared(key)
	if err != nil {
		return nil, err
	}
	e = &sharedEntry{found: found}
	if found {
		e.r = record.ResourceFromRaw(sr.Raw, sr.FullURL)
		e.key, e.sensitive, e.refs = e.r.Key(), policy.ResourceSensitive(e.r), refKeys(e.r.Raw)
	}
	size := len(key) + len(sr.Raw) + len(sr.FullURL) + 128
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limit > 0 && c.bytes+size > c.limit {
		clear(c.m) // past the bound: start again rather than grow
		c.bytes = 0
	}
	if c.limit == 0 || size <= c.limit {
		c.m[key] = e
		c.bytes += size
	}
	return e, nil
}

// refKeys lists the keys a resource refers to (never nil): canonical
// "Type/id" for literal references, the reference itself for urn: ones.
// Contained (#) references stay inside the resource, whose own labels
// cover them.
func refKeys(raw []byte) []string {
	out := []string{}
	record.References(raw, func(ref string) {
		switch {
		case strings.HasPrefix(ref, "#"):
		case strings.HasPrefix(ref, "urn:"):
			out = append(out, ref)
		default:
			if k, ok := record.CanonicalRef(ref); ok {
				out = append(out, k)
			}
		}
	})
	return out
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
// in turn, each once: the GP practice, practitioners, medications. A
// shared resource the judge withholds is left out.
func closeShared(rs []record.Resource, judge *sharedJudge) []record.Resource {
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Key()] = true
		if r.FullURL != "" {
			seen[r.FullURL] = true
		}
	}
	for i := 0; i < len(rs); i++ {
		for _, key := range refKeys(rs[i].Raw) {
			if seen[key] {
				continue
			}
			seen[key] = true
			e, err := judge.c.get(key)
			if err != nil || !e.found {
				continue
			}
			if seen[e.key] && e.key != key {
				continue
			}
			seen[e.key] = true
			if judge.withheld(key) || e.sensitive {
				continue
			}
			rs = append(rs, e.r)
		}
	}
	return rs
}
