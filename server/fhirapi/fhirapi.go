// Package fhirapi is the patient-facing FHIR R4 API under /fhir, for
// patient apps (SMART on FHIR, patient scopes): a citizen's bearer token
// from the same OpenID provider as the portal reads their own Patient,
// who viewed their record (AuditEvent) and their sharing choices
// (Consent), and adds readings (Observation), one at a time or as a
// transaction Bundle.
//
// # Basics
//
// Every request but GET /fhir/metadata needs a bearer token the provider
// signed, asserting nhs_number, identity_proofing_level P9 and the scope
// the call needs: patient/*.read for reads, patient/Observation.write for
// readings. The patient's id in this API is derived from the NHS number
// with a key the server keeps (PatientID), so no NHS number appears in a
// URL or an access log. Every refused request gets an OperationOutcome:
// 401 without a valid token, 403 for another patient or a missing scope
// (and for a reading whose subject or performer is not the token's
// patient), 422 naming the field for a reading that fails validation
// (package readings), 413 past the size limits, 429 past the rate limit.
// A refused request stores nothing; a transaction is all or nothing.
//
// A reading sent again is stored once: with If-None-Exist (identifier=
// system|value) the existing one is returned, and a reading's stored id is
// derived from its identifier, or its content when it has none.
//
// # Caveats
//
// Every read that answers (Patient, AuditEvent, Consent) is in the audit
// trail as the patient's own access, in a chain of the API's own
// (selfaudit.API), as the portal's page views are; a read that cannot be
// recorded is not answered (503).
//
// The rate limit is per process.
package fhirapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/readings"
	"kmcr/server/selfaudit"
	"kmcr/server/store"
)

// Limits.
const (
	MaxObservationBody = 64 << 10 // one POST /fhir/Observation
	MaxBundleBody      = 1 << 20  // one POST /fhir transaction
	MaxBundleEntries   = 500
	// RatePerMinute is how many writes a patient may make a minute.
	RatePerMinute = 120
	scopeRead     = "patient/*.read"
	scopeWrite    = "patient/Observation.write"
	fhirJSON      = "application/fhir+json"
)

// Claims are what a verified bearer token asserts.
type Claims struct {
	NHS, Level string
	Scopes     []string
	// Subject is the token's subject (the citizen at the provider).
	Subject string
}

// Record is what the API needs of the central record beyond the store.
// *server.Service implements it.
type Record interface {
	AddPatientResources(nhs string, rs []store.StoredResource) (bool, error)
	PatientResourcesOf(nhs, typ string) ([]store.StoredResource, error)
	PatientReference(nhs string) (string, error)
}

// Config configures the API.
type Config struct {
	Store  store.Store
	Record Record
	// Verify checks a bearer token and returns its claims.
	Verify func(ctx context.Context, token string) (Claims, error)
	Now    func() time.Time
	Logf   func(format string, args ...any)
	// Node names this server among several sharing one database (empty
	// for a single node): the API's audit chain is kept per node.
	Node string
}

// API serves /fhir.
type API struct {
	cfg   Config
	idKey []byte
	chain *selfaudit.Chain

	mu     sync.Mutex
	window map[string]*rate // by NHS number
}

type rate struct {
	start time.Time
	n     int
}

// New makes the API.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil || cfg.Record == nil || cfg.Verify == nil {
		return nil, errors.New("fhirapi: store, record and verifier are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	key, err := cfg.Store.Secret("fhir-patient-id")
	if err != nil {
		return nil, err
	}
	chain := selfaudit.New(cfg.Store, selfaudit.Device(selfaudit.API, cfg.Node), "patient app (FHIR API)")
	return &API{cfg: cfg, idKey: key, chain: chain, window: map[string]*rate{}}, nil
}

// PatientID is the patient's id in this API: not the NHS number, but
// stable for it.
func (a *API) PatientID(nhs string) string {
	m := hmac.New(sha256.New, a.idKey)
	m.Write([]byte("kmcr fhir patient id\x00" + nhs))
	return "p" + hex.EncodeToString(m.Sum(nil)[:12])
}

