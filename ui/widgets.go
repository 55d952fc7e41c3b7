package ui

import (
	"image/color"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/present"
)

// style is how a piece of text is drawn.
type style struct {
	col  fyne.ThemeColorName // "" is the foreground
	size fyne.ThemeSizeName  // "" is body text
	bold bool
}

var (
	plain    = style{}
	bold     = style{bold: true}
	muted    = style{col: colMuted}
	heading  = style{size: theme.SizeNameSubHeadingText, bold: true}
	caption  = style{col: colMuted, size: theme.SizeNameCaptionText}
	danger   = style{col: theme.ColorNameError, bold: true}
	warnText = style{col: theme.ColorNameWarning, bold: true}
	okText   = style{col: theme.ColorNameSuccess, bold: true}
)

// span is one run of text in a line.
type span struct {
	text string
	st   style
}

// line makes a wrapping paragraph of one or more spans. RichText resolves
// colours and sizes from the theme when drawn, so text follows the theme
// variant and the text scale.
func line(spans ...span) *widget.RichText {
	segs := make([]widget.RichTextSegment, 0, len(spans))
	for i, s := range spans {
		segs = append(segs, &widget.TextSegment{Text: s.text, Style: widget.RichTextStyle{
			ColorName: s.st.col, SizeName: s.st.size, Inline: i < len(spans)-1,
			TextStyle: fyne.TextStyle{Bold: s.st.bold},
		}})
	}
	rt := widget.NewRichText(segs...)
	rt.Wrapping = fyne.TextWrapWord
	return rt
}

// nowrap turns wrapping off, for text in a row or centred, where a
// wrapping paragraph would be squeezed to one letter a line.
func nowrap(rt *widget.RichText) *widget.RichText {
	rt.Wrapping = fyne.TextWrapOff
	return rt
}

// txt is a one-span paragraph.
func txt(s string, st style) *widget.RichText { return line(span{s, st}) }

// themedRect is a rectangle whose colours come from the theme at each
// refresh, so it follows a change of variant.
type themedRect struct {
	widget.BaseWidget
	fill, stroke fyne.ThemeColorName
	radius       float32
}

func newThemedRect(fill, stroke fyne.ThemeColorName, radius float32) *themedRect {
	r := &themedRect{fill: fill, stroke: stroke, radius: radius}
	r.ExtendBaseWidget(r)
	return r
}

func (r *themedRect) CreateRenderer() fyne.WidgetRenderer {
	rect := canvas.NewRectangle(color.Transparent)
	rr := &rectRenderer{r: r, rect: rect}
	rr.Refresh()
	return rr
}

type rectRenderer struct {
	r    *themedRect
	rect *canvas.Rectangle
}

func (rr *rectRenderer) Layout(s fyne.Size)           { rr.rect.Resize(s) }
func (rr *rectRenderer) MinSize() fyne.Size           { return fyne.NewSize(0, 0) }
func (rr *rectRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{rr.rect} }
func (rr *rectRenderer) Destroy()                     {}
func (rr *rectRenderer) colour(n fyne.ThemeColorName) color.Color {
	if n == "" {
		return color.Transparent
	}
	return theme.ColorForWidget(n, rr.r)
}
func (rr *rectRenderer) Refresh() {
	rr.rect.FillColor = rr.colour(rr.r.fill)
	rr.rect.StrokeColor = rr.colour(rr.r.stroke)
	if rr.r.stroke != "" {
		rr.rect.StrokeWidth = 2
	}
	rr.rect.CornerRadius = rr.r.radius
	rr.rect.Refresh()
}

// block puts content on a coloured background with padding.
func block(fill fyne.ThemeColorName, content ...fyne.CanvasObject) *fyne.Container {
	return container.NewStack(newThemedRect(fill, "", 4), container.NewPadded(container.NewVBox(content...)))
}

// card is a section: an outlined panel with a title row and content.
func card(content ...fyne.CanvasObject) *fyne.Container {
	return container.NewStack(newThemedRect(colPanel, colPanelBorder, 6), container.NewPadded(container.NewVBox(content...)))
}

// entry is a text entry that reports activity and lets the window's
// shortcuts (Ctrl+L above all) work while it has the keyboard focus.
type entry struct {
	widget.Entry
	u       *UI
	onKey   func(*fyne.KeyEvent) bool // handles a key before the entry does
	onFocus func()                    // called when the entry takes the keyboard focus
}

