package record

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// canonicalRef returns the canonical key "Type/id" of a literal reference:
// relative ("Patient/123"), absolute ("https://host/fhir/Patient/123"), or
// either with a version ("Patient/123/_history/2"). It reports false for
// urn:uuid: and urn:oid: references (which only a bundle can resolve),
// conditional references ("Patient?identifier=..."), and contained ones ("#x").
func canonicalRef(ref string) (string, bool) {
	if ref == "" || ref[0] == '#' || strings.HasPrefix(ref, "urn:") || strings.ContainsAny(ref, "?#") {
		return "", false
	}
	parts := strings.Split(strings.TrimSuffix(ref, "/"), "/")
	if n := len(parts); n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
	}
	n := len(parts)
	if n < 2 {
		return "", false
	}
	typ, id := parts[n-2], parts[n-1]
	if !isResourceTypeName(typ) || !isResourceID(id) {
		return "", false
	}
	return typ + "/" + id, true
}

// refType returns the resource type a canonical key or reference names,
// "Patient" for "Patient/1" or "Patient?identifier=...".
func refType(ref string) string {
	if i := strings.IndexAny(ref, "/?"); i > 0 {
		return ref[:i]
	}
	return ""
}

// isResourceTypeName reports whether s looks like a FHIR resource type:
// an upper-case ASCII letter followed by letters.
func isResourceTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// isResourceID reports whether s fits the FHIR id type:
// [A-Za-z0-9\-\.]{1,64}.
func isResourceID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// resourceKey is the canonical key a resource is known by: "Type/id"; for a
// resource with no id, the uuid of its urn:uuid: fullUrl or the id at the
// end of an absolute one; failing both, a UUID derived from its content, so
// that the same resource always gets the same key (and BuildBundle gives it
// the matching urn:uuid: fullUrl).
func resourceKey(typ, id, fullURL string, raw []byte) string {
	if id != "" {
		return typ + "/" + id
	}
	if u, ok := strings.CutPrefix(fullURL, "urn:uuid:"); ok && isResourceID(u) {
		return typ + "/" + u
	}
	if k, ok := canonicalRef(fullURL); ok && refType(k) == typ {
		return k
	}
	return typ + "/" + contentUUID(raw)
}

// contentUUID derives a UUID (version 8, RFC 9562) from a resource's bytes,
// naming a resource that has neither id nor fullUrl the same way every time.
func contentUUID(raw []byte) string {
	sum := sha256.Sum256(raw)
	sum[6] = sum[6]&0x0f | 0x80 // version 8: custom
	sum[8] = sum[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// sharedTypes are resource types that describe no single patient: they are
// kept once and copied into the record of every patient that refers to
// them. A Device is shared unless it names a patient.
var sharedTypes = map[string]bool{
	"Organization": true, "Practitioner": true, "PractitionerRole": true,
	"Medication": true, "Location": true, "Device": true, "HealthcareService": true,
	"Endpoint": true, "Substance": true, "Group": true, "OperationOutcome": true,
}

// patientTypes are clinical resource types that only make sense about a
// patient: one without a patient reference is rejected rather than shared,
// because sharing it would show one person's data in everyone's record.
var patientTypes = map[string]bool{
	"AllergyIntolerance": true, "Condition": true, "Encounter": true, "Observation": true,
	"MedicationRequest": true, "MedicationStatement": true, "MedicationAdministration": true,
	"MedicationDispense": true, "CarePlan": true, "CareTeam": true, "Immunization": true,
	"Procedure": true, "Flag": true, "Composition": true, "DiagnosticReport": true,
	"Claim": true, "ExplanationOfBenefit": true, "Coverage": true, "Goal": true,
	"DocumentReference": true, "ServiceRequest": true, "Specimen": true, "ImagingStudy": true,
	"FamilyMemberHistory": true, "RiskAssessment": true, "ClinicalImpression": true,
	"Consent": true, "EpisodeOfCare": true, "QuestionnaireResponse": true,
	"NutritionOrder": true, "DeviceRequest": true, "DeviceUseStatement": true, "Media": true,
	"AdverseEvent": true, "RelatedPerson": true, "Communication": true,
	"ImmunizationRecommendation": true, "DetectedIssue": true,
}
