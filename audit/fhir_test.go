package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"
)

var recordedAt = t0.Add(2 * time.Hour)

// chained returns a valid event of action a as seq 42 of the test device.
func chained(a Action) Event {
	e, _ := Next(Head{Seq: 41, Hash: HashCanonical([]byte("41"))}, validEvent(a))
	return e
}

// TestToFHIR_Golden pins the AuditEvent JSON for a view, a search, a
// break-glass and a login.
func TestToFHIR_Golden(t *testing.T) {
	search := chained(ActionSearch)
	search.Results, search.Patient = 1, testPatient
	tests := []struct {
		name string
		e    Event
	}{
		{"view", chained(ActionView)},
		{"search", search},
		{"break-glass", chained(ActionBreakGlass)},
		{"login", chained(ActionLogin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ToFHIR(tt.e, recordedAt, testDevice)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, b, "", "  "); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			pretty.WriteByte('\n')
			golden(t, "fhir/"+tt.name+".json", pretty.Bytes())
		})
	}
}

// auditEventJSON is the part of a FHIR AuditEvent the BALP checks read.
type auditEventJSON struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		Profile []string `json:"profile"`
	} `json:"meta"`
	Extension []struct {
		URL         string `json:"url"`
		ValueString string `json:"valueString"`
	} `json:"extension"`
	Type           fhirCoding   `json:"type"`
	Subtype        []fhirCoding `json:"subtype"`
	Action         string       `json:"action"`
	Recorded       string       `json:"recorded"`
	Outcome        string       `json:"outcome"`
	PurposeOfEvent []struct {
		Coding []fhirCoding `json:"coding"`
		Text   string       `json:"text"`
	} `json:"purposeOfEvent"`
	Agent []struct {
		Type struct {
			Coding []fhirCoding `json:"coding"`
		} `json:"type"`
		Who       *fhirReference `json:"who"`
		Requestor *bool          `json:"requestor"`
		Network   *fhirNetwork   `json:"network"`
	} `json:"agent"`
	Source struct {
		Observer *fhirReference `json:"observer"`
		Type     []fhirCoding   `json:"type"`
	} `json:"source"`
	Entity []struct {
		What  *fhirReference `json:"what"`
		Type  *fhirCoding    `json:"type"`
		Role  *fhirCoding    `json:"role"`
		Query string         `json:"query"`
	} `json:"entity"`
}

func (a auditEventJSON) agentWith(code string) int {
	n := 0
	for _, ag := range a.Agent {
		for _, c := range ag.Type.Coding {
			if c.Code == code {
				n++
			}
		}
	}
	return n
}

func (a auditEventJSON) entityWithRole(code string) int {
	for i, e := range a.Entity {
		if e.Role != nil && e.Role.Code == code {
			return i
		}
	}
	return -1
}

