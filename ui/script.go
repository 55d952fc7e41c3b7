//go:build screenshots

package ui

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
)

// The screenshot hook, built only with the screenshots tag (as
// scripts/screenshots.sh builds kmcr). When KMCR_UI_SCRIPT names a file, kmcr drives its
// own screens from it, one step a line, so a script can photograph every
// screen of the real program under Xvfb (scripts/screenshots.sh). It only
// does what a person at the keyboard could do, through the same code
// paths; it is not a way around the passphrase, which the script must
// contain. Steps:
//
//	unlock PASSPHRASE   type the passphrase and press Enter; wait for the main screen
//	search QUERY        type a search and press Enter; wait for the results
//	open N              open the Nth result (1 is the first); wait for the summary
//	breakglass [NHS]    open the emergency access dialog
//	reason N TEXT       choose the Nth reason and type TEXT in the dialog
//	dismiss             close the emergency access dialog
//	settings | back | lock
//	theme light|dark|system
//	scroll PIXELS       scroll the page down
//	size W H            resize the window
//	text PERCENT        set the text size (80 to 200)
//	fits                print "kmcr-ui-script: fits WxH ok" when nothing is
//	                    wider than the window and the banner, the critical
//	                    line and the status bar lie wholly inside it, else
//	                    "kmcr-ui-script: fits WxH FAIL: what"
//	sleep SECONDS
//	mark NAME           print "kmcr-ui-script: mark NAME" (for timing)
//	shot NAME           print "kmcr-ui-script: shot NAME" and wait until the
//	                    file NAME.done appears in KMCR_UI_SCRIPT_ACK (or 2 s)
//	quit
const (
	envScript    = "KMCR_UI_SCRIPT"
	envScriptAck = "KMCR_UI_SCRIPT_ACK"
)

// scriptWait bounds every wait for a screen.
const scriptWait = 90 * time.Second

// scriptPage is the scrolling page on show (a summary or Settings), for
// the scroll step. It is touched on the UI goroutine only; a screenshot run
// has one window.
var scriptPage *container.Scroll

// showingPage notes the scrolling page on show.
func (u *UI) showingPage(s *container.Scroll) { scriptPage = s }

// startScript runs the steps of the file KMCR_UI_SCRIPT names, if any.
func (u *UI) startScript() {
	if path := os.Getenv(envScript); path != "" {
		go u.runScript(path)
	}
}

func (u *UI) runScript(path string) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kmcr-ui-script: %v\n", err)
		return
	}
	defer f.Close()
	onUI(func() {}) // returns once the window's event loop runs
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ln := strings.TrimSpace(sc.Text())
		if ln == "" || strings.HasPrefix(ln, "#") {
			continue
		}
		cmd, arg, _ := strings.Cut(ln, " ")
		if err := u.scriptStep(cmd, strings.TrimSpace(arg)); err != nil {
			fmt.Fprintf(os.Stderr, "kmcr-ui-script: %s: %v\n", cmd, err)
			fmt.Println("kmcr-ui-script: failed")
			return
		}
	}
	fmt.Println("kmcr-ui-script: done")
}

// onUI runs fn on the UI goroutine and waits for it.
func onUI(fn func()) { fyne.DoAndWait(fn) }

