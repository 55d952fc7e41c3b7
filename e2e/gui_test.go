package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// scriptedKmcr builds kmcr with the screenshots tag, which adds the
// KMCR_UI_SCRIPT driver (ui/script.go), next to the other programs: once,
// for every test that drives the window.
func scriptedKmcr(t *testing.T) string {
	t.Helper()
	scripted.once.Do(func() {
		scripted.bin = filepath.Join(filepath.Dir(kmcrBin), "kmcr-scripted")
		build := exec.Command("go", "build", "-tags", "screenshots", "-o", scripted.bin, "kmcr/cmd/kmcr")
		build.Env = append(os.Environ(), baseEnv...)
		if out, err := build.CombinedOutput(); err != nil {
			scripted.err = fmt.Errorf("building kmcr with the screenshots tag: %v\n%s", err, out)
		}
	})
	if scripted.err != nil {
		t.Fatal(scripted.err)
	}
	return scripted.bin
}

var scripted struct {
	once sync.Once
	bin  string
	err  error
}

// TestGUI_RealWindowUnderXvfb guards "kmcr with no command opens a window":
// the real binary, on an enrolled profile, on an X display (make test runs
// Xvfb), shows the unlock screen, unlocks, finds and opens a patient through
// the same code paths a person's keys take (the documented KMCR_UI_SCRIPT
// hook, in a build with the screenshots tag), and exits cleanly, without a panic. The view it opened is an audit
// event like any other.
func TestGUI_RealWindowUnderXvfb(t *testing.T) {
	t.Parallel()
	if os.Getenv("KMCR_TEST_GUI") != "1" || os.Getenv("DISPLAY") == "" {
		t.Skip("skipped: needs an X display and KMCR_TEST_GUI=1 (make test starts Xvfb and sets both)")
	}
	d := newServerData(t, 5, 83)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")

	script := filepath.Join(t.TempDir(), "steps")
	steps := strings.Join([]string{
		"mark unlock-screen",
		"unlock " + p.pass,
		"search " + d.nhs[2],
		"open 1",
		"mark summary",
		"quit",
	}, "\n")
	if err := os.WriteFile(script, []byte(steps+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, scriptedKmcr(t), runOpts{env: []string{"KMCR_UI_SCRIPT=" + script}}, "--data-dir", p.dir)
	if r.code != 0 || strings.Contains(r.stderr, "panic") {
		t.Fatalf("kmcr window:\n%s", r)
	}
	for _, want := range []string{"mark unlock-screen", "mark summary", "kmcr-ui-script: done"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("the window did not reach %q:\n%s", want, r)
		}
	}
	p.mustKmcr("sync", "--once")
	views := 0
	for _, e := range d.accessLog(d.nhs[2]) {
		if e.isView() {
			views++
		}
	}
	if views != 1 {
		t.Fatalf("the window's view reached the access log %d times; want once", views)
	}
}
