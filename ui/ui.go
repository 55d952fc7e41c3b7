// Package ui is the Fyne desktop interface: it presents the client core
// (package app) and never holds patient data longer than a screen shows it.
package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"kmcr/app"
)

// AppID is the application identifier, as in FyneApp.toml.
const AppID = "uk.nhs.kmcr"

// UI is the desktop interface for one profile.
type UI struct {
	app  fyne.App
	core *app.Core
	win  fyne.Window
}

// New makes the interface; ShowAndRun shows it.
func New(a fyne.App, core *app.Core) *UI {
	u := &UI{app: a, core: core, win: a.NewWindow("kmcr: shared care record")}
	u.win.SetContent(container.NewCenter(widget.NewLabel("kmcr " + app.Version)))
	u.win.Resize(fyne.NewSize(1100, 760))
	return u
}

// ShowAndRun shows the window and runs the event loop until it closes.
func (u *UI) ShowAndRun() { u.win.ShowAndRun() }
