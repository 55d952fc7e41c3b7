package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Naming for the FHIR output. FHIRBase sits under the reserved .example
// domain until the region registers a canonical URL for the product; it
// names identifier systems, local code systems and extensions only, so
// changing it changes the FHIR view of the audit trail but never the chain.
const (
	FHIRBase               = "https://kmcr.example/fhir"
	SystemUserID           = FHIRBase + "/NamingSystem/user-id"
	SystemDeviceID         = FHIRBase + "/NamingSystem/device-id"
	SystemRole             = FHIRBase + "/CodeSystem/role"
	SystemBreakGlassReason = FHIRBase + "/CodeSystem/break-glass-reason"
	ExtensionDeviceSeq     = FHIRBase + "/StructureDefinition/audit-device-sequence" // valueString: the event's seq in decimal
	ExtensionChainHash     = FHIRBase + "/StructureDefinition/audit-chain-hash"      // valueString: the event's chain hash in hex
	ExtensionSearchResults = FHIRBase + "/StructureDefinition/audit-search-results"  // valueUnsignedInt: a search's result count
)

// IHE BALP profiles claimed in meta.profile. BALP fixes outcome to success
// for these, so a failed or denied access claims none and follows FHIR
// core's access-denied guidance instead.
const (
	ProfilePatientRead  = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"
	ProfilePatientQuery = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientQuery"
	ProfileQuery        = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Query"
)

// Code systems used in the mapping.
const (
	sysDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	sysEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	sysRESTful     = "http://hl7.org/fhir/restful-interaction"
	sysLifecycle   = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
	sysActReason   = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	sysParticipant = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	sysSecRole     = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	sysSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	sysEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	sysObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	fhirIDLabel    = "kmcr-audit/v1 fhir-id\x00"
	sysNHSNumber   = "https://fhir.nhs.uk/Id/nhs-number" // the NHS number identifier system
)

var (
	codeRest        = fhirCoding{sysEventType, "rest", "Restful Operation"}
	codeRead        = fhirCoding{sysRESTful, "read", "read"}
	codeSearchType  = fhirCoding{sysRESTful, "search-type", "search-type"}
	codeExport      = fhirCoding{sysDICOM, "110106", "Export"}
	codeDisclose    = fhirCoding{sysLifecycle, "disclose", "Disclose Record Lifecycle Event"}
	codeSecAlert    = fhirCoding{sysDICOM, "110113", "Security Alert"}
	codeEmergency   = fhirCoding{sysDICOM, "110127", "Emergency Override Started"}
	codeRestricted  = fhirCoding{sysDICOM, "110132", "Use of Restricted Function"}
	codeUserAuth    = fhirCoding{sysDICOM, "110114", "User Authentication"}
	codeLogin       = fhirCoding{sysDICOM, "110122", "Login"}
	codeLogout      = fhirCoding{sysDICOM, "110123", "Logout"}
	codeApplication = fhirCoding{sysDICOM, "110150", "Application"}
	codeDestRole    = fhirCoding{sysDICOM, "110152", "Destination Role ID"}
	codeSourceRole  = fhirCoding{sysDICOM, "110153", "Source Role ID"}
	codeIRCP        = fhirCoding{sysParticipant, "IRCP", "information recipient"}
	codeHumanUser   = fhirCoding{sysSecRole, "humanuser", "human user"}
	codeUserDevice  = fhirCoding{sysSourceType, "1", "User Device"}
	codePerson      = fhirCoding{sysEntityType, "1", "Person"}
	codeSysObject   = fhirCoding{sysEntityType, "2", "System Object"}
	codePatientRole = fhirCoding{sysObjectRole, "1", "Patient"}
	codeReportRole  = fhirCoding{sysObjectRole, "3", "Report"}
	codeDomainRes   = fhirCoding{sysObjectRole, "4", "Domain Resource"}
	codeQueryRole   = fhirCoding{sysObjectRole, "24", "Query"}
	codeBTG         = fhirCoding{sysActReason, "BTG", "break the glass"}
)

