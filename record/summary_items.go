package record

import (
	"strings"
)

// Encounter is a contact with a service: a visit, admission or call.
type Encounter struct {
	Type            string // what kind of encounter, as text
	Class           string // ambulatory, emergency, inpatient...
	Status          string
	Reason          string
	ServiceProvider string
	Period          Period
	Date            Date // start of the period
	Source          ResourceRef
}

type fhirEncounter struct {
	Status          string      `json:"status"`
	Class           *Coding     `json:"class"`
	Type            []fhirCC    `json:"type"`
	ServiceType     *fhirCC     `json:"serviceType"`
	Period          *fhirPeriod `json:"period"`
	ReasonCode      []fhirCC    `json:"reasonCode"`
	ServiceProvider *fhirRef    `json:"serviceProvider"`
}

// encounterClasses names the HL7 v3 ActCode classes encounters use.
var encounterClasses = map[string]string{
	"AMB": "ambulatory", "EMER": "emergency", "FLD": "field", "HH": "home health",
	"IMP": "inpatient", "ACUTE": "inpatient acute", "NONAC": "inpatient non-acute",
	"OBSENC": "observation", "PRENC": "pre-admission", "SS": "short stay", "VR": "virtual",
}

func (s *Summary) addEncounter(c *sumContext, r *Resource) {
	var e fhirEncounter
	decode(r.Raw, &e)
	item := Encounter{Status: e.Status, Period: e.Period.period(), ServiceProvider: c.name(e.ServiceProvider),
		Reason: strings.Join(displays(e.ReasonCode), ", "), Source: refOf(r)}
	if t := displays(e.Type); len(t) > 0 {
		item.Type = strings.Join(t, ", ")
	} else {
		item.Type = e.ServiceType.display()
	}
	if e.Class != nil {
		if item.Class = e.Class.Display; item.Class == "" {
			if item.Class = encounterClasses[e.Class.Code]; item.Class == "" {
				item.Class = e.Class.Code
			}
		}
	}
	if item.Type == "" {
		item.Type = orNoText(item.Class)
	}
	item.Date = item.Period.Start
	s.Encounters.Items = append(s.Encounters.Items, item)
}

// Observation is a measurement or finding.
type Observation struct {
	Name       string
	Code       Coding
	Value      string    // the value for display, with its unit
	Quantity   *Quantity // the value as a number, when it is one (for trends)
	Components []Component
	Categories []string
	Status     string
	Date       Date // effective time, else issued
	// VitalSign is set for observations in the vital-signs category.
	VitalSign bool
	// PatientEntered is set when the patient (or someone for them) or their
	// own device made the observation, not a clinician: see the package doc.
	PatientEntered bool
	Interpretation string
	EnteredInError bool
	Source         ResourceRef
}

// Component is one part of a multi-part observation, such as the systolic
// pressure of a blood pressure.
type Component struct {
	Name     string
	Code     Coding
	Value    string
	Quantity *Quantity
}

type fhirValue struct {
	ValueQuantity        *fhirQuantity `json:"valueQuantity"`
	ValueCodeableConcept *fhirCC       `json:"valueCodeableConcept"`
	ValueString          *string       `json:"valueString"`
	ValueBoolean         *bool         `json:"valueBoolean"`
	ValueInteger         *int64        `json:"valueInteger"`
	ValueDateTime        string        `json:"valueDateTime"`
	ValuePeriod          *fhirPeriod   `json:"valuePeriod"`
	ValueRange           *struct {
		Low  *fhirQuantity `json:"low"`
		High *fhirQuantity `json:"high"`
	} `json:"valueRange"`
	ValueRatio *struct {
		Numerator   *fhirQuantity `json:"numerator"`
		Denominator *fhirQuantity `json:"denominator"`
	} `json:"valueRatio"`
	DataAbsentReason *fhirCC `json:"dataAbsentReason"`
}

// text returns the value for display, and the quantity when it is one.
func (v *fhirValue) text() (string, *Quantity) {
	switch {
	case v.ValueQuantity != nil:
		if q := v.ValueQuantity.quantity(); q != nil {
			return q.String(), q
		}
	case v.ValueCodeableConcept != nil:
		return v.ValueCodeableConcept.display(), nil
	case v.ValueString != nil:
		return *v.ValueString, nil
	case v.ValueBoolean != nil:
		if *v.ValueBoolean {
			return "Yes", nil
		}
		return "No", nil
	case v.ValueInteger != nil:
		return itoa64(*v.ValueInteger), nil
	case v.ValueDateTime != "":
		return ParseDate(v.ValueDateTime).String(), nil
	case v.ValuePeriod != nil:
		p := v.ValuePeriod.period()
		return p.Start.String() + " to " + p.End.String(), nil
	case v.ValueRange != nil:
		lo, hi := v.ValueRange.Low.quantity(), v.ValueRange.High.quantity()
		switch {
		case lo != nil && hi != nil:
			return formatNumber(lo.Text) + "–" + hi.String(), nil
		case lo != nil:
			return ">= " + lo.String(), nil
		case hi != nil:
			return "<= " + hi.String(), nil
		}
	case v.ValueRatio != nil:
		n, d := v.ValueRatio.Numerator.quantity(), v.ValueRatio.Denominator.quantity()
		if n != nil && d != nil {
			return n.String() + " / " + d.String(), nil
		}
	}
	if v.DataAbsentReason != nil {
		return "(" + v.DataAbsentReason.display() + ")", nil
	}
	return "", nil
}