// Handler serves /fhir and below.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/metadata", a.metadata)
	mux.HandleFunc("GET /fhir/Patient", a.auth(scopeRead, a.searchPatient))
	mux.HandleFunc("GET /fhir/Patient/{id}", a.auth(scopeRead, a.readPatient))
	mux.HandleFunc("GET /fhir/AuditEvent", a.auth(scopeRead, a.searchAuditEvent))
	mux.HandleFunc("GET /fhir/Consent", a.auth(scopeRead, a.searchConsent))
	mux.HandleFunc("POST /fhir/Observation", a.auth(scopeWrite, a.createObservation))
	mux.HandleFunc("POST /fhir", a.auth(scopeWrite, a.transaction))
	mux.HandleFunc("POST /fhir/{$}", a.auth(scopeWrite, a.transaction)) // the base with a slash, as client libraries send it
	mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		outcome(w, http.StatusNotFound, "not-supported", "this API does not offer "+r.Method+" "+r.URL.Path+" (see /fhir/metadata)")
	})
	return mux
}

// outcome writes an OperationOutcome.
func outcome(w http.ResponseWriter, status int, code, diagnostics string, expression ...string) {
	iss := map[string]any{"severity": "error", "code": code, "diagnostics": diagnostics}
	if len(expression) > 0 {
		iss["expression"] = expression
	}
	writeFHIR(w, status, map[string]any{"resourceType": "OperationOutcome", "issue": []any{iss}})
}

func writeFHIR(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", fhirJSON+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

type handler func(w http.ResponseWriter, r *http.Request, c Claims)

// auth checks the bearer token, the proofing level and the scope.
func (a *API) auth(scope string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || raw == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kmcr"`)
			outcome(w, http.StatusUnauthorized, "login", "a bearer token is required")
			return
		}
		c, err := a.cfg.Verify(r.Context(), raw)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kmcr", error="invalid_token"`)
			outcome(w, http.StatusUnauthorized, "login", "the bearer token is not valid or has expired")
			return
		}
		if _, err := record.ParseNHSNumber(c.NHS); err != nil {
			outcome(w, http.StatusUnauthorized, "login", "the bearer token names no valid NHS number")
			return
		}
		if c.Level != "P9" {
			outcome(w, http.StatusForbidden, "security", "record access needs identity proofing level P9; this token asserts "+c.Level)
			return
		}
		if !hasScope(c.Scopes, scope) {
			outcome(w, http.StatusForbidden, "forbidden", "this call needs the scope "+scope)
			return
		}
		h(w, r, c)
	}
}

func hasScope(have []string, want string) bool {
	for _, s := range have {
		if s == want {
			return true
		}
	}
	return false
}

// allow counts a write against the patient's minute.
func (a *API) allow(nhs string) bool {
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, rt := range a.window {
		if now.Sub(rt.start) > time.Minute {
			delete(a.window, k)
		}
	}
	rt := a.window[nhs]
	if rt == nil {
		rt = &rate{start: now}
		a.window[nhs] = rt
	}
	rt.n++
	return rt.n <= RatePerMinute
}

func (a *API) self(c Claims) string { return "Patient/" + a.PatientID(c.NHS) }

// ownPatientParam checks ?patient= names the token's patient.
func (a *API) ownPatientParam(w http.ResponseWriter, r *http.Request, c Claims) bool {
	p := r.URL.Query().Get("patient")
	if p == "" {
		outcome(w, http.StatusBadRequest, "required", "the patient search parameter is required", "patient")
		return false
	}
	id := strings.TrimPrefix(p, "Patient/")
	if id != a.PatientID(c.NHS) {
		outcome(w, http.StatusForbidden, "forbidden", "you may only search your own records (patient="+a.PatientID(c.NHS)+")", "patient")
		return false
	}
	return true
}

