// Package store is the sync service's storage: users, devices, caseloads,
// objections, break-glass relationships, imported FHIR resources and the
// per-patient documents built from them, the change log that drives sync,
// and received audit events and alerts.
//
// Store is the interface the server uses; Bolt implements it on one bbolt
// file, the default for a single node. A networked database engine for
// multi-node deployments would implement the same interface and pass the
// same conformance suite, storetest.Run, which pins what the comments below
// promise (orderings, the change log each mutation appends, errors).
//
// # Change log
//
// Every mutation that can change what a client holds appends a Change with
// the next sequence number in the same transaction. A client's cursor is a
// sequence number in this log; the epoch, made at creation, names this
// store so a client cursor from a different store (a restore from backup,
// a new server) is recognised.
//
// # Caveats
//
// Values are copied out of bbolt before a transaction ends. Only one
// process may open the file: admin commands reach a running server through
// its control socket instead.
package store

import (
	"errors"
	"time"

	"kmcr/record"
)

// Errors callers tell apart.
var (
	// ErrNotFound is returned when a user, device, patient or document does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when creating a user or registering a device that already exists.
	ErrExists = errors.New("already exists")
	// ErrLocked is returned by Open when another process holds the store.
	ErrLocked = errors.New("the store is in use by another process")
	// ErrUnavailable is returned by a networked store whose database
	// cannot be reached (down, restarting, failing over): the operation
	// may succeed later.
	ErrUnavailable = errors.New("central record unavailable")
)

// User is a person who logs in to the client.
type User struct {
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	PasswordHash string    `json:"password_hash"`
	Created      time.Time `json:"created"`
	// Disabled refuses the user's logins, enrolments, refreshes and
	// sessions; DisabledAt is when an admin disabled them.
	Disabled   bool      `json:"disabled,omitempty"`
	DisabledAt time.Time `json:"disabled_at,omitempty"`
	// PasswordChanged is when an admin last set the password.
	PasswordChanged time.Time `json:"password_changed,omitempty"`
	// Org is the ODS code of the user's organisation; empty in stores
	// made before organisations, read as DefaultOrg by the server.
	Org string `json:"org,omitempty"`
}

