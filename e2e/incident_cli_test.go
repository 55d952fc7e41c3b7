package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"kmcr/record"
)

// TestCLI_IncidentStatusShowAndEnd runs a dispatch incident through the
// real programs: "kmcr-server incident open" names the crew at a patient's
// home; one "kmcr sync --once" brings the summary and the incident, and
// "kmcr status --json" lists it under "incidents" with id, address,
// expires (RFC 3339) and nhs, the text form with the window's line; the
// candidate, on no caseload, shows without break-glass; "incident close"
// and one more sync take the incident and the summary off the device
// while the caseload stays.
func TestCLI_IncidentStatusShowAndEnd(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 20, 5)
	d.addUser("para", "paramedic", d.nhs[:4]...)
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")

	imp, err := record.ReadPaths(d.seedDir)
	if err != nil {
		t.Fatal(err)
	}
	target := record.NHSNumber(d.nhs[11])
	var home record.Address
	for _, pt := range imp.Patients {
		if pt.NHS == target {
			home = record.Summarise(pt, time.Now()).Demographics.Address
		}
	}
	if len(home.Lines) == 0 || home.Postcode == "" {
		t.Fatalf("patient %s has no home address to send a crew to: %+v", target, home)
	}
	d.mustAdmin("incident", "open", "--id", "E2E-4711", "--address", home.Lines[0], "--postcode", home.Postcode, "--crew", "para", "--expires", "2h")
	opened := time.Now()
	p.mustKmcr("sync", "--once")

	var st struct {
		CachedPatients int `json:"cached_patients"`
		Incidents      []struct {
			ID       string   `json:"id"`
			Address  string   `json:"address"`
			Expires  string   `json:"expires"`
			NHS      []string `json:"nhs"`
			OnDevice []string `json:"on_device"`
		} `json:"incidents"`
	}
	status := func() {
		t.Helper()
		r := p.mustKmcr("status", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, r)
		}
	}
	status()
	if len(st.Incidents) != 1 {
		t.Fatalf("status lists %d incidents; want 1: %+v", len(st.Incidents), st.Incidents)
	}
	in := st.Incidents[0]
	exp, err := time.Parse(time.RFC3339, in.Expires)
	if err != nil || exp.Before(opened.Add(2*time.Hour-time.Minute)) || exp.After(time.Now().Add(2*time.Hour+time.Minute)) {
		t.Fatalf("expires %q (%v); want RFC 3339, 2 h from the open", in.Expires, err)
	}
	wantAddr := home.Lines[0] + " " + record.NormalisePostcode(home.Postcode)
	if in.ID != "E2E-4711" || in.Address != wantAddr || !slices.Contains(in.NHS, target.Digits()) || !slices.Equal(in.NHS, in.OnDevice) {
		t.Fatalf("status incident %+v; want id E2E-4711 at %q naming %s, every candidate on the device", in, wantAddr, target)
	}
	if st.CachedPatients != 4+len(in.NHS) {
		t.Fatalf("cached %d; want the caseload's 4 and the incident's %d", st.CachedPatients, len(in.NHS))
	}
	text := p.mustKmcr("status").stdout
	if !strings.Contains(text, "Incident E2E-4711: ") || !strings.Contains(text, " recorded at "+wantAddr) {
		t.Fatalf("status text lacks the incident's line:\n%s", text)
	}
	show := p.mustKmcr("show", target.Digits())
	if !strings.Contains(show.stdout, banner(target.Digits())) || strings.Contains(show.stdout, "EMERGENCY ACCESS") {
		t.Fatalf("show of the incident's candidate:\n%s", show)
	}

	d.mustAdmin("incident", "close", "--id", "E2E-4711")
	p.mustKmcr("sync", "--once")
	status()
	if len(st.Incidents) != 0 || st.CachedPatients != 4 {
		t.Fatalf("after the incident closed: incidents %+v, cached %d; want none and the caseload's 4", st.Incidents, st.CachedPatients)
	}
	if r := p.kmcr(runOpts{}, "show", target.Digits()); r.code == 0 || !strings.Contains(r.stderr, "not available on this device") {
		t.Fatalf("show of the candidate after the incident closed: want a clear failure:\n%s", r)
	}
}
