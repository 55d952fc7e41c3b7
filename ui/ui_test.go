package ui

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"

	"kmcr/core"
	"kmcr/record"
)

// mustContain fails unless text holds every want.
func mustContain(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("the window does not show %q; it shows:\n%s", w, text)
		}
	}
}

// mustNotContain fails if text holds any of bad.
func mustNotContain(t *testing.T, text string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(text, b) {
			t.Errorf("the window shows %q, which it must not; it shows:\n%s", b, text)
		}
	}
}

// TestEnrol_FormThenFirstSync enrols through the form: the passphrase hint
// and match check, a refused incomplete form, then the first sync's
// progress screen and the main screen with the patients stored.
func TestEnrol_FormThenFirstSync(t *testing.T) {
	p := newProfile(t)
	h := newHarness(t, p.openCore(t))
	h.waitScreen(screenEnrol)
	var s *enrolScreen
	h.ui(func() {
		for _, o := range test.LaidOutObjects(h.u.win.Canvas().Content()) {
			if b, ok := o.(*entry); ok && b.PlaceHolder == "wss://kmcr.example.nhs.uk:8443" {
				b.SetText(fixture.url)
			}
		}
	})
	// Find the form through the screen's own fields.
	h.ui(func() { s = findEnrolScreen(h.u) })
	h.ui(func() {
		test.Type(s.pass1, "short")
		test.Type(s.pass2, "shorter")
		s.btn.OnTapped()
	})
	mustContain(t, h.text(), "Too short: at least 8 characters", "The passphrases do not match.", "Choose the server's CA certificate file.")
	h.ui(func() {
		s.ca.SetText(fixture.ca)
		s.user.SetText(userParamedic)
		s.password.SetText(testPassword)
		s.pass1.SetText(testPassphrase)
		s.pass2.SetText(testPassphrase)
	})
	mustContain(t, h.text(), "Strength:", "The passphrases match.")
	h.ui(func() { s.btn.OnTapped() })
	h.waitScreen(screenMain)
	if !h.core.Profile().FirstSync {
		t.Fatal("the first sync is not marked complete")
	}
	if n := h.core.Status().CachedPatients; n == 0 {
		t.Fatal("no patients were stored")
	}
	h.waitFor("the status bar count", func() bool {
		return strings.Contains(strings.Join(texts(h.u.shell.status.root), " "), "on this device")
	})
}

// TestEnrol_SeveralServers: the server field takes the addresses of
// several nodes separated by commas; the first is not answering, so the
// enrolment goes through the second, and the profile keeps both.
func TestEnrol_SeveralServers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "wss://" + ln.Addr().String()
	ln.Close()
	p := newProfile(t)
	h := newHarness(t, p.openCore(t))
	h.waitScreen(screenEnrol)
	var s *enrolScreen
	h.ui(func() { s = findEnrolScreen(h.u) })
	h.ui(func() {
		s.server.SetText(dead + ", https://wrong")
		s.ca.SetText(fixture.ca)
		s.user.SetText(userParamedic)
		s.password.SetText(testPassword)
		s.pass1.SetText(testPassphrase)
		s.pass2.SetText(testPassphrase)
		s.btn.OnTapped()
	})
	mustContain(t, h.text(), "separate the addresses of several nodes with commas")
	h.ui(func() {
		s.server.SetText(dead + ", " + fixture.url)
		s.password.SetText(testPassword)
		s.btn.OnTapped()
	})
	h.waitScreen(screenMain)
	if got := h.core.Profile().Servers; len(got) != 2 || got[0] != dead || got[1] != fixture.url {
		t.Fatalf("profile servers %q", got)
	}
	if got := h.core.Status().Server; got != fixture.url {
		t.Fatalf("server in use %q; want %q", got, fixture.url)
	}
}

