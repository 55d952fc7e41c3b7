package demo

import (
	"strconv"
	"unicode/utf8"
)

// enc appends one JSON value to buf without reflection. It is the hot path
// of the generator: encoding/json would spend most of its time discovering
// the shape of values whose shape we already know.
//
// Keys are written as given and must be plain ASCII without quotes or
// backslashes (they are constants in this package). Values are escaped.
// comma records whether the next member or element needs a separator; it
// is set after every value and cleared after every opening bracket, so no
// stack is needed.
type enc struct {
	buf   []byte
	comma bool
}

func (e *enc) sep() {
	if e.comma {
		e.buf = append(e.buf, ',')
	}
}

func (e *enc) key(k string) {
	e.sep()
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, k...)
	e.buf = append(e.buf, '"', ':')
	e.comma = false
}

// open starts the top-level object or an object element of an array.
func (e *enc) open() {
	e.sep()
	e.buf = append(e.buf, '{')
	e.comma = false
}

// obj starts an object member.
func (e *enc) obj(k string) {
	e.key(k)
	e.buf = append(e.buf, '{')
}

// close ends an object.
func (e *enc) close() {
	e.buf = append(e.buf, '}')
	e.comma = true
}

// arr starts an array member.
func (e *enc) arr(k string) {
	e.key(k)
	e.buf = append(e.buf, '[')
}

// end ends an array.
func (e *enc) end() {
	e.buf = append(e.buf, ']')
	e.comma = true
}

func (e *enc) str(k, v string) {
	e.key(k)
	e.buf = appendString(e.buf, v)
	e.comma = true
}

// strElem appends a string element to an array.
func (e *enc) strElem(v string) {
	e.sep()
	e.buf = appendString(e.buf, v)
	e.comma = true
}

func (e *enc) int(k string, v int) {
	e.key(k)
	e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	e.comma = true
}

// dec writes v with exactly prec digits after the point (prec 0 gives an
// integer), so a value reads the way a device or clinician would record it.
func (e *enc) dec(k string, v float64, prec int) {
	e.key(k)
	e.buf = strconv.AppendFloat(e.buf, v, 'f', prec, 64)
	e.comma = true
}

func (e *enc) bool(k string, v bool) {
	e.key(k)
	e.buf = strconv.AppendBool(e.buf, v)
	e.comma = true
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Valid UTF-8 passes through
// unchanged (so "Zoë" stays readable in the file); quotes, backslashes and
// control characters are escaped; invalid bytes become U+FFFD so the output
// is always valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
