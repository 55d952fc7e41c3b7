package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const (
	goodPatient   = `{"resourceType":"Patient","id":"p1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}]}`
	goodCondition = `{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"code":{"text":"Asthma"}}`
)

// badInputCases are files that must each give a clear rejection naming the
// file and entry while the good resources beside them still import. Each
// case writes one file, named file; want lists rejections as
// "<entry>: <reason fragment>" ("" entry for the whole file), and good is
// how many resources must still be accepted.
var badInputCases = []struct {
	name    string
	file    string
	content string
	want    []string
	good    int
}{
	{
		name:    "malformed NDJSON line",
		file:    "Condition.000.ndjson",
		content: goodPatient + "\n{\"resourceType\":\"Condition\",\"subject\":\n" + goodCondition + "\n",
		want:    []string{"line 2: malformed JSON"},
		good:    2,
	},
	{
		name:    "malformed bundle",
		file:    "bundle.json",
		content: `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + goodPatient + `},{"resource":{"resourceType":"Condition",}}]}`,
		want:    []string{": malformed JSON"},
	},
	{
		name:    "resource with no patient",
		file:    "Condition.000.ndjson",
		content: goodPatient + "\n" + `{"resourceType":"Condition","id":"c2","code":{"text":"Asthma"}}` + "\n" + goodCondition + "\n",
		want:    []string{"line 2: no patient reference"},
		good:    2,
	},
	{
		name:    "subject that is not a patient",
		file:    "Observation.000.ndjson",
		content: `{"resourceType":"Observation","id":"o1","subject":{"reference":"Group/g1"}}` + "\n",
		want:    []string{`line 1: no patient reference (subject refers to a resource that is not a Patient)`},
	},
	{
		name: "invalid NHS number",
		file: "bundle.json",
		content: `{"resourceType":"Bundle","type":"transaction","entry":[` +
			`{"fullUrl":"urn:uuid:a","resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"987 654 4321"}]}},` +
			`{"fullUrl":"urn:uuid:b","resource":{"resourceType":"Condition","subject":{"reference":"urn:uuid:a"}}},` +
			`{"fullUrl":"urn:uuid:c","resource":` + goodPatient + `}]}`,
		want: []string{"entry 0: invalid NHS number", "entry 1: patient rejected: Patient/a"},
		good: 1,
	},
	{
		name:    "empty JSON file",
		file:    "empty.json",
		content: "",
		want:    []string{": empty file"},
	},
	{
		name: "bundle entries missing resources",
		file: "bundle.json",
		content: `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:x"},` +
			`{"request":{"method":"DELETE","url":"Patient/9"}},{"resource":` + goodPatient + `},{"resource":"text"},7]}`,
		want: []string{"entry 0: entry has no resource", "entry 1: entry has no resource (a DELETE request)",
			"entry 3: not a JSON object", "entry 4: entry is not a JSON object"},
		good: 1,
	},
	{
		name:    "deep nesting in NDJSON",
		file:    "Observation.000.ndjson",
		content: goodPatient + "\n" + `{"resourceType":"Observation","x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}\n",
		want:    []string{"line 2: JSON nested deeper than 64 levels"},
		good:    1,
	},
	{
		name: "deep nesting in a bundle entry",
		file: "bundle.json",
		content: `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Basic","x":` +
			strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000) + `}},{"resource":` + goodPatient + `}]}`,
		want: []string{"entry 0: JSON nested deeper than 64 levels"},
		good: 1,
	},
	{
		name:    "deep nesting in a single resource file",
		file:    "deep.json",
		content: `{"resourceType":"Patient","x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}",
		want:    []string{": JSON nested deeper than 64 levels"},
	},
	{
		name:    "no resourceType",
		file:    "x.ndjson",
		content: `{"id":"1"}` + "\n",
		want:    []string{"line 1: no resourceType"},
	},
	{
		name:    "not an object",
		file:    "x.ndjson",
		content: "[1,2]\n\"text\"\n",
		want:    []string{"line 1: not a JSON object", "line 2: not a JSON object"},
	},
	{
		name:    "unknown resource type is kept",
		file:    "x.ndjson",
		content: goodPatient + "\n" + `{"resourceType":"FutureThing","subject":{"reference":"Patient/p1"}}` + "\n" + `{"resourceType":"OtherThing"}` + "\n",
		good:    3,
	},
}

// TestScan_BadInput checks each bad input is rejected with its file and
// entry named, the good resources still import, and nothing panics.
func TestScan_BadInput(t *testing.T) {
	for _, tt := range badInputCases {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), tt.file, tt.content)
			items, rep := scanAll(t, path)
			if len(items) != tt.good || rep.Resources != tt.good {
				t.Errorf("accepted %d (report %d); want %d", len(items), rep.Resources, tt.good)
			}
			if len(rep.Rejected) != len(tt.want) || rep.RejectedTotal != len(tt.want) {
				t.Fatalf("rejections %v; want %d: %v", rep.Rejected, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				got := rep.Rejected[i].Error()
				if !strings.HasPrefix(got, path) || !strings.Contains(got, path+" "+strings.TrimPrefix(w, ": ")) && !strings.Contains(got, path+w) {
					t.Errorf("rejection %d = %q; want %q after the path", i, got, w)
				}
			}
		})
	}
}

// TestScan_EmptyNDJSON checks an empty NDJSON file is reported, not rejected:
// Bulk Data export writes one for a type with no resources.
func TestScan_EmptyNDJSON(t *testing.T) {
	path := writeFile(t, t.TempDir(), "Flag.000.ndjson", "\n\n")
	_, rep := scanAll(t, path)
	if rep.RejectedTotal != 0 || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0].String(), path+": file holds no resources") {
		t.Fatalf("report %+v", rep)
	}
}

// TestScan_MissingPath checks an unreadable path is a rejection, not a failure.
func TestScan_MissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.json")
	_, rep := scanAll(t, missing)
	if rep.RejectedTotal != 1 || !strings.Contains(rep.Rejected[0].Error(), "nope.json: cannot read") {
		t.Fatalf("rejections %v", rep.Rejected)
	}
}

// TestScan_CallbackError checks Scan stops and returns fn's error.
func TestScan_CallbackError(t *testing.T) {
	path := writeFile(t, t.TempDir(), "p.ndjson", goodPatient+"\n"+goodCondition+"\n")
	stop := errors.New("stop")
	calls := 0
	_, err := Scan([]string{path}, func(Item) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

// TestScan_RawUnchanged checks Raw is the exact bytes of the source for a
// pretty-printed bundle entry and an NDJSON line with CRLF and odd spacing.
func TestScan_RawUnchanged(t *testing.T) {
	dir := t.TempDir()
	entry := "{\n    \"resourceType\" : \"Patient\",\n    \"id\": \"p1\",  \"name\": [{\"family\":\"O\\u2019Brien\"}], \"x\": 1.50\n  }"
	bundle := "{\n  \"resourceType\": \"Bundle\", \"type\": \"collection\",\n  \"entry\": [ { \"resource\": " + entry + " } ]\n}\n"
	line := `{ "resourceType":"Condition", "subject" : {"reference":"Patient/p1"},"note":[{"text":"caf\u00e9 1e2"}] }`
	bpath := writeFile(t, dir, "b.json", bundle)
	npath := writeFile(t, dir, "Condition.ndjson", "  "+line+"  \r\n")
	items, rep := scanAll(t, bpath, npath)
	if len(items) != 2 {
		t.Fatalf("items %d, rejected %v", len(items), rep.Rejected)
	}
	if string(items[0].Resource.Raw) != entry {
		t.Errorf("bundle Raw = %q\nwant %q", items[0].Resource.Raw, entry)
	}
	if string(items[1].Resource.Raw) != line {
		t.Errorf("NDJSON Raw = %q\nwant %q", items[1].Resource.Raw, line)
	}
	if got := items[1].Resource.Source.String(); got != npath+" line 1" {
		t.Errorf("Source = %q", got)
	}
	if got := items[0].Resource.Source.String(); got != bpath+" entry 0" {
		t.Errorf("Source = %q", got)
	}
}

// TestScan_BundleReferences checks each form of patient reference inside a
// bundle resolves to the patient's canonical key, and the document rule.
func TestScan_BundleReferences(t *testing.T) {
	bundle := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111","resource":{"resourceType":"Patient","id":"pa"}},
	 {"fullUrl":"https://example.org/fhir/Patient/pb","resource":{"resourceType":"Patient","id":"pb","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000026"}]}},
	 {"fullUrl":"urn:uuid:22222222-2222-2222-2222-222222222222","resource":{"resourceType":"Patient"}},
	 {"resource":{"resourceType":"Condition","id":"c1","subject":{"reference":"urn:uuid:11111111-1111-1111-1111-111111111111"}}},
	 {"resource":{"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/pb"}}},
	 {"resource":{"resourceType":"Condition","id":"c3","subject":{"reference":"https://elsewhere.example/R4/Patient/pb/_history/3"}}},
	 {"resource":{"resourceType":"Condition","id":"c4","subject":{"reference":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990000026"}}},
	 {"resource":{"resourceType":"AllergyIntolerance","id":"a1","patient":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000026"}}}},
	 {"resource":{"resourceType":"Immunization","id":"i1","patient":{"reference":"urn:uuid:22222222-2222-2222-2222-222222222222"}}},
	 {"resource":{"resourceType":"Claim","id":"cl1","patient":{"reference":"Patient/pa"}}},
	 {"resource":{"resourceType":"Coverage","id":"cv1","beneficiary":{"reference":"Patient/pa"}}},
	 {"resource":{"resourceType":"Task","id":"t1","for":{"reference":"Patient/pa"}}},
	 {"resource":{"resourceType":"Organization","id":"o1"}},
	 {"resource":{"resourceType":"Device","id":"d1","patient":{"reference":"Patient/pa"}}},
	 {"resource":{"resourceType":"Device","id":"d2"}}
	]}`
	items, rep := scanAll(t, writeFile(t, t.TempDir(), "refs.json", bundle))
	want := map[string]string{
		"Patient/pa": "Patient/pa", "Patient/pb": "Patient/pb",
		"Patient/":     "Patient/22222222-2222-2222-2222-222222222222",
		"Condition/c1": "Patient/pa", "Condition/c2": "Patient/pb", "Condition/c3": "Patient/pb", "Condition/c4": "Patient/pb",
		"AllergyIntolerance/a1": "Patient/pb", "Immunization/i1": "Patient/22222222-2222-2222-2222-222222222222",
		"Claim/cl1": "Patient/pa", "Coverage/cv1": "Patient/pa", "Task/t1": "Patient/pa",
		"Organization/o1": "", "Device/d1": "Patient/pa", "Device/d2": "",
	}
	if rep.RejectedTotal != 0 || len(items) != len(want) {
		t.Fatalf("items %d, rejected %v", len(items), rep.Rejected)
	}
	for _, it := range items {
		k := it.Resource.Type + "/" + it.Resource.ID
		if got := it.PatientKey; got != want[k] {
			t.Errorf("%s: patient %q; want %q", k, got, want[k])
		}
	}
}

// TestScan_DocumentContext checks that a bundle's clinical entries with no
// subject take the document's patient, and are rejected when the bundle
// names more than one patient and no document says which.
func TestScan_DocumentContext(t *testing.T) {
	one := `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Condition","id":"c"}},{"resource":{"resourceType":"Patient","id":"p"}}]}`
	two := `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Condition","id":"c"}},{"resource":{"resourceType":"Patient","id":"p"}},{"resource":{"resourceType":"Patient","id":"q"}}]}`
	doc := `{"resourceType":"Bundle","type":"document","entry":[{"resource":{"resourceType":"Composition","subject":{"reference":"Patient/q"}}},{"resource":{"resourceType":"Condition","id":"c"}},{"resource":{"resourceType":"Patient","id":"p"}},{"resource":{"resourceType":"Patient","id":"q"}}]}`
	dir := t.TempDir()
	items, _ := scanAll(t, writeFile(t, dir, "one.json", one))
	if items[0].PatientKey != "Patient/p" {
		t.Errorf("single-patient bundle: %q", items[0].PatientKey)
	}
	_, rep := scanAll(t, writeFile(t, dir, "two.json", two))
	if rep.RejectedTotal != 1 || !strings.Contains(rep.Rejected[0].Reason, "no patient reference") {
		t.Errorf("two-patient bundle: %v", rep.Rejected)
	}
	items, _ = scanAll(t, writeFile(t, dir, "doc.json", doc))
	if items[1].PatientKey != "Patient/q" {
		t.Errorf("document bundle: %q", items[1].PatientKey)
	}
}

// TestScan_PatientFilesFirst checks NDJSON Patient files are read first, so a
// rejected patient's resources in an earlier-sorted file are rejected too.
func TestScan_PatientFilesFirst(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "AllergyIntolerance.000.ndjson", `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/bad"}}`+"\n")
	writeFile(t, dir, "Patient.000.ndjson", `{"resourceType":"Patient","id":"bad","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"1234567890"}]}`+"\n")
	items, rep := scanAll(t, dir)
	if len(items) != 0 || rep.RejectedTotal != 2 {
		t.Fatalf("items %d, rejected %v", len(items), rep.Rejected)
	}
	if !strings.Contains(rep.Rejected[0].Error(), "Patient.000.ndjson line 1: invalid NHS number") ||
		!strings.Contains(rep.Rejected[1].Error(), "AllergyIntolerance.000.ndjson line 1: patient rejected: Patient/bad") {
		t.Fatalf("rejections %v", rep.Rejected)
	}
}

