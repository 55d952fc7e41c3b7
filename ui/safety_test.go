package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/present"
	"kmcr/record"
)

// screen1280 is the laptop screen of the tests.
var screen1280 = fyne.NewSize(1280, 800)

// absolute is o's position in the window.
func absolute(o fyne.CanvasObject) fyne.Position {
	return fyne.CurrentApp().Driver().AbsolutePositionForObject(o)
}

// objectWithText finds the first laid-out RichText under root whose text
// holds s.
func objectWithText(root fyne.CanvasObject, s string) fyne.CanvasObject {
	for _, o := range test.LaidOutObjects(root) {
		if rt, ok := o.(*widget.RichText); ok && o.Visible() && strings.Contains(rt.String(), s) {
			return o
		}
	}
	return nil
}

// press types a key on the window as the driver does when no widget has
// the focus.
func (h *harness) press(k fyne.KeyName) {
	h.ui(func() { h.u.win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: k}) })
}

// TestSummary_DNACPRAndAllergiesStayInViewWhenScrolledToMedicines is the
// defect "scrolling to medicines takes the DNACPR bar out of view,
// PageDown and the arrow keys do not scroll": the critical line (DNACPR,
// the worst allergy first, safeguarding) sits under the banner outside the
// scrolling page, inside the window at the top and after End, and the
// keys move the page.
func TestSummary_DNACPRAndAllergiesStayInViewWhenScrolledToMedicines(t *testing.T) {
	h := fixtureHarness(t)
	h.ui(func() { h.u.win.Resize(screen1280) })
	h.showFixture(fixtureView())
	check := func(when string) {
		h.ui(func() {
			c := h.u.critical
			if c == nil {
				t.Fatalf("%s: the summary has no critical line", when)
			}
			for _, want := range []string{"DNACPR", "Penicillin (severe, high criticality)", "Safeguarding"} {
				o := objectWithText(c, want)
				if o == nil {
					t.Fatalf("%s: the critical line does not show %q", when, want)
				}
				p := absolute(o)
				if p.Y < 0 || p.Y+o.Size().Height > screen1280.Height || p.X+o.Size().Width > screen1280.Width {
					t.Errorf("%s: %q is at %v size %v, outside the %v window", when, want, p, o.Size(), screen1280)
				}
			}
			for _, o := range test.LaidOutObjects(h.u.pageScroll) {
				if o == c {
					t.Fatalf("%s: the critical line scrolls with the page", when)
				}
			}
		})
	}
	check("at the top")
	offset := func() float32 {
		var y float32
		h.ui(func() { y = h.u.pageScroll.Offset.Y })
		return y
	}
	h.press(fyne.KeyDown)
	if offset() <= 0 {
		t.Fatalf("Down does not scroll the summary")
	}
	h.press(fyne.KeyPageDown)
	afterPage := offset()
	h.press(fyne.KeyPageUp)
	if afterPage <= offset() {
		t.Errorf("PageUp does not scroll back (%v then %v)", afterPage, offset())
	}
	h.press(fyne.KeyEnd)
	end := offset()
	if end <= afterPage {
		t.Errorf("End scrolls to %v, not past PageDown's %v", end, afterPage)
	}
	check("scrolled to the end")
	h.press(fyne.KeyHome)
	if offset() != 0 {
		t.Errorf("Home leaves the summary at %v", offset())
	}
}

// TestSummary_MedicinesAboveTheCharts is the defect "medicines sit below
// the observation charts": on the first screen come alerts, allergies and
// current medicines; the charts come below them.
func TestSummary_MedicinesAboveTheCharts(t *testing.T) {
	h := fixtureHarness(t)
	h.ui(func() { h.u.win.Resize(screen1280) })
	h.showFixture(fixtureView())
	h.ui(func() {
		y := map[string]float32{}
		for _, o := range test.LaidOutObjects(h.u.pageScroll) {
			if c, ok := o.(*sectionCard); ok {
				y[c.name] = absolute(c).Y
			}
		}
		meds, obs, allergies := y["medications"], y["observations"], y["allergies"]
		if meds == 0 || obs == 0 || allergies == 0 {
			t.Fatalf("sections laid out: %v", y)
		}
		if !(allergies < meds && meds < obs) {
			t.Errorf("allergies at %v, medicines at %v, observations at %v: medicines must come before the charts", allergies, meds, obs)
		}
		if meds >= screen1280.Height {
			t.Errorf("current medicines start at %v, below the first screen of %v", meds, screen1280.Height)
		}
	})
}

