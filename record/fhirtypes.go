package record

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// The types in this file hold just the FHIR elements the summary shows;
// fhirdecode.go reads them. Every other element is skipped, so unknown
// fields, extensions and codes never cause an error.

// Code systems the summary recognises codes from.
const (
	systemSNOMED = "http://snomed.info/sct"
	systemLOINC  = "http://loinc.org"
	// systemIPSAbsent is the International Patient Summary's code system for
	// "none known" and "no information" statements.
	systemIPSAbsent = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"
	// systemODS is the identifier system of NHS organisation (ODS) codes.
	systemODS = "https://fhir.nhs.uk/Id/ods-organization-code"
)

type fhirCC struct {
	Coding []Coding
	Text   string
}

// display returns the text of a concept: its text, else the first coding's
// display, else the first code with its system, so an unknown code is
// still shown rather than dropped.
func (c *fhirCC) display() string {
	if c == nil {
		return ""
	}
	if c.Text != "" {
		return c.Text
	}
	for _, cd := range c.Coding {
		if cd.Display != "" {
			return cd.Display
		}
	}
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.Code
		}
	}
	return ""
}

// code returns the first coding, preferring SNOMED CT.
func (c *fhirCC) code() Coding {
	if c == nil || len(c.Coding) == 0 {
		return Coding{}
	}
	for _, cd := range c.Coding {
		if cd.System == systemSNOMED {
			return cd
		}
	}
	return c.Coding[0]
}

// codeOnly returns the first code, for status-like concepts.
func (c *fhirCC) codeOnly() string {
	if c == nil {
		return ""
	}
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.Code
		}
	}
	return c.Text
}

// hasCode reports whether any coding is one of codes in system.
func (c *fhirCC) hasCode(system string, codes ...string) bool {
	if c == nil {
		return false
	}
	for _, cd := range c.Coding {
		if cd.System != system {
			continue
		}
		for _, code := range codes {
			if cd.Code == code {
				return true
			}
		}
	}
	return false
}

func displays(ccs []fhirCC) []string {
	var out []string
	for i := range ccs {
		if d := ccs[i].display(); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// fhirNumber is a FHIR decimal kept as written, so no precision is lost.
type fhirNumber string

type fhirRef struct {
	Reference  string
	Type       string
	Display    string
	Identifier *fhirIdentifier
}

type fhirIdentifier struct {
	System string
	Value  string
	Use    string
}

type fhirPeriod struct {
	Start string
	End   string
}

// Period is a FHIR Period: either end may be unknown.
type Period struct {
	Start Date `json:"start,omitzero"`
	End   Date `json:"end,omitzero"`
}

func (p *fhirPeriod) period() Period {
	if p == nil {
		return Period{}
	}
	return Period{ParseDate(p.Start), ParseDate(p.End)}
}

// start returns the period's start as written, or "".
func (p *fhirPeriod) start() string {
	if p == nil {
		return ""
	}
	return p.Start
}

// current reports whether the period has not ended by t.
func (p Period) current(t time.Time) bool {
	return p.End.IsZero() || !p.End.Time.Before(t)
}

type fhirQuantity struct {
	Value      fhirNumber
	Comparator string
	Unit       string
	Code       string
}

// Quantity is a measured amount. Value is the number; Text is the number as
// the source wrote it, so no precision is lost or invented.
type Quantity struct {
	Value      float64 `json:"value"`
	Text       string  `json:"text"`
	Comparator string  `json:"comparator,omitempty"` // "<", "<=", ">=", ">" or ""
	Unit       string  `json:"unit,omitempty"`
}

// String returns the amount for display: comparator, number (rounded to two
// decimal places if the source gave more than three) and unit.
func (q Quantity) String() string {
	s := q.Comparator + formatNumber(q.Text)
	if q.Unit != "" {
		s += " " + q.Unit
	}
	return s
}

func (q *fhirQuantity) quantity() *Quantity {
	if q == nil || q.Value == "" {
		return nil
	}
	v, err := strconv.ParseFloat(string(q.Value), 64)
	if err != nil || math.IsInf(v, 0) {
		return nil
	}
	unit := q.Unit
	if unit == "" {
		unit = q.Code
	}
	return &Quantity{Value: v, Text: string(q.Value), Comparator: q.Comparator, Unit: unit}
}

// formatNumber shortens over-precise decimals (Synthea writes 37.202138923485606
// for a temperature) to two places; anything written with three or fewer
// decimals is shown as written.
func formatNumber(s string) string {
	dot := strings.IndexByte(s, '.')
	if dot < 0 || len(s)-dot-1 <= 3 || strings.ContainsAny(s, "eE") {
		return s
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	out := strconv.FormatFloat(v, 'f', 2, 64)
	out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	if out == "-0" {
		out = "0"
	}
	return out
}

type fhirHumanName struct {
	Use    string
	Text   string
	Family string
	Given  []string
	Prefix []string
	Suffix []string
	Period *fhirPeriod
}

type fhirAddress struct {
	Use        string
	Type       string
	Text       string
	Line       []string
	City       string
	District   string
	PostalCode string
	Country    string
	Period     *fhirPeriod
}

type fhirContactPoint struct {
	System string
	Value  string
	Use    string
	Period *fhirPeriod
}

type fhirMeta struct {
	Tag []Coding
}

type fhirExtension struct {
	URL          string
	ValueBoolean *bool
}
