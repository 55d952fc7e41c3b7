package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// chainState decodes a device's stored audit chain state.
func chainState(d store.Device) (audit.DeviceChain, error) {
	st := audit.DeviceChain{DeviceID: d.ID}
	if len(d.Chain) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(d.Chain, &st); err != nil {
		return st, fmt.Errorf("device %s audit chain state: %w", d.ID, err)
	}
	return st, nil
}

// chainSeq is the last stored sequence number in an encoded chain state.
func chainSeq(b []byte) uint64 {
	var st audit.DeviceChain
	if json.Unmarshal(b, &st) != nil {
		return 0
	}
	return st.LastSeq
}

func signedHead(h protocol.SignedHead) *audit.SignedHead {
	var sh audit.SignedHead
	sh.Seq = h.Seq
	copy(sh.Hash[:], h.Hash)
	sh.Signature = h.Sig
	return &sh
}

// ingestAudit verifies an uploaded batch against the device's chain and
// stores what it accepts, keeps what it cannot accept, and records alerts,
// all in one transaction, before the acknowledgement is sent: the client
// deletes only what is durably stored here.
func (s *Service) ingestAudit(d store.Device, u store.User, up *protocol.AuditUpload) (*protocol.AuditAck, error) {
	// The session's copy of the device may be stale; the chain state is not.
	fresh, err := s.st.Device(d.ID)
	if err != nil {
		return nil, err
	}
	state, err := chainState(fresh)
	if err != nil {
		return nil, err
	}
	batch := make([]audit.Uploaded, len(up.Seqs))
	for i := range up.Seqs {
		batch[i] = audit.Uploaded{Seq: up.Seqs[i], Canonical: up.Events[i]}
	}
	var head *audit.SignedHead
	if len(up.Head.Hash) == audit.HashSize {
		head = signedHead(up.Head)
	}
	var lookupErr error
	stored := func(seq uint64) (audit.Hash, bool) {
		var h audit.Hash
		b, ok, err := s.st.AuditHash(d.ID, seq)
		if err != nil {
			lookupErr = err
			return h, false
		}
		copy(h[:], b)
		return h, ok
	}
	now := s.now()
	res, err := audit.VerifyBatch(state, fresh.PublicKey, batch, head, stored, now)
	if err != nil {
		return nil, err
	}
	if lookupErr != nil {
		return nil, fmt.Errorf("reading stored audit hashes: %w", lookupErr)
	}
	events := make([]store.StoredEvent, 0, len(res.Accepted)+len(res.Malformed))
	for _, e := range res.Accepted {
		h := e.Hash()
		events = append(events, store.StoredEvent{Device: d.ID, Seq: e.Seq, Hash: h[:], Canonical: e.Canonical(), Recorded: now, NHS: string(e.Patient)})
	}
	for _, m := range res.Malformed {
		events = append(events, store.StoredEvent{Device: d.ID, Seq: m.Seq, Hash: m.Hash[:], Canonical: m.Canonical, Recorded: now, Malformed: true, Reason: m.Reason})
	}
	conflicts := make([]store.StoredEvent, 0, len(res.Conflicts))
	for _, c := range res.Conflicts {
		conflicts = append(conflicts, store.StoredEvent{Device: d.ID, Seq: c.Seq, Hash: c.Hash[:], Canonical: c.Canonical, Recorded: now, Malformed: true, Reason: string(c.Kind) + ": " + c.Reason})
	}
	alerts := make([]store.Alert, 0, len(res.Alerts))
	for _, a := range res.Alerts {
		user := a.User
		if user == "" {
			user = u.Name
		}
		if a.Kind == audit.AlertBreakGlass && s.grantAlerted(d.ID, user, string(a.Patient), a.At) {
			continue // the server's grant already raised this one
		}
		alerts = append(alerts, store.Alert{Kind: string(a.Kind), Device: d.ID, User: user, NHS: string(a.Patient), Seq: a.Seq, Detail: a.Detail, At: a.At})
	}
	chain, err := json.Marshal(res.Next)
	if err != nil {
		return nil, err
	}
	if err := s.st.StoreAudit(d.ID, events, conflicts, alerts, chain); err != nil {
		return nil, fmt.Errorf("storing audit events: %w", err)
	}
	for _, a := range alerts {
		// The detail stays in the alert store: it can carry a reason's
		// free text, which the server log never holds.
		s.cfg.Logf("ALERT %s device %s user %s seq %d (kmcr-server alerts shows the detail)", a.Kind, a.Device, a.User, a.Seq)
	}
	return &protocol.AuditAck{ID: up.ID, Through: res.AckThrough, Accepted: len(res.Accepted), Duplicates: len(res.Duplicates), Alerts: len(alerts)}, nil
}

