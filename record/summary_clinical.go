package record

import (
	"strings"
)

// AlertKind sorts alerts into the kinds a paramedic must see first.
type AlertKind uint8

// Alert kinds, recognised by SNOMED CT code or, failing that, by words in
// the alert's text.
const (
	AlertOther        AlertKind = iota
	AlertDNACPR                 // do not attempt cardiopulmonary resuscitation
	AlertReSPECT                // a ReSPECT emergency care plan exists
	AlertSafeguarding           // child or adult safeguarding concern
	AlertFallsRisk              // at risk of falls
)

// String names the kind: "DNACPR", "ReSPECT", "Safeguarding", "Falls risk", "Alert".
func (k AlertKind) String() string {
	switch k {
	case AlertDNACPR:
		return "DNACPR"
	case AlertReSPECT:
		return "ReSPECT"
	case AlertSafeguarding:
		return "Safeguarding"
	case AlertFallsRisk:
		return "Falls risk"
	}
	return "Alert"
}

// alertCodes are SNOMED CT codes with a known kind. DNACPR: the Summary
// Care Record inclusion set's "not for (attempted) cardiopulmonary
// resuscitation" findings; falls: "at risk for falls".
var alertCodes = map[string]AlertKind{
	"450476008":       AlertDNACPR, // Not for attempted cardiopulmonary resuscitation
	"304253006":       AlertDNACPR, // Not for resuscitation
	"143021000119109": AlertDNACPR, // Do not resuscitate status with supporting documentation
	"129839007":       AlertFallsRisk,
}

// alertWords recognise kinds from text when no known code is present.
// Matched case-insensitively against the code's text and displays.
var alertWords = []struct {
	kind  AlertKind
	words []string
}{
	{AlertDNACPR, []string{"dnacpr", "dnar", "do not attempt", "not for resuscitation", "not for cardiopulmonary", "not for attempted cardiopulmonary", "do not resuscitate"}},
	{AlertReSPECT, []string{"respect form", "respect plan", "recommended summary plan for emergency care"}},
	{AlertSafeguarding, []string{"safeguarding", "child protection", "adult at risk", "vulnerable adult", "child in need", "looked after child"}},
	{AlertFallsRisk, []string{"fall risk", "falls risk", "risk of fall", "risk for fall", "at risk of falling"}},
}

func alertKind(code *fhirCC) AlertKind {
	if code == nil {
		return AlertOther
	}
	for _, cd := range code.Coding {
		if k, ok := alertCodes[cd.Code]; ok && cd.System == systemSNOMED {
			return k
		}
	}
	texts := []string{code.Text}
	for _, cd := range code.Coding {
		texts = append(texts, cd.Display)
	}
	for _, t := range texts {
		// "ReSPECT" is told from the word "respect" by its capitals.
		if strings.Contains(t, "ReSPECT") {
			return AlertReSPECT
		}
	}
	for _, aw := range alertWords {
		for _, t := range texts {
			lt := strings.ToLower(t)
			for _, w := range aw.words {
				if strings.Contains(lt, w) {
					return aw.kind
				}
			}
		}
	}
	return AlertOther
}

// Alert is a FHIR Flag: a warning about the patient.
type Alert struct {
	Kind     AlertKind
	Text     string // the flag's code, as text
	Code     Coding
	Category string
	Status   string // active, inactive, entered-in-error
	Period   Period
	Active   bool // status active and the period not ended at the summary's AsOf
	Author   string
	Date     Date // start of the period
	Source   ResourceRef
}

type fhirFlag struct {
	Status   string      `json:"status"`
	Category []fhirCC    `json:"category"`
	Code     *fhirCC     `json:"code"`
	Period   *fhirPeriod `json:"period"`
	Author   *fhirRef    `json:"author"`
}

