package server

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"kmcr/record"
	"kmcr/server/policy"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// Alert kinds the server raises itself (chain alerts come from the audit
// package's verification).
const (
	AlertBreakGlass = "break-glass"
	AlertDenied     = "denied"
	// AlertBreakGlassBudget: a user asked for more emergency accesses than
	// the budget of their role allows. One alert per user per budget
	// window, however many requests follow.
	AlertBreakGlassBudget = "break-glass-budget"
)

// BreakGlassBudget bounds how many emergency accesses one user may be
// granted in an hour and in a day. Role names a role's budget; User, when
// set, is one user's own budget and wins over the role's.
type BreakGlassBudget struct {
	Role string
	User string
	Hour int
	Day  int
}

// DefaultBreakGlassBudgets are the budgets of the roles that may use
// emergency access. A paramedic crew meets unknown patients all day; a
// community clinician mostly visits a known caseload, so five emergencies
// a day is already far outside the ordinary.
var DefaultBreakGlassBudgets = []BreakGlassBudget{
	{Role: string(policy.Paramedic), Hour: 5, Day: 20},
	{Role: string(policy.Community), Hour: 2, Day: 5},
}

// ParseBreakGlassBudget reads the --break-glass-budget flag's value:
// "role=paramedic,hour=5,day=20" or "user=amy,hour=2,day=4". A missing
// hour or day keeps the role's default.
func ParseBreakGlassBudget(s string) (BreakGlassBudget, error) {
	var b BreakGlassBudget
	hour, day := -1, -1
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return b, fmt.Errorf("break-glass budget %q: %q is not key=value (want role=NAME,hour=N,day=N)", s, part)
		}
		switch k {
		case "role":
			r, err := policy.ParseRole(v)
			if err != nil {
				return b, fmt.Errorf("break-glass budget %q: %w", s, err)
			}
			b.Role = string(r)
		case "user":
			if v == "" {
				return b, fmt.Errorf("break-glass budget %q: empty user", s)
			}
			b.User = v
		case "hour", "day":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1000 {
				return b, fmt.Errorf("break-glass budget %q: %s=%q is not a count from 0 to 1000", s, k, v)
			}
			if k == "hour" {
				hour = n
			} else {
				day = n
			}
		default:
			return b, fmt.Errorf("break-glass budget %q: unknown key %q (want role, user, hour, day)", s, k)
		}
	}
	if (b.Role == "") == (b.User == "") {
		return b, fmt.Errorf("break-glass budget %q: name exactly one of role= or user=", s)
	}
	base := BreakGlassBudget{Hour: 0, Day: 0}
	for _, d := range DefaultBreakGlassBudgets {
		if d.Role == b.Role {
			base = d
		}
	}
	b.Hour, b.Day = base.Hour, base.Day
	if hour >= 0 {
		b.Hour = hour
	}
	if day >= 0 {
		b.Day = day
	}
	if b.User != "" && (hour < 0 || day < 0) {
		return b, fmt.Errorf("break-glass budget %q: a user's budget needs both hour= and day=", s)
	}
	if b.Hour > b.Day {
		return b, fmt.Errorf("break-glass budget %q: %d an hour is more than %d a day", s, b.Hour, b.Day)
	}
	return b, nil
}

// Refusal messages. Every refusal that could depend on the patient says
// the same thing, decided before the patient is looked up, so a refusal
// never tells whether an NHS number is known.
const (
	msgBudget    = "emergency access refused: you have reached the limit of emergency accesses for now; the privacy officer has been told. Contact your clinical lead if this is an emergency"
	msgReason    = "emergency access refused: give a coded reason and explain in your own words why you need this record (at least two real words)"
	msgNoRecord  = "emergency access refused: no summary can be opened for this NHS number"
	msgBadNHS    = "emergency access refused: that is not a valid NHS number"
	msgNotStored = "emergency access refused: the grant could not be recorded; try again"
)

