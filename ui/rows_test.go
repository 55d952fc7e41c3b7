package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"kmcr/core"
	"kmcr/present"
	"kmcr/record"
)

// rowText is what a result row says.
func rowText(h *harness, r *patientRow) string {
	var s string
	h.ui(func() { s = strings.Join(texts(r), "\n") })
	return s
}

// TestFinder_RowsShowGenderAndMarkEmergencyAccess is the defect
// "look-alikes sit side by side without gender", and rows that did not say
// a record is held by break-glass: after emergency access to a patient,
// their row says EMERGENCY ACCESS and their gender; a caseload patient's
// row says the gender and carries no mark.
func TestFinder_RowsShowGenderAndMarkEmergencyAccess(t *testing.T) {
	h := unlocked(t, freshUser(t, "paramedic"))
	h.waitFor("the connection", func() bool { return h.u.status.State == core.SyncUpToDate })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := h.core.BreakGlass(ctx, fixture.uncached.Digits(), core.BreakGlassReason{Code: "emergency-treatment"}); err != nil {
		t.Fatal(err)
	}
	h.ui(h.u.goSearch)
	h.search(fixture.uncached.Digits())
	var rows []*patientRow
	h.ui(func() { rows = h.u.main.results.rows })
	if len(rows) != 1 {
		t.Fatalf("searching %s listed %d rows", fixture.uncached, len(rows))
	}
	text := rowText(h, rows[0])
	mustContain(t, text, "EMERGENCY ACCESS", "Gender")
	if g := rows[0].entry.Banner(time.Now()).Gender; g == "" || g == "Not recorded" || !strings.Contains(text, g) {
		t.Errorf("the row does not say the gender %q:\n%s", g, text)
	}
	h.search(fixture.rich.Digits())
	h.ui(func() { rows = h.u.main.results.rows })
	if len(rows) != 1 {
		t.Fatalf("searching %s listed %d rows", fixture.rich, len(rows))
	}
	text = rowText(h, rows[0])
	mustContain(t, text, "Gender")
	mustNotContain(t, text, "EMERGENCY ACCESS", "INCIDENT")
}

// TestFinder_IncidentRowsAreMarked checks a record held for a dispatch
// incident, or for any relationship but the caseload, is marked on its
// row, and a caseload one is not.
func TestFinder_IncidentRowsAreMarked(t *testing.T) {
	h := fixtureHarness(t)
	var l *resultList
	entry := func(nhs, held string) core.PatientEntry {
		return core.PatientEntry{NHS: record.NHSNumber("999000" + nhs), Family: "SMITH", Given: "Shirley", BirthDate: "1930-05-19", Postcode: "TN23 1AA",
			Gender: "female", Held: held, HeldMark: present.HeldMark(present.Relationship(held))}
	}
	h.ui(func() {
		l = newResultList(h.u, "", nil)
		l.set([]core.PatientEntry{entry("0018", "incident"), entry("0026", "caseload"), entry("0034", "break-glass")})
		h.u.setContent("list", l.root)
	})
	for i, want := range []string{"INCIDENT", "", "EMERGENCY ACCESS"} {
		text := rowText(h, l.rows[i])
		if want != "" {
			mustContain(t, text, want)
		} else {
			mustNotContain(t, text, "INCIDENT", "EMERGENCY ACCESS")
		}
		mustContain(t, text, "Female")
	}
}
