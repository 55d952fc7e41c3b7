package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"kmcr/record"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// TestCore_Trace_ThenBreakGlass checks the paramedic's path with no NHS
// number: trace by family name (any case) and date of birth (as typed in
// the search's forms) against the real server, the candidate's banner,
// then break-glass on its NHS number; offline, the trace says it needs a
// connection.
func TestCore_Trace_ThenBreakGlass(t *testing.T) {
	ts := startServer(t, 6)
	ts.addUser("amy", "paramedic", ts.nhs[:2]...)
	c, _ := enrolled(t, ts, "amy")
	serveSync(t, c)
	waitFor(t, func() bool { return strings.HasPrefix(c.Status().Connection, "up to date") })

	doc, err := ts.st.Doc(ts.nhs[4], store.DocDemographics)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.ParseBundle(doc)
	if err != nil {
		t.Fatal(err)
	}
	d := record.Summarise(rec, time.Now()).Demographics
	born := d.BirthDate.Time.Format("02/01/2006")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := c.Trace(ctx, "", born, ""); !errors.Is(err, ErrTraceInput) {
		t.Fatalf("trace without a family name = %v", err)
	}
	if _, err := c.Trace(ctx, d.Name.Family, "31/02/1950", ""); !errors.Is(err, ErrTraceInput) {
		t.Fatalf("trace with an impossible date = %v", err)
	}
	res, err := c.Trace(ctx, strings.ToUpper(d.Name.Family), born, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Candidates) != 1 || res.Candidates[0].NHS.Digits() != ts.nhs[4] || res.TooMany {
		t.Fatalf("trace = %+v; want only %s", res, ts.nhs[4])
	}
	b := res.Candidates[0].Banner(time.Now())
	if !strings.Contains(b.Name, strings.ToUpper(d.Name.Family)) || b.Gender == "" || b.Gender == "Not recorded" || !strings.Contains(b.Born, d.BirthDate.Time.Format("02-Jan-2006")) || b.Address == "" {
		t.Fatalf("candidate banner %+v", b)
	}
	if res, err := c.Trace(ctx, d.Name.Family, "01/01/1901", ""); err != nil || len(res.Candidates) != 0 || res.Message == "" {
		t.Fatalf("trace of nobody = %+v, %v; want none, said plainly", res, err)
	}
	v, err := c.BreakGlass(ctx, res.Candidates[0].NHS.Digits(), BreakGlassReason{Code: "emergency-treatment"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Relationship != protocol.RelBreakGlass || v.NHS.Digits() != ts.nhs[4] {
		t.Fatalf("break-glass view %+v", v)
	}
	// The row of a patient held under emergency access says so, with the
	// gender; a caseload patient's row carries no mark.
	found, err := c.Search(ts.nhs[4], 10)
	if err != nil || len(found.Entries) != 1 {
		t.Fatalf("search %s = %+v, %v", ts.nhs[4], found, err)
	}
	if e := found.Entries[0]; e.HeldMark != "EMERGENCY ACCESS" || e.Held != protocol.RelBreakGlass || e.Gender == "" {
		t.Fatalf("the break-glass row %+v; want the EMERGENCY ACCESS mark and the gender", e)
	}
	if own, err := c.Search(ts.nhs[0], 10); err != nil || len(own.Entries) != 1 || own.Entries[0].HeldMark != "" || own.Entries[0].Held != protocol.RelCaseload {
		t.Fatalf("the caseload row %+v, %v; want no mark", own, err)
	}
	c.StopSync()
	if _, err := c.Trace(ctx, d.Name.Family, born, ""); !errors.Is(err, ErrTraceNeedsConnection) {
		t.Fatalf("offline trace = %v; want ErrTraceNeedsConnection", err)
	}
}