var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// TestToFHIR_BALPElements checks, for every action, that the JSON parses and
// has the elements FHIR R4 requires and, where a BALP profile is claimed,
// the elements that profile requires.
func TestToFHIR_BALPElements(t *testing.T) {
	for _, action := range Actions() {
		t.Run(string(action), func(t *testing.T) {
			e := chained(action)
			b, err := ToFHIR(e, recordedAt, testDevice)
			if err != nil {
				t.Fatal(err)
			}
			var a auditEventJSON
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			// FHIR R4 AuditEvent: type, recorded, agent (with requestor), source.observer.
			if a.ResourceType != "AuditEvent" || !fhirID.MatchString(a.ID) || a.Type.Code == "" || len(a.Agent) == 0 || a.Source.Observer == nil {
				t.Fatalf("missing required elements: %s", b)
			}
			if _, err := time.Parse(time.RFC3339Nano, a.Recorded); err != nil {
				t.Errorf("recorded %q: %v", a.Recorded, err)
			}
			requestors := 0
			for _, ag := range a.Agent {
				if ag.Requestor == nil || ag.Who == nil {
					t.Errorf("agent without requestor or who: %s", b)
				} else if *ag.Requestor {
					requestors++
					if ag.Who.Identifier == nil || ag.Who.Identifier.Value != e.User.ID {
						t.Errorf("requestor is not the user: %+v", ag.Who)
					}
				}
			}
			if requestors != 1 {
				t.Errorf("%d requestors, want the user alone", requestors)
			}
			if a.Source.Observer.Identifier == nil || a.Source.Observer.Identifier.Value != testDevice || len(a.Source.Type) != 1 || a.Source.Type[0].Code != "1" {
				t.Errorf("source does not name the user device: %+v", a.Source)
			}
			if len(a.Extension) < 2 || a.Extension[0].ValueString != "42" || a.Extension[1].ValueString != e.Hash().String() {
				t.Errorf("extensions %+v, want seq 42 and the chain hash", a.Extension)
			}
			if want := map[Result]string{ResultSuccess: "0", ResultDenied: "4", ResultFailure: "4"}[e.Outcome.Result]; a.Outcome != want {
				t.Errorf("outcome %q, want %q", a.Outcome, want)
			}
			if !e.Patient.IsZero() {
				i := a.entityWithRole("1")
				if i < 0 || a.Entity[i].Type.Code != "1" || a.Entity[i].What.Identifier.System != "https://fhir.nhs.uk/Id/nhs-number" ||
					a.Entity[i].What.Identifier.Value != e.Patient.Digits() || a.Entity[i].What.Type != "Patient" {
					t.Errorf("no patient entity with the NHS number: %s", b)
				}
			}
			for _, p := range a.Meta.Profile {
				checkBALP(t, p, e, a)
			}
			if e.BreakGlass != nil && !slices.ContainsFunc(a.PurposeOfEvent, func(c struct {
				Coding []fhirCoding `json:"coding"`
				Text   string       `json:"text"`
			}) bool {
				return len(c.Coding) > 0 && c.Coding[0].Code == "BTG"
			}) {
				t.Errorf("break-glass without BTG purpose: %s", b)
			}
		})
	}
}

// checkBALP checks the elements a claimed BALP profile fixes.
func checkBALP(t *testing.T, profile string, e Event, a auditEventJSON) {
	t.Helper()
	if a.Outcome != "0" {
		t.Errorf("%s claimed with outcome %s; BALP fixes success", profile, a.Outcome)
	}
	if a.Type.System != sysEventType || a.Type.Code != "rest" {
		t.Errorf("%s: type %+v, want rest", profile, a.Type)
	}
	if a.agentWith("IRCP") != 1 || a.agentWith("110152") != 1 || a.agentWith("110153") != 1 {
		t.Errorf("%s: agents must be user, client and server", profile)
	}
	for _, ag := range a.Agent {
		if ag.Type.Coding[0].Code != "IRCP" && ag.Network == nil {
			t.Errorf("%s: client/server agent without network", profile)
		}
	}
	switch profile {
	case ProfilePatientRead:
		if a.Action != "R" || len(a.Subtype) == 0 || a.Subtype[0].Code != "read" {
			t.Errorf("PatientRead: action %s subtype %+v", a.Action, a.Subtype)
		}
		if i := a.entityWithRole("4"); i < 0 || a.Entity[i].What == nil || a.Entity[i].Type.Code != "2" {
			t.Errorf("PatientRead: no data entity")
		}
	case ProfilePatientQuery, ProfileQuery:
		if a.Action != "E" || len(a.Subtype) == 0 || a.Subtype[0].Code != "search-type" {
			t.Errorf("Query: action %s subtype %+v", a.Action, a.Subtype)
		}
		i := a.entityWithRole("24")
		if i < 0 || a.Entity[i].What != nil || a.Entity[i].Type.Code != "2" {
			t.Fatalf("Query: no query entity")
		}
		if q, err := base64.StdEncoding.DecodeString(a.Entity[i].Query); err != nil || string(q) != e.Query {
			t.Errorf("Query: query %q decodes to %q, %v", a.Entity[i].Query, q, err)
		}
		if (profile == ProfilePatientQuery) != (a.entityWithRole("1") >= 0) {
			t.Errorf("%s with patient entity %v", profile, a.entityWithRole("1") >= 0)
		}
	default:
		t.Errorf("unexpected profile %s", profile)
	}
}

