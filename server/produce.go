package server

import (
	"errors"
	"time"

	"kmcr/server/policy"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// errBatchFull stops an iteration once a batch has reached its bounds.
var errBatchFull = errors.New("batch full")

// produce returns the next batch to send, or nil when there is nothing to
// send now.
func (ss *session) produce() (*protocol.Batch, error) {
	if ss.full {
		return ss.produceFull()
	}
	if ss.dirty && len(ss.order) < protocol.BatchCount {
		if err := ss.scanChanges(); err != nil {
			return nil, err
		}
	}
	if len(ss.order) == 0 {
		if ss.liveSeq != ss.cursorSeq {
			ss.cursorSeq = ss.liveSeq
			ss.announce = true
		}
		return nil, nil
	}
	return ss.produceLive()
}

// newBatch starts the next batch.
func (ss *session) newBatch() *protocol.Batch {
	ss.sent++
	return &protocol.Batch{ID: ss.sent, Total: ss.total}
}

// produceFull sends the current state of the next stretch of permitted
// patients in NHS-number order, covering the range completely.
//
// The permitted patients are listed first and their documents read
// afterwards, each in its own read transaction: bbolt must not have two
// read transactions open on one goroutine, or a writer growing the file
// deadlocks with them.
func (ss *session) produceFull() (*protocol.Batch, error) {
	st := ss.svc.st
	now := ss.svc.now()
	type candidate struct {
		nhs, rel string
		expires  time.Time
		other    bool // another device's break-glass: covered, not sent
	}
	var cands []candidate
	err := st.Permitted(ss.user.Name, ss.after, now, func(nhs, rel string, expires time.Time) error {
		if len(cands) >= protocol.BatchCount {
			return errBatchFull
		}
		cands = append(cands, candidate{nhs: nhs, rel: rel, expires: expires})
		return nil
	})
	more := errors.Is(err, errBatchFull)
	if err != nil && !more {
		return nil, err
	}
	// A break-glass relationship belongs to the device that asked for it;
	// the user's other devices do not get the patient, unless an incident
	// grant holds it; an incident grant reaches only a client that speaks
	// incidents. (Looked up after the listing: no nested read
	// transactions.)
	for i, c := range cands {
		if c.rel != protocol.RelCaseload {
			rel, exp, ok, err := ss.access(c.nhs, now)
			if err != nil {
				return nil, err
			}
			cands[i].rel, cands[i].expires, cands[i].other = rel, exp, !ok
		}
	}
	b := ss.newBatch()
	bytes := 0
	last := ss.after
	covered := 0
	for _, c := range cands {
		if bytes >= ss.sizer.limit() {
			more = true
			break
		}
		last = c.nhs
		covered++
		if c.other {
			continue
		}
		meta, doc, dec, err := ss.document(c.nhs)
		if err != nil {
			return nil, err
		}
		if doc != nil {
			bytes += ss.addDoc(b, ss.docMeta(meta, dec, c.rel, c.expires, now), doc, false)
		}
	}
	ss.done += covered
	b.Done = ss.done
	ss.sizer.sent(b.ID, bytes, time.Now())
	if more {
		b.Range = &protocol.NHSRange{After: ss.after, Through: last}
		b.Cursor = protocol.Cursor{Epoch: ss.epoch, Seq: ss.snapshot, Phase: protocol.PhaseFull, After: last}
		ss.after = last
		return b, nil
	}
	// The end of the permitted set: this batch covers the rest of the range
	// and moves the cursor to the live phase at the snapshot; changes made
	// since the snapshot follow.
	b.Range = &protocol.NHSRange{After: ss.after}
	b.Cursor = protocol.Cursor{Epoch: ss.epoch, Seq: ss.snapshot, Phase: protocol.PhaseLive}
	ss.full = false
	ss.liveSeq, ss.cursorSeq, ss.dirty = ss.snapshot, ss.snapshot, true
	return b, nil
}

// document decides what this user gets of a patient: nil doc means the
// patient is not sent (unknown to the server, or withheld entirely).
func (ss *session) document(nhs string) (store.PatientMeta, []byte, policy.Decision, error) {
	st := ss.svc.st
	meta, err := st.Patient(nhs)
	if errors.Is(err, store.ErrNotFound) {
		return meta, nil, policy.Decision{Revoke: protocol.DelNotPermitted}, nil
	}
	if err != nil {
		return meta, nil, policy.Decision{}, err
	}
	obj, err := st.Objections(nhs)
	if err != nil {
		return meta, nil, policy.Decision{}, err
	}
	dec := policy.Decide(ss.rules, policy.PatientFacts{Objections: obj, Sensitive: meta.Sensitive, Sections: meta.Sections, Omitted: meta.Omitted, TooLarge: meta.TooLarge, Restricted: meta.Restricted, Unstorable: meta.Unstorable})
	if !dec.Send {
		return meta, nil, dec, nil
	}
	doc, err := st.Doc(nhs, dec.Doc)
	if errors.Is(err, store.ErrNotFound) {
		// No such document (a patient with none left): offer nothing
		// rather than end the session.
		return meta, nil, policy.Decision{Revoke: protocol.DelNotPermitted}, nil
	}
	if err != nil {
		return meta, nil, dec, err
	}
	return meta, doc, dec, nil
}

func (ss *session) docMeta(meta store.PatientMeta, dec policy.Decision, rel string, expires, now time.Time) protocol.DocMeta {
	notAfter := now.Add(ss.rules.Lease)
	if (rel == protocol.RelBreakGlass || rel == protocol.RelIncident) && expires.Before(notAfter) {
		notAfter = expires
	}
	return protocol.DocMeta{
		NHS: meta.NHS, Version: meta.Version, NotAfter: notAfter, AsOf: now,
		Relationship: rel, Sections: dec.Sections, Withheld: dec.Withheld,
	}
}

// queue adds a patient to the live batch queue; a revocation reason, once
// set, is kept.
func (ss *session) queue(nhs, reason string) {
	if o, ok := ss.pending[nhs]; ok {
		if reason != "" {
			o.reason = reason
		}
		return
	}
	ss.pending[nhs] = &op{nhs: nhs, reason: reason}
	ss.order = append(ss.order, nhs)
}

// relevant says whether a change concerns this session and, if so, the
// patient to reconsider and any revocation to send first.
func (ss *session) relevant(c store.Change, permitted func(string) bool) (nhs, reason string, ok bool) {
	me := ss.user.Name
	switch c.Kind {
	case store.ChangePatient:
		return c.NHS, "", permitted(c.NHS)
	case store.ChangeRelabel:
		return c.NHS, protocol.DelRelabel, permitted(c.NHS)
	case store.ChangeRestricted:
		// Said as not-permitted: the device purges without learning why.
		return c.NHS, protocol.DelNotPermitted, permitted(c.NHS)
	case store.ChangeObjection:
		return c.NHS, protocol.DelObjection, permitted(c.NHS)
	case store.ChangeWithdraw:
		return c.NHS, "", permitted(c.NHS)
	case store.ChangeCaseloadAdd:
		return c.NHS, "", c.User == me
	case store.ChangeRelationship:
		return c.NHS, "", c.User == me && permitted(c.NHS)
	case store.ChangeCaseloadRemove:
		return c.NHS, protocol.DelCaseloadRemoved, c.User == me
	case store.ChangeRelationshipEnd:
		return c.NHS, protocol.DelExpired, c.User == me
	case store.ChangeIncidentEnd:
		// Deleted only if nothing else holds the patient (op.gone).
		return c.NHS, "", c.User == me && ss.incidents
	}
	// ChangeIncident and ChangeIncidentsList are the incident lane's
	// (incidentlane.go).
	return "", "", false
}

// permittedFunc answers "may this user hold nhs now?", remembering answers
// for one scan. A store that could not answer says no, and failed returns
// its error: the caller must then end the session rather than act on the
// no (a patient deleted from the device, the cursor moved past the change).
func (ss *session) permittedFunc() (permitted func(string) bool, failed func() error) {
	st := ss.svc.st
	now := ss.svc.now()
	memo := map[string]bool{}
	var first error
	return func(nhs string) bool {
		if v, ok := memo[nhs]; ok {
			return v
		}
		in, err := st.InCaseload(ss.user.Name, nhs)
		if err == nil && !in {
			_, _, in, err = ss.access(nhs, now)
		}
		if err != nil {
			if first == nil {
				first = err
			}
			return false // not remembered: asked again, it may answer
		}
		memo[nhs] = in
		return in
	}, func() error { return first }
}

// relationship is the user's live break-glass relationship with a patient
// when it was granted to this session's device: emergency access reaches
// the device that asked for it, not every device of the user.
func (ss *session) relationship(nhs string, now time.Time) (store.Relationship, bool, error) {
	r, ok, err := ss.svc.st.Relationship(ss.user.Name, nhs, now)
	if err != nil || !ok {
		return r, false, err
	}
	return r, r.Device == "" || r.Device == ss.device.ID, nil
}

// changeChunk is how many changes are read per read transaction.
const changeChunk = 4096

// readChanges returns up to changeChunk changes after seq. Changes are read
// in one transaction and judged after it ends (see produceFull on nested
// read transactions).
func (ss *session) readChanges(after uint64) ([]store.Change, error) {
	var out []store.Change
	err := ss.svc.st.Changes(after, func(c store.Change) error {
		if len(out) >= changeChunk {
			return errBatchFull
		}
		out = append(out, c)
		return nil
	})
	if errors.Is(err, errBatchFull) {
		err = nil
	}
	return out, err
}

// scanChanges reads the change log after liveSeq into the queue, stopping
// when a batch's worth of patients is queued.
func (ss *session) scanChanges() error {
	permitted, failed := ss.permittedFunc()
	for {
		cs, err := ss.readChanges(ss.liveSeq)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			ss.dirty = false
			return nil
		}
		for _, c := range cs {
			if len(ss.order) >= protocol.BatchCount {
				return nil
			}
			if ss.incidents && c.Seq > ss.prioSeq {
				// The incident lane reads the log first, so nothing it
				// sends ahead is passed by this cursor.
				ss.prioDirty = true
				return nil
			}
			ss.liveSeq = c.Seq
			if c.Kind == store.ChangeDeviceRevoked {
				if c.Device == ss.device.ID {
					ss.wipe = true
					return nil
				}
				continue
			}
			nhs, reason, ok := ss.relevant(c, permitted)
			if err := failed(); err != nil {
				return err
			}
			if ok {
				ss.queue(nhs, reason)
				if c.Kind == store.ChangeIncidentEnd {
					ss.pending[nhs].gone = protocol.DelExpired
				}
			}
		}
	}
}

