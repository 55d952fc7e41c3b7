// Package readings checks and stores the readings a patient adds to their
// own record (from the portal's form, a wearable's file, or the FHIR API):
// FHIR R4 Observations of a documented list of kinds, each with its LOINC
// code, UCUM unit and plausible range.
//
// # Basics
//
// Check validates an Observation as a patient app sends it and names the
// first field that is wrong (a *FieldError, which the FHIR API turns into
// an OperationOutcome with that expression). Stored rewrites an accepted
// one for the record: subject and performer point at the patient's own
// Patient resource, a meta.tag marks it patient-entered, and its id is
// derived from its identifier (or, without one, from its content), so the
// same reading sent twice is stored once.
//
// # Caveats
//
// Ranges are plausibility limits, not clinical ones: a heart rate of 250
// is accepted (it may be real), 2,000 is not.
package readings

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Code systems.
const (
	SystemLOINC = "http://loinc.org"
	SystemUCUM  = "http://unitsofmeasure.org"
	// PatientEnteredTag is the meta.tag the record reads as patient-entered.
	PatientEnteredTag = "patient-entered"
	systemTag         = "https://kmcr.example.nhs.uk/fhir/CodeSystem/provenance"
	sysObsCategory    = "http://terminology.hl7.org/CodeSystem/observation-category"
)

// Kind is one kind of reading the record accepts.
type Kind struct {
	Key       string  // "heart-rate", the form's name
	Name      string  // "Heart rate"
	LOINC     string  // "8867-4"
	Unit      string  // UCUM code: "/min"
	UnitText  string  // "beats per minute"
	Min, Max  float64 // plausible range, inclusive
	Category  string  // vital-signs or activity
	Component bool    // carried as a component of a panel (blood pressure)
}

// Kinds are the accepted readings, the documented list.
var Kinds = []Kind{
	{Key: "heart-rate", Name: "Heart rate", LOINC: "8867-4", Unit: "/min", UnitText: "beats per minute", Min: 20, Max: 300, Category: "vital-signs"},
	{Key: "systolic", Name: "Systolic blood pressure", LOINC: "8480-6", Unit: "mm[Hg]", UnitText: "mmHg", Min: 50, Max: 300, Category: "vital-signs", Component: true},
	{Key: "diastolic", Name: "Diastolic blood pressure", LOINC: "8462-4", Unit: "mm[Hg]", UnitText: "mmHg", Min: 20, Max: 200, Category: "vital-signs", Component: true},
	{Key: "weight", Name: "Body weight", LOINC: "29463-7", Unit: "kg", UnitText: "kilograms", Min: 0.5, Max: 400, Category: "vital-signs"},
	{Key: "glucose", Name: "Blood glucose", LOINC: "15074-8", Unit: "mmol/L", UnitText: "mmol/L", Min: 0.5, Max: 50, Category: "laboratory"},
	{Key: "oxygen", Name: "Oxygen saturation", LOINC: "59408-5", Unit: "%", UnitText: "per cent", Min: 50, Max: 100, Category: "vital-signs"},
	{Key: "steps", Name: "Steps", LOINC: "55423-8", Unit: "{steps}", UnitText: "steps", Min: 0, Max: 200000, Category: "activity"},
}

// BloodPressureLOINC is the panel systolic and diastolic travel in.
const BloodPressureLOINC = "85354-9"

// KindByLOINC returns the kind with a LOINC code.
func KindByLOINC(code string) (Kind, bool) {
	for _, k := range Kinds {
		if k.LOINC == code {
			return k, true
		}
	}
	return Kind{}, false
}

// KindByKey returns the kind with a form name.
func KindByKey(key string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Key == key {
			return k, true
		}
	}
	return Kind{}, false
}

