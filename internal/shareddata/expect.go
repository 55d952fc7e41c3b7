// Package shareddata is the test fixture of the public FHIR test data in
// ../shared/fhir: what every screen must show of each of its patients, read
// from the source JSON by a small decoder of its own (encoding/json into
// maps), independent of package record's reader and summary and of the
// presentation; and a real in-process kmcr-server with the data imported,
// for the window's and `kmcr show`'s tests to sync from.
package shareddata

import (
	"bufio"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"kmcr/record"
)

// Dir returns ../shared/fhir beside the repository, or skips the test.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("no go.mod above the test directory, so ../shared/fhir cannot be located")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "fhir")
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("public FHIR test data not found (expected at ../shared/fhir beside the repository): %v", err)
	}
	return p
}

// Patient is what every screen must show of one NHS number.
type Patient struct {
	NHS record.NHSNumber
	// Family is the family name the banner shows, in capitals; Given its
	// first given name. Both are "" when no source has a name.
	Family, Given string
	// Postcode and GP (an ODS code or practice name) are "" when unknown.
	Postcode, GP string
	Deceased     bool
	// AgeAtDeath is "(Ny)" for a patient whose date of death is known.
	AgeAtDeath string
	// Items are the names every section must list, by section key
	// (present.KeyAllergies...), each as often as the source has it.
	// Observations are listed once per kind (code), by name.
	Items map[string][]string
	// NotGiven counts immunisations recorded as not given.
	NotGiven int
	// Other counts the patient's own resources of types the summary does
	// not show as items (claims, diagnostic reports, procedures...).
	Other map[string]int
	// Documents are each Composition's title, then its sections' titles.
	Documents []string
	// Restricted: a source's Patient carries a restricted label, so the
	// patient is never offered offline.
	Restricted bool
}

// resource is one source resource as the decoder sees it.
type resource struct {
	m       map[string]any
	typ, id string
	fullURL string
	file    string
	order   int
}

// Expect reads every file under dir and returns, by NHS number (ten
// digits), what the screens must show. Resources group by the patient they
// name (subject, patient); Summary Care Record entries that name none
// belong to their bundle's Composition's subject; patients group by NHS
// number (assigned by record.AssignNHSNumber when the source has none, the
// documented rule, which is not the presentation's).
func Expect(tb testing.TB, dir string) map[string]*Patient {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".ndjson")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(files)
	byPatient := map[string][]*resource{} // "Patient/id" -> resources, the Patient included
	patients := map[string]*resource{}    // the last Patient read for each key, as the server keeps it
	byURL := map[string]*resource{}       // shared resources by fullUrl and Type/id
	order := 0
	add := func(r *resource, owner string) {
		if r.typ == "Patient" {
			key := "Patient/" + r.id
			patients[key] = r
			return
		}
		if owner == "" {
			byURL["Type/"+r.typ+"/"+r.id] = r
			if r.fullURL != "" {
				byURL[r.fullURL] = r
			}
			return
		}
		byPatient[owner] = append(byPatient[owner], r)
	}
	for _, f := range files {
		for _, group := range readFile(tb, f) {
			urls := map[string]string{} // fullUrl -> "Patient/id" within one bundle
			context := ""
			for _, r := range group {
				r.order = order
				order++
				if r.typ == "Patient" && r.fullURL != "" {
					urls[r.fullURL] = "Patient/" + r.id
				}
			}
			for _, r := range group {
				if r.typ == "Composition" {
					context = patientRef(r.m["subject"], urls)
				}
			}
			if context == "" {
				var ps []string
				for _, r := range group {
					if r.typ == "Patient" {
						ps = append(ps, "Patient/"+r.id)
					}
				}
				if len(ps) == 1 {
					context = ps[0]
				}
			}
			for _, r := range group {
				owner := ""
				for _, field := range []string{"subject", "patient", "beneficiary"} {
					if owner = patientRef(r.m[field], urls); owner != "" {
						break
					}
				}
				if owner == "" && r.typ != "Patient" && clinical[r.typ] {
					owner = context
				}
				add(r, owner)
			}
		}
	}
	out := map[string]*Patient{}
	sources := map[string][]*resource{}
	for key, p := range patients {
		nhs := nhsOf(p.m, key)
		sources[nhs] = append(sources[nhs], p)
	}
	for nhs, ps := range sources {
		sort.Slice(ps, func(i, j int) bool { return ps[i].order < ps[j].order })
		e := &Patient{NHS: record.NHSNumber(nhs), Items: map[string][]string{}, Other: map[string]int{}}
		out[nhs] = e
		var own []*resource
		for _, p := range ps {
			own = append(own, byPatient["Patient/"+p.id]...)
			if restricted(p.m) {
				e.Restricted = true
			}
		}
		e.demographics(ps)
		e.clinical(own, byURL)
	}
	return out
}

