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

var alertKindCodes = [...]string{"other", "dnacpr", "respect", "safeguarding", "falls_risk"}

// MarshalText writes the kind as "dnacpr", "respect", "safeguarding",
// "falls_risk" or "other".
func (k AlertKind) MarshalText() ([]byte, error) {
	if int(k) < len(alertKindCodes) {
		return []byte(alertKindCodes[k]), nil
	}
	return []byte("other"), nil
}

// UnmarshalText reads what MarshalText writes.
func (k *AlertKind) UnmarshalText(b []byte) error {
	for i, c := range alertKindCodes {
		if c == string(b) {
			*k = AlertKind(i)
			return nil
		}
	}
	*k = AlertOther
	return nil
}

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
	Kind         AlertKind    `json:"kind"`
	Text         string       `json:"text"` // the flag's code, as text
	Code         Coding       `json:"code,omitzero"`
	Category     string       `json:"category,omitempty"`
	Status       string       `json:"status,omitempty"` // active, inactive, entered-in-error
	Verification Verification `json:"verification,omitempty"`
	Period       Period       `json:"period,omitzero"`
	// Active: status active (or none given), not entered in error, and the
	// period not ended at the summary's AsOf.
	Active bool        `json:"active"`
	Author string      `json:"author,omitempty"`
	Date   Date        `json:"date,omitzero"` // start of the period
	Source ResourceRef `json:"source"`
}

type fhirFlag struct {
	Status   string
	Category []fhirCC
	Code     *fhirCC
	Period   *fhirPeriod
	Author   *fhirRef
}

func readFlag(raw []byte) (f fhirFlag) {
	members(raw, func(k string, v []byte) {
		switch k {
		case "status":
			f.Status = jstr(v)
		case "category":
			f.Category = readCCs(v)
		case "code":
			f.Code = readCC(v)
		case "period":
			f.Period = readPeriod(v)
		case "author":
			f.Author = readRef(v)
		}
	})
	return f
}

func (s *Summary) addAlert(c *sumContext, r *Resource) {
	f := readFlag(r.Raw)
	a := Alert{Kind: alertKind(f.Code), Text: orNoText(f.Code.display()), Code: f.Code.code(),
		Category: strings.Join(displays(f.Category), ", "), Status: f.Status, Verification: statusVerification(f.Status),
		Period: f.Period.period(), Author: c.name(f.Author), Source: refOf(r)}
	a.Date = a.Period.Start
	a.Active = (a.Status == "active" || a.Status == "") && !a.Verification.Void() && a.Period.current(s.AsOf)
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
	Substance      string     `json:"substance"`
	Code           Coding     `json:"code,omitzero"`
	Reactions      []Reaction `json:"reactions,omitempty"`
	Severity       string     `json:"severity,omitempty"`        // the worst reaction's: mild, moderate, severe
	Criticality    string     `json:"criticality,omitempty"`     // low, high, unable-to-assess
	ClinicalStatus string     `json:"clinical_status,omitempty"` // active, inactive, resolved
	// Verification: unconfirmed, confirmed, refuted, entered-in-error. A
	// void allergy (refuted or entered in error) is shown last, struck
	// through, and never counted.
	Verification Verification `json:"verification,omitempty"`
	// Active: clinically active (or no clinical status given) and not void.
	Active     bool        `json:"active"`
	Type       string      `json:"type,omitempty"` // allergy, intolerance
	Categories []string    `json:"categories,omitempty"`
	Date       Date        `json:"date,omitzero"` // recorded, else onset
	RecordedBy string      `json:"recorded_by,omitempty"`
	Source     ResourceRef `json:"source"`
}

// Reaction is one reaction to an allergen.
type Reaction struct {
	Substance      string   `json:"substance,omitempty"`
	Manifestations []string `json:"manifestations,omitempty"`
	Severity       string   `json:"severity,omitempty"`
	Description    string   `json:"description,omitempty"`
	Onset          Date     `json:"onset,omitzero"`
}

type fhirAllergy struct {
	ClinicalStatus     *fhirCC
	VerificationStatus *fhirCC
	Type               string
	Category           []string
	Criticality        string
	Code               *fhirCC
	OnsetDateTime      string
	RecordedDate       string
	Recorder           *fhirRef
	Asserter           *fhirRef
	Reaction           []fhirReaction
}

type fhirReaction struct {
	Substance     *fhirCC
	Manifestation []fhirCC
	Description   string
	Onset         string
	Severity      string
}

