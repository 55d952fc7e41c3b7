package syncclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"kmcr/sync/protocol"
)

// ErrTraceUnsupported is returned by Trace when the server did not list
// protocol.FeatureTrace in its Welcome: it cannot trace a patient, and the
// NHS number must be entered.
var ErrTraceUnsupported = errors.New("this server cannot trace a patient by name and date of birth; enter the NHS number")

// maxPendingTraces bounds the traces awaiting answers on one session.
const maxPendingTraces = 4

// traceCall is one Trace call waiting on the session.
type traceCall struct {
	req protocol.Trace
	res chan traceAnswer // capacity 1: the session never blocks on it
}

type traceAnswer = answer[protocol.TraceResult]

// Trace asks the server to find a patient for break-glass by family name
// and date of birth (YYYY-MM-DD), optionally a postcode. It needs a live
// session (ErrOffline otherwise) with a server that speaks the trace
// (ErrTraceUnsupported otherwise), and waits for the answer: a short list
// of candidates, or TooMany, or a refusal in Error (a result, not an
// error).
func (c *Client) Trace(ctx context.Context, family, birth, postcode string) (*protocol.TraceResult, error) {
	family, postcode = strings.TrimSpace(family), strings.TrimSpace(postcode)
	switch {
	case family == "":
		return nil, errors.New("trace: give the family name")
	case len(family) > protocol.MaxName:
		return nil, fmt.Errorf("trace: the family name is %d bytes; at most %d", len(family), protocol.MaxName)
	case len(postcode) > 16:
		return nil, errors.New("trace: that is not a postcode")
	}
	if _, err := time.Parse(time.DateOnly, birth); err != nil {
		return nil, fmt.Errorf("trace: date of birth %q is not YYYY-MM-DD", birth)
	}
	call := &traceCall{
		req: protocol.Trace{RequestID: newRequestID(), Family: family, BirthDate: birth, Postcode: postcode},
		res: make(chan traceAnswer, 1),
	}
	return ask(ctx, c, func(s *session) chan<- *traceCall { return s.tr }, call, call.res)
}

func (s *session) startTrace(ctx context.Context, call *traceCall) error {
	switch {
	case !s.welcomed:
		call.res <- traceAnswer{err: fmt.Errorf("%w: still connecting; try again in a moment", ErrOffline)}
		return nil
	case !s.traceOK:
		call.res <- traceAnswer{err: ErrTraceUnsupported}
		return nil
	case len(s.traces) >= maxPendingTraces:
		call.res <- traceAnswer{err: errors.New("trace: too many traces awaiting an answer")}
		return nil
	}
	s.traces[call.req.RequestID] = call
	return s.send(ctx, &call.req)
}

func (s *session) onTraceResult(r *protocol.TraceResult) error {
	call := s.traces[r.RequestID]
	if call == nil {
		return s.violation(protocol.CloseOutOfOrder, fmt.Sprintf("trace result for request %q not sent", r.RequestID))
	}
	delete(s.traces, r.RequestID)
	call.res <- traceAnswer{result: r}
	return nil
}

// failTraces answers every waiting trace when the session ends.
func (s *session) failTraces() {
	for id, call := range s.traces {
		delete(s.traces, id)
		call.res <- traceAnswer{err: fmt.Errorf("%w: the connection ended before the trace was answered", ErrOffline)}
	}
}