// grantAlerted reports whether a break-glass event a device recorded at
// `at` is the one the server granted online, and alerted on then: the same
// device, user and patient, within the clock skew the chain tolerates.
// Offline break-glass, or a grant whose record has since expired and been
// swept, has no match and raises its own alert: a second alert for one
// access is better than none.
func (s *Service) grantAlerted(device, user, nhs string, at time.Time) bool {
	rel, _, err := s.st.Relationship(user, nhs, at)
	if err != nil || rel.Device != device || rel.Granted.IsZero() {
		return false
	}
	skew := at.Sub(rel.Granted)
	return skew > -audit.ClockSkewTolerance && skew < audit.ClockSkewTolerance
}

// checkHead compares the head a device announces at connection with what
// the server holds: an older head means an older copy of the cache.
func (s *Service) checkHead(deviceID string, h *protocol.SignedHead) {
	d, err := s.st.Device(deviceID)
	if err != nil {
		return
	}
	u, _ := s.st.User(d.User)
	if _, err := s.ingestAudit(d, u, &protocol.AuditUpload{ID: 1, Head: *h}); err != nil {
		s.cfg.Logf("checking audit head of %s: %v", deviceID, err)
	}
}

// AccessLog returns every stored event about a patient, oldest first by
// the time it happened on the device.
func (s *Service) AccessLog(nhs string) ([]audit.Stored, error) {
	n, err := record.ParseNHSNumber(nhs)
	if err != nil {
		return nil, err
	}
	var out []audit.Stored
	err = s.st.AccessLog(n.Digits(), func(se store.StoredEvent) error {
		if se.Malformed {
			return nil
		}
		e, err := audit.Decode(se.Canonical)
		if err != nil {
			return fmt.Errorf("stored event %s/%d: %w", se.Device, se.Seq, err)
		}
		out = append(out, audit.Stored{DeviceID: se.Device, Event: e, Recorded: se.Recorded})
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Event.Occurred.Before(out[j].Event.Occurred) })
	return out, err
}

// AccessLogJSON returns the access log as a FHIR Bundle of AuditEvents.
func (s *Service) AccessLogJSON(nhs string) ([]byte, error) {
	entries, err := s.AccessLog(nhs)
	if err != nil {
		return nil, err
	}
	return audit.Bundle(entries)
}

// ChainReport is the result of re-checking one device's stored chain.
type ChainReport struct {
	Device    string
	User      string
	Events    int
	LastSeq   uint64
	Problems  []string
	Conflicts int
}

// ErrChainBroken is returned by VerifyChains when any device's chain is broken.
var ErrChainBroken = errors.New("an audit chain is broken")

// VerifyChains re-checks every device's stored events from the start: each
// sequence number present once, each event linked to the previous one's
// hash, each stored hash matching its bytes, nothing kept aside.
func (s *Service) VerifyChains() ([]ChainReport, error) {
	ds, err := s.st.Devices()
	if err != nil {
		return nil, err
	}
	var reports []ChainReport
	broken := false
	for _, d := range ds {
		r := ChainReport{Device: d.ID, User: d.User}
		var prev audit.Hash
		var expect uint64 = 1
		err := s.st.AuditEvents(d.ID, func(se store.StoredEvent) error {
			r.Events++
			r.LastSeq = se.Seq
			gap := se.Seq != expect
			if gap {
				r.Problems = append(r.Problems, fmt.Sprintf("gap: sequence %d follows %d", se.Seq, expect-1))
			}
			expect = se.Seq + 1
			h := audit.HashCanonical(se.Canonical)
			if string(h[:]) != string(se.Hash) {
				r.Problems = append(r.Problems, fmt.Sprintf("sequence %d: stored bytes do not match their hash", se.Seq))
			}
			if se.Malformed {
				r.Problems = append(r.Problems, fmt.Sprintf("sequence %d: malformed (%s)", se.Seq, se.Reason))
				prev = h
				return nil
			}
			e, err := audit.Decode(se.Canonical)
			if err != nil {
				r.Problems = append(r.Problems, fmt.Sprintf("sequence %d: %v", se.Seq, err))
			} else if !gap && e.Prev != prev {
				r.Problems = append(r.Problems, fmt.Sprintf("sequence %d: does not link to the previous event's hash", se.Seq))
			}
			prev = h
			return nil
		})
		if err != nil {
			return nil, err
		}
		_ = s.st.Conflicts(d.ID, func(se store.StoredEvent) error {
			r.Conflicts++
			r.Problems = append(r.Problems, fmt.Sprintf("sequence %d: a second, different version was received (%s)", se.Seq, se.Reason))
			return nil
		})
		if len(r.Problems) > 0 {
			broken = true
		}
		reports = append(reports, r)
	}
	if broken {
		return reports, ErrChainBroken
	}
	return reports, nil
}