func readAllergy(raw []byte) (a fhirAllergy) {
	members(raw, func(k string, v []byte) {
		switch k {
		case "clinicalStatus":
			a.ClinicalStatus = readStatus(v)
		case "verificationStatus":
			a.VerificationStatus = readStatus(v)
		case "type":
			a.Type = jstr(v)
		case "category":
			a.Category = jstrs(v)
		case "criticality":
			a.Criticality = jstr(v)
		case "code":
			a.Code = readCC(v)
		case "onsetDateTime":
			a.OnsetDateTime = jstr(v)
		case "recordedDate":
			a.RecordedDate = jstr(v)
		case "recorder":
			a.Recorder = readRef(v)
		case "asserter":
			a.Asserter = readRef(v)
		case "reaction":
			elements(v, func(e []byte) {
				var re fhirReaction
				members(e, func(k string, v []byte) {
					switch k {
					case "substance":
						re.Substance = readCC(v)
					case "manifestation":
						re.Manifestation = readCCs(v)
					case "description":
						re.Description = jstr(v)
					case "onset":
						re.Onset = jstr(v)
					case "severity":
						re.Severity = jstr(v)
					}
				})
				a.Reaction = append(a.Reaction, re)
			})
		}
	})
	return a
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
)

// noneRecord records a "none known" statement, keeping the newest.
func noneRecord(cur *NoneRecord, text string, date Date, r *Resource) *NoneRecord {
	if cur != nil && !newer(date, cur.Date) {
		return cur
	}
	return &NoneRecord{Text: text, Date: date, Source: refOf(r)}
}

func (s *Summary) addAllergy(c *sumContext, r *Resource) bool {
	a := readAllergy(r.Raw)
	date := firstDateOf(a.RecordedDate, a.OnsetDateTime)
	verification := ParseVerification(a.VerificationStatus.codeOnly())
	clinical := a.ClinicalStatus.codeOnly()
	if a.Code.hasCode(systemSNOMED, noAllergyCodes...) || a.Code.hasCode(systemIPSAbsent, noAllergyIPS...) {
		// A "no known allergy" that is void, or no longer current
		// (inactive or resolved: an allergy has since been found), says
		// nothing about now.
		if verification.Void() || clinical == "inactive" || clinical == "resolved" {
			return false
		}
		s.Allergies.None = noneRecord(s.Allergies.None, a.Code.display(), date, r)
		return true
	}
	if a.Code.hasCode(systemIPSAbsent, "no-allergy-info") {
		return false // "no information" is what StateNotAvailable already says
	}
	item := Allergy{Substance: a.Code.display(), Code: a.Code.code(), Criticality: a.Criticality,
		ClinicalStatus: clinical, Verification: verification,
		Type: a.Type, Categories: a.Category, Date: date, Source: refOf(r)}
	item.Active = !verification.Void() && clinical != "inactive" && clinical != "resolved"
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
	Name         string       `json:"name"`
	Code         Coding       `json:"code,omitzero"`
	Dosage       string       `json:"dosage,omitempty"`
	Status       string       `json:"status,omitempty"` // active, completed, stopped, on-hold...
	Verification Verification `json:"verification,omitempty"`
	// Active: status active, not entered in error, and the patient alive.
	// A deceased patient takes no medicine, whatever a status left behind
	// says: Status still says what the source wrote.
	Active     bool        `json:"active"`
	Intent     string      `json:"intent,omitempty"`      // for a request: order, plan, proposal...
	Date       Date        `json:"date,omitzero"`         // authored (request) or effective/asserted (statement)
	RecordedBy string      `json:"recorded_by,omitempty"` // requester or information source
	Reason     string      `json:"reason,omitempty"`
	Source     ResourceRef `json:"source"`
}

type fhirMedication struct {
	Status                    string
	Intent                    string
	MedicationCodeableConcept *fhirCC
	MedicationReference       *fhirRef
	AuthoredOn                string
	EffectiveDateTime         string
	EffectivePeriod           *fhirPeriod
	DateAsserted              string
	Requester                 *fhirRef
	InformationSource         *fhirRef
	ReasonCode                []fhirCC
	ReasonReference           []fhirRef
	Dosage                    []fhirDose // dosageInstruction (request) or dosage (statement)
}

func readMedication(raw []byte) (m fhirMedication) {
	members(raw, func(k string, v []byte) {
		switch k {
		case "status":
			m.Status = jstr(v)
		case "intent":
			m.Intent = jstr(v)
		case "medicationCodeableConcept":
			m.MedicationCodeableConcept = readCC(v)
		case "medicationReference":
			m.MedicationReference = readRef(v)
		case "authoredOn":
			m.AuthoredOn = jstr(v)
		case "effectiveDateTime":
			m.EffectiveDateTime = jstr(v)
		case "effectivePeriod":
			m.EffectivePeriod = readPeriod(v)
		case "dateAsserted":
			m.DateAsserted = jstr(v)
		case "requester":
			m.Requester = readRef(v)
		case "informationSource":
			m.InformationSource = readRef(v)
		case "reasonCode":
			m.ReasonCode = readCCs(v)
		case "reasonReference":
			m.ReasonReference = readRefs(v)
		case "dosageInstruction", "dosage":
			m.Dosage = readDoses(v)
		}
	})
	return m
}