// FieldError is a refused reading: which field (a FHIRPath expression
// such as "Observation.valueQuantity.value") and why.
type FieldError struct {
	Field, Reason string
	// Forbidden marks a reading about, or by, someone other than the
	// patient (403 rather than 422).
	Forbidden bool
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ErrInvalid is wrapped by every *FieldError for errors.Is.
var ErrInvalid = errors.New("invalid reading")

// Unwrap lets errors.Is see ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func bad(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Observation is the part of a FHIR Observation a reading uses.
type Observation struct {
	ResourceType      string       `json:"resourceType"`
	ID                string       `json:"id,omitempty"`
	Meta              *meta        `json:"meta,omitempty"`
	Identifier        []Identifier `json:"identifier,omitempty"`
	Status            string       `json:"status"`
	Category          []codeable   `json:"category,omitempty"`
	Code              codeable     `json:"code"`
	Subject           *reference   `json:"subject,omitempty"`
	EffectiveDateTime string       `json:"effectiveDateTime,omitempty"`
	Performer         []reference  `json:"performer,omitempty"`
	ValueQuantity     *quantity    `json:"valueQuantity,omitempty"`
	Component         []component  `json:"component,omitempty"`
	Device            *reference   `json:"device,omitempty"`
}

// Identifier is a business identifier (a client's id for the reading).
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type meta struct {
	Tag []coding `json:"tag,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeable struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

type quantity struct {
	Value  *float64 `json:"value,omitempty"`
	Unit   string   `json:"unit,omitempty"`
	System string   `json:"system,omitempty"`
	Code   string   `json:"code,omitempty"`
}

type component struct {
	Code          codeable  `json:"code"`
	ValueQuantity *quantity `json:"valueQuantity,omitempty"`
}

// allowedFields are the Observation elements a reading may carry; any
// other is refused rather than silently dropped.
var allowedFields = map[string]bool{
	"resourceType": true, "id": true, "meta": true, "identifier": true, "status": true, "category": true, "code": true,
	"subject": true, "effectiveDateTime": true, "performer": true, "valueQuantity": true, "component": true, "device": true, "text": true,
}

// MaxSize bounds one Observation's JSON.
const MaxSize = 16 << 10

// Parse decodes an Observation, refusing unknown elements.
func Parse(raw []byte) (*Observation, error) {
	if len(raw) > MaxSize {
		return nil, bad("Observation", "larger than %d bytes", MaxSize)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, bad("Observation", "not a JSON object: %v", err)
	}
	for k := range fields {
		if !allowedFields[k] {
			return nil, bad("Observation."+k, "this element is not accepted in a patient's reading")
		}
	}
	var o Observation
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, bad("Observation", "%v", err)
	}
	return &o, nil
}

// Check validates an Observation the patient whose reference is
// patientRef ("Patient/<id>", as the API names them) sends, at now.
func Check(o *Observation, patientRef string, now time.Time) error {
	if o.ResourceType != "Observation" {
		return bad("Observation.resourceType", "must be Observation, not %q", o.ResourceType)
	}
	if o.Subject == nil || o.Subject.Reference == "" {
		return bad("Observation.subject", "is required and must be your own Patient (%s)", patientRef)
	}
	if o.Subject.Reference != patientRef {
		return &FieldError{Field: "Observation.subject", Reason: "a reading may only be about yourself (" + patientRef + ")", Forbidden: true}
	}
	if len(o.Performer) == 0 {
		return bad("Observation.performer", "is required and must be your own Patient (%s)", patientRef)
	}
	for i, p := range o.Performer {
		if p.Reference != patientRef {
			return &FieldError{Field: fmt.Sprintf("Observation.performer[%d]", i), Reason: "a reading you add must be performed by you (" + patientRef + ")", Forbidden: true}
		}
	}
	switch o.Status {
	case "final", "preliminary", "amended":
	default:
		return bad("Observation.status", "must be final, preliminary or amended, not %q", o.Status)
	}
	for i, id := range o.Identifier {
		if id.System == "" || id.Value == "" || len(id.System) > 256 || len(id.Value) > 256 {
			return bad(fmt.Sprintf("Observation.identifier[%d]", i), "needs a system and a value, each at most 256 characters")
		}
	}
	if o.EffectiveDateTime == "" {
		return bad("Observation.effectiveDateTime", "is required: when the reading was taken")
	}
	at, err := time.Parse(time.RFC3339, o.EffectiveDateTime)
	if err != nil {
		return bad("Observation.effectiveDateTime", "must be a date and time with a time zone, such as 2026-12-03T14:02:00Z")
	}
	if at.After(now.Add(5 * time.Minute)) {
		return bad("Observation.effectiveDateTime", "is in the future")
	}
	if at.Before(now.AddDate(-10, 0, 0)) {
		return bad("Observation.effectiveDateTime", "is more than ten years ago")
	}
	code, err := loinc(o.Code, "Observation.code")
	if err != nil {
		return err
	}
	if code == BloodPressureLOINC {
		if o.ValueQuantity != nil {
			return bad("Observation.valueQuantity", "a blood pressure carries its values in component, not valueQuantity")
		}
		seen := map[string]bool{}
		for i, c := range o.Component {
			f := fmt.Sprintf("Observation.component[%d]", i)
			cc, err := loinc(c.Code, f+".code")
			if err != nil {
				return err
			}
			k, ok := KindByLOINC(cc)
			if !ok || !k.Component {
				return bad(f+".code", "must be systolic (8480-6) or diastolic (8462-4) blood pressure")
			}
			if err := checkValue(k, c.ValueQuantity, f+".valueQuantity"); err != nil {
				return err
			}
			seen[cc] = true
		}
		if !seen["8480-6"] || !seen["8462-4"] || len(o.Component) != 2 {
			return bad("Observation.component", "a blood pressure needs one systolic (8480-6) and one diastolic (8462-4) component")
		}
		return nil
	}
	k, ok := KindByLOINC(code)
	if !ok || k.Component {
		return bad("Observation.code", "LOINC %s is not a reading the record accepts (see the CapabilityStatement's documentation)", code)
	}
	if len(o.Component) > 0 {
		return bad("Observation.component", "only a blood pressure has components")
	}
	return checkValue(k, o.ValueQuantity, "Observation.valueQuantity")
}

func loinc(c codeable, field string) (string, error) {
	for _, cd := range c.Coding {
		if cd.System == SystemLOINC {
			if cd.Code == "" {
				return "", bad(field+".coding", "a LOINC coding needs a code")
			}
			return cd.Code, nil
		}
	}
	return "", bad(field, "needs a LOINC coding (system %s)", SystemLOINC)
}

func checkValue(k Kind, q *quantity, field string) error {
	if q == nil || q.Value == nil {
		return bad(field+".value", "is required")
	}
	if q.System != SystemUCUM {
		return bad(field+".system", "must be UCUM (%s)", SystemUCUM)
	}
	if q.Code != k.Unit {
		return bad(field+".code", "%s is recorded in %s (UCUM %q), not %q", k.Name, k.UnitText, k.Unit, q.Code)
	}
	v := *q.Value
	if math.IsNaN(v) || math.IsInf(v, 0) || v < k.Min || v > k.Max {
		return bad(field+".value", "%g is not a plausible %s (%g to %g %s)", v, strings.ToLower(k.Name), k.Min, k.Max, k.UnitText)
	}
	return nil
}

// IdentifierKey is the idempotency key of an identifier: "system|value".
func IdentifierKey(id Identifier) string { return id.System + "|" + id.Value }

// Stored returns the reading as the record keeps it: its key ("Observation/
// <id>") and JSON, with subject and performer the patient's internal
// reference, the patient-entered tag, and an id derived from the first
// identifier (or the content), so a resend maps to the same key.
func Stored(o *Observation, internalRef string) (key string, raw []byte, err error) {
	c := *o
	c.Subject = &reference{Reference: internalRef}
	c.Performer = []reference{{Reference: internalRef}}
	c.Meta = &meta{Tag: []coding{{System: systemTag, Code: PatientEnteredTag, Display: "Entered by the patient"}}}
	if len(c.Category) == 0 {
		k, _ := KindByLOINC(firstLOINC(c.Code))
		cat := k.Category
		if cat == "" {
			cat = "vital-signs"
		}
		c.Category = []codeable{{Coding: []coding{{System: sysObsCategory, Code: cat}}}}
	}
	h := sha256.New()
	if len(o.Identifier) > 0 {
		h.Write([]byte("identifier\x00" + internalRef + "\x00" + IdentifierKey(o.Identifier[0])))
	} else {
		c.ID = ""
		b, _ := json.Marshal(c)
		h.Write([]byte("content\x00"))
		h.Write(b)
	}
	c.ID = "kmcr-pe-" + hex.EncodeToString(h.Sum(nil)[:12])
	raw, err = json.Marshal(c)
	return "Observation/" + c.ID, raw, err
}

func firstLOINC(c codeable) string {
	for _, cd := range c.Coding {
		if cd.System == SystemLOINC {
			return cd.Code
		}
	}
	return ""
}

// New makes an Observation of one kind (not blood pressure) for the form.
func New(k Kind, value float64, at time.Time, patientRef string) *Observation {
	v := value
	return &Observation{
		ResourceType: "Observation", Status: "final",
		Code:              codeable{Coding: []coding{{System: SystemLOINC, Code: k.LOINC, Display: k.Name}}, Text: k.Name},
		Subject:           &reference{Reference: patientRef},
		Performer:         []reference{{Reference: patientRef}},
		EffectiveDateTime: at.UTC().Format(time.RFC3339),
		ValueQuantity:     &quantity{Value: &v, Unit: k.UnitText, System: SystemUCUM, Code: k.Unit},
	}
}

// NewBloodPressure makes a blood pressure panel for the form.
func NewBloodPressure(sys, dia float64, at time.Time, patientRef string) *Observation {
	s, d := sys, dia
	ks, _ := KindByKey("systolic")
	kd, _ := KindByKey("diastolic")
	return &Observation{
		ResourceType: "Observation", Status: "final",
		Code:              codeable{Coding: []coding{{System: SystemLOINC, Code: BloodPressureLOINC, Display: "Blood pressure panel"}}, Text: "Blood pressure"},
		Subject:           &reference{Reference: patientRef},
		Performer:         []reference{{Reference: patientRef}},
		EffectiveDateTime: at.UTC().Format(time.RFC3339),
		Component: []component{
			{Code: codeable{Coding: []coding{{System: SystemLOINC, Code: ks.LOINC, Display: ks.Name}}}, ValueQuantity: &quantity{Value: &s, Unit: "mmHg", System: SystemUCUM, Code: ks.Unit}},
			{Code: codeable{Coding: []coding{{System: SystemLOINC, Code: kd.LOINC, Display: kd.Name}}}, ValueQuantity: &quantity{Value: &d, Unit: "mmHg", System: SystemUCUM, Code: kd.Unit}},
		},
	}
}
