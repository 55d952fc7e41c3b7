package policy

import (
	"strings"
	"unicode"

	"kmcr/record"
)

// Security labels: which meta.security codings keep an item off every
// laptop. docs/policy.md lists the rules as L1..L8; each has a row in
// TestLabelRules. The matcher fails closed: a form it cannot place in a
// code system (no system at all) is judged against every rule, and a
// confidentiality code it does not know is treated as restrictive.

// Label rules, named as docs/policy.md numbers them.
const (
	RuleConfidentiality       = "L1" // confidentiality R or V
	RuleLegacyConfidentiality = "L2" // an older or unknown confidentiality code
	RuleSensitivityPolicy     = "L3" // a code of InformationSensitivityPolicy
	RuleUseDisorder           = "L4" // a *UD use-disorder sensitivity code
	RuleNoPersist             = "L5" // the obligation not to persist
)

// Code systems a label may name, after normalisation.
const (
	sysConfidentiality = "confidentiality"
	sysActCode         = "actcode"
	sysAny             = "any"   // no system given: judged against both
	sysOther           = "other" // a system this policy does not read
)

// confidentialitySystems are the spellings of HL7 v3 Confidentiality
// (OID 2.16.840.1.113883.5.25) and actCodeSystems those of HL7 v3 ActCode
// (2.16.840.1.113883.5.4), normalised by normSystem. The ValueSet URLs are
// not code systems, but feeds put them in Coding.system.
var (
	confidentialitySystems = map[string]bool{
		"terminology.hl7.org/codesystem/v3-confidentiality":             true,
		"hl7.org/fhir/v3/confidentiality":                               true,
		"hl7.org/fhir/confidentiality":                                  true,
		"urn:oid:2.16.840.1.113883.5.25":                                true,
		"2.16.840.1.113883.5.25":                                        true,
		"terminology.hl7.org/valueset/v3-confidentiality":               true,
		"terminology.hl7.org/valueset/v3-confidentialityclassification": true,
		"hl7.org/fhir/valueset/v3-confidentiality":                      true,
		"hl7.org/fhir/valueset/v3-confidentialityclassification":        true,
	}
	actCodeSystems = map[string]bool{
		"terminology.hl7.org/codesystem/v3-actcode":                       true,
		"hl7.org/fhir/v3/actcode":                                         true,
		"urn:oid:2.16.840.1.113883.5.4":                                   true,
		"2.16.840.1.113883.5.4":                                           true,
		"terminology.hl7.org/valueset/v3-informationsensitivitypolicy":    true,
		"terminology.hl7.org/valueset/v3-actinformationsensitivitypolicy": true,
		"hl7.org/fhir/valueset/v3-informationsensitivitypolicy":           true,
		"hl7.org/fhir/valueset/v3-actinformationsensitivitypolicy":        true,
		"hl7.org/fhir/valueset/security-labels":                           true,
		"terminology.hl7.org/valueset/security-labels":                    true,
	}
)

// normalConfidentiality are the confidentiality codes that restrict
// nothing beyond the record's ordinary rules: unrestricted, low, moderate,
// normal.
var normalConfidentiality = map[string]bool{"U": true, "L": true, "M": true, "N": true}

// restrictedConfidentiality are restricted and very restricted.
var restrictedConfidentiality = map[string]bool{"R": true, "V": true}

// sensitivityPolicy is the whole HL7 v3 InformationSensitivityPolicy value
// set (ActCode, every release since FHIR DSTU2): the act, entity and role
// sensitivity policies, their abstract heads, and the codes the older
// releases of the Confidentiality code system used for the same ideas.
var sensitivityPolicy = map[string]bool{
	// heads of the hierarchy
	"_INFORMATIONSENSITIVITYPOLICY": true, "_ACTINFORMATIONSENSITIVITYPOLICY": true,
	"_ENTITYSENSITIVITYPOLICYTYPE": true, "_ROLEINFORMATIONSENSITIVITYPOLICY": true,
	"_ENTITYINFORMATIONSENSITIVITYPOLICY": true, "_ROLEINFORMATIONSENSITIVITYPOLICYTYPE": true,
	// act information sensitivity: substance use, behavioural and mental
	// health, genetic, sexual and reproductive health, violence, taboo
	"ETH": true, "ETHUD": true, "OPIOIDUD": true, "SUD": true, "COCAINEUD": true,
	"BH": true, "PSY": true, "PSYTHPN": true, "MH": true,
	"GDIS": true, "SCA": true, "SICKLE": true,
	"HIV": true, "STD": true, "SEX": true, "SDV": true, "MST": true,
	"SPI": true, "TBOO": true, "PREGNANT": true, "REPRO": true,
	// entity sensitivity: demographics the subject may need protected
	"DEMO": true, "DOB": true, "GENDER": true, "LIVARG": true, "MARST": true,
	"PATLOC": true, "RACE": true, "REL": true, "SOGI": true,
	// role sensitivity: who the subject is or what their role reveals
	"B": true, "EMPL": true, "LOCIS": true, "SSP": true, "ADOL": true, "CEL": true,
	"DIA": true, "DRGIS": true, "EMP": true, "PDS": true, "PHY": true, "PRS": true,
}

