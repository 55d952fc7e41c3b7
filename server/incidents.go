package server

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"kmcr/record"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// Incident limits and the thresholds of the unusual-pattern alerts.
const (
	// DefaultIncidentExpiry is how long an incident lasts when the
	// dispatch system gives no expiry; MaxIncidentExpiry the longest it
	// may ask for.
	DefaultIncidentExpiry = 4 * time.Hour
	MaxIncidentExpiry     = 12 * time.Hour
	// MaxIncidentCrew bounds the crew named on one incident.
	MaxIncidentCrew = 8
	// MaxIncidentNamed bounds the NHS numbers a dispatch system may name.
	MaxIncidentNamed = 20
	// IncidentManyPatients: an incident with more candidates than this
	// raises AlertIncidentPatients (a care home or a block of flats is
	// plausible; a whole street is not).
	IncidentManyPatients = 10
	// IncidentManyForCrew: a crew member named on more incidents than
	// this in 24 hours raises AlertIncidentCrewDay (a busy shift is about
	// ten calls).
	IncidentManyForCrew = 12
	// maxAddressLine bounds the first line of an incident's address.
	maxAddressLine = 200
)

// Alert kinds of dispatch incidents: every grant is one (the audit trail
// of incident access, in the privacy officer's view), and unusual
// patterns raise their own.
const (
	// AlertIncidentGrant: a crew member was granted a candidate's record
	// for an incident (User, NHS; Detail names the incident).
	AlertIncidentGrant = "incident-grant"
	// AlertIncidentCrew: a user was named as crew on an incident.
	AlertIncidentCrew = "incident-crew"
	// AlertIncidentPatients: an incident found more than
	// IncidentManyPatients candidates.
	AlertIncidentPatients = "incident-many-patients"
	// AlertIncidentCrewDay: a user was named on more than
	// IncidentManyForCrew incidents in 24 hours (once per user a day).
	AlertIncidentCrewDay = "incident-many-for-crew"
)

// IncidentSourceAdmin is the Source of incidents opened from the command line.
const IncidentSourceAdmin = "admin"

// ErrIncidentOwned is wrapped when a dispatch system changes an incident
// another one opened.
var ErrIncidentOwned = errors.New("incident opened by another dispatch system")

// IncidentArgs opens or updates an incident. Expires is a duration from
// now ("4h", "90m") or an RFC 3339 time; empty is DefaultIncidentExpiry.
type IncidentArgs struct {
	ID       string   `json:"id"`
	Line     string   `json:"line"`
	Postcode string   `json:"postcode"`
	NHS      []string `json:"nhs,omitempty"`
	Crew     []string `json:"crew"`
	Expires  string   `json:"expires,omitempty"`
	// Source is the dispatch system's name (IncidentSourceAdmin from the
	// command line).
	Source string `json:"source"`
}

// IncidentInfo is an incident as the command line and the dispatch API
// show it.
type IncidentInfo struct {
	ID         string    `json:"id"`
	Source     string    `json:"source"`
	Address    string    `json:"address"`
	Postcode   string    `json:"postcode"`
	Opened     time.Time `json:"opened"`
	Updated    time.Time `json:"updated"`
	Expires    time.Time `json:"expires"`
	Crew       []string  `json:"crew"`
	Candidates int       `json:"candidates"`
	NHS        []string  `json:"nhs"`
}

func incidentInfo(in store.Incident) IncidentInfo {
	return IncidentInfo{ID: in.ID, Source: in.Source, Address: in.Address, Postcode: in.Postcode, Opened: in.Opened,
		Updated: in.Updated, Expires: in.Expires, Crew: in.Crew, Candidates: len(in.NHS), NHS: in.NHS}
}

// validIncidentID accepts 1 to 64 letters, digits, '.', '_', '-' and '/'.
func validIncidentID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return false
		}
	}
	return true
}

