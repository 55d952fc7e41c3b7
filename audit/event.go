package audit

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"kmcr/record"
)

// Action names what a user did. The set is closed: Validate rejects any
// other value, because a report that groups by action must know them all.
type Action string

// The audited actions.
const (
	ActionSearch       Action = "search"        // a patient search, online or in the local index
	ActionView         Action = "view"          // a patient summary shown on screen
	ActionBreakGlass   Action = "break-glass"   // emergency access granted to a patient with no relationship
	ActionLogin        Action = "login"         // the user signed in to the central record
	ActionUnlock       Action = "unlock"        // the local cache was unlocked
	ActionUnlockFailed Action = "unlock-failed" // a wrong passphrase or a missing device secret
	ActionLock         Action = "lock"          // the cache was locked (by the user or on idle)
	ActionWipe         Action = "wipe"          // the cache was destroyed (by the user or on the server's order)
	ActionExport       Action = "export"        // a summary was printed or saved outside the cache
	ActionDenied       Action = "denied"        // an access the policy refused
)

// Actions returns every action in a fixed order, for tables and reports.
// It returns a new slice each time, so no caller can change another's.
func Actions() []Action {
	return []Action{
		ActionSearch, ActionView, ActionBreakGlass, ActionLogin, ActionUnlock,
		ActionUnlockFailed, ActionLock, ActionWipe, ActionExport, ActionDenied,
	}
}

// Result is how an action ended.
type Result string

// The results an Outcome can carry.
const (
	ResultSuccess Result = "success"
	ResultFailure Result = "failure" // attempted and did not happen (wrong passphrase, decryption error)
	ResultDenied  Result = "denied"  // refused by policy; only with ActionDenied
)

// Outcome is the result of an action plus a short explanation.
type Outcome struct {
	Result Result
	Detail string // free text, e.g. "no legitimate relationship"; may be empty on success
}

// Actor is the person who acted, as the central record knows them.
type Actor struct {
	ID   string // stable user identifier issued by the central record
	Name string // display name at the time of the event
	Role string // role code, e.g. "paramedic", "front-desk"
}

// Device is the machine the action happened on.
type Device struct {
	ID   string // enrolment identifier issued by the server; the chain is per Device.ID
	Host string // host name, for people reading the log
}

// BreakGlass is the reason a user gave for emergency access.
type BreakGlass struct {
	ReasonCode string // coded reason from the break-glass screen, e.g. "unconscious"
	ReasonText string // what the user typed; never empty
}

// Event is one audited action. Seq and Prev are filled by Next (and Append);
// everything else is the caller's. The zero value is not valid.
type Event struct {
	Seq        uint64           // per device, from 1, without gaps
	Prev       Hash             // hash of event Seq-1; zero for Seq 1
	Action     Action           //
	Occurred   time.Time        // device clock; encoded in UTC with nanoseconds
	User       Actor            //
	Device     Device           //
	Patient    record.NHSNumber // the patient; empty for login, unlock, lock and wipe
	Sections   []string         // summary sections shown or exported ("allergies", ...)
	Query      string           // search text; sealed on the device, shown only to privacy officers
	Results    int              // number of search results
	Purpose    string           // purpose of use, an HL7 v3 ActReason code: TREAT, ETREAT, HOPERAT ...
	BreakGlass *BreakGlass      // set for break-glass, and for accesses made under it
	Outcome    Outcome          //
}

// ErrInvalidEvent is returned (wrapped, naming the field) by Validate, and so
// by Append and Decode, when an event breaks a rule in the table on Validate.
var ErrInvalidEvent = errors.New("invalid audit event")

// Field limits. They keep the canonical encoding of any valid event far
// below MaxEventSize, so Append never fails on size for a valid event.
const (
	maxIDLen       = 128  // user and device identifiers
	maxNameLen     = 256  // display names and host names
	maxCodeLen     = 64   // roles, sections, purposes, reason codes
	maxQueryLen    = 1024 // search text
	maxTextLen     = 4096 // break-glass reason, outcome detail
	maxSections    = 32
	minOccurredYr  = 1970 // a device whose clock reset still records; year 1 is a bug
	maxOccurredYr  = 9999 // RFC 3339 has four-digit years
	fieldForbidden = 0
	fieldOptional  = 1
	fieldRequired  = 2
)

