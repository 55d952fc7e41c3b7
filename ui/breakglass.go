package ui

import (
	"context"
	"errors"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/record"
)

// breakGlassTimeout bounds the server's answer and the document's arrival.
const breakGlassTimeout = 30 * time.Second

// breakGlassWarning is the text the user reads before choosing a reason.
const breakGlassWarning = "Emergency access is for a patient you must treat now and have no care relationship with. " +
	"This access is audited: your name, role, device, the time and your reason are recorded and reported to the privacy officer, who reviews every use. " +
	"Using it without a genuine clinical need is a disciplinary matter."

// breakGlassDialog asks for the NHS number and a coded reason, and the
// user's own words when the reason is "other", before opening a patient
// under emergency access. It is keyboard-complete: Tab moves between the
// fields, Up and Down along the reasons, Space chooses one, Enter
// confirms, Esc cancels. There is one at a time.
type breakGlassDialog struct {
	nhs     *entry
	reasons *reasonList
	text    *entry
	msg     *widget.RichText
	open    *widget.Button
	busy    *widget.ProgressBarInfinite
	scroll  *container.Scroll
	d       dialog.Dialog
	trace   *traceForm
}

// reasonCode maps a displayed reason back to its code.
func reasonCode(display string) string {
	for _, r := range core.BreakGlassChoices() {
		if r.Display == display {
			return r.Code
		}
	}
	return ""
}

// dialogSize is a dialog's size on the window: at most want, and never
// past the window, so every part of it is on the screen.
func (u *UI) dialogSize(want fyne.Size) fyne.Size {
	win := u.win.Canvas().Size()
	pad := 4 * theme.Padding()
	return fyne.NewSize(min(want.Width, max(200, win.Width-pad)), min(want.Height, max(200, win.Height-pad)))
}

// showBreakGlass opens the dialog, with the NHS number filled in if known.
// When it is already open, it is brought back to the keyboard instead of
// a second one stacking over it.
func (u *UI) showBreakGlass(nhs string) {
	if u.locked || !u.core.Profile().BreakGlass {
		return
	}
	if n, err := record.ParseNHSNumber(nhs); err == nil {
		nhs = n.String()
	}
	if b := u.bgDialog; b != nil {
		if nhs != "" && strings.TrimSpace(b.nhs.Text) == "" {
			b.nhs.SetText(nhs)
		}
		b.focusFirst(u)
		return
	}
	b := &breakGlassDialog{nhs: newEntry(u, "NHS number, 10 digits"), text: newEntry(u, "In your own words (optional; required for Other)"),
		msg: line(), busy: widget.NewProgressBarInfinite()}
	b.busy.Stop()
	b.busy.Hide()
	b.nhs.SetText(nhs)
	var displays []string
	for _, r := range core.BreakGlassChoices() {
		displays = append(displays, r.Display)
	}
	b.reasons = newReasonList(u, displays, func() { u.touch(); b.validate() }, func() { u.confirmBreakGlass(b) })
	b.trace = newTraceForm(u, b)
	b.nhs.OnChanged = func(string) { b.trace.nhsEdited(); b.validate() }
	b.text.OnChanged = func(string) { b.validate() }
	b.nhs.OnSubmitted = func(string) {
		if _, err := record.ParseNHSNumber(b.nhs.Text); err == nil {
			b.reasons.focus(max(0, b.reasons.selected))
		}
	}
	b.text.OnSubmitted = func(string) { u.confirmBreakGlass(b) }
	cancel := u.button("Cancel  (Esc)", theme.CancelIcon(), widget.MediumImportance, func() { b.d.Hide() })
	b.open = u.button("Open under emergency access  (Enter)", theme.WarningIcon(), widget.DangerImportance, func() { u.submitBreakGlass(b) })
	fields := container.NewVBox(
		block(colDanger, txt(breakGlassWarning, style{col: colOnDanger, bold: true})),
		widget.NewLabel("NHS number"), b.nhs,
		b.trace.root,
		widget.NewLabel("Reason (choose one: Up, Down and Space, or Enter to confirm)"), b.reasons.root,
		widget.NewLabel("Your reason in your own words (required only for Other)"), b.text,
	)
	b.scroll = container.NewVScroll(fields)
	// The buttons and the message stay outside the scrolling part, so Open
	// is never under the scroll bar nor below the dialog's edge.
	foot := container.NewVBox(b.busy, b.msg, container.NewHBox(layout.NewSpacer(), cancel, b.open))
	b.d = dialog.NewCustomWithoutButtons("Emergency access (break-glass)", container.NewBorder(nil, foot, nil, nil, b.scroll), u.win)
	b.d.Resize(u.dialogSize(fyne.NewSize(760, 760)))
	b.validate()
	b.d.SetOnClosed(func() {
		if u.bgDialog == b {
			u.bgDialog = nil
		}
	})
	u.bgDialog = b
	b.d.Show()
	b.focusFirst(u)
}

