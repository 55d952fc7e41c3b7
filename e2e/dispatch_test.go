package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// dispatchClient is a dispatch system's HTTPS client trusting the
// server's CA.
func dispatchClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in " + caFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func dispatchSend(t *testing.T, hc *http.Client, method, url, cred string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cred)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e protocol.APIError
	if resp.StatusCode >= 300 {
		json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("%s %s: %s %+v", method, url, resp.Status, e)
	}
	return resp.StatusCode
}

// TestDispatch_PrefetchReachesCacheAndLeaves: a dispatch system POSTs an
// incident at a patient's home over the server's HTTPS listener; the
// crew's connected client core receives the summary and can open it from
// its cache; the DELETE takes it out of the cache again, while the crew's
// caseload stays.
func TestDispatch_PrefetchReachesCacheAndLeaves(t *testing.T) {
	srv := newInprocServer(t, inprocOpts{patients: 20, seed: 41, timeouts: shortTimeouts})
	srv.addUser("para", "paramedic", srv.nhs[:5]...)
	added, err := srv.local.DispatchAdd(context.Background(), "medway-cad")
	if err != nil {
		t.Fatal(err)
	}
	p := newProfile(t)
	c := enrolCore(t, p, srv.url(), srv.ca, "para", coreOpts{}, srv.logs.prefixed("client: "))
	serveSync(t, c)
	waitState(t, c, 30*time.Second, "up to date", upToDate)
	srv.logs.mu.Lock()
	logs := strings.Join(srv.logs.lines, "\n")
	srv.logs.mu.Unlock()
	if !strings.Contains(logs, "incident prefetch on") {
		t.Skip("this build's client does not list the incident feature (the client side of dispatch prefetch): nothing to prefetch to")
	}
	target := srv.nhs[12]
	m, err := srv.st.Patient(target)
	if err != nil || len(m.Addresses) == 0 {
		t.Fatalf("patient %s: %+v, %v; want an address", target, m.Addresses, err)
	}
	hc := dispatchClient(t, srv.ca)
	base := "https://" + srv.addr + protocol.PathDispatchIncidents
	body := fmt.Sprintf(`{"id":"e2e-4711","address":{"line":%q,"postcode":%q},"crew":["para"],"expires":"1h"}`, m.Addresses[0].Line, m.Addresses[0].Postcode)
	posted := time.Now()
	if code := dispatchSend(t, hc, "POST", base, added.Credential, []byte(body)); code != http.StatusCreated {
		t.Fatalf("POST answered %d; want 201", code)
	}
	in, err := srv.local.IncidentList(context.Background())
	if err != nil || len(in) != 1 {
		t.Fatalf("incident list %+v, %v", in, err)
	}
	want := 5 + in[0].Candidates
	eventually(t, 20*time.Second, "the incident's summaries in the cache", func() error {
		if n := c.Status().CachedPatients; n != want {
			return fmt.Errorf("cached %d; want %d", n, want)
		}
		return nil
	})
	t.Logf("dispatch POST to cached: %v", time.Since(posted))
	v, err := c.OpenPatient(target, nil)
	if err != nil || v.Summary.Demographics.NHS.Digits() != target {
		t.Fatalf("opening the incident's patient from the cache: %v", err)
	}
	if code := dispatchSend(t, hc, "DELETE", base+"/e2e-4711", added.Credential, nil); code != http.StatusOK {
		t.Fatalf("DELETE answered %d", code)
	}
	eventually(t, 20*time.Second, "the incident's summaries gone", func() error {
		if n := c.Status().CachedPatients; n != 5 {
			return fmt.Errorf("cached %d; want the caseload's 5", n)
		}
		return nil
	})
	if _, err := c.OpenPatient(target, nil); !isNotCached(err) {
		t.Fatalf("after the incident closed, opening %s: %v; want not cached", target, err)
	}
}
