package cli

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// TermSafe returns a writer that passes text to w with every control and
// format character except newline and tab written as a \uXXXX escape:
// escape sequences, carriage returns, bidirectional overrides and
// zero-width characters in a record (a name, an address) can then neither
// drive the terminal nor make one patient's line read as another's. Inside
// a JSON string the escape means the same character, so JSON output stays
// valid and unchanged in meaning. A character split across writes is held
// until it is complete.
func TermSafe(w io.Writer) io.Writer { return &termSafe{w: w} }

type termSafe struct {
	w     io.Writer
	carry []byte
}

func (t *termSafe) Write(p []byte) (int, error) {
	n := len(p)
	data := p
	if len(t.carry) > 0 {
		data = append(t.carry, p...)
		t.carry = nil
	}
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 && !utf8.FullRune(data[i:]) {
			t.carry = append([]byte(nil), data[i:]...)
			break
		}
		if r != '\n' && r != '\t' && (r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			if r == utf8.RuneError && size == 1 {
				r = rune(data[i])
			}
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, data[i:i+size]...)
		}
		i += size
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}
