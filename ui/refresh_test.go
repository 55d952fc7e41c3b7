package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"

	"kmcr/core"
	"kmcr/record"
)

// TestSummary_NewerCopyArrivingRefreshesTheOpenSummaryInPlace is the
// defect "the summary's as of does not update when a newer copy arrives":
// with a patient's summary open and scrolled, the server's record of the
// patient changes; the sync brings the newer version, and the open summary
// shows it (the new problem listed, the later "as of") at the same scroll
// position, with the banner and the critical line still in place.
func TestSummary_NewerCopyArrivingRefreshesTheOpenSummaryInPlace(t *testing.T) {
	h := unlocked(t, userParamedic)
	h.waitFor("the connection", func() bool { return h.u.status.State == core.SyncUpToDate })
	h.ui(func() { h.u.win.Resize(screen1280) })
	h.openNHS(record.MustParseNHSNumber(fixture.spare))
	h.waitScreen(screenSummary)
	var before *core.PatientView
	var crit fyne.CanvasObject
	h.ui(func() { before, crit = h.u.main.view, h.u.critical })
	h.press(fyne.KeyDown)
	h.press(fyne.KeyDown)
	var off float32
	h.ui(func() { off = h.u.pageScroll.Offset.Y })
	if off <= 0 {
		t.Fatal("the summary does not scroll: the test cannot show the position is kept")
	}

	dir := t.TempDir()
	cond := fmt.Sprintf(`{"resourceType":"Condition","id":"refresh-test-%s","subject":{"reference":%q},"code":{"text":"Refresh test condition"},`+
		`"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"recordedDate":"2026-01-02"}`,
		fixture.spare, fixture.spareKey)
	if err := os.WriteFile(filepath.Join(dir, "Condition.000.ndjson"), []byte(cond+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := fixture.admin.Import(context.Background(), []string{dir})
	if err != nil || rep.Changed != 1 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	h.waitFor("the newer copy on screen", func() bool {
		v := h.u.main.view
		return v != nil && v.Version > before.Version && v.AsOf.After(before.AsOf)
	})
	mustContain(t, h.text(), "Refresh test condition")
	h.ui(func() {
		if h.u.screen != screenSummary || h.u.main.view.NHS != before.NHS {
			t.Fatalf("the screen moved to %s / %s", h.u.screen, h.u.main.view.NHS)
		}
		if got := h.u.pageScroll.Offset.Y; got != off {
			t.Errorf("the scroll position went from %v to %v", off, got)
		}
		if h.u.critical == nil || h.u.critical == crit {
			t.Error("the critical line was not rebuilt with the newer copy")
		}
		want := h.u.main.view.Present(h.u.opts.now()).AsOf.Time
		if !strings.Contains(strings.Join(texts(h.u.critical), "\n"), want) {
			t.Errorf("the as-of line does not say the newer copy's %q:\n%s", want, strings.Join(texts(h.u.critical), "\n"))
		}
	})
}
