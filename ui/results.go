package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/record"
)

// patientRow is one patient in a list: name, date of birth with age,
// gender, NHS number and postcode, and a red EMERGENCY ACCESS or INCIDENT
// mark when the device holds the record for that reason, large enough to tap with a glove. It takes the
// keyboard focus: Enter or Space opens it, Up and Down move along the list.
type patientRow struct {
	widget.BaseWidget
	u       *UI
	list    *resultList
	index   int
	entry   core.PatientEntry
	bg      *themedRect
	content fyne.CanvasObject
	focused bool
	hovered bool
}

var (
	_ fyne.Focusable    = (*patientRow)(nil)
	_ fyne.Tappable     = (*patientRow)(nil)
	_ desktop.Hoverable = (*patientRow)(nil)
)

// entryName is the patient's name the NHS way, "SMITH, Jane (Mrs)".
func entryName(e core.PatientEntry) string {
	if e.Display != "" {
		return e.Display
	}
	if n := record.FormatName(e.Family, []string{e.Given}, nil); n != "" {
		return n
	}
	return "(no name recorded)"
}

// similarWarning is on both rows of two patients who look alike.
const similarWarning = "Similar record on this device: another patient has a close name, date of birth and postcode. Check the NHS number."

func newPatientRow(u *UI, l *resultList, i int, e core.PatientEntry) *patientRow {
	r := &patientRow{u: u, list: l, index: i, entry: e, bg: newThemedRect(colPanel, colPanelBorder, 4)}
	postcode := e.Postcode
	if postcode == "" {
		postcode = "no postcode"
	}
	b := e.Banner(u.opts.now()) // the age stops at death
	born := b.Born
	if e.BirthDate == "" {
		born = "date of birth not recorded"
	}
	details := []span{{"Born ", muted}, {born, bold}, {"    Gender ", muted}, {b.Gender, bold},
		{"    NHS No. ", muted}, {e.NHS.String(), bold}, {"    " + postcode, plain}}
	if b.Deceased != "" {
		details = append(details, span{"    " + b.Deceased, danger})
	}
	name := []span{{entryName(e), style{size: theme.SizeNameSubHeadingText, bold: true}}}
	rows := []fyne.CanvasObject{line(name...)}
	if e.HeldMark != "" {
		// Held by emergency access or an incident, not the caseload: said
		// on the row, before it is opened.
		rows = append(rows, block(colDanger, txt(e.HeldMark, style{col: colOnDanger, bold: true})))
	}
	rows = append(rows, line(details...))
	if e.SimilarOnDevice {
		rows = append(rows, block(colCaution, txt(similarWarning, style{col: colOnCaution, bold: true})))
	}
	r.content = container.NewPadded(container.NewVBox(rows...))
	r.ExtendBaseWidget(r)
	return r
}

func (r *patientRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(compact(container.NewStack(r.bg, r.content)))
}

func (r *patientRow) paint() {
	switch {
	case r.focused:
		r.bg.fill, r.bg.stroke = theme.ColorNameSelection, theme.ColorNamePrimary
	case r.hovered:
		r.bg.fill, r.bg.stroke = theme.ColorNameHover, colPanelBorder
	default:
		r.bg.fill, r.bg.stroke = colPanel, colPanelBorder
	}
	r.bg.Refresh()
}

// Tapped opens the patient.
func (r *patientRow) Tapped(*fyne.PointEvent) {
	r.u.touch()
	r.u.win.Canvas().Focus(r)
	r.list.open(r.entry)
}

// FocusGained highlights the row and scrolls it into view.
func (r *patientRow) FocusGained() {
	r.focused = true
	r.paint()
	r.list.reveal(r)
}

// FocusLost removes the highlight.
func (r *patientRow) FocusLost() {
	r.focused = false
	r.paint()
}

// TypedRune ignores text.
func (r *patientRow) TypedRune(rune) {}

// TypedKey opens on Enter or Space and moves with the arrows.
func (r *patientRow) TypedKey(k *fyne.KeyEvent) {
	r.u.touch()
	switch k.Name {
	case fyne.KeyReturn, fyne.KeyEnter, fyne.KeySpace:
		r.list.open(r.entry)
	case fyne.KeyDown:
		r.list.focus(r.index + 1)
	case fyne.KeyUp:
		if r.index == 0 && r.list.onTop != nil {
			r.list.onTop()
			return
		}
		r.list.focus(r.index - 1)
	case fyne.KeyEscape:
		if r.list.onTop != nil {
			r.list.onTop()
		}
	}
}

// MouseIn highlights the row under the pointer.
func (r *patientRow) MouseIn(*desktop.MouseEvent) {
	r.u.touch()
	r.hovered = true
	r.paint()
}

// MouseMoved records activity.
func (r *patientRow) MouseMoved(*desktop.MouseEvent) {}

// MouseOut removes the hover highlight.
func (r *patientRow) MouseOut() {
	r.hovered = false
	r.paint()
}

// Cursor shows a pointing hand.
func (r *patientRow) Cursor() desktop.Cursor { return desktop.PointerCursor }

// resultList is a scrolling list of patient rows with a heading line.
type resultList struct {
	u      *UI
	note   *widget.RichText
	extra  *fyne.Container // actions under the note (show all, break-glass)
	box    *fyne.Container
	scroll *container.Scroll
	rows   []*patientRow
	onOpen func(core.PatientEntry)
	onTop  func() // Up from the first row, or Escape
	root   fyne.CanvasObject
}

func newResultList(u *UI, empty string, onOpen func(core.PatientEntry)) *resultList {
	l := &resultList{u: u, note: line(span{empty, muted}), extra: container.NewVBox(), box: container.NewVBox(), onOpen: onOpen}
	l.scroll = container.NewVScroll(l.box)
	l.scroll.OnScrolled = func(fyne.Position) { u.touch() }
	l.root = container.NewBorder(container.NewVBox(l.note, l.extra), nil, nil, nil, l.scroll)
	return l
}

// set shows entries under a note.
func (l *resultList) set(entries []core.PatientEntry, note ...span) {
	l.rows = l.rows[:0]
	objs := make([]fyne.CanvasObject, 0, len(entries))
	for i, e := range entries {
		r := newPatientRow(l.u, l, i, e)
		l.rows = append(l.rows, r)
		objs = append(objs, r)
	}
	l.box.Objects = objs
	l.box.Refresh()
	l.scroll.ScrollToTop()
	setSpans(l.note, note...)
	l.extra.RemoveAll()
}

// clear forgets every row (on lock).
func (l *resultList) clear() {
	l.rows = nil
	l.box.Objects = nil
	l.box.Refresh()
	l.extra.RemoveAll()
	setSpans(l.note)
}

func (l *resultList) open(e core.PatientEntry) {
	if l.onOpen != nil {
		l.onOpen(e)
	}
}

// focus gives the keyboard focus to row i, if it exists.
func (l *resultList) focus(i int) bool {
	if i < 0 || i >= len(l.rows) {
		return false
	}
	l.u.win.Canvas().Focus(l.rows[i])
	return true
}

// reveal scrolls so that r is visible.
func (l *resultList) reveal(r *patientRow) {
	top := r.Position().Y
	bottom := top + r.Size().Height
	view := l.scroll.Size().Height
	off := l.scroll.Offset.Y
	switch {
	case top < off:
		l.scroll.Offset.Y = top
	case bottom > off+view:
		l.scroll.Offset.Y = bottom - view
	default:
		return
	}
	l.scroll.Refresh()
}
