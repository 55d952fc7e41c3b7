package main

import (
	"os"
	"strings"
	"testing"

	"kmcr/core"
	"kmcr/ui"
)

// TestFyneAppToml_MatchesCode guards against FyneApp.toml (read by the fyne
// tool for packaged builds) and the metadata go-built binaries set at run
// time drifting apart.
func TestFyneAppToml_MatchesCode(t *testing.T) {
	b, err := os.ReadFile("FyneApp.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`ID = "` + ui.AppID + `"`, `Version = "` + core.Version + `"`, `Name = "kmcr"`, "fyneDo = true"} {
		if !strings.Contains(s, want) {
			t.Errorf("FyneApp.toml lacks %s", want)
		}
	}
	top, err := os.Readlink("../../FyneApp.toml")
	if err != nil || top != "cmd/kmcr/FyneApp.toml" {
		t.Errorf("the top-level FyneApp.toml should link to cmd/kmcr/FyneApp.toml: %q, %v", top, err)
	}
}