func (a *API) patientResource(c Claims) (map[string]any, error) {
	doc, err := a.cfg.Store.Doc(c.NHS, store.DocDemographics)
	if err != nil {
		return nil, err
	}
	rec, err := record.ParseBundle(doc)
	if err != nil {
		return nil, err
	}
	for _, res := range rec.Resources {
		if res.Type == "Patient" {
			var m map[string]any
			if err := json.Unmarshal(res.Raw, &m); err != nil {
				return nil, err
			}
			m["id"] = a.PatientID(c.NHS)
			delete(m, "meta")
			return m, nil
		}
	}
	return nil, fmt.Errorf("patient %s: no Patient resource: %w", c.NHS, store.ErrNotFound)
}

func (a *API) notFoundOr500(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		outcome(w, http.StatusNotFound, "not-found", "there is no record for your NHS number")
		return
	}
	a.cfg.Logf("fhir: %v", err)
	outcome(w, http.StatusInternalServerError, "exception", "the record could not be read")
}

func searchset(resources []any, self string) map[string]any {
	entries := make([]any, 0, len(resources))
	for _, r := range resources {
		m := r.(map[string]any)
		entries = append(entries, map[string]any{"fullUrl": "urn:uuid:" + fmt.Sprint(m["id"]), "resource": r, "search": map[string]any{"mode": "match"}})
	}
	return map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(resources), "link": []any{map[string]any{"relation": "self", "url": self}}, "entry": entries}
}

func (a *API) searchPatient(w http.ResponseWriter, r *http.Request, c Claims) {
	p, err := a.patientResource(c)
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	b := searchset([]any{p}, "/fhir/Patient")
	b["entry"].([]any)[0].(map[string]any)["fullUrl"] = "Patient/" + a.PatientID(c.NHS)
	if !a.audited(w, c, "Patient") {
		return
	}
	writeFHIR(w, http.StatusOK, b)
}

func (a *API) readPatient(w http.ResponseWriter, r *http.Request, c Claims) {
	if r.PathValue("id") != a.PatientID(c.NHS) {
		outcome(w, http.StatusForbidden, "forbidden", "you may only read your own Patient ("+a.PatientID(c.NHS)+")")
		return
	}
	p, err := a.patientResource(c)
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	if !a.audited(w, c, "Patient") {
		return
	}
	writeFHIR(w, http.StatusOK, p)
}

func (a *API) searchAuditEvent(w http.ResponseWriter, r *http.Request, c Claims) {
	if !a.ownPatientParam(w, r, c) {
		return
	}
	var entries []audit.Stored
	err := a.cfg.Store.AccessLog(c.NHS, func(se store.StoredEvent) error {
		if se.Malformed || selfaudit.IsSelf(se.Device) {
			return nil
		}
		e, err := audit.Decode(se.Canonical)
		if err != nil {
			return nil
		}
		entries = append(entries, audit.Stored{DeviceID: se.Device, Event: e, Recorded: se.Recorded})
		return nil
	})
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Event.Occurred.After(entries[j].Event.Occurred) })
	b, err := audit.Bundle(entries)
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	if !a.audited(w, c, "AuditEvent") {
		return
	}
	w.Header().Set("Content-Type", fhirJSON+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// ownRefs rewrites the record's internal patient reference to this API's.
func (a *API) ownRefs(raw []byte, internal, self string) (map[string]any, error) {
	s := strings.ReplaceAll(string(raw), `"`+internal+`"`, `"`+self+`"`)
	var m map[string]any
	err := json.Unmarshal([]byte(s), &m)
	return m, err
}

func (a *API) searchConsent(w http.ResponseWriter, r *http.Request, c Claims) {
	if !a.ownPatientParam(w, r, c) {
		return
	}
	internal, err := a.cfg.Record.PatientReference(c.NHS)
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	rs, err := a.cfg.Record.PatientResourcesOf(c.NHS, "Consent")
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	var out []any
	for i := len(rs) - 1; i >= 0; i-- { // newest first: ids sort by time
		m, err := a.ownRefs(rs[i].Raw, internal, a.self(c))
		if err == nil {
			out = append(out, m)
		}
	}
	if !a.audited(w, c, "Consent") {
		return
	}
	writeFHIR(w, http.StatusOK, searchset(out, "/fhir/Consent?patient="+a.PatientID(c.NHS)))
}

// audited records the patient's read of a resource type in the audit
// trail; when it cannot be recorded the read is not answered.
func (a *API) audited(w http.ResponseWriter, c Claims, typ string) bool {
	err := a.chain.Record(audit.Event{
		Action:   audit.ActionView,
		Occurred: a.cfg.Now().UTC(),
		User:     audit.Actor{ID: "citizen:" + c.Subject, Name: "You (the patient), through an app", Role: "patient"},
		Patient:  record.NHSNumber(c.NHS),
		Sections: []string{"fhir:" + typ},
		Purpose:  "PATRQT",
		Outcome:  audit.Outcome{Result: audit.ResultSuccess},
	})
	if err != nil {
		a.cfg.Logf("fhir: recording a read: %v", err)
		outcome(w, http.StatusServiceUnavailable, "transient", "the read could not be recorded in the audit trail; try again later")
		return false
	}
	return true
}

// readBody reads at most limit bytes, answering 413 past it.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		outcome(w, http.StatusRequestEntityTooLarge, "too-costly", fmt.Sprintf("the body is larger than %d bytes", limit))
		return nil, false
	}
	if err != nil {
		outcome(w, http.StatusBadRequest, "structure", "the body could not be read")
		return nil, false
	}
	return b, true
}

