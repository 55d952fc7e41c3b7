package protocol

import "time"

// Type is the first byte of every frame: which message follows.
type Type uint8

// Message types. Directions: C→S from client to server, S→C the other way.
const (
	TypeHello            Type = 1  // C→S, first message
	TypeWelcome          Type = 2  // S→C, answer to Hello
	TypeBatch            Type = 3  // S→C, documents and revocations
	TypeAck              Type = 4  // C→S, a batch and its cursor are durable
	TypeUpToDate         Type = 5  // S→C, everything up to the cursor has been sent
	TypeWipe             Type = 6  // S→C, destroy every key and the cache
	TypeAuditUpload      Type = 7  // C→S, queued audit events
	TypeAuditAck         Type = 8  // S→C, events stored durably through a sequence
	TypeBreakGlass       Type = 9  // C→S, emergency access request
	TypeBreakGlassResult Type = 10 // S→C, its answer
	TypeError            Type = 11 // either way, just before a close: the reason
	// Reserved for features negotiated through Hello.Features and
	// Welcome.Features (see FeatureTrace, FeatureIncident).
	TypeTrace       Type = 12 // C→S, break-glass trace by demographics (FeatureTrace)
	TypeTraceResult Type = 13 // S→C, its answer (FeatureTrace)
	TypeIncidents   Type = 14 // S→C, the open incidents the user is crew on (FeatureIncident)
)

// Features a client lists in Hello.Features and a server in
// Welcome.Features. A side uses a feature only when the other listed it, so
// an older peer without it keeps working.
const (
	// FeatureTrace: the client may send Trace (a break-glass search by
	// family name and date of birth, answered online by the server).
	FeatureTrace = "trace"
	// FeatureIncident: the server may send documents with relationship
	// RelIncident and Incidents messages.
	FeatureIncident = "incident"
)

// String names a message type as docs/protocol.md does.
func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeWelcome:
		return "welcome"
	case TypeBatch:
		return "batch"
	case TypeAck:
		return "ack"
	case TypeUpToDate:
		return "up_to_date"
	case TypeWipe:
		return "wipe"
	case TypeAuditUpload:
		return "audit_upload"
	case TypeAuditAck:
		return "audit_ack"
	case TypeBreakGlass:
		return "break_glass"
	case TypeBreakGlassResult:
		return "break_glass_result"
	case TypeError:
		return "error"
	case TypeTrace:
		return "trace"
	case TypeTraceResult:
		return "trace_result"
	case TypeIncidents:
		return "incidents"
	}
	return "unknown"
}

// Message is one typed protocol message.
type Message interface {
	Type() Type
}

// SignedHead is a device's audit chain head signed with its Ed25519 key:
// the server compares it with what it has stored to notice a queue that was
// rolled back (an older copy of the cache restored).
type SignedHead struct {
	Seq  uint64 `json:"seq"`
	Hash []byte `json:"hash"`
	Sig  []byte `json:"sig"`
}

// Hello opens a session (C→S).
type Hello struct {
	Protocol int    `json:"protocol"`
	Client   string `json:"client"` // product and version, for logs
	Cursor   Cursor `json:"cursor"`
	// Window is how many batches the server may send before it must wait
	// for an ack (1..MaxWindow): the client's memory bound.
	Window int `json:"window"`
	// AuditHead is the device's current chain head, if it has one.
	AuditHead *SignedHead `json:"audit_head,omitempty"`
	// Deltas lists the delta formats the client applies (DeltaZstd); a
	// server sends deltas only to a client that lists one.
	Deltas []string `json:"deltas,omitempty"`
	// Features lists the optional features the client speaks (FeatureTrace,
	// FeatureIncident).
	Features []string `json:"features,omitempty"`
	// Rollback, from protocol 2, reports that the device found its
	// profile restored from an older copy (see RollbackReport).
	Rollback *RollbackReport `json:"rollback,omitempty"`
}

// RollbackReport says that at unlock the device's audit chain was behind
// the high-water mark of sequence numbers it keeps outside the profile
// folder (in the OS keyring): the folder was restored from an older copy,
// and the events between FoundSeq and AllocatedSeq may never reach the
// server. The device sends it in every Hello until a Welcome answers it.
type RollbackReport struct {
	FoundSeq     uint64    `json:"found_seq"`     // the chain head the restored profile holds
	AllocatedSeq uint64    `json:"allocated_seq"` // sequence numbers had been allocated at least this far
	DetectedAt   time.Time `json:"detected_at"`   // device clock at the unlock that found it
}

// UserInfo names the logged-in user.
type UserInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Policy is what the server tells a client about its user's rules.
type Policy struct {
	LeaseSeconds      int64    `json:"lease_seconds"`       // caseload documents' lease
	BreakGlassSeconds int64    `json:"break_glass_seconds"` // break-glass relationship length
	AutoLockSeconds   int64    `json:"auto_lock_seconds"`   // inactivity before the client locks
	FreshnessSeconds  int64    `json:"freshness_seconds"`   // older "as of" is shown as stale
	Sections          []string `json:"sections"`            // sections this role may see
	Purpose           string   `json:"purpose"`             // purpose of use for this role (HL7 v3 ActReason)
	BreakGlass        bool     `json:"break_glass"`         // whether this role may break the glass
}

