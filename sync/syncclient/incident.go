package syncclient

import (
	"errors"
	"fmt"
	"slices"

	"kmcr/sync/protocol"
)

// IncidentApplier is implemented by an Applier that keeps the user's open
// dispatch incidents (protocol.FeatureIncident): the client then lists the
// feature in Hello, and a server that echoes it in Welcome may send
// documents with relationship protocol.RelIncident and Incidents messages.
// ApplyIncidents stores the complete list durably, replacing the one held
// (an incident missing from it has ended); it wraps ErrBadBatch when the
// list's content is malformed, and must then have stored nothing.
type IncidentApplier interface {
	ApplyIncidents(in *protocol.Incidents) error
}

// features are the optional features this client lists in Hello: the
// break-glass trace always, incidents when the applier keeps them.
func (c *Client) features() []string {
	fs := []string{protocol.FeatureTrace} // trace.go
	if _, ok := c.cfg.Applier.(IncidentApplier); ok {
		fs = append(fs, protocol.FeatureIncident)
	}
	return fs
}

// incidentsAgreed reports whether both sides speak FeatureIncident on this
// session: this client listed it and the Welcome echoed it.
func (s *session) incidentsAgreed() bool {
	return s.welcomed && s.incidents
}

// agreeFeatures records which of the client's features the Welcome echoed;
// a feature the client did not list is ignored (the server may not use it).
func (s *session) agreeFeatures(w *protocol.Welcome) {
	offered := s.c.features()
	s.incidents = slices.Contains(offered, protocol.FeatureIncident) && slices.Contains(w.Features, protocol.FeatureIncident)
}

// checkRelationships refuses a batch carrying an incident document on a
// session that did not agree FeatureIncident: to this client it is an
// unknown relationship, as it was before the feature existed.
func (s *session) checkRelationships(b *protocol.Batch) error {
	if s.incidentsAgreed() {
		return nil
	}
	for _, u := range b.Upserts {
		if u.Relationship == protocol.RelIncident {
			return s.violation(protocol.CloseProtocolError, fmt.Sprintf("batch %d: relationship %q for %s without the %q feature", b.ID, u.Relationship, u.NHS, protocol.FeatureIncident))
		}
	}
	return nil
}

// onIncidents hands the complete list of open incidents to the Applier.
func (s *session) onIncidents(in *protocol.Incidents) error {
	ia, ok := s.c.cfg.Applier.(IncidentApplier)
	if !ok || !s.incidentsAgreed() {
		return s.violation(protocol.CloseOutOfOrder, fmt.Sprintf("incidents without the %q feature", protocol.FeatureIncident))
	}
	if err := ia.ApplyIncidents(in); err != nil {
		if errors.Is(err, ErrBadBatch) {
			s.conn.Close(protocol.CloseProtocolError, fmt.Sprintf("incidents rejected: %v", err))
			return fmt.Errorf("protocol violation by the server: incidents rejected: %w", err)
		}
		s.conn.Close(protocol.CloseGoingAway, "client could not store the incidents")
		return local("storing the open incidents: %w", err)
	}
	return nil
}
