package core

import "testing"

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