// TestSummary_MildAllergyLooksDifferentFromHighCriticality is the defect
// "MILD — Itching and SEVERE — HIGH CRITICALITY — Allergic angioedema look
// the same": only the allergy that may kill gets the filled HIGH RISK
// badge, in the section and on the critical line, and the mild one's
// words are not red.
func TestSummary_MildAllergyLooksDifferentFromHighCriticality(t *testing.T) {
	h := fixtureHarness(t)
	h.showFixture(fixtureView()) // Penicillin: severe, high criticality, anaphylaxis; Latex: mild, rash
	h.ui(func() {
		badges := 0
		for _, o := range test.LaidOutObjects(h.u.win.Content()) {
			if rt, ok := o.(*widget.RichText); ok && rt.String() == "HIGH RISK" {
				badges++
			}
		}
		if badges != 2 {
			t.Errorf("%d HIGH RISK badges; want 2 (Penicillin in the critical line and in Allergies)", badges)
		}
		for _, o := range test.LaidOutObjects(h.u.pageScroll) {
			rt, ok := o.(*widget.RichText)
			if !ok {
				continue
			}
			for _, seg := range rt.Segments {
				if ts, ok := seg.(*widget.TextSegment); ok && ts.Text == "   MILD — Rash" && ts.Style.ColorName == levelColour(present.Danger) {
					t.Errorf("the mild allergy is drawn in red")
				}
			}
		}
	})
}

// TestSummary_BreakGlassShowsDNACPRAboveTheAdministrativeBars is the
// defect "on a break-glass summary the administrative bars sit above
// DNACPR".
func TestSummary_BreakGlassShowsDNACPRAboveTheAdministrativeBars(t *testing.T) {
	h := fixtureHarness(t)
	v := fixtureView()
	v.BreakGlass = true
	h.showFixture(v)
	h.ui(func() {
		var dn, bg fyne.CanvasObject
		for _, o := range test.LaidOutObjects(h.u.pageScroll) {
			if rt, ok := o.(*widget.RichText); ok {
				switch {
				case strings.HasPrefix(rt.String(), "EMERGENCY ACCESS"):
					bg = o
				case strings.HasPrefix(rt.String(), "DNACPR  "):
					dn = o
				}
			}
		}
		if dn == nil || bg == nil {
			t.Fatalf("DNACPR %v, emergency access %v", dn, bg)
		}
		if absolute(dn).Y >= absolute(bg).Y {
			t.Errorf("DNACPR at %v is not above the emergency access bar at %v", absolute(dn).Y, absolute(bg).Y)
		}
	})
}

// key types k where the keyboard focus is, as the driver does: to the
// focused widget, or to the window when none has it.
func (h *harness) key(k fyne.KeyName) {
	h.ui(func() {
		ev := &fyne.KeyEvent{Name: k}
		if f := h.u.win.Canvas().Focused(); f != nil {
			f.TypedKey(ev)
			return
		}
		h.u.win.Canvas().OnTypedKey()(ev)
	})
}

// typeQuery replaces the search box's text as a person would: Ctrl+F,
// select, type.
func (h *harness) typeQuery(q string) {
	h.ui(func() {
		h.u.goSearch()
		h.u.main.query.SetText("")
		test.Type(h.u.main.query, q)
	})
}

// wrongCheckDigit is n with its check digit changed: what a slip of the
// finger gives.
func wrongCheckDigit(n string) string {
	d := []byte(n)
	d[9] = '0' + (d[9]-'0'+1)%10
	return string(d[:3]) + " " + string(d[3:6]) + " " + string(d[6:])
}

// opened waits for the summary and returns the NHS number it shows.
func (h *harness) opened() string {
	h.t.Helper()
	h.waitScreen(screenSummary)
	var n string
	h.ui(func() { n = h.u.main.view.NHS.Digits() })
	return n
}