// TestScan_RejectionsCapped checks the report keeps at most MaxRejections in
// detail and counts the rest.
func TestScan_RejectionsCapped(t *testing.T) {
	path := writeFile(t, t.TempDir(), "bad.ndjson", strings.Repeat("{\n", MaxRejections+5))
	_, rep := scanAll(t, path)
	if len(rep.Rejected) != MaxRejections || rep.RejectedTotal != MaxRejections+5 {
		t.Fatalf("kept %d, total %d", len(rep.Rejected), rep.RejectedTotal)
	}
}

// writeHugeString writes a file holding prefix, n bytes of 'a', and suffix,
// without holding the n bytes in memory.
func writeHugeString(tb testing.TB, path, prefix string, n int, suffix string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(prefix)
	chunk := bytes.Repeat([]byte{'a'}, 64<<10)
	for left := n; left > 0; left -= len(chunk) {
		w.Write(chunk[:min(left, len(chunk))])
	}
	w.WriteString(suffix)
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// TestScan_HugeStringBoundedMemory checks a 50 MB string is rejected, with
// the lines and entries around it still imported, and that reading it
// allocates about the limit (NDJSON) or the file once (Bundle), not
// hundreds of megabytes.
func TestScan_HugeStringBoundedMemory(t *testing.T) {
	const n = 50 << 20
	tests := []struct {
		name, file, prefix, suffix, want string
		maxAlloc                         uint64
	}{
		{"NDJSON", "Observation.000.ndjson",
			goodPatient + "\n" + `{"resourceType":"Observation","subject":{"reference":"Patient/p1"},"valueString":"`,
			`"}` + "\n" + goodCondition + "\n", "line 2: resource is over the 8 MiB limit", 32 << 20},
		{"Bundle", "bundle.json",
			`{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + goodPatient + `},{"resource":{"resourceType":"Observation","valueString":"`,
			`"}},{"resource":` + goodCondition + `}]}`, "entry 1: resource is 50.0 MiB, over the 8 MiB limit", n + 16<<20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			writeHugeString(t, path, tt.prefix, n, tt.suffix)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			items, rep := scanAll(t, path)
			runtime.ReadMemStats(&after)
			if len(items) != 2 || rep.RejectedTotal != 1 || !strings.Contains(rep.Rejected[0].Error(), tt.want) {
				t.Fatalf("items %d, rejections %v; want %q", len(items), rep.Rejected, tt.want)
			}
			got := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d MiB", got>>20)
			if got > tt.maxAlloc {
				t.Fatalf("allocated %d MiB reading a 50 MiB string; want at most %d MiB", got>>20, tt.maxAlloc>>20)
			}
		})
	}
}

// FuzzScanNDJSON checks that any input is split into lines that are each
// accepted or rejected, that accepted resources are valid JSON objects
// taken from the input, and that nothing panics.
func FuzzScanNDJSON(f *testing.F) {
	for _, tt := range badInputCases {
		if strings.HasSuffix(tt.file, ".ndjson") && len(tt.content) < 4096 {
			f.Add([]byte(tt.content))
		}
	}
	f.Add([]byte(goodPatient + "\n" + goodCondition))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &scanState{rep: &Report{ByType: map[string]int{}}, rejected: map[string]string{}}
		s.fn = func(it Item) error {
			if !json.Valid(it.Resource.Raw) || it.Resource.Raw[0] != '{' || !bytes.Contains(data, it.Resource.Raw) {
				t.Fatalf("accepted %q", it.Resource.Raw)
			}
			return nil
		}
		if err := s.scanNDJSON("f.ndjson", bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		lines := 0
		for _, l := range bytes.Split(data, []byte{'\n'}) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		if s.rep.Resources+s.rep.RejectedTotal != lines {
			t.Fatalf("%d accepted + %d rejected != %d lines", s.rep.Resources, s.rep.RejectedTotal, lines)
		}
	})
}

// FuzzReadBundle checks that any .json input is accepted or rejected without
// a panic, and that accepted resources are valid JSON taken from the input.
func FuzzReadBundle(f *testing.F) {
	for _, tt := range badInputCases {
		if strings.HasSuffix(tt.file, ".json") && len(tt.content) < 4096 {
			f.Add([]byte(tt.content))
		}
	}
	f.Add([]byte(`{"resourceType":"Bundle","type":"document","entry":[{"fullUrl":"urn:uuid:1","resource":` + goodPatient +
		`},{"resource":{"resourceType":"Composition","subject":{"reference":"urn:uuid:1"}}},{"resource":{"resourceType":"Condition"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &scanState{rep: &Report{ByType: map[string]int{}}, rejected: map[string]string{}}
		s.fn = func(it Item) error {
			if !json.Valid(it.Resource.Raw) || !bytes.Contains(data, it.Resource.Raw) {
				t.Fatalf("accepted %q", it.Resource.Raw)
			}
			return nil
		}
		if err := s.scanJSON("f.json", data); err != nil {
			t.Fatal(err)
		}
	})
}
