// Package policy decides who may see what: which sections a role sees,
// which purpose of use it works under, how long its offline copies last,
// whether it may break the glass, what a patient's objection withholds, and
// which security labels keep an item off every laptop. It is pure logic:
// the server asks, the store remembers, nothing here touches either.
//
// docs/policy.md explains each rule and why.
package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"kmcr/record"
	"kmcr/sync/protocol"
)

// Role is a user's job, which decides what they see.
type Role string

// Roles.
const (
	Paramedic      Role = "paramedic"
	Community      Role = "community"
	FrontDesk      Role = "frontdesk"
	PrivacyOfficer Role = "privacy-officer"
	Admin          Role = "admin"
)

// Roles lists every role, for help text and validation.
var Roles = []Role{Paramedic, Community, FrontDesk, PrivacyOfficer, Admin}

// ParseRole accepts a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (one of %s)", s, joinRoles())
}

func joinRoles() string {
	s := make([]string, len(Roles))
	for i, r := range Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Purposes of use a patient can object to, each named for people and
// mapped to its HL7 v3 ActReason code for audit.
const (
	PurposeEmergency = "emergency-care" // ETREAT: paramedics and emergency teams
	PurposeDirect    = "direct-care"    // TREAT: community and planned care
	PurposeAdmin     = "administration" // HOPERAT: reception and booking
	PurposeResearch  = "research"       // HRESCH: never served to clients
	PurposePlanning  = "planning"       // POPHLTH: never served to clients
	// PurposeSocialCare is the access of staff of social care
	// organisations (CAREMGT, care management).
	PurposeSocialCare = "social-care"
)

// Purposes lists the purposes in the order help text shows them.
var Purposes = []string{PurposeEmergency, PurposeDirect, PurposeAdmin, PurposeResearch, PurposePlanning, PurposeSocialCare}

// PurposeCode maps a purpose to its HL7 v3 ActReason code.
func PurposeCode(p string) string {
	switch p {
	case PurposeEmergency:
		return "ETREAT"
	case PurposeDirect:
		return "TREAT"
	case PurposeAdmin:
		return "HOPERAT"
	case PurposeResearch:
		return "HRESCH"
	case PurposePlanning:
		return "POPHLTH"
	case PurposeSocialCare:
		return "CAREMGT"
	}
	return ""
}

// ParsePurpose accepts a purpose name.
func ParsePurpose(s string) (string, error) {
	for _, p := range Purposes {
		if p == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown purpose %q (one of %s)", s, strings.Join(Purposes, ", "))
}

// Rules is what a role may do.
type Rules struct {
	Role       Role
	Sections   []string      // sections its documents carry
	Purpose    string        // purpose of use its access serves
	Lease      time.Duration // how long an offline copy may be shown without a sync
	BreakGlass bool          // may open a patient outside its relationships
	AutoLock   time.Duration // client inactivity lock
	Freshness  time.Duration // "as of" older than this is shown as stale
	Syncs      bool          // receives patient documents at all
}

// Defaults. Lease is 72 hours for clinical roles (a weekend without
// signal), shorter for reception, which is usually online.
const (
	DefaultLease       = 72 * time.Hour
	FrontDeskLease     = 24 * time.Hour
	BreakGlassDuration = 2 * time.Hour
	DefaultAutoLock    = 5 * time.Minute
	DefaultFreshness   = 24 * time.Hour
)

// DemographicSections are what front-desk staff see.
var DemographicSections = []string{record.SectionDemographics, record.SectionGP}

// ClinicalSections are everything else a summary holds.
var ClinicalSections = []string{
	record.SectionAlerts, record.SectionAllergies, record.SectionMedications, record.SectionProblems,
	record.SectionEncounters, record.SectionObservations, record.SectionCarePlans, record.SectionImmunizations,
	record.SectionOther,
}

// For returns a role's rules.
func For(r Role) Rules {
	all := append(append([]string{}, DemographicSections...), ClinicalSections...)
	switch r {
	case Paramedic:
		return Rules{Role: r, Sections: all, Purpose: PurposeEmergency, Lease: DefaultLease, BreakGlass: true, AutoLock: DefaultAutoLock, Freshness: DefaultFreshness, Syncs: true}
	case Community:
		return Rules{Role: r, Sections: all, Purpose: PurposeDirect, Lease: DefaultLease, BreakGlass: true, AutoLock: DefaultAutoLock, Freshness: DefaultFreshness, Syncs: true}
	case FrontDesk:
		return Rules{Role: r, Sections: DemographicSections, Purpose: PurposeAdmin, Lease: FrontDeskLease, AutoLock: DefaultAutoLock, Freshness: DefaultFreshness, Syncs: true}
	}
	return Rules{Role: r, AutoLock: DefaultAutoLock, Freshness: DefaultFreshness}
}

// Wire returns the rules as the protocol carries them.
func (r Rules) Wire() protocol.Policy {
	return protocol.Policy{
		LeaseSeconds:      int64(r.Lease / time.Second),
		BreakGlassSeconds: int64(BreakGlassDuration / time.Second),
		AutoLockSeconds:   int64(r.AutoLock / time.Second),
		FreshnessSeconds:  int64(r.Freshness / time.Second),
		Sections:          r.Sections,
		Purpose:           PurposeCode(r.Purpose),
		BreakGlass:        r.BreakGlass,
	}
}

// Doc kinds a decision picks (the store keeps both per patient).
const (
	DocFull         = "full"
	DocDemographics = "demographics"
)

// Decision is what one user gets of one patient.
type Decision struct {
	Send     bool   // false: the patient is not offered (and is revoked if held)
	Revoke   string // why not, as a protocol delete reason, when !Send
	Doc      string // DocFull or DocDemographics
	Sections []string
	Withheld []protocol.Withheld
}

// PatientFacts is what the decision needs to know about the patient.
type PatientFacts struct {
	Objections []string       // purposes objected to
	Sensitive  int            // items withheld for a sensitive label
	Sections   []string       // sections present in the full document
	Omitted    map[string]int // resource types not in a care summary
	TooLarge   bool
	Restricted bool // the Patient resource is restricted: offered to nobody
	Unstorable bool // no document of the patient is storable by the client
}

// Decide applies the role's rules and the patient's objections.
func Decide(r Rules, p PatientFacts) Decision {
	if !r.Syncs {
		return Decision{Revoke: protocol.DelNotPermitted}
	}
	switch {
	case p.Restricted, p.Unstorable:
		// Restricted goes out as not-permitted: the device is told to
		// purge, never why, so no one learns the patient's status from it.
		return Decision{Revoke: protocol.DelNotPermitted}
	}
	objected := false
	for _, o := range p.Objections {
		if o == r.Purpose {
			objected = true
		}
	}
	if objected && r.Role == FrontDesk {
		// Reception sees demographics only already; an objection to
		// administration takes the patient off reception laptops entirely.
		return Decision{Revoke: protocol.DelObjection}
	}
	d := Decision{Send: true, Doc: DocFull, Sections: r.Sections}
	if r.Role == FrontDesk || objected || p.TooLarge {
		d.Doc = DocDemographics
		d.Sections = DemographicSections
	}
	if objected {
		d.Withheld = append(d.Withheld, protocol.Withheld{Reason: protocol.WithheldObjection, Purpose: r.Purpose, Sections: present(p.Sections, ClinicalSections)})
	}
	if p.TooLarge && !objected && r.Role != FrontDesk {
		d.Withheld = append(d.Withheld, protocol.Withheld{Reason: protocol.WithheldTooLarge, Sections: present(p.Sections, ClinicalSections)})
	}
	if p.Sensitive > 0 && d.Doc == DocFull {
		d.Withheld = append(d.Withheld, protocol.Withheld{Reason: protocol.WithheldSensitive, Count: p.Sensitive})
	}
	return d
}

// present returns the sections of want that have content, sorted.
func present(have, want []string) []string {
	var out []string
	for _, w := range want {
		for _, h := range have {
			if h == w {
				out = append(out, w)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// SummaryTypes are the resource types a care summary document carries;
// other types (claims, billing, provenance) stay on the server and are
// counted in the document's metadata so nothing disappears silently.
var SummaryTypes = map[string]bool{
	"Patient": true, "Organization": true, "Practitioner": true, "PractitionerRole": true, "Location": true,
	"RelatedPerson": true, "Flag": true, "AllergyIntolerance": true, "MedicationRequest": true,
	"MedicationStatement": true, "Medication": true, "Condition": true, "Encounter": true,
	"Observation": true, "CarePlan": true, "CareTeam": true, "Goal": true, "Immunization": true,
	"Procedure": true, "Device": true, "List": true, "Composition": true,
}

// DemographicTypes are the resource types a demographics document carries.
var DemographicTypes = map[string]bool{"Patient": true, "Organization": true, "Practitioner": true, "PractitionerRole": true}
