package record

import (
	"encoding/json"
	"strings"
	"testing"
)

// scanValueCases are inputs for the scanner with the depth it should report;
// depth -1 means the input is invalid.
var scanValueCases = []struct {
	name  string
	in    string
	depth int
}{
	{"empty object", `{}`, 1},
	{"empty array", `[]`, 1},
	{"scalars", `{"a":1,"b":-0.5e+3,"c":"x","d":true,"e":false,"f":null}`, 1},
	{"nested", `{"a":[{"b":[1,2,{"c":{}}]}]}`, 6},
	{"escapes", `{"a":"\"\\\/\b\f\n\r\t\u00e9"}`, 1},
	{"whitespace", " \t\r\n{ \"a\" : [ 1 , 2 ] } \n", 2},
	{"string", `"x"`, 0},
	{"unicode", `{"naïve":"Zoë"}`, 1},
	{"trailing comma", `{"a":1,}`, -1},
	{"missing colon", `{"a" 1}`, -1},
	{"unclosed", `{"a":[1,2}`, -1},
	{"bad escape", `{"a":"\x"}`, -1},
	{"short unicode escape", `{"a":"\u12"}`, -1},
	{"control char", "{\"a\":\"\x01\"}", -1},
	{"leading zero", `{"a":01}`, -1},
	{"bare minus", `{"a":-}`, -1},
	{"dot without digits", `{"a":1.}`, -1},
	{"exponent without digits", `{"a":1e}`, -1},
	{"bad literal", `{"a":tru}`, -1},
	{"unterminated string", `{"a":"abc`, -1},
	{"non-string key", `{1:2}`, -1},
	{"two values", `{} {}`, -1},
	{"empty", ``, -1},
	{"only space", `   `, -1},
}

// TestCheckDocument_Cases checks validity and depth against the table and
// validity against encoding/json.
func TestCheckDocument_Cases(t *testing.T) {
	for _, tt := range scanValueCases {
		t.Run(tt.name, func(t *testing.T) {
			_, _, depth, err := checkDocument([]byte(tt.in))
			if tt.depth < 0 {
				if err == nil {
					t.Fatalf("checkDocument(%q) accepted invalid JSON", tt.in)
				}
			} else if err != nil || depth != tt.depth {
				t.Fatalf("checkDocument(%q) = depth %d, %v; want %d", tt.in, depth, err, tt.depth)
			}
			if (err == nil) != json.Valid([]byte(tt.in)) {
				t.Fatalf("checkDocument(%q) err=%v disagrees with json.Valid", tt.in, err)
			}
		})
	}
}

// TestCheckDocument_DeepNesting checks that 100,000 levels are measured,
// not recursed into.
func TestCheckDocument_DeepNesting(t *testing.T) {
	const n = 100_000
	in := strings.Repeat("[", n) + strings.Repeat("]", n)
	_, _, depth, err := checkDocument([]byte(in))
	if err != nil || depth != n {
		t.Fatalf("depth %d, %v; want %d", depth, err, n)
	}
	_, _, _, err = checkDocument([]byte(in[:len(in)-1]))
	if err == nil {
		t.Fatal("unbalanced deep input accepted")
	}
}

// TestEachReference_FindsEveryReference checks references are found at any
// depth, and that keys or values merely containing the word are not.
func TestEachReference_FindsEveryReference(t *testing.T) {
	in := `{"subject":{"reference":"Patient/1"},"note":"reference","x":[{"reference":"Organization/2"},{"y":{"reference" : "urn:uuid:3"}}],"reference":{"reference":"Practitioner/4"},"re\u0066erence":"Location/5"}`
	var got []string
	eachReference([]byte(in), func(r string) { got = append(got, r) })
	want := "Patient/1 Organization/2 urn:uuid:3 Practitioner/4 Location/5"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %v; want %s", got, want)
	}
}

// TestReadHeader_Fields checks the header reader against a resource with
// escapes, security labels, identifiers and links of every shape.
func TestReadHeader_Fields(t *testing.T) {
	in := `{"resourceType":"Observation","id":"o\u002d1","meta":{"security":[{"system":"s","code":"R","display":"restricted"}]},` +
		`"identifier":{"system":"sys","value":"v"},"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}},` +
		`"performer":[{"reference":"Practitioner/1"}],"for":[{"reference":"Patient/2"}]}`
	h := readHeader([]byte(in))
	if h.typ != "Observation" || h.id != "o-1" {
		t.Fatalf("type/id = %q/%q", h.typ, h.id)
	}
	if len(h.security) != 1 || h.security[0] != (Coding{"s", "R", "restricted"}) {
		t.Fatalf("security = %+v", h.security)
	}
	if len(h.ids) != 1 || h.ids[0].value != "v" {
		t.Fatalf("ids = %+v", h.ids)
	}
	want := []link{{"subject", "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018"}, {"for", "Patient/2"}}
	if len(h.links) != 2 || h.links[0] != want[0] || h.links[1] != want[1] {
		t.Fatalf("links = %+v; want %+v", h.links, want)
	}
}

// TestCanonicalRef_Forms checks every reference form FHIR uses.
func TestCanonicalRef_Forms(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Patient/123", "Patient/123"},
		{"https://api.service.nhs.uk/fhir/R4/Patient/01F9B243-02DC", "Patient/01F9B243-02DC"},
		{"Patient/123/_history/4", "Patient/123"},
		{"http://x/fhir/Observation/a.b/_history/1", "Observation/a.b"},
		{"urn:uuid:195bd73c-1ef3-400d-9269-a0d9042afafe", ""},
		{"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018", ""},
		{"#contained", ""},
		{"patient/123", ""},
		{"Patient/", ""},
		{"123", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := canonicalRef(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("canonicalRef(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

// FuzzCheckDocument checks the scanner agrees with encoding/json on what
// is valid, and never panics.
func FuzzCheckDocument(f *testing.F) {
	for _, tt := range scanValueCases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, depth, err := checkDocument(data)
		if depth > 10000 {
			return // encoding/json stops at 10,000 levels; the scanner does not
		}
		if (err == nil) != json.Valid(data) {
			t.Fatalf("checkDocument(%q) err=%v; json.Valid=%v", data, err, json.Valid(data))
		}
		if err == nil {
			eachReference(data, func(string) {})
			readHeader(data)
		}
	})
}