// parseExpiry reads an incident's expiry: empty is the default, a Go
// duration is from now, otherwise an RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return now.Add(DefaultIncidentExpiry), nil
	}
	var exp time.Time
	if d, err := time.ParseDuration(s); err == nil {
		exp = now.Add(d)
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		exp = t.UTC()
	} else {
		return time.Time{}, adminErr(ErrInvalidArgument, "expiry %q is neither a duration (4h, 90m) nor an RFC 3339 time", s)
	}
	if !exp.After(now) {
		return time.Time{}, adminErr(ErrInvalidArgument, "expiry %q is not in the future", s)
	}
	if exp.Sub(now) > MaxIncidentExpiry {
		return time.Time{}, adminErr(ErrInvalidArgument, "expiry %q is more than %s away (the longest an incident may last)", s, MaxIncidentExpiry)
	}
	return exp.Truncate(time.Microsecond), nil
}

// OpenIncident opens an incident, or updates the one with the same id
// (the same dispatch system's re-POST): it finds the candidates at the
// address, grants each crew member each candidate until the expiry, and
// records every new grant and crew assignment as an alert with the
// incident id. Errors the caller must fix are *AdminError.
func (s *Service) OpenIncident(a IncidentArgs) (store.Incident, error) {
	now := s.now().Truncate(time.Microsecond)
	if !validIncidentID(a.ID) {
		return store.Incident{}, adminErr(ErrInvalidArgument, "incident id %q: give 1 to 64 letters, digits, '.', '_', '-' or '/'", a.ID)
	}
	line := CleanReason(a.Line)
	if line == "" || len(line) > maxAddressLine {
		return store.Incident{}, adminErr(ErrInvalidArgument, "address line: give the first line of the address (up to %d characters)", maxAddressLine)
	}
	if _, _, ok := record.SplitPostcode(a.Postcode); !ok {
		return store.Incident{}, adminErr(ErrInvalidArgument, "postcode %q is not a UK postcode", a.Postcode)
	}
	pc := record.NormalisePostcode(a.Postcode)
	exp, err := parseExpiry(a.Expires, now)
	if err != nil {
		return store.Incident{}, err
	}
	if len(a.NHS) > MaxIncidentNamed {
		return store.Incident{}, adminErr(ErrInvalidArgument, "%d NHS numbers named (at most %d)", len(a.NHS), MaxIncidentNamed)
	}
	var named []string
	for _, raw := range a.NHS {
		n, err := record.ParseNHSNumber(raw)
		if err != nil {
			return store.Incident{}, adminErr(err, "NHS number %q: %v", raw, err)
		}
		named = append(named, n.Digits())
	}
	named = sortedSet(named)
	crew := sortedSet(a.Crew)
	if len(crew) == 0 || len(crew) > MaxIncidentCrew {
		return store.Incident{}, adminErr(ErrInvalidArgument, "crew: name 1 to %d users", MaxIncidentCrew)
	}
	for _, name := range crew {
		u, err := s.st.User(name)
		if errors.Is(err, store.ErrNotFound) {
			return store.Incident{}, adminErr(store.ErrNotFound, "crew: unknown user %q", name)
		}
		if err != nil {
			return store.Incident{}, err
		}
		if u.Disabled {
			return store.Incident{}, adminErr(ErrInvalidArgument, "crew: user %q is disabled", name)
		}
	}
	prev, err := s.st.Incident(a.ID)
	had := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Incident{}, err
	}
	if had && prev.Source != a.Source && a.Source != IncidentSourceAdmin {
		return store.Incident{}, adminErr(ErrIncidentOwned, "incident %s was opened by another dispatch system", a.ID)
	}
	cands, err := s.incidentCandidates(pc, line, named)
	if err != nil {
		return store.Incident{}, err
	}
	in := store.Incident{ID: a.ID, Source: a.Source, Address: line, Postcode: pc, Opened: now, Updated: now,
		Expires: exp, Crew: crew, NHS: cands, Named: named}
	if had {
		in.Opened, in.Source = prev.Opened, prev.Source
	}
	if len(in.NHS) > protocol.MaxIncidentPatients {
		in.NHS = in.NHS[:protocol.MaxIncidentPatients]
	}
	if _, _, err := s.st.PutIncident(in); err != nil {
		return store.Incident{}, err
	}
	s.incidentAlerts(prev, had, in, len(cands), now)
	return in, nil
}