// focusFirst gives the keyboard to the first field still to fill in,
// with the dialog scrolled to the top.
func (b *breakGlassDialog) focusFirst(u *UI) {
	b.scroll.ScrollToTop()
	switch {
	case strings.TrimSpace(b.nhs.Text) == "":
		u.win.Canvas().Focus(b.nhs)
	case b.reasons.selected < 0:
		b.reasons.focus(0)
	default:
		u.win.Canvas().Focus(b.text)
	}
}

// ready says what is still missing, or "" when the request can go.
func (b *breakGlassDialog) ready() (string, bool) {
	_, nhsErr := record.ParseNHSNumber(b.nhs.Text)
	code := reasonCode(b.reasons.value())
	switch {
	case strings.TrimSpace(b.nhs.Text) != "" && nhsErr != nil:
		return "✗ Not a valid NHS number: check each digit.", false
	case nhsErr != nil:
		return "Type the patient's NHS number, or find them by family name and date of birth.", false
	case code == "":
		return "Choose a reason.", false
	case code == core.ReasonOther && strings.TrimSpace(b.text.Text) == "":
		return "For Other, say why in your own words.", false
	}
	return "", true
}

// validate enables Open only when the request is complete.
func (b *breakGlassDialog) validate() {
	why, ok := b.ready()
	st := muted
	if strings.HasPrefix(why, "✗") {
		st = danger
	}
	if why == "" {
		setSpans(b.msg)
	} else {
		setSpans(b.msg, span{why, st})
	}
	if ok {
		b.open.Enable()
	} else {
		b.open.Disable()
	}
}

// confirmBreakGlass is Enter in the dialog: it sends a complete request,
// or takes the keyboard to what is missing.
func (u *UI) confirmBreakGlass(b *breakGlassDialog) {
	if _, ok := b.ready(); ok {
		u.submitBreakGlass(b)
		return
	}
	b.validate()
	if reasonCode(b.reasons.value()) == core.ReasonOther {
		u.win.Canvas().Focus(b.text)
		return
	}
	b.focusFirst(u)
}

func (u *UI) submitBreakGlass(b *breakGlassDialog) {
	nhs, err := record.ParseNHSNumber(b.nhs.Text)
	if _, ok := b.ready(); err != nil || !ok || b.open.Disabled() {
		b.validate()
		return
	}
	reason := core.BreakGlassReason{Code: reasonCode(b.reasons.value()), Text: strings.TrimSpace(b.text.Text)}
	b.open.Disable()
	b.busy.Show()
	b.busy.Start()
	setSpans(b.msg, span{"Asking the server for emergency access…", plain})
	later(u, func() (*core.PatientView, error) {
		ctx, cancel := context.WithTimeout(context.Background(), breakGlassTimeout)
		defer cancel()
		return u.core.BreakGlass(ctx, nhs.Digits(), reason)
	}, func(v *core.PatientView, err error) {
		b.busy.Stop()
		b.busy.Hide()
		if err != nil {
			b.open.Enable()
			msg := err.Error()
			if errors.Is(err, core.ErrNotCached) {
				msg = "This patient is not on this device and there is no connection to fetch them. Your attempt and reason have been recorded."
			}
			setSpans(b.msg, span{msg, danger})
			return
		}
		b.d.Hide()
		u.bgDialog = nil
		u.showSummary(v)
	})
}

// breakGlassShortcut opens the dialog for the patient on screen or the
// NHS number in the search box.
func (u *UI) breakGlassShortcut() {
	if u.locked || u.main == nil {
		return
	}
	nhs := u.main.nhsInQuery()
	if u.screen == screenSummary && u.main.view != nil {
		nhs = u.main.view.NHS.String()
	}
	u.showBreakGlass(nhs)
}

// showError explains why a patient could not be opened; when the patient
// is simply not on this device, it offers emergency access.
func (u *UI) showError(title string, err error, nhs string) {
	msg := friendlyError(err)
	switch {
	case errors.Is(err, core.ErrSetAside):
		msg = "Set aside: this patient's record reached this device but could not be stored here, so it cannot be shown offline. It is stored again when the server sends a newer version; the status bar says why. The attempt was recorded."
	case errors.Is(err, core.ErrNotCached):
		msg = "This patient is not available on this device: never synced, no longer shared with you, or the offline copy has expired. The attempt was recorded."
	}
	content := container.NewVBox(txt(msg, plain))
	var d dialog.Dialog
	if errors.Is(err, core.ErrNotCached) && u.core.Profile().BreakGlass {
		content.Add(u.button("Emergency access (break-glass)…", theme.WarningIcon(), widget.DangerImportance, func() {
			d.Hide()
			if n, perr := record.ParseNHSNumber(nhs); perr == nil {
				u.showBreakGlass(n.String())
			} else {
				u.showBreakGlass("")
			}
		}))
	}
	d = dialog.NewCustom(title, "Close", content, u.win)
	d.Resize(fyne.NewSize(600, 300))
	d.Show()
}
