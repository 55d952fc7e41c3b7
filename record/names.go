package record

import (
	"strings"
	"unicode"
)

// FormatName formats a name the way the NHS Common User Interface shows it
// in a patient banner: family name in capitals, then given names, then the
// title in brackets: "SMITH, Jane Ann (Mrs)". Trailing full stops are
// dropped from titles ("Mrs." becomes "Mrs"). Missing parts are left out.
func FormatName(family string, given, prefix []string) string {
	var b strings.Builder
	family = strings.TrimSpace(family)
	b.WriteString(strings.ToUpper(family))
	first := true
	for _, g := range given {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		switch {
		case first && family != "":
			b.WriteString(", ")
		case !first:
			b.WriteByte(' ')
		}
		b.WriteString(g)
		first = false
	}
	var titles []string
	for _, p := range prefix {
		if p = strings.TrimRight(strings.TrimSpace(p), "."); p != "" {
			titles = append(titles, p)
		}
	}
	if len(titles) > 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("(" + strings.Join(titles, " ") + ")")
	}
	return b.String()
}

// foldTable maps the accented letters of Latin-1 and Latin Extended-A to
// their unaccented lower-case forms. It stands in for Unicode
// decomposition, which the standard library lacks, and covers the names of
// the UK and Europe; other letters are only lower-cased.
var foldTable = func() map[rune]string {
	m := map[rune]string{}
	for _, row := range [...]struct{ from, to string }{
		{"ÀÁÂÃÄÅàáâãäåĀāĂăĄą", "a"}, {"Ææ", "ae"}, {"ÇçĆćĈĉĊċČč", "c"},
		{"ÐðĎďĐđ", "d"}, {"ÈÉÊËèéêëĒēĔĕĖėĘęĚě", "e"}, {"ĜĝĞğĠġĢģ", "g"},
		{"ĤĥĦħ", "h"}, {"ÌÍÎÏìíîïĨĩĪīĬĭĮįİı", "i"}, {"Ĳĳ", "ij"}, {"Ĵĵ", "j"},
		{"Ķķĸ", "k"}, {"ĹĺĻļĽľĿŀŁł", "l"}, {"ÑñŃńŅņŇňŉŊŋ", "n"},
		{"ÒÓÔÕÖØòóôõöøŌōŎŏŐő", "o"}, {"Œœ", "oe"}, {"ŔŕŖŗŘř", "r"},
		{"ŚśŜŝŞşŠšſ", "s"}, {"ß", "ss"}, {"ŢţŤťŦŧ", "t"}, {"Þþ", "th"},
		{"ÙÚÛÜùúûüŨũŪūŬŭŮůŰűŲų", "u"}, {"Ŵŵ", "w"}, {"ÝýÿŶŷŸ", "y"}, {"ŹźŻżŽž", "z"},
	} {
		for _, r := range row.from {
			m[r] = row.to
		}
	}
	return m
}()

// NormaliseName returns the form of a name used for searching: lower case,
// accents removed ("Zoë" and "ZOE" both become "zoe"), apostrophes dropped
// ("O'Keefe" becomes "okeefe"), and runs of anything else that is not a
// letter or digit (spaces, hyphens, full stops) turned into one space.
func NormaliseName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case r == '\'' || r == '\u2019' || r == '`':
			continue
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9'):
		case r < 0x80 && r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if f, ok := foldTable[r]; ok {
				if space && b.Len() > 0 {
					b.WriteByte(' ')
				}
				space = false
				b.WriteString(f)
				continue
			}
			r = unicode.ToLower(r)
		default:
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// NormalisePostcode returns a postcode in upper case without spaces,
// "ME14 1XX" and "me141xx" both becoming "ME141XX".
func NormalisePostcode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !unicode.IsSpace(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}