// actionRule says which fields an action needs (fieldRequired), may carry
// (fieldOptional), or must leave empty (fieldForbidden).
type actionRule struct {
	patient, sections, query, purpose, breakGlass int
	results                                       []Result // allowed outcome results
}

var (
	doneOrFailed = []Result{ResultSuccess, ResultFailure}
	rules        = map[Action]actionRule{
		ActionSearch:       {fieldOptional, fieldForbidden, fieldRequired, fieldRequired, fieldOptional, doneOrFailed},
		ActionView:         {fieldRequired, fieldRequired, fieldForbidden, fieldRequired, fieldOptional, doneOrFailed},
		ActionBreakGlass:   {fieldRequired, fieldOptional, fieldForbidden, fieldRequired, fieldRequired, doneOrFailed},
		ActionExport:       {fieldRequired, fieldRequired, fieldForbidden, fieldRequired, fieldOptional, doneOrFailed},
		ActionDenied:       {fieldOptional, fieldOptional, fieldOptional, fieldOptional, fieldOptional, []Result{ResultDenied}},
		ActionLogin:        {fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, doneOrFailed},
		ActionUnlock:       {fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, []Result{ResultSuccess}},
		ActionUnlockFailed: {fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, []Result{ResultFailure}},
		ActionLock:         {fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, doneOrFailed},
		ActionWipe:         {fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, fieldForbidden, doneOrFailed},
	}
)

// Validate checks the fields the caller fills (not Seq and Prev, which the
// chain owns). The rules, per action:
//
//	action         patient   sections  query     purpose   break-glass  outcome
//	search         optional* -         required  required  optional     success|failure
//	view           required  required  -         required  optional     success|failure
//	break-glass    required  optional  -         required  required     success|failure
//	export         required  required  -         required  optional     success|failure
//	denied         optional  optional  optional  optional  optional     denied
//	login, lock,   -         -         -         -         -            success|failure
//	wipe
//	unlock         -         -         -         -         -            success
//	unlock-failed  -         -         -         -         -            failure
//
// (*) a search names a patient only when it had exactly one result.
// Results is only for search and never negative. Every event needs an
// occurred time (years 1970 to 9999), a user ID and role, and a device ID
// and host. Text must be valid UTF-8 without control characters (free text
// may hold tabs and line breaks), within the lengths in the package limits.
func (e Event) Validate() error {
	r, ok := rules[e.Action]
	if !ok {
		return invalid("action", "unknown action %q", e.Action)
	}
	if e.Occurred.IsZero() {
		return invalid("occurred", "missing")
	}
	if y := e.Occurred.UTC().Year(); y < minOccurredYr || y > maxOccurredYr {
		return invalid("occurred", "year %d outside %d to %d", y, minOccurredYr, maxOccurredYr)
	}
	checks := []struct {
		field    string
		value    string
		max      int
		required bool
		code     bool // a code: no spaces at the ends, no double spaces
	}{
		{"user.id", e.User.ID, maxIDLen, true, true},
		{"user.name", e.User.Name, maxNameLen, false, false},
		{"user.role", e.User.Role, maxCodeLen, true, true},
		{"device.id", e.Device.ID, maxIDLen, true, true},
		{"device.host", e.Device.Host, maxNameLen, true, true},
		{"purpose", e.Purpose, maxCodeLen, r.purpose == fieldRequired, true},
	}
	for _, c := range checks {
		if err := checkText(c.field, c.value, c.max, c.required, c.code); err != nil {
			return err
		}
	}
	if err := presence("purpose", e.Purpose != "", r.purpose); err != nil {
		return err
	}
	if err := e.validatePatient(r); err != nil {
		return err
	}
	if err := e.validateSections(r); err != nil {
		return err
	}
	if err := presence("query", e.Query != "", r.query); err != nil {
		return err
	}
	if err := checkFreeText("query", e.Query, maxQueryLen); err != nil {
		return err
	}
	if e.Results < 0 {
		return invalid("results", "negative (%d)", e.Results)
	}
	if e.Results != 0 && e.Action != ActionSearch {
		return invalid("results", "only a search has results")
	}
	if e.Action == ActionSearch && !e.Patient.IsZero() && e.Results != 1 {
		return invalid("patient", "a search names a patient only when it had exactly one result (had %d)", e.Results)
	}
	if err := e.validateBreakGlass(r); err != nil {
		return err
	}
	return e.validateOutcome(r)
}