// TestFinder_InvalidNHSNumberAfterASearchOpensNobody is the defect "after
// an invalid search (a wrong check digit) the previous results stay listed
// and selectable: Down and Enter opened the patient from the search
// before". Typing into the box empties the list at once; Enter on an
// invalid number lists nobody; Down and Enter then open nothing.
func TestFinder_InvalidNHSNumberAfterASearchOpensNobody(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.search(fixture.richName)
	h.ui(func() {
		if len(h.u.main.results.rows) == 0 {
			t.Fatalf("searching %q found nobody", fixture.richName)
		}
	})
	h.typeQuery(wrongCheckDigit(fixture.rich.Digits()))
	h.ui(func() {
		if n := len(h.u.main.results.rows); n != 0 {
			t.Errorf("after typing a new query %d rows of the old search are still listed", n)
		}
	})
	h.key(fyne.KeyReturn)
	h.key(fyne.KeyDown)
	h.key(fyne.KeyReturn)
	h.ui(func() {
		if n := len(h.u.main.results.rows); n != 0 {
			t.Errorf("after an invalid NHS number %d rows are listed", n)
		}
		if h.u.screen != screenMain {
			t.Errorf("Down and Enter after an invalid NHS number opened %s", h.u.main.view.NHS)
		}
		if h.u.win.Canvas().Focused() != h.u.main.query {
			t.Errorf("the focus left the search box")
		}
	})
	mustContain(t, h.text(), "is not a valid NHS number, so nothing was searched")
}

// TestFinder_HintFollowedLiterallyOpensTheFirstPatient is the defect "the
// hint says Enter searches; Down moves to the results; Enter opens, but
// Enter already highlights the first row, so Down lands on the second".
// The hint says what the keys do, and doing exactly that opens the first
// patient listed.
func TestFinder_HintFollowedLiterallyOpensTheFirstPatient(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.ui(func() {
		if got := h.u.main.hint.String(); got != keyHint {
			t.Errorf("hint %q; want %q", got, keyHint)
		}
	})
	h.typeQuery(fixture.richName[:3]) // a short name: several patients
	h.key(fyne.KeyReturn)
	h.waitFor("search results", func() bool { return !h.u.main.busy.Visible() && len(h.u.main.results.rows) > 0 })
	var first string
	h.ui(func() {
		first = h.u.main.results.rows[0].entry.NHS.Digits()
		if len(h.u.main.results.rows) < 2 {
			t.Logf("only one patient listed: the test shows less than it could")
		}
	})
	h.key(fyne.KeyDown)
	h.key(fyne.KeyReturn)
	if got := h.opened(); got != first {
		t.Errorf("following the hint opened %s, not the first patient listed %s", got, first)
	}
}

// TestRecent_HintFollowedLiterallyOpensTheFirstPatient is the same defect
// on the Recent tab: Ctrl+2, Down, Enter opens the newest patient.
func TestRecent_HintFollowedLiterallyOpensTheFirstPatient(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.openNHS(fixture.nka)
	h.ui(h.u.goSearch)
	h.openNHS(fixture.rich) // the newest
	h.ui(func() { h.u.showTab(tabRecent) })
	h.waitFor("the recent list", func() bool { return len(h.u.main.recent.rows) >= 2 })
	h.key(fyne.KeyDown)
	h.key(fyne.KeyReturn)
	if got := h.opened(); got != fixture.rich.Digits() {
		t.Errorf("Ctrl+2, Down, Enter opened %s, not the newest recent patient %s", got, fixture.rich.Digits())
	}
}

// ctrlE types Ctrl+E where the keyboard focus is (Fyne offers shortcuts
// to the focused widget first), or on the window.
func (h *harness) ctrlE() {
	h.ui(func() {
		sc := &desktop.CustomShortcut{KeyName: fyne.KeyE, Modifier: ctrl}
		if f, ok := h.u.win.Canvas().Focused().(fyne.Shortcutable); ok {
			f.TypedShortcut(sc)
			return
		}
		h.u.runShortcut(sc)
	})
}

