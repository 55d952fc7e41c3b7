package syncclient

import (
	"context"
	"errors"
	"fmt"

	"kmcr/sync/protocol"
)

// maxPendingBreakGlass bounds the break-glass requests awaiting answers on
// one session.
const maxPendingBreakGlass = 8

// bgCall is one BreakGlass call waiting on the session.
type bgCall struct {
	req protocol.BreakGlass
	res chan bgAnswer // capacity 1: the session never blocks on it

	granted *protocol.BreakGlassResult // set once granted, until the document is applied
	applied bool                       // a break-glass document for req.NHS was applied
}

// answer is what the session hands back to a call waiting on it.
type answer[R any] struct {
	result *R
	err    error
}

type bgAnswer = answer[protocol.BreakGlassResult]

// ask hands call to the live session through lane and waits for its
// answer on res: ErrOffline when no session runs or it ends first, the
// context's error when ctx ends first.
func ask[C any, R any](ctx context.Context, c *Client, lane func(*session) chan<- C, call C, res <-chan answer[R]) (*R, error) {
	c.mu.Lock()
	s := c.live
	c.mu.Unlock()
	if s == nil {
		return nil, ErrOffline
	}
	select {
	case lane(s) <- call:
	case <-s.quit:
		return nil, ErrOffline
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case a := <-res:
		return a.result, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *session) startBreakGlass(ctx context.Context, call *bgCall) error {
	if len(s.pending) >= maxPendingBreakGlass {
		call.res <- bgAnswer{err: errors.New("break-glass: too many requests awaiting an answer")}
		return nil
	}
	s.pending[call.req.RequestID] = call
	return s.send(ctx, &call.req)
}

func (s *session) onBreakGlassResult(r *protocol.BreakGlassResult) error {
	call := s.pending[r.RequestID]
	if call == nil {
		return s.violation(protocol.CloseOutOfOrder, fmt.Sprintf("break-glass result for request %q not sent", r.RequestID))
	}
	if !r.Granted || call.applied {
		delete(s.pending, r.RequestID)
		call.res <- bgAnswer{result: r}
		return nil
	}
	call.granted = r // the document follows as a batch
	return nil
}

// breakGlassApplied answers calls whose document batch b carried. A
// delete of the patient after a grant also answers: the server withheld
// the document after all, and waiting longer would wait for nothing.
func (s *session) breakGlassApplied(b *protocol.Batch) {
	if len(s.pending) == 0 {
		return
	}
	for id, call := range s.pending {
		for _, u := range b.Upserts {
			if u.NHS != call.req.NHS {
				continue
			}
			if call.granted == nil && u.Relationship == protocol.RelBreakGlass {
				call.applied = true // the document came before the answer
			}
			if call.granted != nil {
				call.applied = true
			}
		}
		for _, d := range b.Deletes {
			if d.NHS == call.req.NHS && call.granted != nil {
				call.applied = true
			}
		}
		if call.granted != nil && call.applied {
			delete(s.pending, id)
			call.res <- bgAnswer{result: call.granted}
		}
	}
}

// failPending answers every waiting call when the session ends.
func (s *session) failPending() {
	for id, call := range s.pending {
		delete(s.pending, id)
		err := fmt.Errorf("%w: the connection ended before the break-glass answer arrived; the request may have been recorded", ErrOffline)
		if call.granted != nil {
			err = fmt.Errorf("%w: access was granted but the connection ended before the document arrived; it will come with the next sync", ErrOffline)
		}
		call.res <- bgAnswer{err: err}
	}
}
