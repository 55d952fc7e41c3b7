package record

import "fmt"

// Verification is what the source says about whether an item is true. For
// AllergyIntolerance and Condition it is their verificationStatus; for the
// resource types that have only a status (Flag, MedicationRequest,
// MedicationStatement, Observation, Immunization, Encounter, CarePlan,
// Composition, List) it is VerificationEnteredInError when the status is
// "entered-in-error", and VerificationUnstated otherwise.
//
// A void item (entered in error or refuted) is part of the record but not
// of the patient: it is never active, never counted and never decides a
// section's state. Screens show it, if at all, struck through with the
// word ("entered in error", "refuted").
type Verification uint8

// Verification states, in FHIR's order.
const (
	VerificationUnstated       Verification = iota // the source says nothing
	VerificationUnconfirmed                        // "unconfirmed"
	VerificationProvisional                        // "provisional" (Condition)
	VerificationDifferential                       // "differential" (Condition)
	VerificationConfirmed                          // "confirmed"
	VerificationRefuted                            // "refuted": the source says it is not true
	VerificationEnteredInError                     // "entered-in-error": recorded by mistake
)

var verificationCodes = [...]string{"", "unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}

// ParseVerification reads a FHIR verification status code. A code it does
// not know is VerificationUnstated: it neither voids nor confirms.
func ParseVerification(code string) Verification {
	for i, c := range verificationCodes {
		if c != "" && c == code {
			return Verification(i)
		}
	}
	return VerificationUnstated
}

// statusVerification is the verification of a resource that has only a
// status: entered in error, or unstated.
func statusVerification(status string) Verification {
	if status == "entered-in-error" {
		return VerificationEnteredInError
	}
	return VerificationUnstated
}

// Void reports whether the item is entered in error or refuted.
func (v Verification) Void() bool {
	return v == VerificationRefuted || v == VerificationEnteredInError
}

// String returns the FHIR code ("entered-in-error"), or "" when unstated.
func (v Verification) String() string {
	if int(v) < len(verificationCodes) {
		return verificationCodes[v]
	}
	return ""
}

// Word returns the state in words for a screen: "entered in error",
// "refuted", "unconfirmed"..., or "" when unstated.
func (v Verification) Word() string {
	if v == VerificationEnteredInError {
		return "entered in error"
	}
	return v.String()
}

// MarshalText writes the FHIR code.
func (v Verification) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a FHIR code; an unknown one is an error.
func (v *Verification) UnmarshalText(b []byte) error {
	p := ParseVerification(string(b))
	if p == VerificationUnstated && len(b) > 0 {
		return fmt.Errorf("unknown verification status %q", b)
	}
	*v = p
	return nil
}