// typeHere types s into the focused widget, as a keyboard does.
func (h *harness) typeHere(s string) {
	h.ui(func() {
		f := h.u.win.Canvas().Focused()
		if f == nil {
			h.t.Fatalf("typing %q with nothing focused", s)
		}
		for _, r := range s {
			f.TypedRune(r)
		}
	})
}

// dialogs counts the window's overlays.
func (h *harness) dialogs() int {
	var n int
	h.ui(func() { n = len(h.u.win.Canvas().Overlays().List()) })
	return n
}

// insideWindow fails unless o lies wholly inside the window.
func insideWindow(t *testing.T, what string, o fyne.CanvasObject, win fyne.Size) {
	t.Helper()
	p, s := absolute(o), o.Size()
	if p.X < 0 || p.Y < 0 || p.X+s.Width > win.Width || p.Y+s.Height > win.Height || s.Width == 0 {
		t.Errorf("%s at %v size %v is not wholly inside the %v window", what, p, s, win)
	}
}

// TestBreakGlass_DialogFitsTheScreenWithFocusOnTheFirstField is the
// defect "focus lands below the visible part ... Open is half under the
// scroll bar": on 1280 x 800 at the largest text, the dialog, its first
// field (which has the focus) and Open are on the screen, and Open is not
// inside the scrolling part.
func TestBreakGlass_DialogFitsTheScreenWithFocusOnTheFirstField(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.ui(func() {
		h.u.win.Resize(screen1280)
		h.u.setTextScale(maxTextScale)
	})
	h.ctrlE()
	h.waitFor("the dialog", func() bool { return h.u.bgDialog != nil })
	h.ui(func() {
		b := h.u.bgDialog
		if h.u.win.Canvas().Focused() != b.nhs {
			t.Errorf("the focus is on %T, not the NHS number", h.u.win.Canvas().Focused())
		}
		insideWindow(t, "the NHS number field", b.nhs, screen1280)
		insideWindow(t, "Open", b.open, screen1280)
		for _, o := range test.LaidOutObjects(b.scroll) {
			if o == b.open {
				t.Error("Open scrolls with the fields, under the scroll bar")
			}
		}
	})
}

// TestBreakGlass_TabMovesBetweenFieldsAndEscCancels is the defect "Tab
// inside the reason box types a tab so the reason list and Open cannot be
// reached by keyboard, Esc does nothing".
func TestBreakGlass_TabMovesBetweenFieldsAndEscCancels(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.ctrlE()
	h.waitFor("the dialog", func() bool { return h.u.bgDialog != nil })
	h.ui(func() {
		b := h.u.bgDialog
		if b.text.AcceptsTab() {
			t.Error("the reason box takes Tab as text")
		}
		c := h.u.win.Canvas()
		seen := map[fyne.Focusable]bool{}
		for i := 0; i < 20; i++ {
			seen[c.Focused()] = true
			c.FocusNext()
		}
		if !seen[b.nhs] || !seen[b.reasons.rows[0]] || !seen[b.text] || !seen[b.open] && !b.open.Disabled() {
			t.Errorf("Tab does not reach every field (NHS %v, reasons %v, text %v)", seen[b.nhs], seen[b.reasons.rows[0]], seen[b.text])
		}
	})
	h.key(fyne.KeyEscape)
	h.ui(func() {
		if h.u.bgDialog != nil {
			t.Error("Esc leaves the dialog open")
		}
	})
	if n := h.dialogs(); n != 0 {
		t.Errorf("%d overlays after Esc", n)
	}
}

// TestBreakGlass_CtrlETwiceShowsOneDialog is the defect "Ctrl+E again
// stacks a second dialog".
func TestBreakGlass_CtrlETwiceShowsOneDialog(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.ctrlE()
	h.waitFor("the dialog", func() bool { return h.u.bgDialog != nil })
	h.ctrlE()
	h.ui(func() { h.u.breakGlassShortcut() })
	if n := h.dialogs(); n != 1 {
		t.Errorf("%d dialogs after Ctrl+E three times; want 1", n)
	}
}

