package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"kmcr/audit"
	"kmcr/cache"
	"kmcr/present"
	"kmcr/record"
	"kmcr/sync/syncclient"
)

// Errors of Trace.
var (
	// ErrTraceNeedsConnection: a trace is answered by the server, and
	// there is no connection to it. The NHS number can still be entered.
	ErrTraceNeedsConnection = errors.New("finding a patient by name and date of birth needs a connection to the server; enter the NHS number if you have it")
	// ErrTraceUnsupported: the server does not answer traces.
	ErrTraceUnsupported = errors.New("the server cannot find a patient by name and date of birth; enter the NHS number")
	// ErrTraceInput: the family name or date of birth is missing or not
	// understood.
	ErrTraceInput = errors.New("give the family name and the date of birth, for example SMITH and 19/05/1930")
)

// TraceCandidate is one patient a break-glass trace found: what the banner
// shows, nothing clinical.
type TraceCandidate struct {
	NHS       record.NHSNumber `json:"nhs"`
	Family    string           `json:"family"`
	Given     string           `json:"given"`
	Prefix    string           `json:"prefix"`
	BirthDate string           `json:"birth_date"` // YYYY-MM-DD
	Gender    string           `json:"gender"`     // FHIR administrative gender
	District  string           `json:"district"`   // the postcode's outward code
	Town      string           `json:"town"`
}

// Banner is the candidate as the patient banner shows it.
func (t TraceCandidate) Banner(now time.Time) present.Banner {
	d := record.Demographics{NHS: t.NHS, BirthDate: record.ParseDate(t.BirthDate), Gender: t.Gender}
	d.Name.Family = t.Family
	if t.Given != "" {
		d.Name.Given = strings.Fields(t.Given)
	}
	if t.Prefix != "" {
		d.Name.Prefix = strings.Fields(t.Prefix)
	}
	d.Address.City, d.Address.Postcode = t.Town, t.District
	return present.BannerOf(&d, t.NHS, now)
}

// TraceResult is the server's answer to a trace: a short list of
// candidates, or TooMany (none listed: add the postcode), with Message
// saying so in plain words.
type TraceResult struct {
	Candidates []TraceCandidate `json:"candidates"`
	TooMany    bool             `json:"too_many"`
	Message    string           `json:"message,omitempty"`
}

// Trace asks the server to find a patient for break-glass by family name
// and date of birth (in any form a search accepts), optionally a postcode.
// It needs a connection (ErrTraceNeedsConnection otherwise) and a role
// that may break glass. The device records the trace as a search event;
// the server records it too. A refusal by the server is an error in its
// words. Choosing a candidate gives BreakGlass its NHS number.
func (c *Core) Trace(ctx context.Context, family, birthText, postcode string) (*TraceResult, error) {
	family = strings.TrimSpace(family)
	birth, ok := cache.ParseDateOfBirth(birthText)
	if family == "" || !ok {
		return nil, ErrTraceInput
	}
	_, s, err := c.open()
	if err != nil {
		return nil, err
	}
	if !s.Policy.BreakGlass {
		return nil, ErrBreakGlassNotAllowed
	}
	c.mu.Lock()
	sc := c.sync
	c.mu.Unlock()
	if sc == nil {
		return nil, ErrTraceNeedsConnection
	}
	res, err := sc.Trace(ctx, family, birth, strings.TrimSpace(postcode))
	switch {
	case errors.Is(err, syncclient.ErrOffline):
		return nil, fmt.Errorf("%w (%v)", ErrTraceNeedsConnection, err)
	case errors.Is(err, syncclient.ErrTraceUnsupported):
		return nil, ErrTraceUnsupported
	case err != nil:
		return nil, fmt.Errorf("trace: %w", err)
	}
	out := &TraceResult{TooMany: res.TooMany, Candidates: []TraceCandidate{}}
	for _, tc := range res.Candidates {
		n, err := record.ParseNHSNumber(tc.NHS)
		if err != nil {
			continue // never offered for access
		}
		out.Candidates = append(out.Candidates, TraceCandidate{NHS: n, Family: tc.Family, Given: tc.Given, Prefix: tc.Prefix,
			BirthDate: tc.BirthDate, Gender: tc.Gender, District: tc.District, Town: tc.Town})
	}
	e := c.event(s, audit.ActionSearch)
	e.Purpose = s.Policy.Purpose
	e.Query = traceQuery(family, birth, postcode)
	e.Results = len(out.Candidates)
	if res.Error != "" && !res.TooMany {
		e.Outcome = audit.Outcome{Result: audit.ResultFailure, Detail: "refused by the server: " + res.Error}
	}
	if err := c.logEvent(e); err != nil {
		return nil, fmt.Errorf("the trace's answer was not shown because its audit event could not be written: %w", err)
	}
	if res.Error != "" && !res.TooMany {
		return nil, errors.New(res.Error)
	}
	switch {
	case res.TooMany:
		out.Message = "Too many patients match: add the postcode."
	case len(out.Candidates) == 0:
		out.Message = "No patient found with that family name and date of birth."
	}
	return out, nil
}

// traceQuery is what the device's audit event records of a trace.
func traceQuery(family, birth, postcode string) string {
	q := "break-glass trace: family " + family + ", born " + birth
	if p := strings.TrimSpace(postcode); p != "" {
		q += ", postcode " + p
	}
	return q
}
