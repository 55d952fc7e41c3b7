package cache

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// accentGroups folds the Latin letters found in names across the UK and
// Ireland (Latin-1 Supplement and Latin Extended-A) to plain ASCII, so that
// "zoe" finds "Zoë" and "o briain" finds "Ó Briain". Ligatures and letters
// without a one-letter equivalent fold to their usual spelling.
var accentGroups = [...]struct{ from, to string }{
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

var accentFold = func() map[rune]string {
	m := map[rune]string{}
	for _, g := range accentGroups {
		for _, r := range g.from {
			m[r] = g.to
		}
	}
	return m
}()

// foldName normalises a name for matching: lower case, accents removed, and
// everything that is not a letter or digit dropped (apostrophes, spaces,
// hyphens, full stops), so "O'Briain", "Ó Briain" and "obriain" are equal.
func foldName(s string) string {
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
	return string(appendFold(make([]byte, 0, len(s)), s))
}

// appendFold appends the folded form of s to dst.
func appendFold(dst []byte, s string) []byte {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			dst = append(dst, byte(r))
		case r >= 'A' && r <= 'Z':
			dst = append(dst, byte(r+'a'-'A'))
		case r < utf8.RuneSelf:
			// punctuation and spaces
		case r >= 0x300 && r <= 0x36f:
			// combining diacritical marks (decomposed input)
		default:
			if rep, ok := accentFold[r]; ok {
				dst = append(dst, rep...)
			} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
				dst = utf8.AppendRune(dst, unicode.ToLower(r))
			}
		}
	}
	return dst
}

// compactUpper upper-cases ASCII letters and drops spaces, for postcodes.
func compactUpper(s string) string { return string(appendCompactUpper(make([]byte, 0, len(s)), s)) }

func appendCompactUpper(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			b = append(b, c-'a'+'A')
		case c == ' ' || c == '\t':
		default:
			b = append(b, c)
		}
	}
	return b
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// isOutward reports whether s (upper case, no spaces) is a UK outward code:
// A9, A99, AA9, AA99, A9A or AA9A.
func isOutward(s string) bool {
	switch len(s) {
	case 2:
		return isLetter(s[0]) && isDigit(s[1])
	case 3:
		return isLetter(s[0]) && (isDigit(s[1]) && (isDigit(s[2]) || isLetter(s[2])) ||
			isLetter(s[1]) && isDigit(s[2]))
	case 4:
		return isLetter(s[0]) && isLetter(s[1]) && isDigit(s[2]) && (isDigit(s[3]) || isLetter(s[3]))
	}
	return false
}

// isInward reports whether s is a UK inward code: 9AA.
func isInward(s string) bool {
	return len(s) == 3 && isDigit(s[0]) && isLetter(s[1]) && isLetter(s[2])
}

// splitPostcode splits a compact upper-case postcode into outward and
// inward codes.
func splitPostcode(s string) (outward, inward string, ok bool) {
	if len(s) < 5 || len(s) > 7 {
		return "", "", false
	}
	outward, inward = s[:len(s)-3], s[len(s)-3:]
	return outward, inward, isOutward(outward) && isInward(inward)
}

// normPostcode is the index key of a postcode: "ME7 2JH" for any spacing or
// case of a valid UK postcode; other strings upper-cased without spaces.
// The single space keeps district prefixes exact: "ME1 " does not match
// "ME10 1AB".
func normPostcode(s string) string {
	var buf [16]byte
	c := appendCompactUpper(buf[:0], s)
	if out, in, ok := splitPostcode(string(c)); ok {
		return out + " " + in
	}
	return string(c)
}

var monthNames = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

func parseMonth(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, len(s) <= 2
	}
	l := strings.ToLower(s)
	if len(l) < 3 {
		return 0, false
	}
	for i, m := range monthNames {
		if strings.HasPrefix(l, m) && strings.HasPrefix(strings.ToLower(time.Month(i+1).String()), l) {
			return i + 1, true
		}
	}
	return 0, false
}

// parseDate reads a date of birth as typed: 1962-03-12, 12/03/1962,
// 12-03-1962, 12.03.1962, 12-Mar-1962 or 12 March 1962 (tokens joined by
// the caller). Day comes before month, as in the UK. It returns YYYY-MM-DD.
func parseDate(s string) (string, bool) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '/' || r == '.' || r == ' ' })
	if len(parts) != 3 {
		return "", false
	}
	var ys, ms, ds string
	if len(parts[0]) == 4 {
		ys, ms, ds = parts[0], parts[1], parts[2]
	} else {
		ds, ms, ys = parts[0], parts[1], parts[2]
	}
	if len(ys) != 4 || len(ds) < 1 || len(ds) > 2 {
		return "", false
	}
	y, err1 := strconv.Atoi(ys)
	d, err2 := strconv.Atoi(ds)
	m, ok := parseMonth(ms)
	if err1 != nil || err2 != nil || !ok || m < 1 || m > 12 || d < 1 {
		return "", false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d || t.Month() != time.Month(m) {
		return "", false // 31-Feb and friends
	}
	return t.Format(time.DateOnly), true
}

// isISODate reports whether s is a valid YYYY-MM-DD date.
func isISODate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}