func (s *Summary) addAlert(c *sumContext, r *Resource) {
	var f fhirFlag
	decode(r.Raw, &f)
	a := Alert{Kind: alertKind(f.Code), Text: orNoText(f.Code.display()), Code: f.Code.code(),
		Category: strings.Join(displays(f.Category), ", "), Status: f.Status,
		Period: f.Period.period(), Author: c.name(f.Author), Source: refOf(r)}
	a.Date = a.Period.Start
	a.Active = (a.Status == "active" || a.Status == "") && a.Period.current(s.AsOf)
	s.Alerts.Items = append(s.Alerts.Items, a)
}

// orNoText keeps an item visible when its source gives no text for it.
func orNoText(s string) string {
	if s == "" {
		return "(no description)"
	}
	return s
}

// Allergy is an AllergyIntolerance: a substance and what it does.
type Allergy struct {
	Substance          string
	Code               Coding
	Reactions          []Reaction
	Severity           string // the worst reaction's: mild, moderate, severe
	Criticality        string // low, high, unable-to-assess
	ClinicalStatus     string // active, inactive, resolved
	VerificationStatus string // unconfirmed, confirmed, refuted, entered-in-error
	Type               string // allergy, intolerance
	Categories         []string
	Date               Date // recorded, else onset
	RecordedBy         string
	EnteredInError     bool // entered in error or refuted: shown last, never counted
	Source             ResourceRef
}

// Reaction is one reaction to an allergen.
type Reaction struct {
	Substance      string
	Manifestations []string
	Severity       string
	Description    string
	Onset          Date
}

type fhirAllergy struct {
	ClinicalStatus     *fhirStatus `json:"clinicalStatus"`
	VerificationStatus *fhirStatus `json:"verificationStatus"`
	Type               string      `json:"type"`
	Category           []string    `json:"category"`
	Criticality        string      `json:"criticality"`
	Code               *fhirCC     `json:"code"`
	OnsetDateTime      string      `json:"onsetDateTime"`
	RecordedDate       string      `json:"recordedDate"`
	Recorder           *fhirRef    `json:"recorder"`
	Asserter           *fhirRef    `json:"asserter"`
	Reaction           []struct {
		Substance     *fhirCC  `json:"substance"`
		Manifestation []fhirCC `json:"manifestation"`
		Description   string   `json:"description"`
		Onset         string   `json:"onset"`
		Severity      string   `json:"severity"`
	} `json:"reaction"`
}

// Codes that positively record "none": SNOMED CT situations and the
// International Patient Summary's absent-unknown codes.
var (
	noAllergyCodes     = []string{"716186003", "409137002", "428607008", "429625007"}
	noAllergyIPS       = []string{"no-known-allergies", "no-known-medication-allergies", "no-known-environmental-allergies", "no-known-food-allergies"}
	noMedicationCode   = "787481004"
	noProblemCode      = "160245001"
	noImmunizationCode = "787482006"
	severityRank       = map[string]int{"mild": 1, "moderate": 2, "severe": 3}
	errorVerifications = map[string]bool{"entered-in-error": true, "refuted": true}
)

// noneRecord records a "none known" statement, keeping the newest.
func noneRecord(cur *NoneRecord, text string, date Date, r *Resource) *NoneRecord {
	if cur != nil && !newer(date, cur.Date) {
		return cur
	}
	return &NoneRecord{Text: text, Date: date, Source: refOf(r)}
}

