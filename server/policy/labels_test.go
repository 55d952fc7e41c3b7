package policy

import (
	"fmt"
	"strings"
	"testing"

	"kmcr/record"
)

// Spellings of the two code systems a feed may use (docs/policy.md, L6).
var (
	confidentialitySpellings = []string{
		"http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
		"http://hl7.org/fhir/v3/Confidentiality",
		"urn:oid:2.16.840.1.113883.5.25",
		"URN:OID:2.16.840.1.113883.5.25",
		"2.16.840.1.113883.5.25",
		"https://terminology.hl7.org/CodeSystem/v3-Confidentiality/",
		" http://terminology.hl7.org/CodeSystem/v3-confidentiality|2.0.0 ",
		"http://hl7.org/fhir/R4/v3/Confidentiality",
	}
	actCodeSpellings = []string{
		"http://terminology.hl7.org/CodeSystem/v3-ActCode",
		"http://hl7.org/fhir/v3/ActCode",
		"urn:oid:2.16.840.1.113883.5.4",
		"2.16.840.1.113883.5.4",
		"HTTP://TERMINOLOGY.HL7.ORG/CODESYSTEM/V3-ACTCODE",
		"http://terminology.hl7.org/CodeSystem/v3-ActCode\u200b",
		"http://terminology.hl7.org/ValueSet/v3-InformationSensitivityPolicy",
	}
)

// labelled returns a FHIR Condition carrying one meta.security label, read
// as the importer reads it.
func labelled(t testing.TB, system, code string) record.Resource {
	t.Helper()
	sys := ""
	if system != "" {
		sys = fmt.Sprintf(`"system":%q,`, system)
	}
	raw := fmt.Sprintf(`{"resourceType":"Condition","id":"c1","meta":{"security":[{%s"code":%q}]},"subject":{"reference":"Patient/p1"}}`, sys, code)
	return record.ResourceFromRaw([]byte(raw), "")
}

// TestLabelRules holds each label row of docs/policy.md (L1..L8) with a
// FHIR Condition carrying the label, in every system spelling.
func TestLabelRules(t *testing.T) {
	type row struct {
		rule    string // "" when the label must not withhold
		systems []string
		codes   []string
	}
	var isp []string
	for c := range sensitivityPolicy {
		isp = append(isp, c)
	}
	rows := map[string]row{
		"L1 confidentiality R and V":                {RuleConfidentiality, confidentialitySpellings, []string{"R", "V", "r", " v "}},
		"L2 older and unknown confidentiality":      {RuleLegacyConfidentiality, confidentialitySpellings, []string{"ETH", "HIV", "PSY", "SDV", "C", "S", "T", "B", "D", "I", "X"}},
		"L3 InformationSensitivityPolicy, whole":    {RuleSensitivityPolicy, actCodeSpellings, isp},
		"L3 as a feed spells it":                    {RuleSensitivityPolicy, actCodeSpellings, []string{"ethud", " OpioidUD", "T B O O", "psy\u200d", "\ufeffHIV"}},
		"L4 use-disorder codes HL7 adds":            {RuleUseDisorder, actCodeSpellings, []string{"CANNABISUD", "STIMUD", "TOBACCOUD"}},
		"L5 no-persist obligation":                  {RuleNoPersist, actCodeSpellings, []string{"NOPERSISTP"}},
		"L7 no system: R judged as confidentiality": {RuleConfidentiality, []string{""}, []string{"R", "V"}},
		"L7 no system: ActCode sensitivity":         {RuleSensitivityPolicy, []string{"", "  "}, []string{"SEX", "ETHUD", "TBOO"}},
		"L8 ordinary confidentiality":               {"", confidentialitySpellings, []string{"U", "L", "M", "N", ""}},
		"L8 ordinary ActCode":                       {"", actCodeSpellings, []string{"AMB", "EMER", "TREAT", "ETREAT", "HTEST", "UD", "R"}},
		"L8 another system":                         {"", []string{"http://example.org/labels", "http://snomed.info/sct", "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"}, []string{"R", "SEX", "HIV", "PSY"}},
		"L8 no system, ordinary code":               {"", []string{""}, []string{"N", "U", "HTEST"}},
	}
	for name, r := range rows {
		t.Run(name, func(t *testing.T) {
			for _, sys := range r.systems {
				for _, code := range r.codes {
					res := labelled(t, sys, code)
					got, ok := SensitiveRule(res.Security)
					if ok != (r.rule != "") || got != r.rule {
						t.Errorf("%q|%q: rule %q, sensitive %v; want %q", sys, code, got, ok, r.rule)
					}
				}
			}
		})
	}
}

