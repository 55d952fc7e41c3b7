package fhirapi_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"kmcr/audit"
	"kmcr/demo"
	"kmcr/server"
	"kmcr/server/devidp"
	"kmcr/server/fhirapi"
	"kmcr/server/selfaudit"
	"kmcr/server/store"
)

const issuer = "https://127.0.0.1:1/dev-idp"

type apiRig struct {
	t    *testing.T
	st   *store.Bolt
	svc  *server.Service
	api  *fhirapi.API
	srv  *httptest.Server
	nhs  []string
	sign func(nhs, level string, scopes ...string) string
	dir  string
}

func newAPIRig(t *testing.T) *apiRig {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := server.New(server.Config{Store: st, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	seed := t.TempDir()
	if _, err := demo.Write(seed, demo.Options{Patients: 2, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Import([]string{seed}, nil); err != nil {
		t.Fatal(err)
	}
	key, err := devidp.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := oidc.NewVerifier(issuer, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.Public()}}, &oidc.Config{SkipClientIDCheck: true})
	api, err := fhirapi.New(fhirapi.Config{Store: st, Record: svc, Verify: fhirapi.OIDCVerify(v), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	r := &apiRig{t: t, st: st, svc: svc, api: api, dir: dir}
	for i := range 2 {
		r.nhs = append(r.nhs, demo.NHSNumber(7, i).Digits())
	}
	r.sign = func(nhs, level string, scopes ...string) string {
		tok, _, err := devidp.MintAccessToken(key, issuer, devidp.ScriptClient, nhs, level, scopes, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	r.srv = httptest.NewTLSServer(api.Handler())
	t.Cleanup(r.srv.Close)
	return r
}

func (r *apiRig) do(method, path, token string, body []byte, hdr ...string) (int, map[string]any) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func heartRate(ref string, value any, ident string) []byte {
	m := map[string]any{
		"resourceType": "Observation", "status": "final",
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}},
		"subject":           map[string]any{"reference": ref},
		"performer":         []any{map[string]any{"reference": ref}},
		"effectiveDateTime": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"valueQuantity":     map[string]any{"value": value, "unit": "beats/min", "system": "http://unitsofmeasure.org", "code": "/min"},
	}
	if ident != "" {
		m["identifier"] = []any{map[string]any{"system": "urn:example:app", "value": ident}}
	}
	b, _ := json.Marshal(m)
	return b
}

func issueOf(t *testing.T, m map[string]any) (code, expr string) {
	t.Helper()
	if m["resourceType"] != "OperationOutcome" {
		t.Fatalf("not an OperationOutcome: %v", m)
	}
	iss := m["issue"].([]any)[0].(map[string]any)
	code, _ = iss["code"].(string)
	if e, ok := iss["expression"].([]any); ok && len(e) > 0 {
		expr, _ = e[0].(string)
	}
	return code, expr
}

func (r *apiRig) observations(nhs string) int {
	rs, err := r.svc.PatientResourcesOf(nhs, "Observation")
	if err != nil {
		r.t.Fatal(err)
	}
	n := 0
	for _, x := range rs {
		if strings.HasPrefix(x.Key, "Observation/kmcr-pe-") {
			n++
		}
	}
	return n
}

// TestFHIR_ReadOwnRecord checks metadata needs no token, Patient search
// returns only the token's Patient under an id that is not the NHS number,
// and another patient's id or search is forbidden.
func TestFHIR_ReadOwnRecord(t *testing.T) {
	r := newAPIRig(t)
	st, cap := r.do("GET", "/fhir/metadata", "", nil)
	if st != 200 || cap["resourceType"] != "CapabilityStatement" || cap["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %d %v", st, cap)
	}
	tok := r.sign(r.nhs[0], "P9", "patient/*.read")
	st, b := r.do("GET", "/fhir/Patient", tok, nil)
	if st != 200 || b["total"].(float64) != 1 {
		t.Fatalf("Patient search: %d %v", st, b)
	}
	p := b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	id := p["id"].(string)
	if id != r.api.PatientID(r.nhs[0]) || strings.Contains(id, r.nhs[0]) {
		t.Fatalf("patient id %q", id)
	}
	if st, p2 := r.do("GET", "/fhir/Patient/"+id, tok, nil); st != 200 || p2["id"] != id {
		t.Fatalf("Patient read: %d", st)
	}
	other := r.api.PatientID(r.nhs[1])
	if st, m := r.do("GET", "/fhir/Patient/"+other, tok, nil); st != 403 {
		t.Fatalf("another's Patient: %d", st)
	} else if c, _ := issueOf(t, m); c != "forbidden" {
		t.Fatalf("code %s", c)
	}
	for _, path := range []string{"/fhir/AuditEvent?patient=" + other, "/fhir/Consent?patient=Patient/" + other} {
		if st, _ := r.do("GET", path, tok, nil); st != 403 {
			t.Fatalf("%s: %d", path, st)
		}
	}
	for _, path := range []string{"/fhir/AuditEvent?patient=" + id, "/fhir/Consent?patient=Patient/" + id} {
		if st, m := r.do("GET", path, tok, nil); st != 200 || m["type"] != "searchset" {
			t.Fatalf("%s: %d %v", path, st, m)
		}
	}
	if st, m := r.do("GET", "/fhir/AuditEvent", tok, nil); st != 400 {
		t.Fatalf("no patient parameter: %d %v", st, m)
	}
}

// TestFHIR_Auth checks tokens: missing, forged, lower proofing, missing scope.
func TestFHIR_Auth(t *testing.T) {
	r := newAPIRig(t)
	if st, m := r.do("GET", "/fhir/Patient", "", nil); st != 401 {
		t.Fatalf("no token: %d %v", st, m)
	}
	if st, _ := r.do("GET", "/fhir/Patient", "not.a.token", nil); st != 401 {
		t.Fatalf("forged token: %d", st)
	}
	if st, m := r.do("GET", "/fhir/Patient", r.sign(r.nhs[0], "P5", "patient/*.read"), nil); st != 403 {
		t.Fatalf("P5: %d", st)
	} else if c, _ := issueOf(t, m); c != "security" {
		t.Fatalf("P5 code %s", c)
	}
	ref := "Patient/" + r.api.PatientID(r.nhs[0])
	if st, _ := r.do("POST", "/fhir/Observation", r.sign(r.nhs[0], "P9", "patient/*.read"), heartRate(ref, 70, "")); st != 403 {
		t.Fatalf("write without the write scope: %d", st)
	}
	if n := r.observations(r.nhs[0]); n != 0 {
		t.Fatalf("%d stored by refused requests", n)
	}
}

// TestFHIR_Observation_RefusalsStoreNothing checks each bad reading gets
// its OperationOutcome naming the field, and nothing is stored.
func TestFHIR_Observation_RefusalsStoreNothing(t *testing.T) {
	r := newAPIRig(t)
	tok := r.sign(r.nhs[0], "P9", "patient/Observation.write")
	me := "Patient/" + r.api.PatientID(r.nhs[0])
	other := "Patient/" + r.api.PatientID(r.nhs[1])
	cases := []struct {
		body        []byte
		status      int
		code, field string
	}{
		{heartRate(other, 70, ""), 403, "forbidden", "Observation.subject"},
		{heartRate(me, 2000, ""), 422, "invalid", "Observation.valueQuantity.value"},
		{heartRate(me, "seventy", ""), 422, "invalid", "Observation"},
		{[]byte(`{"resourceType":"Observation"`), 422, "invalid", "Observation"},
		{bytes.Repeat([]byte("x"), fhirapi.MaxObservationBody+1), 413, "too-costly", ""},
	}
	for i, c := range cases {
		st, m := r.do("POST", "/fhir/Observation", tok, c.body)
		code, field := issueOf(t, m)
		if st != c.status || code != c.code || field != c.field {
			t.Errorf("case %d: %d %s %q; want %d %s %q", i, st, code, field, c.status, c.code, c.field)
		}
	}
	if n := r.observations(r.nhs[0]); n != 0 {
		t.Fatalf("%d stored by refused requests", n)
	}
}

// TestFHIR_Observation_StoredOnceAndTransaction checks a reading is
// created (201), a retry with the same identifier or If-None-Exist is not
// stored again, a transaction is all or none, and accepted readings change
// the patient's documents (so connected clients receive them).
func TestFHIR_Observation_StoredOnceAndTransaction(t *testing.T) {
	r := newAPIRig(t)
	tok := r.sign(r.nhs[0], "P9", "patient/Observation.write")
	me := "Patient/" + r.api.PatientID(r.nhs[0])
	before, _ := r.st.Patient(r.nhs[0])
	st, m := r.do("POST", "/fhir/Observation", tok, heartRate(me, 71, "reading-1"))
	if st != 201 || m["resourceType"] != "Observation" || m["subject"].(map[string]any)["reference"] != me {
		t.Fatalf("create: %d %v", st, m)
	}
	after, _ := r.st.Patient(r.nhs[0])
	if after.Version == before.Version {
		t.Fatal("an accepted reading did not change the patient's documents")
	}
	if st, _ := r.do("POST", "/fhir/Observation", tok, heartRate(me, 71, "reading-1")); st != 200 {
		t.Fatalf("retry: %d", st)
	}
	if st, _ := r.do("POST", "/fhir/Observation", tok, heartRate(me, 99, "other-id"), "If-None-Exist", "identifier=urn:example:app|reading-1"); st != 200 {
		t.Fatalf("If-None-Exist: %d", st)
	}
	if n := r.observations(r.nhs[0]); n != 1 {
		t.Fatalf("%d stored; want 1", n)
	}
	entry := func(body []byte) map[string]any {
		var res map[string]any
		_ = json.Unmarshal(body, &res)
		return map[string]any{"resource": res, "request": map[string]any{"method": "POST", "url": "Observation"}}
	}
	bundle := func(entries ...map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		return b
	}
	st, m = r.do("POST", "/fhir", tok, bundle(entry(heartRate(me, 60, "t-1")), entry(heartRate(me, 1000, "t-2"))))
	if code, field := issueOf(t, m); st != 422 || code != "invalid" || field != "Bundle.entry[1].resource.valueQuantity.value" {
		t.Fatalf("bad transaction: %d %s %s", st, code, field)
	}
	if n := r.observations(r.nhs[0]); n != 1 {
		t.Fatalf("a refused transaction stored %d", n-1)
	}
	st, m = r.do("POST", "/fhir", tok, bundle(entry(heartRate(me, 60, "t-1")), entry(heartRate(me, 62, "t-2")), entry(heartRate(me, 71, "reading-1"))))
	if st != 200 || m["type"] != "transaction-response" || len(m["entry"].([]any)) != 3 {
		t.Fatalf("transaction: %d %v", st, m)
	}
	if n := r.observations(r.nhs[0]); n != 3 {
		t.Fatalf("%d stored after the transaction; want 3", n)
	}
	// The same transaction again stores nothing.
	r.do("POST", "/fhir", tok, bundle(entry(heartRate(me, 60, "t-1")), entry(heartRate(me, 62, "t-2"))))
	if n := r.observations(r.nhs[0]); n != 3 {
		t.Fatalf("%d stored after a retried transaction", n)
	}
	_ = context.Background()
	_ = fmt.Sprint()
}

// TestFHIR_RateLimit checks writes past the per-patient limit get 429.
func TestFHIR_RateLimit(t *testing.T) {
	r := newAPIRig(t)
	tok := r.sign(r.nhs[1], "P9", "patient/Observation.write")
	other := "Patient/" + r.api.PatientID(r.nhs[0]) // refused as forbidden, cheaply: still counted
	var last int
	for range fhirapi.RatePerMinute + 1 {
		last, _ = r.do("POST", "/fhir/Observation", tok, heartRate(other, 70, ""))
	}
	if last != 429 {
		t.Fatalf("write %d: %d; want 429", fhirapi.RatePerMinute+1, last)
	}
}

// TestFHIR_FhirKitClient drives the API with fhir-kit-client (npm), a FHIR
// client library this project did not write, over real TLS: metadata,
// Patient search and read, AuditEvent search, create (twice: stored
// once), refusals read as OperationOutcomes naming the field, a
// transaction. It needs node and web/node_modules (npm ci in web/).
func TestFHIR_FhirKitClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (scripts/ensure-deps.sh test installs it)")
	}
	if _, err := os.Stat("../../web/node_modules/fhir-kit-client"); err != nil {
		t.Skip("web/node_modules is missing: run npm ci in web/")
	}
	r := newAPIRig(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := r.sign(r.nhs[0], "P9", "patient/*.read", "patient/Observation.write")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "../../web/fhir-client-check.mjs", r.srv.URL+"/fhir", tok)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ca)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("fhir-kit-client checks failed: %v", err)
	}
	if n := strings.Count(string(out), `"ok":true`); n != 9 {
		t.Fatalf("%d checks passed; want 9", n)
	}
	if n := r.observations(r.nhs[0]); n != 3 {
		t.Fatalf("%d readings stored; want 3", n)
	}
}

