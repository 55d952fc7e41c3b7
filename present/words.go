package present

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"kmcr/record"
)

// Plural says "1 item" or "3 items".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// HumanDuration says a duration the way people do: "45 seconds",
// "5 minutes", "2 h 5 min", "3 days".
func HumanDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		n := int(d.Round(time.Second) / time.Second)
		return Plural(n, "second", "seconds")
	case d < time.Hour:
		n := int(d.Round(time.Minute) / time.Minute)
		return Plural(n, "minute", "minutes")
	case d < 48*time.Hour:
		h := int(d / time.Hour)
		m := int((d % time.Hour).Round(time.Minute) / time.Minute)
		if m == 60 {
			h, m = h+1, 0
		}
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// joinNonEmpty joins the parts that have text.
func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// dateOf is a date as the source gave it, NHS style, or "".
func dateOf(d record.Date) string {
	if d.IsZero() && d.Text == "" {
		return ""
	}
	return d.String()
}

// isoOf is a date as YYYY-MM-DD (or less), for programs.
func isoOf(d record.Date) string { return d.DateOnly() }

func since(d record.Date) string {
	if s := dateOf(d); s != "" {
		return "since " + s
	}
	return ""
}

func recorded(d record.Date) string {
	if s := dateOf(d); s != "" {
		return "recorded " + s
	}
	return ""
}

func periodText(p record.Period) string {
	switch {
	case p.Start.IsZero() && p.End.IsZero():
		return ""
	case p.End.IsZero():
		return "from " + p.Start.String()
	case p.Start.IsZero():
		return "until " + p.End.String()
	}
	return p.Start.String() + " to " + p.End.String()
}

func statusIfNot(status, usual string) string {
	if status == usual {
		return ""
	}
	return status
}

// typeNouns names the resource types a summary counts but does not show.
var typeNouns = map[string][2]string{
	"Basic":                {"other record (Basic)", "other records (Basic)"},
	"Claim":                {"claim", "claims"},
	"DiagnosticReport":     {"diagnostic report", "diagnostic reports"},
	"ExplanationOfBenefit": {"explanation of benefit", "explanations of benefit"},
	"ImagingStudy":         {"imaging study", "imaging studies"},
	"List":                 {"list", "lists"},
	"Patient":              {"other patient record", "other patient records"},
	"RelatedPerson":        {"related person", "related people"},
}

// typeNoun says "16 claims" for a resource type and count: the type's
// words in lower case, in the plural when there are several.
func typeNoun(typ string, n int) string {
	if w, ok := typeNouns[typ]; ok {
		return Plural(n, w[0], w[1])
	}
	var words []string
	start := 0
	for i, r := range typ {
		if i > 0 && unicode.IsUpper(r) {
			words = append(words, strings.ToLower(typ[start:i]))
			start = i
		}
	}
	words = append(words, strings.ToLower(typ[start:]))
	one := strings.Join(words, " ")
	many := one + "s"
	switch {
	case strings.HasSuffix(one, "y") && !strings.HasSuffix(one, "ay") && !strings.HasSuffix(one, "ey") && !strings.HasSuffix(one, "oy"):
		many = one[:len(one)-1] + "ies"
	case strings.HasSuffix(one, "s"), strings.HasSuffix(one, "x"), strings.HasSuffix(one, "ch"), strings.HasSuffix(one, "sh"):
		many = one + "es"
	}
	return Plural(n, one, many)
}
