package protocol

import (
	"fmt"
	"strings"
	"time"
)

// Field limits enforced by Decode.
const (
	// MaxDeletes bounds the revocations in one batch; the server splits
	// larger sets across batches.
	MaxDeletes = 4096
	// MaxIncidents bounds the open incidents listed to one user, and
	// MaxIncidentPatients the candidates of one incident.
	MaxIncidents        = 64
	MaxIncidentPatients = 50
	// MaxTraceCandidates bounds the patients one trace answer lists.
	MaxTraceCandidates = 5
	// MaxName bounds a name or town in a trace and its answer.
	MaxName = 200
	// MaxText bounds free-text fields such as a break-glass reason.
	MaxText = 2000
	// MaxToken bounds identifiers and codes.
	MaxToken = 128
)

// validate checks ranges the JSON decoder cannot.
func validate(m Message) error {
	switch v := m.(type) {
	case *Hello:
		if v.Protocol <= 0 {
			return malformed(m, "protocol version missing")
		}
		if v.Window < 0 || v.Window > MaxWindow {
			return malformed(m, fmt.Sprintf("window %d outside 0..%d", v.Window, MaxWindow))
		}
		if err := validCursor(m, v.Cursor); err != nil {
			return err
		}
		if h := v.AuditHead; h != nil && (len(h.Hash) != 32 || len(h.Sig) != 64) {
			return malformed(m, "audit head hash must be 32 bytes and signature 64")
		}
		if r := v.Rollback; r != nil && r.AllocatedSeq <= r.FoundSeq {
			return malformed(m, "rollback report: allocated_seq must be beyond found_seq")
		}
	case *Welcome:
		if v.Mode != ModeFull && v.Mode != ModeLive {
			return malformed(m, fmt.Sprintf("mode %q", v.Mode))
		}
		if v.Epoch == "" || len(v.Epoch) > MaxToken {
			return malformed(m, "epoch missing or too long")
		}
		if v.Total < 0 || v.Done < 0 {
			return malformed(m, "negative progress counts")
		}
	case *Batch:
		if v.ID == 0 {
			return malformed(m, "batch id 0")
		}
		if len(v.Upserts) > BatchCount {
			return fmt.Errorf("batch of %d documents (limit %d): %w", len(v.Upserts), BatchCount, ErrTooLarge)
		}
		if len(v.Deletes) > MaxDeletes {
			return fmt.Errorf("batch of %d revocations (limit %d): %w", len(v.Deletes), MaxDeletes, ErrTooLarge)
		}
		if err := validCursor(m, v.Cursor); err != nil {
			return err
		}
		for _, u := range v.Upserts {
			if !tenDigits(u.NHS) {
				return malformed(m, fmt.Sprintf("upsert NHS number %q", u.NHS))
			}
			if u.Relationship != RelCaseload && u.Relationship != RelBreakGlass && u.Relationship != RelIncident {
				return malformed(m, fmt.Sprintf("relationship %q", u.Relationship))
			}
			if u.NotAfter.IsZero() {
				return malformed(m, "document without a lease")
			}
			if u.Hash != nil && len(u.Hash) != 32 {
				return malformed(m, "document hash is not SHA-256")
			}
			if u.Delta != nil && (len(u.Delta.BaseHash) != 32 || u.Hash == nil) {
				return malformed(m, "delta without a SHA-256 base and result hash")
			}
		}
		for _, d := range v.Deletes {
			if !tenDigits(d.NHS) {
				return malformed(m, fmt.Sprintf("delete NHS number %q", d.NHS))
			}
		}
		if v.Done < 0 || v.Total < 0 {
			return malformed(m, "negative progress counts")
		}
	case *Ack:
		if v.ID == 0 {
			return malformed(m, "ack of batch 0")
		}
		if len(v.Full) > BatchCount {
			return fmt.Errorf("ack asking for %d whole documents (limit %d): %w", len(v.Full), BatchCount, ErrTooLarge)
		}
		for _, n := range v.Full {
			if !tenDigits(n) {
				return malformed(m, fmt.Sprintf("full-document NHS number %q", n))
			}
		}
	case *UpToDate:
		if err := validCursor(m, v.Cursor); err != nil {
			return err
		}
	case *AuditUpload:
		if v.ID == 0 {
			return malformed(m, "upload id 0")
		}
		if len(v.Seqs) > MaxAuditBatch {
			return fmt.Errorf("audit upload of %d events (limit %d): %w", len(v.Seqs), MaxAuditBatch, ErrTooLarge)
		}
		for _, s := range v.Seqs {
			if s == 0 {
				return malformed(m, "audit sequence 0")
			}
		}
		if len(v.Seqs) > 0 && (len(v.Head.Hash) != 32 || len(v.Head.Sig) != 64) {
			return malformed(m, "audit head hash must be 32 bytes and signature 64")
		}
	case *BreakGlass:
		if !tenDigits(v.NHS) {
			return malformed(m, fmt.Sprintf("NHS number %q", v.NHS))
		}
		if v.RequestID == "" || len(v.RequestID) > MaxToken || v.ReasonCode == "" || len(v.ReasonCode) > MaxToken {
			return malformed(m, "request id and reason code are required")
		}
		if len(v.ReasonText) > MaxText {
			return fmt.Errorf("break-glass reason of %d bytes: %w", len(v.ReasonText), ErrTooLarge)
		}
	case *Trace:
		if v.RequestID == "" || len(v.RequestID) > MaxToken {
			return malformed(m, "request id is required")
		}
		if strings.TrimSpace(v.Family) == "" || len(v.Family) > MaxName {
			return malformed(m, "family name missing or too long")
		}
		if _, err := time.Parse(time.DateOnly, v.BirthDate); err != nil {
			return malformed(m, fmt.Sprintf("birth date %q is not YYYY-MM-DD", v.BirthDate))
		}
		if len(v.Postcode) > 16 {
			return malformed(m, "postcode too long")
		}
	case *TraceResult:
		if v.RequestID == "" || len(v.RequestID) > MaxToken {
			return malformed(m, "request id is required")
		}
		if len(v.Candidates) > MaxTraceCandidates {
			return fmt.Errorf("trace answer of %d candidates (limit %d): %w", len(v.Candidates), MaxTraceCandidates, ErrTooLarge)
		}
		if v.TooMany && len(v.Candidates) > 0 {
			return malformed(m, "too_many with candidates")
		}
		if len(v.Error) > MaxText {
			return fmt.Errorf("trace error of %d bytes: %w", len(v.Error), ErrTooLarge)
		}
		for _, c := range v.Candidates {
			if !tenDigits(c.NHS) {
				return malformed(m, fmt.Sprintf("candidate NHS number %q", c.NHS))
			}
			for _, f := range []string{c.Family, c.Given, c.Prefix, c.Town} {
				if len(f) > MaxName {
					return malformed(m, "candidate name or town too long")
				}
			}
			if len(c.BirthDate) > 10 || len(c.Gender) > MaxToken || len(c.District) > 8 {
				return malformed(m, "candidate birth date, gender or district too long")
			}
		}
	case *Incidents:
		if len(v.Open) > MaxIncidents {
			return fmt.Errorf("%d open incidents (limit %d): %w", len(v.Open), MaxIncidents, ErrTooLarge)
		}
		for _, in := range v.Open {
			if in.ID == "" || len(in.ID) > 64 {
				return malformed(m, "incident id missing or too long")
			}
			if len(in.Address) > MaxText || len(in.Postcode) > 16 {
				return malformed(m, "incident address too long")
			}
			if in.Expires.IsZero() {
				return malformed(m, "incident without an expiry")
			}
			if len(in.NHS) > MaxIncidentPatients {
				return fmt.Errorf("incident of %d patients (limit %d): %w", len(in.NHS), MaxIncidentPatients, ErrTooLarge)
			}
			for _, n := range in.NHS {
				if !tenDigits(n) {
					return malformed(m, fmt.Sprintf("incident NHS number %q", n))
				}
			}
		}
	case *ErrorMsg:
		if len(v.Message) > MaxText {
			return fmt.Errorf("error text of %d bytes: %w", len(v.Message), ErrTooLarge)
		}
	}
	return nil
}

func validCursor(m Message, c Cursor) error {
	switch c.Phase {
	case PhaseNone, PhaseFull, PhaseLive:
	default:
		return malformed(m, fmt.Sprintf("cursor phase %q", c.Phase))
	}
	if len(c.Epoch) > MaxToken || len(c.After) > 10 {
		return malformed(m, "cursor field too long")
	}
	if c.After != "" && !tenDigits(c.After) {
		return malformed(m, fmt.Sprintf("cursor position %q", c.After))
	}
	return nil
}

func malformed(m Message, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, m.Type(), why)
}

// tenDigits checks the shape of an NHS number on the wire; the receiver
// also runs the check digit through the record package before storing.
func tenDigits(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < 10; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
