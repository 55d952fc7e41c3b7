package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// reasonList is a list of choices, one chosen at most, that works from
// the keyboard as a person expects of it: each choice takes the focus
// (Tab reaches it), Up and Down move, Space chooses, Enter chooses and
// confirms the dialog, Esc cancels it.
type reasonList struct {
	u         *UI
	choices   []string
	rows      []*reasonRow
	selected  int // -1 when none is chosen
	onChange  func()
	onConfirm func()
	onFocus   func(fyne.CanvasObject) // a row took the keyboard focus
	root      *fyne.Container
}

func newReasonList(u *UI, choices []string, onChange, onConfirm func()) *reasonList {
	l := &reasonList{u: u, choices: choices, selected: -1, onChange: onChange, onConfirm: onConfirm, root: container.NewVBox()}
	for i, c := range choices {
		r := &reasonRow{list: l, index: i, text: c, mark: line(), bg: newThemedRect(colPanel, "", 4)}
		r.ExtendBaseWidget(r)
		r.paint()
		l.rows = append(l.rows, r)
		l.root.Add(r)
	}
	return l
}

// value is the chosen text, or "".
func (l *reasonList) value() string {
	if l.selected < 0 {
		return ""
	}
	return l.choices[l.selected]
}

// choose selects row i.
func (l *reasonList) choose(i int) {
	if i < 0 || i >= len(l.rows) {
		return
	}
	l.selected = i
	for _, r := range l.rows {
		r.paint()
	}
	if l.onChange != nil {
		l.onChange()
	}
}

// focus gives the keyboard to row i.
func (l *reasonList) focus(i int) {
	if i >= 0 && i < len(l.rows) {
		l.u.win.Canvas().Focus(l.rows[i])
	}
}

// reasonRow is one choice: a radio mark and its words.
type reasonRow struct {
	widget.BaseWidget
	list    *reasonList
	index   int
	text    string
	mark    *widget.RichText
	bg      *themedRect
	focused bool
}

var (
	_ fyne.Focusable     = (*reasonRow)(nil)
	_ fyne.Tappable      = (*reasonRow)(nil)
	_ desktop.Cursorable = (*reasonRow)(nil)
)

func (r *reasonRow) paint() {
	mark := "○  "
	st := plain
	if r.list.selected == r.index {
		mark, st = "●  ", bold
	}
	setSpans(r.mark, span{mark, bold}, span{r.text, st})
	if r.focused {
		r.bg.fill, r.bg.stroke = theme.ColorNameSelection, theme.ColorNamePrimary
	} else {
		r.bg.fill, r.bg.stroke = colPanel, ""
	}
	r.bg.Refresh()
}

func (r *reasonRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewStack(r.bg, container.NewPadded(r.mark)))
}

// Tapped chooses the row.
func (r *reasonRow) Tapped(*fyne.PointEvent) {
	r.list.u.touch()
	r.list.u.win.Canvas().Focus(r)
	r.list.choose(r.index)
}

// Cursor shows a pointing hand.
func (r *reasonRow) Cursor() desktop.Cursor { return desktop.PointerCursor }

// FocusGained highlights the row and lets the list's owner bring it
// into view.
func (r *reasonRow) FocusGained() {
	r.focused = true
	r.paint()
	if r.list.onFocus != nil {
		r.list.onFocus(r)
	}
}

// FocusLost removes the highlight.
func (r *reasonRow) FocusLost() { r.focused = false; r.paint() }

// TypedRune chooses on a space.
func (r *reasonRow) TypedRune(c rune) {
	if c == ' ' {
		r.list.choose(r.index)
	}
}

// TypedKey moves, chooses, confirms or cancels.
func (r *reasonRow) TypedKey(k *fyne.KeyEvent) {
	u := r.list.u
	u.touch()
	switch k.Name {
	case fyne.KeyDown:
		r.list.focus(r.index + 1)
	case fyne.KeyUp:
		r.list.focus(r.index - 1)
	case fyne.KeySpace:
		r.list.choose(r.index)
	case fyne.KeyReturn, fyne.KeyEnter:
		r.list.choose(r.index)
		if r.list.onConfirm != nil {
			r.list.onConfirm()
		}
	case fyne.KeyEscape:
		u.escape()
	}
}