// breakGlass decides an emergency access request. A grant is a
// time-limited relationship (policy.BreakGlassDuration) logged as a change,
// so the document reaches the asking device as an ordinary batch, and an
// alert for the privacy officer.
//
// Order matters: everything that does not depend on the patient (role,
// budget, reason, NHS number format) is decided first, and every attempt
// that passes those counts against the budget whether or not the patient
// exists, so neither the answer nor the budget left tells a prober which
// numbers are known. Refusals raise denial alerts coalesced per user per
// hour; the device records each refusal in its own audit trail.
func (s *Service) breakGlass(u store.User, rules policy.Rules, device string, req *protocol.BreakGlass) *protocol.BreakGlassResult {
	res := &protocol.BreakGlassResult{RequestID: req.RequestID}
	now := s.now()
	reasonText := CleanReason(req.ReasonText)
	deny := func(msg, why string) *protocol.BreakGlassResult {
		res.Error = msg
		s.denied(u.Name, device, req.NHS, now, fmt.Sprintf("break-glass refused: %s (reason %s: %q)", why, req.ReasonCode, reasonText))
		return res
	}
	if !rules.BreakGlass {
		res.Error = fmt.Sprintf("emergency access refused: the %s role may not use emergency access", rules.Role)
		s.denied(u.Name, device, req.NHS, now, "break-glass refused: role may not use emergency access")
		return res
	}
	if !reasonAcceptable(req.ReasonCode, req.ReasonText, reasonText) {
		return deny(msgReason, "no coded reason or no real explanation")
	}
	if reasonText == "" {
		reasonText = protocol.BreakGlassReasonDisplay(req.ReasonCode) // what the grant and its alert record
	}
	if _, err := record.ParseNHSNumber(req.NHS); err != nil {
		return deny(msgBadNHS, "invalid NHS number")
	}
	if in, err := s.st.InCaseload(u.Name, req.NHS); err == nil && in {
		res.Granted = true // already a legitimate relationship: nothing to break
		return res
	}
	if ok, hour, day := s.budget.take(s.budgetFor(u), u.Name, now); !ok {
		res.Error = msgBudget
		s.budgetExceeded(u, device, req.NHS, now, hour, day)
		return res
	}
	if meta, err := s.st.Patient(req.NHS); err != nil {
		return deny(msgNoRecord, "no summary held or the record could not be read")
	} else if meta.Restricted || meta.Unstorable {
		// No device ever holds a restricted record, nor one whose
		// documents fail the client's limits, so a grant would send
		// nothing and leave the crew waiting: refuse it, in the words
		// used for a patient the record does not hold (a restriction is
		// not the requester's to learn); the denial says why.
		why := "the patient's record is restricted and never held on a device"
		if !meta.Restricted {
			why = "the patient has no document a device can store (it fails the client's limits)"
		}
		return deny(msgNoRecord, why)
	}
	rel := store.Relationship{User: u.Name, NHS: req.NHS, Granted: now, Expires: now.Add(policy.BreakGlassDuration),
		ReasonCode: req.ReasonCode, ReasonText: reasonText, Device: device}
	if err := s.st.GrantRelationship(rel); err != nil {
		s.cfg.Logf("storing a break-glass grant for %s: %v", u.Name, err)
		return deny(msgNotStored, "the grant could not be stored")
	}
	s.alert(store.Alert{Kind: AlertBreakGlass, Device: device, User: u.Name, NHS: req.NHS, At: now,
		Detail: fmt.Sprintf("emergency access granted until %s: %s: %q", rel.Expires.Format("2006-01-02 15:04 MST"), req.ReasonCode, reasonText)})
	res.Granted, res.ExpiresAt = true, rel.Expires
	return res
}

// budgetFor is the budget that applies to a user: their own, else their
// role's (configured, else default), else none.
func (s *Service) budgetFor(u store.User) BreakGlassBudget {
	var role *BreakGlassBudget
	for i := range s.cfg.BreakGlassBudgets {
		b := &s.cfg.BreakGlassBudgets[i]
		if b.User != "" && b.User == u.Name {
			return *b
		}
		if b.User == "" && b.Role == u.Role {
			role = b
		}
	}
	if role != nil {
		return *role
	}
	for _, b := range DefaultBreakGlassBudgets {
		if b.Role == u.Role {
			return b
		}
	}
	return BreakGlassBudget{Role: u.Role}
}

// budgetExceeded raises one escalating alert per user per budget window:
// the first refusal names the budget; later ones within the hour only
// count, and the next window's alert says how many there were.
func (s *Service) budgetExceeded(u store.User, device, nhs string, now time.Time, hour, day int) {
	b := s.budgetFor(u)
	first, folded := s.coalesce.hit(AlertBreakGlassBudget+"\x00"+u.Name, now, time.Hour)
	if !first {
		return
	}
	detail := fmt.Sprintf("%s (%s) asked for emergency access beyond the budget (%d of %d this hour, %d of %d today); further requests are refused and this alert is not repeated for an hour",
		u.Name, u.Role, hour, b.Hour, day, b.Day)
	if folded > 0 {
		detail += fmt.Sprintf("; %d refused requests followed the previous alert", folded)
	}
	s.alert(store.Alert{Kind: AlertBreakGlassBudget, Device: device, User: u.Name, NHS: nhs, At: now, Detail: detail})
}

// denied records a denial alert, coalesced per user per hour: the first in
// an hour is stored, the rest are counted into the next one. The device's
// own audit trail has every refused access.
func (s *Service) denied(user, device, nhs string, at time.Time, detail string) {
	first, folded := s.coalesce.hit(AlertDenied+"\x00"+user, at, time.Hour)
	if !first {
		return
	}
	if folded > 0 {
		detail += fmt.Sprintf(" (%d more denials of this user were folded into the previous alert)", folded)
	}
	s.alert(store.Alert{Kind: AlertDenied, Device: device, User: user, NHS: nhs, At: at, Detail: detail})
}

