package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// TestSession_FullSync_WindowAndRanges checks a first sync sends exactly
// the caseload, in batches that never exceed the client's window, with
// ranges covering the NHS-number space, then an up-to-date marker.
func TestSession_FullSync_WindowAndRanges(t *testing.T) {
	ts := newTestServer(t, 600)
	ts.addUser("amy", "paramedic", ts.nhs[:550]...)
	tok, _ := ts.login("amy", devID(1))
	cl := newClient(t, ts.dial(tok.AccessToken))
	w := cl.hello(2)
	if w.Mode != protocol.ModeFull || w.Total != 550 || w.Done != 0 || w.Reset {
		t.Fatalf("welcome %+v", w)
	}
	cl.untilUpToDate(2)
	sameSet(t, cl.heldSet(), ts.nhs[:550])
	if cl.maxOut > 2 {
		t.Fatalf("server sent %d batches beyond the window of 2", cl.maxOut)
	}
	if cl.cursor.Phase != protocol.PhaseLive || cl.cursor.Epoch != ts.st.Epoch() {
		t.Fatalf("cursor after full sync %+v", cl.cursor)
	}
	for _, m := range cl.held {
		if m.Relationship != protocol.RelCaseload || time.Until(m.NotAfter) < 71*time.Hour {
			t.Fatalf("doc meta %+v: want a caseload lease of about 72 h", m)
		}
	}
}

// TestSession_FullSync_ResumesAfterCut checks an interrupted first sync
// resumes from the cursor of the last applied batch, with honest progress,
// and a cached patient no longer permitted inside a covered range is purged.
func TestSession_FullSync_ResumesAfterCut(t *testing.T) {
	ts := newTestServer(t, 700)
	ts.addUser("amy", "paramedic", ts.nhs[:650]...)
	tok, _ := ts.login("amy", devID(2))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(1)
	m, err := cl.recv()
	if err != nil {
		t.Fatal(err)
	}
	b := m.(*protocol.Batch)
	cl.apply(b)
	cl.send(&protocol.Ack{ID: b.ID, Cursor: b.Cursor})
	if b.Cursor.Phase != protocol.PhaseFull || b.Cursor.After == "" {
		t.Fatalf("first batch cursor %+v", b.Cursor)
	}
	// A stale patient the client held from elsewhere, inside a later range.
	cl.held["9999999999"] = protocol.DocMeta{NHS: "9999999999"}
	cl.c.Close(protocol.CloseGoingAway, "cut")

	cl.redial(ts.dial(tok.AccessToken))
	w := cl.hello(4)
	if w.Mode != protocol.ModeFull || w.Done != len(b.Upserts) || w.Total != 650 {
		t.Fatalf("resumed welcome %+v (first batch had %d)", w, len(b.Upserts))
	}
	cl.untilUpToDate(0)
	sameSet(t, cl.heldSet(), ts.nhs[:650])
}

// TestSession_Live_CaseloadRemoveAndAdd checks revocation reaches a
// connected client as an explicit delete, and an addition as a document.
func TestSession_Live_CaseloadRemoveAndAdd(t *testing.T) {
	ts := newTestServer(t, 30)
	ts.addUser("amy", "community", ts.nhs[:20]...)
	tok, _ := ts.login("amy", devID(3))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	cl.untilUpToDate(0)

	if _, err := ts.admin.CaseloadRemove(context.Background(), NHSListArgs{User: "amy", NHS: ts.nhs[:2]}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.CaseloadAdd(context.Background(), NHSListArgs{User: "amy", NHS: ts.nhs[25:26]}); err != nil {
		t.Fatal(err)
	}
	want := append(append([]string{}, ts.nhs[2:20]...), ts.nhs[25])
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		cl.untilUpToDate(0)
		if len(cl.held) == len(want) && cl.held[ts.nhs[25]].NHS != "" {
			break
		}
	}
	sameSet(t, cl.heldSet(), want)
	reasons := map[string]string{}
	for _, d := range cl.dels {
		reasons[d.NHS] = d.Reason
	}
	for _, n := range ts.nhs[:2] {
		if reasons[n] != protocol.DelCaseloadRemoved {
			t.Fatalf("delete of %s had reason %q", n, reasons[n])
		}
	}
}

