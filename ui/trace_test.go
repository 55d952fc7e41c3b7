package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"

	"kmcr/core"
)

// tab moves the keyboard focus on, as the window's driver does with Tab.
func (h *harness) tab() {
	h.ui(func() { h.u.win.Canvas().FocusNext() })
}

// TestBreakGlass_TraceByFamilyNameAndDateOfBirthWithTheKeyboardAlone is
// the defect "the dialog asks for an NHS number an unconscious patient's
// crew rarely has": Ctrl+E, Tab to the family name, type it, Tab, the
// date of birth as typed in the search (12031948 form), Enter: the server
// answers with the patient's banner; Enter chooses them (their NHS number
// filled in, their banner shown above the reasons), Enter on the first
// coded reason confirms: the summary opens under emergency access, with no
// dialog over it.
func TestBreakGlass_TraceByFamilyNameAndDateOfBirthWithTheKeyboardAlone(t *testing.T) {
	h := unlocked(t, freshUser(t, "paramedic"))
	h.waitFor("the connection", func() bool { return h.u.status.State == core.SyncUpToDate })
	h.ctrlE()
	h.waitFor("the dialog", func() bool { return h.u.bgDialog != nil })
	h.tab() // from the NHS number to the family name
	h.ui(func() {
		if f := h.u.win.Canvas().Focused(); f != h.u.bgDialog.trace.family {
			t.Fatalf("Tab from the NHS number reached %T, not the family name", f)
		}
	})
	h.typeHere(strings.ToLower(fixture.uncachedFamily))
	h.tab()
	h.typeHere(fixture.uncachedBorn.Format("02012006"))
	h.key(fyne.KeyReturn)
	h.waitFor("the trace's answer", func() bool { return h.u.bgDialog != nil && h.u.bgDialog.trace.cands != nil })
	var want string
	h.ui(func() {
		f := h.u.bgDialog.trace
		if len(f.found) != 1 || f.found[0].NHS != fixture.uncached {
			t.Fatalf("the trace found %+v; want only %s", f.found, fixture.uncached)
		}
		if h.u.win.Canvas().Focused() != f.cands.rows[0] {
			t.Errorf("the focus is on %T, not the first candidate", h.u.win.Canvas().Focused())
		}
		want = f.found[0].Banner(time.Now()).Name
		if h.u.bgDialog.nhs.Text != "" {
			t.Errorf("the NHS number %q was filled in before a candidate was chosen", h.u.bgDialog.nhs.Text)
		}
	})
	mustContain(t, h.text(), want)
	mustContain(t, h.text(), "Gender")
	h.key(fyne.KeyReturn) // choose the candidate
	h.ui(func() {
		b := h.u.bgDialog
		if b.nhs.Text != fixture.uncached.String() {
			t.Errorf("choosing the candidate filled in %q; want %q", b.nhs.Text, fixture.uncached.String())
		}
		if len(b.trace.chosen.Objects) != 1 {
			t.Error("the chosen patient's banner is not shown before access is asked for")
		}
		if h.u.win.Canvas().Focused() != b.reasons.rows[0] {
			t.Errorf("after choosing, the focus is on %T, not the reasons", h.u.win.Canvas().Focused())
		}
		if h.u.screen == screenSummary {
			t.Error("choosing a candidate opened the patient before a reason was given")
		}
	})
	h.key(fyne.KeyReturn) // the first coded reason, and confirm
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

// TestBreakGlass_TraceListBelongsToItsQuery checks that editing the family
// name after an answer takes the candidates away, and that editing the NHS
// number after choosing one takes the chosen banner away: what is shown is
// always the patient who would be asked for.
func TestBreakGlass_TraceListBelongsToItsQuery(t *testing.T) {
	h := unlocked(t, freshUser(t, "paramedic"))
	h.waitFor("the connection", func() bool { return h.u.status.State == core.SyncUpToDate })
	h.ctrlE()
	h.waitFor("the dialog", func() bool { return h.u.bgDialog != nil })
	h.ui(func() {
		f := h.u.bgDialog.trace
		f.family.SetText(fixture.uncachedFamily)
		f.born.SetText(fixture.uncachedBorn.Format("2006-01-02"))
		f.run()
	})
	h.waitFor("the trace's answer", func() bool { return h.u.bgDialog.trace.cands != nil })
	h.key(fyne.KeyReturn) // choose
	h.ui(func() {
		b := h.u.bgDialog
		b.trace.family.SetText(fixture.uncachedFamily + "x")
		if b.trace.cands != nil || len(b.trace.list.Objects) != 0 {
			t.Error("the candidates stayed listed after the family name changed")
		}
		if len(b.trace.chosen.Objects) != 1 {
			t.Error("the chosen banner went although its NHS number is still in the box")
		}
		b.nhs.SetText(wrongCheckDigit(fixture.uncached.Digits()))
		if len(b.trace.chosen.Objects) != 0 {
			t.Error("the chosen banner stayed over an NHS number that is not theirs")
		}
		if !b.open.Disabled() {
			t.Error("Open is enabled for an invalid NHS number")
		}
	})
}

// TestBreakGlass_TraceOfflineSaysItNeedsAConnection checks that with no
// connection the dialog says plainly that the trace needs one, a trace
// asked for anyway says so again and hands the keyboard to the NHS
// number, and NHS-number entry still works.
func TestBreakGlass_TraceOfflineSaysItNeedsAConnection(t *testing.T) {
	h := unlocked(t, freshUser(t, "paramedic"))
	h.waitFor("the connection", func() bool { return h.u.status.State == core.SyncUpToDate })
	h.core.StopSync()
	h.waitFor("offline", func() bool { return !h.u.connected() })
	h.ctrlE()
	h.waitFor("the dialog", func() bool { return h.u.bgDialog != nil })
	mustContain(t, h.text(), traceOffline)
	h.ui(func() {
		f := h.u.bgDialog.trace
		f.family.SetText(fixture.uncachedFamily)
		f.born.SetText(fixture.uncachedBorn.Format("02/01/2006"))
		f.run()
	})
	h.waitFor("the trace's refusal", func() bool {
		return h.u.win.Canvas().Focused() == h.u.bgDialog.nhs
	})
	h.ui(func() {
		if h.u.bgDialog.trace.cands != nil {
			t.Error("candidates listed offline")
		}
		h.u.bgDialog.nhs.SetText(fixture.rich.String())
		h.u.bgDialog.reasons.choose(0)
		if h.u.bgDialog.open.Disabled() {
			t.Error("NHS-number entry does not work offline")
		}
	})
}