// TestFHIR_ReadsAudited checks every read that answers is in the
// patient's audit trail as their own access, in the API's chain (which
// verifies), refused reads add nothing, the patient's own reads are not
// listed among accesses by others, and a read that cannot be recorded is
// not answered.
func TestFHIR_ReadsAudited(t *testing.T) {
	r := newAPIRig(t)
	tok := r.sign(r.nhs[0], "P9", "patient/*.read")
	id := r.api.PatientID(r.nhs[0])
	own := func() []audit.Event {
		var out []audit.Event
		if err := r.st.AccessLog(r.nhs[0], func(se store.StoredEvent) error {
			if se.Device == selfaudit.API {
				e, err := audit.Decode(se.Canonical)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, e)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, path := range []string{"/fhir/Patient", "/fhir/Patient/" + id, "/fhir/AuditEvent?patient=" + id, "/fhir/Consent?patient=Patient/" + id} {
		if st, m := r.do("GET", path, tok, nil); st != 200 {
			t.Fatalf("%s: %d %v", path, st, m)
		}
	}
	r.do("GET", "/fhir/Patient/"+r.api.PatientID(r.nhs[1]), tok, nil) // forbidden
	r.do("GET", "/fhir/metadata", "", nil)                            // no patient
	evs := own()
	var secs []string
	for _, e := range evs {
		if e.Action != audit.ActionView || e.User.Role != "patient" || !strings.HasPrefix(e.User.ID, "citizen:") || len(e.User.ID) < 20 || e.Purpose != "PATRQT" {
			t.Fatalf("audit event %+v", e)
		}
		secs = append(secs, e.Sections...)
	}
	if strings.Join(secs, ",") != "fhir:Patient,fhir:Patient,fhir:AuditEvent,fhir:Consent" {
		t.Fatalf("audited reads %v; want the four that answered", secs)
	}
	if reps, err := r.svc.VerifyChains(); err != nil {
		t.Fatalf("chains do not verify: %v %+v", err, reps)
	}
	// The AuditEvent search lists accesses by others, not these.
	_, b := r.do("GET", "/fhir/AuditEvent?patient="+id, tok, nil)
	if n := b["total"]; n != nil && n.(float64) != 0 {
		if raw, _ := json.Marshal(b); strings.Contains(string(raw), selfaudit.API) {
			t.Fatalf("the patient's own reads listed: %s", raw)
		}
	}
	// A read that cannot be recorded is not answered.
	key, _ := devidp.LoadKey(r.dir)
	v := oidc.NewVerifier(issuer, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.Public()}}, &oidc.Config{SkipClientIDCheck: true})
	api, err := fhirapi.New(fhirapi.Config{Store: auditFails{r.st}, Record: r.svc, Verify: fhirapi.OIDCVerify(v), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewTLSServer(api.Handler())
	t.Cleanup(r.srv.Close)
	st, m := r.do("GET", "/fhir/Patient/"+id, tok, nil)
	if c, _ := issueOf(t, m); st != http.StatusServiceUnavailable || c != "transient" {
		t.Fatalf("a read whose audit failed: %d %v", st, m)
	}
}

// auditFails is a store whose audit writes fail.
type auditFails struct{ store.Store }

func (auditFails) StoreAudit(string, []store.StoredEvent, []store.StoredEvent, []store.Alert, []byte) error {
	return errors.New("the audit trail is full")
}
