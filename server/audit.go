package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
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

// Alert kinds the server raises about uploaded events.
const (
	// AlertForged: an uploaded event names a user or role other than the
	// device's registration. The event is kept for the privacy officer as
	// a malformed item (so the chain runs through it), never as an access.
	AlertForged = "forged"
	// AlertImpossibleTime: an event claims a time before its device was
	// registered (less the clock skew tolerance). Accepted, because the
	// access happened; the time is not to be trusted. A time in the
	// future is audit.AlertClockSkew.
	AlertImpossibleTime = "impossible-time"
	// AlertProfileRollback: the device found at unlock that its profile
	// folder had been restored from an older copy (its audit sequence
	// numbers were behind the high-water mark kept in the OS keyring),
	// and reported it. audit verify fails for the device from then on.
	AlertProfileRollback = "profile-rollback"
)

// oversizedKept is how much of an item over AuditQuota.MaxEventBytes is
// kept: enough for a person to see what it was.
const oversizedKept = 1 << 10

// ingestAudit verifies an uploaded batch against the device's chain and
// stores what it accepts, keeps what it cannot accept, and records alerts,
// all in one transaction, before the acknowledgement is sent: the client
// deletes only what is durably stored here.
//
// Who did it is what the server knows, not what the event says: an event
// naming another user or role than the device's registration is refused as
// forged, and every alert names the device's user.
//
// The device's quota (AuditQuota) is applied first. When it covers none of
// the upload, nothing is stored and hold says how long to wait before
// trying the same upload again; when it covers part, that part is stored
// and acknowledged, and the client sends the rest.
func (s *Service) ingestAudit(d store.Device, u store.User, up *protocol.AuditUpload) (ack *protocol.AuditAck, hold time.Duration, err error) {
	// The session's copy of the device may be stale; the chain state is not.
	fresh, err := s.st.Device(d.ID)
	if err != nil {
		return nil, 0, err
	}
	state, err := chainState(fresh)
	if err != nil {
		return nil, 0, err
	}
	batch := make([]audit.Uploaded, len(up.Seqs))
	for i := range up.Seqs {
		batch[i] = audit.Uploaded{Seq: up.Seqs[i], Canonical: up.Events[i]}
	}
	now := s.now()
	cut, all, wait := s.quotas.admit(d.ID, batch, now)
	if !all {
		s.throttled(fresh, u, now, len(batch))
		if cut == 0 {
			return nil, wait, nil
		}
		batch = below(batch, cut)
	}
	var head *audit.SignedHead
	if len(up.Head.Hash) == audit.HashSize {
		head = signedHead(up.Head)
	}
	res, v, err := s.verifyUpload(fresh, u, state, batch, head, now)
	if err != nil {
		return nil, 0, err
	}
	if left, wait := s.quotas.malformedLeft(d.ID, now); len(v.keptSeqs) > left {
		// Keep what the malformed allowance covers; hold the rest.
		sort.Slice(v.keptSeqs, func(i, j int) bool { return v.keptSeqs[i] < v.keptSeqs[j] })
		cut := v.keptSeqs[left]
		s.throttled(fresh, u, now, len(batch))
		if batch = below(batch, cut); len(batch) == 0 {
			return nil, wait, nil
		}
		if res, v, err = s.verifyUpload(fresh, u, state, batch, head, now); err != nil {
			return nil, 0, err
		}
	}
	alerts := s.capAlerts(fresh, u, v.alerts, now)
	chain, err := json.Marshal(res.Next)
	if err != nil {
		return nil, 0, err
	}
	if err := s.st.StoreAudit(d.ID, v.events, v.conflicts, alerts, chain); err != nil {
		return nil, 0, fmt.Errorf("storing audit events: %w", err)
	}
	if s.cfg.Accesses != nil {
		if err := s.cfg.Accesses(d.ID, u, uploadAccesses(u, res, batch, v)); err != nil {
			return nil, 0, fmt.Errorf("queuing the patients' notifications: %w", err)
		}
	}
	s.quotas.spend(d.ID, len(batch), v.bytes, len(v.keptSeqs), now)
	for _, a := range alerts {
		// The detail can carry a patient's number and a user's free text:
		// it stays in the store, for kmcr-server alerts, not in the log.
		s.cfg.Logf("ALERT %s device %s user %s seq %d (kmcr-server alerts has the detail)", a.Kind, a.Device, a.User, a.Seq)
	}
	return &protocol.AuditAck{ID: up.ID, Through: res.AckThrough, Accepted: len(res.Accepted) - v.refused, Duplicates: len(res.Duplicates), Alerts: len(alerts)}, 0, nil
}