func (s *Summary) addMedication(c *sumContext, r *Resource) bool {
	m := readMedication(r.Raw)
	code := m.MedicationCodeableConcept
	if code == nil && m.MedicationReference != nil {
		if t := c.refTarget(m.MedicationReference); t != nil && t.Type == "Medication" {
			code = readNamed(t.Raw).code
		}
	}
	date := ParseDate(m.AuthoredOn)
	if r.Type == "MedicationStatement" {
		date = firstDateOf(m.EffectiveDateTime, m.EffectivePeriod.start(), m.DateAsserted)
	}
	if code.hasCode(systemSNOMED, noMedicationCode) || code.hasCode(systemIPSAbsent, "no-known-medications") {
		if statusVerification(m.Status).Void() {
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
		Active: m.Status == "active", Date: date, Verification: statusVerification(m.Status), Source: refOf(r)}
	item.Dosage = dosageText(m.Dosage)
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
	Name           string       `json:"name"`
	Code           Coding       `json:"code,omitzero"`
	ClinicalStatus string       `json:"clinical_status,omitempty"` // active, recurrence, relapse, inactive, remission, resolved
	Verification   Verification `json:"verification,omitempty"`
	// Active: clinically active (active, recurrence or relapse, or no
	// status and not ended) and not void (refuted or entered in error).
	Active     bool        `json:"active"`
	Categories []string    `json:"categories,omitempty"`
	Severity   string      `json:"severity,omitempty"`
	Onset      Date        `json:"onset,omitzero"`
	Abatement  Date        `json:"abatement,omitzero"`
	Recorded   Date        `json:"recorded,omitzero"`
	Date       Date        `json:"date,omitzero"` // onset, else recorded
	Source     ResourceRef `json:"source"`
}

type fhirCondition struct {
	ClinicalStatus     *fhirCC
	VerificationStatus *fhirCC
	Category           []fhirCC
	Severity           *fhirCC
	Code               *fhirCC
	OnsetDateTime      string
	OnsetPeriod        *fhirPeriod
	OnsetString        string
	AbatementDateTime  string
	AbatementPeriod    *fhirPeriod
	AbatementString    string
	RecordedDate       string
}

func readCondition(raw []byte) (c fhirCondition) {
	members(raw, func(k string, v []byte) {
		switch k {
		case "clinicalStatus":
			c.ClinicalStatus = readStatus(v)
		case "verificationStatus":
			c.VerificationStatus = readStatus(v)
		case "category":
			c.Category = readCCs(v)
		case "severity":
			c.Severity = readCC(v)
		case "code":
			c.Code = readCC(v)
		case "onsetDateTime":
			c.OnsetDateTime = jstr(v)
		case "onsetPeriod":
			c.OnsetPeriod = readPeriod(v)
		case "onsetString":
			c.OnsetString = jstr(v)
		case "abatementDateTime":
			c.AbatementDateTime = jstr(v)
		case "abatementPeriod":
			c.AbatementPeriod = readPeriod(v)
		case "abatementString":
			c.AbatementString = jstr(v)
		case "recordedDate":
			c.RecordedDate = jstr(v)
		}
	})
	return c
}

func (s *Summary) addProblem(_ *sumContext, r *Resource) bool {
	p := readCondition(r.Raw)
	verification := ParseVerification(p.VerificationStatus.codeOnly())
	if p.Code.hasCode(systemSNOMED, noProblemCode) || p.Code.hasCode(systemIPSAbsent, "no-known-problems") {
		if verification.Void() {
			return false
		}
		s.Problems.None = noneRecord(s.Problems.None, p.Code.display(), ParseDate(p.RecordedDate), r)
		return true
	}
	if p.Code.hasCode(systemIPSAbsent, "no-problem-info") {
		return false
	}
	item := Problem{Name: orNoText(p.Code.display()), Code: p.Code.code(),
		ClinicalStatus: p.ClinicalStatus.codeOnly(), Verification: verification,
		Categories: displays(p.Category), Severity: p.Severity.display(),
		Onset: firstDate(p.OnsetDateTime, p.OnsetPeriod, p.OnsetString), Abatement: firstDate(p.AbatementDateTime, p.AbatementPeriod, p.AbatementString),
		Recorded: ParseDate(p.RecordedDate), Source: refOf(r)}
	switch item.ClinicalStatus {
	case "active", "recurrence", "relapse":
		item.Active = true
	case "":
		// No status: treat as active unless it has ended, so an unlabelled
		// problem is never hidden among the resolved ones.
		item.Active = item.Abatement.IsZero() && p.AbatementString == ""
	}
	if verification.Void() {
		item.Active = false
	}
	if item.Date = item.Onset; item.Date.IsZero() {
		item.Date = item.Recorded
	}
	s.Problems.Items = append(s.Problems.Items, item)
	return true
}

// firstDateOf parses the first of dates that is not empty, so that a date
// the source wrote but this package cannot parse is still shown as written.
func firstDateOf(dates ...string) Date {
	for _, d := range dates {
		if d != "" {
			return ParseDate(d)
		}
	}
	return Date{}
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