// Sync modes announced in Welcome.
const (
	ModeFull = "full" // the current state of every permitted patient follows
	ModeLive = "live" // changes since the cursor follow
)

// Welcome answers Hello (S→C).
type Welcome struct {
	Protocol   int       `json:"protocol"`
	Server     string    `json:"server"`
	Epoch      string    `json:"epoch"`
	ServerTime time.Time `json:"server_time"`
	User       UserInfo  `json:"user"`
	Policy     Policy    `json:"policy"`
	Mode       string    `json:"mode"`
	// Reset is set when the client's cursor cannot be continued (another
	// epoch, or a sequence beyond the server's newest: the server was
	// restored from backup or replaced): a full sync follows, and
	// ResetReason says why.
	Reset       bool   `json:"reset,omitempty"`
	ResetReason string `json:"reset_reason,omitempty"`
	// Total is how many documents this sync will send, known up front for
	// progress; Done how many a resumed full sync had already applied.
	Total int `json:"total"`
	Done  int `json:"done"`
	// Features lists the optional features the server will use with this
	// client: those both sides speak.
	Features []string `json:"features,omitempty"`
}

// Relationship kinds: why the user may hold a patient's document.
const (
	RelCaseload   = "caseload"
	RelBreakGlass = "break-glass"
	// RelIncident: a dispatch system named the user as crew on an incident
	// at the patient's address (only to a client that listed
	// FeatureIncident).
	RelIncident = "incident"
)

// Withheld reasons.
const (
	WithheldObjection = "objection" // the patient objected to this purpose
	WithheldSensitive = "sensitive" // items with a sensitive security label are never cached offline
	WithheldRole      = "role"      // the role does not see these sections
	WithheldTooLarge  = "too-large" // the document exceeded MaxDocument
)

// Withheld tells the client that something was not sent and why, so the
// screen can say "restricted sharing" or "sensitive information withheld".
type Withheld struct {
	Reason   string   `json:"reason"`
	Purpose  string   `json:"purpose,omitempty"`
	Sections []string `json:"sections,omitempty"`
	Count    int      `json:"count,omitempty"` // items withheld, where known
}

// DocMeta describes one document in a batch; the document itself (a FHIR
// Bundle) is the matching payload item.
type DocMeta struct {
	NHS          string     `json:"nhs"`
	Version      uint64     `json:"version"`
	NotAfter     time.Time  `json:"not_after"`
	AsOf         time.Time  `json:"as_of"`
	Relationship string     `json:"relationship"`
	Sections     []string   `json:"sections"`
	Withheld     []Withheld `json:"withheld,omitempty"`
	Size         int        `json:"size"`
	// Hash is the SHA-256 of the whole document; the client checks it
	// before storing. Delta, when set, says the payload item is a delta
	// against the document whose hash is Delta.BaseHash (see DeltaZstd).
	Hash  []byte    `json:"hash,omitempty"`
	Delta *DeltaRef `json:"delta,omitempty"`
}

// Revocation reasons carried by a Delete.
const (
	DelCaseloadRemoved = "caseload-removed"
	DelObjection       = "objection"
	DelRelabel         = "relabel"
	DelPatientDeleted  = "deleted"
	DelExpired         = "relationship-expired"
	DelNotPermitted    = "not-permitted"
)

// Delete tells the client to destroy a patient's key and data.
type Delete struct {
	NHS    string `json:"nhs"`
	Reason string `json:"reason"`
}

// Batch carries documents and revocations (S→C). The client applies the
// deletes, then the upserts, then the cursor, in one transaction, then acks.
// In a full sync the batch covers the NHS-number range (After, Through]
// completely: a cached patient in that range that the batch does not
// upsert is no longer permitted and is deleted in the same transaction.
type Batch struct {
	ID      uint64    `json:"id"`
	Cursor  Cursor    `json:"cursor"`
	Range   *NHSRange `json:"range,omitempty"`
	Upserts []DocMeta `json:"upserts,omitempty"`
	Deletes []Delete  `json:"deletes,omitempty"`
	Done    int       `json:"done"`
	Total   int       `json:"total"`
	// Docs are the payload items, Docs[i] for Upserts[i].
	Docs [][]byte `json:"-"`
}

// NHSRange is a half-open range of NHS numbers (After, Through] in string
// order; an empty After means from the start, an empty Through to the end.
type NHSRange struct {
	After   string `json:"after,omitempty"`
	Through string `json:"through,omitempty"`
}

// Contains reports whether nhs is in the range.
func (r NHSRange) Contains(nhs string) bool {
	return nhs > r.After && (r.Through == "" || nhs <= r.Through)
}

// Ack says a batch and its cursor are durable on the client (C→S).
type Ack struct {
	ID     uint64 `json:"id"`
	Cursor Cursor `json:"cursor"`
	// Full lists the patients of this batch whose delta the client could
	// not apply: it kept the version it had and needs the whole document.
	Full []string `json:"full,omitempty"`
}