// waitFor polls cond on the UI goroutine until it holds.
func waitFor(cond func() bool) error {
	deadline := time.Now().Add(scriptWait)
	for time.Now().Before(deadline) {
		var ok bool
		onUI(func() { ok = cond() })
		if ok {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("timed out")
}

func (u *UI) scriptStep(cmd, arg string) error {
	switch cmd {
	case "unlock":
		var s *unlockScreen
		onUI(func() { s = u.unlockShown })
		if s == nil {
			return fmt.Errorf("not on the unlock screen")
		}
		onUI(func() {
			s.pass.SetText(arg)
			u.submitUnlock(s)
		})
		return waitFor(func() bool { return u.screen == screenMain || u.screen == screenFirstSync })
	case "search":
		onUI(func() {
			u.goSearch()
			u.main.results.clear()
			u.main.query.SetText(arg)
			u.main.search(searchLimit)
		})
		return waitFor(func() bool { return u.main != nil && !u.main.busy.Visible() && len(u.main.results.note.Segments) > 0 })
	case "open":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		var ok bool
		onUI(func() {
			if rows := u.main.results.rows; n >= 1 && n <= len(rows) {
				ok = true
				u.main.open(rows[n-1].entry)
			}
		})
		if !ok {
			return fmt.Errorf("no result %d", n)
		}
		return waitFor(func() bool { return u.screen == screenSummary })
	case "breakglass":
		onUI(func() { u.showBreakGlass(arg) })
	case "reason":
		nStr, text, _ := strings.Cut(arg, " ")
		n, err := strconv.Atoi(nStr)
		if err != nil {
			return err
		}
		onUI(func() {
			if b := u.bgDialog; b != nil && n >= 1 && n <= len(b.reasons.choices) {
				b.reasons.choose(n - 1)
				b.text.SetText(text)
			}
		})
	case "dismiss":
		onUI(func() {
			if u.bgDialog != nil {
				u.bgDialog.d.Hide()
			}
		})
	case "settings":
		onUI(u.goSettings)
	case "back":
		onUI(u.goSearch)
	case "lock":
		onUI(func() { u.lock("Locked.") })
	case "theme":
		onUI(func() { u.setThemeMode(arg) })
	case "scroll":
		px, err := strconv.ParseFloat(arg, 32)
		if err != nil {
			return err
		}
		onUI(func() { u.scrollPage(float32(px)) })
	case "size":
		var w, h float32
		if _, err := fmt.Sscanf(arg, "%g %g", &w, &h); err != nil {
			return err
		}
		onUI(func() { u.win.Resize(fyne.NewSize(w, h)) })
	case "text":
		pc, err := strconv.ParseFloat(arg, 32)
		if err != nil {
			return err
		}
		onUI(func() { u.setTextScale(float32(pc / 100)) })
	case "fits":
		var msg string
		onUI(func() { msg = u.fitReport() })
		fmt.Printf("kmcr-ui-script: fits %s\n", msg)
	case "sleep":
		s, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return err
		}
		time.Sleep(time.Duration(s * float64(time.Second)))
	case "shot":
		fmt.Printf("kmcr-ui-script: shot %s\n", arg)
		dir := os.Getenv(envScriptAck)
		if dir == "" {
			time.Sleep(2 * time.Second)
			return nil
		}
		done := filepath.Join(dir, arg+".done")
		deadline := time.Now().Add(scriptWait)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(done); err == nil {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("no acknowledgement for %s", arg)
	case "mark":
		onUI(func() {}) // one more turn of the event loop: the screen is drawn
		fmt.Printf("kmcr-ui-script: mark %s\n", arg)
	case "quit":
		onUI(func() { u.win.Close() })
	default:
		return fmt.Errorf("unknown step")
	}
	return nil
}

// scrollPage scrolls the page shown (a summary or Settings).
func (u *UI) scrollPage(px float32) {
	if scriptPage != nil {
		scriptPage.ScrollToOffset(fyne.NewPos(0, px))
	}
}

// fitReport checks that the screen fits the window: the content needs no
// more than the window's width, and the summary's fixed parts (banner and
// critical line) and the status bar lie wholly inside it.
func (u *UI) fitReport() string {
	c := u.win.Canvas()
	size := c.Size()
	head := fmt.Sprintf("%.0fx%.0f", size.Width, size.Height)
	var bad []string
	if w := c.Content().MinSize().Width; w > size.Width+0.5 {
		bad = append(bad, fmt.Sprintf("the screen needs %.0f px", w))
	}
	check := func(what string, o fyne.CanvasObject) {
		if o == nil || !o.Visible() {
			bad = append(bad, what+" not shown")
			return
		}
		p := fyne.CurrentApp().Driver().AbsolutePositionForObject(o)
		s := o.Size()
		if p.X < -0.5 || p.Y < -0.5 || p.X+s.Width > size.Width+0.5 || p.Y+s.Height > size.Height+0.5 {
			bad = append(bad, fmt.Sprintf("%s at %.0f,%.0f size %.0fx%.0f", what, p.X, p.Y, s.Width, s.Height))
		}
	}
	if u.shell != nil {
		check("the status bar", u.shell.status.root)
	}
	if u.screen == screenSummary {
		check("the critical line", u.critical)
	}
	if len(bad) > 0 {
		return head + " FAIL: " + strings.Join(bad, "; ")
	}
	return head + " ok"
}
