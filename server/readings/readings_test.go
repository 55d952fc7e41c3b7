package readings

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)

const me = "Patient/p0123456789abcdef"

func hr(mut func(m map[string]any)) []byte {
	m := map[string]any{
		"resourceType": "Observation", "status": "final",
		"code":              map[string]any{"coding": []any{map[string]any{"system": SystemLOINC, "code": "8867-4"}}},
		"subject":           map[string]any{"reference": me},
		"performer":         []any{map[string]any{"reference": me}},
		"effectiveDateTime": "2026-12-03T13:00:00Z",
		"valueQuantity":     map[string]any{"value": 72, "unit": "beats/min", "system": SystemUCUM, "code": "/min"},
	}
	if mut != nil {
		mut(m)
	}
	b, _ := json.Marshal(m)
	return b
}

// TestCheck_NamesTheField checks every refused reading names its field,
// and readings about or by someone else are forbidden rather than invalid.
func TestCheck_NamesTheField(t *testing.T) {
	cases := []struct {
		name      string
		mut       func(m map[string]any)
		field     string
		forbidden bool
	}{
		{"other subject", func(m map[string]any) { m["subject"] = map[string]any{"reference": "Patient/someone-else"} }, "Observation.subject", true},
		{"no subject", func(m map[string]any) { delete(m, "subject") }, "Observation.subject", false},
		{"other performer", func(m map[string]any) {
			m["performer"] = []any{map[string]any{"reference": "Practitioner/x"}}
		}, "Observation.performer[0]", true},
		{"no performer", func(m map[string]any) { delete(m, "performer") }, "Observation.performer", false},
		{"wrong type", func(m map[string]any) { m["resourceType"] = "Condition" }, "Observation.resourceType", false},
		{"bad status", func(m map[string]any) { m["status"] = "cancelled" }, "Observation.status", false},
		{"no LOINC", func(m map[string]any) {
			m["code"] = map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "364075005"}}}
		}, "Observation.code", false},
		{"unknown LOINC", func(m map[string]any) {
			m["code"] = map[string]any{"coding": []any{map[string]any{"system": SystemLOINC, "code": "2093-3"}}}
		}, "Observation.code", false},
		{"not UCUM", func(m map[string]any) { m["valueQuantity"].(map[string]any)["system"] = "http://example.org" }, "Observation.valueQuantity.system", false},
		{"wrong unit", func(m map[string]any) { m["valueQuantity"].(map[string]any)["code"] = "/s" }, "Observation.valueQuantity.code", false},
		{"too high", func(m map[string]any) { m["valueQuantity"].(map[string]any)["value"] = 2000 }, "Observation.valueQuantity.value", false},
		{"too low", func(m map[string]any) { m["valueQuantity"].(map[string]any)["value"] = 3 }, "Observation.valueQuantity.value", false},
		{"no value", func(m map[string]any) { delete(m["valueQuantity"].(map[string]any), "value") }, "Observation.valueQuantity.value", false},
		{"no time", func(m map[string]any) { delete(m, "effectiveDateTime") }, "Observation.effectiveDateTime", false},
		{"future", func(m map[string]any) { m["effectiveDateTime"] = "2026-12-04T13:00:00Z" }, "Observation.effectiveDateTime", false},
		{"no zone", func(m map[string]any) { m["effectiveDateTime"] = "2026-12-03T13:00:00" }, "Observation.effectiveDateTime", false},
		{"unknown element", func(m map[string]any) { m["interpretation"] = []any{} }, "Observation.interpretation", false},
		{"empty identifier", func(m map[string]any) { m["identifier"] = []any{map[string]any{"value": "x"}} }, "Observation.identifier[0]", false},
		{"bp in valueQuantity", func(m map[string]any) {
			m["code"] = map[string]any{"coding": []any{map[string]any{"system": SystemLOINC, "code": BloodPressureLOINC}}}
		}, "Observation.valueQuantity", false},
	}
	for _, c := range cases {
		o, err := Parse(hr(c.mut))
		if err == nil {
			err = Check(o, me, now)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v; want a *FieldError", c.name, err)
			continue
		}
		if fe.Field != c.field || fe.Forbidden != c.forbidden || fe.Reason == "" {
			t.Errorf("%s: field %q forbidden %v (%s); want %q %v", c.name, fe.Field, fe.Forbidden, fe.Reason, c.field, c.forbidden)
		}
	}
	o, err := Parse(hr(nil))
	if err != nil || Check(o, me, now) != nil {
		t.Fatalf("a good heart rate is refused: %v %v", err, Check(o, me, now))
	}
}

// TestCheck_EveryKindAndBloodPressure checks a reading of every kind at
// the ends of its range is accepted and just past them refused.
func TestCheck_EveryKindAndBloodPressure(t *testing.T) {
	at := now.Add(-time.Hour)
	for _, k := range Kinds {
		if k.Component {
			continue
		}
		for v, ok := range map[float64]bool{k.Min: true, k.Max: true, k.Max * 1.5: false, k.Min - 1: false} {
			err := Check(New(k, v, at, me), me, now)
			if (err == nil) != ok {
				t.Errorf("%s %g: %v", k.Name, v, err)
			}
		}
	}
	if err := Check(NewBloodPressure(120, 80, at, me), me, now); err != nil {
		t.Fatalf("blood pressure 120/80: %v", err)
	}
	err := Check(NewBloodPressure(120, 800, at, me), me, now)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "Observation.component[1].valueQuantity.value" {
		t.Fatalf("diastolic 800: %v", err)
	}
}

// TestStored_SameReadingSameKey checks a reading with an identifier maps
// to one key whatever else changes, one without maps by content, and the
// stored form is the patient's, tagged patient-entered.
func TestStored_SameReadingSameKey(t *testing.T) {
	o, _ := Parse(hr(func(m map[string]any) { m["identifier"] = []any{map[string]any{"system": "urn:app", "value": "r1"}} }))
	k1, raw, err := Stored(o, "Patient/src-1")
	if err != nil {
		t.Fatal(err)
	}
	o2, _ := Parse(hr(func(m map[string]any) {
		m["identifier"] = []any{map[string]any{"system": "urn:app", "value": "r1"}}
		m["valueQuantity"].(map[string]any)["value"] = 73
	}))
	k2, _, _ := Stored(o2, "Patient/src-1")
	if k1 != k2 {
		t.Fatal("the same identifier gave two keys")
	}
	if !strings.Contains(string(raw), `"reference":"Patient/src-1"`) || strings.Contains(string(raw), me) || !strings.Contains(string(raw), PatientEnteredTag) {
		t.Fatalf("stored form: %s", raw)
	}
	a, _ := Parse(hr(nil))
	b, _ := Parse(hr(nil))
	c, _ := Parse(hr(func(m map[string]any) { m["valueQuantity"].(map[string]any)["value"] = 90 }))
	ka, _, _ := Stored(a, "Patient/src-1")
	kb, _, _ := Stored(b, "Patient/src-1")
	kc, _, _ := Stored(c, "Patient/src-1")
	if ka != kb || ka == kc {
		t.Fatalf("content keys: %s %s %s", ka, kb, kc)
	}
}
