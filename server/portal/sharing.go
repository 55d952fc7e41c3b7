package portal

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"kmcr/server/policy"
	"kmcr/server/store"
)

// Record is what the portal needs of the central record beyond reading
// the store: adding the patient's own resources so that their documents
// are rebuilt (and reach clients), reading them back, and the reference
// they point at. *server.Service implements it.
type Record interface {
	AddPatientResources(nhs string, rs []store.StoredResource) (bool, error)
	PatientResourcesOf(nhs, typ string) ([]store.StoredResource, error)
	PatientReference(nhs string) (string, error)
}

// Purpose is one purpose of sharing, explained.
type Purpose struct {
	Key, Name, Who, IfNo string
	Shared               bool
}

// purposes says each purpose the policy knows in plain words: what it is,
// who sees the record for it, and what saying no changes.
var purposes = []Purpose{
	{Key: policy.PurposeEmergency, Name: "Emergency care", Who: "Ambulance crews and emergency teams who treat you when you are taken ill or hurt.",
		IfNo: "Paramedics will only see your name, date of birth, address and GP on their laptops, not your allergies, medicines or health problems. This could make emergency treatment less safe. They can still use emergency access (break-glass) if they must, and you will see it here."},
	{Key: policy.PurposeDirect, Name: "Your everyday care", Who: "Community nurses, carers and clinic teams who look after you.",
		IfNo: "They will only see your name, date of birth, address and GP, and will ask you or your GP for anything else."},
	{Key: policy.PurposeAdmin, Name: "Appointments and administration", Who: "Reception and booking staff, who only ever see your name, date of birth, address and GP.",
		IfNo: "Reception laptops will not hold your details at all; staff will ask you at the desk."},
	{Key: policy.PurposeSocialCare, Name: "Social care", Who: "Social workers and social care teams (for example the council's adult social care team).",
		IfNo: "Social care staff will only see your name, date of birth, address and GP."},
	{Key: policy.PurposeResearch, Name: "Research", Who: "Approved researchers, using your record to find new treatments. Nobody uses it for this on a laptop.",
		IfNo: "Your record will not be used for research."},
	{Key: policy.PurposePlanning, Name: "Planning services", Who: "People who plan local health and care services, using counts of records.",
		IfNo: "Your record will not be counted when services are planned."},
}

// Consent codes: FHIR R4 Consent for a privacy choice, with the
// purposes denied as HL7 v3 ActReason codes.
const (
	sysConsentScope = "http://terminology.hl7.org/CodeSystem/consentscope"
	sysConsentCat   = "http://loinc.org"
	sysActReason    = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	sysActCode      = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	consentPrefix   = "Consent/kmcr-sharing-"
)

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type codeable struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

type reference struct {
	Reference string `json:"reference"`
}

type provision struct {
	Type      string      `json:"type"`
	Purpose   []coding    `json:"purpose,omitempty"`
	Provision []provision `json:"provision,omitempty"`
}

// Consent is the FHIR R4 Consent a sharing choice is stored as.
type Consent struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Status       string      `json:"status"` // active, or inactive once replaced
	Scope        codeable    `json:"scope"`
	Category     []codeable  `json:"category"`
	Patient      reference   `json:"patient"`
	DateTime     string      `json:"dateTime"`
	Performer    []reference `json:"performer"`
	PolicyRule   codeable    `json:"policyRule"`
	Provision    provision   `json:"provision"`
}

// Denied returns the purposes the consent denies, by policy name.
func (c *Consent) Denied() []string {
	var out []string
	for _, p := range c.Provision.Provision {
		if p.Type != "deny" {
			continue
		}
		for _, cd := range p.Purpose {
			for _, pu := range policy.Purposes {
				if policy.PurposeCode(pu) == cd.Code {
					out = append(out, pu)
				}
			}
		}
	}
	return out
}

func newConsent(id, patientRef string, at time.Time, denied []string) Consent {
	c := Consent{
		ResourceType: "Consent", ID: id, Status: "active",
		Scope:    codeable{Coding: []coding{{System: sysConsentScope, Code: "patient-privacy", Display: "Privacy Consent"}}},
		Category: []codeable{{Coding: []coding{{System: sysConsentCat, Code: "59284-0", Display: "Patient Consent"}}}},
		Patient:  reference{patientRef}, DateTime: at.UTC().Format(time.RFC3339),
		Performer:  []reference{{patientRef}},
		PolicyRule: codeable{Coding: []coding{{System: sysActCode, Code: "OPTOUT"}}, Text: "Sharing in the Kent and Medway Care Record, except for the purposes denied"},
		Provision:  provision{Type: "permit"},
	}
	for _, d := range denied {
		c.Provision.Provision = append(c.Provision.Provision, provision{Type: "deny", Purpose: []coding{{System: sysActReason, Code: policy.PurposeCode(d), Display: d}}})
	}
	return c
}

