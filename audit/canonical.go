package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"kmcr/record"
)

// The canonical encoding is JSON written by hand, not by encoding/json, so
// that its bytes can never change under us: the hash chain and signatures
// cover these bytes, and a stored chain must verify in ten years' time.
// Rules (docs/audit.md has an example):
//
//   - one object, keys in the fixed order of wireEvent, every key always
//     present, no insignificant whitespace;
//   - "v" is canonicalVersion; integers in shortest decimal form;
//   - hashes as 64 lowercase hex digits;
//   - the time as RFC 3339 in UTC with exactly nine fractional digits;
//   - strings as UTF-8, escaping only '"', '\\' and control characters
//     (\b \f \n \r \t, otherwise \u00xx with lowercase hex);
//   - absent break-glass is null, no sections is [].
const (
	canonicalVersion = 1
	timeLayout       = "2006-01-02T15:04:05.000000000Z" // after converting to UTC
)

// MaxEventSize bounds the canonical encoding of one event, so that a hostile
// upload cannot make the server decode megabytes per item. A valid event is
// always far smaller (see the field limits on Validate).
const MaxEventSize = 64 << 10

// Decoding errors. Decode wraps one of these with the reason.
var (
	// ErrTooLarge is returned when the input is longer than MaxEventSize.
	ErrTooLarge = errors.New("audit event too large")
	// ErrMalformed is returned when the input is not an audit event: not
	// JSON, an unknown field, a wrong type, an unsupported version, or
	// chain fields that cannot be right (seq 0, seq 1 with a previous hash).
	ErrMalformed = errors.New("malformed audit event")
	// ErrNonCanonical is returned when the input decodes to a valid event
	// but is not byte for byte its canonical encoding (reordered keys,
	// whitespace, other escapes, another time zone). Its hash would not be
	// the hash the device chained, so it is refused rather than repaired.
	ErrNonCanonical = errors.New("audit event not in canonical form")
)

// Canonical returns the deterministic encoding of e that the hash chain
// covers. Events from Next, Append and Decode encode to exactly the bytes
// the device hashed. Occurred is converted to UTC first.
func (e Event) Canonical() []byte {
	return e.appendCanonical(make([]byte, 0, 512))
}