func (s *Summary) addAllergy(c *sumContext, r *Resource) bool {
	var a fhirAllergy
	decode(r.Raw, &a)
	date := ParseDate(a.RecordedDate)
	if date.IsZero() {
		date = ParseDate(a.OnsetDateTime)
	}
	verification := a.VerificationStatus.code()
	if a.Code.hasCode(systemSNOMED, noAllergyCodes...) || a.Code.hasCode(systemIPSAbsent, noAllergyIPS...) {
		if errorVerifications[verification] {
			return false
		}
		s.Allergies.None = noneRecord(s.Allergies.None, a.Code.display(), date, r)
		return true
	}
	if a.Code.hasCode(systemIPSAbsent, "no-allergy-info") {
		return false // "no information" is what StateNotAvailable already says
	}
	item := Allergy{Substance: a.Code.display(), Code: a.Code.code(), Criticality: a.Criticality,
		ClinicalStatus: a.ClinicalStatus.code(), VerificationStatus: verification,
		Type: a.Type, Categories: a.Category, Date: date, Source: refOf(r),
		EnteredInError: errorVerifications[verification]}
	if item.RecordedBy = c.name(a.Recorder); item.RecordedBy == "" {
		item.RecordedBy = c.name(a.Asserter)
	}
	for _, re := range a.Reaction {
		rx := Reaction{Substance: re.Substance.display(), Manifestations: displays(re.Manifestation),
			Severity: re.Severity, Description: re.Description, Onset: ParseDate(re.Onset)}
		if severityRank[rx.Severity] > severityRank[item.Severity] {
			item.Severity = rx.Severity
		}
		if item.Substance == "" {
			item.Substance = rx.Substance
		}
		item.Reactions = append(item.Reactions, rx)
	}
	item.Substance = orNoText(item.Substance)
	s.Allergies.Items = append(s.Allergies.Items, item)
	return true
}

// Medication is a MedicationRequest or MedicationStatement.
type Medication struct {
	Name           string
	Code           Coding
	Dosage         string
	Status         string // active, completed, stopped, on-hold...
	Active         bool
	Intent         string // for a request: order, plan, proposal...
	Date           Date   // authored (request) or effective/asserted (statement)
	RecordedBy     string // requester or information source
	Reason         string
	EnteredInError bool
	Source         ResourceRef
}

type fhirMedication struct {
	Status                    string      `json:"status"`
	Intent                    string      `json:"intent"`
	MedicationCodeableConcept *fhirCC     `json:"medicationCodeableConcept"`
	MedicationReference       *fhirRef    `json:"medicationReference"`
	AuthoredOn                string      `json:"authoredOn"`
	EffectiveDateTime         string      `json:"effectiveDateTime"`
	EffectivePeriod           *fhirPeriod `json:"effectivePeriod"`
	DateAsserted              string      `json:"dateAsserted"`
	Requester                 *fhirRef    `json:"requester"`
	InformationSource         *fhirRef    `json:"informationSource"`
	ReasonCode                []fhirCC    `json:"reasonCode"`
	ReasonReference           []fhirRef   `json:"reasonReference"`
	DosageInstruction         []fhirDose  `json:"dosageInstruction"`
	Dosage                    []fhirDose  `json:"dosage"`
}

func (s *Summary) addMedication(c *sumContext, r *Resource) bool {
	var m fhirMedication
	decode(r.Raw, &m)
	code := m.MedicationCodeableConcept
	if code == nil && m.MedicationReference != nil {
		if t := c.refTarget(m.MedicationReference); t != nil && t.Type == "Medication" {
			var med struct {
				Code *fhirCC `json:"code"`
			}
			decode(t.Raw, &med)
			code = med.Code
		}
	}
	date := ParseDate(m.AuthoredOn)
	if r.Type == "MedicationStatement" {
		if date = ParseDate(m.EffectiveDateTime); date.IsZero() {
			if date = m.EffectivePeriod.period().Start; date.IsZero() {
				date = ParseDate(m.DateAsserted)
			}
		}
	}
	if code.hasCode(systemSNOMED, noMedicationCode) || code.hasCode(systemIPSAbsent, "no-known-medications") {
		if m.Status == "entered-in-error" {
			return false
		}
		s.Medications.None = noneRecord(s.Medications.None, code.display(), date, r)
		return true
	}
	if code.hasCode(systemIPSAbsent, "no-medication-info") {
		return false
	}
	name := code.display()
	if name == "" && m.MedicationReference != nil {
		name = c.name(m.MedicationReference)
	}
	item := Medication{Name: orNoText(name), Code: code.code(), Status: m.Status, Intent: m.Intent,
		Active: m.Status == "active", Date: date, EnteredInError: m.Status == "entered-in-error", Source: refOf(r)}
	doses := m.DosageInstruction
	if r.Type == "MedicationStatement" {
		doses = m.Dosage
	}
	item.Dosage = dosageText(doses)
	if item.RecordedBy = c.name(m.Requester); item.RecordedBy == "" {
		item.RecordedBy = c.name(m.InformationSource)
	}
	reasons := displays(m.ReasonCode)
	for i := range m.ReasonReference {
		if n := m.ReasonReference[i].Display; n != "" {
			reasons = append(reasons, n)
		}
	}
	item.Reason = strings.Join(reasons, ", ")
	s.Medications.Items = append(s.Medications.Items, item)
	return true
}

