package main

import (
	"fmt"

	"kmcr/core"
	"kmcr/internal/fsperm"
)

// tightenProfile makes an existing profile folder that others can read
// private, and says so; core.Open refuses one another user owns.
func tightenProfile(e *env) {
	dir := e.dataDir
	if dir == "" {
		dir = core.DefaultDataDir()
	}
	if msg, err := fsperm.TightenDir(dir); err == nil && msg != "" {
		fmt.Fprintf(e.stderr, "kmcr: %s\n", msg)
	}
}