// findEnrolScreen recovers the enrolment form from the window.
func findEnrolScreen(u *UI) *enrolScreen {
	s := &enrolScreen{}
	for _, o := range test.LaidOutObjects(u.win.Canvas().Content()) {
		e, ok := o.(*entry)
		if !ok {
			continue
		}
		switch e.PlaceHolder {
		case "wss://kmcr.example.nhs.uk:8443":
			s.server = e
		case "the server's CA certificate (PEM file)":
			s.ca = e
		case "your user name":
			s.user = e
		case "your care record password":
			s.password = e
		case "a phrase of several words":
			s.pass1 = e
		case "the same phrase again":
			s.pass2 = e
		}
	}
	for _, o := range test.LaidOutObjects(u.win.Canvas().Content()) {
		if b, ok := o.(*buttonT); ok && b.Text == "Enrol this device" {
			s.btn = b
		}
	}
	return s
}

// TestFirstSync_ResumesAfterRestart enrols with a first sync stopped
// before any batch arrived (as if the signal went, or the user cancelled),
// then opens a new window on the profile: unlocking continues the first
// sync and ends on the main screen with the patients stored.
func TestFirstSync_ResumesAfterRestart(t *testing.T) {
	p := newProfile(t)
	p.enrolIncomplete(t, userCommunity)
	kc := p.openCore(t)
	if kc.Profile().FirstSync {
		t.Fatal("the first sync finished although it was cancelled")
	}
	h := newHarness(t, kc)
	h.unlock(testPassphrase)
	h.waitScreen(screenMain)
	if !kc.Profile().FirstSync || kc.Status().CachedPatients == 0 {
		t.Fatalf("after the resumed first sync: complete %v, %d patients", kc.Profile().FirstSync, kc.Status().CachedPatients)
	}
}

// TestFirstSync_CancelShowsResume cancels the first sync as soon as its
// screen starts it: the screen says it paused and offers Resume, which
// finishes it.
func TestFirstSync_CancelShowsResume(t *testing.T) {
	p := newProfile(t)
	p.enrolIncomplete(t, userCommunity)
	kc := p.openCore(t)
	h := newHarness(t, kc)
	h.mu.Lock()
	h.afterDo = func() {
		if h.u.screen == screenFirstSync && h.u.firstSyncCancel != nil {
			h.u.cancelFirstSync() // the Cancel button's action, before any batch
			h.afterDo = nil
		}
	}
	h.mu.Unlock()
	h.unlock(testPassphrase)
	h.waitFor("the paused first sync", func() bool {
		return strings.Contains(strings.Join(texts(h.u.win.Content()), "\n"), "Paused.")
	})
	mustContain(t, h.text(), "Resume the first sync", "Continue with what has arrived")
	h.ui(func() {
		for _, o := range test.LaidOutObjects(h.u.win.Content()) {
			if b, ok := o.(*buttonT); ok && b.Text == "Resume the first sync" {
				test.Tap(b)
			}
		}
	})
	h.waitScreen(screenMain)
	if !kc.Profile().FirstSync {
		t.Fatal("Resume did not complete the first sync")
	}
}

// TestUnlock_OpensMainScreen unlocks an enrolled profile; the search box
// has the keyboard focus.
func TestUnlock_OpensMainScreen(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.ui(func() {
		if h.u.win.Canvas().Focused() != h.u.main.query {
			t.Error("the search box does not have the keyboard focus after unlock")
		}
	})
	mustContain(t, h.text(), "Find a patient", userParamedic, "Paramedic", "Lock  (Ctrl+L)")
}