// TestSession_Objection_WithholdsClinicalSections checks an objection for
// the role's purpose revokes the full document and sends demographics with
// the withheld notice; a withdrawal restores it.
func TestSession_Objection_WithholdsClinicalSections(t *testing.T) {
	ts := newTestServer(t, 10)
	ts.addUser("amy", "paramedic", ts.nhs[:5]...)
	tok, _ := ts.login("amy", devID(4))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	cl.untilUpToDate(0)
	full := len(cl.docs[ts.nhs[0]])

	changed, err := ts.admin.Object(context.Background(), ObjectionArgs{NHS: ts.nhs[0], Purpose: "emergency-care"})
	if err != nil || !changed {
		t.Fatalf("object: %v %v", changed, err)
	}
	cl.untilUpToDate(0)
	m := cl.held[ts.nhs[0]]
	if len(m.Withheld) == 0 || m.Withheld[0].Reason != protocol.WithheldObjection || m.Withheld[0].Purpose != "emergency-care" {
		t.Fatalf("after objection: %+v", m)
	}
	if len(cl.docs[ts.nhs[0]]) >= full {
		t.Fatalf("objection did not reduce the document (%d >= %d bytes)", len(cl.docs[ts.nhs[0]]), full)
	}
	if !containsDelete(cl.dels, ts.nhs[0], protocol.DelObjection) {
		t.Fatal("no explicit revocation before the reduced document")
	}
	if _, err := ts.admin.Withdraw(context.Background(), ObjectionArgs{NHS: ts.nhs[0], Purpose: "emergency-care"}); err != nil {
		t.Fatal(err)
	}
	cl.untilUpToDate(0)
	if len(cl.held[ts.nhs[0]].Withheld) != 0 && cl.held[ts.nhs[0]].Withheld[0].Reason == protocol.WithheldObjection {
		t.Fatal("withdrawal did not restore the document")
	}
}