type fhirObservation struct {
	fhirValue
	Meta              fhirMeta        `json:"meta"`
	Extension         []fhirExtension `json:"extension"`
	Status            string          `json:"status"`
	Category          []fhirCC        `json:"category"`
	Code              *fhirCC         `json:"code"`
	EffectiveDateTime string          `json:"effectiveDateTime"`
	EffectivePeriod   *fhirPeriod     `json:"effectivePeriod"`
	EffectiveInstant  string          `json:"effectiveInstant"`
	Issued            string          `json:"issued"`
	Performer         []fhirRef       `json:"performer"`
	Device            *fhirRef        `json:"device"`
	Interpretation    []fhirCC        `json:"interpretation"`
	Component         []struct {
		fhirValue
		Code *fhirCC `json:"code"`
	} `json:"component"`
}

// LOINC codes of a blood pressure and its parts, shown as "120/80 mm[Hg]".
const (
	loincSystolic  = "8480-6"
	loincDiastolic = "8462-4"
)

func (s *Summary) addObservation(c *sumContext, r *Resource) {
	var o fhirObservation
	decode(r.Raw, &o)
	item := Observation{Name: orNoText(o.Code.display()), Code: o.Code.code(), Status: o.Status,
		Categories: displays(o.Category), Interpretation: strings.Join(displays(o.Interpretation), ", "),
		EnteredInError: o.Status == "entered-in-error", Source: refOf(r)}
	item.Value, item.Quantity = o.text()
	for i := range o.Category {
		if o.Category[i].hasCode("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs") {
			item.VitalSign = true
		}
	}
	var sys, dia *Quantity
	var parts []string
	for i := range o.Component {
		oc := &o.Component[i]
		comp := Component{Name: oc.Code.display(), Code: oc.Code.code()}
		comp.Value, comp.Quantity = oc.text()
		switch {
		case oc.Code.hasCode(systemLOINC, loincSystolic):
			sys = comp.Quantity
		case oc.Code.hasCode(systemLOINC, loincDiastolic):
			dia = comp.Quantity
		}
		parts = append(parts, comp.Name+": "+comp.Value)
		item.Components = append(item.Components, comp)
	}
	if item.Value == "" {
		if sys != nil && dia != nil && sys.Unit == dia.Unit {
			item.Value = formatNumber(sys.Text) + "/" + dia.String()
		} else {
			item.Value = strings.Join(parts, "; ")
		}
	}
	if item.Date = ParseDate(o.EffectiveDateTime); item.Date.IsZero() {
		if item.Date = o.EffectivePeriod.period().Start; item.Date.IsZero() {
			if item.Date = ParseDate(o.EffectiveInstant); item.Date.IsZero() {
				item.Date = ParseDate(o.Issued)
			}
		}
	}
	item.PatientEntered = patientEntered(c, &o)
	s.Observations.Items = append(s.Observations.Items, item)
}

// patientEntered applies the rule in the package doc: a performer that is
// the Patient or a RelatedPerson, a device, or a tag or extension saying so.
func patientEntered(c *sumContext, o *fhirObservation) bool {
	for i := range o.Performer {
		switch c.refType(&o.Performer[i]) {
		case "Patient", "RelatedPerson":
			return true
		}
	}
	if o.Device != nil && (o.Device.Reference != "" || o.Device.Identifier != nil || o.Device.Display != "") {
		if t := c.refType(o.Device); t == "Device" || t == "" {
			return true
		}
	}
	for _, t := range o.Meta.Tag {
		if patientEnteredWord(t.Code) {
			return true
		}
	}
	for _, e := range o.Extension {
		u := e.URL
		if i := strings.LastIndexAny(u, "/#"); i >= 0 {
			u = u[i+1:]
		}
		if patientEnteredWord(u) && (e.ValueBoolean == nil || *e.ValueBoolean) {
			return true
		}
	}
	return false
}

// PatientEnteredTag is the meta.tag code (in any code system) that marks a
// resource as entered by the patient, for sources that say so explicitly.
// "patient-reported" and "patient-generated" are recognised too.
const PatientEnteredTag = "patient-entered"

func patientEnteredWord(s string) bool {
	s = strings.ToLower(strings.ReplaceAll(s, "_", "-"))
	switch s {
	case PatientEnteredTag, "patient-reported", "patient-generated", "patiententered", "patientreported":
		return true
	}
	return false
}
