package present

import "strings"

// HeldMark is the mark a list of patients puts on a row held for a
// reason other than the user's caseload: "EMERGENCY ACCESS" for
// break-glass, "INCIDENT" for a dispatch incident, and for any other
// relationship its name in capitals, so no such record looks like the
// caseload. A caseload row, or one whose relationship is not known, has
// none.
func HeldMark(r Relationship) string {
	switch r {
	case "", RelCaseload:
		return ""
	case RelBreakGlass:
		return "EMERGENCY ACCESS"
	case RelIncident:
		return "INCIDENT"
	}
	return strings.ToUpper(strings.ReplaceAll(string(r), "-", " "))
}