// countRelevant counts the patients that changes after seq concern, for
// honest progress.
func (ss *session) countRelevant(seq uint64) (int, error) {
	permitted, failed := ss.permittedFunc()
	seen := map[string]bool{}
	for {
		cs, err := ss.readChanges(seq)
		if err != nil || len(cs) == 0 {
			return len(seen), err
		}
		for _, c := range cs {
			if nhs, _, ok := ss.relevant(c, permitted); ok {
				seen[nhs] = true
			}
			seq = c.Seq
		}
		if err := failed(); err != nil {
			return 0, err
		}
	}
}

// produceLive turns queued patients into a batch: a revocation where one
// is owed, then the patient's current state as policy decides it now.
func (ss *session) produceLive() (*protocol.Batch, error) {
	now := ss.svc.now()
	b := ss.newBatch()
	bytes := 0
	permitted, failed := ss.permittedFunc()
	n := 0
	for _, nhs := range ss.order {
		if len(b.Upserts) >= protocol.BatchCount || bytes >= ss.sizer.limit() || len(b.Deletes) >= protocol.MaxDeletes-1 {
			break
		}
		o := ss.pending[nhs]
		n++
		delete(ss.pending, nhs)
		if o.reason != "" {
			b.Deletes = append(b.Deletes, protocol.Delete{NHS: nhs, Reason: o.reason})
			ss.forgetDoc(nhs)
		}
		ok := permitted(nhs)
		if err := failed(); err != nil {
			return nil, err // the session ends; the client resumes from its last cursor
		}
		if !ok {
			if o.reason == "" {
				reason := protocol.DelNotPermitted
				if o.gone != "" {
					reason = o.gone
				}
				b.Deletes = append(b.Deletes, protocol.Delete{NHS: nhs, Reason: reason})
				ss.forgetDoc(nhs)
			}
			continue
		}
		rel, expires := protocol.RelCaseload, time.Time{}
		in, err := ss.svc.st.InCaseload(ss.user.Name, nhs)
		if err != nil {
			return nil, err
		}
		if !in {
			r, exp, _, err := ss.access(nhs, now)
			if err != nil {
				return nil, err
			}
			rel, expires = r, exp
		}
		meta, doc, dec, err := ss.document(nhs)
		if err != nil {
			return nil, err
		}
		if doc == nil {
			if o.reason == "" {
				reason := dec.Revoke
				if reason == "" {
					reason = protocol.DelNotPermitted
				}
				b.Deletes = append(b.Deletes, protocol.Delete{NHS: nhs, Reason: reason})
				ss.forgetDoc(nhs)
			}
			continue
		}
		bytes += ss.addDoc(b, ss.docMeta(meta, dec, rel, expires, now), doc, true)
	}
	ss.order = ss.order[n:]
	ss.sizer.sent(b.ID, bytes, time.Now())
	ss.done += n
	b.Done = ss.done
	if ss.done > ss.total {
		ss.total = ss.done
		b.Total = ss.total
	}
	// The cursor may move past the scanned changes only once every patient
	// they queued has been sent.
	if len(ss.order) == 0 {
		ss.cursorSeq = ss.liveSeq
	}
	b.Cursor = protocol.Cursor{Epoch: ss.epoch, Seq: ss.cursorSeq, Phase: protocol.PhaseLive}
	ss.announce = true
	return b, nil
}
