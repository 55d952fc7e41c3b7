package storeddoc

import (
	"errors"
	"testing"

	"kmcr/record"
)

// TestSearchKeys_SeveralSources checks a document holding several sources'
// Patients for one NHS number is indexed by the merged demographics, as
// the banner shows them: an identifier-only Patient first (a Summary Care
// Record's) does not hide the name, birth date and postcode another gives.
func TestSearchKeys_SeveralSources(t *testing.T) {
	doc := []byte(`{"resourceType":"Bundle","type":"collection","entry":[` +
		`{"resource":{"resourceType":"Patient","id":"scr","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}},` +
		`{"resource":{"resourceType":"Patient","id":"9000000009","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],` +
		`"name":[{"use":"usual","family":"Smith","given":["Jane"],"prefix":["Mrs"]}],"birthDate":"2010-10-22","address":[{"postalCode":"LS1 6AE"}]}}]}`)
	e, err := SearchKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	if e.NHS.Digits() != "9000000009" || e.Family != "Smith" || e.Given != "Jane" || e.BirthDate != "2010-10-22" ||
		e.Postcode != "LS1 6AE" || e.Display != "SMITH, Jane (Mrs)" {
		t.Errorf("%+v", e)
	}
}

// TestDocument_RoundTrip checks the stored document layout and that a
// damaged one is refused.
func TestDocument_RoundTrip(t *testing.T) {
	h := Header{NHS: "9990000018", Version: 3, Sections: []string{record.SectionAllergies}}
	b, err := Encode(h, []byte(`{"resourceType":"Bundle"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, bundle, err := Decode(b)
	if err != nil || got.NHS != h.NHS || string(bundle) != `{"resourceType":"Bundle"}` {
		t.Fatalf("round trip %+v %q %v", got, bundle, err)
	}
	for _, bad := range [][]byte{nil, b[:6], append([]byte("XXXX"), b[4:]...), b[:10]} {
		if _, _, err := Decode(bad); !errors.Is(err, ErrBad) {
			t.Fatalf("Decode(%q) = %v", bad, err)
		}
	}
}

// TestSearchKeys checks the index entry read from a document: names,
// postcode and a whole birth date kept; a birth date known only to the
// month or year left out rather than refused by the cache.
func TestSearchKeys(t *testing.T) {
	bundle := func(birth string) []byte {
		return []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p1",` +
			`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],` +
			`"name":[{"family":"Smith","given":["Jo","Ann"],"prefix":["Ms"]}],"birthDate":"` + birth + `",` +
			`"address":[{"postalCode":"ME7 1AA"}]}}]}`)
	}
	for _, tt := range []struct{ birth, want string }{{"1962-03-12", "1962-03-12"}, {"1962-03", ""}, {"1962", ""}} {
		e, err := SearchKeys(bundle(tt.birth))
		if err != nil {
			t.Fatal(err)
		}
		if e.NHS.Digits() != "9434765919" || e.Family != "Smith" || e.Given != "Jo Ann" || e.Postcode != "ME7 1AA" || e.BirthDate != tt.want {
			t.Errorf("birth %q: %+v", tt.birth, e)
		}
	}
	if _, err := SearchKeys([]byte(`{"resourceType":"Bundle"`)); err == nil {
		t.Error("a broken document gave search keys")
	}
}

// TestSearchKeys_Died checks the index entry carries the death: the date
// as recorded (a time of death cut to the day), DiedDateUnknown when only
// the fact is recorded, nothing for the living.
func TestSearchKeys_Died(t *testing.T) {
	doc := func(deceased string) []byte {
		return []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p1",` +
			`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],` +
			`"name":[{"family":"Smith","given":["Jo"]}],"birthDate":"1923-12-16"` + deceased + `}}]}`)
	}
	for _, tt := range []struct{ deceased, want string }{
		{``, ""},
		{`,"deceasedDateTime":"2013-10-05T14:30:00Z"`, "2013-10-05"},
		{`,"deceasedDateTime":"2013"`, "2013"},
		{`,"deceasedBoolean":true`, DiedDateUnknown},
		{`,"deceasedBoolean":false`, ""},
	} {
		e, err := SearchKeys(doc(tt.deceased))
		if err != nil || e.Died != tt.want {
			t.Errorf("%s: Died %q, %v; want %q", tt.deceased, e.Died, err, tt.want)
		}
	}
}