// actReasonDisplay holds the displays of the purpose-of-use codes the
// product uses; other codes are sent without a display.
var actReasonDisplay = map[string]string{
	"TREAT":   "treatment",
	"ETREAT":  "Emergency Treatment",
	"HOPERAT": "healthcare operations",
	"BTG":     "break the glass",
	"PATRQT":  "patient requested",
	"PUBHLTH": "public health",
}

// shape is how an action's agents and entities are laid out.
type shape uint8

const (
	shapeRead   shape = iota // BALP Read: user, client (destination), local store (source)
	shapeQuery               // BALP Query: user, client (source), local index (destination)
	shapeExport              // disclosure: user, device (source)
	shapeSystem              // authentication and security events: user, application
)

type pattern struct {
	typ     fhirCoding
	subtype []fhirCoding
	action  string
	profile string // claimed on success only
	shape   shape
}

func patternFor(e Event) pattern {
	switch e.Action {
	case ActionView:
		return pattern{codeRest, []fhirCoding{codeRead}, "R", ProfilePatientRead, shapeRead}
	case ActionSearch:
		if e.Patient.IsZero() {
			return pattern{codeRest, []fhirCoding{codeSearchType}, "E", ProfileQuery, shapeQuery}
		}
		return pattern{codeRest, []fhirCoding{codeSearchType}, "E", ProfilePatientQuery, shapeQuery}
	case ActionDenied:
		if e.Query != "" && e.Patient.IsZero() {
			return pattern{codeRest, []fhirCoding{codeSearchType}, "E", "", shapeQuery}
		}
		return pattern{codeRest, []fhirCoding{codeRead}, "R", "", shapeRead}
	case ActionExport:
		return pattern{codeExport, []fhirCoding{codeDisclose, codeRead}, "R", "", shapeExport}
	case ActionBreakGlass:
		return pattern{codeSecAlert, []fhirCoding{codeEmergency}, "E", "", shapeSystem}
	case ActionLock:
		return pattern{codeUserAuth, []fhirCoding{codeLogout}, "E", "", shapeSystem}
	case ActionWipe:
		return pattern{codeSecAlert, []fhirCoding{codeRestricted}, "D", "", shapeSystem}
	default: // login, unlock, unlock-failed
		return pattern{codeUserAuth, []fhirCoding{codeLogin}, "E", "", shapeSystem}
	}
}

// outcomeCode maps a result to the FHIR R4 audit-event-outcome code:
// 0 success; 4 minor failure for a refusal or a failed authentication (the
// system worked; the user was not let in); 8 serious failure otherwise.
func outcomeCode(e Event) (code, desc string) {
	switch {
	case e.Outcome.Result == ResultSuccess:
		return "0", e.Outcome.Detail
	case e.Outcome.Result == ResultDenied:
		return "4", cmpOr(e.Outcome.Detail, "access denied by policy")
	case e.Action == ActionUnlockFailed || e.Action == ActionLogin:
		return "4", cmpOr(e.Outcome.Detail, "authentication failed")
	default:
		return "8", cmpOr(e.Outcome.Detail, "the action failed")
	}
}

func cmpOr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// ErrFHIR is returned (wrapped) by ToFHIR and Bundle for an event that
// cannot be mapped: not valid, not chained, or from another device.
var ErrFHIR = errors.New("cannot map audit event to FHIR")

