package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// keyBinding is one window-wide shortcut.
type keyBinding struct {
	key   fyne.KeyName
	mod   fyne.KeyModifier
	keys  string // as the help shows it
	label string
	run   func(u *UI)
}

// ctrl is Ctrl on Linux and Windows, Cmd on macOS.
const ctrl = fyne.KeyModifierShortcutDefault

// bindings returns the window's shortcuts. Every action on every screen
// is also reachable with Tab and Enter or Space; these are the fast paths.
func bindings() []keyBinding {
	return []keyBinding{
		{fyne.KeyL, ctrl, "Ctrl+L", "Lock now (hides all patient data)", func(u *UI) { u.lock("Locked.") }},
		{fyne.KeyF, ctrl, "Ctrl+F", "Find a patient (focus the search box)", func(u *UI) { u.goSearch() }},
		{fyne.KeyLeft, fyne.KeyModifierAlt, "Esc or Alt+Left", "Back to the search", func(u *UI) { u.goSearch() }},
		{fyne.KeyE, ctrl, "Ctrl+E", "Emergency access (break-glass)", func(u *UI) { u.breakGlassShortcut() }},
		{fyne.KeyComma, ctrl, "Ctrl+,", "Settings and about", func(u *UI) { u.goSettings() }},
		{fyne.KeyD, ctrl, "Ctrl+D", "Switch between light and dark", func(u *UI) { u.toggleDark() }},
		{fyne.KeyEqual, ctrl, "Ctrl+=", "Larger text", func(u *UI) { u.scaleText(textScaleStep) }},
		{fyne.KeyEqual, ctrl | fyne.KeyModifierShift, "", "", func(u *UI) { u.scaleText(textScaleStep) }},
		{fyne.KeyMinus, ctrl, "Ctrl+-", "Smaller text", func(u *UI) { u.scaleText(-textScaleStep) }},
		{fyne.Key0, ctrl, "Ctrl+0", "Normal text size", func(u *UI) { u.setTextScale(1) }},
		{fyne.Key1, ctrl, "Ctrl+1", "Search results", func(u *UI) { u.showTab(tabResults) }},
		{fyne.Key2, ctrl, "Ctrl+2", "Recently opened patients", func(u *UI) { u.showTab(tabRecent) }},
		{fyne.Key3, ctrl, "Ctrl+3", "Caseload (community staff)", func(u *UI) { u.showTab(tabCaseload) }},
	}
}

// keyHelp lists keys that are not shortcuts but matter as much.
var keyHelp = [][2]string{
	{"Enter", "Search; open the highlighted patient"},
	{"Up, Down", "Move through the results"},
	{"Tab, Shift+Tab", "Move between controls"},
	{"Space", "Press the focused button"},
}

// registerShortcuts puts every binding on the window's canvas.
func (u *UI) registerShortcuts() {
	for _, b := range bindings() {
		sc := &desktop.CustomShortcut{KeyName: b.key, Modifier: b.mod}
		run := b.run
		u.shortcuts[sc.ShortcutName()] = func() { run(u) }
		u.win.Canvas().AddShortcut(sc, func(fyne.Shortcut) {
			u.touch()
			run(u)
		})
	}
}

// runShortcut runs a window shortcut typed while an entry has the focus
// (Fyne gives shortcuts to the focused widget first). It reports whether
// the shortcut was one of the window's.
func (u *UI) runShortcut(s fyne.Shortcut) bool {
	fn, ok := u.shortcuts[s.ShortcutName()]
	if ok {
		fn()
	}
	return ok
}

// escape cancels the emergency access dialog, or goes back from a patient
// or Settings to the search; it reports whether it did.
func (u *UI) escape() bool {
	if b := u.bgDialog; b != nil && !u.locked {
		b.d.Hide() // Esc cancels the emergency access dialog
		return true
	}
	if u.locked || (u.screen != screenSummary && u.screen != screenSettings) {
		return false
	}
	u.goSearch()
	return true
}

// onCanvasKey handles keys typed when no widget has the focus.
func (u *UI) onCanvasKey(k *fyne.KeyEvent) {
	u.touch()
	if k.Name == fyne.KeyEscape {
		u.escape()
		return
	}
	u.scrollByKey(k.Name)
}
