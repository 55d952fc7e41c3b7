package syncclient

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"kmcr/sync/protocol"
)

// fakeApplier is an in-memory cache: it applies batches atomically (all
// checks first, then the changes), records every call, and can fail a
// call to simulate a crash mid-transaction.
type fakeApplier struct {
	mu          sync.Mutex
	cursor      protocol.Cursor
	docs        map[string]string // NHS number → relationship
	applies     map[string]int    // upserts applied per NHS number
	batches     int
	upToDates   []protocol.UpToDate
	welcomes    []protocol.Welcome
	wiped       []string
	events      []fakeEvent // the audit queue
	nextSeq     uint64
	auditAcks   []uint64
	failBatch   int   // fail the batch with this ID once
	failErr     error // with this error
	delay       time.Duration
	helloCursor []protocol.Cursor // Cursor() answers, one per connection
}

type fakeEvent struct {
	seq  uint64
	data []byte
}

var (
	_ Applier        = (*fakeApplier)(nil)
	_ WelcomeApplier = (*fakeApplier)(nil)
	_ AuditCounter   = (*fakeApplier)(nil)
	_ TokenStore     = (*fakeTokens)(nil)
)

func newFakeApplier() *fakeApplier {
	return &fakeApplier{docs: map[string]string{}, applies: map[string]int{}}
}

func (a *fakeApplier) Cursor() (protocol.Cursor, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.helloCursor = append(a.helloCursor, a.cursor)
	return a.cursor, nil
}

func (a *fakeApplier) ApplyWelcome(w *protocol.Welcome) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.welcomes = append(a.welcomes, *w)
	return nil
}

func (a *fakeApplier) ApplyBatch(b *protocol.Batch) error {
	time.Sleep(a.delay)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failErr != nil && b.ID == uint64(a.failBatch) {
		err := a.failErr
		a.failErr = nil
		return err
	}
	// Check everything before changing anything: one transaction.
	for _, u := range b.Upserts {
		if !validNHS(u.NHS) {
			return fmt.Errorf("%w: NHS number %s fails its check digit", ErrBadBatch, u.NHS)
		}
	}
	for _, d := range b.Deletes {
		if !validNHS(d.NHS) {
			return fmt.Errorf("%w: NHS number %s fails its check digit", ErrBadBatch, d.NHS)
		}
	}
	for _, d := range b.Deletes {
		delete(a.docs, d.NHS)
	}
	upserted := map[string]bool{}
	for _, u := range b.Upserts {
		a.docs[u.NHS] = u.Relationship
		a.applies[u.NHS]++
		upserted[u.NHS] = true
	}
	if b.Cursor.Phase == protocol.PhaseFull && b.Range != nil {
		a.purge(*b.Range, upserted)
	}
	a.cursor = b.Cursor
	a.batches++
	return nil
}

// purge drops caseload patients in r that were not upserted; a.mu is held.
func (a *fakeApplier) purge(r protocol.NHSRange, keep map[string]bool) {
	for nhs, rel := range a.docs {
		if r.Contains(nhs) && !keep[nhs] && rel == protocol.RelCaseload {
			delete(a.docs, nhs)
		}
	}
}

func (a *fakeApplier) ApplyUpToDate(u *protocol.UpToDate) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u.Range != nil {
		a.purge(*u.Range, nil)
	}
	a.cursor = u.Cursor
	a.upToDates = append(a.upToDates, *u)
	return nil
}

func (a *fakeApplier) Wipe(reason string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.wiped = append(a.wiped, reason)
	a.docs, a.events, a.cursor = map[string]string{}, nil, protocol.Cursor{}
	return nil
}

func (a *fakeApplier) AuditHead() (*protocol.SignedHead, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nextSeq == 0 {
		return nil, nil
	}
	return fakeHead(a.nextSeq), nil
}

func fakeHead(seq uint64) *protocol.SignedHead {
	return &protocol.SignedHead{Seq: seq, Hash: bytes.Repeat([]byte{byte(seq)}, 32), Sig: bytes.Repeat([]byte{7}, 64)}
}

// queue appends n audit events of size bytes each.
func (a *fakeApplier) queue(n, size int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		a.nextSeq++
		ev := bytes.Repeat([]byte{'e'}, size)
		copy(ev, fmt.Sprintf("event %d ", a.nextSeq))
		a.events = append(a.events, fakeEvent{a.nextSeq, ev})
	}
}

func (a *fakeApplier) PendingAudit(max, maxBytes int) (*protocol.AuditUpload, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	up := &protocol.AuditUpload{}
	total := 0
	for _, e := range a.events {
		if len(up.Seqs) == max || total+len(e.data) > maxBytes {
			break
		}
		up.Seqs = append(up.Seqs, e.seq)
		up.Events = append(up.Events, e.data)
		total += len(e.data)
	}
	if len(up.Seqs) == 0 {
		return nil, nil
	}
	up.Head = *fakeHead(up.Seqs[len(up.Seqs)-1])
	return up, nil
}

func (a *fakeApplier) AckAudit(through uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.auditAcks = append(a.auditAcks, through)
	keep := a.events[:0]
	for _, e := range a.events {
		if e.seq > through {
			keep = append(keep, e)
		}
	}
	a.events = keep
	return nil
}

func (a *fakeApplier) QueuedAudit() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.events)
}

// view copies what a test checks, under the lock.
func (a *fakeApplier) view() (cur protocol.Cursor, docs map[string]string, applies map[string]int, wiped []string, acks []uint64, queued int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	docs, applies = map[string]string{}, map[string]int{}
	for k, v := range a.docs {
		docs[k] = v
	}
	for k, v := range a.applies {
		applies[k] = v
	}
	return a.cursor, docs, applies, append([]string(nil), a.wiped...), append([]uint64(nil), a.auditAcks...), len(a.events)
}

// fakeTokens is a TokenStore in memory that records saves and can fail
// them.
type fakeTokens struct {
	mu       sync.Mutex
	access   string
	refresh  string
	expires  time.Time
	saved    []string // access tokens saved, in order
	failSave int      // fail this many saves
}

func (s *fakeTokens) Tokens() (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.access, s.refresh, s.expires, nil
}

func (s *fakeTokens) SaveTokens(r *protocol.TokenResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failSave > 0 {
		s.failSave--
		return fmt.Errorf("disk full")
	}
	s.access, s.refresh, s.expires = r.AccessToken, r.RefreshToken, r.ExpiresAt
	s.saved = append(s.saved, r.AccessToken)
	return nil
}

func (s *fakeTokens) savedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.saved...)
}
