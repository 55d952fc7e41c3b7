package safetext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// hostile are client-supplied strings that act on a terminal or hide text.
var hostile = []struct{ in, want string }{
	{"ambulance-7", "ambulance-7"},
	{"\x1b[2J\x1b[31mALL CLEAR", `\x1b[2J\x1b[31mALL CLEAR`},
	{"real\rfake", `real\rfake`},
	{"line1\nline2", `line1\nline2`},
	{"abc\u202edcb", `abc\u202edcb`},
	{"\u2066isolate\u2069", `\u2066isolate\u2069`},
	{"zero\u200bwidth\ufeff", `zero\u200bwidth\ufeff`},
	{"c1\u009bcontrol", `c1\u009bcontrol`},
	{"bell\a back\b del\x7f", `bell\x07 back\x08 del\x7f`},
	{"bad\xffutf8", `bad\xffutf8`},
	{"sep\u2028arator", `sep\u2028arator`},
	{"Zoë 日本 😀", "Zoë 日本 😀"},
}

// TestEscape_Hostile checks each hostile string comes out visible and
// inert, and ordinary text unchanged.
func TestEscape_Hostile(t *testing.T) {
	for _, tc := range hostile {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestEscape_NothingUnsafeSurvives checks every rune of the Unicode range
// that is a control, format or separator character is escaped.
func TestEscape_NothingUnsafeSurvives(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		out := Escape(string(r))
		bad := unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
		if bad == (out == string(r)) {
			t.Fatalf("Escape(%U) = %q", r, out)
		}
	}
}

// TestWriter_KeepsLayoutAndSplitRunes checks newlines and tabs pass, a rune
// split across writes is kept whole, and controls are escaped.
func TestWriter_KeepsLayoutAndSplitRunes(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	in := "DEVICE\tHOST\nd1\tamb\u202e\x1b[1m\n日本\n"
	b := []byte(in)
	for i := range b { // one byte at a time
		if _, err := w.Write(b[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "DEVICE\tHOST\nd1\tamb\\u202e\\u001b[1m\n日本\n"
	if out.String() != want {
		t.Fatalf("got %q; want %q", out.String(), want)
	}
	out.Reset()
	w.Write([]byte{0xe6, 0x97})
	w.Flush()
	if !strings.Contains(out.String(), `\xe6\x97`) {
		t.Fatalf("an incomplete rune at the end: %q", out.String())
	}
}

// FuzzEscape checks Escape's output never holds an unsafe rune or invalid
// UTF-8, whatever the input.
func FuzzEscape(f *testing.F) {
	for _, tc := range hostile {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Escape(%q) = %q is not valid UTF-8", s, out)
		}
		for _, r := range out {
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
				t.Fatalf("Escape(%q) = %q keeps %U", s, out, r)
			}
		}
	})
}

// TestWriter_JSONStaysValid checks JSON passed through the Writer still
// decodes to the same value, hostile strings included.
func TestWriter_JSONStaysValid(t *testing.T) {
	for _, tc := range hostile {
		if !utf8.ValidString(tc.in) {
			continue // encoding/json replaces invalid UTF-8 before we see it
		}
		in, _ := json.Marshal(map[string]string{"host": tc.in})
		var out bytes.Buffer
		w := NewWriter(&out)
		w.Write(in)
		w.Flush()
		var got map[string]string
		if err := json.Unmarshal(out.Bytes(), &got); err != nil || got["host"] != tc.in {
			t.Fatalf("%q through the Writer: %s (%v)", tc.in, out.Bytes(), err)
		}
		for _, r := range out.String() {
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) && r != '\n' && r != '\t' {
				t.Fatalf("%q through the Writer keeps %U", tc.in, r)
			}
		}
	}
}
