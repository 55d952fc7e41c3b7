package demo

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"kmcr/record"
)

// The 2000-patient, seed 7 data set several tests read, written once.
var seven = struct {
	once  sync.Once
	dir   string
	stats *Stats
	err   error
}{}

var sevenOpts = Options{Patients: 2000, Seed: 7}

func TestMain(m *testing.M) {
	code := m.Run()
	if seven.dir != "" {
		os.RemoveAll(seven.dir)
	}
	os.Exit(code)
}

// mustSeven returns the directory and stats of the shared data set.
func mustSeven(t testing.TB) (string, *Stats) {
	t.Helper()
	seven.once.Do(func() {
		seven.dir, seven.err = os.MkdirTemp("", "demo-seven-")
		if seven.err == nil {
			seven.stats, seven.err = Write(seven.dir, sevenOpts)
		}
	})
	if seven.err != nil {
		t.Fatal(seven.err)
	}
	return seven.dir, seven.stats
}

// hashDir returns the SHA-256 of every file in dir, by name.
func hashDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	return out
}

// TestWrite_Deterministic writes the same data set twice, once on one CPU,
// and compares the files by hash.
func TestWrite_Deterministic(t *testing.T) {
	dir, _ := mustSeven(t)
	again := t.TempDir()
	prev := runtime.GOMAXPROCS(1)
	_, err := Write(again, sevenOpts)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	a, b := hashDir(t, dir), hashDir(t, again)
	if len(a) != len(b) {
		t.Fatalf("file sets differ: %v vs %v", a, b)
	}
	for name, h := range a {
		if b[name] != h {
			t.Errorf("%s differs between runs", name)
		}
	}
}

// TestWrite_SeedChangesData checks another seed gives other patients and
// the same organisations.
func TestWrite_SeedChangesData(t *testing.T) {
	dir, _ := mustSeven(t)
	other := t.TempDir()
	opts := sevenOpts
	opts.Seed = 8
	if _, err := Write(other, opts); err != nil {
		t.Fatal(err)
	}
	a, b := hashDir(t, dir), hashDir(t, other)
	if a["Patient.000.ndjson"] == b["Patient.000.ndjson"] || a["Condition.000.ndjson"] == b["Condition.000.ndjson"] {
		t.Fatal("seeds 7 and 8 gave the same patients")
	}
	if a["Organization.000.ndjson"] != b["Organization.000.ndjson"] {
		t.Fatal("organisations depend on the seed")
	}
}

// TestWrite_MatchesPatient checks the files hold exactly what Patient
// returns, in index order.
func TestWrite_MatchesPatient(t *testing.T) {
	dir, _ := mustSeven(t)
	lines := readLines(t, filepath.Join(dir, "Patient.000.ndjson"))
	for _, i := range []int{0, 1, 999, 1999} {
		if got, want := lines[i], string(Patient(sevenOpts, i)[0].JSON); got != want {
			t.Fatalf("line %d of Patient.000.ndjson is not Patient(opts, %d)", i, i)
		}
	}
}

func readLines(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// resource is the part of a generated resource the content checks read.
type resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		Security []coding `json:"security"`
		Tag      []coding `json:"tag"`
	} `json:"meta"`
	Subject   *reference  `json:"subject"`
	Patient   *reference  `json:"patient"`
	Performer []reference `json:"performer"`
	Device    *reference  `json:"device"`
	Code      struct {
		Coding []coding `json:"coding"`
		Text   string   `json:"text"`
	} `json:"code"`
	Category   json.RawMessage `json:"category"`
	Identifier []struct {
		System, Value string
	} `json:"identifier"`
	Name    json.RawMessage          `json:"name"` // a string for organisations
	Telecom []struct{ Value string } `json:"telecom"`
	Address []struct {
		PostalCode string
		City       string
	} `json:"address"`
	GeneralPractitioner []reference `json:"generalPractitioner"`
	ServiceProvider     *reference  `json:"serviceProvider"`
	Encounter           *reference  `json:"encounter"`
}