func (e Event) validatePatient(r actionRule) error {
	if err := presence("patient", !e.Patient.IsZero(), r.patient); err != nil {
		return err
	}
	if e.Patient.IsZero() {
		return nil
	}
	n, err := record.ParseNHSNumber(string(e.Patient))
	if err != nil {
		return fmt.Errorf("%w: patient: %w", ErrInvalidEvent, err)
	}
	if n != e.Patient {
		return invalid("patient", "%q is not held as ten digits", string(e.Patient))
	}
	return nil
}

func (e Event) validateSections(r actionRule) error {
	if err := presence("sections", len(e.Sections) > 0, r.sections); err != nil {
		return err
	}
	if len(e.Sections) > maxSections {
		return invalid("sections", "%d sections, at most %d", len(e.Sections), maxSections)
	}
	for i, s := range e.Sections {
		if err := checkText(fmt.Sprintf("sections[%d]", i), s, maxCodeLen, true, true); err != nil {
			return err
		}
		for _, t := range e.Sections[:i] {
			if s == t {
				return invalid("sections", "%q listed twice", s)
			}
		}
	}
	return nil
}

func (e Event) validateBreakGlass(r actionRule) error {
	if err := presence("breakGlass", e.BreakGlass != nil, r.breakGlass); err != nil {
		return err
	}
	if e.BreakGlass == nil {
		return nil
	}
	if err := checkText("breakGlass.reasonCode", e.BreakGlass.ReasonCode, maxCodeLen, true, true); err != nil {
		return err
	}
	if strings.TrimSpace(e.BreakGlass.ReasonText) == "" {
		return invalid("breakGlass.reasonText", "missing: emergency access needs the user's own words")
	}
	return checkFreeText("breakGlass.reasonText", e.BreakGlass.ReasonText, maxTextLen)
}

func (e Event) validateOutcome(r actionRule) error {
	allowed := false
	for _, res := range r.results {
		allowed = allowed || e.Outcome.Result == res
	}
	if !allowed {
		return invalid("outcome.result", "%q not allowed for %s (want one of %v)", e.Outcome.Result, e.Action, r.results)
	}
	return checkFreeText("outcome.detail", e.Outcome.Detail, maxTextLen)
}

func presence(field string, present bool, rule int) error {
	switch {
	case rule == fieldRequired && !present:
		return invalid(field, "missing")
	case rule == fieldForbidden && present:
		return invalid(field, "not allowed for this action")
	}
	return nil
}

// checkText checks an identifier, name or code: valid UTF-8, no control
// characters, within max bytes; a code also has no spaces at either end and
// no runs of spaces (the FHIR code rule), so it compares reliably.
func checkText(field, s string, max int, required, code bool) error {
	if s == "" {
		if required {
			return invalid(field, "missing")
		}
		return nil
	}
	if len(s) > max {
		return invalid(field, "%d bytes, at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid(field, "not valid UTF-8")
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return invalid(field, "contains control character %U", c)
		}
	}
	if code && (strings.TrimSpace(s) != s || strings.Contains(s, "  ")) {
		return invalid(field, "%q has spaces at an end or in a run", s)
	}
	return nil
}

// checkFreeText is checkText for what people type: tabs and line breaks
// are allowed, other control characters are not.
func checkFreeText(field, s string, max int) error {
	if len(s) > max {
		return invalid(field, "%d bytes, at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid(field, "not valid UTF-8")
	}
	for _, c := range s {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			return invalid(field, "contains control character %U", c)
		}
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidEvent, field, fmt.Sprintf(format, args...))
}
