package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/present"
)

// card builds the section with the given key: its header, its lines, then
// each group of items, a long one with "and N more ...: show all". A
// section with nothing to show (no past alerts) builds nothing.
func (sv *summaryView) card(key string) fyne.CanvasObject {
	s := sv.pv.Section(key)
	if s == nil || (key == present.KeyPastAlerts && len(s.Groups) == 0) {
		return container.NewVBox()
	}
	objs := []fyne.CanvasObject{sv.header(s)}
	for _, l := range s.Lines {
		objs = append(objs, lineObj(l))
	}
	for _, g := range s.Groups {
		if len(g.Title.Spans) > 0 {
			objs = append(objs, lineObj(g.Title))
		}
		items := make([]fyne.CanvasObject, len(g.Items))
		for i := range g.Items {
			items[i] = sv.item(&g.Items[i])
		}
		objs = append(objs, sv.capped(items, g.Show, g.Noun))
	}
	return newSectionCard(s.Name, objs...)
}

// item draws one entry: its head line, the lines under it, its trend, and
// a button for what is kept behind one (a document's text, every reading).
func (sv *summaryView) item(it *present.Item) fyne.CanvasObject {
	rows := []fyne.CanvasObject{lineObj(it.Head)}
	for _, b := range it.Body {
		rows = append(rows, lineObj(b))
	}
	if it.Trend != nil {
		rows = append(rows, newTrendChart(it.Trend), txt(it.Trend.Note, caption))
	}
	if len(rows) == 1 && len(it.More) == 0 {
		return rows[0]
	}
	box := container.NewVBox(rows...)
	if len(it.More) > 0 {
		more := make([]fyne.CanvasObject, len(it.More))
		for i, l := range it.More {
			more[i] = lineObj(l)
		}
		shown := len(box.Objects)
		box.Add(sv.u.button(it.MoreName, theme.DocumentIcon(), widget.LowImportance, func() {
			// One refresh for the lot: adding them one by one lays the
			// box out again each time.
			box.Objects = append(box.Objects[:shown:shown], more...)
			box.Refresh()
		}))
	}
	return box
}

// capped shows the first n objects and a button that shows the rest, so a
// long list is never cut off without saying so.
func (sv *summaryView) capped(objs []fyne.CanvasObject, n int, noun string) fyne.CanvasObject {
	box := container.NewVBox()
	if n <= 0 || len(objs) <= n {
		box.Objects = objs
		return box
	}
	box.Objects = append(box.Objects, objs[:n:n]...)
	box.Add(sv.u.button(fmt.Sprintf("and %d more %s: show all", len(objs)-n, noun), theme.MoreVerticalIcon(), widget.LowImportance, func() {
		box.Objects = objs // one refresh for the lot, not one per item
		box.Refresh()
	}))
	return box
}