// TestSession_Relabel_RevokesAndResends checks a resource newly carrying a
// sensitive label makes the server revoke the document (so the client
// destroys the old key) and send it again without the item.
func TestSession_Relabel_RevokesAndResends(t *testing.T) {
	ts := newTestServer(t, 10)
	ts.addUser("amy", "paramedic", ts.nhs[:3]...)
	tok, _ := ts.login("amy", devID(5))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	cl.untilUpToDate(0)
	before := cl.held[ts.nhs[0]]

	// Re-import the patient's conditions with a sexual-health label on one.
	b, err := os.ReadFile(filepath.Join(ts.seed, "Condition.000.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var target string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "Patient/") && strings.Contains(line, "subject") && !strings.Contains(line, `"security"`) {
			if nhsOfCondition(t, ts, line) == ts.nhs[0] {
				target = line
				break
			}
		}
	}
	if target == "" {
		t.Skip("demo patient 0 has no unlabelled condition")
	}
	labelled := strings.Replace(target, `{"resourceType":"Condition",`, `{"resourceType":"Condition","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"SEX"}]},`, 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Condition.relabel.ndjson"), []byte(labelled+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.svc.Import([]string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	cl.untilUpToDate(0)
	after := cl.held[ts.nhs[0]]
	if !containsDelete(cl.dels, ts.nhs[0], protocol.DelRelabel) {
		t.Fatalf("no relabel revocation; deletes %+v", cl.dels)
	}
	if after.Version <= before.Version {
		t.Fatalf("version did not move: %d -> %d", before.Version, after.Version)
	}
	id := between(target, `"id":"`, `"`)
	if bytes.Contains(cl.docs[ts.nhs[0]], []byte(`"resourceType":"Condition","id":"`+id+`"`)) ||
		bytes.Contains(cl.docs[ts.nhs[0]], []byte(`"code":"SEX"`)) {
		t.Fatal("the relabelled item is still in the document")
	}
	if !bytes.Contains(b, []byte(`"id":"`+id+`"`)) {
		t.Fatal("test is looking for the wrong id")
	}
}

func nhsOfCondition(t *testing.T, ts *testServer, line string) string {
	ref := between(line, `"reference":"Patient/`, `"`)
	nhs, _, _ := ts.st.PatientKeyNHS("Patient/" + ref)
	return nhs
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	if j := strings.Index(s, b); j >= 0 {
		return s[:j]
	}
	return ""
}

func containsDelete(ds []protocol.Delete, nhs, reason string) bool {
	for _, d := range ds {
		if d.NHS == nhs && d.Reason == reason {
			return true
		}
	}
	return false
}

// TestSession_FrontDesk_DemographicsOnly checks reception gets the
// demographics document and no clinical resource types.
func TestSession_FrontDesk_DemographicsOnly(t *testing.T) {
	ts := newTestServer(t, 5)
	ts.addUser("rita", "frontdesk", ts.nhs...)
	tok, _ := ts.login("rita", devID(6))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	cl.untilUpToDate(0)
	for n, d := range cl.docs {
		for _, typ := range []string{"AllergyIntolerance", "Condition", "Observation", "Medication", "Flag", "Encounter"} {
			if bytes.Contains(d, []byte(`"resourceType":"`+typ)) {
				t.Fatalf("front-desk document for %s carries %s", n, typ)
			}
		}
		if got := cl.held[n].Sections; strings.Join(got, ",") != "demographics,gp" {
			t.Fatalf("sections %v", got)
		}
	}
}

// TestSession_BreakGlass checks a grant sends the document with a short
// lease and raises an alert, and a front-desk request is refused and
// raises a denial alert.
func TestSession_BreakGlass(t *testing.T) {
	ts := newTestServer(t, 5)
	ts.addUser("amy", "paramedic")
	ts.addUser("rita", "frontdesk")
	tok, _ := ts.login("amy", devID(7))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	cl.untilUpToDate(0)
	cl.send(&protocol.BreakGlass{RequestID: "r1", NHS: ts.nhs[1], ReasonCode: "emergency-treatment", ReasonText: "unconscious at scene"})
	m, err := cl.recv()
	if err != nil {
		t.Fatal(err)
	}
	res, ok := m.(*protocol.BreakGlassResult)
	if !ok || !res.Granted || time.Until(res.ExpiresAt) > 2*time.Hour+time.Minute {
		t.Fatalf("result %+v", m)
	}
	cl.untilUpToDate(0)
	d, ok := cl.held[ts.nhs[1]]
	if !ok || d.Relationship != protocol.RelBreakGlass || d.NotAfter.After(res.ExpiresAt.Add(time.Second)) {
		t.Fatalf("break-glass document %+v", d)
	}

	tok2, _ := ts.login("rita", devID(8))
	cl2 := newClient(t, ts.dial(tok2.AccessToken))
	cl2.hello(4)
	cl2.untilUpToDate(0)
	cl2.send(&protocol.BreakGlass{RequestID: "r2", NHS: ts.nhs[1], ReasonCode: "other", ReasonText: "curious"})
	m, _ = cl2.recv()
	if res, ok := m.(*protocol.BreakGlassResult); !ok || res.Granted || res.Error == "" {
		t.Fatalf("front desk result %+v", m)
	}
	kinds := map[string]int{}
	ts.st.Alerts(func(a store.Alert) error { kinds[a.Kind]++; return nil })
	if kinds[AlertBreakGlass] != 1 || kinds[AlertDenied] != 1 {
		t.Fatalf("alerts %v", kinds)
	}
}

// TestSession_DeviceRevoked_Wipes checks a revocation while connected
// sends a wipe and closes with the documented code, and so does a later
// connection attempt.
func TestSession_DeviceRevoked_Wipes(t *testing.T) {
	ts := newTestServer(t, 3)
	ts.addUser("amy", "paramedic", ts.nhs...)
	tok, _ := ts.login("amy", devID(9))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	cl.untilUpToDate(0)
	if err := ts.admin.DeviceRevoke(context.Background(), devID(9)); err != nil {
		t.Fatal(err)
	}
	m, err := cl.recv()
	if _, ok := m.(*protocol.Wipe); !ok {
		t.Fatalf("got %T %v, want Wipe", m, err)
	}
	if _, err := cl.recv(); protocol.CloseCode(err) != protocol.CloseDeviceRevoked {
		t.Fatalf("close %v", err)
	}
	c2 := ts.dial(tok.AccessToken)
	m, _ = c2.Receive()
	if _, ok := m.(*protocol.Wipe); !ok {
		t.Fatalf("reconnect got %T, want Wipe", m)
	}
}

// TestSession_Tokens checks an expired or forged token is refused with its
// own close code.
func TestSession_Tokens(t *testing.T) {
	ts := newTestServer(t, 0)
	ts.addUser("amy", "paramedic")
	ts.login("amy", devID(10))
	expired := ts.svc.tok.issue(claims{User: "amy", Device: devID(10), Expiry: time.Now().Add(-time.Minute).Unix(), Issued: time.Now().Add(-16 * time.Minute).Unix()})
	for _, tc := range []struct {
		token string
		code  int
	}{
		{expired, protocol.CloseTokenExpired},
		{expired[:len(expired)-3] + "AAA", protocol.CloseUnauthorized},
		{"", protocol.CloseUnauthorized},
	} {
		c := ts.dial(tc.token)
		if _, err := c.Receive(); protocol.CloseCode(err) != tc.code {
			t.Fatalf("token %.12q...: %v, want close %d", tc.token, err, tc.code)
		}
	}
}

// TestSession_EpochMismatch_Resets checks a cursor from another store
// gets a full sync flagged as a reset.
func TestSession_EpochMismatch_Resets(t *testing.T) {
	ts := newTestServer(t, 3)
	ts.addUser("amy", "paramedic", ts.nhs...)
	tok, _ := ts.login("amy", devID(11))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.cursor = protocol.Cursor{Epoch: "OTHERSTORE", Seq: 5, Phase: protocol.PhaseLive}
	w := cl.hello(4)
	if !w.Reset || w.Mode != protocol.ModeFull || w.ResetReason == "" {
		t.Fatalf("welcome %+v", w)
	}
	cl.untilUpToDate(0)
	sameSet(t, cl.heldSet(), ts.nhs)
}

// TestSession_OutOfOrder checks a client message out of order closes the
// session with the documented code and the server keeps serving.
func TestSession_OutOfOrder(t *testing.T) {
	ts := newTestServer(t, 2)
	ts.addUser("amy", "paramedic", ts.nhs...)
	tok, _ := ts.login("amy", devID(12))
	c := ts.dial(tok.AccessToken)
	c.Send(context.Background(), &protocol.Ack{ID: 1})
	if _, err := c.Receive(); protocol.CloseCode(err) != protocol.CloseOutOfOrder {
		// An ErrorMsg may come first.
		if _, err2 := c.Receive(); protocol.CloseCode(err2) != protocol.CloseOutOfOrder {
			t.Fatalf("got %v / %v", err, err2)
		}
	}
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	cl.untilUpToDate(0)
	keys := make([]string, 0)
	for k := range cl.held {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != 2 {
		t.Fatalf("server did not keep serving: %v", keys)
	}
}

// TestHTTP_AccessLog_PrivacyOfficerOnly checks the access report is served
// over HTTPS to a privacy officer's token only, as a FHIR Bundle.
func TestHTTP_AccessLog_PrivacyOfficerOnly(t *testing.T) {
	ts := newTestServer(t, 2)
	ts.addUser("amy", "paramedic", ts.nhs...)
	ts.addUser("pat", "privacy-officer")
	amy, _ := ts.login("amy", devID(20))
	pat, _ := ts.login("pat", devID(21))
	get := func(token, nhs string) (int, string) {
		req, _ := http.NewRequest("GET", ts.srv.URL+protocol.PathAccessLog+"?nhs="+nhs, nil)
		if token != "" {
			req.Header.Set(protocol.AuthHeader, "Bearer "+token)
		}
		resp, err := ts.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("", ts.nhs[0]); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := get(amy.AccessToken, ts.nhs[0]); code != http.StatusForbidden {
		t.Fatalf("paramedic: %d", code)
	}
	code, body := get(pat.AccessToken, ts.nhs[0])
	if code != http.StatusOK || !strings.Contains(body, `"resourceType":"Bundle"`) {
		t.Fatalf("privacy officer: %d %s", code, body)
	}
	if code, _ := get(pat.AccessToken, "123"); code != http.StatusBadRequest {
		t.Fatalf("bad NHS number: %d", code)
	}
}

// TestService_Serve_DrainsOnShutdown checks that stopping the service (as
// SIGTERM does) lets a session finish the batch in flight and then closes
// it with the documented shutdown code, within the drain timeout.
func TestService_Serve_DrainsOnShutdown(t *testing.T) {
	ts := newTestServer(t, 400)
	ts.addUser("amy", "paramedic", ts.nhs...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ts.svc.Serve(ctx, ln, ts.srv.TLS) }()
	tok, _ := ts.login("amy", devID(30))
	d := websocket.Dialer{TLSClientConfig: ts.tlsConfig(), Subprotocols: []string{protocol.Subprotocol}}
	h := http.Header{}
	h.Set(protocol.AuthHeader, "Bearer "+tok.AccessToken)
	ws, _, err := d.Dial("wss://"+ln.Addr().String()+protocol.PathSync, h)
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, protocol.NewConn(ws, protocol.DefaultTimeouts, protocol.MaxServerMessage))
	cl.hello(1)
	m, err := cl.recv()
	if err != nil {
		t.Fatal(err)
	}
	b := m.(*protocol.Batch)
	start := time.Now()
	cancel() // the batch is in flight, unacknowledged
	time.Sleep(100 * time.Millisecond)
	cl.send(&protocol.Ack{ID: b.ID, Cursor: b.Cursor})
	for {
		if _, err = cl.recv(); err != nil {
			break
		}
	}
	if code := protocol.CloseCode(err); code != protocol.CloseServerShutdown {
		t.Fatalf("session ended with %v; want close %d", err, protocol.CloseServerShutdown)
	}
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if d := time.Since(start); d > ts.svc.cfg.DrainTimeout+3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}
