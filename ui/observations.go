package ui

import "fyne.io/fyne/v2"

// The observations card itself is built like every other section (card,
// in sections.go) from what package present decided: kinds of reading,
// clinician's and patient's apart, their trends and every reading.

// toneColour is the colour of a trend line: a clinician's readings, the
// patient's own, or a second line (diastolic pressure).
func toneColour(tone string) fyne.ThemeColorName {
	switch tone {
	case "patient":
		return colChartAlt
	case "secondary":
		return colMuted
	}
	return colChartLine
}
