package record

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestWithSecurity_AddsLabelsKeepingTheRest checks that a Bundle's labels
// join an entry's own, in every shape of meta, and that the result is the
// same resource otherwise.
func TestWithSecurity_AddsLabelsKeepingTheRest(t *testing.T) {
	add := []Coding{{System: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", Code: "R"}}
	own := Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "HIV"}
	for name, raw := range map[string]string{
		"no meta":            `{"resourceType":"Condition","id":"c"}`,
		"meta, no security":  `{"resourceType":"Condition","meta":{"versionId":"1"},"id":"c"}`,
		"meta with security": `{"resourceType":"Condition","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"HIV"}]},"id":"c"}`,
		"empty security":     `{"resourceType":"Condition","meta":{"security":[]},"id":"c"}`,
		"empty object":       `{}`,
	} {
		t.Run(name, func(t *testing.T) {
			out := withSecurity([]byte(raw), add)
			var before, after map[string]any
			if err := json.Unmarshal([]byte(raw), &before); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &after); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			h := readHeader(out)
			want := add
			if name == "meta with security" {
				want = []Coding{own, add[0]}
			}
			if !reflect.DeepEqual(h.security, want) {
				t.Fatalf("labels %+v; want %+v\n%s", h.security, want, out)
			}
			delete(before, "meta")
			delete(after, "meta")
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("other members changed:\n%s\n%s", raw, out)
			}
		})
	}
}

// TestReadHeader_ContainedLabels checks that labels of contained
// resources, nested ones too, are read apart from the resource's own.
func TestReadHeader_ContainedLabels(t *testing.T) {
	raw := []byte(`{"resourceType":"MedicationRequest","id":"m","contained":[{"resourceType":"Medication","id":"x","meta":{"security":[{"code":"HIV"}]}},{"resourceType":"Condition","contained":[{"resourceType":"Observation","meta":{"security":[{"code":"PSY"}]}}]}],"medicationReference":{"reference":"#x"}}`)
	r := ResourceFromRaw(raw, "")
	if len(r.Security) != 0 || len(r.Contained) != 2 || r.Contained[0].Code != "HIV" || r.Contained[1].Code != "PSY" {
		t.Fatalf("own %+v, contained %+v", r.Security, r.Contained)
	}
}

// FuzzWithSecurity checks that adding a Bundle's labels to any JSON object
// gives valid JSON whose labels the reader finds, whatever shape its meta
// has (missing, not an object, security not an array, keys repeated).
func FuzzWithSecurity(f *testing.F) {
	for _, s := range []string{`{}`, `{"resourceType":"Condition"}`, `{"meta":{}}`, `{"meta":[]}`, `{"meta":{"security":{}}}`, `{"meta":{"security":[1]}}`, `{"meta":{},"meta":{"security":[]}}`, ` { "a" : 1 , "meta" : { "security" : [ ] } } `, `{"me\u0074a":{"security":[]}}`} {
		f.Add([]byte(s))
	}
	add := []Coding{{System: "urn:oid:2.16.840.1.113883.5.25", Code: "R"}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if checkResource(raw) != "" {
			return
		}
		out := withSecurity(raw, add)
		if !json.Valid(out) {
			t.Fatalf("not JSON:\n%s\nfrom\n%s", out, raw)
		}
		found := false
		for _, c := range readHeader(out).security {
			found = found || c == add[0]
		}
		if !found {
			t.Fatalf("the added label is not read back:\n%s", out)
		}
	})
}
