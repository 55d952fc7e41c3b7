package core

import (
	"errors"
	"time"

	"kmcr/cache"
	"kmcr/internal/storeddoc"
	"kmcr/present"
	"kmcr/record"
	"kmcr/sync/syncclient"
)

// This file holds the core's own types for what its callers see: the
// screens and the command line use these and never the cache's or the sync
// client's, which are translated here, at the core's boundary.

// PatientEntry is one patient as a search or a list finds them: the keys
// the cache's index holds, as the banner shows them. JSON keys are part of
// the command line's interface.
type PatientEntry struct {
	NHS       record.NHSNumber `json:"nhs"`
	Family    string           `json:"family"`
	Given     string           `json:"given"`
	BirthDate string           `json:"birth_date"` // YYYY-MM-DD, or empty if unknown
	Postcode  string           `json:"postcode"`
	Display   string           `json:"display"` // e.g. "SMITH, John (Mr)"
	// Deceased is set when the record says the patient has died; DeathDate
	// is when (YYYY-MM-DD, or YYYY-MM or YYYY as recorded), or empty when
	// the date is not recorded.
	Deceased  bool   `json:"deceased"`
	DeathDate string `json:"death_date"`
	// SimilarOnDevice is set when another patient on this device has a
	// closely matching name, date of birth and postcode.
	SimilarOnDevice bool `json:"similar_on_device"`
	// Gender is the FHIR administrative gender, when recorded.
	Gender string `json:"gender,omitempty"`
	// Held is why this device holds the patient (the relationship the
	// server sent: caseload, break-glass, incident...); HeldMark is what a
	// list shows for it ("EMERGENCY ACCESS", "INCIDENT"; "" for caseload).
	Held     string `json:"held,omitempty"`
	HeldMark string `json:"held_mark,omitempty"`
}

func entryOf(e cache.IndexEntry) PatientEntry {
	p := PatientEntry{NHS: e.NHS, Family: e.Family, Given: e.Given, BirthDate: e.BirthDate, Postcode: e.Postcode, Display: e.Display,
		Gender: e.Gender, Held: e.Held, HeldMark: present.HeldMark(present.Relationship(e.Held))}
	if e.Died != "" {
		p.Deceased = true
		if e.Died != storeddoc.DiedDateUnknown {
			p.DeathDate = e.Died
		}
	}
	return p
}

// Banner is the entry as a patient banner shows it (present decides the
// words: the age stops at death, and a death is shown).
func (e PatientEntry) Banner(now time.Time) present.Banner {
	d := record.Demographics{NHS: e.NHS, BirthDate: record.ParseDate(e.BirthDate), Deceased: e.Deceased, DeceasedOn: record.ParseDate(e.DeathDate), Gender: e.Gender}
	d.Name.Family = e.Family
	if e.Given != "" {
		d.Name.Given = []string{e.Given}
	}
	d.Address.Postcode = e.Postcode
	b := present.BannerOf(&d, e.NHS, now)
	if e.Display != "" {
		b.Name = e.Display
	}
	return b
}

// entriesOf translates a list of index entries; an empty list is empty,
// not nil, so it prints as [] in JSON.
func entriesOf(in []cache.IndexEntry) []PatientEntry {
	out := make([]PatientEntry, len(in))
	for i, e := range in {
		out[i] = entryOf(e)
	}
	return out
}

// SyncKind is what the connection to the server is doing.
type SyncKind int

// Connection states, in the sync client's order (a test holds them equal).
const (
	// SyncOffline: no connection. Err says why when an attempt failed, and
	// RetryIn when the next attempt is due.
	SyncOffline SyncKind = iota
	// SyncConnecting: refreshing the token, dialling, or waiting for the
	// server's welcome.
	SyncConnecting
	// SyncSyncing: connected, and a full or catch-up sync is arriving;
	// Done of Total documents applied.
	SyncSyncing
	// SyncUpToDate: connected and current. AsOf is when the server last
	// declared the cache complete.
	SyncUpToDate
	// SyncError: something the user must act on (log in again, device
	// revoked, untrusted certificate, update the client, local storage
	// failing). Err says what.
	SyncError
)

// String names the state as the status bar shows it.
func (k SyncKind) String() string { return syncclient.StateKind(k).String() }

// SyncState is a truthful snapshot of the connection.
type SyncState struct {
	Kind SyncKind
	// Done and Total count documents in a full or catch-up sync.
	Done, Total int
	// AsOf is when the server last declared this device up to date.
	AsOf time.Time
	// Err is the reason for SyncError, and for SyncOffline after a failure.
	Err string
	// RetryIn is the delay before the next attempt, when one is scheduled.
	RetryIn time.Duration
}

func syncStateOf(s syncclient.State) SyncState {
	return SyncState{Kind: SyncKind(s.Kind), Done: s.Done, Total: s.Total, AsOf: s.AsOf, Err: s.Err, RetryIn: s.RetryIn}
}

// String renders the state for logs and a plain-text progress line.
func (s SyncState) String() string {
	return syncclient.State{Kind: syncclient.StateKind(s.Kind), Done: s.Done, Total: s.Total, AsOf: s.AsOf, Err: s.Err, RetryIn: s.RetryIn}.String()
}

// progressOf adapts a caller's progress function to the sync client's.
func progressOf(fn func(SyncState)) func(syncclient.State) {
	if fn == nil {
		return nil
	}
	return func(s syncclient.State) { fn(syncStateOf(s)) }
}

// Errors of the cache that callers tell apart. They are the cache's own
// values, so errors.Is holds whichever package a caller names.
var (
	// ErrWrongPassphrase is returned (inside a *RetryError) by Unlock and
	// ChangePassphrase when the passphrase is wrong.
	ErrWrongPassphrase = cache.ErrWrongPassphrase
	// ErrTooSoon is returned (inside a *RetryError) when an attempt comes
	// too soon after repeated wrong passphrases.
	ErrTooSoon = cache.ErrTooSoon
	// ErrAlreadyRunning is returned when another kmcr (window or command)
	// holds the profile: by Unlock and Wipe through the cache's lock, and
	// by ListenControl when another kmcr answers on the control socket.
	ErrAlreadyRunning = cache.ErrAlreadyRunning
	// ErrBadQuery is returned (wrapped, with the reason) by Search when part
	// of the query is not understood.
	ErrBadQuery = cache.ErrBadQuery
)

// RetryError is returned after a wrong passphrase (it matches
// ErrWrongPassphrase) or when an attempt comes too soon (ErrTooSoon). Wait
// is how long the caller must wait before the next attempt will be tried.
type RetryError struct {
	Wait time.Duration
	// Failures counts the wrong passphrases in a row so far; NextWait is
	// the wait one more wrong passphrase would impose (0 while they are
	// still free).
	Failures int
	FreeLeft int // wrong passphrases still without a wait
	NextWait time.Duration
	err      error // the chain holding the cache's *RetryError
}

// Error says what happened and, if the caller must wait, for how long.
func (e *RetryError) Error() string { return e.err.Error() }

// Unwrap returns the lower error, so errors.Is and errors.As see through.
func (e *RetryError) Unwrap() error { return e.err }

// boundary translates an error of a lower package into the core's own
// types where it has one; the lower error stays in the chain.
func boundary(err error) error {
	var re *cache.RetryError
	if errors.As(err, &re) {
		return &RetryError{Wait: re.Wait, Failures: re.Failures, FreeLeft: re.FreeLeft, NextWait: re.NextWait, err: err}
	}
	return err
}