// TestToFHIR_ProfileOnlyOnSuccess checks a failed view keeps the read shape
// but claims no BALP profile, whose outcome is fixed to success.
func TestToFHIR_ProfileOnlyOnSuccess(t *testing.T) {
	e := chained(ActionView)
	e.Outcome = Outcome{Result: ResultFailure, Detail: "decryption failed"}
	b, err := ToFHIR(e, recordedAt, testDevice)
	if err != nil {
		t.Fatal(err)
	}
	var a auditEventJSON
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Meta.Profile) != 0 || a.Outcome != "8" || a.Action != "R" {
		t.Fatalf("failed view: profiles %v outcome %s action %s", a.Meta.Profile, a.Outcome, a.Action)
	}
}

// TestToFHIR_StableID checks the id depends only on device and seq.
func TestToFHIR_StableID(t *testing.T) {
	id := FHIRID(testDevice, 42)
	tests := []struct {
		device string
		seq    uint64
		same   bool
	}{
		{testDevice, 42, true},
		{testDevice, 43, false},
		{testDevice + "x", 42, false},
		{"", 42, false},
	}
	for _, tt := range tests {
		if got := FHIRID(tt.device, tt.seq); (got == id) != tt.same || !fhirID.MatchString(got) {
			t.Errorf("FHIRID(%q, %d) = %s (same as %s: %v)", tt.device, tt.seq, got, id, tt.same)
		}
	}
	a, _ := ToFHIR(chained(ActionView), recordedAt, testDevice)
	b, _ := ToFHIR(chained(ActionView), recordedAt, testDevice)
	if !bytes.Equal(a, b) || !bytes.Contains(a, []byte(`"id":"`+id+`"`)) {
		t.Errorf("mapping the same event twice differs, or lacks id %s", id)
	}
}

// TestToFHIR_Errors checks events that cannot be mapped are refused.
func TestToFHIR_Errors(t *testing.T) {
	tests := []struct {
		name     string
		e        Event
		recorded time.Time
		device   string
	}{
		{"not chained", validEvent(ActionView), recordedAt, testDevice},
		{"other device", chained(ActionView), recordedAt, "dev-other"},
		{"no device", chained(ActionView), recordedAt, ""},
		{"no recorded time", chained(ActionView), time.Time{}, testDevice},
		{"invalid", func() Event { e := chained(ActionView); e.Patient = ""; return e }(), recordedAt, testDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ToFHIR(tt.e, tt.recorded, tt.device); !errors.Is(err, ErrFHIR) {
				t.Fatalf("ToFHIR = %v, want ErrFHIR", err)
			}
		})
	}
}

// TestBundle_Searchset checks a bundle holds one matching entry per stored
// event, each with a urn:uuid fullUrl equal to its id.
func TestBundle_Searchset(t *testing.T) {
	var stored []Stored
	for _, a := range Actions() {
		stored = append(stored, Stored{DeviceID: testDevice, Event: chained(a), Recorded: recordedAt})
	}
	b, err := Bundle(stored)
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Total        int    `json:"total"`
		Entry        []struct {
			FullURL  string         `json:"fullUrl"`
			Resource auditEventJSON `json:"resource"`
			Search   struct {
				Mode string `json:"mode"`
			} `json:"search"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	if bundle.ResourceType != "Bundle" || bundle.Type != "searchset" || bundle.Total != len(Actions()) || len(bundle.Entry) != len(Actions()) {
		t.Fatalf("bundle: %s %s total %d entries %d", bundle.ResourceType, bundle.Type, bundle.Total, len(bundle.Entry))
	}
	for _, en := range bundle.Entry {
		if en.FullURL != "urn:uuid:"+en.Resource.ID || en.Search.Mode != "match" || en.Resource.ResourceType != "AuditEvent" {
			t.Errorf("entry %s: resource %s mode %s", en.FullURL, en.Resource.ID, en.Search.Mode)
		}
	}
	if _, err := Bundle([]Stored{{DeviceID: "x", Event: chained(ActionView), Recorded: recordedAt}}); !errors.Is(err, ErrFHIR) {
		t.Errorf("Bundle with a mismatched device = %v, want ErrFHIR", err)
	}
	empty, err := Bundle(nil)
	if err != nil || !bytes.Contains(empty, []byte(`"entry":[]`)) {
		t.Errorf("Bundle(nil) = %s, %v", empty, err)
	}
}
