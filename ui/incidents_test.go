package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"

	"kmcr/audit"
	"kmcr/core"
	"kmcr/record"
	"kmcr/server"
)

// TestIncidents_LineOpenAuditAndEnd follows a crew through a dispatch
// incident on the real server: the finder shows "Incident ID: N people
// recorded at ADDRESS" above the search with each candidate as a result
// row; Up from the search box reaches the rows and Enter opens the
// candidate without emergency access, as a view whose audit event (in the
// server's access log) has the purpose "emergency care, incident ID"; an
// incident with nobody recorded says so and offers search and emergency
// access; and when dispatch closes the incident, its line goes, the open
// summary closes with a plain message and the summary leaves the device.
func TestIncidents_LineOpenAuditAndEnd(t *testing.T) {
	user := freshUser(t, "paramedic")
	h := unlocked(t, user)
	ctx := context.Background()
	id := fmt.Sprintf("ui-%d", fixture.users)
	home := fixture.uncachedHome
	if len(home.Lines) == 0 || home.Postcode == "" {
		t.Fatalf("the uncached patient %s has no home address to send a crew to: %+v", fixture.uncached, home)
	}
	info, err := fixture.admin.IncidentOpen(ctx, server.IncidentArgs{ID: id, Line: home.Lines[0], Postcode: home.Postcode, Crew: []string{user}, Expires: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(info.NHS, fixture.uncached.Digits()) {
		t.Fatalf("the incident at %s, %s found %v; want %s among them", home.Lines[0], home.Postcode, info.NHS, fixture.uncached)
	}
	people := fmt.Sprintf("%d people", info.Candidates)
	if info.Candidates == 1 {
		people = "1 person"
	}
	heading := "Incident " + id + ": " + people + " recorded at " + home.Lines[0] + " " + record.NormalisePostcode(home.Postcode)
	h.waitFor("the incident's line and its candidates", func() bool {
		return h.u.main != nil && len(h.u.main.incidents.rows()) == info.Candidates
	})
	mustContain(t, h.text(), heading, "no emergency access is needed")
	// The uncached patient is on no caseload: a row like a search result's.
	var idx int
	h.ui(func() {
		rows := h.u.main.incidents.rows()
		idx = slices.IndexFunc(rows, func(r *patientRow) bool { return r.entry.NHS == fixture.uncached })
	})
	if idx < 0 {
		t.Fatalf("no row for %s under the incident", fixture.uncached)
	}
	mustContain(t, h.text(), fixture.uncached.String())

	// Keyboard: Up from the search box selects the last candidate, Up
	// moves along them, Enter opens.
	h.ui(func() {
		m := h.u.main
		h.u.win.Canvas().Focus(m.query)
		m.query.TypedKey(&fyne.KeyEvent{Name: fyne.KeyUp})
		rows := m.incidents.rows()
		for i := len(rows) - 1; i > idx; i-- {
			rows[i].TypedKey(&fyne.KeyEvent{Name: fyne.KeyUp})
		}
		if h.u.win.Canvas().Focused() != rows[idx] {
			t.Errorf("the keys did not reach the candidate's row")
			return
		}
		rows[idx].TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	h.waitScreen(screenSummary)
	text := h.text()
	mustContain(t, text, "INCIDENT "+id, fixture.uncached.String(), "dispatch incident")
	if strings.Contains(text, "EMERGENCY ACCESS (break-glass)") {
		t.Errorf("an incident candidate opened as emergency access:\n%s", text)
	}

	// The view reaches the server under the incident's purpose.
	var view *audit.Event
	deadline := time.Now().Add(30 * time.Second)
	for view == nil && time.Now().Before(deadline) {
		res, err := fixture.admin.AccessLog(ctx, fixture.uncached.Digits())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Entries {
			if e.Event.User.ID == user && e.Event.Action == audit.ActionView {
				view = &e.Event
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if view == nil || view.Purpose != "emergency care, incident "+id || view.BreakGlass != nil {
		t.Fatalf("the candidate's view in the access log: %+v; want purpose %q and no break-glass", view, "emergency care, incident "+id)
	}

	// An incident where nobody is recorded says so, and where to go next.
	nobody := id + "-0"
	if _, err := fixture.admin.IncidentOpen(ctx, server.IncidentArgs{ID: nobody, Line: "1 Nowhere Lane", Postcode: "ME99 9ZZ", Crew: []string{user}, Expires: "1h"}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the second incident in the status", func() bool { return len(h.u.status.Incidents) == 2 })

	// Dispatch closes the first: the summary closes with a plain message,
	// the line goes, and the summary leaves the device.
	if _, err := fixture.admin.IncidentClose(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.waitScreen(screenMain)
	h.waitFor("the closed incident's line gone", func() bool {
		return len(h.u.main.incidents.rows()) == 0 && strings.Contains(strings.Join(texts(h.u.main.incidents.root), "\n"), "Incident "+nobody)
	})
	text = h.text()
	mustContain(t, text, "Incident "+id+" has ended, so this summary was closed",
		"Incident "+nobody+": 0 people recorded at 1 Nowhere Lane ME99 9ZZ", "Search for the patient when you arrive", "Emergency access…")
	if strings.Contains(text, heading) {
		t.Errorf("the closed incident's line is still shown:\n%s", text)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, err := h.core.OpenIncidentPatient(id, fixture.uncached.Digits())
		_, oerr := h.core.OpenPatient(fixture.uncached.Digits(), nil)
		if errors.Is(err, core.ErrIncidentEnded) && errors.Is(oerr, core.ErrNotCached) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the incident closed: open for it = %v, open = %v; want ended and not cached", err, oerr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := fixture.admin.IncidentClose(ctx, nobody); err != nil {
		t.Fatal(err)
	}
}