// TestBreakGlass_KeyboardAloneWithACodedReasonAndNoDialogLeft is the
// defects "free text is demanded even after a coded reason" and "a second
// dialog stays over the summary after access is granted": Ctrl+E, the NHS
// number, Enter, Down to a coded reason, Enter: the summary is open under
// emergency access, with no dialog over it.
func TestBreakGlass_KeyboardAloneWithACodedReasonAndNoDialogLeft(t *testing.T) {
	h := unlocked(t, freshUser(t, "paramedic"))
	h.waitFor("the connection", func() bool { return h.u.status.State == core.SyncUpToDate })
	h.ctrlE()
	h.waitFor("the dialog", func() bool { return h.u.bgDialog != nil })
	h.ctrlE() // a second press must not stack another
	h.typeHere(fixture.uncached.Digits())
	h.key(fyne.KeyReturn) // to the reasons
	h.key(fyne.KeyDown)   // the second coded reason
	h.key(fyne.KeyReturn) // choose it and confirm
	h.waitScreen(screenSummary)
	if n := h.dialogs(); n != 0 {
		t.Errorf("%d dialogs over the summary after access was granted", n)
	}
	h.ui(func() {
		if !h.u.main.view.BreakGlass || h.u.main.view.NHS != fixture.uncached {
			t.Errorf("opened %s (break-glass %v)", h.u.main.view.NHS, h.u.main.view.BreakGlass)
		}
	})
}

// TestUnlock_WrongPassphraseMessageCountsAndSaysWhenTheWaitBegins is the
// defect "the wrong-passphrase message never counts": each wrong attempt
// says how many there have been in a row and when the waits begin.
func TestUnlock_WrongPassphraseMessageCountsAndSaysWhenTheWaitBegins(t *testing.T) {
	p := newProfile(t)
	p.enrol(t, userParamedic)
	h := newHarness(t, p.openCore(t))
	want := []string{
		"Wrong passphrase: 1 wrong attempt in a row. Check Caps Lock. 2 more wrong attempts without a wait",
		"Wrong passphrase: 2 wrong attempts in a row. Check Caps Lock. 1 more wrong attempt without a wait",
		"Wrong passphrase: 3 wrong attempts in a row. Check Caps Lock. One more wrong attempt and a wait of 1 second begins",
	}
	for i, w := range want {
		h.unlock("not my passphrase")
		h.waitFor(fmt.Sprintf("message %d", i+1), func() bool {
			return strings.Contains(strings.Join(texts(h.u.win.Content()), "\n"), w)
		})
		h.waitFor("the entry to be usable", func() bool { return !h.u.unlockShown.pass.Disabled() })
	}
	h.unlock("still not it")
	h.waitFor("the countdown", func() bool {
		return strings.Contains(strings.Join(texts(h.u.win.Content()), "\n"), "4 wrong attempts in a row")
	})
}

// socketError is what the status bar used to print when offline.
const socketError = "offline: server unreachable: dial tcp 127.0.0.1:19443: connect: connection refused"

// offlineStatus is an offline status with a long socket error.
func offlineStatus(now time.Time) core.Status {
	return core.Status{Enrolled: true, FirstSyncComplete: true, Connection: socketError, State: core.SyncOffline, Error: socketError,
		LastUpToDate: now.Add(-time.Hour), CachedPatients: 2000, PendingAuditEvents: 12, OldestPendingAudit: now.Add(-3 * time.Hour),
		LeaseExpiringSoon: true, SoonestLeaseExpiry: now.Add(2 * time.Hour)}
}

// TestStatusBar_OfflineInPlainWordsWithTheErrorOneClickAway is the defect
// "offline the status bar reads 'offline: server unreachable: dial tcp
// ...' and the 'as of' time disappears": it says since when it is offline
// and when the summaries were last checked; the socket error is under
// Details.
func TestStatusBar_OfflineInPlainWordsWithTheErrorOneClickAway(t *testing.T) {
	h := unlocked(t, userParamedic)
	now := h.clock()
	h.ui(func() {
		h.u.onStatus(offlineStatus(now))
		bar := strings.Join(texts(h.u.shell.status.root), "\n")
		want := "Offline since " + clock(now, now) + "; summaries last checked " + clock(now.Add(-time.Hour), now)
		if !strings.Contains(bar, want) {
			t.Errorf("the status bar does not say %q:\n%s", want, bar)
		}
		if strings.Contains(bar, "dial tcp") {
			t.Errorf("the status bar shows the socket error:\n%s", bar)
		}
		test.Tap(h.u.shell.status.details)
	})
	mustContain(t, h.text(), "Last error: "+socketError)
}

