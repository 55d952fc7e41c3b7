package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// xdo runs xdotool with args and returns its output.
func xdo(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "xdotool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xdotool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// keys types each key (xdotool names: Return, Down, ctrl+a) with a pause
// after it, as a person's fingers would.
func keys(t *testing.T, win string, names ...string) {
	t.Helper()
	for _, k := range names {
		xdo(t, "key", "--window", win, "--clearmodifiers", k)
		time.Sleep(300 * time.Millisecond)
	}
}

// typeText types s into the focused field of the window.
func typeText(t *testing.T, win, s string) {
	t.Helper()
	xdo(t, "type", "--window", win, "--delay", "40", s)
	time.Sleep(300 * time.Millisecond)
}

// wrongCheckDigit changes an NHS number's check digit: a slip of the finger.
func wrongCheckDigit(n string) string {
	d := []byte(n)
	d[9] = '0' + (d[9]-'0'+1)%10
	return string(d[:3]) + " " + string(d[3:6]) + " " + string(d[6:])
}

// TestDesktopSafety_WrongPatientPaths drives the real window under Xvfb
// with xdotool, as a paramedic with only the keyboard, through the two
// wrong-patient paths of the desktop-safety issue: a search, then an
// invalid NHS number (a wrong check digit), then Down and Enter, must open
// nobody; and the finder's hint followed literally (Enter, Down, Enter)
// must open the first patient listed. What was opened is read from the
// server's access log, the audit trail every view reaches.
func TestDesktopSafety_WrongPatientPaths(t *testing.T) {
	if os.Getenv("KMCR_TEST_GUI") != "1" || os.Getenv("DISPLAY") == "" {
		t.Skip("skipped: needs an X display and KMCR_TEST_GUI=1 (make test starts Xvfb and sets both)")
	}
	if _, err := exec.LookPath("xdotool"); err != nil {
		t.Skip("skipped: needs xdotool (Debian package xdotool)")
	}
	d := newServerData(t, 12, 91)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")

	// What the finder will list, asked of the same core before the window
	// holds the profile: the first patient's family name, and a postcode
	// district that lists several patients, in the window's order.
	type entry struct {
		NHS      string `json:"nhs"`
		Family   string `json:"family"`
		Postcode string `json:"postcode"`
	}
	search := func(q string) []entry {
		var res struct {
			Entries []entry `json:"entries"`
		}
		r := p.mustKmcr("search", "--json", q)
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("search --json %q: %v\n%s", q, err, r.stdout)
		}
		return res.Entries
	}
	first := search(d.nhs[0])
	if len(first) != 1 {
		t.Fatalf("searching %s found %d", d.nhs[0], len(first))
	}
	var district string
	var listed []entry
	for _, n := range d.nhs {
		e := search(n)[0]
		dist := strings.Fields(e.Postcode)[0]
		if l := search(dist); len(l) >= 2 {
			district, listed = dist, l
			break
		}
	}
	if district == "" {
		t.Fatal("no postcode district lists two patients: the test cannot show the hint's path")
	}

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

	win := xdo(t, "search", "--sync", "--onlyvisible", "--name", "kmcr: shared care record")
	win = strings.Fields(win)[0]
	// The window is mapped before it can take the focus: try for a while.
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
	time.Sleep(2 * time.Second) // the unlock screen drawn, its passphrase box focused
	typeText(t, win, p.pass)
	keys(t, win, "Return")
	time.Sleep(10 * time.Second) // the key derivation, then the finder with the box focused

	// Path 1: a search that lists a patient, then an invalid NHS number.
	typeText(t, win, first[0].Family)
	keys(t, win, "Return")
	time.Sleep(2 * time.Second)
	keys(t, win, "ctrl+f", "ctrl+a")
	typeText(t, win, wrongCheckDigit(d.nhs[0]))
	keys(t, win, "Return", "Down", "Return")
	time.Sleep(3 * time.Second)

	// Path 2: the hint followed literally: Enter searches, Down selects
	// the first patient, Enter opens it.
	keys(t, win, "ctrl+f", "ctrl+a")
	typeText(t, win, district)
	keys(t, win, "Return")
	time.Sleep(2 * time.Second)
	keys(t, win, "Down", "Return")
	time.Sleep(4 * time.Second) // the view's audit event, then its upload

	stop()
	p.mustKmcr("sync", "--once") // whatever the window had not yet delivered
	var opened []string
	for _, n := range d.nhs {
		for _, e := range d.accessLog(n) {
			if e.isView() {
				opened = append(opened, n)
			}
		}
	}
	if len(opened) != 1 || opened[0] != listed[0].NHS {
		t.Fatalf("the window opened %v; want only %s, the first patient listed for %q (list %v)\nstdout:\n%s\nstderr:\n%s",
			opened, listed[0].NHS, district, listed, stdout.String(), stderr.String())
	}
}