// clinical types belong to a patient even when they do not name one.
var clinical = map[string]bool{
	"AllergyIntolerance": true, "Condition": true, "Encounter": true, "Observation": true, "MedicationRequest": true,
	"MedicationStatement": true, "Immunization": true, "CarePlan": true, "Flag": true, "Procedure": true, "Composition": true,
}

// readFile returns the resources of a file, a group per Bundle (or one
// group of one for a single resource, one per line of NDJSON).
func readFile(tb testing.TB, path string) [][]*resource {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]*resource
	if strings.HasSuffix(path, ".ndjson") {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				tb.Fatalf("%s: %v", path, err)
			}
			out = append(out, []*resource{newResource(m, "", path)})
		}
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
		return out
	}
	var m map[string]any
	if err := json.NewDecoder(f).Decode(&m); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if m["resourceType"] != "Bundle" {
		return [][]*resource{{newResource(m, "", path)}}
	}
	var group []*resource
	for _, e := range list(m["entry"]) {
		em, _ := e.(map[string]any)
		rm, _ := em["resource"].(map[string]any)
		if rm != nil {
			group = append(group, newResource(rm, str(em["fullUrl"]), path))
		}
	}
	return append(out, group)
}

func newResource(m map[string]any, fullURL, file string) *resource {
	return &resource{m: m, typ: str(m["resourceType"]), id: str(m["id"]), fullURL: fullURL, file: file}
}

func str(v any) string { s, _ := v.(string); return s }

func list(v any) []any { l, _ := v.([]any); return l }

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// patientRef returns the patient key a Reference names, or "".
func patientRef(v any, urls map[string]string) string {
	ref := str(obj(v)["reference"])
	if ref == "" {
		return ""
	}
	if k, ok := urls[ref]; ok {
		return k
	}
	if i := strings.LastIndex(ref, "Patient/"); i >= 0 {
		return ref[i:]
	}
	return ""
}

// nhsOf is a Patient's NHS number, or the one the documented rule assigns.
func nhsOf(m map[string]any, key string) string {
	for _, id := range list(m["identifier"]) {
		idm := obj(id)
		if str(idm["system"]) == record.NHSNumberSystem && str(idm["use"]) != "old" {
			return str(idm["value"])
		}
	}
	return record.AssignNHSNumber(key).Digits()
}

func restricted(m map[string]any) bool {
	for _, l := range list(obj(m["meta"])["security"]) {
		if c := str(obj(l)["code"]); c == "R" || c == "V" {
			return true
		}
	}
	return false
}

// display is a CodeableConcept's text, else its first display, else its
// first code.
func display(v any) string {
	cc := obj(v)
	if t := str(cc["text"]); t != "" {
		return t
	}
	for _, c := range list(cc["coding"]) {
		if d := str(obj(c)["display"]); d != "" {
			return d
		}
	}
	for _, c := range list(cc["coding"]) {
		if d := str(obj(c)["code"]); d != "" {
			return d
		}
	}
	return ""
}

func hasCode(v any, codes ...string) bool {
	for _, c := range list(obj(v)["coding"]) {
		for _, code := range codes {
			if str(obj(c)["code"]) == code {
				return true
			}
		}
	}
	return false
}

// isPDS: the PDS files of the shared data (see its README).
func isPDS(r *resource) bool { return strings.HasPrefix(filepath.Base(r.file), "pds-") }

