//go:build !screenshots

package ui

import "fyne.io/fyne/v2/container"

// Without the screenshots tag there is no screenshot driver (script.go):
// its hooks do nothing, and KMCR_UI_SCRIPT is ignored.

func (u *UI) showingPage(*container.Scroll) {}

func (u *UI) startScript() {}
