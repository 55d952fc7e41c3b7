package audit

import (
	"encoding/hex"
	"time"
	"unicode/utf8"

	"kmcr/record"
)

// parseCanonical is Decode's fast path: a positional parser for exactly the
// canonical layout, about five times faster than encoding/json, because the
// server decodes every uploaded event (tens of thousands per sync).
//
// It need not be careful about what it accepts: Decode re-encodes the result
// and compares it with the input, and the encoding is injective, so an
// accepted input is always the canonical encoding of the returned event. Any
// input it does not recognise (ok false) goes to the slow path, which says
// precisely what is wrong.
func parseCanonical(b []byte) (e Event, ok bool) {
	// One string holds the whole input; the fields are slices of it, so an
	// event costs one allocation for all its text instead of one per field.
	p := parser{b: b, src: string(b), ok: true}
	p.lit(`{"v":1,"seq":`)
	e.Seq = p.number()
	p.lit(`,"prev":"`)
	p.hash(&e.Prev)
	p.lit(`","action":`)
	e.Action = Action(p.str())
	p.lit(`,"occurred":"`)
	e.Occurred = p.timestamp()
	p.lit(`","user":{"id":`)
	e.User.ID = p.str()
	p.lit(`,"name":`)
	e.User.Name = p.str()
	p.lit(`,"role":`)
	e.User.Role = p.str()
	p.lit(`},"device":{"id":`)
	e.Device.ID = p.str()
	p.lit(`,"host":`)
	e.Device.Host = p.str()
	p.lit(`},"patient":`)
	e.Patient = record.NHSNumber(p.str())
	p.lit(`,"sections":[`)
	if p.peek() != ']' {
		e.Sections = make([]string, 0, 4)
	}
	for p.ok && p.peek() != ']' {
		if len(e.Sections) > 0 {
			p.lit(",")
		}
		e.Sections = append(e.Sections, p.str())
		if len(e.Sections) > maxSections {
			return Event{}, false
		}
	}
	p.lit(`],"query":`)
	e.Query = p.str()
	p.lit(`,"results":`)
	e.Results = int(p.number() & (1<<31 - 1))
	p.lit(`,"purpose":`)
	e.Purpose = p.str()
	p.lit(`,"breakGlass":`)
	if p.peek() == 'n' {
		p.lit("null")
	} else {
		bg := &BreakGlass{}
		p.lit(`{"reasonCode":`)
		bg.ReasonCode = p.str()
		p.lit(`,"reasonText":`)
		bg.ReasonText = p.str()
		p.lit("}")
		e.BreakGlass = bg
	}
	p.lit(`,"outcome":{"result":`)
	e.Outcome.Result = Result(p.str())
	p.lit(`,"detail":`)
	e.Outcome.Detail = p.str()
	p.lit("}}")
	if !p.ok || p.i != len(b) {
		return Event{}, false
	}
	return e, true
}

type parser struct {
	b   []byte
	src string // b as a string, for allocation-free substrings
	i   int
	ok  bool
}

func (p *parser) peek() byte {
	if !p.ok || p.i >= len(p.b) {
		p.ok = false
		return 0
	}
	return p.b[p.i]
}

func (p *parser) lit(s string) {
	if !p.ok || len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		p.ok = false
		return
	}
	p.i += len(s)
}

func (p *parser) number() uint64 {
	var n uint64
	start := p.i
	for p.ok && p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		if p.i-start >= 19 { // more digits could overflow; no real seq is that long
			p.ok = false
			return 0
		}
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
	}
	if p.i == start {
		p.ok = false
	}
	return n
}

func (p *parser) hash(h *Hash) {
	if !p.ok || len(p.b)-p.i < 2*HashSize {
		p.ok = false
		return
	}
	if _, err := hex.Decode(h[:], p.b[p.i:p.i+2*HashSize]); err != nil {
		p.ok = false
		return
	}
	p.i += 2 * HashSize
}

// timestamp reads the fixed-width layout "2006-01-02T15:04:05.000000000Z".
func (p *parser) timestamp() time.Time {
	const n = len(timeLayout)
	if !p.ok || len(p.b)-p.i < n {
		p.ok = false
		return time.Time{}
	}
	s := p.b[p.i : p.i+n]
	p.i += n
	num := func(from, to int) int {
		v := 0
		for _, c := range s[from:to] {
			if c < '0' || c > '9' {
				p.ok = false
				return 0
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[29] != 'Z' {
		p.ok = false
		return time.Time{}
	}
	t := time.Date(num(0, 4), time.Month(num(5, 7)), num(8, 10), num(11, 13), num(14, 16), num(17, 19), num(20, 29), time.UTC)
	return t
}

// str reads a string written under the canonical escaping rules.
func (p *parser) str() string {
	p.lit(`"`)
	if !p.ok {
		return ""
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.src[start:p.i]
			p.i++
			return s
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			p.ok = false
			return ""
		default:
			p.i++
		}
	}
	p.ok = false
	return ""
}

// escaped finishes a string that holds escapes (rare: free text only).
func (p *parser) escaped(start int) string {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out)
		case c < 0x20:
			p.ok = false
			return ""
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			break
		}
		switch e := p.b[p.i+1]; e {
		case '"', '\\':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if p.i+6 > len(p.b) || string(p.b[p.i+2:p.i+4]) != "00" {
				p.ok = false
				return ""
			}
			var v [1]byte
			if _, err := hex.Decode(v[:], p.b[p.i+4:p.i+6]); err != nil || v[0] >= utf8.RuneSelf {
				p.ok = false
				return ""
			}
			out = append(out, v[0])
			p.i += 4
		default:
			p.ok = false
			return ""
		}
		p.i += 2
	}
	p.ok = false
	return ""
}
