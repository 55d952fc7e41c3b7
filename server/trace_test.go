package server

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"kmcr/demo"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// traceServer is a test server holding patients made for tracing: seven
// SMITHs born on 19 May 1930 (one spelt Śmith, at different postcodes),
// a SMITH born the next day, a DĄBROWSKI, and a restricted SMITH.
func traceServer(t *testing.T) (*testServer, []string) {
	t.Helper()
	ts := newTestServer(t, 0)
	dir := t.TempDir()
	var nums []string
	var lines []string
	add := func(family, given, birth, gender, postcode, city, extra string) {
		n := demo.NHSNumber(11, len(nums)).Digits()
		nums = append(nums, n)
		lines = append(lines, fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"%s"}],%s"name":[{"use":"official","family":%q,"given":[%q]}],"gender":%q,"birthDate":%q,"address":[{"use":"home","line":["1 High Street"],"city":%q,"postalCode":%q}]}`,
			len(nums), n, extra, family, given, gender, birth, city, postcode))
	}
	for i, pc := range []string{"CT1 1AA", "CT1 2BB", "ME14 1XX", "ME14 2YY", "TN23 1AA", "TN23 2BB"} {
		add("Smith", fmt.Sprintf("Given%d", i), "1930-05-19", "female", pc, "Ashford", "")
	}
	add("Śmith", "Valerie Irene", "1930-05-19", "female", "DA1 1AA", "Dartford", "") // nums[6]
	add("Smith", "Shirley", "1930-05-20", "female", "CT1 1AA", "Canterbury", "")     // nums[7]
	add("Dąbrowski", "Jan", "1948-03-12", "male", "ct2 7nz", "Canterbury", "")       // nums[8]
	add("Dabrowski", "Restricted", "1948-03-12", "male", "CT2 7NZ", "Canterbury",
		`"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},`) // nums[9]
	if err := os.WriteFile(filepath.Join(dir, "Patient.000.ndjson"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.svc.Import([]string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	return ts, nums
}

// traceClient logs a user in and opens a session that lists FeatureTrace.
func traceClient(t *testing.T, ts *testServer, user, role string, dev int) *client {
	t.Helper()
	ts.addUser(user, role)
	tok, _ := ts.login(user, devID(dev))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.send(&protocol.Hello{Protocol: protocol.Version, Client: "test", Window: 4, Features: []string{protocol.FeatureTrace, "something-else"}})
	m, err := cl.recv()
	if err != nil {
		t.Fatal(err)
	}
	w, ok := m.(*protocol.Welcome)
	if !ok {
		t.Fatalf("got %T, want Welcome", m)
	}
	if !slices.Equal(w.Features, []string{protocol.FeatureTrace}) {
		t.Fatalf("welcome features %v; want only %q echoed", w.Features, protocol.FeatureTrace)
	}
	cl.wel = w
	cl.untilUpToDate(0)
	return cl
}

func (cl *client) trace(req *protocol.Trace) *protocol.TraceResult {
	cl.t.Helper()
	cl.send(req)
	for {
		m, err := cl.recv()
		if err != nil {
			cl.t.Fatal(err)
		}
		if r, ok := m.(*protocol.TraceResult); ok {
			if r.RequestID != req.RequestID {
				cl.t.Fatalf("answer to %q for request %q", r.RequestID, req.RequestID)
			}
			return r
		}
	}
}

func candidateNHS(r *protocol.TraceResult) []string {
	var out []string
	for _, c := range r.Candidates {
		out = append(out, c.NHS)
	}
	return out
}

// TestSession_Trace_FindsByFamilyAndBirthDate checks the server answers a
// trace from its own record: family name folded (case, diacritics), exact
// birth date, the postcode narrowing (whole or district), too many
// answered with none, restricted patients never listed, each candidate
// only the banner's fields; every trace is an alert.
func TestSession_Trace_FindsByFamilyAndBirthDate(t *testing.T) {
	ts, nums := traceServer(t)
	cl := traceClient(t, ts, "amy", "paramedic", 1)

	r := cl.trace(&protocol.Trace{RequestID: "t1", Family: "DABROWSKI", BirthDate: "1948-03-12"})
	if r.Error != "" || !slices.Equal(candidateNHS(r), []string{nums[8]}) {
		t.Fatalf("dabrowski: %+v; want only %s (the restricted one never listed)", r, nums[8])
	}
	c := r.Candidates[0]
	want := protocol.TraceCandidate{NHS: nums[8], Family: "Dąbrowski", Given: "Jan", BirthDate: "1948-03-12", Gender: "male", District: "CT2", Town: "Canterbury"}
	if c != want {
		t.Fatalf("candidate %+v\nwant      %+v", c, want)
	}

	r = cl.trace(&protocol.Trace{RequestID: "t2", Family: "smith", BirthDate: "1930-05-19"})
	if !r.TooMany || len(r.Candidates) != 0 || !strings.Contains(r.Error, "postcode") {
		t.Fatalf("seven smiths: %+v; want too many, none listed, asking for the postcode", r)
	}
	r = cl.trace(&protocol.Trace{RequestID: "t3", Family: "Smith", BirthDate: "1930-05-19", Postcode: "ct11aa"})
	if r.Error != "" || !slices.Equal(candidateNHS(r), []string{nums[0]}) {
		t.Fatalf("with the whole postcode: %+v; want %s", r, nums[0])
	}
	r = cl.trace(&protocol.Trace{RequestID: "t4", Family: "Smith", BirthDate: "1930-05-19", Postcode: "me14"})
	if got := candidateNHS(r); len(got) != 2 || !slices.Contains(got, nums[2]) || !slices.Contains(got, nums[3]) {
		t.Fatalf("with the district: %+v; want %s and %s", r, nums[2], nums[3])
	}
	r = cl.trace(&protocol.Trace{RequestID: "t5", Family: "smith", BirthDate: "1930-05-19", Postcode: "DA1 1AA"})
	if !slices.Equal(candidateNHS(r), []string{nums[6]}) {
		t.Fatalf("Śmith by smith: %+v; want %s", r, nums[6])
	}
	r = cl.trace(&protocol.Trace{RequestID: "t6", Family: "Smit", BirthDate: "1930-05-20"})
	if len(r.Candidates) != 0 || r.TooMany || r.Error != "" {
		t.Fatalf("a partial family name matched: %+v", r)
	}
	if _, held := cl.held[nums[8]]; held {
		t.Fatal("a trace sent a document: only break-glass may")
	}

	var traces []store.Alert
	ts.st.Alerts(func(a store.Alert) error {
		if a.Kind == AlertTrace {
			traces = append(traces, a)
		}
		return nil
	})
	if len(traces) != 6 {
		t.Fatalf("%d trace alerts; want one for each of 6 traces", len(traces))
	}
	if a := traces[0]; a.User != "amy" || a.Device != devID(1) || !strings.Contains(a.Detail, `"DABROWSKI"`) || !strings.Contains(a.Detail, "1948-03-12") || !strings.Contains(a.Detail, "1 candidates returned") {
		t.Fatalf("first trace alert %+v: want who, what was searched and how many were returned", a)
	}
	if a := traces[1]; !strings.Contains(a.Detail, "too many") {
		t.Fatalf("too-many alert %+v", a)
	}
}

// TestSession_Trace_RefusedAndBounded checks a role that may not break
// glass is refused (and audited), the trace budget holds, and a trace
// from a client that did not list the feature closes the session.
func TestSession_Trace_RefusedAndBounded(t *testing.T) {
	ts, _ := traceServer(t)
	rita := traceClient(t, ts, "rita", "frontdesk", 2)
	if r := rita.trace(&protocol.Trace{RequestID: "f1", Family: "Dabrowski", BirthDate: "1948-03-12"}); r.Error == "" || len(r.Candidates) != 0 {
		t.Fatalf("front desk traced: %+v", r)
	}

	amy := traceClient(t, ts, "amy", "paramedic", 3)
	for i := 0; i < TraceBudget.Hour; i++ {
		if r := amy.trace(&protocol.Trace{RequestID: fmt.Sprintf("b%d", i), Family: "Dabrowski", BirthDate: "1948-03-12"}); r.Error != "" {
			t.Fatalf("trace %d within the budget refused: %s", i+1, r.Error)
		}
	}
	if r := amy.trace(&protocol.Trace{RequestID: "over", Family: "Dabrowski", BirthDate: "1948-03-12"}); r.Error == "" || len(r.Candidates) != 0 {
		t.Fatalf("trace past the hour's budget answered: %+v", r)
	}
	refused := 0
	ts.st.Alerts(func(a store.Alert) error {
		if a.Kind == AlertTrace && strings.Contains(a.Detail, "refused") {
			refused++
		}
		return nil
	})
	if refused != 2 {
		t.Fatalf("%d refused traces audited; want 2 (the role, the budget)", refused)
	}

	ts.addUser("bob", "paramedic")
	tok, _ := ts.login("bob", devID(4))
	old := newClient(t, ts.dial(tok.AccessToken))
	old.hello(4)
	old.untilUpToDate(0)
	if len(old.wel.Features) != 0 {
		t.Fatalf("features %v offered to a client that listed none", old.wel.Features)
	}
	old.send(&protocol.Trace{RequestID: "x", Family: "Dabrowski", BirthDate: "1948-03-12"})
	for {
		m, err := old.recv()
		if err != nil {
			break // closed, as it must be
		}
		if _, ok := m.(*protocol.TraceResult); ok {
			t.Fatal("a client that did not list the feature was answered")
		}
	}
}
