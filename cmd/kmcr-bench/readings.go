package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"kmcr/core"
	"kmcr/demo"
	"kmcr/internal/memsecrets"
	"kmcr/server/devidp"
	"kmcr/server/fhirapi"
)

// The requirement on readings reaching carers.
const readingsBudget = time.Second

// runReadings measures a reading's way from the patient's app to a carer:
// from sending POST /fhir/Observation (a bearer token the development
// provider signed, TLS on loopback) to the reading being in a connected
// desktop client's cache (the real client core, live sync), as one
// opening of the patient from the cache sees it.
func runReadings(w io.Writer, opt options) (err error) {
	posts, patients := 200, 4
	if opt.quick {
		posts = 40
	}
	root := filepath.Join(opt.dir, "readings")
	s, _, imp, err := startServer(root, patients)
	if err != nil {
		return err
	}
	defer s.finish(&err)
	const user = "carer"
	if err := s.addUser(user, patients); err != nil {
		return err
	}
	key, err := devidp.LoadKey(s.dir)
	if err != nil {
		return err
	}
	const issuer = "https://127.0.0.1/dev-idp"
	v := oidc.NewVerifier(issuer, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.Public()}}, &oidc.Config{SkipClientIDCheck: true})
	api, err := fhirapi.New(fhirapi.Config{Store: s.st, Record: s.svc, Verify: fhirapi.OIDCVerify(v)})
	if err != nil {
		return err
	}
	fhir := httptest.NewTLSServer(api.Handler())
	defer fhir.Close()

	kc, err := core.Open(core.Config{DataDir: filepath.Join(root, "client"), Secrets: memsecrets.New()})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, kc.Close()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := kc.Enrol(ctx, core.EnrolRequest{Server: s.url, CAFile: s.caFile, User: user, Password: benchUserPassword(user),
		Passphrase: []byte(benchPassphrase), Host: "bench-readings"}, nil); err != nil {
		return fmt.Errorf("enrolling: %w", err)
	}
	changed := make(chan struct{}, 1)
	stopWatch := kc.Watch(func(core.Status) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer stopWatch()
	syncCtx, stopSync := context.WithCancel(ctx)
	synced := make(chan error, 1)
	go func() { synced <- kc.ServeSync(syncCtx) }()
	defer func() { stopSync(); <-synced }()
	// Connected and up to date before the first post.
	for deadline := time.Now().Add(time.Minute); kc.Status().State != core.SyncUpToDate; {
		if time.Now().After(deadline) {
			return errors.New("the client did not come up to date")
		}
		time.Sleep(10 * time.Millisecond)
	}

	tokens := map[string]string{}
	nhs := make([]string, patients)
	for i := range nhs {
		nhs[i] = demo.NHSNumber(benchSeed, i).Digits()
		if tokens[nhs[i]], _, err = devidp.MintAccessToken(key, issuer, devidp.ScriptClient, nhs[i], devidp.LevelP9, []string{"patient/Observation.write"}, time.Now()); err != nil {
			return err
		}
	}
	hc := fhir.Client()
	var lat, post []time.Duration
	for i := range posts {
		n := nhs[i%patients]
		value := 40 + i // unique: the reading looked for in the cache
		ref := "Patient/" + api.PatientID(n)
		body, _ := json.Marshal(map[string]any{
			"resourceType": "Observation", "status": "final",
			"identifier":        []any{map[string]any{"system": "urn:kmcr-bench:readings", "value": fmt.Sprintf("r%d", i)}},
			"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}},
			"subject":           map[string]any{"reference": ref},
			"performer":         []any{map[string]any{"reference": ref}},
			"effectiveDateTime": time.Now().Add(-time.Duration(posts-i) * time.Minute).UTC().Format(time.RFC3339),
			"valueQuantity":     map[string]any{"value": value, "unit": "beats/min", "system": "http://unitsofmeasure.org", "code": "/min"},
		})
		req, _ := http.NewRequest("POST", fhir.URL+"/fhir/Observation", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[n])
		req.Header.Set("Content-Type", "application/fhir+json")
		// Drain a change notice left from before this post.
		select {
		case <-changed:
		default:
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		post = append(post, time.Since(start))
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST /fhir/Observation %d: %s %s", i, resp.Status, rb)
		}
		arrived := func() (bool, error) {
			pv, err := kc.OpenPatient(n, nil)
			if err != nil {
				return false, err
			}
			for _, o := range pv.Summary.Observations.Items {
				if o.PatientEntered && o.Quantity != nil && o.Quantity.Value == float64(value) {
					return true, nil
				}
			}
			return false, nil
		}
		for {
			ok, err := arrived()
			if err != nil {
				return err
			}
			if ok {
				break
			}
			select {
			case <-changed:
			case <-time.After(5 * time.Second):
				if time.Since(start) > 30*time.Second {
					return fmt.Errorf("reading %d did not reach the client within 30 s", i)
				}
			}
		}
		lat = append(lat, time.Since(start))
	}
	fmt.Fprintf(w, "\nreadings: %d heart rates posted one at a time to POST /fhir/Observation (loopback TLS, %d patients in turn), each timed until the connected client's cache holds it (core.OpenPatient after each change the client reports); server: in-process Service on bbolt, %d demo patients imported in %s\n\n",
		posts, patients, patients, dur(imp))
	t := newTable(w)
	p99, b99 := quantile(lat, 0.99), quantile(post, 0.99)
	res := "pass"
	if p99 >= readingsBudget {
		res = "FAIL"
	}
	if opt.quick {
		res = "(quick)"
	}
	t.row(fmt.Sprintf("reading POST to the client's cache, p99 of %d", len(lat)), dur(p99), dur(b99)+" (the POST's answer, p99)", durRatio(p99, b99), "p99 < "+dur(readingsBudget), res)
	t.row("reading POST to the client's cache, p50", dur(quantile(lat, 0.5)), dur(quantile(post, 0.5))+" (the POST's answer, p50)", durRatio(quantile(lat, 0.5), quantile(post, 0.5)), "", "")
	t.row("reading POST to the client's cache, max", dur(quantile(lat, 1)), "", "", "", "")
	t.flush()
	return nil
}
