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
	AsOf time.Time

	PatientKey   string
	Demographics Demographics
	GP           GP

	Alerts        Section[Alert]
	Allergies     Section[Allergy]
	Medications   Section[Medication]
	Problems      Section[Problem]
	Encounters    Section[Encounter]
	Observations  Section[Observation]
	CarePlans     Section[CarePlan]
	Immunizations Section[Immunization]

	// Documents are the narrative sections of documents (Compositions) in
	// the record. The NHS Summary Care Record puts some content, such as
	// medication lists, only there.
	Documents []Document

	// Other counts, per resource type, the resources not shown as items
	// above (procedures, claims, diagnostic reports...), so that nothing
	// disappears without a trace. Sorted by type.
	Other []TypeCount
}

// ResourceRef names the resource an item came from.
type ResourceRef struct {
	Type string
	ID   string
}

// String returns "Type/id".
func (r ResourceRef) String() string { return r.Type + "/" + r.ID }

func refOf(r *Resource) ResourceRef { return ResourceRef{r.Type, r.ID} }

// TypeCount is a number of resources of one type.
type TypeCount struct {
	Type  string
	Count int
}

// Demographics is who the patient is: what the patient banner and the
// front desk need.
type Demographics struct {
	Name        HumanName   // the name to show: current, official before usual
	Names       []HumanName // every name, as recorded
	BirthDate   Date
	Gender      string // FHIR administrative gender: male, female, other, unknown
	NHS         NHSNumber
	NHSAssigned bool      // NHS is from the 999 test range, assigned (see AssignNHSNumber)
	Address     Address   // the address to show: current home address first
	Addresses   []Address // every address, as recorded
	Phones      []ContactPoint
	Emails      []ContactPoint
	Deceased    bool
	DeceasedOn  Date // when known

	// Restricted is set when the Patient carries the confidentiality label
	// R or V (an NHS "S-flagged" patient): contact details must be
	// withheld from anyone who does not need them.
	Restricted bool

	Source ResourceRef
}

// HumanName is one of a person's names.
type HumanName struct {
	Use    string // official, usual, nickname, maiden, old...
	Text   string
	Family string
	Given  []string
	Prefix []string
	Suffix []string
	Period Period
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
	Use      string // home, work, temp, old, billing
	Type     string // postal, physical, both
	Text     string
	Lines    []string
	City     string
	District string
	Postcode string
	Country  string
	Period   Period
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
	Value string
	Use   string // home, work, mobile, temp, old
}

// GP is the patient's registered general practice.
type GP struct {
	Practice     string // the practice's name, or the reference's display text
	ODSCode      string // the practice's NHS organisation code, when known
	Practitioner string // the named GP, when the record gives one

	// Resolved is true when the practice was found as an Organization in
	// the record; false when only the reference's own text was available.
	Resolved bool
	Source   ResourceRef
}

// IsZero reports whether no GP is recorded.
func (g GP) IsZero() bool { return g.Practice == "" && g.ODSCode == "" && g.Practitioner == "" }

// AllergyHeadline returns the one line a screen shows above the allergy
// list: "No known allergies recorded" only when a source positively says
// so, "Allergy information not available" when no source says anything,
// and otherwise the number of allergies ("1 allergy", "3 allergies").
// Items entered in error are not counted.
func (s *Summary) AllergyHeadline() string {
	switch s.Allergies.State {
	case StateNoneRecorded:
		return "No known allergies recorded"
	case StatePresent:
		n := 0
		for _, a := range s.Allergies.Items {
			if !a.EnteredInError {
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
		if s = NormaliseName(s); s == "" {
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
func Summarise(rec *PatientRecord, asOf time.Time) *Summary {
	if rec == nil {
		return &Summary{AsOf: asOf}
	}
	s := &Summary{AsOf: asOf, PatientKey: rec.Key}
	c := newSumContext(rec)
	other := map[string]int{}
	seenPatient := false
	for i := range rec.Resources {
		r := &rec.Resources[i]
		shown := true
		switch r.Type {
		case "Patient":
			if seenPatient || r.Key() != rec.Key {
				shown = false
				break
			}
			seenPatient = true
			s.demographics(c, r, rec)
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
			s.addDocument(r)
			shown = false // also counted: a document is more than its text
		default:
			shown = false
		}
		if !shown {
			other[r.Type]++
		}
	}
	s.finish()
	for t, n := range other {
		s.Other = append(s.Other, TypeCount{t, n})
	}
	sort.Slice(s.Other, func(i, j int) bool { return s.Other[i].Type < s.Other[j].Type })
	return s
}