// TestStatusBar_OneExpiringCopyRaisesNoScreenWideWarning is the defect
// "one break-glass record raises a permanent, screen-wide 'Offline copies
// start to expire'": the warning is the patient's own, on their summary;
// the status bar keeps the soonest expiry under Details.
func TestStatusBar_OneExpiringCopyRaisesNoScreenWideWarning(t *testing.T) {
	test.NewTempApp(t)
	s := newStatusBar()
	st := offlineStatus(fixedNow)
	s.update(st, fixedNow)
	if n := len(s.warnings.Objects); n != 0 {
		t.Errorf("%d screen-wide warnings for one expiring copy: %v", n, texts(s.warnings))
	}
	mustContain(t, s.detail, "The first offline copy expires at")
	v := fixtureView()
	v.NotAfter = fixedNow.Add(2 * time.Hour)
	pv := v.Present(fixedNow)
	found := false
	for _, n := range pv.Notices {
		found = found || n.Key == "lease"
	}
	if !found {
		t.Errorf("the expiring patient's own summary does not warn: %+v", pv.Notices)
	}
}

// TestWindow_LongStatusNeverWidensTheWindowAtAnyTextSize is the defect "a
// long offline status message widened the window to 1,460 px on a 1,280 px
// screen, and at 180% text to 1,677 px": at every text size from 100% to
// 200%, the summary with a long status needs no more than 1,280 px, and
// the banner, the critical line and the status bar lie within it.
func TestWindow_LongStatusNeverWidensTheWindowAtAnyTextSize(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.openNHS(fixture.rich)
	now := h.clock()
	for scale := float32(1); scale <= maxTextScale+0.01; scale += 0.2 {
		h.ui(func() {
			h.u.setTextScale(scale)
			h.u.onStatus(offlineStatus(now))
			h.u.win.Resize(screen1280)
			if w := h.u.win.Content().MinSize().Width; w > screen1280.Width {
				t.Errorf("at %.0f%% text the window needs %.0f px", scale*100, w)
			}
			insideWindow(t, fmt.Sprintf("the status bar at %.0f%%", scale*100), h.u.shell.status.root, screen1280)
			insideWindow(t, fmt.Sprintf("the critical line at %.0f%%", scale*100), h.u.critical, screen1280)
		})
	}
}

// TestLock_UnlockReturnsToThePatientThatWasOpen is the defect "after Ctrl+L
// and unlock the open patient is gone": the summary comes back, banner
// first, read again through the finder's audited path; nothing of it is on screen while locked.
func TestLock_UnlockReturnsToThePatientThatWasOpen(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.openNHS(fixture.rich)
	h.ui(func() { h.u.lock("Locked.") })
	h.waitScreen(screenUnlock)
	mustNotContain(t, h.text(), fixture.rich.String())
	h.unlock(testPassphrase)
	if got := h.opened(); got != fixture.rich.Digits() {
		t.Fatalf("unlocking opened %s, not %s", got, fixture.rich.Digits())
	}
	mustContain(t, h.text(), fixture.rich.String())
}

// richEntry is the rich patient's index entry.
func (h *harness) richEntry() core.PatientEntry {
	h.t.Helper()
	res, err := h.core.Search(fixture.rich.Digits(), 1)
	if err != nil || len(res.Entries) != 1 {
		h.t.Fatalf("core search: %v %v", res, err)
	}
	return res.Entries[0]
}

// listed reports whether the results list shows n.
func (h *harness) listed(n record.NHSNumber) bool {
	found := false
	h.ui(func() {
		for _, r := range h.u.main.results.rows {
			found = found || r.entry.NHS == n
		}
	})
	return found
}