// TestUnlock_WrongPassphraseCountsDown checks the message for a wrong
// passphrase, the countdown once the cache imposes a wait, and that the
// right passphrase works after it.
func TestUnlock_WrongPassphraseCountsDown(t *testing.T) {
	p := newProfile(t)
	p.enrol(t, userParamedic)
	h := newHarness(t, p.openCore(t))
	for i := 0; i < 3; i++ {
		h.unlock("not my passphrase")
		h.waitFor("the wrong-passphrase message", func() bool { return strings.Contains(strings.Join(texts(h.u.win.Content()), "\n"), "Wrong passphrase") })
		h.waitFor("the entry to be usable", func() bool { return !h.u.unlockShown.pass.Disabled() })
	}
	mustContain(t, h.text(), "Wrong passphrase: 3 wrong attempts in a row.", "One more wrong attempt and a wait of 1 second begins")
	h.unlock("still not it")
	h.waitFor("the countdown", func() bool {
		return strings.Contains(strings.Join(texts(h.u.win.Content()), "\n"), "You can try again in 1 second")
	})
	h.ui(func() {
		if !h.u.unlockShown.btn.Disabled() {
			t.Error("the Unlock button is enabled during the wait")
		}
	})
	h.advance(2 * time.Second)
	time.Sleep(1500 * time.Millisecond) // the countdown ticks each second of real time
	h.waitFor("the end of the wait", func() bool { return !h.u.unlockShown.btn.Disabled() })
	mustContain(t, h.text(), "You can try again now.")
	h.unlock(testPassphrase)
	h.waitScreen(screenMain)
}

// TestSearch_NHSNumberCheckedAsTyped shows the check digit verdict while
// typing, and refuses to search (or audit) an invalid number.
func TestSearch_NHSNumberCheckedAsTyped(t *testing.T) {
	h := unlocked(t, userParamedic)
	hint := func(typed string) string {
		var s string
		h.ui(func() {
			h.u.main.query.SetText("")
			test.Type(h.u.main.query, typed)
			s = h.u.main.hint.String()
		})
		return s
	}
	tests := []struct{ typed, want string }{
		{"943 476", "NHS number: 6 of 10 digits"},
		{"943 476 5919", "Valid NHS number 943 476 5919"},
		{"9434765919", "Valid NHS number 943 476 5919"},
		{"943 476 5918", "check digit does not match"},
		{"943 476 59190", "Too many digits"},
		{"smith", "Name or postcode search"},
	}
	for _, tt := range tests {
		t.Run(tt.typed, func(t *testing.T) {
			if got := hint(tt.typed); !strings.Contains(got, tt.want) {
				t.Errorf("typing %q shows %q, want %q", tt.typed, got, tt.want)
			}
		})
	}
	h.stopSync() // once it runs: started later, it would upload the queue under the count
	before := h.pendingAudit()
	h.ui(func() {
		h.u.main.query.SetText("943 476 5918")
		h.u.main.query.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	time.Sleep(100 * time.Millisecond)
	if after := h.pendingAudit(); after != before {
		t.Errorf("an invalid NHS number was searched (audit queue %d -> %d)", before, after)
	}
}

// TestSearch_NameDateOfBirthAndPostcode finds the same patient three ways,
// keyboard only: Enter searches and focuses the first result.
func TestSearch_NameDateOfBirthAndPostcode(t *testing.T) {
	h := unlocked(t, userParamedic)
	c := h.core
	h.ui(func() {}) // settle
	st := c.Status()
	if st.CachedPatients == 0 {
		t.Fatal("nothing cached")
	}
	res, err := c.Search(fixture.rich.Digits(), 1)
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("core search: %v %v", res, err)
	}
	e := res.Entries[0]
	dob := record.ParseDate(e.BirthDate).String()
	for _, q := range []string{e.Family + " " + dob, e.Family + " " + e.BirthDate, e.Postcode} {
		t.Run(q, func(t *testing.T) {
			h.search(q)
			found := false
			h.ui(func() {
				for _, r := range h.u.main.results.rows {
					if r.entry.NHS == fixture.rich {
						found = true
					}
				}
				if h.u.win.Canvas().Focused() != h.u.main.query {
					t.Error("after a search the keyboard focus is not in the search box")
				}
			})
			if !found {
				t.Errorf("searching %q did not find %s:\n%s", q, fixture.rich, h.text())
			}
		})
	}
	// Down from the first result moves to the second; Up from the first
	// returns to the search box.
	h.search(e.Postcode[:3])
	h.ui(func() {
		rows := h.u.main.results.rows
		if len(rows) < 2 {
			return
		}
		h.u.main.query.TypedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
		if h.u.win.Canvas().Focused() != rows[0] {
			t.Error("Down from the search box did not select the first result")
		}
		rows[0].TypedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
		if h.u.win.Canvas().Focused() != rows[1] {
			t.Error("Down did not move to the second result")
		}
		rows[1].TypedKey(&fyne.KeyEvent{Name: fyne.KeyUp})
		rows[0].TypedKey(&fyne.KeyEvent{Name: fyne.KeyUp})
		if h.u.win.Canvas().Focused() != h.u.main.query {
			t.Error("Up from the first result did not return to the search box")
		}
	})
}

// stopSync stops background sync so the audit queue only grows.
func (h *harness) stopSync() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !h.core.Syncing() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	h.core.StopSync()
}