// FHIRID returns the AuditEvent id for a device's event seq: a UUID (version
// 8, from SHA-256 of the device ID and seq), so mapping the same event again
// gives the same id, and ids never reveal or collide across devices.
func FHIRID(deviceID string, seq uint64) string {
	h := sha256.New()
	h.Write([]byte(fhirIDLabel))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(deviceID))))
	h.Write([]byte(deviceID))
	h.Write(binary.BigEndian.AppendUint64(nil, seq))
	var u [sha256.Size]byte
	h.Sum(u[:0])
	u[6] = u[6]&0x0f | 0x80 // version 8: custom
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// ToFHIR maps one stored event to a FHIR R4 AuditEvent (JSON) following IHE
// BALP where BALP has a profile (docs/audit.md has the table). recorded is
// when the server stored the event; deviceID is the device the server
// received it from, and must be the one the event names.
func ToFHIR(e Event, recorded time.Time, deviceID string) ([]byte, error) {
	a, err := auditEvent(e, recorded, deviceID)
	if err != nil {
		return nil, err
	}
	return marshalFHIR(a)
}

// Stored is an event as the server holds it, for Bundle.
type Stored struct {
	DeviceID string
	Event    Event
	Recorded time.Time
}

// Bundle maps stored events to a FHIR searchset Bundle of AuditEvents, in the
// order given: the answer to "who viewed this record". Each entry's fullUrl
// is the urn:uuid of its AuditEvent id.
func Bundle(entries []Stored) ([]byte, error) {
	b := fhirBundle{ResourceType: "Bundle", Type: "searchset", Total: len(entries), Entry: make([]fhirEntry, 0, len(entries))}
	for _, s := range entries {
		a, err := auditEvent(s.Event, s.Recorded, s.DeviceID)
		if err != nil {
			return nil, err
		}
		b.Entry = append(b.Entry, fhirEntry{FullURL: "urn:uuid:" + a.ID, Resource: a, Search: fhirSearch{Mode: "match"}})
	}
	return marshalFHIR(b)
}

func marshalFHIR(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // FHIR text is not HTML; keep "<" readable
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding FHIR: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func auditEvent(e Event, recorded time.Time, deviceID string) (*fhirAuditEvent, error) {
	switch {
	case e.Seq == 0:
		return nil, fmt.Errorf("%w: event not chained (seq 0)", ErrFHIR)
	case deviceID == "" || e.Device.ID != deviceID:
		return nil, fmt.Errorf("%w: event names device %q, stored for %q", ErrFHIR, e.Device.ID, deviceID)
	case recorded.IsZero():
		return nil, fmt.Errorf("%w: no recorded time", ErrFHIR)
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFHIR, err)
	}
	p := patternFor(e)
	outcome, desc := outcomeCode(e)
	occurred := e.Occurred.UTC().Format(time.RFC3339Nano)
	a := &fhirAuditEvent{
		ResourceType: "AuditEvent",
		ID:           FHIRID(deviceID, e.Seq),
		Extension: []fhirExtension{
			{URL: ExtensionDeviceSeq, ValueString: strconv.FormatUint(e.Seq, 10)},
			{URL: ExtensionChainHash, ValueString: e.Hash().String()},
		},
		Type:           p.typ,
		Subtype:        p.subtype,
		Action:         p.action,
		Period:         &fhirPeriod{Start: occurred, End: occurred},
		Recorded:       recorded.UTC().Format(time.RFC3339Nano),
		Outcome:        outcome,
		OutcomeDesc:    desc,
		PurposeOfEvent: purposes(e),
		Agent:          agents(e, p.shape),
		Source: fhirSource{
			Observer: deviceRef(e.Device),
			Type:     []fhirCoding{codeUserDevice},
		},
		Entity: entities(e, p.shape),
	}
	if p.profile != "" && e.Outcome.Result == ResultSuccess {
		a.Meta = &fhirMeta{Profile: []string{p.profile}}
	}
	if e.Action == ActionSearch {
		n := e.Results
		a.Extension = append(a.Extension, fhirExtension{URL: ExtensionSearchResults, ValueUnsignedInt: &n})
	}
	return a, nil
}

func purposeConcept(code string) fhirCodeableConcept {
	return fhirCodeableConcept{Coding: []fhirCoding{{sysActReason, code, actReasonDisplay[code]}}}
}