// UpToDate says everything through Cursor has been sent (S→C): the
// client's cache is complete and current as of AsOf. In a full sync Range
// covers the last stretch of NHS numbers, like a batch's. LeaseUntil renews
// the lease of every caseload document the client holds.
type UpToDate struct {
	Cursor     Cursor    `json:"cursor"`
	AsOf       time.Time `json:"as_of"`
	Range      *NHSRange `json:"range,omitempty"`
	LeaseUntil time.Time `json:"lease_until"`
	Total      int       `json:"total"`
}

// Wipe orders the client to destroy every key and its cache (S→C).
type Wipe struct {
	Reason string `json:"reason"`
}

// AuditUpload carries queued audit events, in sequence order (C→S).
type AuditUpload struct {
	ID     uint64     `json:"id"`
	Seqs   []uint64   `json:"seqs"`
	Sizes  []int      `json:"sizes"`
	Head   SignedHead `json:"head"`
	Events [][]byte   `json:"-"`
}

// AuditAck says the server has stored, durably, every event of the device
// through Through (S→C). The client deletes exactly those.
type AuditAck struct {
	ID         uint64 `json:"id"`
	Through    uint64 `json:"through"`
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
	Alerts     int    `json:"alerts"`
}

// BreakGlass asks for emergency access to a patient outside the user's
// legitimate relationships (C→S).
type BreakGlass struct {
	RequestID  string `json:"request_id"`
	NHS        string `json:"nhs"`
	ReasonCode string `json:"reason_code"`
	ReasonText string `json:"reason_text"`
}

// BreakGlassResult answers BreakGlass (S→C). When granted, the document
// follows as an ordinary batch.
type BreakGlassResult struct {
	RequestID string    `json:"request_id"`
	Granted   bool      `json:"granted"`
	ExpiresAt time.Time `json:"expires_at,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// Trace asks the server to find a patient for break-glass by family name
// and date of birth, optionally narrowed by postcode (C→S), sent only when
// the Welcome listed FeatureTrace. The server answers from its own record
// with a short list of candidates, never more than MaxTraceCandidates.
type Trace struct {
	RequestID string `json:"request_id"`
	Family    string `json:"family"`             // as typed; the server folds case and diacritics
	BirthDate string `json:"birth_date"`         // YYYY-MM-DD
	Postcode  string `json:"postcode,omitempty"` // optional, any spacing or case
}

// TraceCandidate is one patient a Trace found: enough for the banner the
// user checks before asking for access, nothing clinical.
type TraceCandidate struct {
	NHS       string `json:"nhs"`
	Family    string `json:"family"`
	Given     string `json:"given,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	BirthDate string `json:"birth_date"`         // YYYY-MM-DD
	Gender    string `json:"gender,omitempty"`   // FHIR administrative gender
	District  string `json:"district,omitempty"` // the postcode's outward code
	Town      string `json:"town,omitempty"`
}

// TraceResult answers Trace (S→C). TooMany says more patients matched than
// may be shown: Candidates is then empty and the user adds the postcode.
// Error is a refusal (role, rate limit, bad input) in plain words.
type TraceResult struct {
	RequestID  string           `json:"request_id"`
	Candidates []TraceCandidate `json:"candidates,omitempty"`
	TooMany    bool             `json:"too_many,omitempty"`
	Error      string           `json:"error,omitempty"`
}

// Incident is one open dispatch incident on which the user is crew: the
// address the dispatch system gave and the patients recorded there whose
// documents the user now holds with relationship RelIncident.
type Incident struct {
	ID       string    `json:"id"`
	Address  string    `json:"address"`  // first line and town, as the dispatch system gave it
	Postcode string    `json:"postcode"` // normalised (record.NormalisePostcode)
	Opened   time.Time `json:"opened"`
	Expires  time.Time `json:"expires"`
	NHS      []string  `json:"nhs"` // candidates at that address, possibly none
}

// Incidents is the complete list of the user's open incidents (S→C), sent
// only to a client that listed FeatureIncident: after Welcome, and again
// whenever an incident opens, changes, closes or expires. The client
// replaces the list it holds; an incident missing from it has ended.
type Incidents struct {
	Open []Incident `json:"open"`
}

// ErrorMsg explains the close that follows it.
type ErrorMsg struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Type implementations.
func (*Hello) Type() Type            { return TypeHello }
func (*Welcome) Type() Type          { return TypeWelcome }
func (*Batch) Type() Type            { return TypeBatch }
func (*Ack) Type() Type              { return TypeAck }
func (*UpToDate) Type() Type         { return TypeUpToDate }
func (*Wipe) Type() Type             { return TypeWipe }
func (*AuditUpload) Type() Type      { return TypeAuditUpload }
func (*AuditAck) Type() Type         { return TypeAuditAck }
func (*BreakGlass) Type() Type       { return TypeBreakGlass }
func (*BreakGlassResult) Type() Type { return TypeBreakGlassResult }
func (*ErrorMsg) Type() Type         { return TypeError }
func (*Incidents) Type() Type        { return TypeIncidents }
func (*Trace) Type() Type            { return TypeTrace }
func (*TraceResult) Type() Type      { return TypeTraceResult }
