package record

// Sections of a summary. Access policy, audit events and screens all name
// parts of a record with these constants, so that what a role may see,
// what was shown and what the audit says was seen always agree.
const (
	SectionDemographics  = "demographics"
	SectionGP            = "gp"
	SectionAlerts        = "alerts"
	SectionAllergies     = "allergies"
	SectionMedications   = "medications"
	SectionProblems      = "problems"
	SectionEncounters    = "encounters"
	SectionObservations  = "observations"
	SectionCarePlans     = "careplans"
	SectionImmunizations = "immunizations"
	SectionOther         = "other"
)

var allSections = [...]string{
	SectionDemographics, SectionGP, SectionAlerts, SectionAllergies, SectionMedications,
	SectionProblems, SectionEncounters, SectionObservations, SectionCarePlans,
	SectionImmunizations, SectionOther,
}

// AllSections returns every section, in the order a summary shows them.
func AllSections() []string {
	s := allSections
	return s[:]
}

// SectionOf returns the section a resource type belongs to; types the
// summary does not show as items belong to SectionOther.
func SectionOf(resourceType string) string {
	switch resourceType {
	case "Patient":
		return SectionDemographics
	case "Organization", "Practitioner", "PractitionerRole":
		return SectionGP
	case "Flag":
		return SectionAlerts
	case "AllergyIntolerance":
		return SectionAllergies
	case "MedicationRequest", "MedicationStatement", "Medication":
		return SectionMedications
	case "Condition":
		return SectionProblems
	case "Encounter":
		return SectionEncounters
	case "Observation":
		return SectionObservations
	case "CarePlan":
		return SectionCarePlans
	case "Immunization":
		return SectionImmunizations
	}
	return SectionOther
}

// SectionState says what a source told us about a section. The three are
// distinct because "none" and "unknown" call for different care: a
// paramedic may give a drug to a patient with no known allergies, not to
// one whose allergies nobody recorded.
type SectionState uint8

// Section states.
const (
	// StateNotAvailable: the source says nothing about this section.
	StateNotAvailable SectionState = iota
	// StateNoneRecorded: the source positively records that there is none
	// (for example SNOMED 716186003 "No known allergy").
	StateNoneRecorded
	// StatePresent: the source records at least one item.
	StatePresent
)

// String returns "not available", "none recorded" or "present".
func (s SectionState) String() string {
	switch s {
	case StateNoneRecorded:
		return "none recorded"
	case StatePresent:
		return "present"
	}
	return "not available"
}

// Section is one list of a summary with its state. Items is never
// truncated: screens page it themselves.
type Section[T any] struct {
	State SectionState
	Items []T

	// None names the resource that recorded "none", when one did. If items
	// are present too, State is StatePresent and a screen may warn that the
	// sources disagree.
	None *NoneRecord
}

// NoneRecord is a positive statement that a section is empty, such as a
// "No known allergy" AllergyIntolerance or an empty List.
type NoneRecord struct {
	Text   string // as the source put it, e.g. "No known allergy"
	Date   Date
	Source ResourceRef
}

// Len returns the number of items.
func (s *Section[T]) Len() int { return len(s.Items) }

// settle sets the state from the items (counted by live, which excludes
// items entered in error) and any none record.
func (s *Section[T]) settle(live int) {
	switch {
	case live > 0:
		s.State = StatePresent
	case s.None != nil:
		s.State = StateNoneRecorded
	default:
		s.State = StateNotAvailable
	}
}
