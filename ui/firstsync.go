package ui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
)

// firstSyncScreen shows the first full sync: progress, counts and a time
// estimate. It can be cancelled; the cursor is stored with every batch, so
// Resume (or the next unlock) continues where it stopped.
type firstSyncScreen struct {
	title, counts, eta, msg *widget.RichText
	bar                     *widget.ProgressBar
	cancelBtn, resumeBtn    *widget.Button
	continueBtn             *widget.Button
	started                 time.Time // when this run first saw progress
	startDone               int
}

// showFirstSync runs enrolment (req set) or resumes the first sync.
func (u *UI) showFirstSync(req *core.EnrolRequest) {
	s := &firstSyncScreen{
		title:  txt("Setting up this device", heading),
		counts: line(span{"Connecting to the server…", plain}),
		eta:    line(),
		msg:    line(),
		bar:    widget.NewProgressBar(),
	}
	s.cancelBtn = u.button("Cancel", theme.CancelIcon(), widget.MediumImportance, func() { u.cancelFirstSync() })
	s.resumeBtn = u.button("Resume the first sync", theme.ViewRefreshIcon(), widget.HighImportance, func() { u.showFirstSync(nil) })
	s.continueBtn = u.button("Continue with what has arrived", theme.NavigateNextIcon(), widget.MediumImportance, func() {
		u.locked = false
		u.showMain()
	})
	s.resumeBtn.Hide()
	s.continueBtn.Hide()
	if req == nil {
		s.title = txt("Finishing the first sync", heading)
	}
	body := container.NewVBox(
		txt("kmcr", style{col: theme.ColorNamePrimary, size: theme.SizeNameHeadingText, bold: true}),
		s.title,
		txt("kmcr is downloading the summaries you may see, encrypting each one as it arrives. "+
			"Each batch is stored with its place in the download, so if it stops it carries on from there.", plain),
		s.bar, s.counts, s.eta, s.msg,
		container.NewHBox(s.cancelBtn, s.resumeBtn, s.continueBtn),
	)
	u.setContent(screenFirstSync, column(760, card(body)))
	u.win.Canvas().Focus(nil)

	ctx, cancel := context.WithCancel(context.Background())
	u.firstSyncCancel = cancel
	u.pauseIdle = true
	progress := func(st core.SyncState) { u.do(func() { s.update(u, st) }) }
	later(u, func() (struct{}, error) {
		defer cancel()
		if req != nil {
			err := u.core.Enrol(ctx, *req, progress)
			clear(req.Passphrase)
			return struct{}{}, err
		}
		return struct{}{}, u.core.SyncOnce(ctx, progress)
	}, func(_ struct{}, err error) {
		u.firstSyncCancel = nil
		u.pauseIdle = false
		u.firstSyncDone(s, req, err)
	})
}

// cancelFirstSync stops the running first sync, if any.
func (u *UI) cancelFirstSync() {
	if u.firstSyncCancel != nil {
		u.firstSyncCancel()
	}
}

// update shows one progress report.
func (s *firstSyncScreen) update(u *UI, st core.SyncState) {
	now := u.opts.now()
	switch st.Kind {
	case core.SyncConnecting:
		setSpans(s.counts, span{"Connecting to the server…", plain})
	case core.SyncSyncing:
		if s.started.IsZero() {
			s.started, s.startDone = now, st.Done
		}
		if st.Total > 0 {
			s.bar.SetValue(float64(st.Done) / float64(st.Total))
		}
		setSpans(s.counts, span{fmt.Sprintf("%d of %d", st.Done, st.Total), bold}, span{" patient summaries stored", plain})
		if done := st.Done - s.startDone; done > 0 && st.Total > st.Done {
			left := time.Duration(float64(now.Sub(s.started)) / float64(done) * float64(st.Total-st.Done))
			setSpans(s.eta, span{"About " + humanDuration(left) + " left", plain},
				span{fmt.Sprintf(" (%.0f a second)", float64(done)/max(now.Sub(s.started).Seconds(), 0.001)), muted})
		}
	case core.SyncUpToDate:
		s.bar.SetValue(1)
		setSpans(s.counts, span{"All summaries stored; delivering the audit log…", plain})
		setSpans(s.eta)
	case core.SyncOffline, core.SyncError:
		if st.Err != "" {
			setSpans(s.msg, span{st.Err, warnText})
		}
	}
}

// firstSyncDone moves on after enrolment or the first sync ends.
func (u *UI) firstSyncDone(s *firstSyncScreen, req *core.EnrolRequest, err error) {
	if err == nil {
		u.locked = false
		u.showMain()
		u.background(func() { _ = u.core.ServeSync(context.Background()) })
		return
	}
	if req != nil && !errors.Is(err, core.ErrFirstSync) {
		// Nothing was enrolled: back to the form, with what was typed
		// except the secrets.
		u.enrolPrefill = req
		u.showEnrol("Enrolment failed: " + err.Error())
		return
	}
	u.locked = false
	s.cancelBtn.Hide()
	s.resumeBtn.Show()
	s.continueBtn.Show()
	if errors.Is(err, context.Canceled) {
		setSpans(s.msg, span{"Paused. ", bold}, span{"What has arrived is stored; Resume carries on from there.", plain})
	} else {
		setSpans(s.msg, span{"The first sync stopped: ", danger}, span{trimFirstSync(err), plain},
			span{" Resume carries on from where it stopped.", plain})
	}
	u.win.Canvas().Focus(nil)
}

// trimFirstSync drops the command-line advice from ErrFirstSync.
func trimFirstSync(err error) string {
	msg := err.Error()
	prefix := core.ErrFirstSync.Error() + ": "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}
