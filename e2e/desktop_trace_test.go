package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"kmcr/record"
)

// TestDesktopSafety_BreakGlassTraceByKeyboard drives the real window
// under Xvfb with xdotool, against a real kmcr-server over TLS, through
// the must-show path of break-glass with no NHS number: Ctrl+E, Tab to
// the family name, type it, Tab, the date of birth as 12031948, Enter
// (the server traces the patient and lists them with their banner),
// Enter to choose them, Enter on the first coded reason. The server must
// have recorded the trace (a trace alert naming what was searched and the
// one candidate) and granted emergency access to that patient, and the
// window must have opened them (the device's break-glass event in the
// access log).
func TestDesktopSafety_BreakGlassTraceByKeyboard(t *testing.T) {
	if os.Getenv("KMCR_TEST_GUI") != "1" || os.Getenv("DISPLAY") == "" {
		t.Skip("skipped: needs an X display and KMCR_TEST_GUI=1 (make test starts Xvfb and sets both)")
	}
	if _, err := exec.LookPath("xdotool"); err != nil {
		t.Skip("skipped: needs xdotool (Debian package xdotool)")
	}
	d := newServerData(t, 12, 93)
	d.addUser("para", "paramedic", d.nhs[:4]...) // the rest are in nobody's caseload
	imp, err := record.ReadPaths(d.seedDir)
	if err != nil {
		t.Fatal(err)
	}
	// The patient: outside the caseload, and alone with their family name
	// and date of birth among the seeded patients.
	type who struct{ family, born string }
	seen := map[who]int{}
	demo := map[string]who{}
	for _, p := range imp.Patients {
		dm := record.Summarise(p, time.Now()).Demographics
		w := who{record.FoldName(dm.Name.Family), dm.BirthDate.Time.Format("02012006")}
		seen[w]++
		demo[p.NHS.Digits()] = who{dm.Name.Family, w.born}
	}
	target := ""
	for _, n := range d.nhs[4:] {
		if w := demo[n]; seen[who{record.FoldName(w.family), w.born}] == 1 {
			target = n
			break
		}
	}
	if target == "" {
		t.Fatal("no seeded patient outside the caseload has a unique family name and date of birth")
	}
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kmcrBin, "--data-dir", p.dir)
	cmd.Env = append(os.Environ(), baseEnv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)
	win := strings.Fields(xdo(t, "search", "--sync", "--onlyvisible", "--name", "kmcr: shared care record"))[0]
	for i := 0; ; i++ {
		err := exec.Command("xdotool", "windowfocus", "--sync", win).Run()
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("the window never took the keyboard focus: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	typeText(t, win, p.pass)
	keys(t, win, "Return")
	time.Sleep(10 * time.Second) // the key derivation, the finder, the connection

	keys(t, win, "ctrl+e")
	time.Sleep(time.Second)
	keys(t, win, "Tab")
	typeText(t, win, strings.ToUpper(demo[target].family))
	keys(t, win, "Tab")
	typeText(t, win, demo[target].born)
	keys(t, win, "Return")
	time.Sleep(3 * time.Second) // the server's answer
	keys(t, win, "Return")      // choose the patient listed
	keys(t, win, "Return")      // the first coded reason, and confirm
	time.Sleep(5 * time.Second) // the grant, the document, the view and its upload

	stop()
	p.mustKmcr("sync", "--once")
	as := d.alerts()
	traces := alertsOf(as, "trace", "")
	if len(traces) != 1 || traces[0].User != "para" || !strings.Contains(traces[0].Detail, "1 candidates returned ["+target+"]") {
		t.Fatalf("trace alerts %+v; want one by para returning %s\nstdout:\n%s\nstderr:\n%s", traces, target, stdout.String(), stderr.String())
	}
	var grants []serverAlert
	for _, a := range alertsOf(as, "break-glass", "") {
		if a.Seq == 0 { // the server's grant (the device's own event comes with its sequence number)
			grants = append(grants, a)
		}
	}
	if len(grants) != 1 || grants[0].NHS != target || grants[0].User != "para" {
		t.Fatalf("break-glass alerts %+v; want one grant for %s", grants, target)
	}
	opened := false
	for _, e := range d.accessLog(target) {
		if e.User == "para" && e.Patient == target {
			opened = true
		}
	}
	if !opened {
		t.Fatalf("the window did not open %s under emergency access (access log %+v)", target, d.accessLog(target))
	}
}
