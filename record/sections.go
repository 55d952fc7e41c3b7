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

var stateCodes = [...]string{"not_available", "none_recorded", "present"}

// MarshalText writes "not_available", "none_recorded" or "present".
func (s SectionState) MarshalText() ([]byte, error) {
	if int(s) < len(stateCodes) {
		return []byte(stateCodes[s]), nil
	}
	return []byte(stateCodes[0]), nil
}

// UnmarshalText reads what MarshalText writes.
func (s *SectionState) UnmarshalText(b []byte) error {
	for i, c := range stateCodes {
		if c == string(b) {
			*s = SectionState(i)
			return nil
		}
	}
	*s = StateNotAvailable
	return nil
}

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
	State SectionState `json:"state"`
	Items []T          `json:"items"`

	// None names the resource that recorded "none", when one did. If items
	// are present too, State is StatePresent and a screen may warn that the
	// sources disagree.
	None *NoneRecord `json:"none,omitempty"`
}

// NoneRecord is a positive statement that a section is empty, such as a
// "No known allergy" AllergyIntolerance or an empty List.
type NoneRecord struct {
	Text   string      `json:"text"` // as the source put it, e.g. "No known allergy"
	Date   Date        `json:"date,omitzero"`
	Source ResourceRef `json:"source"`
}

// Len returns the number of items.
func (s *Section[T]) Len() int { return len(s.Items) }

// settle sets the state from the items (counted by live, which excludes
// void items) and any none record.
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
