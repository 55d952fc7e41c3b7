// Package ui is the Fyne desktop interface: it presents the client core
// (package app) and never holds patient data longer than a screen shows it.
//
// # Threading
//
// Every call into the core that can take time (key derivation, keyring,
// disk, network) runs on its own goroutine through UI.background; its
// result reaches widgets through UI.do, which is fyne.Do in the real
// application. Widgets are touched only on Fyne's goroutine.
//
// # Locking
//
// Locking replaces the window content with the unlock screen before
// anything else happens, removes every dialog, and drops the references to
// patient views; work started before the lock is discarded when it
// finishes, because each screen generation has a number (UI.gen) that a
// lock increments.
package ui

import (
	"context"
	"errors"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/record"
)

// AppID is the application identifier, as in FyneApp.toml.
const AppID = "uk.nhs.kmcr"

// defaultAutolock is the inactivity lock when the server's policy sets none.
const defaultAutolock = 5 * time.Minute

// Ticks of the background clocks: how often inactivity is checked, and how
// often the status bar refreshes its ages ("as of", oldest audit event).
const (
	idleTick   = 5 * time.Second
	statusTick = 30 * time.Second
)

// Preference keys.
const (
	prefTheme     = "theme"
	prefTextScale = "textScale"
)

// options are the seams tests use: a clock, the hand-over to the UI
// goroutine, and whether background clocks run.
type options struct {
	now          func() time.Time
	do           func(func()) // runs fn on the UI goroutine
	tickers      bool         // run the idle and status clocks
	serveControl bool         // answer "kmcr lock" on the control socket
}

// UI is the desktop interface for one profile.
type UI struct {
	app   fyne.App
	core  *core.Core
	win   fyne.Window
	opts  options
	theme *kmcrTheme

	// Everything below is touched on the UI goroutine only.
	gen        int       // screen generation: a lock makes older work stale
	screen     string    // name of the screen shown, for tests and the script
	locked     bool      // no patient data may be on screen
	lastActive time.Time // last user activity, for the inactivity lock
	pauseIdle  bool      // the first sync is running: nothing to hide, and locking would stop it
	lockDone   chan struct{}
	status     core.Status
	shell      *shell
	main       *mainScreen // nil while locked
	stops      []func()
	shortcuts  map[string]func()

	firstSyncCancel context.CancelFunc // stops the first sync that is running
	enrolPrefill    *core.EnrolRequest // what a failed enrolment had typed
	unlockShown     *unlockScreen      // the unlock screen on show, for tests and the script
	bgDialog        *breakGlassDialog  // the emergency access dialog on show, for tests and the script
	pageScroll      *container.Scroll  // the summary's scrolling page on show, for the keys that scroll it
	critical        fyne.CanvasObject  // the summary's critical line on show
	refreshing      bool               // a check for a newer copy of the open summary is running
	// reopen is the NHS number of the patient open when the window locked:
	// unlocking opens them again (read and audited afresh, banner first).
	// It is the only thing about a patient kept while locked.
	reopen record.NHSNumber
	// reopenIncident is the incident it was open for, if any: it is
	// opened again for that incident, if still open.
	reopenIncident string
}

// New makes the interface; ShowAndRun shows it.
//
// In a build with the screenshots tag, when the environment variable
// KMCR_UI_SCRIPT names a file, the window drives itself from it for a
// screenshot run (see script.go).
func New(a fyne.App, kc *core.Core) *UI {
	return newUI(a, kc, options{tickers: true, serveControl: true})
}

func newUI(a fyne.App, kc *core.Core, o options) *UI {
	if o.now == nil {
		o.now = time.Now
	}
	if o.do == nil {
		o.do = fyne.Do
	}
	u := &UI{app: a, core: kc, opts: o, win: a.NewWindow("kmcr: shared care record"), shortcuts: map[string]func(){}}
	u.theme = newTheme(a.Preferences().StringWithFallback(prefTheme, themeSystem), float32(a.Preferences().FloatWithFallback(prefTextScale, 1)))
	a.Settings().SetTheme(u.theme)
	u.win.Resize(fyne.NewSize(1180, 800))
	u.lastActive = o.now()
	u.registerShortcuts()
	u.win.Canvas().SetOnTypedKey(u.onCanvasKey)
	u.start()
	return u
}

// ShowAndRun shows the window and runs the event loop until it closes.
func (u *UI) ShowAndRun() {
	if u.opts.serveControl {
		ctx, stop := context.WithCancel(context.Background())
		served := make(chan struct{})
		u.background(func() {
			defer close(served)
			ctl, err := u.core.ListenControl()
			if err != nil {
				return // "kmcr lock" will say kmcr is not running; nothing else depends on it
			}
			_ = ctl.Serve(ctx)
		})
		u.stops = append(u.stops, func() { stop(); <-served })
	}
	if u.opts.tickers {
		u.startClocks()
	}
	u.startScript()
	u.win.ShowAndRun()
	for _, stop := range u.stops {
		stop()
	}
}

// do hands fn to the UI goroutine.
func (u *UI) do(fn func()) { u.opts.do(fn) }

// background runs fn off the UI goroutine.
func (u *UI) background(fn func()) { go fn() }

// later runs work in the background and then done on the UI goroutine,
// unless the screen generation changed (a lock) in between.
func later[T any](u *UI, work func() (T, error), done func(T, error)) {
	gen := u.gen
	u.background(func() {
		v, err := work()
		u.do(func() {
			if gen != u.gen {
				return
			}
			done(v, err)
		})
	})
}

