// Package syncclient is one device's connection to kmcr-server: login and
// token refresh over HTTPS, then a websocket session that brings the
// encrypted cache up to date, keeps it live, and delivers the audit queue.
//
// # Basics
//
// The client core (package app) implements Applier on top of its cache and
// TokenStore on top of its sealed settings, then runs Client.Serve on a
// goroutine of its own. Serve connects, sends Hello with the cache's
// cursor, applies each Batch through the Applier (one transaction per
// batch) and acknowledges it, applies UpToDate, and then applies live
// changes as they come. It uploads queued audit events after Welcome,
// whenever FlushAudit is called, and after each AuditAck while more are
// queued, one upload in flight at a time; the Applier deletes exactly the
// events through each ack's Through. State reports what is really
// happening, for the status bar: connecting, syncing n of N, up to date as
// of a time, offline with the reason and the next retry, or an error the
// user must act on.
//
// SyncOnce is the same session run once, for "Sync now" and the command
// line: it returns nil only when the cache is up to date and the audit
// queue has been flushed and acknowledged.
//
// # Failures
//
// Every failure is followed by a reconnect with full-jitter exponential
// backoff (see Backoff), except these. An expired access token (close
// 4001) is refreshed and the connection reopened at once. A refused token
// (4002) is refreshed once; if the refresh credential is refused too,
// Serve returns ErrLoginRequired. A revoked device (4003, or the API's
// device_revoked) is wiped through Applier.Wipe and Serve returns
// ErrDeviceRevoked; a Wipe message does the same with ErrWiped. A server
// that breaks the protocol (a batch out of sequence, a second Welcome, an
// ack for an upload not sent, anything before Welcome) is closed with
// protocol.CloseOutOfOrder; a batch the Applier rejects as malformed
// (ErrBadBatch) with protocol.CloseProtocolError, and nothing of it is
// stored. A connection that stops carrying frames is noticed by the
// heartbeat within Timeouts.Read.
//
// # Several nodes
//
// A central record served by several kmcr-server nodes (peers on one
// database, sharing the CA, store and token keys) is given as
// Config.Servers. Login, refresh and sync go to the current address; a
// failure that may be the node's (unreachable, an untrusted certificate,
// HTTP 5xx, a dropped or closed connection) moves the client to the next
// address with the same cursor and credentials, at once but for a short
// jitter; one round over every address comes before each backoff step.
// Client.Server and State.Server say which address is in use.
//
// # Caveats
//
// The Applier is called from the goroutine running Serve, one call at a
// time, and acknowledgements wait for it: a slow Applier slows the sync
// but never loses data, since the server resends from the cursor in Hello.
// The server may have up to Window batches of at most
// protocol.MaxServerMessage bytes each in flight, which bounds the
// client's memory.
//
// Refresh credentials are exchanged once (the server honours the old one
// for protocol.RefreshGrace in case an answer is lost on the way, and no
// longer). The client stores each new token
// answer through TokenStore.SaveTokens before using it; if storing fails
// it keeps the answer in memory and retries, and reports an Error state,
// rather than lose the only valid credential.
//
// BreakGlass needs a live session and returns ErrOffline without one; what
// to offer the user offline is the client core's decision.
package syncclient
