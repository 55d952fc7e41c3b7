package syncclient

import (
	"time"

	"kmcr/sync/protocol"
)

// Applier is the client core's side of a sync session: it stores what the
// server sends in the encrypted cache and hands over queued audit events.
// It is declared here, by its caller, and implemented by package core.
//
// The client calls it from one goroutine at a time, in the order messages
// arrive; a call may take tens of milliseconds.
type Applier interface {
	// Cursor is how far the cache reflects the server, as last stored by
	// ApplyBatch or ApplyUpToDate. It is sent in Hello so an interrupted
	// sync resumes where it stopped.
	Cursor() (protocol.Cursor, error)
	// ApplyBatch stores one batch in one transaction: its deletes, then its
	// upserts, then (in a full sync, Cursor.Phase "full") the purge of
	// every cached patient inside b.Range that b does not upsert, then
	// b.Cursor. It returns an error wrapping ErrBadBatch if the content
	// is malformed, and must then have stored nothing.
	ApplyBatch(b *protocol.Batch) error
	// ApplyUpToDate stores the end of a sync: in a full sync it purges
	// u.Range like a batch's, it renews the lease of every caseload
	// document to u.LeaseUntil, records u.AsOf as the cache's "as of"
	// time, and stores u.Cursor, in one transaction.
	ApplyUpToDate(u *protocol.UpToDate) error
	// Wipe destroys every key and the cache. reason is for the user.
	Wipe(reason string) error
	// AuditHead is the device's signed audit chain head, or nil if no
	// event has been written yet.
	AuditHead() (*protocol.SignedHead, error)
	// PendingAudit returns the oldest queued audit events, in sequence
	// order, at most max of them and at most maxBytes of event bytes in
	// all, with the signed head through the last one. It returns nil or an
	// upload with no events when nothing is queued. The client fills in ID.
	PendingAudit(max int, maxBytes int) (*protocol.AuditUpload, error)
	// AckAudit deletes every queued event with a sequence number up to
	// and including through: the server has stored them durably.
	AckAudit(through uint64) error
}

// WelcomeApplier is implemented by an Applier that wants each session's
// Welcome: the user, policy and epoch it runs under, and whether a reset
// (full resync, for example after a server restore) follows. ApplyWelcome
// is called before any batch of the session; an error ends the session.
type WelcomeApplier interface {
	ApplyWelcome(w *protocol.Welcome) error
}

// Preparer is implemented by an Applier that can do a batch's CPU work
// (checking and parsing its documents) as soon as the batch arrives, while
// the previous batch is still being stored. PrepareBatch is called from the
// session's reader goroutine, once per batch and before ApplyBatch is
// called for it; it must store nothing. ApplyBatch must still work for a
// batch that was never prepared.
type Preparer interface {
	PrepareBatch(b *protocol.Batch)
}

// BatchesApplier is implemented by an Applier that can store several
// consecutive batches in one transaction, with the cursor of the last: the
// client hands it the batches already waiting when it falls behind, which
// saves a commit (and its fsync) per batch. It must store all of them or
// none, and wrap ErrBadBatch like ApplyBatch.
type BatchesApplier interface {
	ApplyBatches(bs []*protocol.Batch) error
}

// maxCoalesce bounds how many waiting batches one transaction takes.
const maxCoalesce = 8

// AuditCounter is implemented by an Applier that can count its queued
// audit events cheaply; State.PendingAudit reports it, -1 otherwise.
type AuditCounter interface {
	QueuedAudit() int
}

// TokenStore keeps the access token and refresh credential, sealed by the
// client core. A refresh credential is single use: SaveTokens must have
// stored a new TokenResponse durably before the client uses it, or a crash
// would log the user out.
type TokenStore interface {
	// Tokens returns the current access token, its expiry and the refresh
	// credential; empty strings when there are none.
	Tokens() (access, refresh string, expires time.Time, err error)
	// SaveTokens stores a login or refresh answer durably.
	SaveTokens(r *protocol.TokenResponse) error
}
