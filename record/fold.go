package record

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file says once how names and postcodes are compared. The search
// index of the client cache, the search keys of a summary, the demographics
// merge and any server listing use these functions and nothing of their
// own, so the same typed text finds the same patient everywhere
// (internal/onerule holds every user to that). Anything that stores their
// output must rebuild it when the rule changes; the client cache does not
// store it (its index keys are computed at unlock).

// foldGroups fold the Latin letters found in names across the UK and
// Europe (Latin-1 Supplement and Latin Extended-A, and capital sharp s) to
// plain ASCII, so that "zoe" finds "Zoë" and "o briain" finds "Ó Briain".
// They stand in for Unicode decomposition, which the standard library
// lacks. Ligatures and letters without a one-letter equivalent fold to
// their usual spelling.
var foldGroups = [...]struct{ from, to string }{
	{"ÀÁÂÃÄÅàáâãäåĀāĂăĄą", "a"},
	{"Ææ", "ae"},
	{"ÇçĆćĈĉĊċČč", "c"},
	{"ÐðĎďĐđ", "d"},
	{"ÈÉÊËèéêëĒēĔĕĖėĘęĚě", "e"},
	{"ĜĝĞğĠġĢģ", "g"},
	{"ĤĥĦħ", "h"},
	{"ÌÍÎÏìíîïĨĩĪīĬĭĮįİı", "i"},
	{"Ĳĳ", "ij"},
	{"Ĵĵ", "j"},
	{"Ķķĸ", "k"},
	{"ĹĺĻļĽľĿŀŁł", "l"},
	{"ÑñŃńŅņŇňŉŊŋ", "n"},
	{"ÒÓÔÕÖØòóôõöøŌōŎŏŐő", "o"},
	{"Œœ", "oe"},
	{"ŔŕŖŗŘř", "r"},
	{"ŚśŜŝŞşŠšſ", "s"},
	{"ßẞ", "ss"},
	{"ŢţŤťŦŧ", "t"},
	{"Þþ", "th"},
	{"ÙÚÛÜùúûüŨũŪūŬŭŮůŰűŲų", "u"},
	{"Ŵŵ", "w"},
	{"ÝýÿŶŷŸ", "y"},
	{"ŹźŻżŽž", "z"},
}

var foldTable = func() map[rune]string {
	m := map[rune]string{}
	for _, g := range foldGroups {
		for _, r := range g.from {
			m[r] = g.to
		}
	}
	return m
}()

// FoldName is the form of a name that searches compare: lower case, accents
// removed (precomposed or combining), and everything that is not a letter
// or digit dropped (apostrophes, spaces, tabs, non-breaking spaces,
// hyphens, full stops), so "O'Briain", "Ó Briain" and "obriain" are equal,
// and so are "STRAßE", "Straẞe" and "strasse". Letters outside the table
// (Greek, Cyrillic) are only lower-cased.
func FoldName(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			ascii = false
			break
		}
	}
	if ascii {
		return s // already folded: the common case costs no allocation
	}
	return string(AppendFoldName(make([]byte, 0, len(s)), s))
}

// AppendFoldName appends FoldName(s) to dst, for callers building keys in
// a buffer of their own.
func AppendFoldName(dst []byte, s string) []byte {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			dst = append(dst, byte(r))
		case r >= 'A' && r <= 'Z':
			dst = append(dst, byte(r+'a'-'A'))
		case r < utf8.RuneSelf:
			// punctuation and spaces
		case unicode.Is(unicode.Mn, r):
			// combining marks (decomposed input)
		default:
			if rep, ok := foldTable[r]; ok {
				dst = append(dst, rep...)
			} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
				dst = utf8.AppendRune(dst, unicode.ToLower(r))
			}
		}
	}
	return dst
}

// CompactPostcode upper-cases s and drops every white space (spaces, tabs,
// non-breaking spaces): "me14  1xx" becomes "ME141XX".
func CompactPostcode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteByte(byte(r - 'a' + 'A'))
		case r < utf8.RuneSelf && r != ' ' && r != '\t' && r != '\n' && r != '\r' && r != '\v' && r != '\f':
			b.WriteByte(byte(r))
		case r >= utf8.RuneSelf && !unicode.IsSpace(r):
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// SplitPostcode splits a UK postcode in any case and spacing into its
// outward and inward codes ("me14 1xx" gives "ME14", "1XX"); ok is false if
// s is not one.
func SplitPostcode(s string) (outward, inward string, ok bool) {
	c := CompactPostcode(s)
	if len(c) < 5 || len(c) > 7 {
		return "", "", false
	}
	outward, inward = c[:len(c)-3], c[len(c)-3:]
	if !IsOutwardCode(outward) || !isInward(inward) {
		return "", "", false
	}
	return outward, inward, true
}

// NormalisePostcode is the one form postcodes are compared in: "ME14 1XX"
// for any spacing or case of a valid UK postcode ("ME141XX", "me14  1xx",
// "ME14\t1XX"), and other text upper-cased without white space. The single
// space keeps district prefixes exact: "ME1 " does not begin "ME10 1AB".
func NormalisePostcode(s string) string {
	if out, in, ok := SplitPostcode(s); ok {
		return out + " " + in
	}
	return CompactPostcode(s)
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// IsOutwardCode reports whether s (upper case, no spaces) is a UK outward
// code: A9, A99, AA9, AA99, A9A or AA9A.
func IsOutwardCode(s string) bool {
	switch len(s) {
	case 2:
		return isUpper(s[0]) && isDigit(s[1])
	case 3:
		return isUpper(s[0]) && (isDigit(s[1]) && (isDigit(s[2]) || isUpper(s[2])) ||
			isUpper(s[1]) && isDigit(s[2]))
	case 4:
		return isUpper(s[0]) && isUpper(s[1]) && isDigit(s[2]) && (isDigit(s[3]) || isUpper(s[3]))
	}
	return false
}

// isInward reports whether s is a UK inward code: 9AA.
func isInward(s string) bool {
	return len(s) == 3 && isDigit(s[0]) && isUpper(s[1]) && isUpper(s[2])
}
