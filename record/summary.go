package record

import (
	"sort"
	"strings"
	"time"
)

// Summary is the typed view of one patient's record that every screen
// shows. It is built from a PatientRecord by Summarise and holds only what
// the sources said: lists keep every item, in a clinically useful order,
// and each item names its date and the resource it came from.
type Summary struct {
	// AsOf is the time the record was current at (the caller says: when
	// the server produced it, not when it was opened), for the "as of"
	// line every summary shows.
	AsOf time.Time `json:"as_of"`

	PatientKey   string       `json:"patient_key"`
	Demographics Demographics `json:"demographics"`
	GP           GP           `json:"gp"`

	Alerts        Section[Alert]        `json:"alerts"`
	Allergies     Section[Allergy]      `json:"allergies"`
	Medications   Section[Medication]   `json:"medications"`
	Problems      Section[Problem]      `json:"problems"`
	Encounters    Section[Encounter]    `json:"encounters"`
	Observations  Section[Observation]  `json:"observations"`
	CarePlans     Section[CarePlan]     `json:"care_plans"`
	Immunizations Section[Immunization] `json:"immunizations"`

	// Documents are the documents (Compositions) in the record, with the
	// narrative of each section. The NHS Summary Care Record puts some
	// content, such as allergies and medication lists, only there.
	Documents []Document `json:"documents"`

	// Other counts, per resource type, the resources not shown as items
	// above (procedures, claims, diagnostic reports...), so that nothing
	// disappears without a trace: those in the record, and those the
	// server left out of the document it sent (PatientRecord.Omitted).
	// Sorted by type.
	Other []TypeCount `json:"other"`
}

// ResourceRef names the resource an item came from.
type ResourceRef struct {
	Type string
	ID   string
}

// MarshalText writes "Type/id".
func (r ResourceRef) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads "Type/id".
func (r *ResourceRef) UnmarshalText(b []byte) error {
	t, id, _ := strings.Cut(string(b), "/")
	*r = ResourceRef{t, id}
	return nil
}

// String returns "Type/id".
func (r ResourceRef) String() string { return r.Type + "/" + r.ID }

func refOf(r *Resource) ResourceRef { return ResourceRef{r.Type, r.ID} }

// TypeCount is a number of resources of one type.
type TypeCount struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
}

// Demographics is who the patient is: what the patient banner and the
// front desk need.
type Demographics struct {
	Name        HumanName      `json:"name"`  // the name to show: current, official before usual
	Names       []HumanName    `json:"names"` // every name, as recorded
	BirthDate   Date           `json:"birth_date,omitzero"`
	Gender      string         `json:"gender,omitempty"` // FHIR administrative gender: male, female, other, unknown
	NHS         NHSNumber      `json:"nhs"`
	NHSAssigned bool           `json:"nhs_assigned"`     // NHS is from the 999 test range, assigned (see AssignNHSNumber)
	Address     Address        `json:"address,omitzero"` // the address to show: current home address first
	Addresses   []Address      `json:"addresses"`        // every address, as recorded
	Phones      []ContactPoint `json:"phones"`
	Emails      []ContactPoint `json:"emails"`
	Deceased    bool           `json:"deceased"`
	DeceasedOn  Date           `json:"deceased_on,omitzero"` // when known

	// Restricted is set when a Patient carries the confidentiality label
	// R or V (an NHS "S-flagged" patient): contact details must be
	// withheld from anyone who does not need them.
	Restricted bool `json:"restricted"`

	// Source is the Patient resource the name was taken from; Sources are
	// every Patient resource of this person, best first by the
	// demographics rule (see MergePatients), and Conflicts where they
	// disagree.
	Source    ResourceRef           `json:"source"`
	Sources   []ResourceRef         `json:"sources"`
	FromPDS   bool                  `json:"from_pds"` // the best source is the national demographics service
	Conflicts []DemographicConflict `json:"conflicts,omitempty"`
}

// HumanName is one of a person's names.
type HumanName struct {
	Use    string   `json:"use,omitempty"` // official, usual, nickname, maiden, old...
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
	Suffix []string `json:"suffix,omitempty"`
	Period Period   `json:"period,omitzero"`
}

// String formats the name as FormatName does, falling back to its text.
func (n HumanName) String() string {
	if s := FormatName(n.Family, n.Given, n.Prefix); s != "" {
		return s
	}
	return n.Text
}

// Address is a postal address.
type Address struct {
	Use      string   `json:"use,omitempty"`  // home, work, temp, old, billing
	Type     string   `json:"type,omitempty"` // postal, physical, both
	Text     string   `json:"text,omitempty"`
	Lines    []string `json:"lines,omitempty"`
	City     string   `json:"city,omitempty"`
	District string   `json:"district,omitempty"`
	Postcode string   `json:"postcode,omitempty"`
	Country  string   `json:"country,omitempty"`
	Period   Period   `json:"period,omitzero"`
}

