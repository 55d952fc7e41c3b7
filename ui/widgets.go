package ui

import (
	"fmt"
	"image/color"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
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
	u     *UI
	onKey func(*fyne.KeyEvent) bool // handles a key before the entry does
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
// "5 minutes", "2 h 5 min", "3 days".
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		n := int(d.Round(time.Second) / time.Second)
		if n == 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", n)
	case d < time.Hour:
		n := int(d.Round(time.Minute) / time.Minute)
		if n == 1 {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", n)
	case d < 48*time.Hour:
		h := int(d / time.Hour)
		m := int((d % time.Hour).Round(time.Minute) / time.Minute)
		if m == 60 {
			h, m = h+1, 0
		}
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

// plural says "1 item" or "3 items".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

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
