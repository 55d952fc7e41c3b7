package fhirapi

import (
	"fmt"
	"net/http"
	"strings"

	"kmcr/server/readings"
)

// metadata answers the CapabilityStatement: what this API does, and
// nothing it does not.
func (a *API) metadata(w http.ResponseWriter, r *http.Request) {
	var kinds []string
	for _, k := range readings.Kinds {
		kinds = append(kinds, fmt.Sprintf("%s: LOINC %s, UCUM %s, %g to %g", k.Name, k.LOINC, k.Unit, k.Min, k.Max))
	}
	doc := "Readings accepted (Observation.code, units, plausible range): " + strings.Join(kinds, "; ") +
		"; blood pressure as panel LOINC " + readings.BloodPressureLOINC + " with one systolic and one diastolic component. " +
		"Subject and performer must be the token's own Patient."
	search := func(name, typ, doc string) map[string]any {
		return map[string]any{"name": name, "type": typ, "documentation": doc}
	}
	writeFHIR(w, http.StatusOK, map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-12-02",
		"kind":         "instance",
		"name":         "KMCRPatientAPI",
		"title":        "Kent and Medway Care Record: patient-facing FHIR API",
		"software":     map[string]any{"name": "kmcr-server"},
		"implementation": map[string]any{
			"description": "A citizen's own record: their Patient, who viewed it, their sharing choices, and the readings they add",
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"application/fhir+json"},
		"rest": []any{map[string]any{
			"mode": "server",
			"security": map[string]any{
				"service": []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}}}},
				"description": "Bearer tokens from the record's OpenID provider (NHS login), identity proofing level P9; scopes patient/*.read and patient/Observation.write. Write rate limit " +
					fmt.Sprintf("%d a minute per patient; bodies up to %d bytes (Observation) and %d bytes, %d entries (transaction).", RatePerMinute, MaxObservationBody, MaxBundleBody, MaxBundleEntries),
			},
			"resource": []any{
				map[string]any{"type": "Patient", "interaction": []any{map[string]any{"code": "read"}, map[string]any{"code": "search-type"}},
					"documentation": "Only the token's own Patient; its id is not the NHS number."},
				map[string]any{"type": "AuditEvent", "interaction": []any{map[string]any{"code": "search-type"}},
					"searchParam": []any{search("patient", "reference", "required: your own Patient id")}},
				map[string]any{"type": "Consent", "interaction": []any{map[string]any{"code": "search-type"}},
					"searchParam": []any{search("patient", "reference", "required: your own Patient id")}},
				map[string]any{"type": "Observation", "interaction": []any{map[string]any{"code": "create"}},
					"conditionalCreate": true, "documentation": doc},
			},
			"interaction": []any{map[string]any{"code": "transaction", "documentation": "a Bundle of POST Observation entries, stored all or none"}},
		}},
	})
}