type coding struct{ System, Code, Display string }
type reference struct{ Reference string }

var (
	postcodeRE = regexp.MustCompile(`^(ME|CT|TN|DA)[0-9]{1,2} [0-9][ABD-HJLNP-UW-Z]{2}$`)
	phoneRE    = regexp.MustCompile(`^(01632 960|07700 900)[0-9]{3}$`)
)

// TestWrite_Content reads every line of the seed 7 data set and checks the
// promises in the package documentation.
func TestWrite_Content(t *testing.T) {
	dir, stats := mustSeven(t)
	byType := map[string]map[string]*resource{}
	var all []*resource
	for _, name := range stats.Files {
		typ := strings.TrimSuffix(name, ".000.ndjson")
		byType[typ] = map[string]*resource{}
		lines := readLines(t, filepath.Join(dir, name))
		if len(lines) != stats.Resources[typ] {
			t.Errorf("%s has %d lines, stats say %d", name, len(lines), stats.Resources[typ])
		}
		for n, line := range lines {
			if !json.Valid([]byte(line)) {
				t.Fatalf("%s line %d is not valid JSON", name, n+1)
			}
			r := &resource{}
			if err := json.Unmarshal([]byte(line), r); err != nil {
				t.Fatalf("%s line %d: %v", name, n+1, err)
			}
			if r.ResourceType != typ || r.ID == "" {
				t.Fatalf("%s line %d has resourceType %q, id %q", name, n+1, r.ResourceType, r.ID)
			}
			if byType[typ][r.ID] != nil {
				t.Fatalf("%s id %s repeated", typ, r.ID)
			}
			byType[typ][r.ID] = r
			all = append(all, r)
		}
	}
	resolves := func(ref string) bool {
		typ, id, ok := strings.Cut(ref, "/")
		return ok && byType[typ][id] != nil
	}

	// Patients: NHS numbers, names, addresses, phones, GP.
	patients := byType["Patient"]
	if len(patients) != sevenOpts.Patients {
		t.Fatalf("%d patients, want %d", len(patients), sevenOpts.Patients)
	}
	nhs := map[string]bool{}
	var accented, apostrophe, hyphen int
	for _, p := range patients {
		if len(p.Identifier) != 1 || p.Identifier[0].System != record.NHSNumberSystem {
			t.Fatalf("patient %s identifiers %+v", p.ID, p.Identifier)
		}
		n, err := record.ParseNHSNumber(p.Identifier[0].Value)
		if err != nil || !n.IsTestRange() || nhs[n.Digits()] {
			t.Fatalf("patient %s NHS number %q: err %v, test range %v, repeated %v", p.ID, p.Identifier[0].Value, err, n.IsTestRange(), nhs[n.Digits()])
		}
		nhs[n.Digits()] = true
		var names []struct {
			Family string
			Given  []string
		}
		if err := json.Unmarshal(p.Name, &names); err != nil || len(names) != 1 {
			t.Fatalf("patient %s name %s: %v", p.ID, p.Name, err)
		}
		full := names[0].Family + " " + strings.Join(names[0].Given, " ")
		for _, r := range full {
			if r > 127 {
				accented++
				break
			}
		}
		if strings.Contains(full, "'") {
			apostrophe++
		}
		if strings.Contains(full, "-") {
			hyphen++
		}
		if !postcodeRE.MatchString(p.Address[0].PostalCode) {
			t.Fatalf("patient %s postcode %q", p.ID, p.Address[0].PostalCode)
		}
		for _, tel := range p.Telecom {
			if !phoneRE.MatchString(tel.Value) {
				t.Fatalf("patient %s phone %q is outside the drama ranges", p.ID, tel.Value)
			}
		}
		if len(p.GeneralPractitioner) != 1 || !resolves(p.GeneralPractitioner[0].Reference) {
			t.Fatalf("patient %s GP %+v does not resolve", p.ID, p.GeneralPractitioner)
		}
	}
	if accented == 0 || apostrophe == 0 || hyphen == 0 {
		t.Errorf("names with accents %d, apostrophes %d, hyphens %d: want some of each", accented, apostrophe, hyphen)
	}

	// Every clinical resource points at an existing patient; other
	// references resolve too.
	var allergies, nka, labelled, entered, decisions int
	withAllergyRecord := map[string]bool{}
	labels := map[string]bool{}
	for _, r := range all {
		switch r.ResourceType {
		case "Patient", "Organization", "Practitioner":
			continue
		}
		ref := r.Subject
		if r.ResourceType == "AllergyIntolerance" || r.ResourceType == "Immunization" || r.ResourceType == "Device" {
			ref = r.Patient
		}
		if ref == nil || !strings.HasPrefix(ref.Reference, "Patient/") || !resolves(ref.Reference) {
			t.Fatalf("%s/%s does not reference an existing patient: %+v", r.ResourceType, r.ID, ref)
		}
		for _, x := range []*reference{r.ServiceProvider, r.Encounter, r.Device} {
			if x != nil && !resolves(x.Reference) {
				t.Fatalf("%s/%s: reference %s does not resolve", r.ResourceType, r.ID, x.Reference)
			}
		}
		if len(r.Meta.Security) > 0 {
			labelled++
			for _, l := range r.Meta.Security {
				labels[l.Code] = true
			}
		}
		switch r.ResourceType {
		case "AllergyIntolerance":
			withAllergyRecord[ref.Reference] = true
			if r.Code.Coding[0].Code == "716186003" {
				nka++
			} else {
				allergies++
			}
		case "Observation":
			if len(r.Performer) > 0 {
				if r.Performer[0].Reference != ref.Reference || r.Device == nil ||
					len(r.Meta.Tag) != 1 || r.Meta.Tag[0].Code != PatientEnteredTagCode {
					t.Fatalf("patient-entered Observation/%s is not marked as such: %+v", r.ID, r)
				}
				entered++
			}
		case "Flag":
			if (len(r.Code.Coding) > 0 && r.Code.Coding[0].Code == "304253006") || strings.HasPrefix(r.Code.Text, "ReSPECT") {
				decisions++
			}
		}
	}
	counts := []struct {
		what       string
		got, least int
	}{
		{"allergies", allergies, 100},
		{"no known allergy records", nka, 1000},
		{"patients with no allergy record", len(patients) - len(withAllergyRecord), 20},
		{"conditions", len(byType["Condition"]), 2000},
		{"observations", len(byType["Observation"]), 4000},
		{"patient-entered observations", entered, 1000},
		{"security-labelled resources", labelled, 20},
		{"DNACPR and ReSPECT flags", decisions, 20},
		{"care plans", len(byType["CarePlan"]), 20},
		{"immunisations", len(byType["Immunization"]), 100},
		{"A&E, GP and home encounters", len(byType["Encounter"]), 1000},
	}
	for _, c := range counts {
		if c.got < c.least {
			t.Errorf("%d %s, want at least %d", c.got, c.what, c.least)
		}
	}
	for _, want := range []string{"SEX", "PSY", "R"} {
		if !labels[want] {
			t.Errorf("no resource carries security label %s", want)
		}
	}
	if stats.Allergies != allergies || stats.NoKnownAllergy != nka || stats.PatientEntered != entered ||
		stats.SecurityLabelled != labelled || stats.AdvanceDecisions != decisions {
		t.Errorf("stats %+v disagree with the files", stats)
	}
	if avg := stats.AvgBytesPerPatient(); avg < 6000 || avg > 10000 {
		t.Errorf("average patient is %.0f bytes, want 6 to 10 KB", avg)
	}
	if stats.SmallestPatient > 3000 || stats.LargestPatient < 20000 {
		t.Errorf("patients range from %d to %d bytes; want some small and some large", stats.SmallestPatient, stats.LargestPatient)
	}
}

