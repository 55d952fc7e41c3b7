package record

import (
	"strings"
	"time"
	"unicode"
)

// This file says once how the first line of an address is compared: the
// dispatch incident's address against the addresses recorded for patients
// (server candidate lookup). Postcodes are compared by NormalisePostcode.

// NormaliseAddressLine is the one form address lines are compared in:
// letters folded as FoldName folds them (accents removed) and upper-cased,
// every run of punctuation and white space made one space, and the common
// abbreviations of street types and of "flat" spelled out ("ST", "RD",
// "AVE", "FLT" and the like become STREET, ROAD, AVENUE, FLAT), so
// "12, High St." and "12 high street" are the same line.
func NormaliseAddressLine(s string) string {
	var words []string
	var cur []byte
	flush := func() {
		if len(cur) > 0 {
			w := strings.ToUpper(string(cur))
			if full, ok := addressAbbrev[w]; ok {
				w = full
			}
			words = append(words, w)
			cur = cur[:0]
		}
	}
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
			cur = AppendFoldName(cur, string(r))
			continue
		}
		flush()
	}
	flush()
	return strings.Join(words, " ")
}

// addressAbbrev spells out the abbreviations of Royal Mail's street types
// (and of flat and apartment) that address lines are written with.
var addressAbbrev = map[string]string{
	"ST": "STREET", "RD": "ROAD", "AVE": "AVENUE", "AV": "AVENUE", "LN": "LANE",
	"DR": "DRIVE", "CL": "CLOSE", "CRES": "CRESCENT", "CT": "COURT", "GDNS": "GARDENS",
	"GRN": "GREEN", "GR": "GROVE", "GRO": "GROVE", "PL": "PLACE", "SQ": "SQUARE",
	"TER": "TERRACE", "TERR": "TERRACE", "PK": "PARK", "HSE": "HOUSE", "COTT": "COTTAGE",
	"FLT": "FLAT", "APT": "APARTMENT", "BLDG": "BUILDING", "WY": "WAY",
}

// addressUnitWords name a unit inside a building: its number belongs to the
// premise ("FLAT 3 12 HIGH STREET" is flat 3 of number 12).
var addressUnitWords = map[string]bool{"FLAT": true, "APARTMENT": true, "UNIT": true, "ROOM": true, "MAISONETTE": true}

// AddressPremise is what identifies a home within its postcode, taken from
// an address line (normalised by NormaliseAddressLine): the house number
// with any letter suffix ("12", "12A"), preceded by a flat or unit number
// when the line starts with one ("FLAT 3/12"); for a line without a house
// number, the house name: the words before the first comma of the line
// as written, normalised ("ROSE COTTAGE"). Empty when the line has neither.
func AddressPremise(line string) string {
	first, _, _ := strings.Cut(line, ",")
	words := strings.Fields(NormaliseAddressLine(line))
	unit := ""
	for i := 0; i < len(words); i++ {
		w := words[i]
		if addressUnitWords[w] && i+1 < len(words) && startsWithDigit(words[i+1]) {
			unit = w + " " + words[i+1] + "/"
			i++
			continue
		}
		if startsWithDigit(w) {
			// "12 A HIGH STREET": a lone letter after the number is its suffix.
			if i+1 < len(words) && len(words[i+1]) == 1 && words[i+1][0] >= 'A' && words[i+1][0] <= 'Z' && allDigits(w) {
				w += words[i+1]
			}
			return unit + w
		}
		break
	}
	if unit != "" {
		return strings.TrimSuffix(unit, "/")
	}
	return NormaliseAddressLine(first)
}

// SamePremise reports whether two address lines name the same home once
// their postcodes agree: the same house number (and flat), or, for named
// houses, the one name is the other or begins it word by word ("ROSE
// COTTAGE" and "ROSE COTTAGE MILL LANE").
func SamePremise(a, b string) bool {
	pa, pb := AddressPremise(a), AddressPremise(b)
	if pa == "" || pb == "" {
		return false
	}
	if pa == pb {
		return true
	}
	if startsWithDigit(pa) || startsWithDigit(pb) {
		return false
	}
	na, nb := NormaliseAddressLine(a), NormaliseAddressLine(b)
	return wordPrefix(pa, nb) || wordPrefix(pb, na)
}

func wordPrefix(p, s string) bool {
	return s == p || strings.HasPrefix(s, p+" ")
}

func startsWithDigit(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// HomeAddress is an address a patient lives at, in the forms addresses are
// compared in: Postcode by NormalisePostcode, Line the address lines joined
// with ", " as recorded (AddressPremise and SamePremise read it).
type HomeAddress struct {
	Postcode string `json:"postcode"`
	Line     string `json:"line"`
}

// CurrentAddresses returns the addresses of Patient resources that are
// current at asOf (no end in the past, not use "old"), with a valid
// postcode, each once, in the order recorded.
func CurrentAddresses(patients []Resource, asOf time.Time) []HomeAddress {
	var out []HomeAddress
	seen := map[HomeAddress]bool{}
	for i := range patients {
		if patients[i].Type != "Patient" {
			continue
		}
		p := readPatient(patients[i].Raw)
		for _, a := range p.Address {
			if a.Use == "old" || !a.Period.period().current(asOf) {
				continue
			}
			if _, _, ok := SplitPostcode(a.PostalCode); !ok {
				continue
			}
			h := HomeAddress{Postcode: NormalisePostcode(a.PostalCode), Line: strings.Join(a.Line, ", ")}
			if h.Line == "" && a.Text != "" {
				h.Line = a.Text
			}
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}
