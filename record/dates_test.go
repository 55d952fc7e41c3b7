package record

import (
	"testing"
	"time"
)

// TestParseDate_Forms checks every FHIR date form and unparseable text.
func TestParseDate_Forms(t *testing.T) {
	tests := []struct {
		in        string
		precision Precision
		utc       string // the instant, in UTC, RFC 3339; "" for zero
		shown     string
	}{
		{"1962", PrecisionYear, "1962-01-01T00:00:00Z", "1962"},
		{"1962-03", PrecisionMonth, "1962-03-01T00:00:00Z", "Mar-1962"},
		{"1962-03-12", PrecisionDay, "1962-03-12T00:00:00Z", "12-Mar-1962"},
		{"2020-05-06T12:48:19+00:00", PrecisionTime, "2020-05-06T12:48:19Z", "06-May-2020 12:48"},
		{"2020-05-06T12:48:19.123Z", PrecisionTime, "2020-05-06T12:48:19.123Z", "06-May-2020 12:48"},
		{"1976-01-19T22:58:16-05:00", PrecisionTime, "1976-01-20T03:58:16Z", "19-Jan-1976 22:58"},
		{"2020-05-06T12:48:19", PrecisionTime, "2020-05-06T12:48:19Z", "06-May-2020 12:48"},
		{"2020-05-06T12:48+01:00", PrecisionTime, "2020-05-06T11:48:00Z", "06-May-2020 12:48"},
		{"", PrecisionUnknown, "", ""},
		{"2024-13-45", PrecisionUnknown, "", "2024-13-45"},
		{"last spring", PrecisionUnknown, "", "last spring"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d := ParseDate(tt.in)
			utc := ""
			if !d.IsZero() {
				utc = d.Time.UTC().Format(time.RFC3339Nano)
			}
			if d.Precision != tt.precision || utc != tt.utc || d.String() != tt.shown || d.Text != tt.in {
				t.Errorf("ParseDate(%q) = %v %q %q; want %v %q %q", tt.in, d.Precision, utc, d.String(), tt.precision, tt.utc, tt.shown)
			}
		})
	}
}

// TestFormatDate_NHSStyle checks the NHS display format and the zero time.
func TestFormatDate_NHSStyle(t *testing.T) {
	if got := FormatDate(time.Date(1962, 3, 12, 23, 0, 0, 0, time.UTC)); got != "12-Mar-1962" {
		t.Errorf("FormatDate = %q", got)
	}
	if got := FormatDate(time.Time{}); got != "" {
		t.Errorf("FormatDate(zero) = %q", got)
	}
}

// TestAge_Birthdays checks ages on and around birthdays, leap days included.
func TestAge_Birthdays(t *testing.T) {
	d := func(y, m, day int) time.Time { return time.Date(y, time.Month(m), day, 12, 0, 0, 0, time.UTC) }
	tests := []struct {
		birth, now time.Time
		want       int
	}{
		{d(1962, 3, 12), d(2024, 3, 11), 61},
		{d(1962, 3, 12), d(2024, 3, 12), 62},
		{d(2000, 2, 29), d(2023, 2, 28), 22},
		{d(2000, 2, 29), d(2023, 3, 1), 23},
		{d(2000, 2, 29), d(2024, 2, 29), 24},
		{d(2024, 6, 1), d(2024, 6, 1), 0},
		{d(2025, 1, 1), d(2024, 1, 1), 0},
		{time.Time{}, d(2024, 1, 1), 0},
	}
	for _, tt := range tests {
		if got := Age(tt.birth, tt.now); got != tt.want {
			t.Errorf("Age(%s, %s) = %d; want %d", FormatDate(tt.birth), FormatDate(tt.now), got, tt.want)
		}
	}
}
