package syncclient

import (
	"context"
	"fmt"

	"kmcr/sync/protocol"
)

// auditUploadBytes bounds the event bytes in one upload: half the server's
// read limit, leaving ample room for the header's sequence numbers, sizes
// and signed head (about 30 KiB for protocol.MaxAuditBatch events).
const auditUploadBytes = protocol.MaxClientMessage / 2

// auditState tracks audit uploads on one session. One upload is in flight
// at a time, so an ack always names the upload it answers.
type auditState struct {
	nextID   uint64
	inflight *upload
	idle     bool  // the last PendingAudit found nothing queued
	stalled  error // the server stored none of the last upload; wait for a nudge
}

type upload struct {
	id          uint64
	first, last uint64
}

// RollbackReporter is implemented by an Applier that checks, at unlock,
// that its audit chain is not behind a high-water mark kept outside the
// cache (a profile restored from an older copy). The pending report goes
// in every Hello (protocol 2) until a Welcome answers one that carried it;
// then RollbackReported is called with it.
type RollbackReporter interface {
	PendingRollback() *protocol.RollbackReport
	RollbackReported(r protocol.RollbackReport) error
}

// rollbackAnswered tells the Applier the server has the report the Hello
// carried: the Welcome comes after the server has stored its alert.
func (s *session) rollbackAnswered() {
	rr, ok := s.c.cfg.Applier.(RollbackReporter)
	if !ok || s.rollbackSent == nil {
		return
	}
	if err := rr.RollbackReported(*s.rollbackSent); err != nil {
		s.c.cfg.Logf("sync: forgetting the reported profile rollback: %v", err)
	}
	s.rollbackSent = nil
}

// pendingRollback is the report to put in Hello, if any.
func (s *session) pendingRollback() *protocol.RollbackReport {
	rr, ok := s.c.cfg.Applier.(RollbackReporter)
	if !ok {
		return nil
	}
	s.rollbackSent = rr.PendingRollback()
	return s.rollbackSent
}

// sendAudit sends the next upload if none is in flight and events are
// queued.
func (s *session) sendAudit(ctx context.Context) error {
	a := &s.audit
	if a.inflight != nil || a.stalled != nil {
		return nil
	}
	up, err := s.c.cfg.Applier.PendingAudit(protocol.MaxAuditBatch, auditUploadBytes)
	if err != nil {
		s.conn.Close(protocol.CloseGoingAway, "client storage error")
		return local("reading the audit queue: %w", err)
	}
	if up == nil || len(up.Seqs) == 0 {
		a.idle = true
		return nil
	}
	if err := checkUpload(up); err != nil {
		s.conn.Close(protocol.CloseGoingAway, "client audit queue error")
		return local("reading the audit queue: %w", err)
	}
	a.idle = false
	a.nextID++
	up.ID = a.nextID
	a.inflight = &upload{id: up.ID, first: up.Seqs[0], last: up.Seqs[len(up.Seqs)-1]}
	return s.send(ctx, up)
}

// checkUpload holds the Applier to the limits the server enforces, so a
// fault here is reported as ours rather than as a server refusal.
func checkUpload(up *protocol.AuditUpload) error {
	if len(up.Events) != len(up.Seqs) {
		return fmt.Errorf("%d events for %d sequence numbers", len(up.Events), len(up.Seqs))
	}
	if len(up.Seqs) > protocol.MaxAuditBatch {
		return fmt.Errorf("%d events in one upload; at most %d", len(up.Seqs), protocol.MaxAuditBatch)
	}
	total := 0
	for i, e := range up.Events {
		total += len(e)
		if i > 0 && up.Seqs[i] <= up.Seqs[i-1] {
			return fmt.Errorf("sequence numbers out of order at %d", up.Seqs[i])
		}
	}
	if total > auditUploadBytes {
		return fmt.Errorf("%d bytes of events in one upload; at most %d", total, auditUploadBytes)
	}
	return nil
}

// onAuditAck deletes exactly the events the server has stored and sends
// the next upload.
func (s *session) onAuditAck(ctx context.Context, ack *protocol.AuditAck) error {
	a := &s.audit
	u := a.inflight
	if u == nil || ack.ID != u.id {
		return s.violation(protocol.CloseOutOfOrder, fmt.Sprintf("audit ack %d for an upload not sent", ack.ID))
	}
	if ack.Through > u.last {
		// Deleting events the server never received would lose them.
		return s.violation(protocol.CloseProtocolError, fmt.Sprintf("audit ack through %d beyond the last event sent (%d)", ack.Through, u.last))
	}
	if err := s.c.cfg.Applier.AckAudit(ack.Through); err != nil {
		s.conn.Close(protocol.CloseGoingAway, "client storage error")
		return local("deleting acknowledged audit events: %w", err)
	}
	a.inflight = nil
	if ack.Through < u.last {
		s.c.cfg.Logf("sync: server stored audit events through %d of %d..%d", ack.Through, u.first, u.last)
		if ack.Through < u.first {
			// Sending the same events again at once would loop.
			a.stalled = fmt.Errorf("the server stored none of audit events %d..%d", u.first, u.last)
		}
	}
	s.report()
	return s.sendAudit(ctx)
}
