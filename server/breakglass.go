package server

import (
	"errors"
	"fmt"
	"strings"

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
)

// breakGlass decides an emergency access request. A grant is a
// time-limited relationship (policy.BreakGlassDuration) logged as a change,
// so the document reaches the client as an ordinary batch, and an alert
// for the privacy officer. A refusal is an alert too: every denial is
// recorded.
func (s *Service) breakGlass(u store.User, rules policy.Rules, device string, req *protocol.BreakGlass) *protocol.BreakGlassResult {
	res := &protocol.BreakGlassResult{RequestID: req.RequestID}
	now := s.now()
	deny := func(why string) *protocol.BreakGlassResult {
		res.Error = why
		s.alert(store.Alert{Kind: AlertDenied, Device: device, User: u.Name, NHS: req.NHS, At: now,
			Detail: fmt.Sprintf("break-glass refused: %s (reason %s: %s)", why, req.ReasonCode, req.ReasonText)})
		return res
	}
	if !rules.BreakGlass {
		return deny(fmt.Sprintf("the %s role may not use emergency access", rules.Role))
	}
	if _, err := record.ParseNHSNumber(req.NHS); err != nil {
		return deny(err.Error())
	}
	if !protocol.ValidBreakGlassReason(req.ReasonCode) || strings.TrimSpace(req.ReasonText) == "" {
		return deny("a coded reason and a free-text explanation are both required")
	}
	if _, err := s.st.Patient(req.NHS); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return deny("the shared care record holds no summary for this NHS number")
		}
		return deny("the record could not be read")
	}
	if in, err := s.st.InCaseload(u.Name, req.NHS); err == nil && in {
		res.Granted = true // already a legitimate relationship: nothing to break
		return res
	}
	rel := store.Relationship{User: u.Name, NHS: req.NHS, Granted: now, Expires: now.Add(policy.BreakGlassDuration),
		ReasonCode: req.ReasonCode, ReasonText: req.ReasonText, Device: device}
	if err := s.st.GrantRelationship(rel); err != nil {
		return deny("the grant could not be stored")
	}
	s.alert(store.Alert{Kind: AlertBreakGlass, Device: device, User: u.Name, NHS: req.NHS, At: now,
		Detail: fmt.Sprintf("emergency access granted until %s: %s: %s", rel.Expires.Format("2006-01-02 15:04 MST"), req.ReasonCode, req.ReasonText)})
	res.Granted, res.ExpiresAt = true, rel.Expires
	return res
}

func (s *Service) alert(a store.Alert) {
	if err := s.st.AddAlerts([]store.Alert{a}); err != nil {
		s.cfg.Logf("storing alert %s: %v", a.Kind, err)
	}
}
