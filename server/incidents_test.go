package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// addressOf is a patient's first current address, as the store found it.
func (ts *testServer) addressOf(nhs string) (line, postcode string) {
	ts.t.Helper()
	m, err := ts.st.Patient(nhs)
	if err != nil {
		ts.t.Fatal(err)
	}
	if len(m.Addresses) == 0 {
		ts.t.Fatalf("patient %s has no current address recorded", nhs)
	}
	return m.Addresses[0].Line, m.Addresses[0].Postcode
}

// openAt opens an incident at a patient's address from the command line.
func (ts *testServer) openAt(id, nhs string, crew ...string) store.Incident {
	ts.t.Helper()
	line, pc := ts.addressOf(nhs)
	in, err := ts.svc.OpenIncident(IncidentArgs{ID: id, Line: line, Postcode: strings.ToLower(strings.ReplaceAll(pc, " ", "")), Crew: crew, Source: IncidentSourceAdmin})
	if err != nil {
		ts.t.Fatal(err)
	}
	if !slices.Contains(in.NHS, nhs) {
		ts.t.Fatalf("incident at %s, %s found %v; want %s among them", line, pc, in.NHS, nhs)
	}
	return in
}

func TestIncident_CandidatesByPostcodeAndPremise(t *testing.T) {
	ts := newTestServer(t, 30)
	ts.addUser("amy", "paramedic")
	line, pc := ts.addressOf(ts.nhs[3])
	// The same home written another way is found; a different house
	// number at the same postcode is not.
	in, err := ts.svc.OpenIncident(IncidentArgs{ID: "4711", Line: strings.ToUpper(line) + ".", Postcode: pc, Crew: []string{"amy"}, Source: "cad"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(in.NHS, ts.nhs[3]) {
		t.Fatalf("candidates %v; want %s", in.NHS, ts.nhs[3])
	}
	for _, n := range in.NHS {
		m, _ := ts.st.Patient(n)
		ok := false
		for _, a := range m.Addresses {
			ok = ok || a.Postcode == pc
		}
		if !ok {
			t.Fatalf("candidate %s has no address at %s: %+v", n, pc, m.Addresses)
		}
	}
	other, err := ts.svc.OpenIncident(IncidentArgs{ID: "4712", Line: "9999 Nowhere Road", Postcode: pc, NHS: []string{ts.nhs[5]}, Crew: []string{"amy"}, Source: "cad"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(other.NHS, []string{ts.nhs[5]}) {
		t.Fatalf("an address where nobody lives, with one NHS number named: candidates %v; want only %s", other.NHS, ts.nhs[5])
	}
	for _, c := range []struct {
		name string
		args IncidentArgs
		want string
	}{
		{"bad postcode", IncidentArgs{ID: "x", Line: "1 High Street", Postcode: "ME1", Crew: []string{"amy"}}, "postcode"},
		{"unknown crew", IncidentArgs{ID: "x", Line: "1 High Street", Postcode: "ME1 1AA", Crew: []string{"amy", "zed"}}, `unknown user "zed"`},
		{"no crew", IncidentArgs{ID: "x", Line: "1 High Street", Postcode: "ME1 1AA"}, "crew"},
		{"too long", IncidentArgs{ID: "x", Line: "1 High Street", Postcode: "ME1 1AA", Crew: []string{"amy"}, Expires: "13h"}, "more than 12h"},
		{"past", IncidentArgs{ID: "x", Line: "1 High Street", Postcode: "ME1 1AA", Crew: []string{"amy"}, Expires: "-1h"}, "not in the future"},
		{"bad expiry", IncidentArgs{ID: "x", Line: "1 High Street", Postcode: "ME1 1AA", Crew: []string{"amy"}, Expires: "soon"}, "neither a duration"},
		{"bad id", IncidentArgs{ID: "a b", Line: "1 High Street", Postcode: "ME1 1AA", Crew: []string{"amy"}}, "incident id"},
		{"no line", IncidentArgs{ID: "x", Line: " \u200b", Postcode: "ME1 1AA", Crew: []string{"amy"}}, "address line"},
		{"bad NHS", IncidentArgs{ID: "x", Line: "1 High Street", Postcode: "ME1 1AA", Crew: []string{"amy"}, NHS: []string{"1234567890"}}, "NHS number"},
	} {
		_, err := ts.svc.OpenIncident(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one saying %q", c.name, err, c.want)
		}
	}
	if _, err := ts.st.Incident("x"); err == nil {
		t.Fatal("a refused incident was stored")
	}
}

// TestSession_Incident_PrefetchAheadAndEnd: a crew member's device that
// speaks incidents gets the Incidents list and the candidates' summaries
// before its first sync's other batches, again when a new incident opens
// while it is live, and loses them when the incident closes or expires,
// except a patient another relationship holds.
func TestSession_Incident_PrefetchAheadAndEnd(t *testing.T) {
	ts := newTestServer(t, 40)
	ts.addUser("amy", "paramedic", ts.nhs[:30]...)
	first := ts.openAt("4711", ts.nhs[35], "amy")
	tok, _ := ts.login("amy", devID(1))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.feats = []string{protocol.FeatureIncident, "some-later-feature"}
	w := cl.hello(1)
	if !slices.Equal(w.Features, []string{protocol.FeatureIncident}) {
		t.Fatalf("welcome features %v; want only %s", w.Features, protocol.FeatureIncident)
	}
	cl.untilUpToDate(1)
	if len(cl.arrivals) < 3 || cl.arrivals[0] != "incidents" || cl.arrivals[1] != "batch" {
		t.Fatalf("message order %v; want the incidents list, then the incident's summaries ahead of the full sync", cl.arrivals)
	}
	if got := cl.lists[0].Open; len(got) != 1 || got[0].ID != "4711" || !slices.Equal(got[0].NHS, first.NHS) || !got[0].Expires.Equal(first.Expires) {
		t.Fatalf("incidents list %+v; want 4711 with %v", got, first.NHS)
	}
	d, ok := cl.held[ts.nhs[35]]
	if !ok || d.Relationship != protocol.RelIncident || d.NotAfter.After(first.Expires) {
		t.Fatalf("the incident's summary: %+v, held %v; want relationship incident with a lease ending by %v", d, ok, first.Expires)
	}
	if len(cl.held) != 30+len(first.NHS) {
		t.Fatalf("hold %d patients; want the caseload's 30 and %d candidates", len(cl.held), len(first.NHS))
	}

	// Live: a second incident, at a caseload patient's home and another's.
	cl.arrivals = nil
	second := ts.openAt("4712", ts.nhs[36], "amy")
	cl.untilUpToDate(1)
	if cl.arrivals[0] != "incidents" || cl.arrivals[1] != "batch" {
		t.Fatalf("live message order %v", cl.arrivals)
	}
	if last := cl.lists[len(cl.lists)-1]; len(last.Open) != 2 {
		t.Fatalf("incidents list after the second opened: %+v", last)
	}
	if _, ok := cl.held[ts.nhs[36]]; !ok {
		t.Fatal("the second incident's candidate did not arrive")
	}
	third := ts.openAt("4713", ts.nhs[2], "amy") // in the caseload too
	cl.untilUpToDate(1)

	// Closing ends the grant: deleted, with the list updated.
	if _, err := ts.svc.CloseIncident("4711", IncidentSourceAdmin); err != nil {
		t.Fatal(err)
	}
	cl.untilUpToDate(1)
	for _, n := range first.NHS {
		if _, still := cl.held[n]; still && !slices.Contains(ts.nhs[:30], n) && !slices.Contains(second.NHS, n) {
			t.Fatalf("%s still held after its incident closed", n)
		}
	}
	if !containsDelete(cl.dels, ts.nhs[35], protocol.DelExpired) {
		t.Fatalf("deletes %+v; want %s %s", cl.dels, ts.nhs[35], protocol.DelExpired)
	}
	if last := cl.lists[len(cl.lists)-1]; len(last.Open) != 2 {
		t.Fatalf("incidents list after 4711 closed: %+v", last)
	}
	// Closing an incident on a caseload patient deletes nothing of it.
	cl.dels = nil
	if _, err := ts.svc.CloseIncident(third.ID, IncidentSourceAdmin); err != nil {
		t.Fatal(err)
	}
	cl.untilUpToDate(1)
	if _, ok := cl.held[ts.nhs[2]]; !ok || containsDelete(cl.dels, ts.nhs[2], protocol.DelExpired) || containsDelete(cl.dels, ts.nhs[2], protocol.DelNotPermitted) {
		t.Fatalf("a caseload patient was deleted when an incident at their home closed: %+v", cl.dels)
	}
	// Expiry, by the sweep: gone, and the list is empty.
	if _, err := ts.st.ExpireIncidents(time.Now().Add(5 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	cl.untilUpToDate(1)
	if _, ok := cl.held[ts.nhs[36]]; ok {
		t.Fatal("an expired incident's summary is still held")
	}
	if last := cl.lists[len(cl.lists)-1]; len(last.Open) != 0 {
		t.Fatalf("incidents list after every incident ended: %+v", last)
	}
	sameSet(t, cl.heldSet(), ts.nhs[:30])
}

// TestSession_Incident_OldClientGetsNone: a client that does not list the
// feature gets no incident documents, no Incidents message and no error,
// and goes on syncing its caseload.
func TestSession_Incident_OldClientGetsNone(t *testing.T) {
	ts := newTestServer(t, 20)
	ts.addUser("amy", "paramedic", ts.nhs[:5]...)
	ts.openAt("4711", ts.nhs[10], "amy")
	tok, _ := ts.login("amy", devID(2))
	cl := newClient(t, ts.dial(tok.AccessToken))
	if w := cl.hello(2); len(w.Features) != 0 {
		t.Fatalf("welcome features %v to a client that listed none", w.Features)
	}
	cl.untilUpToDate(1) // fails on any Incidents message
	sameSet(t, cl.heldSet(), ts.nhs[:5])
	ts.openAt("4712", ts.nhs[11], "amy")
	cl.untilUpToDate(1) // the incident's changes: only an up_to_date
	if _, err := ts.admin.CaseloadAdd(context.Background(), NHSListArgs{User: "amy", NHS: []string{ts.nhs[6]}}); err != nil {
		t.Fatal(err)
	}
	cl.untilUpToDate(1)
	sameSet(t, cl.heldSet(), append(slices.Clone(ts.nhs[:5]), ts.nhs[6]))
	if len(cl.lists) != 0 {
		t.Fatalf("an old client got incidents: %+v", cl.lists)
	}
	for _, u := range cl.got {
		if u.Relationship == protocol.RelIncident {
			t.Fatalf("an old client got an incident document: %+v", u)
		}
	}
}

func TestIncident_AlertsAndAudit(t *testing.T) {
	ts := newTestServer(t, 30)
	ts.addUser("amy", "paramedic")
	ts.addUser("bob", "paramedic")
	in, err := ts.svc.OpenIncident(IncidentArgs{ID: "care-home-1", Line: "1 Nowhere Road", Postcode: "ME1 1AA",
		NHS: ts.nhs[:12], Crew: []string{"amy", "bob"}, Source: "cad"})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.NHS) != 12 {
		t.Fatalf("candidates %d; want the 12 named", len(in.NHS))
	}
	kinds := map[string]int{}
	grants := map[string]bool{}
	ts.st.Alerts(func(a store.Alert) error {
		kinds[a.Kind]++
		if a.Kind == AlertIncidentGrant {
			if !strings.Contains(a.Detail, "incident care-home-1") {
				t.Errorf("a grant alert without the incident id: %q", a.Detail)
			}
			grants[a.User+"/"+a.NHS] = true
		}
		return nil
	})
	if kinds[AlertIncidentGrant] != 24 || len(grants) != 24 || kinds[AlertIncidentCrew] != 2 || kinds[AlertIncidentPatients] != 1 {
		t.Fatalf("alerts %v; want 24 grants, 2 crew, 1 many-patients", kinds)
	}
	// A re-POST with nothing new adds no grant alerts.
	if _, err := ts.svc.OpenIncident(IncidentArgs{ID: "care-home-1", Line: "1 Nowhere Road", Postcode: "ME1 1AA",
		NHS: ts.nhs[:12], Crew: []string{"amy", "bob"}, Source: "cad"}); err != nil {
		t.Fatal(err)
	}
	// Another dispatch system may not change it.
	if _, err := ts.svc.OpenIncident(IncidentArgs{ID: "care-home-1", Line: "1 Nowhere Road", Postcode: "ME1 1AA",
		Crew: []string{"amy"}, Source: "other-cad"}); err == nil {
		t.Fatal("another dispatch system replaced an incident")
	}
	// Many incidents for one crew member in a day: one alert.
	for i := range IncidentManyForCrew + 3 {
		if _, err := ts.svc.OpenIncident(IncidentArgs{ID: fmt.Sprint("call-", i), Line: "1 Nowhere Road", Postcode: "ME1 1AA",
			Crew: []string{"bob"}, Source: "cad"}); err != nil {
			t.Fatal(err)
		}
	}
	after := map[string]int{}
	var crewDay []store.Alert
	ts.st.Alerts(func(a store.Alert) error {
		after[a.Kind]++
		if a.Kind == AlertIncidentCrewDay {
			crewDay = append(crewDay, a)
		}
		return nil
	})
	if after[AlertIncidentGrant] != 24 {
		t.Fatalf("grant alerts after a re-POST: %d; want still 24", after[AlertIncidentGrant])
	}
	if len(crewDay) != 1 || crewDay[0].User != "bob" {
		t.Fatalf("crew-day alerts %+v; want one for bob", crewDay)
	}
	// The access log's grants say who was sent the record for which incident.
	res, err := ts.admin.AccessLog(context.Background(), ts.nhs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Grants) != 2 || !strings.Contains(res.Grants[0].Detail, "care-home-1") {
		t.Fatalf("access log grants %+v; want amy's and bob's for care-home-1", res.Grants)
	}
}

// dispatchDo sends a dispatch API request over the test server's TLS.
func (ts *testServer) dispatchDo(method, path, cred string, body []byte) (int, protocol.APIError, map[string]any) {
	ts.t.Helper()
	req, _ := http.NewRequest(method, ts.srv.URL+path, bytes.NewReader(body))
	if cred != "" {
		req.Header.Set(protocol.AuthHeader, "Bearer "+cred)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e protocol.APIError
	var ok map[string]any
	if resp.StatusCode >= 300 {
		json.Unmarshal(raw, &e)
	} else {
		json.Unmarshal(raw, &ok)
	}
	return resp.StatusCode, e, ok
}

func TestDispatchAPI_OverTLS(t *testing.T) {
	ts := newTestServer(t, 20)
	ts.addUser("amy", "paramedic")
	cred, err := ts.svc.AddDispatcher("medway-cad")
	if err != nil {
		t.Fatal(err)
	}
	other, err := ts.svc.AddDispatcher("kent-cad")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.svc.AddDispatcher("medway-cad"); err == nil {
		t.Fatal("a second credential under one name")
	}
	line, pc := ts.addressOf(ts.nhs[4])
	body := func(extra string) []byte {
		return []byte(fmt.Sprintf(`{"id":"4711","address":{"line":%q,"postcode":%q},"crew":["amy"]%s}`, line, pc, extra))
	}
	userTok, _ := ts.login("amy", devID(3))
	for _, c := range []struct {
		name, cred string
		body       []byte
		status     int
		code       string
	}{
		{"no credential", "", body(""), 401, ErrCodeUnauthorized},
		{"a user's token", userTok.AccessToken, body(""), 401, ErrCodeUnauthorized},
		{"a wrong secret", "medway-cad." + strings.Repeat("A", 43), body(""), 401, ErrCodeUnauthorized},
		{"bad postcode", cred, []byte(`{"id":"4711","address":{"line":"1 High St","postcode":"ME1"},"crew":["amy"]}`), 400, ErrCodeBadPostcode},
		{"unknown crew", cred, []byte(fmt.Sprintf(`{"id":"4711","address":{"line":%q,"postcode":%q},"crew":["amy","zed"]}`, line, pc)), 422, ErrCodeUnknownCrew},
		{"expiry over 12h", cred, body(`,"expires":"12h1m"`), 400, ErrCodeBadExpiry},
		{"bad NHS number", cred, body(`,"nhs":["1234567890"]`), 400, ErrCodeBadNHS},
		{"unknown field", cred, body(`,"priority":1`), 400, ErrCodeUnknownField},
		{"not JSON", cred, []byte(`id=4711`), 400, protocol.ErrCodeBadRequest},
		{"too large", cred, body(`,"expires":"` + strings.Repeat("1", maxDispatchBody) + `"`), 413, ErrCodeTooLarge},
	} {
		status, e, _ := ts.dispatchDo("POST", protocol.PathDispatchIncidents, c.cred, c.body)
		if status != c.status || e.Code != c.code || e.Message == "" {
			t.Errorf("%s: %d %+v; want %d %s with a message", c.name, status, e, c.status, c.code)
		}
	}
	if _, err := ts.st.Incident("4711"); err == nil {
		t.Fatal("a refused request stored an incident")
	}
	status, _, ok := ts.dispatchDo("POST", protocol.PathDispatchIncidents, cred, body(`,"expires":"2h"`))
	if status != 201 || ok["candidates"].(float64) < 1 || ok["updated"] != false {
		t.Fatalf("open: %d %v", status, ok)
	}
	if _, has := ok["nhs"]; has {
		t.Fatal("the dispatch answer names the candidates")
	}
	in, err := ts.st.Incident("4711")
	if err != nil || in.Source != "medway-cad" || in.Expires.Sub(in.Opened) != 2*time.Hour || !slices.Contains(in.NHS, ts.nhs[4]) {
		t.Fatalf("stored incident %+v, %v", in, err)
	}
	status, _, ok = ts.dispatchDo("POST", protocol.PathDispatchIncidents, cred, body(""))
	if status != 200 || ok["updated"] != true {
		t.Fatalf("re-POST: %d %v; want 200 updated", status, ok)
	}
	if in2, _ := ts.st.Incident("4711"); in2.Expires.Sub(in2.Updated) != DefaultIncidentExpiry || !in2.Opened.Equal(in.Opened) {
		t.Fatalf("re-POST without expiry: %+v; want the default expiry from now, the first opening kept", in2)
	}
	if status, e, _ := ts.dispatchDo("POST", protocol.PathDispatchIncidents, other, body("")); status != 409 || e.Code != ErrCodeIncidentOwned {
		t.Fatalf("another system's re-POST: %d %+v", status, e)
	}
	if status, e, _ := ts.dispatchDo("DELETE", protocol.PathDispatchIncidents+"/4711", other, nil); status != 409 || e.Code != ErrCodeIncidentOwned {
		t.Fatalf("another system's DELETE: %d %+v", status, e)
	}
	if status, _, _ := ts.dispatchDo("DELETE", protocol.PathDispatchIncidents+"/4711", cred, nil); status != 200 {
		t.Fatalf("DELETE: %d", status)
	}
	if status, e, _ := ts.dispatchDo("DELETE", protocol.PathDispatchIncidents+"?id=4711", cred, nil); status != 404 || e.Code != protocol.ErrCodeNotFound {
		t.Fatalf("DELETE again: %d %+v", status, e)
	}
	// A removed credential stops at once.
	if err := ts.st.RemoveDispatcher("medway-cad"); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := ts.dispatchDo("POST", protocol.PathDispatchIncidents, cred, body("")); status != 401 {
		t.Fatalf("a removed credential: %d", status)
	}
}

// TestImport_RecordsAddressesOfAnOlderStore: patients stored before
// addresses were recorded get them at the next import of the same data,
// and an incident at their address then finds them.
func TestImport_RecordsAddressesOfAnOlderStore(t *testing.T) {
	ts := newTestServer(t, 6)
	line, pc := ts.addressOf(ts.nhs[2])
	var old []store.PatientUpdate
	for _, n := range ts.nhs {
		m, err := ts.st.Patient(n)
		if err != nil {
			t.Fatal(err)
		}
		m.Addresses, m.DocHash = nil, []byte("as an older version stored it")
		docs := map[string][]byte{}
		for _, kind := range []string{store.DocFull, store.DocDemographics} {
			if d, err := ts.st.Doc(n, kind); err == nil {
				docs[kind] = d
			}
		}
		old = append(old, store.PatientUpdate{Meta: m, Docs: docs})
	}
	if _, err := ts.st.CommitPatients(old, time.Now()); err != nil {
		t.Fatal(err)
	}
	if ms, _ := ts.st.PatientsAtPostcode(pc); len(ms) != 0 {
		t.Fatalf("the older store still finds %d patients at %s", len(ms), pc)
	}
	rep, err := ts.svc.Import([]string{ts.seed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changed != len(ts.nhs) {
		t.Fatalf("re-import changed %d; want every patient (%d) rebuilt once", rep.Changed, len(ts.nhs))
	}
	ts.addUser("amy", "paramedic")
	in, err := ts.svc.OpenIncident(IncidentArgs{ID: "1", Line: line, Postcode: pc, Crew: []string{"amy"}, Source: "cad"})
	if err != nil || !slices.Contains(in.NHS, ts.nhs[2]) {
		t.Fatalf("incident after the re-import: %v, %v", in.NHS, err)
	}
	if rep, _ := ts.svc.Import([]string{ts.seed}, nil); rep.Changed != 0 {
		t.Fatalf("a third import changed %d", rep.Changed)
	}
}
