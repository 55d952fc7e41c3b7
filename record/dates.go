package record

import (
	"strings"
	"time"
)

// Precision says how much of a Date its source gave.
type Precision uint8

// Precisions of FHIR date, dateTime and instant values.
const (
	PrecisionUnknown Precision = iota // unparseable or absent
	PrecisionYear                     // "1962"
	PrecisionMonth                    // "1962-03"
	PrecisionDay                      // "1962-03-12"
	PrecisionTime                     // "1962-03-12T14:05:00+00:00"
)

var precisionCodes = [...]string{"unknown", "year", "month", "day", "time"}

// MarshalText writes "unknown", "year", "month", "day" or "time".
func (p Precision) MarshalText() ([]byte, error) {
	if int(p) < len(precisionCodes) {
		return []byte(precisionCodes[p]), nil
	}
	return []byte(precisionCodes[0]), nil
}

// UnmarshalText reads what MarshalText writes.
func (p *Precision) UnmarshalText(b []byte) error {
	for i, c := range precisionCodes {
		if c == string(b) {
			*p = Precision(i)
			return nil
		}
	}
	*p = PrecisionUnknown
	return nil
}

// Date is a FHIR date, dateTime or instant as read: the time it means (zero
// when unknown), the text it was written as, and how precise it was.
// A partial date means its first instant: "1962-03" is 1 March 1962.
// Dates without a time are midnight UTC, so their calendar day never shifts.
type Date struct {
	Time      time.Time `json:"time,omitzero"`
	Text      string    `json:"text,omitempty"`
	Precision Precision `json:"precision,omitempty"`
}

// timeLayouts are the dateTime forms accepted after the date part. FHIR
// requires a zone with a time; one without is read as UTC rather than
// dropped, because a date shown is better than none.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
}

// ParseDate reads a FHIR date, dateTime or instant: YYYY, YYYY-MM,
// YYYY-MM-DD, or a full timestamp with its zone. It never fails: text it
// cannot read is kept in Text with a zero Time, so it can still be shown.
func ParseDate(s string) Date {
	d := Date{Text: s}
	s = strings.TrimSpace(s)
	var err error
	switch {
	case s == "":
		return d
	case len(s) == 4:
		d.Time, err = time.Parse("2006", s)
		d.Precision = PrecisionYear
	case len(s) == 7:
		d.Time, err = time.Parse("2006-01", s)
		d.Precision = PrecisionMonth
	case len(s) == 10:
		d.Time, err = time.Parse("2006-01-02", s)
		d.Precision = PrecisionDay
	default:
		for _, layout := range timeLayouts {
			if d.Time, err = time.Parse(layout, s); err == nil {
				break
			}
		}
		d.Precision = PrecisionTime
	}
	if err != nil {
		return Date{Text: d.Text}
	}
	return d
}

// IsZero reports whether the date is unknown.
func (d Date) IsZero() bool { return d.Time.IsZero() }

// String formats the date the NHS way, as precisely as the source gave it:
// "1962", "Mar-1962", "12-Mar-1962", or "12-Mar-1962 14:05" (in the zone
// the source wrote). Text that could not be parsed is returned as written.
func (d Date) String() string {
	switch d.Precision {
	case PrecisionYear:
		return d.Time.Format("2006")
	case PrecisionMonth:
		return d.Time.Format("Jan-2006")
	case PrecisionDay:
		return FormatDate(d.Time)
	case PrecisionTime:
		return d.Time.Format("02-Jan-2006 15:04")
	}
	return d.Text
}

// DateOnly returns the date as "YYYY-MM-DD" (as the source wrote it when
// only the year or month is known), or "" when unknown.
func (d Date) DateOnly() string {
	switch d.Precision {
	case PrecisionYear:
		return d.Time.Format("2006")
	case PrecisionMonth:
		return d.Time.Format("2006-01")
	case PrecisionDay, PrecisionTime:
		return d.Time.Format("2006-01-02")
	}
	return ""
}

// newer orders dates newest first, unknown dates last.
func newer(a, b Date) bool {
	switch {
	case a.IsZero():
		return false
	case b.IsZero():
		return true
	}
	return a.Time.After(b.Time)
}

// FormatDate formats t the way the NHS Common User Interface shows dates,
// "12-Mar-1962", or returns "" for the zero time.
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("02-Jan-2006")
}

// Age returns the age in whole years on now's calendar day of someone born
// on birth's calendar day, or 0 if birth is zero or after now. Someone born
// on 29 February becomes a year older on 1 March in common years.
func Age(birth, now time.Time) int {
	if birth.IsZero() {
		return 0
	}
	by, bm, bd := birth.Date()
	ny, nm, nd := now.Date()
	age := ny - by
	if nm < bm || (nm == bm && nd < bd) {
		age--
	}
	return max(age, 0)
}