// TestOpenSummary_QueuesAuditEventAndShowsBanner opens a patient with
// Enter and checks that the view's audit event is queued, and that the
// banner identifies the patient the NHS way.
func TestOpenSummary_QueuesAuditEventAndShowsBanner(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.stopSync() // offline: events queue instead of being delivered at once
	before := h.pendingAudit()
	h.openNHS(fixture.rich)
	after := h.pendingAudit()
	if after < before+2 { // the search and the view
		t.Errorf("audit queue went from %d to %d; want the search and the view queued", before, after)
	}
	text := h.text()
	v := h.u.main.view
	d := v.Summary.Demographics
	mustContain(t, text,
		record.FormatName(d.Name.Family, d.Name.Given, d.Name.Prefix),
		strings.ToUpper(d.Name.Family),
		fixture.rich.String(),
		"Born "+d.BirthDate.String()+" (",
		"Summary as of ",
		v.Summary.AllergyHeadline(),
		"Current medications", "Problems", "Observations", "Recent encounters", "Care plans")
	for _, a := range v.Summary.Alerts.Items {
		if a.Active && a.Kind == record.AlertDNACPR {
			mustContain(t, text, "DNACPR")
		}
	}
	for _, o := range v.Summary.Observations.Items {
		if o.PatientEntered {
			mustContain(t, text, "patient-entered")
			break
		}
	}
	// Every section says when it was current.
	if n := strings.Count(text, "as of "); n < 6 {
		t.Errorf("only %d \"as of\" lines", n)
	}
	h.ui(func() { h.u.escape() })
	h.waitScreen(screenMain)
}

// TestSummary_AllergyStatesStayDistinct opens a patient recorded as having
// no known allergies and one with no allergy information: the two
// headlines never swap.
func TestSummary_AllergyStatesStayDistinct(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.openNHS(fixture.nka)
	text := h.text()
	mustContain(t, text, "No known allergies recorded")
	mustNotContain(t, text, "Allergy information not available")
	h.ui(func() { h.u.goSearch() })
	h.openNHS(fixture.unknown)
	text = h.text()
	mustContain(t, text, "Allergy information not available", "This is not the same as no allergies")
	mustNotContain(t, text, "No known allergies recorded")
}

// TestBreakGlass_UncachedPatientWithReason searches for a patient outside
// the caseload, takes the emergency access offered, and opens them only
// after a coded reason and free text are both given.
func TestBreakGlass_UncachedPatientWithReason(t *testing.T) {
	h := unlocked(t, freshUser(t, "paramedic")) // the grant lasts 2 h: keep it from other tests
	h.waitFor("the connection", func() bool { return h.u.status.State == core.SyncUpToDate })
	h.search(fixture.uncached.String())
	mustContain(t, h.text(), "No patient found on this device", "Emergency access (break-glass) for this patient…")
	h.ui(func() {
		btn := h.u.main.results.extra.Objects[0].(*buttonT)
		test.Tap(btn)
	})
	h.waitFor("the dialog", func() bool { return h.u.bgDialog != nil })
	mustContain(t, h.text(), "audited", "privacy officer", fixture.uncached.String())
	h.ui(func() {
		b := h.u.bgDialog
		if !b.open.Disabled() {
			t.Error("emergency access can be confirmed without a reason")
		}
		b.reasons.choose(len(b.reasons.choices) - 1) // other
		if !b.open.Disabled() {
			t.Error("emergency access for another reason can be confirmed without the user's words")
		}
		b.reasons.choose(0)
		if b.open.Disabled() {
			t.Error("a coded reason is not enough")
		}
		test.Type(b.text, "Unconscious at the roadside, no history available")
		if b.open.Disabled() {
			t.Fatal("the button stays disabled with every answer given")
		}
		test.Tap(b.open)
	})
	h.waitScreen(screenSummary)
	mustContain(t, h.text(), "EMERGENCY ACCESS", "reported to the privacy officer", fixture.uncached.String())
	if !h.u.main.view.BreakGlass {
		t.Error("the view is not marked as emergency access")
	}
}