// accepted is one checked reading ready to store.
type accepted struct {
	key string
	raw []byte
	obs *readings.Observation
}

// check parses and validates one reading; prefix names it in a Bundle.
func (a *API) check(raw []byte, c Claims, internal, prefix string) (accepted, *readings.FieldError) {
	o, err := readings.Parse(raw)
	if err == nil {
		err = readings.Check(o, a.self(c), a.cfg.Now())
	}
	var fe *readings.FieldError
	if errors.As(err, &fe) {
		f := *fe
		if prefix != "" {
			f.Field = prefix + strings.TrimPrefix(f.Field, "Observation")
		}
		return accepted{}, &f
	}
	key, stored, err := readings.Stored(o, internal)
	if err != nil {
		return accepted{}, &readings.FieldError{Field: prefix + "Observation", Reason: err.Error()}
	}
	return accepted{key: key, raw: stored, obs: o}, nil
}

func refuse(w http.ResponseWriter, fe *readings.FieldError) {
	if fe.Forbidden {
		outcome(w, http.StatusForbidden, "forbidden", fe.Reason, fe.Field)
		return
	}
	outcome(w, http.StatusUnprocessableEntity, "invalid", fe.Reason, fe.Field)
}

// existing returns the patient's stored readings by key and identifier.
func (a *API) existing(nhs string) (byKey map[string][]byte, byIdent map[string]string, err error) {
	rs, err := a.cfg.Record.PatientResourcesOf(nhs, "Observation")
	if err != nil {
		return nil, nil, err
	}
	byKey, byIdent = map[string][]byte{}, map[string]string{}
	for _, r := range rs {
		byKey[r.Key] = r.Raw
		var o struct{ Identifier []readings.Identifier }
		if json.Unmarshal(r.Raw, &o) == nil {
			for _, id := range o.Identifier {
				byIdent[readings.IdentifierKey(id)] = r.Key
			}
		}
	}
	return byKey, byIdent, nil
}

func (a *API) createObservation(w http.ResponseWriter, r *http.Request, c Claims) {
	if !a.allow(c.NHS) {
		w.Header().Set("Retry-After", "60")
		outcome(w, http.StatusTooManyRequests, "throttled", fmt.Sprintf("at most %d writes a minute", RatePerMinute))
		return
	}
	body, ok := readBody(w, r, MaxObservationBody)
	if !ok {
		return
	}
	internal, err := a.cfg.Record.PatientReference(c.NHS)
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	acc, fe := a.check(body, c, internal, "")
	if fe != nil {
		refuse(w, fe)
		return
	}
	byKey, byIdent, err := a.existing(c.NHS)
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	if cond := r.Header.Get("If-None-Exist"); cond != "" {
		ident, ok := strings.CutPrefix(cond, "identifier=")
		if !ok || !strings.Contains(ident, "|") {
			outcome(w, http.StatusBadRequest, "not-supported", "If-None-Exist supports identifier=system|value only")
			return
		}
		if k, found := byIdent[ident]; found {
			a.answer(w, http.StatusOK, byKey[k], internal, c)
			return
		}
	}
	if raw, found := byKey[acc.key]; found {
		a.answer(w, http.StatusOK, raw, internal, c)
		return
	}
	if _, err := a.cfg.Record.AddPatientResources(c.NHS, []store.StoredResource{{Key: acc.key, Raw: acc.raw}}); err != nil {
		a.notFoundOr500(w, err)
		return
	}
	w.Header().Set("Location", "/fhir/"+acc.key)
	a.answer(w, http.StatusCreated, acc.raw, internal, c)
}