// consents returns the patient's sharing choices, newest first.
func (p *Portal) consents(nhs string) ([]Consent, error) {
	rs, err := p.cfg.Record.PatientResourcesOf(nhs, "Consent")
	if err != nil {
		return nil, err
	}
	var out []Consent
	for _, r := range rs {
		if !strings.HasPrefix(r.Key, consentPrefix) {
			continue
		}
		var c Consent
		if json.Unmarshal(r.Raw, &c) == nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// sharingData is the sharing page's data.
type sharingData struct {
	Purposes []Purpose
	History  []ConsentLine
	Saved    bool
	Same     bool
}

// ConsentLine is one earlier choice as the history shows it.
type ConsentLine struct {
	When, Said string
	Current    bool
}

func purposeName(key string) string {
	for _, p := range purposes {
		if p.Key == key {
			return p.Name
		}
	}
	return key
}

func (p *Portal) sharing(w http.ResponseWriter, r *http.Request, s *Session) (any, int, bool) {
	if !s.Proofed() {
		p.render(w, r, http.StatusForbidden, "proofing", s, nil)
		return nil, 0, true
	}
	obj, err := p.st.Objections(s.NHS)
	var cs []Consent
	if err == nil {
		cs, err = p.consents(s.NHS)
	}
	if err != nil {
		p.cfg.Logf("portal: reading sharing choices: %v", err)
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
		return nil, 0, true
	}
	d := sharingData{Saved: r.URL.Query().Get("saved") == "1", Same: r.URL.Query().Get("saved") == "same"}
	for _, pu := range purposes {
		pu.Shared = !slices.Contains(obj, pu.Key)
		d.Purposes = append(d.Purposes, pu)
	}
	for _, c := range cs {
		t, _ := time.Parse(time.RFC3339, c.DateTime)
		said := "Share for every purpose"
		if den := c.Denied(); len(den) > 0 {
			var names []string
			for _, k := range den {
				names = append(names, purposeName(k))
			}
			said = "Do not share for: " + strings.Join(names, ", ")
		}
		d.History = append(d.History, ConsentLine{When: ukWhen(t), Said: said, Current: c.Status == "active"})
	}
	return d, http.StatusOK, false
}

// saveSharing stores the choice as a Consent (the one it replaces made
// inactive) and makes it take effect through the objection path: each
// device withholds the purpose's sections at its next sync.
func (p *Portal) saveSharing(w http.ResponseWriter, r *http.Request) {
	s, _ := p.session(w, r)
	if !p.checkForm(w, r, s) {
		return
	}
	if !s.Proofed() {
		p.render(w, r, http.StatusForbidden, "proofing", s, nil)
		return
	}
	var denied []string
	for _, pu := range purposes {
		switch r.PostFormValue(pu.Key) {
		case "no":
			denied = append(denied, pu.Key)
		case "yes":
		default:
			http.Error(w, "Choose yes or no for every purpose.", http.StatusBadRequest)
			return
		}
	}
	if err := p.applySharing(s, denied); err != nil {
		if err == errUnchanged {
			http.Redirect(w, r, "/my/sharing?saved=same", http.StatusSeeOther)
			return
		}
		p.cfg.Logf("portal: saving a sharing choice: %v", err)
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
		return
	}
	http.Redirect(w, r, "/my/sharing?saved=1", http.StatusSeeOther)
}

var errUnchanged = fmt.Errorf("the choice is the one in force")

func (p *Portal) applySharing(s *Session, denied []string) error {
	obj, err := p.st.Objections(s.NHS)
	if err != nil {
		return err
	}
	sort.Strings(obj)
	want := append([]string(nil), denied...)
	sort.Strings(want)
	cs, err := p.consents(s.NHS)
	if err != nil {
		return err
	}
	if slices.Equal(obj, want) && len(cs) > 0 {
		return errUnchanged
	}
	ref, err := p.cfg.Record.PatientReference(s.NHS)
	if err != nil {
		return err
	}
	now := p.now()
	var rs []store.StoredResource
	for _, c := range cs {
		if c.Status == "active" {
			c.Status = "inactive"
			b, _ := json.Marshal(c)
			rs = append(rs, store.StoredResource{Key: "Consent/" + c.ID, Raw: b})
		}
	}
	// Time first, so ids sort in the order choices were made; a random
	// tail, so two choices in one clock tick are both kept.
	var tail [4]byte
	_, _ = rand.Read(tail[:])
	id := fmt.Sprintf("kmcr-sharing-%020d-%x", now.UnixNano(), tail)
	b, err := json.Marshal(newConsent(id, ref, now, denied))
	if err != nil {
		return err
	}
	rs = append(rs, store.StoredResource{Key: "Consent/" + id, Raw: b})
	if _, err := p.cfg.Record.AddPatientResources(s.NHS, rs); err != nil {
		return err
	}
	for _, pu := range purposes {
		if slices.Contains(want, pu.Key) {
			_, err = p.st.Object(s.NHS, pu.Key)
		} else {
			_, err = p.st.Withdraw(s.NHS, pu.Key)
		}
		if err != nil {
			return err
		}
	}
	return p.audit.view(s, "sharing-changed")
}