// purposes lists why: the purpose of use, and for emergency access BTG plus
// the user's coded reason and own words.
func purposes(e Event) []fhirCodeableConcept {
	var ps []fhirCodeableConcept
	if e.Purpose != "" {
		ps = append(ps, purposeConcept(e.Purpose))
	}
	if e.BreakGlass != nil {
		if e.Purpose != codeBTG.Code {
			ps = append(ps, fhirCodeableConcept{Coding: []fhirCoding{codeBTG}})
		}
		ps = append(ps, fhirCodeableConcept{
			Coding: []fhirCoding{{System: SystemBreakGlassReason, Code: e.BreakGlass.ReasonCode}},
			Text:   e.BreakGlass.ReasonText,
		})
	}
	return ps
}

func deviceRef(d Device) fhirReference {
	return fhirReference{Identifier: &fhirIdentifier{System: SystemDeviceID, Value: d.ID}, Display: d.Host}
}

// agents names the user and the device. In the BALP RESTful shapes the
// "server" is the device's own encrypted cache or index, because the client
// reads from it, online or not; DICOM's source/destination roles follow
// BALP (a read: the client is the destination; a query: the source).
func agents(e Event, s shape) []fhirAgent {
	user := fhirAgent{
		Type:      &fhirCodeableConcept{Coding: []fhirCoding{codeIRCP}},
		Role:      []fhirCodeableConcept{{Coding: []fhirCoding{{System: SystemRole, Code: e.User.Role}}, Text: e.User.Role}},
		Who:       &fhirReference{Identifier: &fhirIdentifier{System: SystemUserID, Value: e.User.ID}, Display: e.User.Name},
		Name:      e.User.Name,
		Requestor: true,
	}
	if e.Purpose != "" {
		user.PurposeOfUse = []fhirCodeableConcept{purposeConcept(e.Purpose)}
	}
	net := &fhirNetwork{Address: e.Device.Host, Type: "1"} // 1: machine name
	device := func(role fhirCoding, display string) fhirAgent {
		ref := deviceRef(e.Device)
		if display != "" {
			ref.Display = display
		}
		return fhirAgent{Type: &fhirCodeableConcept{Coding: []fhirCoding{role}}, Who: &ref, Requestor: false, Network: net}
	}
	store := "encrypted cache on " + e.Device.Host
	switch s {
	case shapeRead:
		return []fhirAgent{user, device(codeDestRole, ""), device(codeSourceRole, store)}
	case shapeQuery:
		return []fhirAgent{user, device(codeSourceRole, ""), device(codeDestRole, "search index of the "+store)}
	case shapeExport:
		return []fhirAgent{user, device(codeSourceRole, "")}
	default:
		user.Type = &fhirCodeableConcept{Coding: []fhirCoding{codeHumanUser}}
		return []fhirAgent{user, device(codeApplication, "")}
	}
}

// entities names the patient, the data seen (one detail per section) and
// the query (base64, as BALP requires, so it is preserved exactly).
func entities(e Event, s shape) []fhirEntity {
	var es []fhirEntity
	if !e.Patient.IsZero() {
		es = append(es, fhirEntity{
			What: &fhirReference{Type: "Patient", Identifier: &fhirIdentifier{System: sysNHSNumber, Value: e.Patient.Digits()}},
			Type: &codePerson,
			Role: &codePatientRole,
		})
	}
	if len(e.Sections) > 0 { // always for a view: BALP Read needs the data entity
		role, what := &codeDomainRes, "patient summary"
		if s == shapeExport {
			role, what = &codeReportRole, "printed or exported patient summary"
		}
		d := fhirEntity{What: &fhirReference{Display: what}, Type: &codeSysObject, Role: role}
		for _, sec := range e.Sections {
			d.Detail = append(d.Detail, fhirEntityDetail{Type: "section", ValueString: sec})
		}
		es = append(es, d)
	}
	if e.Query != "" {
		es = append(es, fhirEntity{
			Type:  &codeSysObject,
			Role:  &codeQueryRole,
			Query: base64.StdEncoding.EncodeToString([]byte(e.Query)),
		})
	}
	return es
}