// uploadAccesses are the upload's events stored as accesses: the accepted
// ones not kept aside, and those sent again (duplicates) that name the
// device's user.
func uploadAccesses(u store.User, res audit.BatchResult, batch []audit.Uploaded, v uploadVerdict) []audit.Event {
	kept := map[uint64]bool{}
	for _, seq := range v.keptSeqs {
		kept[seq] = true
	}
	var out []audit.Event
	for _, e := range res.Accepted {
		if !kept[e.Seq] {
			out = append(out, e)
		}
	}
	dup := map[uint64]bool{}
	for _, seq := range res.Duplicates {
		dup[seq] = true
	}
	for _, it := range batch {
		if !dup[it.Seq] {
			continue
		}
		delete(dup, it.Seq)
		if e, err := audit.Decode(it.Canonical); err == nil && e.User.ID == u.Name && e.User.Role == u.Role {
			out = append(out, e)
		}
	}
	return out
}

// uploadVerdict is what the server keeps of a verified batch.
type uploadVerdict struct {
	events, conflicts []store.StoredEvent
	alerts            []store.Alert
	keptSeqs          []uint64 // malformed, forged or oversized items
	refused           int      // accepted by the chain but refused as forged or oversized
	bytes             int      // bytes of the batch, each item counted up to MaxEventBytes
}

// verifyUpload runs the chain verification and then the server's own
// judgement of each event: forged, oversized, impossible in time.
func (s *Service) verifyUpload(d store.Device, u store.User, state audit.DeviceChain, batch []audit.Uploaded, head *audit.SignedHead, now time.Time) (audit.BatchResult, uploadVerdict, error) {
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
	res, err := audit.VerifyBatch(state, d.PublicKey, batch, head, stored, now)
	if err != nil {
		return res, uploadVerdict{}, err
	}
	if lookupErr != nil {
		return res, uploadVerdict{}, fmt.Errorf("reading stored audit hashes: %w", lookupErr)
	}
	return res, s.judge(d, u, res, batch, now), nil
}