// Org is an organisation whose staff use the record, named by its ODS code.
type Org struct {
	ODS  string `json:"ods"`
	Name string `json:"name"`
	Kind string `json:"kind"` // ambulance, gp, acute, community, social-care
	// DSPT is the organisation's Data Security and Protection Toolkit
	// status: "met" or "not-met".
	DSPT    string    `json:"dspt"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Device is an enrolled client installation.
type Device struct {
	ID             string    `json:"id"`
	User           string    `json:"user"`
	PublicKey      []byte    `json:"public_key"`
	Host           string    `json:"host"`
	Registered     time.Time `json:"registered"`
	LastSeen       time.Time `json:"last_seen"`
	Revoked        bool      `json:"revoked"`
	RevokedAt      time.Time `json:"revoked_at,omitempty"`
	RefreshHash    []byte    `json:"refresh_hash,omitempty"`
	RefreshExpires time.Time `json:"refresh_expires,omitempty"`
	// PrevRefreshHash is the credential the last refresh exchanged; it
	// is accepted until PrevRefreshUntil (protocol.RefreshGrace), or until
	// a sync session shows the client holds the new answer.
	PrevRefreshHash  []byte    `json:"prev_refresh_hash,omitempty"`
	PrevRefreshUntil time.Time `json:"prev_refresh_until,omitempty"`
	// TokenGen numbers the token answers issued to this device; the
	// access token issued with the current refresh credential carries it.
	TokenGen uint64 `json:"token_gen,omitempty"`
	// SpentRefresh holds the hashes of the credentials this device's
	// current login has already exchanged (newest last, a bounded number),
	// so a replay of one is recognised and ends the whole family.
	SpentRefresh [][]byte `json:"spent_refresh,omitempty"`
	// Chain is the device's audit chain state, owned by the audit code.
	Chain []byte `json:"chain,omitempty"`
}

// Relationship is a time-limited legitimate relationship granted by break-glass.
type Relationship struct {
	User       string    `json:"user"`
	NHS        string    `json:"nhs"`
	Granted    time.Time `json:"granted"`
	Expires    time.Time `json:"expires"`
	ReasonCode string    `json:"reason_code"`
	ReasonText string    `json:"reason_text"`
	Device     string    `json:"device"`
}

// Change kinds in the change log.
const (
	ChangePatient         = "patient"              // a patient's documents changed
	ChangeRelabel         = "relabel"              // a patient's documents lost items to a sensitive label
	ChangeRestricted      = "restricted"           // a patient's Patient resource became restricted: every device purges it
	ChangeCaseloadAdd     = "caseload-add"         // User gained NHS
	ChangeCaseloadRemove  = "caseload-remove"      // User lost NHS
	ChangeObjection       = "objection"            // NHS objected to Reason (a purpose)
	ChangeWithdraw        = "withdraw"             // NHS withdrew an objection to Reason
	ChangeRelationship    = "relationship"         // break-glass granted User access to NHS
	ChangeRelationshipEnd = "relationship-expired" // that access ended
	ChangeDeviceRevoked   = "device-revoked"       // Device must wipe
	// Dispatch incidents (Reason is the incident's id).
	ChangeIncident      = "incident"       // User was granted NHS as crew of an incident (granted again when it is updated)
	ChangeIncidentEnd   = "incident-ended" // that grant ended: the incident closed, expired, or no longer names the user or patient
	ChangeIncidentsList = "incidents"      // User's list of open incidents changed
)

// Incident is an open dispatch incident: the address a dispatch system
// gave, the crew it named, and the patients found recorded there. Each
// crew member holds an incident relationship with each candidate until
// Expires.
type Incident struct {
	ID       string    `json:"id"`
	Source   string    `json:"source"`   // the dispatch system's name, or "admin" for the command line
	Address  string    `json:"address"`  // the first line, as given
	Postcode string    `json:"postcode"` // normalised (record.NormalisePostcode)
	Opened   time.Time `json:"opened"`
	Updated  time.Time `json:"updated"`
	Expires  time.Time `json:"expires"`
	Crew     []string  `json:"crew"` // user names, sorted, each once
	NHS      []string  `json:"nhs"`  // the candidates, sorted, each once
	// Named are the NHS numbers the dispatch system gave (also in NHS
	// when recorded here).
	Named []string `json:"named,omitempty"`
}

// Dispatcher is a dispatch system allowed to tell the record about
// incidents. Only a hash of its secret is kept.
type Dispatcher struct {
	Name       string    `json:"name"`
	SecretHash []byte    `json:"secret_hash"`
	Created    time.Time `json:"created"`
}

// Change is one entry of the change log.
type Change struct {
	Seq    uint64    `json:"seq"`
	Kind   string    `json:"kind"`
	NHS    string    `json:"nhs,omitempty"`
	User   string    `json:"user,omitempty"`
	Device string    `json:"device,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// StagedResource is one imported FHIR resource of a patient, keyed by the
// patient's key in its source ("Patient/<id>").
type StagedResource struct {
	PatientKey string
	Key        string // "Type/id" (or the fullUrl when there is no id)
	FullURL    string
	Raw        []byte
}

// StoredResource is a resource read back for building documents.
type StoredResource struct {
	Key     string
	FullURL string
	Raw     []byte
}

// PatientSource is one source patient key of an NHS number and the
// resources stored under it.
type PatientSource struct {
	Key       string
	Resources []StoredResource
}

// Document kinds kept per patient.
const (
	DocFull         = "full"         // everything offline-cacheable (no sensitive items)
	DocDemographics = "demographics" // Patient and registered GP only
)

// PatientMeta describes a patient's current documents.
type PatientMeta struct {
	NHS       string         `json:"nhs"`
	Version   uint64         `json:"version"`
	Keys      []string       `json:"keys"` // source patient keys merged into this NHS number
	DocHash   []byte         `json:"doc_hash"`
	Sections  []string       `json:"sections"`            // sections with content in the full document
	Sensitive int            `json:"sensitive"`           // items withheld for a sensitive label
	Omitted   map[string]int `json:"omitted,omitempty"`   // resource types not part of a care summary, by count
	TooLarge  bool           `json:"too_large,omitempty"` // the full document exceeded the protocol limit, or the client's
	// Restricted is set when the patient's Patient resource carries a
	// sensitive label: the patient has no documents and is offered to no
	// device.
	Restricted bool `json:"restricted,omitempty"`
	// Unstorable is set when even the demographics document fails the
	// client's limits: the patient has no documents.
	Unstorable  bool      `json:"unstorable,omitempty"`
	Updated     time.Time `json:"updated"`
	FamilyIndex string    `json:"family,omitempty"` // normalised family name (record.FoldName), for admin listings and TracePatients
	// Birth (YYYY-MM-DD, a whole date only) and Postcode
	// (record.NormalisePostcode) are the banner's, for TracePatients.
	Birth    string `json:"birth,omitempty"`
	Postcode string `json:"postcode,omitempty"`
	// Addresses are the patient's current addresses (record.CurrentAddresses),
	// found by PatientsAtPostcode.
	Addresses []record.HomeAddress `json:"addresses,omitempty"`
}

// PatientUpdate is the result of rebuilding one patient's documents.
type PatientUpdate struct {
	Meta PatientMeta
	Docs map[string][]byte
}

// StoredEvent is one audit event as the server keeps it.
type StoredEvent struct {
	Device    string    `json:"device"`
	Seq       uint64    `json:"seq"`
	Hash      []byte    `json:"hash"`
	Canonical []byte    `json:"canonical"`
	Recorded  time.Time `json:"recorded"`
	NHS       string    `json:"nhs,omitempty"`
	// Malformed is set for bytes that did not decode as an event; they are
	// kept so the chain continues through them and nothing is lost.
	Malformed bool   `json:"malformed,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// Alert is a security or privacy alert for the privacy officer.
type Alert struct {
	ID     uint64    `json:"id"`
	Kind   string    `json:"kind"`
	Device string    `json:"device,omitempty"`
	User   string    `json:"user,omitempty"`
	NHS    string    `json:"nhs,omitempty"`
	Seq    uint64    `json:"seq,omitempty"`
	Detail string    `json:"detail"`
	At     time.Time `json:"at"`
}

// Store is the sync service's storage port.
type Store interface {
	// Epoch names this store; LastSeq is the newest change's sequence.
	Epoch() string
	LastSeq() (uint64, error)
	// Secret returns a random 32-byte secret kept under name, making it on
	// first use (the access-token signing key, for one).
	Secret(name string) ([]byte, error)
	// Subscribe returns a channel that receives the newest sequence number
	// after each commit that appended changes (coalesced: a slow reader sees
	// the latest), and a cancel function.
	Subscribe() (<-chan uint64, func())
	Close() error

	AddUser(u User) error
	User(name string) (User, error)
	Users() ([]User, error)
	// UpdateUser calls fn with the user and stores what it leaves, in one
	// transaction, appending no change; fn's error is returned and nothing
	// is stored. fn must not change the Name. ErrNotFound for no such user.
	UpdateUser(name string, fn func(u *User) error) error

	// AddOrg creates an organisation (ErrExists if its ODS code is taken).
	AddOrg(o Org) error
	// Org returns one organisation (ErrNotFound).
	Org(ods string) (Org, error)
	// Orgs returns every organisation in ODS-code byte order.
	Orgs() ([]Org, error)
	// UpdateOrg calls fn with the organisation and stores what it leaves,
	// in one transaction; fn's error is returned and nothing is stored. fn
	// must not change the ODS code.
	UpdateOrg(ods string, fn func(o *Org) error) error

	// CaseloadAdd and CaseloadRemove return the numbers that changed.
	CaseloadAdd(user string, nhs []string) ([]string, error)
	CaseloadRemove(user string, nhs []string) ([]string, error)
	InCaseload(user, nhs string) (bool, error)
	// Permitted calls fn in NHS-number order for every patient the user may
	// hold after the NHS number after: caseload plus live relationships.
	// rel is "caseload", "break-glass" or "incident" (a live incident grant;
	// expires is the latest of them), the first that holds in that order.
	Permitted(user, after string, now time.Time, fn func(nhs, rel string, expires time.Time) error) error
	CountPermitted(user, after string, now time.Time) (int, error)

	Object(nhs, purpose string) (bool, error)
	Withdraw(nhs, purpose string) (bool, error)
	Objections(nhs string) ([]string, error)

	GrantRelationship(r Relationship) error
	Relationship(user, nhs string, now time.Time) (Relationship, bool, error)
	// ExpireRelationships ends every relationship past now, logging changes.
	ExpireRelationships(now time.Time) (int, error)

	// PutIncident creates incident in.ID or replaces it, with its grants
	// (every crew member with every candidate until in.Expires), in one
	// transaction. It logs ChangeIncident for each grant it holds,
	// ChangeIncidentEnd for each grant of the previous version it no
	// longer holds, and ChangeIncidentsList for each crew member of either
	// version. It returns the previous version, if any.
	PutIncident(in Incident) (prev Incident, existed bool, err error)
	// EndIncident removes an incident and its grants, logging
	// ChangeIncidentEnd for each grant and ChangeIncidentsList for each
	// crew member (ErrNotFound for no such incident).
	EndIncident(id string, now time.Time) (Incident, error)
	// Incident returns one stored incident (ErrNotFound).
	Incident(id string) (Incident, error)
	// Incidents calls fn for each stored incident in id byte order,
	// expired or not.
	Incidents(fn func(Incident) error) error
	// ExpireIncidents ends, as EndIncident does, every incident whose
	// Expires is not after now, and returns them.
	ExpireIncidents(now time.Time) ([]Incident, error)
	// IncidentGrant reports whether the user holds a live incident grant
	// for the patient, and the latest expiry of such grants.
	IncidentGrant(user, nhs string, now time.Time) (expires time.Time, ok bool, err error)
	// PatientsAtPostcode returns the patients with a current address at a
	// normalised postcode (PatientMeta.Addresses), in NHS-number order.
	PatientsAtPostcode(postcode string) ([]PatientMeta, error)

	// AddDispatcher stores a dispatch system's credential (ErrExists).
	AddDispatcher(d Dispatcher) error
	// Dispatcher returns one (ErrNotFound).
	Dispatcher(name string) (Dispatcher, error)
	// Dispatchers returns every dispatch system in name byte order.
	Dispatchers() ([]Dispatcher, error)
	// RemoveDispatcher deletes one (ErrNotFound); its credential stops
	// working at once.
	RemoveDispatcher(name string) error

	RegisterDevice(d Device) error
	Device(id string) (Device, error)
	// UpdateDevice calls fn with the device and stores what it leaves, in
	// one transaction; fn's error is returned and nothing is stored. fn must
	// not change the ID.
	UpdateDevice(id string, fn func(d *Device) error) error
	Devices() ([]Device, error)
	RevokeDevice(id string, now time.Time) error

	// StageResources stores imported resources, returning the patient keys
	// whose stored resources changed (new or different bytes).
	StageResources(items []StagedResource) ([]string, error)
	PutShared(items []StoredResource) error
	Shared(key string) (StoredResource, bool, error)
	// PatientResources returns a source patient's resources in the byte
	// order of their keys (documents are built in it, so their hashes
	// depend on it).
	PatientResources(patientKey string) ([]StoredResource, error)
	// PatientKeyNHS maps a source patient key to its NHS number.
	PatientKeyNHS(patientKey string) (string, bool, error)
	// MapPatientKeys records source patient keys' NHS numbers.
	MapPatientKeys(m map[string]string) error
	// PatientKeys returns the source patient keys mapped to an NHS number,
	// in byte order.
	PatientKeys(nhs string) ([]string, error)
	// PatientSources is PatientKeys and PatientResources for many NHS
	// numbers at once (an import rebuilds patients a batch at a time): for
	// each number with source keys, the keys in byte order, each with its
	// resources in the byte order of their keys. A number with no keys is
	// absent from the map.
	PatientSources(nhs []string) (map[string][]PatientSource, error)
	// CommitPatients writes documents whose hash changed, bumping their
	// version and logging a change (ChangeRestricted when the update is
	// Restricted, ChangeRelabel when Sensitive grew). An
	// update's Docs replace the patient's documents as a set: a kind it
	// lacks is removed. It returns how many changed.
	CommitPatients(ups []PatientUpdate, now time.Time) (int, error)
	Patient(nhs string) (PatientMeta, error)
	// TracePatients returns the patients whose FamilyIndex is family and
	// whose Birth is birth, restricted and unstorable ones left out, in
	// NHS-number order, at most limit of them: the break-glass trace.
	TracePatients(family, birth string, limit int) ([]PatientMeta, error)
	Doc(nhs, kind string) ([]byte, error)
	PatientCount() (int, error)

	// Changes calls fn for each change after seq, in order.
	Changes(after uint64, fn func(Change) error) error

	// StoreAudit stores accepted (and malformed) events, conflicting second
	// versions of stored sequence numbers, alerts and the device's new
	// chain state in one transaction.
	StoreAudit(device string, events, conflicts []StoredEvent, alerts []Alert, chain []byte) error
	// Conflicts calls fn for each kept conflicting version of a device's
	// events, in sequence order, each distinct version once.
	Conflicts(device string, fn func(StoredEvent) error) error
	// AuditHash is the hash stored for a device's sequence number.
	AuditHash(device string, seq uint64) ([]byte, bool, error)
	// AccessLog calls fn for each stored event about a patient, in the
	// order they were recorded.
	AccessLog(nhs string, fn func(StoredEvent) error) error
	// AccessLogSince is AccessLog from the events recorded at or after
	// since (a reader that keeps what it read asks only for what is new).
	AccessLogSince(nhs string, since time.Time, fn func(StoredEvent) error) error
	// AuditEvents calls fn for each of a device's stored events, in
	// sequence order.
	AuditEvents(device string, fn func(StoredEvent) error) error
	// AddAlerts stores alerts, numbering them (Alert.ID) from 1 in the order
	// added, never reusing a number; StoreAudit's alerts share the numbering.
	AddAlerts(alerts []Alert) error
	// Alerts calls fn for each alert in ID order.
	Alerts(fn func(Alert) error) error

	// Outbox is the patient notification outbox (outbox.go).
	Outbox
}

// Exclusive is implemented by a store several server nodes share: Exclusive
// runs fn if no other node is running work of that name, and reports
// whether it ran. Periodic sweeps (relationship expiry) use it so they run
// once across the cluster, not once per node; a store one process holds
// (Bolt) needs none.
type Exclusive interface {
	Exclusive(name string, fn func() error) (ran bool, err error)
}
