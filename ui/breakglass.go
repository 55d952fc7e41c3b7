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

// breakGlassDialog asks for the NHS number, a coded reason and the user's
// own words, all required, before opening a patient under emergency access.
type breakGlassDialog struct {
	nhs     *entry
	reasons *widget.RadioGroup
	text    *entry
	msg     *widget.RichText
	open    *widget.Button
	busy    *widget.ProgressBarInfinite
	d       dialog.Dialog
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

// showBreakGlass opens the dialog, with the NHS number filled in if known.
func (u *UI) showBreakGlass(nhs string) {
	if u.locked || !u.core.Profile().BreakGlass {
		return
	}
	b := &breakGlassDialog{nhs: newEntry(u, "NHS number, 10 digits"), text: newEntry(u, "In your own words: why you need this record now"),
		msg: line(), busy: widget.NewProgressBarInfinite()}
	b.busy.Stop()
	b.busy.Hide()
	if n, err := record.ParseNHSNumber(nhs); err == nil {
		nhs = n.String()
	}
	b.nhs.SetText(nhs)
	var displays []string
	for _, r := range core.BreakGlassChoices() {
		displays = append(displays, r.Display)
	}
	b.reasons = widget.NewRadioGroup(displays, func(string) { u.touch(); b.validate() })
	b.reasons.Required = true
	b.text.MultiLine = true
	b.text.Wrapping = fyne.TextWrapWord
	b.text.SetMinRowsVisible(3)
	b.nhs.OnChanged = func(string) { b.validate() }
	b.text.OnChanged = func(string) { b.validate() }
	cancel := u.button("Cancel", theme.CancelIcon(), widget.MediumImportance, func() { b.d.Hide() })
	b.open = u.button("Open under emergency access", theme.WarningIcon(), widget.DangerImportance, func() { u.submitBreakGlass(b) })
	b.nhs.OnSubmitted = func(string) { u.win.Canvas().Focus(b.text) }
	content := container.NewVBox(
		block(colDanger, txt(breakGlassWarning, style{col: colOnDanger, bold: true})),
		widget.NewLabel("NHS number"), b.nhs,
		widget.NewLabel("Reason (required)"), b.reasons,
		widget.NewLabel("Your reason in your own words (required)"), b.text,
		b.busy, b.msg,
		container.NewHBox(layout.NewSpacer(), cancel, b.open),
	)
	b.d = dialog.NewCustomWithoutButtons("Emergency access (break-glass)", container.NewVScroll(content), u.win)
	b.d.Resize(fyne.NewSize(700, 720))
	b.validate()
	b.d.SetOnClosed(func() {
		if u.bgDialog == b {
			u.bgDialog = nil
		}
	})
	u.bgDialog = b
	b.d.Show()
	if nhs == "" {
		u.win.Canvas().Focus(b.nhs)
	} else {
		u.win.Canvas().Focus(b.text)
	}
}

// validate enables the button only when all three answers are given.
func (b *breakGlassDialog) validate() {
	_, nhsErr := record.ParseNHSNumber(b.nhs.Text)
	switch {
	case strings.TrimSpace(b.nhs.Text) != "" && nhsErr != nil:
		setSpans(b.msg, span{"✗ Not a valid NHS number: check each digit.", danger})
	case nhsErr == nil && b.reasons.Selected == "":
		setSpans(b.msg, span{"Choose a reason.", muted})
	case nhsErr == nil && strings.TrimSpace(b.text.Text) == "":
		setSpans(b.msg, span{"Say why in your own words: it is required.", muted})
	default:
		setSpans(b.msg)
	}
	if nhsErr == nil && b.reasons.Selected != "" && strings.TrimSpace(b.text.Text) != "" {
		b.open.Enable()
	} else {
		b.open.Disable()
	}
}

func (u *UI) submitBreakGlass(b *breakGlassDialog) {
	nhs, err := record.ParseNHSNumber(b.nhs.Text)
	if err != nil {
		b.validate()
		return
	}
	reason := core.BreakGlassReason{Code: reasonCode(b.reasons.Selected), Text: strings.TrimSpace(b.text.Text)}
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
	if errors.Is(err, core.ErrNotCached) {
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
