package portal_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/devidp"
	"kmcr/server/store"
)

// storeAccesses stores events about nhs from one clinician's device, as
// the sync service does when a device delivers them; recorded[i] is when
// event i reached the record.
func storeAccesses(t *testing.T, st store.Store, device string, events []audit.Event, recorded []time.Time) {
	t.Helper()
	if _, err := st.Device(device); err != nil {
		if err := st.RegisterDevice(store.Device{ID: device, User: events[0].User.ID, Host: events[0].Device.Host, Registered: events[0].Occurred}); err != nil {
			t.Fatal(err)
		}
	}
	var head audit.Head
	var stored []store.StoredEvent
	for i, e := range events {
		e, head = audit.Next(head, e)
		stored = append(stored, store.StoredEvent{Device: device, Seq: e.Seq, Hash: head.Hash[:], Canonical: e.Canonical(), Recorded: recorded[i], NHS: e.Patient.Digits()})
	}
	chain, _ := json.Marshal(audit.DeviceChain{DeviceID: device, LastSeq: head.Seq, LastHash: head.Hash})
	if err := st.StoreAudit(device, stored, nil, nil, chain); err != nil {
		t.Fatal(err)
	}
}

func viewBy(user, name, role, nhs, host string, at time.Time) audit.Event {
	return audit.Event{Action: audit.ActionView, Occurred: at, User: audit.Actor{ID: user, Name: name, Role: role},
		Device: audit.Device{ID: "device-" + user, Host: host}, Patient: record.NHSNumber(nhs),
		Sections: []string{"allergies", "medications"}, Purpose: "TREAT", Outcome: audit.Outcome{Result: audit.ResultSuccess}}
}

// TestPortal_WhoViewed_OfflineBreakGlassPagedFiltered checks the "who
// viewed" page names each person, role and organisation, shows an offline
// view with both times, never hides a break-glass and its reason, pages
// newest first, filters by date, and downloads the same as a FHIR Bundle.
func TestPortal_WhoViewed_OfflineBreakGlassPagedFiltered(t *testing.T) {
	r := newRig(t)
	nhs := r.nhs[0]
	if err := r.st.AddOrg(store.Org{ODS: "RKA01", Name: "Kent and Medway Ambulance Service", Kind: "ambulance", DSPT: "met"}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.AddUser(store.User{Name: "pat.medic", Role: "paramedic", Org: "RKA01"}); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 3, 14, 2, 0, 0, time.UTC) // GMT: UK time is UTC in December
	var evs []audit.Event
	var rec []time.Time
	// 44 online views on 1 Dec, one a minute.
	for i := range 44 {
		at := day.AddDate(0, 0, -2).Add(time.Duration(i) * time.Minute)
		evs = append(evs, viewBy("pat.medic", "Pat Medic", "paramedic", nhs, "ambulance-7", at))
		rec = append(rec, at.Add(3*time.Second))
	}
	// An offline view on 3 Dec at 14:02, reported at 18:40.
	evs = append(evs, viewBy("pat.medic", "Pat Medic", "paramedic", nhs, "ambulance-7", day))
	rec = append(rec, day.Add(4*time.Hour+38*time.Minute))
	// A break-glass the next minute.
	bg := viewBy("pat.medic", "Pat Medic", "paramedic", nhs, "ambulance-7", day.Add(time.Minute))
	bg.Action, bg.Sections, bg.Purpose = audit.ActionBreakGlass, nil, "ETREAT"
	bg.BreakGlass = &audit.BreakGlass{ReasonCode: "unconscious", ReasonText: "found unconscious at home"}
	evs = append(evs, bg)
	rec = append(rec, day.Add(4*time.Hour+38*time.Minute))
	storeAccesses(t, r.st, "device-pat.medic", evs, rec)
	// Someone else's patient is not listed.
	storeAccesses(t, r.st, "device-other", []audit.Event{viewBy("other", "Olive Other", "community", r.nhs[1], "laptop-2", day)}, []time.Time{day})

	b := r.browser()
	b.signIn(nhs, devidp.DemoPassword, devidp.LevelP9)
	st, body := b.get("/my/who-viewed")
	if st != http.StatusOK {
		t.Fatalf("who viewed: %d\n%s", st, body)
	}
	for _, want := range []string{
		"46 recorded accesses", "Page 1 of 3",
		"Pat Medic, Paramedic, Kent and Medway Ambulance Service",
		"Viewed offline on 3 Dec 2026 at 14:02, reported 3 Dec 2026 at 18:40",
		"Emergency access", "found unconscious at home", "ambulance-7",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page 1 lacks %q", want)
		}
	}
	if strings.Contains(body, "Olive Other") {
		t.Error("another patient's access is listed")
	}
	if strings.Index(body, "3 Dec 2026 at 14:03, reported") > strings.Index(body, "3 Dec 2026 at 14:02, reported") {
		t.Error("not newest first: the break-glass (14:03) comes after the 14:02 view")
	}
	if n := strings.Count(body, `class="nhsuk-card__heading nhsuk-heading-s"`); n != 20 {
		t.Errorf("page 1 lists %d accesses; want 20", n)
	}
	// An access delivered after the page was read is on the next one.
	late := viewBy("late", "Larry Late", "community", nhs, "laptop-3", day.Add(2*time.Minute))
	storeAccesses(t, r.st, "device-late", []audit.Event{late}, []time.Time{r.clk.Now()})
	if _, again := b.get("/my/who-viewed"); !strings.Contains(again, "47 recorded accesses") || !strings.Contains(again, "Larry Late") {
		t.Fatal("an access stored after the first reading of the page is missing")
	}
	_, last := b.get("/my/who-viewed?page=3")
	if n := strings.Count(last, `class="nhsuk-card__heading nhsuk-heading-s"`); n != 7 || !strings.Contains(last, "Page 3 of 3") {
		t.Errorf("page 3 lists %d accesses", n)
	}
	// Filtered to 3 Dec: the offline view and the break-glass.
	_, f := b.get("/my/who-viewed?from=2026-12-03&to=2026-12-03")
	if !strings.Contains(f, "3 recorded accesses") || !strings.Contains(f, "found unconscious") {
		t.Errorf("filtered page:\n%s", f)
	}
	if st, f := b.get("/my/who-viewed?from=03/12/2026"); st != http.StatusBadRequest || !strings.Contains(f, "year-month-day") {
		t.Errorf("bad date: %d", st)
	}
	// The download holds the same accesses as AuditEvents.
	st, dl := b.get("/my/who-viewed/bundle.json?from=2026-12-03&to=2026-12-03")
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Total        int    `json:"total"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if st != http.StatusOK || json.Unmarshal([]byte(dl), &bundle) != nil || bundle.ResourceType != "Bundle" || bundle.Total != 3 || len(bundle.Entry) != 3 || bundle.Entry[0].Resource.ResourceType != "AuditEvent" {
		t.Fatalf("download: %d %.300s", st, dl)
	}
}
