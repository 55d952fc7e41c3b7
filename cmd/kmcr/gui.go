package main

import (
	"fmt"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"kmcr/assets"
	"kmcr/core"
	"kmcr/ui"
)

// runGUI opens the window on the profile: enrolment, unlock or the main
// screen, as the profile's state requires. Opening the profile reads only
// its plaintext description; the cache is unlocked later, off the UI
// goroutine, when the user types the passphrase.
func runGUI(e *env) int {
	tightenProfile(e)
	kc, err := core.Open(core.Config{DataDir: e.dataDir})
	if err != nil {
		fmt.Fprintf(e.stderr, "kmcr: %v\n", err)
		return 1
	}
	defer kc.Close()
	// A "go build" binary carries no metadata (the fyne tool embeds it from
	// FyneApp.toml); set the same values here so both kinds of build behave
	// alike, including the fyne.Do threading migration.
	fyneapp.SetMetadata(fyne.AppMetadata{
		ID: ui.AppID, Name: "kmcr", Version: core.Version, Icon: assets.Icon,
		Release: false, Migrations: map[string]bool{"fyneDo": true},
	})
	a := fyneapp.NewWithID(ui.AppID)
	a.SetIcon(assets.Icon)
	ui.New(a, kc).ShowAndRun()
	return 0
}