// start shows the first screen the profile's state calls for, and follows
// the core's status from then on.
func (u *UI) start() {
	stop := u.core.Watch(func(st core.Status) { u.do(func() { u.onStatus(st) }) })
	u.stops = append(u.stops, stop)
	if !u.core.Enrolled() {
		u.showEnrol("")
		return
	}
	u.showUnlock("")
}

// startClocks runs the inactivity check and the status refresh.
func (u *UI) startClocks() {
	ctx, cancel := context.WithCancel(context.Background())
	u.stops = append(u.stops, cancel)
	go func() {
		idle := time.NewTicker(idleTick)
		status := time.NewTicker(statusTick)
		defer idle.Stop()
		defer status.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-idle.C:
				u.do(u.checkIdle)
			case <-status.C:
				st := u.core.Status()
				u.do(func() { u.onStatus(st) })
			}
		}
	}()
}

// onStatus follows the core: the status bar, a lock from "kmcr lock", and
// a wipe ordered by the server.
func (u *UI) onStatus(st core.Status) {
	u.status = st
	if u.shell != nil {
		u.shell.status.update(st, u.opts.now())
	}
	switch {
	case !st.Enrolled && u.screen != screenEnrol && u.screen != screenFirstSync:
		why := "This device's local data was wiped."
		if st.WipeReason != "" {
			why = "The server ordered this device's data wiped: " + st.WipeReason
		}
		u.lockScreenNow()
		u.showEnrol(why)
	case st.Locked && !u.locked && u.screen != screenEnrol && u.screen != screenFirstSync:
		// Locked from elsewhere ("kmcr lock"): hide everything now.
		u.lockScreenNow()
		u.showUnlock("Locked from the command line.")
	}
	if u.main != nil {
		u.main.onStatus(st)
	}
	u.refreshSummary()
}

// touch records user activity.
func (u *UI) touch() { u.lastActive = u.opts.now() }

// autolock is the inactivity limit from the server's policy.
func (u *UI) autolock() time.Duration {
	if s := u.core.Profile().Autolock; s > 0 {
		return time.Duration(s) * time.Second
	}
	return defaultAutolock
}

// checkIdle locks after the policy's inactivity limit.
func (u *UI) checkIdle() {
	if u.locked || u.pauseIdle {
		return
	}
	if u.opts.now().Sub(u.lastActive) >= u.autolock() {
		u.lock("Locked after " + humanDuration(u.autolock()) + " without activity.")
	}
}

// lock hides every piece of patient data at once, then locks the core (an
// audit event, sync stopped, every key forgotten) in the background.
func (u *UI) lock(why string) {
	if u.locked {
		return
	}
	u.lockScreenNow()
	done := make(chan struct{})
	u.lockDone = done
	u.background(func() {
		defer close(done)
		_ = u.core.Lock()
	})
	u.showUnlock(why)
}

// lockScreenNow replaces the content first, then removes dialogs and
// forgets every view, so no frame shows patient data after it returns.
func (u *UI) lockScreenNow() {
	u.gen++
	u.cancelFirstSync()
	if !u.locked && u.main != nil && u.main.view != nil && u.screen == screenSummary {
		u.reopen, u.reopenIncident = u.main.view.NHS, u.main.view.Incident
	}
	u.locked = true
	u.win.SetContent(container.NewCenter(widget.NewLabel("Locked")))
	ov := u.win.Canvas().Overlays()
	for ov.Top() != nil {
		ov.Remove(ov.Top())
	}
	if u.main != nil {
		u.main.drop()
	}
	u.main = nil
	u.shell = nil
	u.bgDialog = nil
	u.pageScroll = nil
	u.critical = nil
	u.showingPage(nil)
	u.unlockShown = nil
}

// unlocked is called once the core has opened the cache.
func (u *UI) unlocked() {
	u.locked = false
	u.touch()
	if !u.core.Profile().FirstSync {
		u.showFirstSync(nil)
		return
	}
	u.showMain()
	if n := u.reopen; n != "" {
		// Back to the patient that was open, through the same path as
		// opening them from the finder: audited, banner at the top.
		u.reopen = ""
		if id := u.reopenIncident; id != "" {
			u.reopenIncident = ""
			u.main.openForIncident(id, core.PatientEntry{NHS: n})
		} else {
			u.main.open(core.PatientEntry{NHS: n})
		}
	}
	u.background(func() {
		if err := u.core.ServeSync(context.Background()); err != nil && !errors.Is(err, core.ErrLocked) && !errors.Is(err, core.ErrSyncRunning) {
			st := u.core.Status()
			u.do(func() { u.onStatus(st) })
		}
	})
}

// setContent shows a full-window screen.
func (u *UI) setContent(name string, o fyne.CanvasObject) {
	u.screen = name
	u.win.SetContent(o)
}

// Screen names, for tests and the screenshot script.
const (
	screenEnrol     = "enrol"
	screenFirstSync = "first-sync"
	screenUnlock    = "unlock"
	screenMain      = "main"
	screenSummary   = "summary"
	screenSettings  = "settings"
)

// friendlyError turns core errors into what a user can act on.
func friendlyError(err error) string {
	var re *core.RetryError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &re) && errors.Is(err, core.ErrTooSoon):
		return "Too many wrong passphrases: wait before trying again."
	case errors.Is(err, core.ErrWrongPassphrase):
		return "Wrong passphrase. Check Caps Lock and try again."
	case errors.Is(err, core.ErrAlreadyRunning):
		return "kmcr is already open with this profile (another window or \"kmcr sync\"). Close it and try again."
	case errors.Is(err, core.ErrLocked):
		return "kmcr is locked."
	}
	return err.Error()
}
