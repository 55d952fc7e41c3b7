package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCLI_EnrolSearchShowRemoveOffline guards the sync issue's command line
// promises end to end over TLS websockets, with the server as a
// subprocess: enrol, search and show work; after "caseload remove" and one
// "kmcr sync --once" the removed patient cannot be shown; with the server
// stopped a cached patient still can.
func TestCLI_EnrolSearchShowRemoveOffline(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 20, 3)
	caseload := d.nhs[:10]
	d.addUser("para", "paramedic", caseload...)
	srv := d.serve("127.0.0.1:0")

	p := newProfile(t)
	out := p.enrol(srv.url(), d.ca, "para")
	if !strings.Contains(out.stdout, "10 patient(s) cached") {
		t.Fatalf("enrol did not report 10 cached patients:\n%s", out)
	}
	st := p.status()
	if !st.Enrolled || st.CachedPatients != 10 || !st.FirstSyncComplete || st.Role != "paramedic" {
		t.Fatalf("status after enrol: %+v", st)
	}

	kept, removed, never := caseload[0], caseload[1], d.nhs[15]
	show := p.mustKmcr("show", kept)
	if !strings.Contains(show.stdout, banner(kept)) || !strings.Contains(show.stdout, "As of ") {
		t.Fatalf("show printed no banner or as-of line:\n%s", show)
	}
	var view struct {
		Summary struct {
			Demographics struct {
				Name struct{ Family string }
			}
		}
	}
	js := p.mustKmcr("show", kept, "--json")
	if err := json.Unmarshal([]byte(js.stdout), &view); err != nil || view.Summary.Demographics.Name.Family == "" {
		t.Fatalf("show --json: %v\n%s", err, js)
	}
	for _, q := range []string{kept, view.Summary.Demographics.Name.Family} {
		s := p.mustKmcr("search", q)
		if !strings.Contains(s.stdout, banner(kept)[len("NHS No. "):]) {
			t.Fatalf("search %q does not list %s:\n%s", q, kept, s)
		}
	}
	if r := p.kmcr(runOpts{}, "show", never); r.code == 0 || !strings.Contains(r.stderr, "not available on this device") {
		t.Fatalf("show of a patient never in the caseload: want a clear failure:\n%s", r)
	}

	// Online, break-glass reaches a patient outside the caseload: the
	// server grants a relationship and sends the summary.
	bg := p.mustKmcr("show", never, "--break-glass", "--reason", "unplanned-care", "--reason-text", "walked in to the ambulance station")
	if !strings.Contains(bg.stdout, banner(never)) || !strings.Contains(bg.stdout, "EMERGENCY ACCESS (break-glass)") {
		t.Fatalf("online break-glass show of a patient outside the caseload:\n%s", bg)
	}
	// Once the device's break-glass event has been delivered, the access
	// log holds it, and the privacy officer has exactly one alert: the
	// server's grant; the device's event for that same access adds none.
	p.mustKmcr("sync", "--once")
	if st := p.status(); st.PendingAuditEvents != 0 {
		t.Fatalf("after sync --once: %d events pending, want 0", st.PendingAuditEvents)
	}
	bgEvents := 0
	for _, e := range d.accessLog(never) {
		if slices.Contains(e.Purposes, "BTG") {
			bgEvents++
		}
	}
	if bgEvents == 0 {
		t.Fatalf("the access log of %s holds no break-glass event: %+v", never, d.accessLog(never))
	}
	if as := alertsOf(d.alerts(), "break-glass", ""); len(as) != 1 || as[0].NHS != never || !strings.Contains(as[0].Detail, "emergency access granted") {
		t.Fatalf("online break-glass: want exactly the grant's alert, got %+v", as)
	}

	d.mustAdmin("caseload", "remove", "--user", "para", "--nhs", removed)
	p.mustKmcr("sync", "--once")
	r := p.kmcr(runOpts{}, "show", removed)
	if r.code == 0 || strings.Contains(r.stdout, banner(removed)) || !strings.Contains(r.stderr, "not available on this device") {
		t.Fatalf("show of a removed patient after one sync: want a clear failure and no summary:\n%s", r)
	}
	if st := p.status(); st.CachedPatients != 10 {
		t.Fatalf("after removing one patient and breaking the glass for another: %d cached, want 10", st.CachedPatients)
	}

	srv.stop()
	show = p.mustKmcr("show", kept)
	if !strings.Contains(show.stdout, banner(kept)) {
		t.Fatalf("show of a cached patient with the server stopped:\n%s", show)
	}
	if r := p.kmcr(runOpts{}, "sync", "--once"); r.code == 0 || !strings.Contains(r.stderr, "unreachable") {
		t.Fatalf("sync --once with the server stopped: want a non-zero exit naming the reason:\n%s", r)
	}
}