// The FHIR R4 structures, in the element order of the specification, with
// only the elements this mapping fills.
type (
	fhirCoding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code,omitempty"`
		Display string `json:"display,omitempty"`
	}
	fhirCodeableConcept struct {
		Coding []fhirCoding `json:"coding,omitempty"`
		Text   string       `json:"text,omitempty"`
	}
	fhirIdentifier struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value,omitempty"`
	}
	fhirReference struct {
		Type       string          `json:"type,omitempty"`
		Identifier *fhirIdentifier `json:"identifier,omitempty"`
		Display    string          `json:"display,omitempty"`
	}
	fhirMeta struct {
		Profile []string `json:"profile,omitempty"`
	}
	fhirExtension struct {
		URL              string `json:"url"`
		ValueString      string `json:"valueString,omitempty"`
		ValueUnsignedInt *int   `json:"valueUnsignedInt,omitempty"`
	}
	fhirPeriod struct {
		Start string `json:"start,omitempty"`
		End   string `json:"end,omitempty"`
	}
	fhirNetwork struct {
		Address string `json:"address,omitempty"`
		Type    string `json:"type,omitempty"`
	}
	fhirAgent struct {
		Type         *fhirCodeableConcept  `json:"type,omitempty"`
		Role         []fhirCodeableConcept `json:"role,omitempty"`
		Who          *fhirReference        `json:"who,omitempty"`
		Name         string                `json:"name,omitempty"`
		Requestor    bool                  `json:"requestor"`
		Network      *fhirNetwork          `json:"network,omitempty"`
		PurposeOfUse []fhirCodeableConcept `json:"purposeOfUse,omitempty"`
	}
	fhirSource struct {
		Observer fhirReference `json:"observer"`
		Type     []fhirCoding  `json:"type,omitempty"`
	}
	fhirEntityDetail struct {
		Type        string `json:"type"`
		ValueString string `json:"valueString"`
	}
	fhirEntity struct {
		What   *fhirReference     `json:"what,omitempty"`
		Type   *fhirCoding        `json:"type,omitempty"`
		Role   *fhirCoding        `json:"role,omitempty"`
		Query  string             `json:"query,omitempty"`
		Detail []fhirEntityDetail `json:"detail,omitempty"`
	}
	fhirAuditEvent struct {
		ResourceType   string                `json:"resourceType"`
		ID             string                `json:"id"`
		Meta           *fhirMeta             `json:"meta,omitempty"`
		Extension      []fhirExtension       `json:"extension,omitempty"`
		Type           fhirCoding            `json:"type"`
		Subtype        []fhirCoding          `json:"subtype,omitempty"`
		Action         string                `json:"action,omitempty"`
		Period         *fhirPeriod           `json:"period,omitempty"`
		Recorded       string                `json:"recorded"`
		Outcome        string                `json:"outcome,omitempty"`
		OutcomeDesc    string                `json:"outcomeDesc,omitempty"`
		PurposeOfEvent []fhirCodeableConcept `json:"purposeOfEvent,omitempty"`
		Agent          []fhirAgent           `json:"agent"`
		Source         fhirSource            `json:"source"`
		Entity         []fhirEntity          `json:"entity,omitempty"`
	}
	fhirSearch struct {
		Mode string `json:"mode"`
	}
	fhirEntry struct {
		FullURL  string          `json:"fullUrl"`
		Resource *fhirAuditEvent `json:"resource"`
		Search   fhirSearch      `json:"search"`
	}
	fhirBundle struct {
		ResourceType string      `json:"resourceType"`
		Type         string      `json:"type"`
		Total        int         `json:"total"`
		Entry        []fhirEntry `json:"entry"`
	}
)