// judge turns a chain verdict into what is stored: accepted events as
// accesses, forged and oversized ones as kept items, and the alerts, each
// naming the device's user.
func (s *Service) judge(d store.Device, u store.User, res audit.BatchResult, batch []audit.Uploaded, now time.Time) uploadVerdict {
	maxBytes := s.cfg.AuditQuota.MaxEventBytes
	var v uploadVerdict
	for _, it := range batch {
		v.bytes += min(len(it.Canonical), maxBytes)
	}
	v.events = make([]store.StoredEvent, 0, len(res.Accepted)+len(res.Malformed))
	refused := map[uint64]bool{}
	var forged, early []uint64
	var earliest time.Time
	for _, e := range res.Accepted {
		h := e.Hash()
		se := store.StoredEvent{Device: d.ID, Seq: e.Seq, Hash: h[:], Canonical: e.Canonical(), Recorded: now, NHS: string(e.Patient)}
		switch {
		case len(se.Canonical) > maxBytes:
			se = keepOversized(se, maxBytes)
		case e.User.ID != u.Name || e.User.Role != u.Role:
			se.NHS, se.Malformed = "", true
			se.Reason = fmt.Sprintf("forged: the event names user %q (%s) but the device is registered to %s (%s)", e.User.ID, e.User.Role, u.Name, u.Role)
			forged = append(forged, e.Seq)
		default:
			if !d.Registered.IsZero() && e.Occurred.Before(d.Registered.Add(-audit.ClockSkewTolerance)) {
				if len(early) == 0 || e.Occurred.Before(earliest) {
					earliest = e.Occurred
				}
				early = append(early, e.Seq)
			}
			v.events = append(v.events, se)
			continue
		}
		refused[e.Seq] = true
		v.keptSeqs = append(v.keptSeqs, e.Seq)
		v.events = append(v.events, se)
	}
	v.refused = len(refused)
	for _, m := range res.Malformed {
		se := store.StoredEvent{Device: d.ID, Seq: m.Seq, Hash: m.Hash[:], Canonical: m.Canonical, Recorded: now, Malformed: true, Reason: m.Reason}
		if len(se.Canonical) > maxBytes {
			se = keepOversized(se, maxBytes)
		}
		v.keptSeqs = append(v.keptSeqs, m.Seq)
		v.events = append(v.events, se)
	}
	v.conflicts = make([]store.StoredEvent, 0, len(res.Conflicts))
	for _, c := range res.Conflicts {
		se := store.StoredEvent{Device: d.ID, Seq: c.Seq, Hash: c.Hash[:], Canonical: c.Canonical, Recorded: now, Malformed: true, Reason: string(c.Kind) + ": " + c.Reason}
		if len(se.Canonical) > maxBytes {
			se = keepOversized(se, maxBytes)
		}
		v.conflicts = append(v.conflicts, se)
	}
	for _, a := range res.Alerts {
		if a.Kind == audit.AlertBreakGlass && (refused[a.Seq] || s.grantAlerted(d.ID, u.Name, string(a.Patient), a.At)) {
			continue // forged (alerted below), or the server's grant already raised it
		}
		v.alerts = append(v.alerts, store.Alert{Kind: string(a.Kind), Device: d.ID, User: u.Name, NHS: string(a.Patient), Seq: a.Seq, Detail: a.Detail, At: a.At})
	}
	if len(forged) > 0 {
		v.alerts = append(v.alerts, store.Alert{Kind: AlertForged, Device: d.ID, User: u.Name, Seq: forged[0], At: now,
			Detail: fmt.Sprintf("device %s of %s (%s) uploaded %d events naming another user or role (first seq %d); kept aside, not counted as accesses", d.ID, u.Name, u.Role, len(forged), forged[0])})
	}
	if len(early) > 0 {
		v.alerts = append(v.alerts, store.Alert{Kind: AlertImpossibleTime, Device: d.ID, User: u.Name, Seq: early[0], At: now,
			Detail: fmt.Sprintf("%d events claim times before device %s was registered at %s (first seq %d, earliest %s); accepted, but their times are not to be trusted",
				len(early), d.ID, d.Registered.UTC().Format(time.RFC3339), early[0], earliest.UTC().Format(time.RFC3339))})
	}
	return v
}

// keepOversized keeps the start of an item too large to store whole,
// with the hash of the whole so the chain still runs through it.
func keepOversized(se store.StoredEvent, maxBytes int) store.StoredEvent {
	n := len(se.Canonical)
	se.Canonical = append([]byte(nil), se.Canonical[:oversizedKept]...)
	se.NHS, se.Malformed = "", true
	se.Reason = fmt.Sprintf("oversized: %d bytes, over the %d-byte limit; the first %d bytes are kept and the hash is of the whole", n, maxBytes, oversizedKept)
	return se
}

