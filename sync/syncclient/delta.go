package syncclient

import (
	"bytes"

	"fmt"
	"slices"

	"kmcr/sync/protocol"
)

// DocumentReader is implemented by an Applier that can return the
// document it holds for a patient, as received: the client then asks for
// deltas (protocol.DeltaZstd) and rebuilds each changed document from the
// one held before the Applier sees the batch. HeldDocument returns nil,
// nil when it holds none.
type DocumentReader interface {
	HeldDocument(nhs string) ([]byte, error)
}

// deltaFormats are the delta formats this client asks for in Hello.
func (c *Client) deltaFormats() []string {
	if _, ok := c.cfg.Applier.(DocumentReader); !ok || c.cfg.Plain {
		return nil
	}
	return []string{protocol.DeltaZstd}
}

// hasDelta reports whether any document of b is a delta.
func hasDelta(b *protocol.Batch) bool {
	return slices.ContainsFunc(b.Upserts, func(u protocol.DocMeta) bool { return u.Delta != nil })
}

// resolve checks every document of b against its hash and turns each delta
// into the whole document, in place. A delta that does not apply (another
// base is held, or the result's hash differs) is taken out of the batch:
// the cache keeps the version it has and the patient is listed in the
// ack's Full, so the server sends the whole document. A whole document
// whose hash differs refuses the batch.
func (s *session) resolve(b *protocol.Batch) error {
	rd, _ := s.c.cfg.Applier.(DocumentReader)
	var full []string
	keep := b.Upserts[:0:0]
	docs := b.Docs[:0:0]
	for i, u := range b.Upserts {
		doc := b.Docs[i]
		switch {
		case u.Delta != nil:
			if rd == nil {
				return s.violation(protocol.CloseProtocolError, fmt.Sprintf("batch %d: a delta for %s, which this client did not ask for", b.ID, u.NHS))
			}
			base, err := rd.HeldDocument(u.NHS)
			if err != nil {
				s.conn.Close(protocol.CloseGoingAway, "client storage error")
				return local("reading the document held for %s: %w", u.NHS, err)
			}
			whole, err := protocol.ApplyDelta(base, *u.Delta, doc, u.Hash)
			if err != nil {
				s.c.cfg.Logf("sync: batch %d: %s: %v; asking for the whole document", b.ID, u.NHS, err)
				full = append(full, u.NHS)
				continue
			}
			doc = whole
			u.Delta = nil
			u.Size = len(doc)
		case u.Hash != nil && !bytes.Equal(protocol.DocHash(doc), u.Hash):
			s.conn.Close(protocol.CloseProtocolError, fmt.Sprintf("batch %d: document for %s does not match its hash", b.ID, u.NHS))
			return fmt.Errorf("protocol violation by the server: batch %d: document for %s does not match its hash: %w", b.ID, u.NHS, ErrBadBatch)
		}
		keep = append(keep, u)
		docs = append(docs, doc)
	}
	b.Upserts, b.Docs = keep, docs
	if len(full) > 0 {
		if b.Range != nil {
			// A full-sync range purge would delete what was kept.
			return s.violation(protocol.CloseProtocolError, fmt.Sprintf("batch %d: a delta in a full-sync range", b.ID))
		}
		s.wantFull[b.ID] = full
	}
	return nil
}

// Link reports the current connection's measured link and true, or what
// the last connection measured and false when none is open.
func (c *Client) Link() (protocol.Link, bool) {
	c.mu.Lock()
	s, last := c.live, c.lastLink
	c.mu.Unlock()
	if s == nil {
		return last, false
	}
	return s.conn.Link(), true
}
