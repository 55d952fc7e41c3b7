package main

import (
	"fmt"

	fyneapp "fyne.io/fyne/v2/app"

	"kmcr/app"
	"kmcr/assets"
	"kmcr/ui"
)

// runGUI opens the window on the profile: enrolment, unlock or the main
// screen, as the profile's state requires. Opening the profile reads only
// its plaintext description; the cache is unlocked later, off the UI
// goroutine, when the user types the passphrase.
func runGUI(e *env) int {
	core, err := app.Open(app.Config{DataDir: e.dataDir})
	if err != nil {
		fmt.Fprintf(e.stderr, "kmcr: %v\n", err)
		return 1
	}
	defer core.Close()
	a := fyneapp.NewWithID(ui.AppID)
	a.SetIcon(assets.Icon)
	ui.New(a, core).ShowAndRun()
	return 0
}