// throttled raises one alert per device per hour when its uploads go past
// the quota.
func (s *Service) throttled(d store.Device, u store.User, now time.Time, items int) {
	first, folded := s.coalesce.hit(AlertAuditThrottled+"\x00"+d.ID, now, time.Hour)
	if !first {
		return
	}
	q := s.cfg.AuditQuota
	detail := fmt.Sprintf("device %s of %s uploads audit events past its quota (%d events a minute, %d bytes a minute, %d malformed items an hour); an upload of %d items is held and will be taken as the allowance refills",
		d.ID, u.Name, q.EventsPerMinute, q.BytesPerMinute, q.MalformedPerHour, items)
	if folded > 0 {
		detail += fmt.Sprintf("; %d held uploads followed the previous alert", folded)
	}
	s.alert(store.Alert{Kind: AlertAuditThrottled, Device: d.ID, User: u.Name, At: now, Detail: detail})
	s.cfg.Logf("ALERT %s device %s user %s", AlertAuditThrottled, d.ID, u.Name)
}

// capAlerts keeps the alerts a device's allowance covers and folds the
// rest into one alert-flood alert per device per hour.
func (s *Service) capAlerts(d store.Device, u store.User, alerts []store.Alert, now time.Time) []store.Alert {
	k := s.quotas.alertsLeft(d.ID, len(alerts), now)
	if k == len(alerts) {
		return alerts
	}
	kinds := map[string]int{}
	for _, a := range alerts[k:] {
		kinds[a.Kind]++
	}
	out := alerts[:k:k]
	if first, _ := s.coalesce.hit(AlertAuditAlertFlood+"\x00"+d.ID, now, time.Hour); first {
		out = append(out, store.Alert{Kind: AlertAuditAlertFlood, Device: d.ID, User: u.Name, At: now,
			Detail: fmt.Sprintf("device %s of %s raised more than %d alerts within an hour; %d more were folded (%s); the events themselves are stored as usual",
				d.ID, u.Name, s.cfg.AuditQuota.AlertsPerHour, len(alerts)-k, kindCounts(kinds))})
	}
	return out
}

func kindCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", m[k], k)
	}
	return b.String()
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
	if _, _, err := s.ingestAudit(d, u, &protocol.AuditUpload{ID: 1, Head: *h}); err != nil {
		s.cfg.Logf("checking audit head of %s: %v", deviceID, err)
	}
}

// reportRollback records a device's report that its profile folder was
// restored from an older copy: an alert naming the device's user and the
// sequence numbers that may be lost. The same report sent again (the
// device resends until a Welcome answers) raises no second alert.
func (s *Service) reportRollback(d store.Device, u store.User, r *protocol.RollbackReport) {
	detail := fmt.Sprintf("device %s of %s (%s) found at unlock that its profile had been restored from an older copy: its audit trail ends at seq %d but sequence numbers through at least %d had been allocated; events in between may have been lost (detected %s, device clock)",
		d.ID, u.Name, u.Role, r.FoundSeq, r.AllocatedSeq, r.DetectedAt.UTC().Format(time.RFC3339))
	dup := false
	_ = s.st.Alerts(func(a store.Alert) error {
		if a.Kind == AlertProfileRollback && a.Device == d.ID && a.Detail == detail {
			dup = true
		}
		return nil
	})
	if dup {
		return
	}
	s.alert(store.Alert{Kind: AlertProfileRollback, Device: d.ID, User: u.Name, Seq: r.FoundSeq + 1, At: s.now(), Detail: detail})
	s.cfg.Logf("ALERT %s device %s user %s: seq %d..%d", AlertProfileRollback, d.ID, u.Name, r.FoundSeq+1, r.AllocatedSeq)
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
// hash, each stored hash matching its bytes, nothing kept aside, and no
// profile rollback reported by the device.
func (s *Service) VerifyChains() ([]ChainReport, error) {
	ds, err := s.st.Devices()
	if err != nil {
		return nil, err
	}
	rollbacks := map[string][]string{}
	if err := s.st.Alerts(func(a store.Alert) error {
		if a.Kind == AlertProfileRollback {
			rollbacks[a.Device] = append(rollbacks[a.Device], "profile rollback reported: "+a.Detail)
		}
		return nil
	}); err != nil {
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
		r.Problems = append(r.Problems, rollbacks[d.ID]...)
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