// noPersist are the refrain obligations that forbid keeping a copy: an
// offline cache is exactly that.
var noPersist = map[string]bool{"NOPERSISTP": true, "NOPERSIST": true}

// IsSensitive reports whether labels include one that keeps an item off
// laptops.
func IsSensitive(labels []record.Coding) bool {
	_, ok := SensitiveRule(labels)
	return ok
}

// ResourceSensitive reports whether a resource is kept off laptops by its
// own labels or by those of a resource it contains (rule L9): the
// container shows what it contains.
func ResourceSensitive(r record.Resource) bool {
	return IsSensitive(r.Security) || IsSensitive(r.Contained)
}

// SensitiveRule returns the rule (L1..L5) of the first label that keeps an
// item off laptops, and whether there is one.
func SensitiveRule(labels []record.Coding) (string, bool) {
	for _, l := range labels {
		if rule, ok := LabelRule(l); ok {
			return rule, true
		}
	}
	return "", false
}

// LabelRule judges one label: the rule that makes it sensitive, if any.
func LabelRule(l record.Coding) (string, bool) {
	code := normCode(l.Code)
	if code == "" {
		return "", false
	}
	sys := systemOf(l.System)
	if sys == sysConfidentiality || sys == sysAny {
		switch {
		case restrictedConfidentiality[code]:
			return RuleConfidentiality, true
		case sys == sysConfidentiality && !normalConfidentiality[code]:
			// The older releases' B, D, I, C, S, T, ETH, HIV, PSY, SDV, and
			// any code this list does not know: restrictive until shown
			// otherwise.
			return RuleLegacyConfidentiality, true
		}
	}
	if sys == sysActCode || sys == sysAny {
		switch {
		case sensitivityPolicy[code]:
			return RuleSensitivityPolicy, true
		case isUseDisorder(code):
			return RuleUseDisorder, true
		case noPersist[code]:
			return RuleNoPersist, true
		}
	}
	return "", false
}

// isUseDisorder matches the substance use disorder sensitivity codes
// (ETHUD, OPIOIDUD, and those HL7 adds in the same pattern): letters
// ending in UD.
func isUseDisorder(code string) bool {
	if len(code) < 4 || !strings.HasSuffix(code, "UD") {
		return false
	}
	for _, r := range code {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// systemOf places a Coding.system in a code system.
func systemOf(s string) string {
	n := normSystem(s)
	switch {
	case n == "":
		return sysAny
	case confidentialitySystems[n]:
		return sysConfidentiality
	case actCodeSystems[n]:
		return sysActCode
	}
	// Other hosts or versions of the same systems: the URI's last segment
	// names it ("…/v3/Confidentiality", "…/R4/v3-ActCode").
	last := n[strings.LastIndexAny(n, "/:")+1:]
	switch last {
	case "v3-confidentiality", "confidentiality", "v3-confidentialityclassification":
		if strings.Contains(n, "hl7") {
			return sysConfidentiality
		}
	case "v3-actcode", "actcode", "v3-informationsensitivitypolicy":
		if strings.Contains(n, "hl7") {
			return sysActCode
		}
	}
	return sysOther
}

// normSystem folds the spellings a feed sends: surrounding and invisible
// spaces, letter case, the scheme, "www.", a "|version" suffix, a trailing
// slash or fragment mark.
func normSystem(s string) string {
	s = strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, stripInvisible(s))
	if i := strings.IndexByte(s, '|'); i >= 0 {
		s = s[:i]
	}
	for _, p := range []string{"https://", "http://"} {
		s = strings.TrimPrefix(s, p)
	}
	s = strings.TrimPrefix(s, "www.")
	s = strings.TrimRight(s, "/#")
	return s
}

// normCode folds a code's case (through lower case first, so that the
// long s and the Kelvin sign fold as their letters do) and removes spaces and invisible
// characters anywhere in it.
func normCode(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, stripInvisible(s))
}

// stripInvisible removes white space, control and format characters
// (zero-width spaces and joiners, byte-order marks) anywhere in s.
func stripInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}
