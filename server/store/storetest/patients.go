package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"kmcr/server/store"
)

// res lists a patient key's stored resources as "key|fullUrl|raw".
func res(t *testing.T, s store.Store, patientKey string) []string {
	t.Helper()
	rs, err := s.PatientResources(patientKey)
	must(t, err)
	var out []string
	for _, r := range rs {
		out = append(out, r.Key+"|"+r.FullURL+"|"+string(r.Raw))
	}
	return out
}

var resourceCases = []testCase{
	{"StageReportsChangedPatients", func(t *testing.T, e *env) {
		items := []store.StagedResource{
			{PatientKey: "Patient/a", Key: "Patient/a", Raw: []byte(`{"resourceType":"Patient"}`)},
			{PatientKey: "Patient/a", Key: "Condition/1", Raw: []byte(`{"a":1}`)},
			{PatientKey: "Patient/b", Key: "Condition/2", FullURL: "urn:uuid:2", Raw: []byte(`{}`)},
		}
		changed, err := e.s.StageResources(items)
		must(t, err)
		sameSet(t, changed, []string{"Patient/a", "Patient/b"}, "StageResources (each changed patient once)")
		if again, err := e.s.StageResources(items); err != nil || len(again) != 0 {
			t.Fatalf("staging the same bytes again: %v, %v", again, err)
		}
		// New bytes, a new fullUrl, or a new resource each count.
		for _, it := range []store.StagedResource{
			{PatientKey: "Patient/a", Key: "Condition/1", Raw: []byte(`{"a":2}`)},
			{PatientKey: "Patient/b", Key: "Condition/2", FullURL: "urn:uuid:other", Raw: []byte(`{}`)},
			{PatientKey: "Patient/b", Key: "Observation/9", Raw: []byte(`{}`)},
		} {
			if ch, err := e.s.StageResources([]store.StagedResource{it}); err != nil || !slices.Equal(ch, []string{it.PatientKey}) {
				t.Fatalf("staging %s/%s changed: %v, %v; want %s", it.PatientKey, it.Key, ch, err, it.PatientKey)
			}
		}
		noChanges(t, e.s, 0, "StageResources")
	}},
	{"PatientResourcesInKeyOrder", func(t *testing.T, e *env) {
		var items []store.StagedResource
		for _, k := range []string{"Observation/2", "Condition/9", "Patient/a", "Condition/10", "AllergyIntolerance/1"} {
			items = append(items, store.StagedResource{PatientKey: "Patient/a", Key: k, FullURL: "urn:" + k, Raw: []byte(`{"id":"` + k + `"}`)})
		}
		items = append(items, store.StagedResource{PatientKey: "Patient/ab", Key: "Condition/1", Raw: []byte(`{}`)})
		if _, err := e.s.StageResources(items); err != nil {
			t.Fatal(err)
		}
		want := []string{
			`AllergyIntolerance/1|urn:AllergyIntolerance/1|{"id":"AllergyIntolerance/1"}`,
			`Condition/10|urn:Condition/10|{"id":"Condition/10"}`,
			`Condition/9|urn:Condition/9|{"id":"Condition/9"}`,
			`Observation/2|urn:Observation/2|{"id":"Observation/2"}`,
			`Patient/a|urn:Patient/a|{"id":"Patient/a"}`,
		}
		// The order is the byte order of the keys: documents are built in
		// it, so another order would change every document's hash.
		if got := res(t, e.s, "Patient/a"); !slices.Equal(got, want) {
			t.Fatalf("PatientResources = %v\nwant %v", got, want)
		}
		if got := res(t, e.s, "Patient/absent"); len(got) != 0 {
			t.Fatalf("resources of an unknown patient key: %v", got)
		}
		rs, _ := e.s.PatientResources("Patient/a")
		rs[0].Raw[0] = 'X' // the caller's copy is its own
		if got := res(t, e.s, "Patient/a"); !slices.Equal(got, want) {
			t.Fatal("changing returned bytes changed the store")
		}
	}},
	{"StagedBytesAreCopied", func(t *testing.T, e *env) {
		raw := []byte(`{"a":1}`)
		if _, err := e.s.StageResources([]store.StagedResource{{PatientKey: "Patient/a", Key: "Condition/1", Raw: raw}}); err != nil {
			t.Fatal(err)
		}
		raw[1] = 'X'
		if got := res(t, e.s, "Patient/a"); !slices.Equal(got, []string{`Condition/1||{"a":1}`}) {
			t.Fatalf("the store kept the caller's buffer: %v", got)
		}
	}},
	{"LongFullURLKeptOrRefused", func(t *testing.T, e *env) {
		// A hostile feed's enormous fullUrl must be stored faithfully or
		// refused, never cut into the resource bytes.
		long := "urn:uuid:" + strings.Repeat("x", 70000)
		raw := []byte(`{"resourceType":"Condition"}`)
		_, err := e.s.StageResources([]store.StagedResource{{PatientKey: "Patient/a", Key: "Condition/1", FullURL: long, Raw: raw}})
		got := res(t, e.s, "Patient/a")
		if err == nil && !slices.Equal(got, []string{"Condition/1|" + long + "|" + string(raw)}) {
			t.Fatalf("a %d-byte fullUrl was accepted and read back wrong (%d bytes)", len(long), len(strings.Join(got, "")))
		}
		if err != nil && len(got) != 0 {
			t.Fatalf("a refused resource was stored: %v", err)
		}
		err = e.s.PutShared([]store.StoredResource{{Key: "Organization/1", FullURL: long, Raw: raw}})
		r, ok, gerr := e.s.Shared("Organization/1")
		must(t, gerr)
		if err == nil && (!ok || r.FullURL != long || !bytes.Equal(r.Raw, raw)) {
			t.Fatal("a shared resource with a long fullUrl was accepted and read back wrong")
		}
		if err != nil && ok {
			t.Fatal("a refused shared resource was stored")
		}
	}},
	{"SharedByKeyAndFullURL", func(t *testing.T, e *env) {
		if _, ok, err := e.s.Shared("Organization/1"); err != nil || ok {
			t.Fatalf("Shared of nothing: %v, %v", ok, err)
		}
		must(t, e.s.PutShared([]store.StoredResource{
			{Key: "Organization/1", FullURL: "urn:uuid:org-1", Raw: []byte(`{"name":"one"}`)},
			{Key: "Practitioner/2", Raw: []byte(`{"name":"two"}`)},
			{Key: "Location/3", FullURL: "Location/3", Raw: []byte(`{}`)},
		}))
		for _, q := range []string{"Organization/1", "urn:uuid:org-1"} {
			r, ok, err := e.s.Shared(q)
			must(t, err)
			if !ok || string(r.Raw) != `{"name":"one"}` || r.FullURL != "urn:uuid:org-1" {
				t.Fatalf("Shared(%s) = %+v, %v", q, r, ok)
			}
		}
		if r, ok, _ := e.s.Shared("Practitioner/2"); !ok || string(r.Raw) != `{"name":"two"}` || r.FullURL != "" {
			t.Fatalf("Shared(Practitioner/2) = %+v, %v", r, ok)
		}
		must(t, e.s.PutShared([]store.StoredResource{{Key: "Organization/1", FullURL: "urn:uuid:org-1", Raw: []byte(`{"name":"renamed"}`)}}))
		if r, _, _ := e.s.Shared("urn:uuid:org-1"); string(r.Raw) != `{"name":"renamed"}` {
			t.Fatalf("after replacing, Shared by fullUrl = %s", r.Raw)
		}
		noChanges(t, e.s, 0, "PutShared")
	}},
	{"PatientKeysMapBothWays", func(t *testing.T, e *env) {
		if n, ok, err := e.s.PatientKeyNHS("Patient/a"); err != nil || ok || n != "" {
			t.Fatalf("PatientKeyNHS of an unmapped key: %q, %v, %v", n, ok, err)
		}
		must(t, e.s.MapPatientKeys(map[string]string{"Patient/b": nhs(0), "Patient/a": nhs(0), "Patient/c": nhs(1)}))
		if n, ok, err := e.s.PatientKeyNHS("Patient/a"); err != nil || !ok || n != nhs(0) {
			t.Fatalf("PatientKeyNHS(Patient/a) = %q, %v, %v", n, ok, err)
		}
		keys, err := e.s.PatientKeys(nhs(0))
		must(t, err)
		if !slices.Equal(keys, []string{"Patient/a", "Patient/b"}) {
			t.Fatalf("PatientKeys = %v; want [Patient/a Patient/b] in order", keys)
		}
		// A key moving to another number leaves the first.
		must(t, e.s.MapPatientKeys(map[string]string{"Patient/b": nhs(1)}))
		if keys, _ := e.s.PatientKeys(nhs(0)); !slices.Equal(keys, []string{"Patient/a"}) {
			t.Fatalf("after a move PatientKeys(first) = %v", keys)
		}
		if keys, _ := e.s.PatientKeys(nhs(1)); !slices.Equal(keys, []string{"Patient/b", "Patient/c"}) {
			t.Fatalf("after a move PatientKeys(second) = %v", keys)
		}
		must(t, e.s.MapPatientKeys(map[string]string{"Patient/b": nhs(1)})) // the same again
		if keys, _ := e.s.PatientKeys(nhs(1)); len(keys) != 2 {
			t.Fatalf("mapping again duplicated a key: %v", keys)
		}
		if keys, err := e.s.PatientKeys(nhs(5)); err != nil || len(keys) != 0 {
			t.Fatalf("PatientKeys of an unknown number: %v, %v", keys, err)
		}
		must(t, e.s.MapPatientKeys(nil))
		noChanges(t, e.s, 0, "MapPatientKeys")
	}},
	{"PatientSourcesAsOneByOne", func(t *testing.T, e *env) {
		// nhs(0): two sources, one with no resources; nhs(1): one source;
		// nhs(2): none; a key without a number is nobody's source.
		must(t, e.s.MapPatientKeys(map[string]string{"Patient/b": nhs(0), "Patient/a": nhs(0), "Patient/c": nhs(1)}))
		var items []store.StagedResource
		for _, it := range []struct{ pk, key string }{{"Patient/b", "Patient/b"}, {"Patient/b", "Condition/9"}, {"Patient/b", "Condition/10"},
			{"Patient/c", "Patient/c"}, {"Patient/ab", "Condition/1"}, {"Patient/unmapped", "Condition/1"}} {
			items = append(items, store.StagedResource{PatientKey: it.pk, Key: it.key, FullURL: "urn:" + it.pk + "/" + it.key, Raw: []byte(`{"id":"` + it.key + `"}`)})
		}
		_, err := e.s.StageResources(items)
		must(t, err)
		got, err := e.s.PatientSources([]string{nhs(1), nhs(2), nhs(0), nhs(1)})
		must(t, err)
		if _, ok := got[nhs(2)]; ok || len(got) != 2 {
			t.Fatalf("PatientSources answered for %d numbers (%v); want 2, not %s", len(got), got, nhs(2))
		}
		for _, n := range []string{nhs(0), nhs(1)} {
			keys, err := e.s.PatientKeys(n)
			must(t, err)
			srcs := got[n]
			if len(srcs) != len(keys) {
				t.Fatalf("PatientSources(%s) has %d sources; PatientKeys %v", n, len(srcs), keys)
			}
			for i, src := range srcs {
				if src.Key != keys[i] {
					t.Fatalf("PatientSources(%s) source %d is %s; PatientKeys says %s (byte order)", n, i, src.Key, keys[i])
				}
				var rs []string
				for _, r := range src.Resources {
					rs = append(rs, r.Key+"|"+r.FullURL+"|"+string(r.Raw))
				}
				if want := res(t, e.s, src.Key); !slices.Equal(rs, want) {
					t.Fatalf("PatientSources(%s) resources of %s = %v\nPatientResources: %v", n, src.Key, rs, want)
				}
			}
		}
		if got[nhs(0)][0].Key != "Patient/a" || len(got[nhs(0)][0].Resources) != 0 || len(got[nhs(0)][1].Resources) != 3 {
			t.Fatalf("PatientSources(%s) = %+v", nhs(0), got[nhs(0)])
		}
		if none, err := e.s.PatientSources(nil); err != nil || len(none) != 0 {
			t.Fatalf("PatientSources(nil) = %v, %v", none, err)
		}
		noChanges(t, e.s, 0, "PatientSources")
	}},
}

