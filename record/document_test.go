package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// roundTripRecords returns the records the round-trip tests use: the test
// data, and the shared public data when present.
func roundTripRecords(t *testing.T) []*PatientRecord {
	t.Helper()
	recs := mustReadPaths(t, "testdata").Patients
	dir := sharedFHIR(t)
	return append(recs, mustReadPaths(t, dir).Patients...)
}

// summaryJSON encodes a summary for comparison: times compare by instant
// and zone offset, not by *time.Location pointer.
func summaryJSON(t testing.TB, s *Summary) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBuildBundle_RoundTrip checks BuildBundle then ParseBundle gives back
// the same resources, byte for byte, and the same Summary.
func TestBuildBundle_RoundTrip(t *testing.T) {
	asOf := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	for _, rec := range roundTripRecords(t) {
		t.Run(rec.Key, func(t *testing.T) {
			data, err := BuildBundle(rec, BundleMeta{ID: "b1", LastUpdated: asOf})
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(data) {
				t.Fatal("BuildBundle output is not valid JSON")
			}
			back, err := ParseBundle(data)
			if err != nil {
				t.Fatal(err)
			}
			if back.Key != rec.Key || back.NHS != rec.NHS || back.NHSAssigned != rec.NHSAssigned || len(back.Resources) != len(rec.Resources) {
				t.Fatalf("record %s %s %v %d; want %s %s %v %d", back.Key, back.NHS, back.NHSAssigned, len(back.Resources),
					rec.Key, rec.NHS, rec.NHSAssigned, len(rec.Resources))
			}
			for i, r := range rec.Resources {
				b := back.Resources[i]
				if b.Type != r.Type || b.ID != r.ID || !bytes.Equal(b.Raw, r.Raw) || len(b.Security) != len(r.Security) {
					t.Fatalf("resource %d: %s/%s differs after the round trip", i, r.Type, r.ID)
				}
				if r.FullURL != "" && b.FullURL != r.FullURL {
					t.Fatalf("resource %d: fullUrl %q; want %q", i, b.FullURL, r.FullURL)
				}
			}
			if got, want := summaryJSON(t, Summarise(back, asOf)), summaryJSON(t, Summarise(rec, asOf)); got != want {
				t.Fatalf("summary differs after the round trip:\n got %.300s\nwant %.300s", got, want)
			}
		})
	}
}

// TestBuildBundle_Shape checks the bundle's envelope and generated fullUrls.
func TestBuildBundle_Shape(t *testing.T) {
	rec := &PatientRecord{Key: "Patient/p", Resources: []Resource{
		{Type: "Patient", ID: "p", Raw: []byte(`{"resourceType":"Patient","id":"p"}`)},
		{Type: "Basic", Raw: []byte(` {"resourceType":"Basic"} `)},
	}}
	data, err := BuildBundle(rec, BundleMeta{ID: "x\"y", LastUpdated: time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Bundle","id":"x\"y","meta":{"lastUpdated":"2024-01-02T02:04:05Z"},"type":"collection","entry":[` +
		`{"fullUrl":"Patient/p","resource":{"resourceType":"Patient","id":"p"}},` +
		`{"fullUrl":"urn:uuid:`
	if !strings.HasPrefix(string(data), want) || !strings.HasSuffix(string(data), `"resource":{"resourceType":"Basic"}}]}`) {
		t.Fatalf("bundle %s", data)
	}
	rec.Resources[1].Raw = []byte(`{"broken"`)
	if _, err := BuildBundle(rec, BundleMeta{}); err == nil {
		t.Fatal("BuildBundle accepted a resource that is not JSON")
	}
}

// parseBundleErrors are inputs ParseBundle must refuse with ErrBadBundle.
var parseBundleErrors = []struct{ name, in, want string }{
	{"not JSON", `{"resourceType":`, "malformed JSON"},
	{"not a bundle", `{"resourceType":"Patient","id":"p"}`, `resourceType is "Patient"`},
	{"no patient", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Condition"}}]}`, "no Patient"},
	{"entry without resource", `{"resourceType":"Bundle","entry":[{"fullUrl":"x"}]}`, "entry 0 has no resource object"},
	{"invalid NHS number", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"1234567890"}]}}]}`, "invalid NHS number"},
	{"too deep", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}}]}`, "nested deeper"},
}

// TestParseBundle_Errors checks each bad document is refused with a reason.
func TestParseBundle_Errors(t *testing.T) {
	for _, tt := range parseBundleErrors {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBundle([]byte(tt.in))
			if !errors.Is(err, ErrBadBundle) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseBundle error %v; want ErrBadBundle with %q", err, tt.want)
			}
		})
	}
}