func (s *Service) alert(a store.Alert) {
	if err := s.st.AddAlerts([]store.Alert{a}); err != nil {
		s.cfg.Logf("storing alert %s: %v", a.Kind, err)
	}
}

// CleanReason removes what a reader cannot see from a break-glass reason:
// control characters, zero-width and other format characters (U+200B to
// U+200F, U+2060, U+FEFF, the bidirectional controls, all of Unicode's Cf
// category), and folds runs of white space into one space.
func CleanReason(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == unicode.ReplacementChar, unicode.Is(unicode.Cf, r), unicode.IsControl(r) && !unicode.IsSpace(r):
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Thresholds for a real reason: at least minReasonWords words, each of at
// least two letters and not one letter repeated, with minReasonLetters
// letters in all. "unconscious patient" passes; "x", "....", "aaaa aaaa"
// and "ok ok" do not.
const (
	minReasonWords   = 2
	minReasonLetters = 8
)

// reasonAcceptable is the one rule for a break-glass reason: a known code;
// free text is optional except for "other", and text that is given must
// hold real words once cleaned (so "x", a row of dots or text made only of
// invisible characters never passes as a reason).
func reasonAcceptable(code, raw, cleaned string) bool {
	if !protocol.ValidBreakGlassReason(code) {
		return false
	}
	if strings.TrimSpace(raw) == "" {
		return code != protocol.BreakGlassReasonOther
	}
	return RealReason(cleaned)
}

// RealReason reports whether a cleaned reason holds real words.
func RealReason(s string) bool {
	words, letters := 0, 0
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
		rs := []rune(w)
		if len(rs) < 2 {
			continue
		}
		distinct := false
		for _, r := range rs[1:] {
			if unicode.ToLower(r) != unicode.ToLower(rs[0]) {
				distinct = true
				break
			}
		}
		if !distinct {
			continue
		}
		words++
		letters += len(rs)
	}
	return words >= minReasonWords && letters >= minReasonLetters
}

// budgetLedger remembers each user's grants of the last day, in memory.
// It is seeded from the stored grant alerts when a user is first seen,
// so a restart does not refill anyone's budget.
type budgetLedger struct {
	mu     sync.Mutex
	grants map[string][]time.Time
	seed   func(user string, since time.Time) []time.Time
}

// take counts a request against the budget and reports whether it is
// within it, with the counts (this one included) for the hour and day.
func (l *budgetLedger) take(b BreakGlassBudget, user string, now time.Time) (bool, int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.grants == nil {
		l.grants = map[string][]time.Time{}
	}
	gs, ok := l.grants[user]
	if !ok && l.seed != nil {
		gs = l.seed(user, now.Add(-24*time.Hour))
	}
	kept := gs[:0]
	hour := 0
	for _, g := range gs {
		if now.Sub(g) < 24*time.Hour {
			kept = append(kept, g)
			if now.Sub(g) < time.Hour {
				hour++
			}
		}
	}
	l.grants[user] = kept
	if hour+1 > b.Hour || len(kept)+1 > b.Day {
		return false, hour + 1, len(kept) + 1
	}
	l.grants[user] = append(kept, now)
	return true, hour + 1, len(kept) + 1
}

// coalescer folds repeated alerts: hit reports whether this is the first
// of its key in the window (and how many were folded since the last
// first), so a flood yields one alert per key per window.
type coalescer struct {
	mu   sync.Mutex
	keys map[string]*coalesced
}

type coalesced struct {
	since  time.Time
	folded int
}

func (c *coalescer) hit(key string, now time.Time, window time.Duration) (first bool, folded int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[string]*coalesced{}
	}
	k, ok := c.keys[key]
	if ok && now.Sub(k.since) < window && !now.Before(k.since) {
		k.folded++
		return false, 0
	}
	if ok {
		folded = k.folded
	}
	if len(c.keys) > maxCoalesceKeys {
		for key, v := range c.keys {
			if now.Sub(v.since) >= window {
				delete(c.keys, key)
			}
		}
	}
	c.keys[key] = &coalesced{since: now}
	return true, folded
}

// maxCoalesceKeys bounds the coalescer's memory before expired keys are
// swept.
const maxCoalesceKeys = 4096

// seedGrants reads a user's server-granted emergency accesses since a time
// from the stored alerts (a grant alert has no device sequence number).
func (s *Service) seedGrants(user string, since time.Time) []time.Time {
	var out []time.Time
	err := s.st.Alerts(func(a store.Alert) error {
		if a.Kind == AlertBreakGlass && a.Seq == 0 && a.User == user && !a.At.Before(since) {
			out = append(out, a.At)
		}
		return nil
	})
	if err != nil {
		s.cfg.Logf("reading past break-glass grants: %v", err)
	}
	return out
}
