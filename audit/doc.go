// Package audit owns the access-audit trail shared by the client and the
// server: the event model, its canonical encoding, the per-device hash
// chain, device signatures, the server's verification of uploaded batches,
// and the mapping to FHIR R4 AuditEvent (IHE BALP).
//
// It is pure logic. It stores nothing, sends nothing and shows nothing: the
// client core keeps the outbox in the encrypted cache (through ChainStore),
// the sync layer carries batches, and the server's store keeps what
// VerifyBatch accepts. It imports only record's NHS number.
//
// Every search, view, break-glass, login, unlock, failed unlock, lock, wipe,
// export and denied access is an Event. The client writes it with Append in
// the same cache transaction as the access it records, before any data is
// shown: if Append fails, the access does not happen.
//
// # Chain
//
// Each device numbers its events 1, 2, 3 ... without gaps (Seq) and puts the
// hash of the previous event in each (Prev). The hash is SHA-256 over the
// label "kmcr-audit/v1 event", a NUL byte and the event's canonical
// encoding: a fixed-order JSON object written by hand (see Canonical), so
// the bytes never depend on a library's choices. Decode accepts only those
// bytes, so an event has exactly one encoding and one hash.
//
// At enrolment the device makes an Ed25519 key pair (NewDeviceKey); the
// server records the public key. On every upload the device signs its
// current head, (seq, hash), under a domain-separated message that also
// names the device (SignHead), so the server can tell a restored copy of an
// old cache, or a stranger's batch, from the device's real chain.
//
// # Verification
//
// The server keeps a DeviceChain per device and passes each uploaded batch
// to VerifyBatch, which says what to store (Accepted, Malformed, Conflicts),
// what it already has (Duplicates), what to alert on (Alerts), the new
// chain state (Next) and how far the client may delete (AckThrough).
// Delivery is at-least-once from the client, and exactly-once in the store
// by (device, seq): a re-sent event with the same hash is a duplicate, one
// with a different hash is kept aside as a conflict and never overwrites.
//
// Nothing the device sent is discarded. A gap, a reordered batch, a broken
// link, a rolled-back cache, a bad signature or a skewed clock each raise an
// Alert, and the events are still kept: an audit trail with a hole is still
// evidence, and the alert says where the hole is. Because every item in a
// batch is kept in some form, every item can be acknowledged, so a client
// never re-sends forever, and never deletes what the server did not keep.
//
// # FHIR
//
// ToFHIR and Bundle present stored events as FHIR R4 AuditEvents. Views
// follow the IHE BALP PatientRead profile and searches PatientQuery (or
// Query without a patient); BALP fixes those profiles to success, so a
// failed or denied access carries the same shape without claiming the
// profile. Logins, unlocks and locks use DICOM "User Authentication" with
// Login or Logout, break-glass a DICOM security alert ("Emergency Override
// Started"), exports DICOM "Export" with the ISO 21089 "disclose" subtype.
// Each AuditEvent has a stable id derived from the device and seq, and
// extensions carrying the seq and chain hash. docs/audit.md has the table.
package audit