// FocusGained lets the owner of the entry bring it into view.
func (e *entry) FocusGained() {
	e.Entry.FocusGained()
	if e.onFocus != nil {
		e.onFocus()
	}
}

func newEntry(u *UI, placeholder string) *entry {
	e := &entry{u: u}
	e.PlaceHolder = placeholder
	e.ExtendBaseWidget(e)
	return e
}

func newPasswordEntry(u *UI, placeholder string) *entry {
	e := &entry{u: u}
	e.PlaceHolder = placeholder
	e.Password = true
	e.ExtendBaseWidget(e)
	return e
}

// TypedShortcut runs the window's shortcuts before the entry's own.
func (e *entry) TypedShortcut(s fyne.Shortcut) {
	e.u.touch()
	if e.u.runShortcut(s) {
		return
	}
	e.Entry.TypedShortcut(s)
}

// TypedKey records activity and offers the key to onKey first.
func (e *entry) TypedKey(k *fyne.KeyEvent) {
	e.u.touch()
	if e.onKey != nil && e.onKey(k) {
		return
	}
	if k.Name == fyne.KeyEscape && e.u.escape() {
		return
	}
	e.Entry.TypedKey(k)
}

// TypedRune records activity.
func (e *entry) TypedRune(r rune) {
	e.u.touch()
	e.Entry.TypedRune(r)
}

// button makes a large button whose tap records activity.
func (u *UI) button(label string, icon fyne.Resource, imp widget.Importance, fn func()) *widget.Button {
	b := widget.NewButtonWithIcon(label, icon, func() {
		u.touch()
		fn()
	})
	b.Importance = imp
	return b
}

// NHS date and time formats: "12-Mar-1962" and "12-Mar-1962 14:05".
const (
	dateLayout     = "02-Jan-2006"
	dateTimeLayout = "02-Jan-2006 15:04"
)

// fmtTime shows an instant in local time, or "never" when zero.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(dateTimeLayout)
}

// humanDuration says a duration the way people do: "45 seconds",
// "5 minutes", "2 h 5 min", "3 days" (present.HumanDuration, so every
// screen says it alike).
func humanDuration(d time.Duration) string { return present.HumanDuration(d) }

// plural says "1 item" or "3 items".
func plural(n int, one, many string) string { return present.Plural(n, one, many) }

// vspace is a fixed vertical gap.
func vspace(h float32) fyne.CanvasObject {
	r := canvas.NewRectangle(color.Transparent)
	r.SetMinSize(fyne.NewSize(1, h))
	return r
}

// columnLayout centres its objects in a column at most maxW wide, giving
// each the height it needs at that width (wrapped text grows taller as
// the column narrows).
type columnLayout struct{ maxW float32 }

func (l *columnLayout) width(avail float32) float32 { return min(avail, l.maxW) }

func (l *columnLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	w := l.width(size.Width)
	x := (size.Width - w) / 2
	y := float32(0)
	for _, o := range objs {
		o.Resize(fyne.NewSize(w, o.MinSize().Height))
		h := o.MinSize().Height // again, now that wrapped text knows its width
		o.Resize(fyne.NewSize(w, h))
		o.Move(fyne.NewPos(x, y))
		y += h
	}
}

func (l *columnLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	for _, o := range objs {
		m := o.MinSize()
		w = max(w, min(m.Width, l.maxW))
		h += m.Height
	}
	return fyne.NewSize(w, h)
}

// column is a scrolling page whose content is a centred column.
func column(maxW float32, objs ...fyne.CanvasObject) *container.Scroll {
	inner := container.New(&columnLayout{maxW: maxW}, objs...)
	return container.NewVScroll(container.NewPadded(container.NewVBox(vspace(24), inner)))
}

// levelColour is the text colour of a presentation level.
func levelColour(l present.Level) fyne.ThemeColorName {
	switch l {
	case present.Muted:
		return colMuted
	case present.Patient:
		return colChartAlt
	case present.Good:
		return theme.ColorNameSuccess
	case present.Caution:
		return theme.ColorNameWarning
	case present.Danger:
		return theme.ColorNameError
	}
	return ""
}

// spanStyle is how a presented span is drawn; on a coloured block, text
// takes the block's own text colour.
func spanStyle(sp present.Span, onBlock fyne.ThemeColorName) style {
	st := style{col: levelColour(sp.Level), bold: sp.Strong}
	if onBlock != "" {
		st.col = onBlock
	}
	switch {
	case sp.Large:
		st.size = theme.SizeNameSubHeadingText
	case sp.Small:
		st.size = theme.SizeNameCaptionText
	}
	return st
}

