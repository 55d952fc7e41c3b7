package demo

import "time"

// Dates are handled as whole days since 1970-01-01 (UTC) plus, where a time
// is shown, seconds into that day. Converting with civil-calendar arithmetic
// keeps the hot path free of time.Time formatting and of any time zone: the
// output never depends on the machine it was made on.

// dayOf returns the day number of t's UTC date.
func dayOf(t time.Time) int {
	y, m, d := t.UTC().Date()
	return daysFromCivil(y, int(m), d)
}

// daysFromCivil and civilFromDays are Howard Hinnant's algorithms for the
// proleptic Gregorian calendar.
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func civilFromDays(z int) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func yearOf(day int) int {
	y, _, _ := civilFromDays(day)
	return y
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func appendDate(b []byte, day int) []byte {
	y, m, d := civilFromDays(day)
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append2(b, m)
	b = append(b, '-')
	return append2(b, d)
}

// appendDateTime writes an instant as UTC with a Z suffix.
func appendDateTime(b []byte, day, sec int) []byte {
	b = appendDate(b, day)
	b = append(b, 'T')
	b = append2(b, sec/3600)
	b = append(b, ':')
	b = append2(b, sec/60%60)
	b = append(b, ':')
	b = append2(b, sec%60)
	return append(b, 'Z')
}

func (e *enc) date(k string, day int) {
	e.key(k)
	e.buf = append(e.buf, '"')
	e.buf = appendDate(e.buf, day)
	e.buf = append(e.buf, '"')
	e.comma = true
}

func (e *enc) dateTime(k string, day, sec int) {
	e.key(k)
	e.buf = append(e.buf, '"')
	e.buf = appendDateTime(e.buf, day, sec)
	e.buf = append(e.buf, '"')
	e.comma = true
}
