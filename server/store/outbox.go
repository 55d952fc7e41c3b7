package store

import "time"

// Notification kinds: what a patient is told about.
const (
	// NotifyBreakGlass is an emergency (break-glass) access to the record.
	NotifyBreakGlass = "break-glass"
	// NotifyFirstView is the first access by an organisation that had
	// never accessed the record before.
	NotifyFirstView = "first-view"
)

// Notification is one entry of the patient notification outbox. Its ID is
// derived from the event it tells of ("break-glass/DEVICE/SEQ",
// "first-view/NHS/ODS"), so an event queued twice (an upload sent again,
// two nodes) is one entry.
type Notification struct {
	ID      string    `json:"id"`
	NHS     string    `json:"nhs"`
	Kind    string    `json:"kind"`
	Org     string    `json:"org,omitempty"` // the organisation's ODS code
	Who     string    `json:"who,omitempty"` // the person's name (break-glass)
	At      time.Time `json:"at"`            // when the access happened
	Created time.Time `json:"created"`
	// Quiet entries only hold their ID (the organisation had accessed
	// the record before notifications began): never listed nor sent.
	Quiet bool `json:"quiet,omitempty"`

	// The outbox state: who holds the claim since when, how many claims
	// were made, when the next may be, the last relay failure, and when
	// the relay accepted the email (To: the address; empty when the
	// patient has none, and the entry is listed in the portal only).
	ClaimedBy   string    `json:"claimed_by,omitempty"`
	ClaimedAt   time.Time `json:"claimed_at,omitempty"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	Sent        time.Time `json:"sent,omitempty"`
	To          string    `json:"to,omitempty"`
}

// Outbox is the durable patient notification outbox, and the addresses
// notifications go to. Part of Store.
type Outbox interface {
	// AddNotifications queues the entries whose ID is not yet known and
	// returns how many were added; a known ID is left as it is.
	AddNotifications(ns []Notification) (int, error)
	// Notification returns one entry (ErrNotFound).
	Notification(id string) (Notification, error)
	// PatientNotifications returns a patient's entries that are not
	// Quiet, the newest access (At) first.
	PatientNotifications(nhs string) ([]Notification, error)
	// ClaimNotification atomically claims for node the oldest (by
	// Created, then ID) entry that is not Quiet, not sent, due (its
	// NextAttempt not after now) and unclaimed or claimed at or before
	// now-stale (a node that died holding it), counting the attempt. ok
	// is false when there is none. Two callers never get the same entry
	// while its claim is younger than stale.
	ClaimNotification(node string, now time.Time, stale time.Duration) (n Notification, ok bool, err error)
	// NotificationSent marks an entry sent at at, to the address to
	// (empty: no address), and ends its claim, whoever holds it: the
	// email has gone. ErrNotFound.
	NotificationSent(id, node string, at time.Time, to string) error
	// NotificationRetry ends node's claim after a failure, keeping
	// reason, and makes the entry due again at next. A claim node no
	// longer holds is left alone. ErrNotFound.
	NotificationRetry(id, node string, next time.Time, reason string) error
	// SetContact keeps the email address a patient's notifications go
	// to (empty removes it); Contact returns it, empty when none.
	SetContact(nhs, email string) error
	Contact(nhs string) (string, error)
}
