package record

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Import errors name where and why, never what a file holds: a file may be
// anything an import folder was made to hold (a link to a secret, another
// patient's record), and the report reaches a terminal and logs. Messages
// give positions, field names and sizes; quoted values are left out, and
// control characters escaped.

// maxReasonText bounds one rejection's reason.
const maxReasonText = 300

// quoted matches a Go-quoted string in a message.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// withoutQuoted replaces every quoted value in msg with "the value".
func withoutQuoted(msg string) string { return quoted.ReplaceAllString(msg, "the value") }

// escapeControls writes control and format characters (escape sequences,
// bidirectional overrides, zero-width characters) as \u escapes, so a
// message prints as one plain line.
func escapeControls(s string) string {
	if strings.IndexFunc(s, isControlText) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControlText(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControlText(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// truncateText cuts s to at most n bytes at a character boundary.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
