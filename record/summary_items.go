package record

import (
	"strings"
)

// Encounter is a contact with a service: a visit, admission or call.
type Encounter struct {
	Type            string       `json:"type"`            // what kind of encounter, as text
	Class           string       `json:"class,omitempty"` // ambulatory, emergency, inpatient...
	Status          string       `json:"status,omitempty"`
	Verification    Verification `json:"verification,omitempty"`
	Reason          string       `json:"reason,omitempty"`
	ServiceProvider string       `json:"service_provider,omitempty"`
	Period          Period       `json:"period,omitzero"`
	Date            Date         `json:"date,omitzero"` // start of the period
	Source          ResourceRef  `json:"source"`
}

type fhirEncounter struct {
	Status          string
	Class           *Coding
	Type            []fhirCC
	ServiceType     *fhirCC
	Period          *fhirPeriod
	ReasonCode      []fhirCC
	ServiceProvider *fhirRef
}

// encounterClasses names the HL7 v3 ActCode classes encounters use.
var encounterClasses = map[string]string{
	"AMB": "ambulatory", "EMER": "emergency", "FLD": "field", "HH": "home health",
	"IMP": "inpatient", "ACUTE": "inpatient acute", "NONAC": "inpatient non-acute",
	"OBSENC": "observation", "PRENC": "pre-admission", "SS": "short stay", "VR": "virtual",
}

func readEncounter(raw []byte) (e fhirEncounter) {
	members(raw, func(k string, v []byte) {
		switch k {
		case "status":
			e.Status = jstr(v)
		case "class":
			if isObject(v) {
				c := readCoding(v)
				e.Class = &c
			}
		case "type":
			e.Type = readCCs(v)
		case "serviceType":
			e.ServiceType = readCC(v)
		case "period":
			e.Period = readPeriod(v)
		case "reasonCode":
			e.ReasonCode = readCCs(v)
		case "serviceProvider":
			e.ServiceProvider = readRef(v)
		}
	})
	return e
}