// TestLabelRules_NamedInIssue holds the labels the review found reaching
// laptops, by name.
func TestLabelRules_NamedInIssue(t *testing.T) {
	for _, l := range []record.Coding{
		{System: "http://hl7.org/fhir/v3/Confidentiality", Code: "R"},
		{System: "urn:oid:2.16.840.1.113883.5.25", Code: "R"},
		{System: "urn:oid:2.16.840.1.113883.5.4", Code: "HIV"},
		{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "ETHUD"},
		{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "OPIOIDUD"},
		{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "TBOO"},
		{System: "http://hl7.org/fhir/v3/ActCode", Code: "PSY"},
	} {
		if !IsSensitive([]record.Coding{l}) {
			t.Errorf("%s|%s is not withheld", l.System, l.Code)
		}
	}
}

// FuzzLabelRule checks that the matcher never panics and that the forms a
// feed may send (case, surrounding and invisible spaces, a version, a
// trailing slash) never change its answer.
func FuzzLabelRule(f *testing.F) {
	for _, s := range append(append([]string{""}, confidentialitySpellings...), actCodeSpellings...) {
		for _, c := range []string{"R", "V", "N", "SEX", "ETHUD", "TBOO", "NOPERSISTP", "AMB", ""} {
			f.Add(s, c)
		}
	}
	f.Fuzz(func(t *testing.T, system, code string) {
		rule, ok := LabelRule(record.Coding{System: system, Code: code})
		if ok != (rule != "") {
			t.Fatalf("%q|%q: rule %q but sensitive %v", system, code, rule, ok)
		}
		variants := []record.Coding{
			{System: " \t" + system + "\u200b ", Code: "\ufeff " + code + " \n"},
			{System: strings.ToUpper(system), Code: strings.ToLower(code)},
			{System: strings.ToLower(system), Code: strings.ToUpper(code)},
		}
		if system != "" && !strings.ContainsAny(system, "|") {
			variants = append(variants, record.Coding{System: system + "|1.0", Code: code})
		}
		for _, v := range variants {
			if r2, ok2 := LabelRule(v); ok2 != ok || r2 != rule {
				t.Fatalf("%q|%q gives %q %v, but %q|%q gives %q %v", system, code, rule, ok, v.System, v.Code, r2, ok2)
			}
		}
		if ok && !IsSensitive([]record.Coding{{System: "http://example.org", Code: "x"}, {System: system, Code: code}}) {
			t.Fatalf("a sensitive label after another is not seen")
		}
	})
}

// TestLabelRules_L13_OutsideMetaSecurity holds row L13: the labels FHIR
// carries outside meta.security count too.
func TestLabelRules_L13_OutsideMetaSecurity(t *testing.T) {
	for _, tt := range []struct {
		name, raw string
		want      bool
	}{
		{"Composition.confidentiality R", `{"resourceType":"Composition","id":"c","confidentiality":"R"}`, true},
		{"Composition.confidentiality N", `{"resourceType":"Composition","id":"c","confidentiality":"N"}`, false},
		{"DocumentReference.securityLabel concept", `{"resourceType":"DocumentReference","id":"d","securityLabel":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}]}`, true},
		{"securityLabel as Codings", `{"resourceType":"DocumentReference","id":"d","securityLabel":[{"system":"urn:oid:2.16.840.1.113883.5.25","code":"V"}]}`, true},
		{"meta.tag naming Confidentiality", `{"resourceType":"Observation","id":"o","meta":{"tag":[{"system":"http://hl7.org/fhir/v3/Confidentiality","code":"R"}]}}`, true},
		{"meta.tag without a system is only a tag", `{"resourceType":"Observation","id":"o","meta":{"tag":[{"code":"R"}]}}`, false},
		{"meta.tag of another system", `{"resourceType":"Observation","id":"o","meta":{"tag":[{"system":"http://example.org/tags","code":"HIV"}]}}`, false},
	} {
		r := record.ResourceFromRaw([]byte(tt.raw), "")
		if got := ResourceSensitive(r); got != tt.want {
			t.Errorf("%s: sensitive %v; want %v (labels %+v)", tt.name, got, tt.want, r.Security)
		}
	}
}