// demographics applies the documented rule as simply as it can be said:
// PDS first, otherwise the sources in the order read; each part from the
// first source that has it.
func (e *Patient) demographics(ps []*resource) {
	sort.SliceStable(ps, func(i, j int) bool { return isPDS(ps[i]) && !isPDS(ps[j]) })
	for _, p := range ps {
		names := list(p.m["name"])
		if e.Family == "" && len(names) > 0 {
			n := obj(names[0])
			e.Family = strings.ToUpper(str(n["family"]))
			if g := list(n["given"]); len(g) > 0 {
				e.Given = str(g[0])
			}
		}
		if addrs := list(p.m["address"]); e.Postcode == "" && len(addrs) > 0 {
			e.Postcode = str(obj(addrs[0])["postalCode"])
		}
		if gps := list(p.m["generalPractitioner"]); e.GP == "" && len(gps) > 0 {
			g := obj(gps[0])
			if e.GP = str(obj(g["identifier"])["value"]); e.GP == "" {
				e.GP = str(g["display"])
			}
		}
		if dt := str(p.m["deceasedDateTime"]); dt != "" && !e.Deceased {
			e.Deceased = true
			birth, err1 := time.Parse("2006-01-02", str(p.m["birthDate"]))
			died, err2 := time.Parse(time.RFC3339, dt)
			if err1 == nil && err2 == nil {
				age := died.Year() - birth.Year()
				if died.Month() < birth.Month() || died.Month() == birth.Month() && died.Day() < birth.Day() {
					age--
				}
				e.AgeAtDeath = "(" + itoa(age) + "y)"
			}
		}
		if b, ok := p.m["deceasedBoolean"].(bool); ok && b {
			e.Deceased = true
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Section keys, as the presentation names them.
const (
	allergies     = "allergies"
	medications   = "medications"
	problems      = "problems"
	carePlans     = "care_plans"
	observations  = "observations"
	encounters    = "encounters"
	immunizations = "immunizations"
	alerts        = "alerts"
)

// shown are the types the summary shows as items, or through references.
var shown = map[string]bool{
	"AllergyIntolerance": true, "MedicationRequest": true, "MedicationStatement": true, "Condition": true, "Encounter": true,
	"Observation": true, "CarePlan": true, "Immunization": true, "Flag": true, "Composition": true,
	"Organization": true, "Practitioner": true, "PractitionerRole": true, "Medication": true,
}

func (e *Patient) clinical(own []*resource, shared map[string]*resource) {
	kinds := map[string]bool{}
	for _, r := range own {
		m := r.m
		if !shown[r.typ] {
			e.Other[r.typ]++
			continue
		}
		switch r.typ {
		case "AllergyIntolerance":
			if !hasCode(m["code"], "716186003", "409137002", "428607008", "429625007") {
				e.Items[allergies] = append(e.Items[allergies], orNoText(display(m["code"])))
			}
		case "MedicationRequest", "MedicationStatement":
			name := display(m["medicationCodeableConcept"])
			if name == "" {
				ref := str(obj(m["medicationReference"])["reference"])
				if med := shared[ref]; med != nil {
					name = display(med.m["code"])
				}
			}
			e.Items[medications] = append(e.Items[medications], orNoText(name))
		case "Condition":
			e.Items[problems] = append(e.Items[problems], orNoText(display(m["code"])))
		case "Encounter":
			var types []string
			for _, t := range list(m["type"]) {
				if d := display(t); d != "" {
					types = append(types, d)
				}
			}
			name := strings.Join(types, ", ")
			if name == "" {
				name = str(obj(m["class"])["display"])
			}
			e.Items[encounters] = append(e.Items[encounters], orNoText(name))
		case "Observation":
			var key string
			for _, c := range list(obj(m["code"])["coding"]) {
				key = str(obj(c)["system"]) + "|" + str(obj(c)["code"])
				break
			}
			if key == "" {
				key = display(m["code"])
			}
			if !kinds[key] {
				kinds[key] = true
				e.Items[observations] = append(e.Items[observations], orNoText(display(m["code"])))
			}
		case "Immunization":
			e.Items[immunizations] = append(e.Items[immunizations], orNoText(display(m["vaccineCode"])))
			if str(m["status"]) == "not-done" {
				e.NotGiven++
			}
		case "CarePlan":
			name := str(m["title"])
			if name == "" {
				var cats []string
				for _, c := range list(m["category"]) {
					if d := display(c); d != "" {
						cats = append(cats, d)
					}
				}
				name = strings.Join(cats, ", ")
			}
			e.Items[carePlans] = append(e.Items[carePlans], orNoText(name))
		case "Flag":
			e.Items[alerts] = append(e.Items[alerts], orNoText(display(m["code"])))
		case "Composition":
			title := str(m["title"])
			if title == "" {
				title = display(m["type"])
			}
			e.Documents = append(e.Documents, title)
			for _, s := range list(m["section"]) {
				e.Documents = append(e.Documents, str(obj(s)["title"]))
			}
		}
	}
}

func orNoText(s string) string {
	if s == "" {
		return "(no description)"
	}
	return s
}