// TestIdle_LocksAfterInactivity advances the clock past the policy's
// limit: the window shows the unlock screen, no patient data, and the
// core is locked.
func TestIdle_LocksAfterInactivity(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.openNHS(fixture.rich)
	limit := h.u.autolock()
	h.advance(limit - time.Second)
	h.ui(h.u.checkIdle)
	if h.screen() != screenSummary {
		t.Fatal("locked before the limit")
	}
	h.advance(2 * time.Second)
	h.ui(h.u.checkIdle)
	h.waitScreen(screenUnlock)
	text := h.text()
	mustNotContain(t, text, fixture.rich.String(), strings.ToUpper(fixture.richName), "Allerg")
	mustContain(t, text, "Locked after 5 minutes without activity.")
	h.ui(func() {
		if h.u.main != nil {
			t.Error("the finder (and its patient view) is still referenced")
		}
	})
	h.waitFor("the core to lock", func() bool { return h.core.Locked() })
}

// TestIdle_ActivityDefersTheLock: typing counts as activity.
func TestIdle_ActivityDefersTheLock(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.advance(h.u.autolock() - time.Second)
	h.ui(func() { test.Type(h.u.main.query, "s") })
	h.advance(2 * time.Second)
	h.ui(h.u.checkIdle)
	if h.screen() != screenMain {
		t.Fatal("locked although the user typed a moment ago")
	}
}

// TestShortcut_CtrlLLocksFromTheSearchBox presses Ctrl+L with the search
// box focused (Fyne gives shortcuts to the focused entry first) and from
// the canvas while a dialog is open: both lock and remove the dialog.
func TestShortcut_CtrlLLocksFromTheSearchBox(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.ui(func() {
		h.u.main.query.TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyL, Modifier: fyne.KeyModifierShortcutDefault})
	})
	h.waitScreen(screenUnlock)
	h.waitFor("the core to lock", func() bool { return h.core.Locked() })
	h.unlock(testPassphrase)
	h.waitScreen(screenMain)
	h.openNHS(fixture.rich)
	h.ui(func() { h.u.showBreakGlass(fixture.rich.String()) })
	h.ui(func() {
		h.u.win.Canvas().(fyne.Shortcutable).TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyL, Modifier: fyne.KeyModifierShortcutDefault})
		if n := len(h.u.win.Canvas().Overlays().List()); n != 0 {
			t.Errorf("%d dialogs still shown after locking", n)
		}
	})
	h.waitScreen(screenUnlock)
	mustNotContain(t, h.text(), fixture.rich.String())
}

// TestLock_FromCommandLineHidesData locks the core as "kmcr lock" does:
// the window follows at once.
func TestLock_FromCommandLineHidesData(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.openNHS(fixture.rich)
	if err := h.core.Lock(); err != nil {
		t.Fatal(err)
	}
	h.waitScreen(screenUnlock)
	mustNotContain(t, h.text(), fixture.rich.String())
	mustContain(t, h.text(), "Locked from the command line.")
}

// TestFrontDesk_SeesNoClinicalData opens a patient with allergies and
// alerts as front-desk staff: only the demographics and GP sections are
// built, and no clinical word appears.
func TestFrontDesk_SeesNoClinicalData(t *testing.T) {
	h := unlocked(t, userFrontDesk)
	h.openNHS(fixture.rich)
	for _, n := range h.sectionNames() {
		if n != record.SectionDemographics && n != record.SectionGP {
			t.Errorf("a %q section was built for front desk", n)
		}
	}
	text := h.text()
	mustContain(t, text, "Registered GP", "Demographics", fixture.rich.String(), "Front desk view")
	mustNotContain(t, text, "Allergies", "allergy", "Medications", "DNACPR", "Observations", "patient-entered", "Problems", "Care plans", "Emergency access")
}

