package presenttest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"kmcr/present"
	"kmcr/record"
)

// Cases returns every shared clinical case, in a fixed order.
func Cases() []Case {
	return []Case{
		{
			Name: "live-dnacpr", Rule: "R1 live alerts",
			Resources: []string{
				flag("dnacpr", "active", "450476008", "Not for attempted cardiopulmonary resuscitation", "2025-06-01", ""),
				flag("safe", "active", "0", "Adult safeguarding concern", "2026-02-10", ""),
			},
			Shown:    []string{"DNACPR", "Not for attempted cardiopulmonary resuscitation  (from 01-Jun-2025)", "SAFEGUARDING", "Adult safeguarding concern"},
			NotShown: []string{"No active alerts recorded", "Alert information not available"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "alerts", len(v.Alerts), 2)
				expect(t, "first alert", v.Alerts[0].Head+" "+v.Alerts[0].Level.String(), "DNACPR danger")
				expect(t, "second alert", v.Alerts[1].Head+" "+v.Alerts[1].Level.String(), "SAFEGUARDING caution")
				expect(t, "critical", factLabels(v), "DNACPR Allergies Safeguarding")
			},
		},
		{
			Name: "eie-dnacpr", Rule: "R2 void items: an entered-in-error DNACPR is no alert",
			Resources: []string{flag("dnacpr", "entered-in-error", "304253006", "Not for resuscitation", "2025-06-01", "")},
			Shown:     []string{"~~DNACPR: Not for resuscitation~~", "entered in error", "Alert information not available"},
			NotShown:  []string{"(inactive)", "No active alerts recorded"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "live alerts", len(v.Alerts), 0)
				expect(t, "past alerts", Names(Items(v, present.KeyPastAlerts, "")), "DNACPR: Not for resuscitation (void: entered in error)")
				expect(t, "struck", Struck(v, present.KeyPastAlerts), "[DNACPR: Not for resuscitation]")
				expect(t, "past alerts count", v.Section(present.KeyPastAlerts).Count, "0 alerts")
				expect(t, "resuscitation fact", v.Critical[0].Text, "no DNACPR or ReSPECT information available")
			},
		},
		{
			Name: "ended-alert", Rule: "R1 live alerts: an ended alert is past, not live",
			Resources: []string{
				flag("falls", "active", "129839007", "At risk of falls", "2023-01-05", "2024-01-05"),
				flag("old", "inactive", "304253006", "Not for resuscitation", "2020-01-01", ""),
			},
			Shown: []string{"Falls risk: At risk of falls  (ended 05-Jan-2024)", "DNACPR: Not for resuscitation  (inactive)", "No active alerts recorded"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "live alerts", len(v.Alerts), 0)
				expect(t, "past alerts count", v.Section(present.KeyPastAlerts).Count, "2 alerts")
				expect(t, "resuscitation fact", v.Critical[0].Text, "no DNACPR or ReSPECT decision recorded")
			},
		},
		{
			Name: "void-allergies", Rule: "R2 void items: entered-in-error and refuted allergies",
			Resources: []string{
				allergy("pen", "Penicillin", "active", "confirmed", `,"criticality":"high","reaction":[{"manifestation":[{"text":"Anaphylaxis"}],"severity":"severe"}]`),
				allergy("latex", "Latex", "active", "refuted", ""),
				allergy("peanut", "Peanut", "active", "entered-in-error", ""),
			},
			Shown:    []string{"1 allergy", "Penicillin", "SEVERE — HIGH CRITICALITY — Anaphylaxis", "~~Latex~~", "refuted", "~~Peanut~~", "entered in error", "Entered in error or refuted (not counted)"},
			NotShown: []string{"3 allergies", "2 allergies"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "allergies", Names(Items(v, present.KeyAllergies, "")), "Penicillin, Latex (void: refuted), Peanut (void: entered in error)")
				expect(t, "alarm", Items(v, present.KeyAllergies, "current")[0].Alarm, true)
				expect(t, "allergy fact", v.Critical[1].Text, "Penicillin (severe, high criticality)")
			},
		},
		{
			Name: "mild-and-high-criticality-allergies", Rule: "R4 the critical line: an allergy that may kill is marked HIGH RISK, a mild one is not",
			Resources: []string{
				allergy("itch", "Plasters", "active", "confirmed", `,"reaction":[{"manifestation":[{"text":"Itching"}],"severity":"mild"}]`),
				allergy("pen", "Penicillin", "active", "confirmed", `,"criticality":"high","reaction":[{"manifestation":[{"text":"Allergic angioedema"}],"severity":"severe"}]`),
			},
			Shown: []string{"HIGH RISK", "MILD — Itching", "SEVERE — HIGH CRITICALITY — Allergic angioedema"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "allergy fact", v.Critical[1].Text, "Penicillin (severe, high criticality); Plasters (mild)")
				expect(t, "alarm parts", fmt.Sprint(v.Critical[1].Parts[0].Alarm, v.Critical[1].Parts[1].Alarm), "true false")
				cur := Items(v, present.KeyAllergies, "current")
				expect(t, "badges", fmt.Sprint(cur[0].Head.Spans[0].Badge, cur[1].Head.Spans[0].Badge), "false true")
				expect(t, "detail levels", cur[0].Head.Spans[len(cur[0].Head.Spans)-1].Level.String()+" "+cur[1].Head.Spans[len(cur[1].Head.Spans)-1].Level.String(), "normal danger")
			},
		},
		{
			Name: "only-void-allergies", Rule: "R2 void items decide no section state",
			Resources: []string{allergy("latex", "Latex", "active", "refuted", "")},
			Shown:     []string{"Allergy information not available", "~~Latex~~"},
			NotShown:  []string{"1 allergy", "No known allergies recorded"},
		},
		{
			Name: "no-known-allergies", Rule: "R3 none recorded only when a source says so",
			Resources: []string{nka},
			Shown:     []string{"No known allergies recorded"},
			NotShown:  []string{"Allergy information not available"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "allergy fact", v.Critical[1].Text+" "+v.Critical[1].Level.String(), "No known allergies recorded good")
			},
		},
		{
			Name: "no-allergy-information", Rule: "R3 not available when no source says anything",
			Shown:    []string{"Allergy information not available", "This is not the same as no allergies: ask the patient."},
			NotShown: []string{"No known allergies recorded"},
		},
		{
			Name: "eie-no-known-allergies", Rule: "R3 a void \"no known allergy\" says nothing",
			Resources: []string{strings.Replace(nka, `"clinicalStatus"`, `"verificationStatus":{"coding":[{"code":"entered-in-error"}]},"clinicalStatus"`, 1)},
			Shown:     []string{"Allergy information not available"},
			NotShown:  []string{"No known allergies recorded"},
		},
		{
			Name: "void-problems", Rule: "R2 void items: entered-in-error and refuted problems are never active",
			Resources: []string{
				condition("htn", "Hypertension", "active", "confirmed"),
				condition("epi", "Epilepsy", "active", "entered-in-error"),
				condition("ast", "Asthma", "", "refuted"),
			},
			Shown:    []string{"Problems   1 active", "Hypertension", "~~Epilepsy~~", "~~Asthma~~", "refuted", "entered in error"},
			NotShown: []string{"2 active", "3 active"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "active problems", Names(Items(v, present.KeyProblems, "current")), "Hypertension")
				expect(t, "void problems", Names(Items(v, present.KeyProblems, "void")), "Epilepsy (void: entered in error), Asthma (void: refuted)")
			},
		},
		{
			Name: "void-observation", Rule: "R2 void items: an entered-in-error reading is not a reading",
			Resources: []string{
				temperature("t1", "final", "37.1", "2026-11-24T08:00:00Z"),
				temperature("t2", "entered-in-error", "39.4", "2026-11-25T08:00:00Z"),
				temperature("t0", "final", "36.8", "2026-11-20T08:00:00Z"),
			},
			Shown:    []string{"Body temperature", "37.1 Cel", "~~Body temperature: 39.4 Cel~~", "entered in error", "2 readings from 20-Nov-2026 08:00 to 24-Nov-2026 08:00"},
			NotShown: []string{"3 readings"},
			Check: func(t testing.TB, v *present.View) {
				vitals := Items(v, present.KeyObservations, "vital")
				expect(t, "kinds", len(vitals), 1)
				expect(t, "latest", vitals[0].Body[0].Text(), "37.1 Cel   24-Nov-2026 08:00")
				expect(t, "trend points", len(vitals[0].Trend.Series[0].Points), 2)
				expect(t, "count", v.Section(present.KeyObservations).Count, "1 kind")
			},
		},
		{
			Name: "void-medication", Rule: "R2 void items: an entered-in-error medicine is not current",
			Resources: []string{
				medication("bis", "Bisoprolol 5mg tablets", "active", "2024-05-01"),
				medication("war", "Warfarin 1mg tablets", "entered-in-error", "2024-06-01"),
			},
			Shown:    []string{"Current medications   1 medicine", "Bisoprolol 5mg tablets", "~~Warfarin 1mg tablets~~"},
			NotShown: []string{"2 medicines"},
		},
		{
			Name: "immunisations", Rule: "R4 immunisations, a vaccine not given never reads as given",
			Resources: []string{
				`{"resourceType":"Immunization","id":"flu","status":"completed","patient":{"reference":"Patient/p"},"vaccineCode":{"text":"Influenza vaccine"},"occurrenceDateTime":"2025-10-12","lotNumber":"FL1234"}`,
				`{"resourceType":"Immunization","id":"mmr","status":"not-done","patient":{"reference":"Patient/p"},"vaccineCode":{"text":"MMR vaccine"},"occurrenceDateTime":"2024-01-03"}`,
				`{"resourceType":"Immunization","id":"tet","status":"entered-in-error","patient":{"reference":"Patient/p"},"vaccineCode":{"text":"Tetanus vaccine"},"occurrenceDateTime":"2023-01-03"}`,
			},
			Shown:    []string{"Immunisations   2 records", "12-Oct-2025  Influenza vaccine", "MMR vaccine  NOT GIVEN", "~~Tetanus vaccine~~"},
			NotShown: []string{"3 records", "Immunisation information not available"},
		},
		{
			Name: "deceased", Rule: "R5 a deceased patient: banner, age at death, no current medicine",
			Patient:   strings.Replace(DefaultPatient, `"birthDate"`, `"deceasedDateTime":"2026-01-02T14:30:00+00:00","birthDate"`, 1),
			Resources: []string{medication("pen", "Penicillin V 250mg tablets", "active", "1990-10-05")},
			Shown: []string{"DECEASED 02-Jan-2026", "12-Mar-1962 (63y)", "No current medications: the patient has died (02-Jan-2026).",
				"Still marked active in the record (not current: the patient has died)", "Penicillin V 250mg tablets"},
			NotShown: []string{"(64y)", "1 medicine"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "banner", v.Banner.Born+" / "+v.Banner.Deceased, "12-Mar-1962 (63y) / DECEASED 02-Jan-2026")
				expect(t, "current medicines", len(Items(v, present.KeyMedications, "current")), 0)
			},
		},
		{
			Name: "deceased-no-date", Rule: "R5 a deceased patient whose date of death is unknown has no age",
			Patient:  strings.Replace(DefaultPatient, `"birthDate"`, `"deceasedBoolean":true,"birthDate"`, 1),
			Shown:    []string{"DECEASED (date not recorded)", "No current medications: the patient has died."},
			NotShown: []string{"(64y)", "(63y)"},
		},
		{
			Name: "scr-document", Rule: "R6 a document's narrative beside the section it is about",
			Resources: []string{`{"resourceType":"Composition","id":"scr","status":"final",` + subject + `,"date":"2020-11-17",` +
				`"type":{"coding":[{"system":"http://snomed.info/sct","code":"196981000000101","display":"General Practice Summary"}]},"title":"General Practice Summary",` +
				`"section":[{"title":"Allergies and Adverse Reactions","text":{"status":"generated","div":"<div><table><tr><th>Date</th><th>Description</th></tr><tr><td>12-May-2020</td><td>Toxic reaction to wasp sting</td></tr></table></div>"}},` +
				`{"title":"Current Repeat Medications","text":{"status":"generated","div":"<div><p>Paracetamol 250mg/5ml oral suspension</p></div>"}}]}`},
			Shown: []string{"Allergies recorded only as text in a document: read it below", "12-May-2020 | Toxic reaction to wasp sting",
				"Medicines recorded only as text in a document: read it below", "Paracetamol 250mg/5ml oral suspension",
				"As written in the document “General Practice Summary” of 17-Nov-2020 (text, not coded)", "Documents   1 document"},
			NotShown: []string{"Allergy information not available", "Medication information not available", "Composition"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "allergy fact", v.Critical[1].Text, "recorded only as text in a document: read it")
				expect(t, "documents", Names(Items(v, present.KeyDocuments, "")), "General Practice Summary")
			},
		},
		{
			Name: "withheld", Rule: "R7 withheld, stale and sensitive are said, never read as none",
			Resources: []string{allergy("pen", "Penicillin", "active", "confirmed", "")},
			Facts: func(f *present.Facts) {
				f.Stale, f.Objection, f.Sensitive = true, true, 2
				f.Sections = []string{record.SectionDemographics, record.SectionGP}
				f.Withheld = []present.Withheld{{Reason: present.WithheldObjection, Purpose: "ETREAT", Sections: []string{record.SectionAllergies, record.SectionMedications}},
					{Reason: present.WithheldSensitive, Count: 2}}
			},
			Shown: []string{"STALE", "older than the 24 h freshness limit", "RESTRICTED SHARING", "Withheld: allergies, medications",
				"SENSITIVE INFORMATION WITHHELD", "2 items are never held on laptops", "Allergy information not available",
				"Withheld: the patient has objected to sharing it for this purpose (restricted sharing)."},
			NotShown: []string{"No known allergies recorded", "Penicillin"},
		},
		{
			Name: "emergency-access", Rule: "R7 emergency access and the end of the offline copy are said first",
			Facts: func(f *present.Facts) {
				f.BreakGlass, f.Relationship, f.NotAfter = true, present.RelBreakGlass, Now.Add(2*time.Hour)
			},
			Shown: []string{"EMERGENCY ACCESS (break-glass)", "audited and reported to the privacy officer", "OFFLINE COPY ENDING",
				"Held offline until 25-Nov-2026 14:00 (emergency access)"},
		},
		{
			Name: "front-desk", Rule: "R8 a demographics-only role sees no clinical item",
			Resources: []string{allergy("pen", "Penicillin", "active", "confirmed", ""),
				flag("dnacpr", "active", "450476008", "Not for attempted cardiopulmonary resuscitation", "2025-06-01", "")},
			Facts: func(f *present.Facts) {
				f.DemographicsOnly = true
				f.Sections = []string{record.SectionDemographics, record.SectionGP}
			},
			Shown:    []string{"Front desk view: demographics and registered GP only.", "SMITH, Jane Ann (Mrs)", "12 High Street, Gillingham, ME7 2JH", "No registered GP recorded"},
			NotShown: []string{"Penicillin", "DNACPR", "Allerg", "Alert"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "sections", sectionKeys(v), "demographics gp")
				expect(t, "critical", len(v.Critical), 0)
			},
		},
		{
			Name: "omitted-types", Rule: "R9 what the summary does not show is counted",
			Resources: []string{`{"resourceType":"Procedure","id":"x","status":"completed",` + subject + `}`},
			Omitted:   []record.TypeCount{{Type: "Claim", Count: 16}, {Type: "DiagnosticReport", Count: 4}},
			Shown:     []string{"Also in the record, not shown on this summary: 16 claims, 4 diagnostic reports, 1 procedure."},
		},
		{
			Name: "two-sources", Rule: "R10 demographics from several sources: PDS first, conflicts said",
			Patient: `{"resourceType":"Patient","id":"scr","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],"gender":"male"}`,
			Resources: []string{`{"resourceType":"Patient","id":"9000000009","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009",` +
				`"extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus","valueCodeableConcept":{"coding":[{"code":"01"}]}}]}],` +
				`"name":[{"use":"usual","family":"Smith","given":["Jane"],"prefix":["Mrs"]}],"gender":"female","birthDate":"2010-10-22",` +
				`"address":[{"use":"home","line":["1 Trevelyan Square"],"city":"Leeds","postalCode":"LS1 6AE"}],` +
				`"generalPractitioner":[{"type":"Organization","identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y12345"}}]}`},
			Shown: []string{"SMITH, Jane (Mrs)", "1 Trevelyan Square, Leeds, LS1 6AE", "Y12345",
				"Sources disagree on the gender: female is shown (Patient/9000000009); Patient/scr says male."},
			NotShown: []string{"(no name recorded)", "other patient record"},
		},
		{
			Name: "assigned-nhs-number", Rule: "R11 an NHS number the source did not give is said to be assigned",
			Patient: `{"resourceType":"Patient","id":"syn","name":[{"family":"Abbott","given":["Jeromy"]}],"gender":"male","birthDate":"1923-12-16"}`,
			Shown:   []string{"NHS NUMBER ASSIGNED", "999 test range"},
		},
		{
			Name: "patient-entered", Rule: "R12 the patient's own readings are apart from a clinician's",
			Resources: []string{
				`{"resourceType":"Observation","id":"hr1","status":"final",` + subject + `,"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"valueQuantity":{"value":72,"unit":"/min"},"effectiveDateTime":"2026-11-15"}`,
				`{"resourceType":"Observation","id":"hr2","status":"final",` + subject + `,"performer":[{"reference":"Patient/p"}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"valueQuantity":{"value":64,"unit":"/min"},"effectiveDateTime":"2026-11-20"}`,
				`{"resourceType":"Observation","id":"hr3","status":"final",` + subject + `,"performer":[{"reference":"Patient/p"}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"valueQuantity":{"value":70,"unit":"/min"},"effectiveDateTime":"2026-11-10"}`,
			},
			Shown: []string{"Vital signs (measured by clinicians)", "Patient-entered readings", "from the patient's own devices: not checked by a clinician",
				"patient-entered", "72 /min", "64 /min", "Observations   2 kinds"},
			Check: func(t testing.TB, v *present.View) {
				expect(t, "patient group", Names(Items(v, present.KeyObservations, "patient")), "Heart rate")
				expect(t, "patient tone", Items(v, present.KeyObservations, "patient")[0].Trend.Series[0].Tone, "patient")
			},
		},
	}
}

func factLabels(v *present.View) string {
	var out []string
	for _, f := range v.Critical {
		out = append(out, f.Label)
	}
	return strings.Join(out, " ")
}

func sectionKeys(v *present.View) string {
	var out []string
	for _, s := range v.Sections {
		out = append(out, s.Key)
	}
	return strings.Join(out, " ")
}
