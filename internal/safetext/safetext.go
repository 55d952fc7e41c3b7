// Package safetext makes strings that came from a client safe to print on
// an admin's terminal or into a log: control characters (ANSI escape
// sequences, carriage returns that overwrite a line, backspaces), Unicode
// format characters (bidi overrides that reorder what is shown, zero-width
// characters that hide text), line separators and invalid UTF-8 are shown
// as visible escapes instead of acting on the display.
//
// It is the one helper for this: server logs pass through Sprintf, and
// every kmcr-server command's output through Writer.
package safetext

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// unsafe reports whether r must be escaped. keep lists the controls a
// text stream may carry as they are.
func unsafe(r rune, keep string) bool {
	if r < utf8.RuneSelf && strings.ContainsRune(keep, r) {
		return false
	}
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}

// appendEscaped appends s with every unsafe rune escaped: \r, \n, \t by
// name, other ASCII controls as \xNN (as \u00NN with jsonSafe, so an
// escape inside a JSON string stays valid JSON), the rest as \uNNNN, and
// each byte of invalid UTF-8 as \xNN.
func appendEscaped(b []byte, s []byte, keep string, jsonSafe bool) []byte {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && n <= 1:
			b = fmt.Appendf(b, `\x%02x`, s[0])
		case !unsafe(r, keep):
			b = append(b, s[:n]...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x80 && !jsonSafe:
			b = fmt.Appendf(b, `\x%02x`, r)
		default:
			b = fmt.Appendf(b, `\u%04x`, r)
		}
		s = s[n:]
	}
	return b
}

// Escape returns s with every control, format and separator character and
// every invalid byte shown as an escape; the result is one line.
func Escape(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || unsafe(r, "") {
			return string(appendEscaped(nil, []byte(s), "", false))
		}
	}
	return s
}

// Sprintf formats like fmt.Sprintf and escapes the result (Escape).
func Sprintf(format string, args ...any) string {
	return Escape(fmt.Sprintf(format, args...))
}

// Writer escapes what passes through it like Escape but keeps newlines
// and tabs (the layout of a command's output), and writes ASCII controls
// as \u00NN: encoding/json leaves DEL and C1 controls raw, and the escape
// keeps a --json output valid JSON with the same value. A rune split across
// writes is held until its end arrives; Flush writes a held incomplete
// rune as escapes.
type Writer struct {
	w    io.Writer
	held []byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

const streamKeep = "\n\t"

// Write escapes p and writes it; it reports len(p) on success.
func (sw *Writer) Write(p []byte) (int, error) {
	data := append(sw.held, p...)
	sw.held = nil
	// Hold back an incomplete rune at the end.
	if cut := incompleteTail(data); cut > 0 {
		sw.held = append([]byte(nil), data[len(data)-cut:]...)
		data = data[:len(data)-cut]
	}
	if _, err := sw.w.Write(appendEscaped(make([]byte, 0, len(data)+16), data, streamKeep, true)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a held incomplete rune, escaped.
func (sw *Writer) Flush() error {
	if len(sw.held) == 0 {
		return nil
	}
	_, err := sw.w.Write(appendEscaped(nil, sw.held, streamKeep, true))
	sw.held = nil
	return err
}

// incompleteTail returns how many bytes at the end of b start a UTF-8
// sequence that is not complete yet (0 when none).
func incompleteTail(b []byte) int {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return i
			}
			return 0
		}
	}
	return 0
}