// TestWrite_ReplacesOwnFilesOnly writes over a directory holding stale
// files of every type and an unrelated file, and checks the stale ones
// are replaced or removed, nothing partial is left, and the other file is
// untouched.
func TestWrite_ReplacesOwnFilesOnly(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range ResourceTypes() {
		if err := os.WriteFile(filepath.Join(dir, FileName(typ)), []byte("stale\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	stats, err := Write(dir, Options{Patients: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		switch {
		case e.Name() == "notes.txt":
			if string(b) != "mine" {
				t.Error("an unrelated file was changed")
			}
		case strings.HasSuffix(e.Name(), partialSuffix):
			t.Errorf("partial file %s left behind", e.Name())
		case bytes.Contains(b, []byte("stale")):
			t.Errorf("%s still holds stale data", e.Name())
		}
	}
	if len(entries) != len(stats.Files)+1 {
		t.Errorf("%d entries in the directory, want %d files and notes.txt", len(entries), len(stats.Files))
	}
}

// TestWrite_Progress checks progress is reported, increasing, ending at
// the total.
func TestWrite_Progress(t *testing.T) {
	var seen []int
	opts := Options{Patients: 3*chunkSize + 10, Seed: 5, Progress: func(done, total int) { seen = append(seen, done) }}
	if _, err := Write(t.TempDir(), opts); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 4 || seen[len(seen)-1] != opts.Patients {
		t.Fatalf("progress calls %v, want four ending at %d", seen, opts.Patients)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("progress went backwards: %v", seen)
		}
	}
}

