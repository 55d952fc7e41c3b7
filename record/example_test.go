package record_test

import (
	"fmt"
	"time"

	"kmcr/record"
)

func ExampleParseNHSNumber() {
	n, err := record.ParseNHSNumber("9434765919")
	fmt.Println(n, err)
	_, err = record.ParseNHSNumber("987 654 4321")
	fmt.Println(err)
	// Output:
	// 943 476 5919 <nil>
	// invalid NHS number: "987 654 4321" fails the modulus 11 check (check digit should be 2)
}

func ExampleSummarise() {
	doc := []byte(`{"resourceType":"Bundle","type":"collection","entry":[
	 {"fullUrl":"urn:uuid:0b1e5a6c-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","id":"p1",
	  "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],
	  "name":[{"use":"official","family":"Smith","given":["Jane"],"prefix":["Mrs"]}],
	  "gender":"female","birthDate":"1962-03-12"}},
	 {"resource":{"resourceType":"AllergyIntolerance","id":"a1","patient":{"reference":"Patient/p1"},
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"716186003","display":"No known allergy"}]}}},
	 {"resource":{"resourceType":"Flag","id":"f1","status":"active","subject":{"reference":"Patient/p1"},
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"450476008","display":"Not for attempted cardiopulmonary resuscitation"}]}}}
	]}`)
	rec, err := record.ParseBundle(doc)
	if err != nil {
		fmt.Println(err)
		return
	}
	asOf := time.Date(2024, 7, 1, 9, 30, 0, 0, time.UTC)
	s := record.Summarise(rec, asOf)
	d := s.Demographics
	fmt.Println(d.Name, "|", d.BirthDate, "|", d.NHS, "|", d.Gender)
	fmt.Println("Age", record.Age(d.BirthDate.Time, asOf), "- as of", record.FormatDate(s.AsOf))
	for _, a := range s.Alerts.Items {
		fmt.Println(a.Kind, "-", a.Text)
	}
	fmt.Println(s.AllergyHeadline())
	fmt.Println("Medications:", s.Medications.State)
	// Output:
	// SMITH, Jane (Mrs) | 12-Mar-1962 | 999 000 0018 | female
	// Age 62 - as of 01-Jul-2024
	// DNACPR - Not for attempted cardiopulmonary resuscitation
	// No known allergies recorded
	// Medications: not available
}

func ExampleAssignNHSNumber() {
	n := record.AssignNHSNumber("Patient/195bd73c-1ef3-400d-9269-a0d9042afafe")
	fmt.Println(n, n.IsTestRange())
	// Output: 999 346 2381 true
}
