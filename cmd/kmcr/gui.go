package main

import (
	"fmt"

	fyneapp "fyne.io/fyne/v2/app"

	"kmcr/app"
	"kmcr/ui"
)

// runGUI opens the window on the profile: enrolment, unlock or the main
// screen, as the profile's state requires.
func runGUI(e *env) int {
	core, err := app.Open(app.Config{DataDir: e.dataDir})
	if err != nil {
		fmt.Fprintf(e.stderr, "kmcr: %v\n", err)
		return 1
	}
	defer core.Close()
	a := fyneapp.NewWithID(ui.AppID)
	ui.New(a, core).ShowAndRun()
	return 0
}
