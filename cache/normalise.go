package cache

import (
	"strconv"
	"strings"
	"time"
)

// Names and postcodes are compared by the record package's one rule
// (record.FoldName, record.NormalisePostcode); this file holds only what
// reading a typed query needs besides.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

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
// 12-03-1962, 12.03.1962, 12031962, 12-Mar-1962 or 12 March 1962 (tokens joined by
// the caller). Day comes before month, as in the UK. It returns YYYY-MM-DD.
func parseDate(s string) (string, bool) {
	if len(s) == 8 && strings.Trim(s, "0123456789") == "" {
		s = s[:2] + "-" + s[2:4] + "-" + s[4:] // 12031962: day, month, year
	}
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

// ParseDateOfBirth reads a date of birth in any form a search accepts
// (1948-03-12, 12/03/1948, 12.03.1948, 12031948, 12 Mar 1948) and returns
// it as YYYY-MM-DD.
func ParseDateOfBirth(s string) (string, bool) {
	return parseDate(strings.Join(strings.Fields(s), " "))
}
