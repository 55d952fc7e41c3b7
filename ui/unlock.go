package ui

import (
	"errors"
	"fmt"
	"time"

	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
)

// unlockScreen asks for the passphrase. It works offline: the cache opens
// with the passphrase and the device secret, no server involved.
type unlockScreen struct {
	pass     *entry
	btn      *widget.Button
	msg      *widget.RichText
	busy     *widget.ProgressBarInfinite
	retryAt  time.Time        // no attempt before this (after wrong passphrases)
	last     *core.RetryError // the last wrong passphrase's count and waits
	countGen int              // the countdown that is current
}

func (u *UI) showUnlock(why string) {
	u.locked = true
	u.pauseIdle = false
	p := u.core.Profile()
	s := &unlockScreen{pass: newPasswordEntry(u, "Passphrase"), msg: line(), busy: widget.NewProgressBarInfinite()}
	s.busy.Stop()
	s.busy.Hide()
	s.btn = u.button("Unlock", theme.LoginIcon(), widget.HighImportance, func() { u.submitUnlock(s) })
	s.pass.OnSubmitted = func(string) { u.submitUnlock(s) }
	if why != "" {
		setSpans(s.msg, span{why, bold})
	}
	who := fmt.Sprintf("%s (%s), %s", p.User, roleName(p.Role), p.Server)
	form := container.NewVBox(
		txt("kmcr", style{col: theme.ColorNamePrimary, size: theme.SizeNameHeadingText, bold: true}),
		txt("Shared care record: unlock to continue", heading),
		line(span{"Profile: ", muted}, span{who, plain}),
		vspace(8),
		widget.NewLabel("Passphrase"),
		s.pass,
		s.btn,
		s.busy,
		s.msg,
		vspace(8),
		txt("Unlocking works without a connection. Patient data stays hidden until you unlock.", caption),
		txt("Forgotten the passphrase? Nobody can recover it: ask for the device to be wiped (kmcr wipe) and enrol again.", caption),
	)
	u.setContent(screenUnlock, column(560, card(form)))
	u.unlockShown = s
	u.win.Canvas().Focus(s.pass)
}

// submitUnlock derives the key off the UI goroutine and reports the
// outcome, counting down the wait after wrong passphrases.
func (u *UI) submitUnlock(s *unlockScreen) {
	if s.pass.Disabled() {
		return
	}
	if wait := s.retryAt.Sub(u.opts.now()); wait > 0 {
		u.countdown(s)
		return
	}
	if s.pass.Text == "" {
		setSpans(s.msg, span{"Type your passphrase, then press Enter.", warnText})
		return
	}
	pass := []byte(s.pass.Text)
	s.pass.SetText("")
	s.pass.Disable()
	s.btn.Disable()
	s.busy.Show()
	s.busy.Start()
	setSpans(s.msg, span{"Checking the passphrase…", plain})
	pending := u.lockDone
	later(u, func() (struct{}, error) {
		if pending != nil {
			<-pending // a lock still closing the cache must finish first
		}
		err := u.core.Unlock(pass)
		clear(pass)
		return struct{}{}, err
	}, func(_ struct{}, err error) {
		s.busy.Stop()
		s.busy.Hide()
		s.pass.Enable()
		s.btn.Enable()
		if err == nil {
			u.unlocked()
			return
		}
		var re *core.RetryError
		switch {
		case errors.As(err, &re) && re.Wait > 0:
			s.last = re
			s.retryAt = u.opts.now().Add(re.Wait)
			u.countdown(s)
		case errors.As(err, &re) && errors.Is(err, core.ErrWrongPassphrase):
			s.last = re
			setSpans(s.msg, span{wrongCount(re) + " ", danger}, span{nextWait(re), bold})
		default:
			setSpans(s.msg, span{friendlyError(err), danger})
		}
		u.win.Canvas().Focus(s.pass)
	})
}

// countdown shows the wait before the next attempt and ticks it down each
// second, keeping the button disabled until it ends.
func (u *UI) countdown(s *unlockScreen) {
	s.countGen++
	id, gen := s.countGen, u.gen
	var tick func()
	tick = func() {
		if id != s.countGen || gen != u.gen || u.screen != screenUnlock {
			return
		}
		left := s.retryAt.Sub(u.opts.now())
		head := "Wrong passphrase."
		if s.last != nil {
			head = wrongCount(s.last)
		}
		if left <= 0 {
			s.btn.Enable()
			next := "You can try again now."
			if s.last != nil {
				next += " " + nextWait(s.last)
			}
			setSpans(s.msg, span{head + " ", danger}, span{next, bold})
			return
		}
		s.btn.Disable()
		secs := int((left + time.Second - 1) / time.Second)
		setSpans(s.msg, span{head + " ", danger},
			span{fmt.Sprintf("You can try again in %s.", plural(secs, "second", "seconds")), bold})
		u.background(func() {
			time.Sleep(time.Second)
			u.do(tick)
		})
	}
	tick()
}

// wrongCount says how many wrong passphrases there have been in a row.
func wrongCount(re *core.RetryError) string {
	if re.Failures <= 0 {
		return "Wrong passphrase. Check Caps Lock."
	}
	return fmt.Sprintf("Wrong passphrase: %s in a row. Check Caps Lock.", plural(re.Failures, "wrong attempt", "wrong attempts"))
}

// nextWait says when the next wait begins, and how long it will be.
func nextWait(re *core.RetryError) string {
	switch {
	case re.NextWait <= 0 && re.FreeLeft > 0:
		return fmt.Sprintf("%s without a wait; after that each wrong attempt makes you wait, longer each time.",
			plural(re.FreeLeft, "more wrong attempt", "more wrong attempts"))
	case re.NextWait <= 0:
		return ""
	case re.Wait <= 0:
		return fmt.Sprintf("One more wrong attempt and a wait of %s begins before the next try.", humanWait(re.NextWait))
	}
	return fmt.Sprintf("Another wrong attempt makes the wait %s.", humanWait(re.NextWait))
}

// humanWait is a wait in words: "1 second", "4 minutes".
func humanWait(d time.Duration) string {
	if d < time.Minute {
		return plural(int((d+time.Second-1)/time.Second), "second", "seconds")
	}
	return plural(int((d+time.Minute-1)/time.Minute), "minute", "minutes")
}
