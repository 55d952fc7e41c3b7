package present

import "testing"

// TestHeldMark names every relationship but the caseload on a row.
func TestHeldMark(t *testing.T) {
	for r, want := range map[Relationship]string{"": "", RelCaseload: "", RelBreakGlass: "EMERGENCY ACCESS", "incident": "INCIDENT", "shared-care": "SHARED CARE"} {
		if got := HeldMark(r); got != want {
			t.Errorf("HeldMark(%q) = %q; want %q", r, got, want)
		}
	}
}