// TestCaseload_CommunityStaff lists the caseload with Ctrl+3.
func TestCaseload_CommunityStaff(t *testing.T) {
	h := unlocked(t, userCommunity)
	h.ui(func() {
		h.u.win.Canvas().(fyne.Shortcutable).TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.Key3, Modifier: fyne.KeyModifierShortcutDefault})
	})
	h.waitFor("the caseload", func() bool { return h.u.main.caseload != nil && len(h.u.main.caseload.rows) > 0 })
	mustContain(t, h.text(), "in your caseload on this device")
}

// TestRecent_ListsOpenedPatients shows a patient under Recent after it was
// opened.
func TestRecent_ListsOpenedPatients(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.openNHS(fixture.nka)
	h.ui(func() { h.u.showTab(tabRecent) })
	h.waitFor("the recent list", func() bool { return len(h.u.main.recent.rows) > 0 })
	h.ui(func() {
		if h.u.main.recent.rows[0].entry.NHS != fixture.nka {
			t.Errorf("the newest recent patient is %s", h.u.main.recent.rows[0].entry.NHS)
		}
	})
}

// TestSettings_ShowsDeviceAndWipeNeedsTypedConfirmation opens Settings and
// the wipe dialog, whose button works only once WIPE is typed.
func TestSettings_ShowsDeviceAndWipeNeedsTypedConfirmation(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.ui(func() {
		h.u.win.Canvas().(fyne.Shortcutable).TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyComma, Modifier: fyne.KeyModifierShortcutDefault})
	})
	h.waitScreen(screenSettings)
	p := h.core.Profile()
	mustContain(t, h.text(), p.DeviceID, p.Server, "Cache size", "Version", "Wipe local data…", "Ctrl+L")
	h.ui(func() { h.u.confirmWipe() })
	var word *entry
	h.ui(func() {
		for _, o := range h.u.win.Canvas().Overlays().List() {
			for _, x := range test.LaidOutObjects(o) {
				if e, ok := x.(*entry); ok && e.PlaceHolder == "type "+wipeWord {
					word = e
				}
			}
		}
		test.Type(word, "wipe")
		word.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	if !h.core.Enrolled() {
		t.Fatal("a wipe ran without the typed confirmation")
	}
	h.ui(func() {
		word.SetText("")
		test.Type(word, wipeWord)
		word.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	h.waitFor("the enrolment screen after the wipe", func() bool {
		return h.u.screen == screenEnrol && strings.Contains(strings.Join(texts(h.u.win.Content()), "\n"), "Set up this device")
	})
	if h.core.Enrolled() {
		t.Fatal("the profile is still enrolled after the wipe")
	}
}

// TestSettings_ChangePassphrase changes the passphrase; the new one
// unlocks after a lock.
func TestSettings_ChangePassphrase(t *testing.T) {
	h := unlocked(t, userParamedic)
	const newPass = "a brand new phrase 7"
	if err := h.core.ChangePassphrase([]byte(testPassphrase), []byte(newPass)); err != nil {
		t.Fatal(err)
	}
	h.ui(func() { h.u.lock("Locked.") })
	h.waitFor("the core to lock", func() bool { return h.core.Locked() })
	h.unlock(newPass)
	h.waitScreen(screenMain)
}

// TestTheme_DarkAndTextScale switches to dark and larger text with the
// keyboard, and keeps the choice in the preferences.
func TestTheme_DarkAndTextScale(t *testing.T) {
	h := unlocked(t, userParamedic)
	sc := h.u.win.Canvas().(fyne.Shortcutable)
	h.ui(func() {
		h.u.setThemeMode(themeLight)
		sc.TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyD, Modifier: fyne.KeyModifierShortcutDefault})
		sc.TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyEqual, Modifier: fyne.KeyModifierShortcutDefault})
	})
	if got := h.a.Preferences().String(prefTheme); got != themeDark {
		t.Errorf("theme preference %q, want dark", got)
	}
	if got := h.a.Preferences().Float(prefTextScale); got < 1.05 {
		t.Errorf("text scale %v, want larger than 1", got)
	}
	if got := h.a.Settings().Theme().Size("text"); got <= 16 {
		t.Errorf("text size %v did not grow", got)
	}
}