func (s *Summary) addEncounter(c *sumContext, r *Resource) {
	e := readEncounter(r.Raw)
	item := Encounter{Status: e.Status, Verification: statusVerification(e.Status), Period: e.Period.period(), ServiceProvider: c.name(e.ServiceProvider),
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
	Name       string      `json:"name"`
	Code       Coding      `json:"code,omitzero"`
	Value      string      `json:"value"`              // the value for display, with its unit
	Quantity   *Quantity   `json:"quantity,omitempty"` // the value as a number, when it is one (for trends)
	Components []Component `json:"components,omitempty"`
	Categories []string    `json:"categories,omitempty"`
	Status     string      `json:"status,omitempty"`
	// Verification is entered-in-error when the status is: such a reading
	// is not a reading of the patient, and is never latest or in a trend.
	Verification Verification `json:"verification,omitempty"`
	Date         Date         `json:"date,omitzero"` // effective time, else issued
	// VitalSign is set for observations in the vital-signs category.
	VitalSign bool `json:"vital_sign"`
	// PatientEntered is set when the patient (or someone for them) or their
	// own device made the observation, not a clinician: see the package doc.
	PatientEntered bool        `json:"patient_entered"`
	Interpretation string      `json:"interpretation,omitempty"`
	Source         ResourceRef `json:"source"`
}

// Component is one part of a multi-part observation, such as the systolic
// pressure of a blood pressure.
type Component struct {
	Name     string    `json:"name"`
	Code     Coding    `json:"code,omitzero"`
	Value    string    `json:"value"`
	Quantity *Quantity `json:"quantity,omitempty"`
}

type fhirValue struct {
	ValueQuantity        *fhirQuantity
	ValueCodeableConcept *fhirCC
	ValueString          *string
	ValueBoolean         *bool
	ValueInteger         *int64
	ValueDateTime        string
	ValuePeriod          *fhirPeriod
	ValueRange           *fhirPair // low, high
	ValueRatio           *fhirPair // numerator, denominator
	DataAbsentReason     *fhirCC
}

// fhirPair is a Range or a Ratio: two quantities.
type fhirPair struct{ A, B *fhirQuantity }

func readPair(v []byte, a, b string) *fhirPair {
	if !isObject(v) {
		return nil
	}
	p := &fhirPair{}
	members(v, func(k string, v []byte) {
		switch k {
		case a:
			p.A = readQuantity(v)
		case b:
			p.B = readQuantity(v)
		}
	})
	return p
}

// readValue reads one value[x] member into v, reporting whether k was one.
func (v *fhirValue) readValue(k string, val []byte) bool {
	switch k {
	case "valueQuantity":
		v.ValueQuantity = readQuantity(val)
	case "valueCodeableConcept":
		v.ValueCodeableConcept = readCC(val)
	case "valueString":
		if s, ok := stringOf(val); ok {
			v.ValueString = &s
		}
	case "valueBoolean":
		v.ValueBoolean = jbool(val)
	case "valueInteger":
		v.ValueInteger = jint(val)
	case "valueDateTime":
		v.ValueDateTime = jstr(val)
	case "valuePeriod":
		v.ValuePeriod = readPeriod(val)
	case "valueRange":
		v.ValueRange = readPair(val, "low", "high")
	case "valueRatio":
		v.ValueRatio = readPair(val, "numerator", "denominator")
	case "dataAbsentReason":
		v.DataAbsentReason = readCC(val)
	default:
		return false
	}
	return true
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
		lo, hi := v.ValueRange.A.quantity(), v.ValueRange.B.quantity()
		switch {
		case lo != nil && hi != nil:
			return formatNumber(lo.Text) + "–" + hi.String(), nil
		case lo != nil:
			return ">= " + lo.String(), nil
		case hi != nil:
			return "<= " + hi.String(), nil
		}
	case v.ValueRatio != nil:
		n, d := v.ValueRatio.A.quantity(), v.ValueRatio.B.quantity()
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
	Meta              fhirMeta
	Extension         []fhirExtension
	Status            string
	Category          []fhirCC
	Code              *fhirCC
	EffectiveDateTime string
	EffectivePeriod   *fhirPeriod
	EffectiveInstant  string
	Issued            string
	Performer         []fhirRef
	Device            *fhirRef
	Interpretation    []fhirCC
	Component         []fhirComponent
}

type fhirComponent struct {
	fhirValue
	Code *fhirCC
}

func readObservation(raw []byte) (o fhirObservation) {
	members(raw, func(k string, v []byte) {
		if o.readValue(k, v) {
			return
		}
		switch k {
		case "meta":
			members(v, func(k string, v []byte) {
				if k == "tag" {
					elements(v, func(e []byte) { o.Meta.Tag = append(o.Meta.Tag, readCoding(e)) })
				}
			})
		case "extension":
			elements(v, func(e []byte) {
				var x fhirExtension
				members(e, func(k string, v []byte) {
					switch k {
					case "url":
						x.URL = jstr(v)
					case "valueBoolean":
						x.ValueBoolean = jbool(v)
					}
				})
				o.Extension = append(o.Extension, x)
			})
		case "status":
			o.Status = jstr(v)
		case "category":
			o.Category = readCCs(v)
		case "code":
			o.Code = readCC(v)
		case "effectiveDateTime":
			o.EffectiveDateTime = jstr(v)
		case "effectivePeriod":
			o.EffectivePeriod = readPeriod(v)
		case "effectiveInstant":
			o.EffectiveInstant = jstr(v)
		case "issued":
			o.Issued = jstr(v)
		case "performer":
			o.Performer = readRefs(v)
		case "device":
			o.Device = readRef(v)
		case "interpretation":
			o.Interpretation = readCCs(v)
		case "component":
			elements(v, func(e []byte) {
				var c fhirComponent
				members(e, func(k string, v []byte) {
					if !c.readValue(k, v) && k == "code" {
						c.Code = readCC(v)
					}
				})
				o.Component = append(o.Component, c)
			})
		}
	})
	return o
}

// LOINC codes of a blood pressure and its parts, shown as "120/80 mm[Hg]".
const (
	loincSystolic  = "8480-6"
	loincDiastolic = "8462-4"
)

func (s *Summary) addObservation(c *sumContext, r *Resource) {
	o := readObservation(r.Raw)
	item := Observation{Name: orNoText(o.Code.display()), Code: o.Code.code(), Status: o.Status,
		Categories: displays(o.Category), Interpretation: strings.Join(displays(o.Interpretation), ", "),
		Verification: statusVerification(o.Status), Source: refOf(r)}
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
	item.Date = firstDateOf(o.EffectiveDateTime, o.EffectivePeriod.start(), o.EffectiveInstant, o.Issued)
	item.PatientEntered = patientEntered(c, &o)
	s.Observations.Items = append(s.Observations.Items, item)
}

// patientEntered applies the rule in the package doc: a performer that is
// the Patient or a RelatedPerson, a device, or a tag or extension saying so.
func patientEntered(c *sumContext, o *fhirObservation) bool {
	for i := range o.Performer {
		switch c.typeOf(&o.Performer[i]) {
		case "Patient", "RelatedPerson":
			return true
		}
	}
	if o.Device != nil && (o.Device.Reference != "" || o.Device.Identifier != nil || o.Device.Display != "") {
		if t := c.typeOf(o.Device); t == "Device" || t == "" {
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