// blockColours are the fill and text colours of a line drawn on a block.
func blockColours(l present.Level) (fill, text fyne.ThemeColorName) {
	switch l {
	case present.Danger:
		return colDanger, colOnDanger
	case present.Caution:
		return colCaution, colOnCaution
	case present.Panel, present.Muted:
		return theme.ColorNameHeaderBackground, ""
	}
	return "", ""
}

// lineObj draws a presented line: a wrapping paragraph, on its block when
// it has one. A line with a struck span (a void item's name) puts the
// spans before it on the left, the struck text in the middle, wrapping,
// and the rest (the word that says why) on the right.
func lineObj(l present.Line) fyne.CanvasObject {
	if len(l.Spans) > 1 && l.Spans[0].Badge {
		// A badge (HIGH RISK) is a filled block before the rest of the line.
		rest := l
		rest.Spans = l.Spans[1:]
		return container.NewBorder(nil, nil, badge(l.Spans[0].Text), nil, lineObj(rest))
	}
	fill, onBlock := blockColours(l.Block)
	struck := -1
	for i, sp := range l.Spans {
		if sp.Struck {
			struck = i
			break
		}
	}
	var obj fyne.CanvasObject
	if struck < 0 {
		spans := make([]span, len(l.Spans))
		for i, sp := range l.Spans {
			spans[i] = span{sp.Text, spanStyle(sp, onBlock)}
		}
		obj = line(spans...)
	} else {
		side := func(sps []present.Span) fyne.CanvasObject {
			if len(sps) == 0 {
				return nil
			}
			spans := make([]span, len(sps))
			for i, sp := range sps {
				spans[i] = span{sp.Text, spanStyle(sp, onBlock)}
			}
			return nowrap(line(spans...))
		}
		row := &struckRow{left: side(l.Spans[:struck]), mid: newStruckText(l.Spans[struck].Text, spanStyle(l.Spans[struck], onBlock)),
			right: side(l.Spans[struck+1:])}
		var objs []fyne.CanvasObject
		for _, o := range []fyne.CanvasObject{row.left, row.mid, row.right} {
			if o != nil {
				objs = append(objs, o)
			}
		}
		obj = container.New(row, objs...)
	}
	if fill != "" {
		return block(fill, obj)
	}
	return obj
}

// struckRow lays out a struck line: the spans before the struck text, the
// struck text as wide as it needs (wrapping when the row is too narrow),
// and straight after it the spans that follow.
type struckRow struct {
	left, right fyne.CanvasObject // either may be nil
	mid         *struckText
}

func (r *struckRow) sideWidth(o fyne.CanvasObject) float32 {
	if o == nil {
		return 0
	}
	return o.MinSize().Width
}

func (r *struckRow) Layout(_ []fyne.CanvasObject, size fyne.Size) {
	lw, rw := r.sideWidth(r.left), r.sideWidth(r.right)
	mw := max(min(r.mid.naturalWidth(), size.Width-lw-rw), r.mid.MinSize().Width)
	r.mid.Resize(fyne.NewSize(mw, r.mid.MinSize().Height))
	r.mid.Resize(fyne.NewSize(mw, r.mid.MinSize().Height)) // again, now it knows its width
	r.mid.Move(fyne.NewPos(lw, 0))
	if r.left != nil {
		r.left.Resize(fyne.NewSize(lw, r.left.MinSize().Height))
		r.left.Move(fyne.NewPos(0, 0))
	}
	if r.right != nil {
		r.right.Resize(fyne.NewSize(rw, r.right.MinSize().Height))
		r.right.Move(fyne.NewPos(lw+mw, 0))
	}
}

func (r *struckRow) MinSize(_ []fyne.CanvasObject) fyne.Size {
	h := r.mid.MinSize().Height
	for _, o := range []fyne.CanvasObject{r.left, r.right} {
		if o != nil {
			h = max(h, o.MinSize().Height)
		}
	}
	return fyne.NewSize(r.sideWidth(r.left)+r.mid.MinSize().Width+r.sideWidth(r.right), h)
}

// struckText is text struck through, wrapping at its width: the name of an
// item entered in error or refuted. Fyne's text has no strikethrough, so
// it lays out its own rows and draws a line through each.
type struckText struct {
	widget.BaseWidget
	text string
	st   style
}