// incidentCandidates are the patients recorded at the address (postcode
// and premise, by the one normalisation in record) and the named NHS
// numbers the record holds, sorted; a restricted patient is never one.
func (s *Service) incidentCandidates(postcode, line string, named []string) ([]string, error) {
	metas, err := s.st.PatientsAtPostcode(postcode)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range metas {
		if m.Restricted {
			continue
		}
		for _, addr := range m.Addresses {
			if addr.Postcode == postcode && record.SamePremise(line, addr.Line) {
				out = append(out, m.NHS)
				break
			}
		}
	}
	for _, n := range named {
		m, err := s.st.Patient(n)
		if errors.Is(err, store.ErrNotFound) {
			continue // not held: nothing to prefetch
		}
		if err != nil {
			return nil, err
		}
		if !m.Restricted {
			out = append(out, n)
		}
	}
	return sortedSet(out), nil
}

// incidentAlerts records each new grant and crew assignment, and the
// unusual patterns.
func (s *Service) incidentAlerts(prev store.Incident, had bool, in store.Incident, found int, now time.Time) {
	old := map[string]bool{}
	oldCrew := map[string]bool{}
	if had {
		for _, u := range prev.Crew {
			oldCrew[u] = true
			for _, n := range prev.NHS {
				old[u+"\x00"+n] = true
			}
		}
	}
	until := in.Expires.Format("2006-01-02 15:04 MST")
	var as []store.Alert
	for _, u := range in.Crew {
		if !oldCrew[u] {
			as = append(as, store.Alert{Kind: AlertIncidentCrew, User: u, At: now,
				Detail: fmt.Sprintf("incident %s (%s): named as crew at %s, %s until %s; %d people recorded there", in.ID, in.Source, in.Address, in.Postcode, until, len(in.NHS))})
		}
		for _, n := range in.NHS {
			if !old[u+"\x00"+n] {
				as = append(as, store.Alert{Kind: AlertIncidentGrant, User: u, NHS: n, At: now,
					Detail: fmt.Sprintf("incident %s (%s): record sent ahead to the crew until %s: %s, %s", in.ID, in.Source, until, in.Address, in.Postcode)})
			}
		}
	}
	if found > IncidentManyPatients && (!had || len(prev.NHS) <= IncidentManyPatients) {
		as = append(as, store.Alert{Kind: AlertIncidentPatients, At: now,
			Detail: fmt.Sprintf("incident %s (%s): %d people recorded at %s, %s (more than %d; at most %d are sent)", in.ID, in.Source, found, in.Address, in.Postcode, IncidentManyPatients, protocol.MaxIncidentPatients)})
	}
	if len(as) > 0 {
		if err := s.st.AddAlerts(as); err != nil {
			s.cfg.Logf("storing incident alerts for %s: %v", in.ID, err)
		}
	}
	for _, u := range in.Crew {
		if oldCrew[u] {
			continue
		}
		if n := s.crewIncidents(u, now.Add(-24*time.Hour)); n > IncidentManyForCrew {
			if first, _ := s.coalesce.hit(AlertIncidentCrewDay+"\x00"+u, now, 24*time.Hour); first {
				s.alert(store.Alert{Kind: AlertIncidentCrewDay, User: u, At: now,
					Detail: fmt.Sprintf("%s was named as crew on %d incidents in 24 hours (more than %d); latest %s (%s)", u, n, IncidentManyForCrew, in.ID, in.Source)})
			}
		}
	}
}

// crewIncidents counts the incidents a user was named on since a time,
// from the stored crew alerts.
func (s *Service) crewIncidents(user string, since time.Time) int {
	n := 0
	if err := s.st.Alerts(func(a store.Alert) error {
		if a.Kind == AlertIncidentCrew && a.User == user && !a.At.Before(since) {
			n++
		}
		return nil
	}); err != nil {
		s.cfg.Logf("counting incidents of %s: %v", user, err)
	}
	return n
}

// CloseIncident ends an incident: its grants end, and the crew's devices
// delete the candidates' summaries unless another relationship holds
// them. A dispatch system may close only its own (source
// IncidentSourceAdmin closes any).
func (s *Service) CloseIncident(id, source string) (store.Incident, error) {
	in, err := s.st.Incident(id)
	if errors.Is(err, store.ErrNotFound) {
		return in, adminErr(store.ErrNotFound, "no open incident %q", id)
	}
	if err != nil {
		return in, err
	}
	if in.Source != source && source != IncidentSourceAdmin {
		return in, adminErr(ErrIncidentOwned, "incident %s was opened by another dispatch system", id)
	}
	in, err = s.st.EndIncident(id, s.now().Truncate(time.Microsecond))
	if errors.Is(err, store.ErrNotFound) {
		return in, adminErr(store.ErrNotFound, "no open incident %q", id)
	}
	return in, err
}

