package server

import (
	"time"

	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// The incident lane of a session: for a client that listed
// protocol.FeatureIncident, the open incidents it is crew on (an Incidents
// message after the Welcome and whenever they change) and the candidates'
// summaries, sent ahead of the full sync and of other live work. The lane
// reads the change log for incident grants before the ordinary scan does,
// and the ordinary scan never passes it, so a cursor never moves past a
// grant whose summary has not been sent. Ends of incident grants are the
// ordinary scan's: the summary is deleted unless another relationship
// still holds the patient.

// access is what holds a patient outside the caseload for this session:
// a live break-glass relationship granted to this device, else (for a
// client that speaks incidents) a live incident grant.
func (ss *session) access(nhs string, now time.Time) (rel string, expires time.Time, ok bool, err error) {
	r, ok, err := ss.relationship(nhs, now)
	if err != nil || ok {
		return protocol.RelBreakGlass, r.Expires, ok, err
	}
	if !ss.incidents {
		return "", time.Time{}, false, nil
	}
	exp, ok, err := ss.svc.st.IncidentGrant(ss.user.Name, nhs, now)
	if err != nil || !ok {
		return "", time.Time{}, false, err
	}
	return protocol.RelIncident, exp, true, nil
}

// startIncidents plans the lane at the start of a session: every
// candidate of the user's open incidents goes first, and the list is owed.
func (ss *session) startIncidents() error {
	if !ss.incidents {
		return nil
	}
	seq, err := ss.svc.st.LastSeq()
	if err != nil {
		return err
	}
	ss.prioSeq, ss.prioSet, ss.listDirty = seq, map[string]bool{}, true
	open, err := ss.svc.OpenIncidents()
	if err != nil {
		return err
	}
	for _, in := range open {
		for _, c := range in.Crew {
			if c == ss.user.Name {
				for _, n := range in.NHS {
					ss.queuePrio(n)
				}
			}
		}
	}
	return nil
}

func (ss *session) queuePrio(nhs string) {
	if !ss.prioSet[nhs] {
		ss.prioSet[nhs] = true
		ss.prio = append(ss.prio, nhs)
	}
}

// scanPrio reads the change log after prioSeq for this user's incident
// grants and list changes.
func (ss *session) scanPrio() error {
	ss.prioDirty = false
	for {
		cs, err := ss.readChanges(ss.prioSeq)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return nil
		}
		for _, c := range cs {
			ss.prioSeq = c.Seq
			if c.User != ss.user.Name {
				continue
			}
			switch c.Kind {
			case store.ChangeIncident:
				ss.queuePrio(c.NHS)
			case store.ChangeIncidentsList:
				ss.listDirty = true
			}
		}
	}
}

// stepIncidents sends what the lane owes: the Incidents message, then a
// batch of candidates' summaries when the window has room.
func (ss *session) stepIncidents() (bool, error) {
	if !ss.incidents {
		return false, nil
	}
	if ss.prioDirty {
		if err := ss.scanPrio(); err != nil {
			return false, ss.fail(protocol.CloseInternalError, err)
		}
	}
	if ss.listDirty {
		ss.listDirty = false
		msg, err := ss.svc.userIncidents(ss.user.Name)
		if err != nil {
			return false, ss.fail(protocol.CloseInternalError, err)
		}
		return true, ss.send(msg)
	}
	if len(ss.prio) == 0 || ss.sent-ss.acked >= uint64(ss.window) {
		return false, nil
	}
	b, err := ss.producePrio()
	if err != nil {
		return false, ss.fail(protocol.CloseInternalError, err)
	}
	if b == nil {
		return false, nil
	}
	return true, ss.send(b)
}

// producePrio is a batch of the lane's summaries: upserts only, no range
// (nothing is implied about other patients), and the cursor the client
// already holds, so the batch changes nothing else of its sync.
func (ss *session) producePrio() (*protocol.Batch, error) {
	now := ss.svc.now()
	b := &protocol.Batch{ID: ss.sent + 1, Done: ss.done, Total: ss.total}
	bytes, n := 0, 0
	for _, nhs := range ss.prio {
		if len(b.Upserts) >= protocol.BatchCount || bytes >= ss.sizer.limit() {
			break
		}
		n++
		delete(ss.prioSet, nhs)
		rel, exp, ok, err := ss.access(nhs, now)
		if err != nil {
			return nil, err
		}
		if in, err := ss.svc.st.InCaseload(ss.user.Name, nhs); err != nil {
			return nil, err
		} else if in {
			rel, exp, ok = protocol.RelCaseload, time.Time{}, true
		}
		if !ok {
			continue // ended before it was sent: the ordinary scan deletes it
		}
		meta, doc, dec, err := ss.document(nhs)
		if err != nil {
			return nil, err
		}
		if doc == nil {
			continue
		}
		bytes += ss.addDoc(b, ss.docMeta(meta, dec, rel, exp, now), doc, !ss.full)
	}
	ss.prio = ss.prio[n:]
	if len(b.Upserts) == 0 {
		return nil, nil
	}
	ss.sent = b.ID
	if ss.full {
		b.Cursor = protocol.Cursor{Epoch: ss.epoch, Seq: ss.snapshot, Phase: protocol.PhaseFull, After: ss.after}
	} else {
		b.Cursor = protocol.Cursor{Epoch: ss.epoch, Seq: ss.cursorSeq, Phase: protocol.PhaseLive}
	}
	ss.sizer.sent(b.ID, bytes, time.Now())
	return b, nil
}