// TestDesktopSafety_FitsTheScreenAtEveryTextSize runs the real window under
// Xvfb on a 1280 x 800 screen with a patient's summary open and, at every
// text size from 100% to 200%, at the top of the summary and scrolled to
// its end, has the window check that nothing is wider than the screen and
// that the critical line and the status bar lie wholly on it (the
// KMCR_UI_SCRIPT "fits" step, through the real driver's layout), and takes
// a screenshot of the screen at each step.
func TestDesktopSafety_FitsTheScreenAtEveryTextSize(t *testing.T) {
	if os.Getenv("KMCR_TEST_GUI") != "1" || os.Getenv("DISPLAY") == "" {
		t.Skip("skipped: needs an X display and KMCR_TEST_GUI=1 (make test starts Xvfb and sets both)")
	}
	if _, err := exec.LookPath("import"); err != nil {
		t.Skip("skipped: needs ImageMagick's import")
	}
	d := newServerData(t, 5, 97)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")

	dir := t.TempDir()
	steps := []string{"unlock " + p.pass, "search " + d.nhs[1], "open 1", "size 1280 800", "sleep 1"}
	sizes := []int{100, 120, 140, 160, 180, 200}
	for _, pc := range sizes {
		steps = append(steps, fmt.Sprintf("text %d", pc), "scroll 0", "sleep 1", "fits", fmt.Sprintf("shot top-%d", pc),
			"scroll 100000", "sleep 1", "fits", fmt.Sprintf("shot end-%d", pc))
	}
	steps = append(steps, "text 100", "quit")
	script := filepath.Join(dir, "steps")
	if err := os.WriteFile(script, []byte(strings.Join(steps, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ack := filepath.Join(dir, "ack")
	if err := os.Mkdir(ack, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, scriptedKmcr(t), "--data-dir", p.dir)
	cmd.Env = append(append(os.Environ(), baseEnv...), "KMCR_UI_SCRIPT="+script, "KMCR_UI_SCRIPT_ACK="+ack)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var fits, shots []string
	var log strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		ln := sc.Text()
		log.WriteString(ln + "\n")
		switch {
		case strings.HasPrefix(ln, "kmcr-ui-script: fits "):
			fits = append(fits, strings.TrimPrefix(ln, "kmcr-ui-script: fits "))
		case strings.HasPrefix(ln, "kmcr-ui-script: shot "):
			name := strings.TrimPrefix(ln, "kmcr-ui-script: shot ")
			png := filepath.Join(dir, name+".png")
			if b, err := exec.Command("import", "-window", "root", png).CombinedOutput(); err != nil {
				t.Errorf("screenshot %s: %v\n%s", name, err, b)
			}
			shots = append(shots, png)
			if err := os.WriteFile(filepath.Join(ack, name+".done"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kmcr: %v\nstdout:\n%s\nstderr:\n%s", err, log.String(), stderr.String())
	}
	if len(fits) != 2*len(sizes) {
		t.Fatalf("%d fit checks ran; want %d\nstdout:\n%s\nstderr:\n%s", len(fits), 2*len(sizes), log.String(), stderr.String())
	}
	for i, f := range fits {
		pc, where := sizes[i/2], [2]string{"top", "end"}[i%2]
		if !strings.HasPrefix(f, "1280x800 ok") {
			t.Errorf("at %d%% text, summary at the %s: %s", pc, where, f)
		}
	}
	for _, png := range shots {
		b, err := os.ReadFile(png)
		if err != nil || len(b) < 24 || string(b[1:4]) != "PNG" {
			t.Errorf("screenshot %s is not a PNG: %v", png, err)
			continue
		}
		if w, h := binary.BigEndian.Uint32(b[16:20]), binary.BigEndian.Uint32(b[20:24]); w != 1280 || h != 800 {
			t.Errorf("screenshot %s is %dx%d; the screen is 1280x800", png, w, h)
		}
	}
}