func newStruckText(text string, st style) *struckText {
	s := &struckText{text: text, st: st}
	s.ExtendBaseWidget(s)
	return s
}

// naturalWidth is the width of the text on one row.
func (s *struckText) naturalWidth() float32 {
	n := s.st.size
	if n == "" {
		n = theme.SizeNameText
	}
	pad := theme.SizeForWidget(theme.SizeNameInnerPadding, s)
	return fyne.MeasureText(s.text, theme.SizeForWidget(n, s), fyne.TextStyle{Bold: s.st.bold}).Width + pad
}

func (s *struckText) CreateRenderer() fyne.WidgetRenderer {
	r := &struckRenderer{s: s}
	r.Refresh()
	return r
}

type struckRenderer struct {
	s     *struckText
	texts []*canvas.Text
	lines []*canvas.Line
}

func (r *struckRenderer) size() float32 {
	n := r.s.st.size
	if n == "" {
		n = theme.SizeNameText
	}
	return theme.SizeForWidget(n, r.s)
}

func (r *struckRenderer) textStyle() fyne.TextStyle { return fyne.TextStyle{Bold: r.s.st.bold} }

// rows breaks the text into rows no wider than width (a word wider than
// width has a row of its own); width 0 means one row.
func (r *struckRenderer) rows(width float32) []string {
	words := strings.Fields(r.s.text)
	if len(words) == 0 {
		return []string{""}
	}
	ts, style := r.size(), r.textStyle()
	var rows []string
	cur := words[0]
	for _, w := range words[1:] {
		if width > 0 && fyne.MeasureText(cur+" "+w, ts, style).Width > width {
			rows = append(rows, cur)
			cur = w
			continue
		}
		cur += " " + w
	}
	return append(rows, cur)
}

func (r *struckRenderer) rowHeight() float32 {
	return fyne.MeasureText("Mg", r.size(), r.textStyle()).Height
}

// inset is the padding around the text, as a RichText has, so struck text
// lines up with the text beside it.
func (r *struckRenderer) inset() float32 {
	return theme.SizeForWidget(theme.SizeNameInnerPadding, r.s) / 2
}

func (r *struckRenderer) MinSize() fyne.Size {
	ts, style := r.size(), r.textStyle()
	var widest float32
	for _, w := range strings.Fields(r.s.text) {
		widest = max(widest, fyne.MeasureText(w, ts, style).Width)
	}
	in := r.inset()
	return fyne.NewSize(widest+2*in, r.rowHeight()*float32(len(r.rows(r.s.Size().Width-2*in)))+2*in)
}

func (r *struckRenderer) Layout(size fyne.Size) {
	in := r.inset()
	rows := r.rows(size.Width - 2*in)
	for len(r.texts) < len(rows) {
		r.texts = append(r.texts, canvas.NewText("", color.Black))
		r.lines = append(r.lines, canvas.NewLine(color.Black))
	}
	r.texts, r.lines = r.texts[:len(rows)], r.lines[:len(rows)]
	ts, style := r.size(), r.textStyle()
	col := theme.ColorForWidget(theme.ColorNameForeground, r.s)
	if r.s.st.col != "" {
		col = theme.ColorForWidget(r.s.st.col, r.s)
	}
	h := r.rowHeight()
	for i, row := range rows {
		t := r.texts[i]
		t.Text, t.TextSize, t.TextStyle, t.Color = row, ts, style, col
		y := in + float32(i)*h
		t.Move(fyne.NewPos(in, y))
		t.Resize(fyne.NewSize(size.Width-2*in, h))
		w := fyne.MeasureText(row, ts, style).Width
		l := r.lines[i]
		l.StrokeColor, l.StrokeWidth = col, max(1, ts/10)
		l.Position1 = fyne.NewPos(in, y+h*0.55)
		l.Position2 = fyne.NewPos(in+w, y+h*0.55)
	}
}

func (r *struckRenderer) Objects() []fyne.CanvasObject {
	objs := make([]fyne.CanvasObject, 0, 2*len(r.texts))
	for i := range r.texts {
		objs = append(objs, r.texts[i], r.lines[i])
	}
	return objs
}

func (r *struckRenderer) Destroy() {}

func (r *struckRenderer) Refresh() {
	r.Layout(r.s.Size())
	for i := range r.texts {
		r.texts[i].Refresh()
		r.lines[i].Refresh()
	}
	canvas.Refresh(r.s)
}
