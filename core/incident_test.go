package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kmcr/audit"
	"kmcr/cache"
	"kmcr/internal/memsecrets"
	"kmcr/record"
	"kmcr/server"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// offsetClock is the real clock moved on by a settable offset: timers
// still run in real time, and a test can jump past an expiry.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (k *offsetClock) now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return time.Now().Add(k.offset)
}

func (k *offsetClock) advance(d time.Duration) {
	k.mu.Lock()
	k.offset += d
	k.mu.Unlock()
}

// enrolledWithClock is enrolled with the core's clock (and its cache's)
// given.
func enrolledWithClock(t *testing.T, ts *testServer, user string, clk func() time.Time) *Core {
	t.Helper()
	c, err := Open(Config{DataDir: filepath.Join(t.TempDir(), "profile"), Secrets: memsecrets.New(), KDF: fastKDF, Logf: t.Logf, Now: clk,
		SyncTweak: func(cfg *syncclient.Config) {
			cfg.Backoff = syncclient.Backoff{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond, StableAfter: time.Second}
			cfg.Timeouts = protocol.Timeouts{Ping: 200 * time.Millisecond, Read: 2 * time.Second, Write: 2 * time.Second}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	err = c.Enrol(context.Background(), EnrolRequest{Server: "wss://" + ts.addr, CAFile: ts.ca, User: user, Password: "password " + user, Passphrase: []byte(testPassphrase), Host: "test-laptop"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deliverIncident stores, as the sync client would from a server that
// speaks the incident feature, the documents of nhs with the incident
// relationship until expires, and then the list of open incidents. The
// documents are the server's own, fetched through another user's device.
func deliverIncident(t *testing.T, c *Core, docs map[string][]byte, version uint64, expires time.Time, list ...protocol.Incident) {
	t.Helper()
	s := syncer{c}
	cur, err := s.Cursor()
	if err != nil {
		t.Fatal(err)
	}
	b := &protocol.Batch{ID: 1, Cursor: cur}
	for n, d := range docs {
		b.Upserts = append(b.Upserts, protocol.DocMeta{NHS: n, Version: version, NotAfter: expires, AsOf: c.now(), Relationship: protocol.RelIncident,
			Sections: []string{record.SectionDemographics, record.SectionAllergies, record.SectionMedications}, Size: len(d)})
		b.Docs = append(b.Docs, d)
	}
	if len(b.Upserts) > 0 {
		if err := s.ApplyBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ApplyIncidents(&protocol.Incidents{Open: list}); err != nil {
		t.Fatal(err)
	}
}

// serverDocs returns the documents the server sends for nhs, fetched by
// enrolling a helper user whose caseload they are.
func serverDocs(t *testing.T, ts *testServer, nhs ...string) map[string][]byte {
	t.Helper()
	ts.addUser("docs", "paramedic", nhs...)
	h, _ := enrolled(t, ts, "docs")
	out := map[string][]byte{}
	for _, n := range nhs {
		d, err := syncer{h}.HeldDocument(n)
		if err != nil || d == nil {
			t.Fatalf("document of %s: %v", n, err)
		}
		out[n] = d
	}
	return out
}

// TestCore_Incidents_OpenAuditExpire checks the client side of a dispatch
// incident: the list is kept sealed and reported by Incidents and Status
// (id, address with postcode, expiry, candidates, those on the device); a
// candidate opens without break-glass as an ordinary view whose audit
// event's purpose is "emergency care, incident 4711", and the server's
// access log says so; the incident document keeps its own lease through
// a sync; and at the expiry, offline, the incident leaves the list, the
// summary held only for it is destroyed, and a caseload candidate stays.
func TestCore_Incidents_OpenAuditExpire(t *testing.T) {
	ts := startServer(t, 8)
	docs := serverDocs(t, ts, ts.nhs[4], ts.nhs[5])
	ts.addUser("amy", "paramedic", ts.nhs[:2]...)
	clk := &offsetClock{}
	c := enrolledWithClock(t, ts, "amy", clk.now)

	now := clk.now().UTC()
	expires := now.Add(4 * time.Hour).Truncate(time.Second)
	in := protocol.Incident{ID: "4711", Address: "12 High Street, Rochester", Postcode: "me11aa", Opened: now, Expires: expires,
		NHS: []string{ts.nhs[4], ts.nhs[0]}}
	deliverIncident(t, c, map[string][]byte{ts.nhs[4]: docs[ts.nhs[4]]}, 1, expires, in)

	got, err := c.Incidents()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "4711" || got[0].Address != "12 High Street, Rochester ME1 1AA" || !got[0].Expires.Equal(expires) ||
		!slices.Equal(got[0].NHS, []record.NHSNumber{record.NHSNumber(ts.nhs[4]), record.NHSNumber(ts.nhs[0])}) || len(got[0].OnDevice) != 2 {
		t.Fatalf("incidents %+v", got)
	}
	if h := got[0].Heading(); h != "Incident 4711: 2 people recorded at 12 High Street, Rochester ME1 1AA" {
		t.Fatalf("heading %q", h)
	}
	// The list names patients at an address: sealed like the rest.
	files, _ := os.ReadDir(c.DataDir())
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(c.DataDir(), f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"High Street", "Rochester", "me11aa"} {
			if bytes.Contains(b, []byte(n)) {
				t.Fatalf("%s holds %q in plaintext", f.Name(), n)
			}
		}
	}

	// Status carries them, with the keys the command line documents.
	raw, err := json.Marshal(c.Status())
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Incidents []map[string]any `json:"incidents"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Incidents) != 1 {
		t.Fatalf("status incidents %s", raw)
	}
	for _, k := range []string{"id", "address", "expires", "nhs"} {
		if _, ok := st.Incidents[0][k]; !ok {
			t.Fatalf("status incident lacks %q: %v", k, st.Incidents[0])
		}
	}
	if e, _ := time.Parse(time.RFC3339, st.Incidents[0]["expires"].(string)); !e.Equal(expires) {
		t.Fatalf("expires %v is not RFC 3339 of %v", st.Incidents[0]["expires"], expires)
	}

	// Listing the candidates names them: recorded as a search.
	before := c.Status().PendingAuditEvents
	cands, err := c.IncidentCandidates("4711")
	if err != nil || len(cands) != 2 {
		t.Fatalf("candidates %+v %v", cands, err)
	}
	if c.Status().PendingAuditEvents != before+1 {
		t.Fatal("listing the candidates was not recorded")
	}

	// A candidate opens as an ordinary view, for the incident.
	v, err := c.OpenIncidentPatient("4711", ts.nhs[4])
	if err != nil {
		t.Fatal(err)
	}
	if v.BreakGlass || v.Incident != "4711" || v.Relationship != protocol.RelIncident || !v.NotAfter.Equal(expires) {
		t.Fatalf("incident view facts %+v", v.Facts)
	}
	if pv := v.Present(clk.now()); pv.Notices[0].Key != "incident" || pv.AsOf.Held == "" {
		t.Fatalf("presentation notices %+v, held %q", pv.Notices, pv.AsOf.Held)
	}
	// A newer copy arriving while it is open is read again for the
	// incident, not under the role's purpose.
	deliverIncident(t, c, map[string][]byte{ts.nhs[4]: docs[ts.nhs[4]]}, 2, expires, in)
	if nv, changed, err := c.Refreshed(v); err != nil || !changed || nv.Incident != "4711" || nv.Version != 2 {
		t.Fatalf("refreshed incident view: %+v, %v, %v", nv, changed, err)
	}
	// Not for a patient the incident does not name, nor an unknown one.
	if _, err := c.OpenIncidentPatient("4711", ts.nhs[1]); !errors.Is(err, ErrIncidentEnded) {
		t.Fatalf("open of a non-candidate for the incident = %v", err)
	}
	if _, err := c.OpenIncidentPatient("9999", ts.nhs[4]); !errors.Is(err, ErrIncidentEnded) {
		t.Fatalf("open for an unknown incident = %v", err)
	}

	// Delivered, the view is in the server's access log under the
	// incident's purpose, with no break-glass; the incident document's
	// lease is not renewed like a caseload one. The server speaks the
	// incident feature and sends its own complete list at the sync: it
	// must hold the incident too, or the list it sends ends it here.
	if _, err := ts.admin.IncidentOpen(context.Background(), server.IncidentArgs{ID: "4711", Line: "12 High Street", Postcode: "ME1 1AA",
		NHS: []string{ts.nhs[4], ts.nhs[0]}, Crew: []string{"amy"}, Expires: expires.Format(time.RFC3339), Source: server.IncidentSourceAdmin}); err != nil {
		t.Fatal(err)
	}
	syncOnce(t, c)
	log, err := ts.svc.AccessLog(ts.nhs[4])
	if err != nil {
		t.Fatal(err)
	}
	var views []audit.Event
	for _, e := range log {
		if e.Event.User.ID == "amy" && e.Event.Action == audit.ActionView {
			views = append(views, e.Event)
		}
	}
	if len(views) != 2 || views[0].Purpose != "emergency care, incident 4711" || views[1].Purpose != views[0].Purpose || views[0].BreakGlass != nil {
		t.Fatalf("amy's views of the candidate in the access log: %+v", views)
	}
	if v, err := c.OpenIncidentPatient("4711", ts.nhs[4]); err != nil {
		t.Fatalf("after a sync the incident candidate does not open: %v", err)
	} else if !v.NotAfter.Equal(expires) {
		t.Fatalf("after a sync the incident document is held until %v (%v); want %v", v.NotAfter, err, expires)
	}

	// Offline, past the expiry: the incident ends on this device's clock.
	ts.stop()
	clk.advance(4*time.Hour + time.Minute)
	if got, _ := c.Incidents(); len(got) != 0 {
		t.Fatalf("incidents past the expiry %+v", got)
	}
	if st := c.Status(); len(st.Incidents) != 0 || st.Incidents == nil {
		t.Fatalf("status incidents past the expiry %+v", st.Incidents)
	}
	if _, err := c.OpenIncidentPatient("4711", ts.nhs[4]); !errors.Is(err, ErrIncidentEnded) {
		t.Fatalf("open for an expired incident = %v", err)
	}
	if _, err := c.OpenPatient(ts.nhs[4], nil); !isNotCached(err) {
		t.Fatalf("open of the incident candidate past the expiry = %v; want ErrNotCached", err)
	}
	if err := c.expireIncidents(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenPatient(ts.nhs[0], nil); err != nil {
		t.Fatalf("the caseload candidate is gone with the incident: %v", err)
	}
	if n := c.cacheStats().Expired; n != 0 {
		t.Fatalf("%d expired records keep their keys after the incident ended", n)
	}
}

// TestCore_Incidents_ExpireOnTime checks an incident ends at its expiry
// with nobody asking, and its summary with it (the document held longer
// than the incident, as a server might send it, goes too), while a
// replacement list drops an incident the server has closed.
func TestCore_Incidents_ExpireOnTime(t *testing.T) {
	ts := startServer(t, 6)
	docs := serverDocs(t, ts, ts.nhs[3], ts.nhs[4])
	ts.addUser("amy", "paramedic", ts.nhs[:1]...)
	c := enrolledWithClock(t, ts, "amy", time.Now)
	changes := make(chan struct{}, 64)
	defer c.Watch(func(Status) {
		select {
		case changes <- struct{}{}:
		default:
		}
	})()

	now := time.Now().UTC()
	soon := protocol.Incident{ID: "A1", Address: "1 Mill Lane, Chatham", Postcode: "ME4 4AB", Opened: now, Expires: now.Add(700 * time.Millisecond), NHS: []string{ts.nhs[3]}}
	later := protocol.Incident{ID: "B2", Address: "2 Mill Lane, Chatham", Postcode: "ME4 4AB", Opened: now, Expires: now.Add(time.Hour), NHS: []string{ts.nhs[4]}}
	deliverIncident(t, c, map[string][]byte{ts.nhs[3]: docs[ts.nhs[3]]}, 1, now.Add(time.Hour), soon, later)
	deliverIncident(t, c, map[string][]byte{ts.nhs[4]: docs[ts.nhs[4]]}, 1, later.Expires, soon, later)
	if got, _ := c.Incidents(); len(got) != 2 {
		t.Fatalf("incidents %+v", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := c.Incidents()
		_, err := c.OpenPatient(ts.nhs[3], nil)
		if len(got) == 1 && got[0].ID == "B2" && isNotCached(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("past A1's expiry: incidents %+v, open of its candidate = %v", got, err)
		}
		select {
		case <-changes:
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := c.OpenIncidentPatient("B2", ts.nhs[4]); err != nil {
		t.Fatalf("the other incident's candidate: %v", err)
	}

	// The server closes B2: the list without it replaces the one held.
	if err := (syncer{c}).ApplyIncidents(&protocol.Incidents{Open: []protocol.Incident{}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Incidents(); len(got) != 0 {
		t.Fatalf("incidents after the server closed them %+v", got)
	}
	if _, err := c.OpenIncidentPatient("B2", ts.nhs[4]); !errors.Is(err, ErrIncidentEnded) {
		t.Fatalf("open for a closed incident = %v", err)
	}

	// A list with a bad NHS number is refused whole.
	bad := later
	bad.NHS = []string{ts.nhs[4][:9] + string('0'+(ts.nhs[4][9]-'0'+1)%10)}
	if err := (syncer{c}).ApplyIncidents(&protocol.Incidents{Open: []protocol.Incident{later, bad}}); !errors.Is(err, syncclient.ErrBadBatch) {
		t.Fatalf("a malformed list = %v; want ErrBadBatch", err)
	}
	if got, _ := c.Incidents(); len(got) != 0 {
		t.Fatalf("a refused list was stored: %+v", got)
	}
}

// cacheStats are the open cache's counts.
func (c *Core) cacheStats() cache.Stats {
	cc, _, err := c.open()
	if err != nil {
		return cache.Stats{}
	}
	return cc.Stats()
}

// TestIncidentPurpose_AlwaysAValidCode checks every incident id, however
// long or odd, gives a purpose and detail an audit event accepts, so a
// candidate's view is never refused for its incident's name.
func TestIncidentPurpose_AlwaysAValidCode(t *testing.T) {
	for _, id := range []string{"4711", "CAD-2026-000123", strings.Repeat("9", 64), "a  b", " lead", "tab\there", "bell\x07", strings.Repeat("é", 40)} {
		e := audit.Event{Action: audit.ActionView, Occurred: time.Now(), User: audit.Actor{ID: "u", Role: "paramedic"},
			Device: audit.Device{ID: "d", Host: "h"}, Patient: record.NHSNumber("9434765919"), Sections: []string{"allergies"},
			Purpose: incidentPurpose(id), Outcome: audit.Outcome{Result: audit.ResultSuccess, Detail: "opened for dispatch incident " + auditedID(id)}}
		if err := e.Validate(); err != nil {
			t.Errorf("incident %q: purpose %q: %v", id, e.Purpose, err)
		}
	}
	if got := incidentPurpose("4711"); got != "emergency care, incident 4711" {
		t.Errorf("purpose %q", got)
	}
}