// String returns the address on one line: lines, city, district, postcode.
func (a Address) String() string {
	parts := make([]string, 0, len(a.Lines)+3)
	for _, p := range append(append([]string{}, a.Lines...), a.City, a.District, a.Postcode) {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return a.Text
	}
	return strings.Join(parts, ", ")
}

// ContactPoint is a phone number or e-mail address.
type ContactPoint struct {
	Value string `json:"value"`
	Use   string `json:"use,omitempty"` // home, work, mobile, temp, old
}

// GP is the patient's registered general practice.
type GP struct {
	Practice     string `json:"practice,omitempty"`     // the practice's name, or the reference's display text
	ODSCode      string `json:"ods_code,omitempty"`     // the practice's NHS organisation code, when known
	Practitioner string `json:"practitioner,omitempty"` // the named GP, when the record gives one

	// Resolved is true when the practice was found as an Organization in
	// the record; false when only the reference's own text was available.
	Resolved bool        `json:"resolved"`
	Source   ResourceRef `json:"source,omitzero"`
}

// IsZero reports whether no GP is recorded.
func (g GP) IsZero() bool { return g.Practice == "" && g.ODSCode == "" && g.Practitioner == "" }

// AllergyHeadline returns the one line a screen shows above the allergy
// list: "No known allergies recorded" only when a source positively says
// so, "Allergy information not available" when no source says anything,
// and otherwise the number of allergies ("1 allergy", "3 allergies").
// Void items (entered in error or refuted) are not counted.
func (s *Summary) AllergyHeadline() string {
	switch s.Allergies.State {
	case StateNoneRecorded:
		return "No known allergies recorded"
	case StatePresent:
		n := 0
		for _, a := range s.Allergies.Items {
			if !a.Verification.Void() {
				n++
			}
		}
		if n == 1 {
			return "1 allergy"
		}
		return itoa(n) + " allergies"
	}
	return "Allergy information not available"
}

// SearchKeys are the normalised values a patient is found by.
type SearchKeys struct {
	NHS       string   // ten digits
	Family    []string // every family name, normalised, without repeats
	Given     []string // every given name, normalised, without repeats
	BirthDate string   // "YYYY-MM-DD", or less when only part is known
	Postcode  string   // of the address shown, normalised
}

// SearchKeys returns the keys the cache's search index stores for s.
func (s *Summary) SearchKeys() SearchKeys {
	d := &s.Demographics
	k := SearchKeys{
		NHS:       d.NHS.Digits(),
		BirthDate: d.BirthDate.DateOnly(),
		Postcode:  NormalisePostcode(d.Address.Postcode),
	}
	add := func(list []string, s string) []string {
		if s = FoldName(s); s == "" {
			return list
		}
		for _, x := range list {
			if x == s {
				return list
			}
		}
		return append(list, s)
	}
	for _, n := range d.Names {
		k.Family = add(k.Family, n.Family)
		for _, g := range n.Given {
			k.Given = add(k.Given, g)
		}
	}
	return k
}

// Summarise builds the summary of one patient's record as of asOf, which
// decides which names, addresses and alerts are current. It never fails:
// what it cannot read it leaves out of the typed view, and counts in Other.
// A nil record gives an empty summary, every section not available.
//
// Every Patient resource in the record that carries the record's NHS
// number is a source of demographics: they are merged by the rule of
// MergePatients.
func Summarise(rec *PatientRecord, asOf time.Time) *Summary {
	if rec == nil {
		return &Summary{AsOf: asOf}
	}
	s := &Summary{AsOf: asOf, PatientKey: rec.Key}
	c := newSumContext(rec)
	other := map[string]int{}
	var patients []*Resource
	for i := range rec.Resources {
		r := &rec.Resources[i]
		shown := true
		switch r.Type {
		case "Patient":
			if shown = isSourceOf(r, rec); shown {
				patients = append(patients, r)
			}
		case "Organization", "Practitioner", "PractitionerRole", "Medication":
			// Shown through the references to them.
		case "Flag":
			s.addAlert(c, r)
		case "AllergyIntolerance":
			shown = s.addAllergy(c, r)
		case "MedicationRequest", "MedicationStatement":
			shown = s.addMedication(c, r)
		case "Condition":
			shown = s.addProblem(c, r)
		case "Encounter":
			s.addEncounter(c, r)
		case "Observation":
			s.addObservation(c, r)
		case "CarePlan":
			s.addCarePlan(c, r)
		case "Immunization":
			shown = s.addImmunization(c, r)
		case "List":
			shown = s.addList(r)
		case "Composition":
			s.addDocument(c, r) // shown as a document, beside the sections
		default:
			shown = false
		}
		if !shown {
			other[r.Type]++
		}
	}
	s.demographics(c, patients, rec)
	s.finish()
	for _, o := range rec.Omitted {
		if o.Count > 0 {
			other[o.Type] += o.Count
		}
	}
	for t, n := range other {
		s.Other = append(s.Other, TypeCount{t, n})
	}
	sort.Slice(s.Other, func(i, j int) bool { return s.Other[i].Type < s.Other[j].Type })
	return s
}