// TestCLI_OfflineViewsReachAccessLog guards the audit issue's promise: views
// made with the server down, a break-glass view among them, appear in
// "kmcr-server access-log" after "kmcr sync --once", each exactly once,
// with user, device and reason; "kmcr status --json" shows them pending
// before and zero after.
func TestCLI_OfflineViewsReachAccessLog(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 8, 4)
	d.addUser("para", "paramedic", d.nhs[:6]...)
	srv := d.serve("127.0.0.1:0")
	addr := srv.addr
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")
	st := p.status()
	if st.PendingAuditEvents != 0 {
		t.Fatalf("after enrol %d events pending, want 0 (the first sync delivers the queue)", st.PendingAuditEvents)
	}
	device := st.DeviceID

	srv.stop()
	// Views offline: two of one patient, one each of two more, and a
	// break-glass view of a fourth (cached) patient.
	views := map[string]int{d.nhs[0]: 2, d.nhs[1]: 1, d.nhs[2]: 1}
	for _, n := range []string{d.nhs[0], d.nhs[1], d.nhs[0], d.nhs[2]} {
		if r := p.mustKmcr("show", n); !strings.Contains(r.stdout, banner(n)) {
			t.Fatalf("offline show of %s printed no banner:\n%s", n, r)
		}
	}
	bgNHS, bgText := d.nhs[3], "unconscious at roadside, no relationship on record"
	bg := p.mustKmcr("show", bgNHS, "--break-glass", "--reason", "emergency-treatment", "--reason-text", bgText)
	if !strings.Contains(bg.stdout, banner(bgNHS)) || !strings.Contains(bg.stderr, "EMERGENCY ACCESS") {
		t.Fatalf("offline break-glass show:\n%s", bg)
	}
	// Offline, break-glass falls back to the cached summary as soon as the
	// server is found unreachable (it used to wait 8 s for a connection).
	if bg.took > 5*time.Second {
		t.Fatalf("offline break-glass took %v to show the summary", bg.took)
	}
	if st := p.status(); st.PendingAuditEvents != 5 {
		t.Fatalf("with the server down: %d events pending, want 5 (4 views and a break-glass view)", st.PendingAuditEvents)
	}

	d.serve(addr) // the address the profile was enrolled with
	p.mustKmcr("sync", "--once")
	if st := p.status(); st.PendingAuditEvents != 0 {
		t.Fatalf("after sync --once: %d events pending, want 0", st.PendingAuditEvents)
	}

	seen := map[string]bool{}
	for _, n := range d.nhs[:4] {
		var got []accessEvent
		for _, e := range d.accessLog(n) {
			if seen[e.ID] {
				t.Fatalf("event %s listed twice", e.ID)
			}
			seen[e.ID] = true
			if e.Device == device {
				got = append(got, e)
			}
		}
		if n == bgNHS {
			if len(got) != 1 || got[0].User != "para" || got[0].Patient != n ||
				!slices.Contains(got[0].Purposes, "BTG") || !slices.Contains(got[0].Purposes, "emergency-treatment") || !slices.Contains(got[0].Reasons, bgText) {
				t.Fatalf("access log of %s: want one break-glass event by para from %s with its reason, got %+v", n, device, got)
			}
			continue
		}
		if len(got) != views[n] {
			t.Fatalf("access log of %s: %d events from %s, want %d: %+v", n, len(got), device, views[n], got)
		}
		for _, e := range got {
			if !e.isView() || e.User != "para" || e.Patient != n || len(e.Purposes) == 0 {
				t.Fatalf("access log of %s: want a read by para with a purpose, got %+v", n, e)
			}
		}
	}
	text := d.mustAdmin("access-log", "--nhs", bgNHS)
	if !strings.Contains(text.stdout, "BREAK-GLASS emergency-treatment: "+bgText) || !strings.Contains(text.stdout, device) {
		t.Fatalf("access-log text does not show the break-glass reason and device:\n%s", text)
	}
	if bgs := alertsOf(d.alerts(), "break-glass", device); len(bgs) != 1 || bgs[0].NHS != bgNHS {
		t.Fatalf("want one break-glass alert for %s, got %+v", bgNHS, bgs)
	}
}