// OpenIncidents lists the incidents not yet expired, by id.
func (s *Service) OpenIncidents() ([]store.Incident, error) {
	now := s.now()
	var out []store.Incident
	err := s.st.Incidents(func(in store.Incident) error {
		if in.Expires.After(now) {
			out = append(out, in)
		}
		return nil
	})
	return out, err
}

// userIncidents is the Incidents message for a user: their open
// incidents, newest expiry last, at most protocol.MaxIncidents.
func (s *Service) userIncidents(user string) (*protocol.Incidents, error) {
	all, err := s.OpenIncidents()
	if err != nil {
		return nil, err
	}
	msg := &protocol.Incidents{Open: []protocol.Incident{}}
	for _, in := range all {
		if !slices.Contains(in.Crew, user) {
			continue
		}
		msg.Open = append(msg.Open, protocol.Incident{ID: in.ID, Address: in.Address, Postcode: in.Postcode,
			Opened: in.Opened, Expires: in.Expires, NHS: append([]string{}, in.NHS...)})
	}
	slices.SortStableFunc(msg.Open, func(a, b protocol.Incident) int { return a.Expires.Compare(b.Expires) })
	if len(msg.Open) > protocol.MaxIncidents {
		msg.Open = msg.Open[len(msg.Open)-protocol.MaxIncidents:]
	}
	return msg, nil
}

// Grants lists the server's grants of a patient's record (break-glass
// and incident grant alerts), oldest first: the access log shows them
// beside the devices' events.
func (s *Service) Grants(nhs string) ([]store.Alert, error) {
	n, err := record.ParseNHSNumber(nhs)
	if err != nil {
		return nil, err
	}
	var out []store.Alert
	err = s.st.Alerts(func(a store.Alert) error {
		if a.NHS == n.Digits() && (a.Kind == AlertIncidentGrant || a.Kind == AlertBreakGlass && a.Seq == 0) {
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// expireIncidents ends the incidents past their expiry.
func (s *Service) expireIncidents() error {
	_, err := s.st.ExpireIncidents(s.now().Truncate(time.Microsecond))
	return err
}

func sortedSet(xs []string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, cmp.Compare[string])
	return slices.Compact(out)
}

// Dispatch credentials. A credential is "NAME.SECRET": the name says
// which stored hash to check, the secret is 32 random bytes in base64url.

// errBadDispatchName is the message for a dispatch system name that is
// not 1 to 64 lower-case letters, digits and hyphens.
const errBadDispatchName = "dispatch system name %q: give 1 to 64 lower-case letters, digits and hyphens"

func validDispatchName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range []byte(n) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// AddDispatcher makes a dispatch system's credential, returned once; only
// its hash is stored.
func (s *Service) AddDispatcher(name string) (string, error) {
	if !validDispatchName(name) {
		return "", adminErr(ErrInvalidArgument, errBadDispatchName, name)
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding.EncodeToString(secret[:])
	h := sha256.Sum256([]byte(enc))
	err := s.st.AddDispatcher(store.Dispatcher{Name: name, SecretHash: h[:], Created: s.now().Truncate(time.Microsecond)})
	if errors.Is(err, store.ErrExists) {
		return "", adminErr(store.ErrExists, "dispatch system %s already exists (remove it first to issue a new credential)", name)
	}
	if err != nil {
		return "", err
	}
	return name + "." + enc, nil
}

// dispatcher checks a dispatch credential and returns the system's name.
func (s *Service) dispatcher(cred string) (string, bool) {
	name, secret, ok := strings.Cut(cred, ".")
	if !ok || !validDispatchName(name) || len(secret) != 43 {
		return "", false
	}
	d, err := s.st.Dispatcher(name)
	h := sha256.Sum256([]byte(secret))
	if err != nil {
		return "", false
	}
	return name, subtle.ConstantTimeCompare(h[:], d.SecretHash) == 1
}