// TestSearch_ManyMatchesSayHowMany limits a broad search: the screen says
// how many were not shown and offers them all.
func TestSearch_ManyMatchesSayHowMany(t *testing.T) {
	h := unlocked(t, userParamedic)
	res, err := h.core.Search(fixture.rich.Digits(), 1)
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("core search: %v", err)
	}
	q := strings.Fields(res.Entries[0].Postcode)[0] // every patient in that postcode district
	all, err := h.core.Search(q, 1000)
	if err != nil || all.Total < 3 {
		t.Skipf("too few matches for %q to test", q)
	}
	h.ui(func() {
		h.u.main.results.clear()
		h.u.main.query.SetText(q)
		h.u.main.search(2)
	})
	h.waitFor("results", func() bool { return !h.u.main.busy.Visible() && len(h.u.main.results.rows) > 0 })
	mustContain(t, h.text(), fmt.Sprintf("Showing 2 of %d patients", all.Total), fmt.Sprintf("Show all %d", all.Total))
	h.ui(func() {
		for _, o := range h.u.main.results.extra.Objects {
			if b, ok := o.(*buttonT); ok {
				test.Tap(b)
			}
		}
	})
	h.waitFor("every match", func() bool { return len(h.u.main.results.rows) == all.Total })
}

// TestStatusBar_QueueAndWarnings shows the audit queue with its age and
// the warnings for an incomplete first sync, expiring leases and stale
// data.
func TestStatusBar_QueueAndWarnings(t *testing.T) {
	test.NewTempApp(t)
	now := fixedNow
	s := newStatusBar()
	s.update(core.Status{Enrolled: true, Connection: "offline", State: core.SyncOffline, PendingAuditEvents: 3,
		OldestPendingAudit: now.Add(-2 * time.Hour), CachedPatients: 12, LeaseExpiringSoon: true,
		SoonestLeaseExpiry: now.Add(5 * time.Hour), Stale: true, LastUpToDate: now.Add(-30 * time.Hour)}, now)
	text := strings.Join(texts(s.root), "\n")
	mustContain(t, text, "Offline since 12:00; summaries last checked 24-Nov-2026 06:00", "Audit: 3 events waiting to upload, oldest 2 h old", "12 patients on this device",
		"First sync incomplete", "Stale: this device last confirmed its data at 24-Nov-2026 06:00")
	mustContain(t, s.detail, "The first offline copy expires at 25-Nov-2026 17:00")
}

// TestStatusBar_ShowsTheLink shows the measured link beside the connection
// state: rate, round trip and last contact, and that it is disconnected.
func TestStatusBar_ShowsTheLink(t *testing.T) {
	test.NewTempApp(t)
	s := newStatusBar()
	s.update(core.Status{Enrolled: true, Connection: "up to date as of 25-Nov-2026 12:00", State: core.SyncUpToDate,
		Link: &core.LinkStatus{Connected: true, Compression: "zstd.d1", RateBytes: 110_000, RTTMillis: 212, SinceMillis: 3_000}}, fixedNow)
	mustContain(t, strings.Join(texts(s.root), "\n"), "880 kbit/s, 212 ms round trip, last contact 3s ago")
	s.update(core.Status{Enrolled: true, Connection: "offline", State: core.SyncOffline,
		Link: &core.LinkStatus{RateBytes: 30_000, SinceMillis: 65_000}}, fixedNow)
	mustContain(t, strings.Join(texts(s.root), "\n"), "240 kbit/s, last contact 1m5s ago, disconnected")
}