// TestSearch_GivenAndFamilyInEitherOrderFindThePatient is the defect
// "'shirley smith' and 'smith shirley' find nothing although she is on the
// device; 'dabrowski 12031948' is not understood": names in either order,
// with or without a date of birth in each form people type, find the
// patient.
func TestSearch_GivenAndFamilyInEitherOrderFindThePatient(t *testing.T) {
	h := unlocked(t, userParamedic)
	e := h.richEntry()
	given := strings.Fields(e.Given)[0]
	d := record.ParseDate(e.BirthDate).Time
	for _, q := range []string{
		given + " " + e.Family,
		e.Family + " " + given,
		strings.ToLower(e.Family + " " + given + " " + d.Format("02/01/2006")),
		e.Family + " " + d.Format("02012006"),
		e.Family + " " + d.Format("02.01.2006"),
		e.Family + " " + d.Format("2 Jan 2006"),
		e.Family + " " + d.Format("2006-01-02"),
		e.Family[:3],
	} {
		t.Run(q, func(t *testing.T) {
			h.search(q)
			if !h.listed(fixture.rich) {
				t.Errorf("searching %q did not find %s:\n%s", q, fixture.rich, h.text())
			}
			mustNotContain(t, h.text(), "not understood")
		})
	}
}

// TestSearch_NotUnderstoodIsSaidOnceWithAnExample is the defect "Search
// not understood: search not understood: ...".
func TestSearch_NotUnderstoodIsSaidOnceWithAnExample(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.search("smith 31/02/1962")
	text := h.text()
	if n := strings.Count(strings.ToLower(text), "not understood"); n != 1 {
		t.Errorf("the error is said %d times:\n%s", n, text)
	}
	mustContain(t, text, "Try an NHS number (943 476 5919), a name with a date of birth")
}

// TestSearch_CloseMatchIsOfferedBeforeBreakGlass is the defect "the screen
// then offers break-glass" when the patient is on the device under a
// slightly different date of birth: "Did you mean ...?" comes first, with
// the patient listed.
func TestSearch_CloseMatchIsOfferedBeforeBreakGlass(t *testing.T) {
	h := unlocked(t, userParamedic)
	e := h.richEntry()
	d := record.ParseDate(e.BirthDate).Time.AddDate(1, 0, 0) // the year mistyped
	h.search(e.Family + " " + strings.Fields(e.Given)[0] + " " + d.Format("02/01/2006"))
	text := h.text()
	mustContain(t, text, "No patient found on this device", "Did you mean "+entryName(e))
	if !h.listed(fixture.rich) {
		t.Errorf("the close match is not listed:\n%s", text)
	}
	if i, j := strings.Index(text, "Did you mean"), strings.Index(text, "emergency access"); j >= 0 && j < i {
		t.Errorf("emergency access is offered before the close match:\n%s", text)
	}
}

// TestFinder_LookAlikesAreFlaggedInBothRows is the defect "look-alikes sit
// side by side" (SMITH, Shirley, 19-May-1930 next to SMITH, Valerie Irene,
// 20-May-1930, both Ashford): both rows say "similar record on this
// device"; a row without a look-alike does not.
func TestFinder_LookAlikesAreFlaggedInBothRows(t *testing.T) {
	h := fixtureHarness(t)
	var l *resultList
	h.ui(func() {
		l = newResultList(h.u, "", nil)
		l.set([]core.PatientEntry{
			{NHS: "9990000018", Family: "SMITH", Given: "Shirley", BirthDate: "1930-05-19", Postcode: "TN23 1AA", SimilarOnDevice: true},
			{NHS: "9990000026", Family: "SMITH", Given: "Valerie Irene", BirthDate: "1930-05-20", Postcode: "TN23 4ZZ", SimilarOnDevice: true},
			{NHS: "9990000034", Family: "JONES", Given: "Ann", BirthDate: "1951-01-01", Postcode: "ME7 2JH"},
		})
		h.u.setContent("list", l.root)
	})
	for i, want := range []bool{true, true, false} {
		var got bool
		h.ui(func() { got = strings.Contains(strings.Join(texts(l.rows[i]), "\n"), "Similar record on this device") })
		if got != want {
			t.Errorf("row %d flagged %v; want %v", i, got, want)
		}
	}
}
