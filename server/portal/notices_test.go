package portal_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/devidp"
	"kmcr/server/notify"
	"kmcr/server/store"
)

// TestPortal_HomeListsNotifications_SignInKeepsEmail: signing in at P9
// keeps the provider's email claim as the patient's notification address
// (a lower level does not); the home page lists a break-glass and a new
// organisation's first look, newest first, and says they were emailed.
func TestPortal_HomeListsNotifications_SignInKeepsEmail(t *testing.T) {
	r := newRig(t)
	nhs := r.nhs[0]
	low := r.browser()
	low.signIn(record.NHSNumber(r.nhs[1]).String(), devidp.DemoPassword, devidp.LevelP5)
	if c, _ := r.st.Contact(r.nhs[1]); c != "" {
		t.Fatalf("a P5 sign-in kept %q as the notification address", c)
	}
	b := r.browser()
	st, body := b.signIn(record.NHSNumber(nhs).String(), devidp.DemoPassword, devidp.LevelP9)
	if st != http.StatusOK || !strings.Contains(body, "Nobody has used emergency access") {
		t.Fatalf("home with no notifications: %d\n%s", st, body)
	}
	email, _ := r.st.Contact(nhs)
	if !strings.HasPrefix(email, "citizen-") || !strings.HasSuffix(email, "@demo.invalid") {
		t.Fatalf("notification address after a P9 sign-in: %q", email)
	}
	if !strings.Contains(body, "We also email you at "+email) {
		t.Fatalf("home does not say where notifications are emailed:\n%s", body)
	}
	if err := r.st.AddOrg(store.Org{ODS: "RKA01", Name: "Kent and Medway Ambulance Service", Kind: "ambulance", DSPT: "met"}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.AddOrg(store.Org{ODS: "G82001", Name: "Riverside Surgery", Kind: "gp", DSPT: "met"}); err != nil {
		t.Fatal(err)
	}
	priya := store.User{Name: "priya.medic", Role: "paramedic", Org: "RKA01"}
	gill := store.User{Name: "gill", Role: "community", Org: "G82001"}
	at := time.Date(2026, 12, 3, 14, 2, 0, 0, time.UTC)
	bg := audit.Event{Seq: 1, Action: audit.ActionBreakGlass, Occurred: at, User: audit.Actor{ID: priya.Name, Name: "Priya Raman", Role: "paramedic"},
		Device: audit.Device{ID: "dev-priya", Host: "ambulance-12"}, Patient: record.NHSNumber(nhs), Purpose: "ETREAT",
		BreakGlass: &audit.BreakGlass{ReasonCode: "unconscious"}, Outcome: audit.Outcome{Result: audit.ResultSuccess}}
	view := viewBy(gill.Name, "Gill Hart", "community", nhs, "tablet", at.Add(time.Hour))
	view.Seq = 1
	if err := notify.Queue(r.st, "dev-priya", priya, []audit.Event{bg}, r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := notify.Queue(r.st, "device-gill", gill, []audit.Event{view}, r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	_, body = b.get("/my/")
	i := strings.Index(body, "Staff at Riverside Surgery looked at your record for the first time on 3 Dec 2026 at 15:02.")
	j := strings.Index(body, "Priya Raman of Kent and Medway Ambulance Service used emergency access (break-glass) to open your record on 3 Dec 2026 at 14:02.")
	if i < 0 || j < 0 || i > j {
		t.Fatalf("home does not list both notifications, newest first:\n%s", body)
	}
	if strings.Contains(body, "We emailed you about this") {
		t.Fatal("home says emailed before anything was sent")
	}
}