// update is a PatientUpdate with a full and a demographics document.
func update(n string, hash byte, sensitive int) store.PatientUpdate {
	return store.PatientUpdate{
		Meta: store.PatientMeta{NHS: n, Keys: []string{"Patient/" + n}, DocHash: []byte{hash}, Sections: []string{"allergies", "demographics"},
			Sensitive: sensitive, Omitted: map[string]int{"Claim": 2}, FamilyIndex: "smith"},
		Docs: map[string][]byte{store.DocFull: []byte("full " + string('a'+rune(hash))), store.DocDemographics: []byte("demo " + string('a'+rune(hash)))},
	}
}

// docOf returns a document, or "" when it is not found.
func docOf(t *testing.T, s store.Store, n, kind string) string {
	t.Helper()
	d, err := s.Doc(n, kind)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	must(t, err)
	return string(d)
}

var patientCases = []testCase{
	{"CommitNewPatient", func(t *testing.T, e *env) {
		up := update(nhs(0), 1, 0)
		n, err := e.s.CommitPatients([]store.PatientUpdate{up}, at(7))
		must(t, err)
		if n != 1 {
			t.Fatalf("CommitPatients = %d; want 1", n)
		}
		expectChanges(t, e.s, 0, true, change{Kind: store.ChangePatient, NHS: nhs(0), At: at(7)})
		m, err := e.s.Patient(nhs(0))
		must(t, err)
		want := up.Meta
		want.Version, want.Updated = 1, at(7)
		if m.NHS != want.NHS || m.Version != 1 || !m.Updated.Equal(at(7)) || !slices.Equal(m.Keys, want.Keys) || !bytes.Equal(m.DocHash, want.DocHash) ||
			!slices.Equal(m.Sections, want.Sections) || m.Sensitive != 0 || !reflect.DeepEqual(m.Omitted, want.Omitted) || m.TooLarge || m.FamilyIndex != "smith" {
			t.Fatalf("Patient = %+v\nwant %+v", m, want)
		}
		if docOf(t, e.s, nhs(0), store.DocFull) != "full b" || docOf(t, e.s, nhs(0), store.DocDemographics) != "demo b" {
			t.Fatal("documents not stored")
		}
		if c, err := e.s.PatientCount(); err != nil || c != 1 {
			t.Fatalf("PatientCount = %d, %v", c, err)
		}
	}},
	{"SameHashChangesNothing", func(t *testing.T, e *env) {
		if _, err := e.s.CommitPatients([]store.PatientUpdate{update(nhs(0), 1, 0)}, at(1)); err != nil {
			t.Fatal(err)
		}
		up := update(nhs(0), 1, 3)
		up.Docs[store.DocFull] = []byte("other bytes under the same hash")
		n, err := e.s.CommitPatients([]store.PatientUpdate{up}, at(2))
		must(t, err)
		if n != 0 {
			t.Fatalf("a commit of an unchanged hash counted %d", n)
		}
		noChanges(t, e.s, 1, "an unchanged commit")
		if m, _ := e.s.Patient(nhs(0)); m.Version != 1 || !m.Updated.Equal(at(1)) || m.Sensitive != 0 {
			t.Fatalf("an unchanged commit rewrote the meta: %+v", m)
		}
		if docOf(t, e.s, nhs(0), store.DocFull) != "full b" {
			t.Fatal("an unchanged commit rewrote the document")
		}
	}},
	{"ChangedHashBumpsVersion", func(t *testing.T, e *env) {
		must(t, e.s.AddUser(store.User{Name: "amy"}))
		if _, err := e.s.CaseloadAdd("amy", []string{nhs(5)}); err != nil { // seq 1
			t.Fatal(err)
		}
		if _, err := e.s.CommitPatients([]store.PatientUpdate{update(nhs(0), 1, 2)}, at(1)); err != nil { // seq 2
			t.Fatal(err)
		}
		for i, tc := range []struct {
			sensitive int
			kind      string
		}{{2, store.ChangePatient}, {1, store.ChangePatient}, {4, store.ChangeRelabel}} {
			seq := lastSeq(t, e.s)
			n, err := e.s.CommitPatients([]store.PatientUpdate{update(nhs(0), byte(2+i), tc.sensitive)}, at(10+i))
			must(t, err)
			if n != 1 {
				t.Fatalf("commit %d counted %d", i, n)
			}
			expectChanges(t, e.s, seq, true, change{Kind: tc.kind, NHS: nhs(0), At: at(10 + i)})
			m, _ := e.s.Patient(nhs(0))
			if m.Version != seq+1 || !m.Updated.Equal(at(10+i)) || m.Sensitive != tc.sensitive {
				t.Fatalf("commit %d: meta %+v; want version %d (its change's sequence)", i, m, seq+1)
			}
			if want := "full " + string('a'+rune(2+i)); docOf(t, e.s, nhs(0), store.DocFull) != want {
				t.Fatalf("commit %d: full document %q; want %q", i, docOf(t, e.s, nhs(0), store.DocFull), want)
			}
		}
	}},
	{"FirstCommitWithSensitiveItemsIsNoRelabel", func(t *testing.T, e *env) {
		if _, err := e.s.CommitPatients([]store.PatientUpdate{update(nhs(0), 1, 5)}, at(1)); err != nil {
			t.Fatal(err)
		}
		expectChanges(t, e.s, 0, true, change{Kind: store.ChangePatient, NHS: nhs(0), At: at(1)})
	}},
	{"RestrictedLogsRestrictedKeepsFlagsDropsDocuments", func(t *testing.T, e *env) {
		if _, err := e.s.CommitPatients([]store.PatientUpdate{update(nhs(0), 1, 0), update(nhs(1), 1, 0)}, at(1)); err != nil {
			t.Fatal(err)
		}
		// The Patient became restricted: no documents at all, and a change
		// that makes every device purge the patient.
		up := update(nhs(0), 2, 0)
		up.Meta.Restricted, up.Docs = true, map[string][]byte{}
		un := update(nhs(1), 2, 0)
		un.Meta.Unstorable, un.Docs = true, map[string][]byte{}
		if _, err := e.s.CommitPatients([]store.PatientUpdate{up, un}, at(2)); err != nil {
			t.Fatal(err)
		}
		expectChanges(t, e.s, 2, true, change{Kind: store.ChangeRestricted, NHS: nhs(0), At: at(2)}, change{Kind: store.ChangePatient, NHS: nhs(1), At: at(2)})
		for _, n := range []string{nhs(0), nhs(1)} {
			for _, kind := range []string{store.DocFull, store.DocDemographics} {
				if d := docOf(t, e.s, n, kind); d != "" {
					t.Fatalf("%s keeps its %s document %q", n, kind, d)
				}
			}
		}
		if m, _ := e.s.Patient(nhs(0)); !m.Restricted || m.Unstorable {
			t.Fatalf("restricted patient read back as %+v", m)
		}
		if m, _ := e.s.Patient(nhs(1)); m.Restricted || !m.Unstorable {
			t.Fatalf("unstorable patient read back as %+v", m)
		}
	}},
	{"DocumentsReplacedAsASet", func(t *testing.T, e *env) {
		if _, err := e.s.CommitPatients([]store.PatientUpdate{update(nhs(0), 1, 0)}, at(1)); err != nil {
			t.Fatal(err)
		}
		// Grown too large: the new documents have no full one. The old full
		// document must not linger to be served or copied.
		up := update(nhs(0), 2, 0)
		up.Meta.TooLarge = true
		delete(up.Docs, store.DocFull)
		if _, err := e.s.CommitPatients([]store.PatientUpdate{up}, at(2)); err != nil {
			t.Fatal(err)
		}
		if d := docOf(t, e.s, nhs(0), store.DocFull); d != "" {
			t.Fatalf("the full document from before is still stored: %q", d)
		}
		if docOf(t, e.s, nhs(0), store.DocDemographics) != "demo c" {
			t.Fatal("the new demographics document is missing")
		}
		if m, _ := e.s.Patient(nhs(0)); !m.TooLarge {
			t.Fatal("TooLarge not kept")
		}
	}},
	{"BatchInOneCall", func(t *testing.T, e *env) {
		if _, err := e.s.CommitPatients([]store.PatientUpdate{update(nhs(1), 1, 0)}, at(1)); err != nil {
			t.Fatal(err)
		}
		ups := []store.PatientUpdate{update(nhs(3), 1, 0), update(nhs(1), 1, 0), update(nhs(2), 1, 0), update(nhs(3), 2, 0)}
		n, err := e.s.CommitPatients(ups, at(2))
		must(t, err)
		if n != 3 {
			t.Fatalf("CommitPatients counted %d; want 3 (one unchanged, one patient twice)", n)
		}
		expectChanges(t, e.s, 1, true,
			change{Kind: store.ChangePatient, NHS: nhs(3), At: at(2)},
			change{Kind: store.ChangePatient, NHS: nhs(2), At: at(2)},
			change{Kind: store.ChangePatient, NHS: nhs(3), At: at(2)})
		if m, _ := e.s.Patient(nhs(3)); m.Version != 4 || docOf(t, e.s, nhs(3), store.DocFull) != "full c" {
			t.Fatalf("the later update of a patient in one batch did not win: %+v", m)
		}
		if c, _ := e.s.PatientCount(); c != 3 {
			t.Fatalf("PatientCount = %d; want 3", c)
		}
	}},
	{"UnknownPatient", func(t *testing.T, e *env) {
		_, err := e.s.Patient(nhs(0))
		wantIs(t, err, store.ErrNotFound, "Patient(unknown)")
		_, err = e.s.Doc(nhs(0), store.DocFull)
		wantIs(t, err, store.ErrNotFound, "Doc(unknown)")
		if _, err := e.s.CommitPatients([]store.PatientUpdate{update(nhs(0), 1, 0)}, at(1)); err != nil {
			t.Fatal(err)
		}
		_, err = e.s.Doc(nhs(0), "no-such-kind")
		wantIs(t, err, store.ErrNotFound, "Doc(unknown kind)")
		_, err = e.s.Patient(nhs(0)[:9])
		wantIs(t, err, store.ErrNotFound, "Patient(a prefix of a stored number)")
		if c, err := e.s.PatientCount(); err != nil || c != 1 {
			t.Fatalf("PatientCount = %d, %v", c, err)
		}
	}},
	{"DocIsACopy", func(t *testing.T, e *env) {
		if _, err := e.s.CommitPatients([]store.PatientUpdate{update(nhs(0), 1, 0)}, at(1)); err != nil {
			t.Fatal(err)
		}
		d, _ := e.s.Doc(nhs(0), store.DocFull)
		d[0] = 'X'
		if docOf(t, e.s, nhs(0), store.DocFull) != "full b" {
			t.Fatal("changing a returned document changed the store")
		}
	}},
	{"TracePatients", func(t *testing.T, e *env) {
		traced := func(n string, hash byte, family, birth string) store.PatientUpdate {
			up := update(n, hash, 0)
			up.Meta.FamilyIndex, up.Meta.Birth, up.Meta.Postcode = family, birth, "CT1 1AA"
			return up
		}
		restricted := traced(nhs(4), 1, "smith", "1930-05-19")
		restricted.Meta.Restricted, restricted.Docs = true, map[string][]byte{}
		unstorable := traced(nhs(5), 1, "smith", "1930-05-19")
		unstorable.Meta.Unstorable, unstorable.Docs = true, map[string][]byte{}
		_, err := e.s.CommitPatients([]store.PatientUpdate{
			traced(nhs(3), 1, "smith", "1930-05-19"), traced(nhs(1), 1, "smith", "1930-05-19"),
			traced(nhs(2), 1, "smith", "1930-05-20"), traced(nhs(6), 1, "smithson", "1930-05-19"),
			restricted, unstorable,
		}, at(1))
		must(t, err)
		nums := func(ms []store.PatientMeta) []string {
			var out []string
			for _, m := range ms {
				out = append(out, m.NHS)
			}
			return out
		}
		got, err := e.s.TracePatients("smith", "1930-05-19", 10)
		must(t, err)
		if want := []string{nhs(1), nhs(3)}; !slices.Equal(nums(got), want) {
			t.Fatalf("TracePatients = %v; want %v (whole family name, exact date, NHS order, no restricted or unstorable)", nums(got), want)
		}
		if got[0].Birth != "1930-05-19" || got[0].Postcode != "CT1 1AA" || got[0].FamilyIndex != "smith" {
			t.Fatalf("traced meta lost its keys: %+v", got[0])
		}
		if got, _ := e.s.TracePatients("smith", "1930-05-19", 1); !slices.Equal(nums(got), []string{nhs(1)}) {
			t.Fatalf("limit 1 gave %v", nums(got))
		}
		for _, q := range [][2]string{{"smit", "1930-05-19"}, {"smith", ""}, {"", "1930-05-19"}, {"jones", "1930-05-19"}} {
			if got, err := e.s.TracePatients(q[0], q[1], 10); err != nil || len(got) != 0 {
				t.Fatalf("TracePatients(%q, %q) = %v, %v; want none", q[0], q[1], nums(got), err)
			}
		}
		// A rebuild that changes the name moves the patient; one that
		// restricts them takes them out of every trace.
		_, err = e.s.CommitPatients([]store.PatientUpdate{traced(nhs(1), 2, "jones", "1930-05-19")}, at(2))
		must(t, err)
		r3 := traced(nhs(3), 2, "smith", "1930-05-19")
		r3.Meta.Restricted, r3.Docs = true, map[string][]byte{}
		_, err = e.s.CommitPatients([]store.PatientUpdate{r3}, at(3))
		must(t, err)
		if got, _ := e.s.TracePatients("smith", "1930-05-19", 10); len(got) != 0 {
			t.Fatalf("after renaming and restricting, smith traced %v", nums(got))
		}
		if got, _ := e.s.TracePatients("jones", "1930-05-19", 10); !slices.Equal(nums(got), []string{nhs(1)}) {
			t.Fatalf("the renamed patient traced as %v", nums(got))
		}
		s := e.reopen(t)
		if got, err := s.TracePatients("jones", "1930-05-19", 10); err != nil || !slices.Equal(nums(got), []string{nhs(1)}) {
			t.Fatalf("after a restart: %v, %v", nums(got), err)
		}
	}},
}