func (a *API) answer(w http.ResponseWriter, status int, raw []byte, internal string, c Claims) {
	m, err := a.ownRefs(raw, internal, a.self(c))
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	writeFHIR(w, status, m)
}

// transaction stores a Bundle of readings, all or none.
func (a *API) transaction(w http.ResponseWriter, r *http.Request, c Claims) {
	if !a.allow(c.NHS) {
		w.Header().Set("Retry-After", "60")
		outcome(w, http.StatusTooManyRequests, "throttled", fmt.Sprintf("at most %d writes a minute", RatePerMinute))
		return
	}
	body, ok := readBody(w, r, MaxBundleBody)
	if !ok {
		return
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
			Request  struct {
				Method, URL string
				IfNoneExist string `json:"ifNoneExist"`
			} `json:"request"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" {
		outcome(w, http.StatusBadRequest, "structure", "the body must be a FHIR Bundle", "Bundle")
		return
	}
	if b.Type != "transaction" {
		outcome(w, http.StatusUnprocessableEntity, "invalid", "only a transaction Bundle is accepted here", "Bundle.type")
		return
	}
	if len(b.Entry) == 0 || len(b.Entry) > MaxBundleEntries {
		outcome(w, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("a transaction holds 1 to %d readings", MaxBundleEntries), "Bundle.entry")
		return
	}
	internal, err := a.cfg.Record.PatientReference(c.NHS)
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	byKey, byIdent, err := a.existing(c.NHS)
	if err != nil {
		a.notFoundOr500(w, err)
		return
	}
	var add []store.StoredResource
	type result struct {
		status, key string
		raw         []byte
	}
	results := make([]result, len(b.Entry))
	seen := map[string]bool{}
	for i, e := range b.Entry {
		prefix := fmt.Sprintf("Bundle.entry[%d].resource", i)
		if e.Request.Method != "POST" || strings.TrimPrefix(e.Request.URL, "/") != "Observation" {
			outcome(w, http.StatusUnprocessableEntity, "invalid", "each entry must be POST Observation", fmt.Sprintf("Bundle.entry[%d].request", i))
			return
		}
		acc, fe := a.check(e.Resource, c, internal, prefix)
		if fe != nil {
			refuse(w, fe)
			return
		}
		if ident, ok := strings.CutPrefix(e.Request.IfNoneExist, "identifier="); ok {
			if k, found := byIdent[ident]; found {
				results[i] = result{"200 OK", k, byKey[k]}
				continue
			}
		}
		if raw, found := byKey[acc.key]; found || seen[acc.key] {
			if found {
				results[i] = result{"200 OK", acc.key, raw}
				continue
			}
			results[i] = result{"200 OK", acc.key, acc.raw}
			continue
		}
		seen[acc.key] = true
		add = append(add, store.StoredResource{Key: acc.key, Raw: acc.raw})
		results[i] = result{"201 Created", acc.key, acc.raw}
	}
	if len(add) > 0 {
		if _, err := a.cfg.Record.AddPatientResources(c.NHS, add); err != nil {
			a.notFoundOr500(w, err)
			return
		}
	}
	var entries []any
	for _, res := range results {
		m, _ := a.ownRefs(res.raw, internal, a.self(c))
		entries = append(entries, map[string]any{"resource": m, "response": map[string]any{"status": res.status, "location": res.key}})
	}
	writeFHIR(w, http.StatusOK, map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": entries})
}
