package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"

	"kmcr/present"
)

// badge is a filled block with short bold text: the red HIGH RISK before
// an allergy that may kill.
func badge(text string) fyne.CanvasObject {
	return block(colDanger, nowrap(txt(text, style{col: colOnDanger, bold: true})))
}

// criticalLine is the strip under the banner that never scrolls away: the
// presentation's critical facts (resuscitation status, allergies with the
// worst first, safeguarding), one row a fact, the label on the left and
// the words wrapping on the right so that no text size widens the window.
// What it says, and how loud, is present.View.Critical's. Under the facts
// comes asOf, the summary's "as of" line. A demographics-only view has no
// facts, and the strip holds the "as of" line alone.
func criticalLine(facts []present.Fact, asOf fyne.CanvasObject) fyne.CanvasObject {
	rows := make([]fyne.CanvasObject, 0, len(facts)+1)
	for _, f := range facts {
		label := nowrap(txt(f.Label, style{col: levelColour(f.Level), bold: true}))
		var content fyne.CanvasObject = txt(f.Text, style{col: levelColour(f.Level), bold: true})
		if len(f.Parts) > 0 {
			// One wrapping paragraph, the worst first; the allergies that
			// may kill come first and get the filled badge before them.
			var spans []span
			alarming := false
			for i, p := range f.Parts {
				text := p.Text
				if i > 0 {
					text = ";  " + text
				}
				spans = append(spans, span{text, style{col: levelColour(p.Level), bold: true}})
				alarming = alarming || p.Alarm
			}
			content = line(spans...)
			if alarming {
				content = container.NewBorder(nil, nil, badge(present.AlarmBadge), nil, content)
			}
		}
		rows = append(rows, container.New(labelColumn{}, label, content))
	}
	if asOf != nil {
		rows = append(rows, asOf) // how current all of it is, under the facts
	}
	return compact(container.NewStack(newThemedRect(colPanel, colPanelBorder, 0), container.NewPadded(container.NewVBox(rows...))))
}

// labelColumn lays out a label at a fixed share of the width on the left
// and the content in the rest, so labels line up and the content wraps.
type labelColumn struct{}

// labelShare is the label column's width in body-text ems.
const labelShare = 9

func (labelColumn) labelWidth(objs []fyne.CanvasObject) float32 {
	return max(objs[0].MinSize().Width, labelShare*theme.Size(theme.SizeNameText)*0.6)
}

func (l labelColumn) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	lw := min(l.labelWidth(objs), size.Width/3)
	objs[0].Move(fyne.NewPos(0, 0))
	objs[0].Resize(fyne.NewSize(lw, objs[0].MinSize().Height))
	h := objs[1].MinSize().Height
	objs[1].Move(fyne.NewPos(lw, 0))
	objs[1].Resize(fyne.NewSize(size.Width-lw, max(h, size.Height)))
}

func (l labelColumn) MinSize(objs []fyne.CanvasObject) fyne.Size {
	a, b := objs[0].MinSize(), objs[1].MinSize()
	return fyne.NewSize(a.Width+b.Width, max(a.Height, b.Height))
}