// Problem is a Condition.
type Problem struct {
	Name               string
	Code               Coding
	ClinicalStatus     string // active, recurrence, relapse, inactive, remission, resolved
	VerificationStatus string
	Active             bool // clinically active (active, recurrence or relapse)
	Categories         []string
	Severity           string
	Onset              Date
	Abatement          Date
	Recorded           Date
	Date               Date // onset, else recorded
	EnteredInError     bool
	Source             ResourceRef
}

type fhirCondition struct {
	ClinicalStatus     *fhirStatus `json:"clinicalStatus"`
	VerificationStatus *fhirStatus `json:"verificationStatus"`
	Category           []fhirCC    `json:"category"`
	Severity           *fhirCC     `json:"severity"`
	Code               *fhirCC     `json:"code"`
	OnsetDateTime      string      `json:"onsetDateTime"`
	OnsetPeriod        *fhirPeriod `json:"onsetPeriod"`
	OnsetString        string      `json:"onsetString"`
	AbatementDateTime  string      `json:"abatementDateTime"`
	AbatementPeriod    *fhirPeriod `json:"abatementPeriod"`
	AbatementString    string      `json:"abatementString"`
	RecordedDate       string      `json:"recordedDate"`
}

func (s *Summary) addProblem(_ *sumContext, r *Resource) bool {
	var p fhirCondition
	decode(r.Raw, &p)
	if p.Code.hasCode(systemSNOMED, noProblemCode) || p.Code.hasCode(systemIPSAbsent, "no-known-problems") {
		if errorVerifications[p.VerificationStatus.code()] {
			return false
		}
		s.Problems.None = noneRecord(s.Problems.None, p.Code.display(), ParseDate(p.RecordedDate), r)
		return true
	}
	if p.Code.hasCode(systemIPSAbsent, "no-problem-info") {
		return false
	}
	item := Problem{Name: orNoText(p.Code.display()), Code: p.Code.code(),
		ClinicalStatus: p.ClinicalStatus.code(), VerificationStatus: p.VerificationStatus.code(),
		Categories: displays(p.Category), Severity: p.Severity.display(),
		Onset: firstDate(p.OnsetDateTime, p.OnsetPeriod, p.OnsetString), Abatement: firstDate(p.AbatementDateTime, p.AbatementPeriod, p.AbatementString),
		Recorded: ParseDate(p.RecordedDate), Source: refOf(r)}
	item.EnteredInError = errorVerifications[item.VerificationStatus]
	switch item.ClinicalStatus {
	case "active", "recurrence", "relapse":
		item.Active = true
	case "":
		// No status: treat as active unless it has ended, so an unlabelled
		// problem is never hidden among the resolved ones.
		item.Active = item.Abatement.IsZero() && p.AbatementString == ""
	}
	if item.Date = item.Onset; item.Date.IsZero() {
		item.Date = item.Recorded
	}
	s.Problems.Items = append(s.Problems.Items, item)
	return true
}

// firstDate returns the first known of a dateTime, a period's start and a
// free-text date (kept as text).
func firstDate(dt string, p *fhirPeriod, text string) Date {
	if d := ParseDate(dt); !d.IsZero() || dt != "" {
		return d
	}
	if d := p.period().Start; !d.IsZero() {
		return d
	}
	return ParseDate(text)
}
