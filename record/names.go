package record

import "strings"

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
