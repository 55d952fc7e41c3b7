package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"kmcr/internal/shareddata"
	"kmcr/record"
)

// expandAll taps every button that shows more of the summary ("and N more
// ...: show all", "Show every reading", "Show the text") until none is
// left, so the window's text is everything it can show.
func (h *harness) expandAll() {
	h.t.Helper()
	for round := 0; round < 50; round++ {
		var taps []*buttonT
		h.ui(func() {
			for _, o := range test.LaidOutObjects(h.u.win.Content()) {
				b, ok := o.(*buttonT)
				if !ok || !b.Visible() {
					continue
				}
				if (strings.HasPrefix(b.Text, "and ") && strings.HasSuffix(b.Text, ": show all")) ||
					strings.HasPrefix(b.Text, "Show every reading") || b.Text == "Show the text" {
					taps = append(taps, b)
				}
			}
			for _, b := range taps {
				test.Tap(b)
			}
		})
		if len(taps) == 0 {
			return
		}
	}
	h.t.Fatal("buttons that show more never ran out")
}

// TestSharedData_WindowShowsEveryItem syncs every patient of
// ../shared/fhir from a real server into a real cache and opens each in
// the window as a paramedic would (search by NHS number, Enter), shows
// everything it keeps behind buttons, and checks the window against what
// a decoder of its own reads from the source files (internal/shareddata):
// the banner (900 000 0009 is SMITH, Jane with her address and GP), death
// and the age at death, every item of every section as often as the
// source has it, the counts, documents, and what is counted but not shown.
// `kmcr show` and its JSON are checked against the same reading
// (cmd/kmcr), so the three show the same items.
func TestSharedData_WindowShowsEveryItem(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs and opens every patient of the shared data")
	}
	dir := shareddata.Dir(t)
	srv := shareddata.Serve(t, dir)
	exp := shareddata.Expect(t, dir)
	prof := srv.Enrol(t, shareddata.Paramedic)
	kc := prof.Open(t)
	t.Cleanup(func() { kc.Close() })
	h := newHarness(t, kc)
	h.unlock(shareddata.Passphrase)
	h.waitScreen(screenMain)
	opened := 0
	for _, nhs := range srv.NHS {
		p := exp[nhs]
		checkResultRow(h, p)
		h.openNHS(record.NHSNumber(nhs))
		h.expandAll()
		p.CheckText(t, "window", h.text())
		opened++
	}
	if opened != 21 {
		t.Errorf("%d patients opened; the shared data has 21 that may be held offline", opened)
	}
}

// checkResultRow searches for p by NHS number and checks its result row:
// a deceased patient's says so, with the age at death when the date is
// known (the age stops at death in every screen); a living one's does not.
func checkResultRow(h *harness, p *shareddata.Patient) {
	h.t.Helper()
	h.search(p.NHS.String())
	var row string
	h.ui(func() {
		if rows := h.u.main.results.rows; len(rows) == 1 {
			row = strings.Join(texts(rows[0]), " ")
		}
	})
	switch {
	case row == "":
		h.t.Errorf("NHS %s: no single result row", p.NHS)
	case p.Deceased && (!strings.Contains(row, "DECEASED") || !strings.Contains(row, p.AgeAtDeath)):
		h.t.Errorf("NHS %s (died, aged %s): result row %q", p.NHS, p.AgeAtDeath, row)
	case !p.Deceased && strings.Contains(row, "DECEASED"):
		h.t.Errorf("NHS %s (alive): result row %q", p.NHS, row)
	}
}
