package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"kmcr/core"
	"kmcr/record"
)

// TestStatus_Incidents checks what "kmcr status" prints of the open
// dispatch incidents: in JSON, "incidents" is a list of objects with id,
// address, expires (RFC 3339) and nhs (the candidates' NHS numbers, digits
// only), and an empty list when there are none; in text, the line the
// window shows, the expiry, each candidate and whether its summary is on
// the device yet, and what to do when nobody is recorded at the address.
func TestStatus_Incidents(t *testing.T) {
	exp := time.Date(2026, 12, 3, 10, 5, 0, 0, time.UTC)
	a, b := record.NHSNumber("9434765919"), record.NHSNumber("9990000018")
	st := core.Status{Enrolled: true, Incidents: []core.Incident{
		{ID: "4711", Address: "12 High Street, Rochester ME1 1AA", Postcode: "ME1 1AA", Expires: exp, NHS: []record.NHSNumber{a, b}, OnDevice: []record.NHSNumber{a}},
		{ID: "4712", Address: "3 Mill Lane, Chatham ME4 4AB", Postcode: "ME4 4AB", Expires: exp, NHS: []record.NHSNumber{}, OnDevice: []record.NHSNumber{}},
	}}
	var out bytes.Buffer
	if err := writeJSON(&out, st); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Incidents []map[string]any `json:"incidents"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Incidents) != 2 {
		t.Fatalf("incidents %s", out.Bytes())
	}
	first := doc.Incidents[0]
	for _, k := range []string{"id", "address", "expires", "nhs"} {
		if _, ok := first[k]; !ok {
			t.Errorf("an incident lacks %q: %v", k, first)
		}
	}
	if first["id"] != "4711" || first["address"] != "12 High Street, Rochester ME1 1AA" || first["expires"] != "2026-12-03T10:05:00Z" {
		t.Errorf("incident %v", first)
	}
	if nhs, _ := first["nhs"].([]any); len(nhs) != 2 || nhs[0] != "9434765919" || nhs[1] != "9990000018" {
		t.Errorf("nhs %v; want the candidates' ten digits", first["nhs"])
	}
	if nhs, ok := doc.Incidents[1]["nhs"].([]any); !ok || len(nhs) != 0 {
		t.Errorf("an incident without candidates has nhs %v; want []", doc.Incidents[1]["nhs"])
	}
	out.Reset()
	if err := writeJSON(&out, core.Status{Enrolled: true, Incidents: []core.Incident{}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"incidents": []`) {
		t.Errorf("no incidents prints %s; want an empty list", out.String())
	}

	out.Reset()
	printIncidents(&out, st.Incidents)
	text := out.String()
	for _, want := range []string{
		"Incidents:       2 open",
		"Incident 4711: 2 people recorded at 12 High Street, Rochester ME1 1AA",
		"until 03-Dec-2026 10:05",
		"NHS No. 943 476 5919  on this device",
		"NHS No. 999 000 0018  NOT YET ON THIS DEVICE",
		"Incident 4712: 0 people recorded at 3 Mill Lane, Chatham ME4 4AB",
		"Search for the patient when you arrive",
		"emergency access (break-glass)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	printIncidents(&out, nil)
	if got := out.String(); got != "Incidents:       none open\n" {
		t.Errorf("no incidents prints %q", got)
	}
}