// TestParseBundle_CopiesInput checks the record does not alias the caller's
// buffer, which the cache reuses after decrypting.
func TestParseBundle_CopiesInput(t *testing.T) {
	data := []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}`)
	rec, err := ParseBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'x'
	}
	if string(rec.Resources[0].Raw) != `{"resourceType":"Patient","id":"p"}` {
		t.Fatalf("Raw changed with the input: %s", rec.Resources[0].Raw)
	}
}

// FuzzParseBundle checks ParseBundle never panics, and that what it accepts
// survives BuildBundle and ParseBundle again unchanged.
func FuzzParseBundle(f *testing.F) {
	for _, tt := range parseBundleErrors {
		f.Add([]byte(tt.in))
	}
	f.Add([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"p"}},{"resource":{"resourceType":"Flag","code":{"text":"DNACPR"}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ParseBundle(data)
		if err != nil {
			return
		}
		Summarise(rec, time.Time{})
		again, err := BuildBundle(rec, BundleMeta{})
		if err != nil {
			t.Fatalf("BuildBundle of a parsed bundle: %v", err)
		}
		back, err := ParseBundle(again)
		if err != nil || len(back.Resources) != len(rec.Resources) || back.Key != rec.Key || back.NHS != rec.NHS {
			t.Fatalf("second ParseBundle: %v", err)
		}
		for i := range rec.Resources {
			if !bytes.Equal(back.Resources[i].Raw, rec.Resources[i].Raw) {
				t.Fatalf("resource %d changed", i)
			}
		}
	})
}

// record8KB returns a record of about 8 KB, the size of a typical summary,
// made from the sample patient: the Patient, the practice, practitioner and
// medication its resources refer to, and as many clinical resources, in
// order, as fit. It also returns the record's bundle.
func record8KB(tb testing.TB) (*PatientRecord, []byte) {
	tb.Helper()
	imp := mustReadPaths(tb, filepath.Join("testdata", "uk-sample.json"))
	full := imp.Patients[0]
	base := &PatientRecord{Key: full.Key, NHS: full.NHS}
	var clinical []Resource
	for _, r := range full.Resources {
		if r.Type == "Patient" || sharedTypes[r.Type] && r.Type != "Device" {
			base.Resources = append(base.Resources, r)
		} else {
			clinical = append(clinical, r)
		}
	}
	rec := &PatientRecord{Key: base.Key, NHS: base.NHS, Resources: base.Resources}
	data, err := BuildBundle(rec, BundleMeta{ID: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range clinical {
		try := &PatientRecord{Key: rec.Key, NHS: rec.NHS, Resources: append(append([]Resource{}, rec.Resources...), r)}
		b, err := BuildBundle(try, BundleMeta{ID: "bench"})
		if err != nil {
			tb.Fatal(err)
		}
		if len(b) > 8<<10 {
			continue
		}
		rec, data = try, b
	}
	return rec, data
}

// TestRecord8KB_Size checks the benchmark record is the size it claims.
func TestRecord8KB_Size(t *testing.T) {
	rec, data := record8KB(t)
	if len(data) < 7<<10 || len(data) > 8<<10 || len(rec.Resources) < 15 {
		t.Fatalf("bench record is %d bytes, %d resources", len(data), len(rec.Resources))
	}
	t.Logf("bench record: %d bytes, %d resources", len(data), len(rec.Resources))
}

// BenchmarkParseBundle_8KB measures reading a cached patient document.
func BenchmarkParseBundle_8KB(b *testing.B) {
	_, data := record8KB(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBundle(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSummarise measures building the typed summary of an 8 KB record.
func BenchmarkSummarise(b *testing.B) {
	rec, data := record8KB(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	asOf := time.Now()
	for b.Loop() {
		Summarise(rec, asOf)
	}
}

// BenchmarkOpen_8KB measures ParseBundle and Summarise together: the work
// of opening a cached summary, less decryption.
func BenchmarkOpen_8KB(b *testing.B) {
	_, data := record8KB(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	asOf := time.Now()
	for b.Loop() {
		rec, err := ParseBundle(data)
		if err != nil {
			b.Fatal(err)
		}
		Summarise(rec, asOf)
	}
}

// BenchmarkBaseline_UnmarshalEntries_8KB is the baseline for ParseBundle:
// encoding/json splitting the same bundle into raw entries.
func BenchmarkBaseline_UnmarshalEntries_8KB(b *testing.B) {
	_, data := record8KB(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var v struct {
			Entry []struct {
				FullURL  string          `json:"fullUrl"`
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaseline_UnmarshalAny_8KB is the baseline for opening: decoding
// the whole bundle generically, as a tolerant reader without typed views
// would.
func BenchmarkBaseline_UnmarshalAny_8KB(b *testing.B) {
	_, data := record8KB(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}