func (e Event) appendCanonical(b []byte) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, canonicalVersion, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"prev":"`...)
	b = hex.AppendEncode(b, e.Prev[:])
	b = append(b, `","action":`...)
	b = appendString(b, string(e.Action))
	b = append(b, `,"occurred":"`...)
	b = appendTime(b, e.Occurred.UTC())
	b = append(b, `","user":{"id":`...)
	b = appendString(b, e.User.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, e.User.Name)
	b = append(b, `,"role":`...)
	b = appendString(b, e.User.Role)
	b = append(b, `},"device":{"id":`...)
	b = appendString(b, e.Device.ID)
	b = append(b, `,"host":`...)
	b = appendString(b, e.Device.Host)
	b = append(b, `},"patient":`...)
	b = appendString(b, string(e.Patient))
	b = append(b, `,"sections":[`...)
	for i, s := range e.Sections {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	b = append(b, `],"query":`...)
	b = appendString(b, e.Query)
	b = append(b, `,"results":`...)
	b = strconv.AppendInt(b, int64(e.Results), 10)
	b = append(b, `,"purpose":`...)
	b = appendString(b, e.Purpose)
	b = append(b, `,"breakGlass":`...)
	if e.BreakGlass == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"reasonCode":`...)
		b = appendString(b, e.BreakGlass.ReasonCode)
		b = append(b, `,"reasonText":`...)
		b = appendString(b, e.BreakGlass.ReasonText)
		b = append(b, '}')
	}
	b = append(b, `,"outcome":{"result":`...)
	b = appendString(b, string(e.Outcome.Result))
	b = append(b, `,"detail":`...)
	b = appendString(b, e.Outcome.Detail)
	return append(b, "}}"...)
}

// appendTime writes t (in UTC) in timeLayout. It is time.AppendFormat done
// by hand for speed; years outside 0 to 9999, which Validate rejects, go
// through AppendFormat so the output stays deterministic.
func appendTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeLayout)
	}
	hour, minute, sec := t.Clock()
	pad := func(b []byte, v, width int) []byte {
		var d [9]byte
		for i := width - 1; i >= 0; i-- {
			d[i] = byte('0' + v%10)
			v /= 10
		}
		return append(b, d[:width]...)
	}
	b = pad(b, year, 4)
	b = append(b, '-')
	b = pad(b, int(month), 2)
	b = append(b, '-')
	b = pad(b, day, 2)
	b = append(b, 'T')
	b = pad(b, hour, 2)
	b = append(b, ':')
	b = pad(b, minute, 2)
	b = append(b, ':')
	b = pad(b, sec, 2)
	b = append(b, '.')
	b = pad(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string under the canonical escaping rules.
// Invalid UTF-8 (which Validate rejects) is written as U+FFFD so the output
// is always valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, "\ufffd"...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return append(b, '"')
}

// wireEvent mirrors the canonical encoding for decoding only; the field
// order here is the canonical key order.
type wireEvent struct {
	V        int    `json:"v"`
	Seq      uint64 `json:"seq"`
	Prev     string `json:"prev"`
	Action   string `json:"action"`
	Occurred string `json:"occurred"`
	User     struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Role string `json:"role"`
	} `json:"user"`
	Device struct {
		ID   string `json:"id"`
		Host string `json:"host"`
	} `json:"device"`
	Patient    string   `json:"patient"`
	Sections   []string `json:"sections"`
	Query      string   `json:"query"`
	Results    int      `json:"results"`
	Purpose    string   `json:"purpose"`
	BreakGlass *struct {
		ReasonCode string `json:"reasonCode"`
		ReasonText string `json:"reasonText"`
	} `json:"breakGlass"`
	Outcome struct {
		Result string `json:"result"`
		Detail string `json:"detail"`
	} `json:"outcome"`
}

// Decode parses the canonical encoding of an event. It accepts only what
// Canonical produces for a valid, chained event: it rejects input over
// MaxEventSize (ErrTooLarge), input that is not such an event (ErrMalformed,
// including unknown fields and ErrInvalidEvent's rules), and any other
// spelling of a valid event (ErrNonCanonical), by re-encoding and comparing.
func Decode(b []byte) (Event, error) {
	if len(b) > MaxEventSize {
		return Event{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxEventSize)
	}
	if e, ok := parseCanonical(b); ok {
		e = e.normalized()
		var buf [1024]byte
		if checkChainFields(e.Seq, e.Prev) == nil && e.Validate() == nil && bytes.Equal(e.appendCanonical(buf[:0]), b) {
			return e, nil
		}
	}
	return decodeSlow(b)
}

// decodeSlow decodes with encoding/json, for input the fast path did not
// accept, so that the error says what is wrong with it.
func decodeSlow(b []byte) (Event, error) {
	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) != 0 {
		return Event{}, fmt.Errorf("%w: data after the event", ErrMalformed)
	}
	if w.V != canonicalVersion {
		return Event{}, fmt.Errorf("%w: version %d, want %d", ErrMalformed, w.V, canonicalVersion)
	}
	e, err := w.event()
	if err != nil {
		return Event{}, err
	}
	if err := e.Validate(); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !bytes.Equal(e.appendCanonical(make([]byte, 0, len(b))), b) {
		return Event{}, ErrNonCanonical
	}
	return e, nil
}

// checkChainFields checks what the chain, not the caller, puts in an event.
func checkChainFields(seq uint64, prev Hash) error {
	if seq == 0 {
		return fmt.Errorf("%w: seq 0 (sequences start at 1)", ErrMalformed)
	}
	if (seq == 1) != prev.IsZero() {
		return fmt.Errorf("%w: seq %d with prev %s (only seq 1 has no previous event)", ErrMalformed, seq, prev)
	}
	return nil
}

func (w *wireEvent) event() (Event, error) {
	prev, err := ParseHash(w.Prev)
	if err != nil {
		return Event{}, fmt.Errorf("%w: prev: %w", ErrMalformed, err)
	}
	if err := checkChainFields(w.Seq, prev); err != nil {
		return Event{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, w.Occurred)
	if err != nil {
		return Event{}, fmt.Errorf("%w: occurred: %w", ErrMalformed, err)
	}
	e := Event{
		Seq:      w.Seq,
		Prev:     prev,
		Action:   Action(w.Action),
		Occurred: t.UTC(),
		User:     Actor{ID: w.User.ID, Name: w.User.Name, Role: w.User.Role},
		Device:   Device{ID: w.Device.ID, Host: w.Device.Host},
		Patient:  record.NHSNumber(w.Patient),
		Sections: w.Sections,
		Query:    w.Query,
		Results:  w.Results,
		Purpose:  w.Purpose,
		Outcome:  Outcome{Result: Result(w.Outcome.Result), Detail: w.Outcome.Detail},
	}
	if w.BreakGlass != nil {
		e.BreakGlass = &BreakGlass{ReasonCode: w.BreakGlass.ReasonCode, ReasonText: w.BreakGlass.ReasonText}
	}
	return e.normalized(), nil
}

// normalized returns e in the form Decode produces, so that events compare
// equal before and after a round trip: UTC without a monotonic reading, and
// nil rather than empty sections.
func (e Event) normalized() Event {
	e.Occurred = e.Occurred.UTC()
	if len(e.Sections) == 0 {
		e.Sections = nil
	}
	return e
}