// TestWrite_BadDirectory checks a path that cannot be a directory fails
// cleanly.
func TestWrite_BadDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(filepath.Join(file, "sub"), Options{Patients: 1}); err == nil {
		t.Fatal("writing under a regular file succeeded")
	}
}

func BenchmarkWrite_1000(b *testing.B) {
	dir := b.TempDir()
	var bytes int64
	for b.Loop() {
		s, err := Write(dir, Options{Patients: 1000, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		bytes = s.Bytes
	}
	b.SetBytes(bytes)
}

func BenchmarkPatient(b *testing.B) {
	opts := Options{Patients: MaxPatients, Seed: 1}
	i := 0
	for b.Loop() {
		Patient(opts, i%1000)
		i++
	}
}

var (
	dateRE    = regexp.MustCompile(`"(\d{4}-\d{2}-\d{2})[T"]`)
	subjectRE = regexp.MustCompile(`"(?:subject|patient)":\{"reference":"Patient/([0-9a-f-]{36})"`)
	birthRE   = regexp.MustCompile(`"birthDate":"(\d{4}-\d{2}-\d{2})"`)
)

// TestWrite_DatesWithinLife checks every date in the data set falls between
// the patient's birth and the reference date (2026-11-01 by default), so
// the data looks current and nothing depends on the day it was made.
func TestWrite_DatesWithinLife(t *testing.T) {
	dir, stats := mustSeven(t)
	births := map[string]string{}
	for _, line := range readLines(t, filepath.Join(dir, "Patient.000.ndjson")) {
		var p struct{ ID string }
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		births[p.ID] = birthRE.FindStringSubmatch(line)[1]
	}
	latest := ""
	for _, name := range stats.Files {
		if name == "Organization.000.ndjson" || name == "Practitioner.000.ndjson" {
			continue
		}
		for n, line := range readLines(t, filepath.Join(dir, name)) {
			birth := ""
			if m := subjectRE.FindStringSubmatch(line); m != nil {
				birth = births[m[1]]
			} else {
				birth = birthRE.FindStringSubmatch(line)[1]
			}
			for _, m := range dateRE.FindAllStringSubmatch(line, -1) {
				d := m[1]
				if d >= DefaultAsOf || d < birth {
					t.Fatalf("%s line %d: date %s is outside the life %s to %s", name, n+1, d, birth, DefaultAsOf)
				}
				latest = max(latest, d)
			}
		}
	}
	if latest < "2026-10-01" {
		t.Errorf("the latest event is %s; data should run up to the reference date", latest)
	}
}
