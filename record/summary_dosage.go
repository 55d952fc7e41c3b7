package record

import "strings"

// fhirDose is a Dosage: its text, or the structured parts a plain text is
// made from when there is none.
type fhirDose struct {
	Text         string
	Frequency    int64
	Period       fhirNumber
	PeriodUnit   string
	AsNeeded     bool
	DoseQuantity *fhirQuantity
}

func readDoses(v []byte) []fhirDose {
	var out []fhirDose
	elements(v, func(e []byte) {
		var d fhirDose
		members(e, func(k string, v []byte) {
			switch k {
			case "text":
				d.Text = jstr(v)
			case "asNeededBoolean":
				d.AsNeeded = string(v) == "true"
			case "timing":
				members(v, func(k string, v []byte) {
					if k == "repeat" {
						members(v, func(k string, v []byte) {
							switch k {
							case "frequency":
								if n := jint(v); n != nil {
									d.Frequency = *n
								}
							case "period":
								d.Period = jnum(v)
							case "periodUnit":
								d.PeriodUnit = jstr(v)
							}
						})
					}
				})
			case "doseAndRate":
				elements(v, func(e []byte) {
					members(e, func(k string, v []byte) {
						if k == "doseQuantity" && d.DoseQuantity == nil {
							d.DoseQuantity = readQuantity(v)
						}
					})
				})
			}
		})
		out = append(out, d)
	})
	return out
}

// unitWords names the UCUM units of time Timing.repeat.periodUnit uses.
var unitWords = map[string]string{"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}

// dosageText returns the dosage as written, or, when the source gives only
// structured timing, a plain rendering such as "1 twice a day".
func dosageText(doses []fhirDose) string {
	var out []string
	for _, d := range doses {
		if d.Text != "" {
			out = append(out, d.Text)
			continue
		}
		var parts []string
		if q := d.DoseQuantity.quantity(); q != nil {
			parts = append(parts, q.String())
		}
		if t := timingText(d.Frequency, string(d.Period), d.PeriodUnit); t != "" {
			parts = append(parts, t)
		}
		if d.AsNeeded {
			parts = append(parts, "when needed")
		}
		if len(parts) > 0 {
			out = append(out, strings.Join(parts, " "))
		}
	}
	return strings.Join(out, "; ")
}

// timingText renders a Timing.repeat: "once a day", "every 4 hours".
func timingText(freq int64, period, unit string) string {
	word, ok := unitWords[unit]
	if !ok || freq <= 0 {
		return ""
	}
	period = formatNumber(period)
	if period == "" || period == "1" || period == "1.0" {
		switch freq {
		case 1:
			return "once a " + word
		case 2:
			return "twice a " + word
		}
		return itoa64(freq) + " times a " + word
	}
	if freq == 1 {
		return "every " + period + " " + word + "s"
	}
	return itoa64(freq) + " times every " + period + " " + word + "s"
}
