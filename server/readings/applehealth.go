package readings

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Apple Health's export (export.xml in the zip the Health app makes) holds
// <Record type="HKQuantityTypeIdentifier..." unit=... value=... startDate=...>
// elements, and blood pressure as a <Correlation> of a systolic and a
// diastolic Record.
const (
	appleTimeLayout = "2006-01-02 15:04:05 -0700"
	// AppleIdentifierSystem names the identifiers made for Apple Health
	// records, so re-uploading an export stores nothing twice.
	AppleIdentifierSystem = "urn:kmcr:apple-health-export"
	hkBloodPressure       = "HKCorrelationTypeIdentifierBloodPressure"
	hkSystolic            = "HKQuantityTypeIdentifierBloodPressureSystolic"
	hkDiastolic           = "HKQuantityTypeIdentifierBloodPressureDiastolic"
)

// appleKinds maps Apple Health quantity types to the record's kinds.
var appleKinds = map[string]string{
	"HKQuantityTypeIdentifierHeartRate":        "heart-rate",
	"HKQuantityTypeIdentifierBodyMass":         "weight",
	"HKQuantityTypeIdentifierOxygenSaturation": "oxygen",
	"HKQuantityTypeIdentifierStepCount":        "steps",
	"HKQuantityTypeIdentifierBloodGlucose":     "glucose",
}

// ErrTooMany is returned by ParseAppleHealth for an export with more
// readings than the limit: nothing is taken rather than some.
var ErrTooMany = errors.New("too many readings in one upload")

type appleRecord struct {
	Type      string `xml:"type,attr"`
	Unit      string `xml:"unit,attr"`
	Value     string `xml:"value,attr"`
	StartDate string `xml:"startDate,attr"`
}

type appleCorrelation struct {
	Type      string        `xml:"type,attr"`
	StartDate string        `xml:"startDate,attr"`
	Records   []appleRecord `xml:"Record"`
}

// convert gives a record's value in the kind's unit.
func convert(kind, unit string, v float64) (float64, error) {
	switch kind {
	case "heart-rate":
		if unit == "count/min" {
			return v, nil
		}
	case "weight":
		switch unit {
		case "kg":
			return v, nil
		case "lb":
			return v * 0.45359237, nil
		case "g":
			return v / 1000, nil
		}
	case "oxygen":
		if unit == "%" {
			return v * 100, nil // Apple stores a fraction (0.97) with unit "%"
		}
	case "steps":
		if unit == "count" {
			return v, nil
		}
	case "glucose":
		switch unit {
		case "mg/dL":
			return v / 18.016, nil
		case "mmol<180.1558800000541>/L":
			return v, nil
		}
	}
	return 0, fmt.Errorf("unit %q is not known for %s", unit, kind)
}

func appleIdentifier(parts ...string) []Identifier {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return []Identifier{{System: AppleIdentifierSystem, Value: hex.EncodeToString(h[:16])}}
}

// ParseAppleHealth reads an Apple Health export.xml into readings about
// patientRef, at most max of them. Records of types the record does not
// take are skipped and counted in skipped; a record of a known type that
// cannot be read is an error naming it.
func ParseAppleHealth(r io.Reader, patientRef string, max int) (out []*Observation, skipped int, err error) {
	dec := xml.NewDecoder(r)
	dec.Strict = true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("export.xml: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "Record":
			var rec appleRecord
			if err := dec.DecodeElement(&rec, &se); err != nil {
				return nil, 0, fmt.Errorf("export.xml: %w", err)
			}
			kind, ok := appleKinds[rec.Type]
			if !ok {
				skipped++
				continue
			}
			o, err := appleReading(kind, rec, patientRef)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, o)
		case "Correlation":
			var c appleCorrelation
			if err := dec.DecodeElement(&c, &se); err != nil {
				return nil, 0, fmt.Errorf("export.xml: %w", err)
			}
			if c.Type != hkBloodPressure {
				skipped++
				continue
			}
			o, err := appleBloodPressure(c, patientRef)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, o)
		}
		if len(out) > max {
			return nil, 0, fmt.Errorf("%w: more than %d; export a shorter period", ErrTooMany, max)
		}
	}
	return out, skipped, nil
}

func appleTime(s string) (time.Time, error) {
	t, err := time.Parse(appleTimeLayout, s)
	if err != nil {
		return t, fmt.Errorf("export.xml: date %q is not like 2026-12-03 14:02:00 +0000", s)
	}
	return t, nil
}

func appleReading(kind string, rec appleRecord, ref string) (*Observation, error) {
	k, _ := KindByKey(kind)
	v, err := strconv.ParseFloat(rec.Value, 64)
	if err != nil {
		return nil, fmt.Errorf("export.xml: %s value %q is not a number", rec.Type, rec.Value)
	}
	v, err = convert(kind, rec.Unit, v)
	if err != nil {
		return nil, fmt.Errorf("export.xml: %s: %v", rec.Type, err)
	}
	at, err := appleTime(rec.StartDate)
	if err != nil {
		return nil, err
	}
	o := New(k, v, at, ref)
	o.Identifier = appleIdentifier(rec.Type, rec.StartDate, rec.Value, rec.Unit)
	o.Device = &reference{Display: "Apple Health"}
	return o, nil
}

func appleBloodPressure(c appleCorrelation, ref string) (*Observation, error) {
	var sys, dia *float64
	for _, r := range c.Records {
		v, err := strconv.ParseFloat(r.Value, 64)
		if err != nil || r.Unit != "mmHg" {
			return nil, fmt.Errorf("export.xml: blood pressure %s: value %q %q is not mmHg", r.Type, r.Value, r.Unit)
		}
		switch r.Type {
		case hkSystolic:
			sys = &v
		case hkDiastolic:
			dia = &v
		}
	}
	if sys == nil || dia == nil {
		return nil, fmt.Errorf("export.xml: a blood pressure at %s lacks its systolic or diastolic value", c.StartDate)
	}
	at, err := appleTime(c.StartDate)
	if err != nil {
		return nil, err
	}
	o := NewBloodPressure(*sys, *dia, at, ref)
	o.Identifier = appleIdentifier(c.Type, c.StartDate, fmt.Sprint(*sys), fmt.Sprint(*dia))
	o.Device = &reference{Display: "Apple Health"}
	return o, nil
}
