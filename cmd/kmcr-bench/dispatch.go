package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kmcr/core"
	"kmcr/demo"
	"kmcr/internal/faultproxy"
	"kmcr/internal/memsecrets"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// Dispatch prefetch on an impaired link: a crew member's device, enrolled
// and connected through the link with a caseload of dispatchCaseload
// patients, and a dispatch system (on a good link) that POSTs an incident
// at the home of a patient outside the caseload. The time is from the POST
// until the device's cache holds the incident's summaries and opens the
// patient from it (readable offline), then from the DELETE until they are
// gone. dispatchTrials incidents, the slowest reported.
const (
	dispatchCaseload = 50
	dispatchTrials   = 3
)

// dispatchRun is what one crew device measured.
type dispatchRun struct {
	readable, gone time.Duration // slowest of the trials
	measured       bool          // false: the client does not take incident prefetch
}

// dispatchSeq numbers the profiles measured so far.
var dispatchSeq int

func measureDispatch(t *table, s *benchServer, addr, dir string, lp linkBenchProfile, im faultproxy.Impairment, kernel bool) error {
	newProxy := func() (*faultproxy.Proxy, error) {
		if kernel {
			return faultproxy.NewToNamespace(addr)
		}
		return faultproxy.New(addr)
	}
	// The dispatch system's own path to the server: unimpaired.
	api, err := newProxy()
	if err != nil {
		return err
	}
	defer api.Close()
	dispatchSeq++ // each profile has a dispatch system and crew of its own
	cred, err := s.svc.AddDispatcher(fmt.Sprintf("bench-cad-%d", dispatchSeq))
	if err != nil {
		return err
	}
	var runs [2]dispatchRun
	for i, plain := range []bool{false, true} {
		user := fmt.Sprintf("crew%d-%d", dispatchSeq, i)
		if err := s.addUser(user, dispatchCaseload); err != nil {
			return err
		}
		link, err := newProxy()
		if err != nil {
			return err
		}
		link.Impair(im)
		runs[i], err = dispatchClient(s, link, api.Addr(), cred, filepath.Join(dir, user), user, plain, i)
		link.Close()
		if err != nil {
			return fmt.Errorf("%s crew client: %w", map[bool]string{false: "kmcr", true: "plain"}[plain], err)
		}
	}
	k, b := runs[0], runs[1]
	if !k.measured || !b.measured {
		return errors.New("a crew client's session did not list the incident feature: nothing was prefetched")
	}
	req, res := "", ""
	if lp.rate == 1_000_000 && lp.im.DropEvery == 0 {
		req, res = "< 3 s", verdict(k.readable < 3*time.Second)
	}
	t.row(lp.name+": dispatch POST to readable offline (slowest of 3)", dur(k.readable), dur(b.readable), durRatio(k.readable, b.readable), req, res)
	t.row(lp.name+": dispatch DELETE to gone from the device", dur(k.gone), dur(b.gone), durRatio(k.gone, b.gone), "", "")
	return nil
}

// dispatchClient enrols a crew device through link, keeps it connected,
// and times dispatchTrials incidents opened and closed over the API.
func dispatchClient(s *benchServer, link *faultproxy.Proxy, apiAddr, cred, dir, user string, plain bool, run int) (dispatchRun, error) {
	var r dispatchRun
	kc, err := core.Open(core.Config{DataDir: dir, Secrets: memsecrets.New(), SyncTweak: func(c *syncclient.Config) {
		c.Plain = plain
		c.Backoff = syncclient.Backoff{Base: 200 * time.Millisecond, Cap: time.Second, StableAfter: 10 * time.Second}
	}})
	if err != nil {
		return r, err
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err = kc.Enrol(ctx, core.EnrolRequest{Server: "wss://" + link.Addr(), CAFile: s.caFile, User: user, Password: benchUserPassword(user),
		Passphrase: []byte(benchPassphrase), Host: "bench-host"}, nil)
	for err != nil && kc.Enrolled() && ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		err = kc.SyncOnce(ctx, nil)
	}
	if err != nil {
		return r, err
	}
	syncCtx, stopSync := context.WithCancel(ctx)
	synced := make(chan error, 1)
	go func() { synced <- kc.ServeSync(syncCtx) }()
	defer func() { stopSync(); <-synced }()
	if err := waitUpToDate(kc, time.Minute); err != nil {
		return r, err
	}
	if !strings.Contains(s.log.String(), "session "+user+"/") || !strings.Contains(s.log.String(), "incident prefetch on") {
		return r, nil // the client does not list the feature
	}
	r.measured = true
	hc, err := dispatchHTTP(s.caFile)
	if err != nil {
		return r, err
	}
	base := "https://" + apiAddr + protocol.PathDispatchIncidents
	for trial := range dispatchTrials {
		patient := linkPatients - 1 - 10*trial - 3*run // outside the caseload, a different home each time
		nhs := demo.NHSNumber(benchSeed, patient).Digits()
		m, err := s.st.Patient(nhs)
		if err != nil || len(m.Addresses) == 0 {
			return r, fmt.Errorf("patient %d: no address recorded (%v)", patient, err)
		}
		cached := kc.Status().CachedPatients
		id := fmt.Sprintf("bench-%d-%d", run, trial)
		body, _ := json.Marshal(map[string]any{"id": id, "address": map[string]string{"line": m.Addresses[0].Line, "postcode": m.Addresses[0].Postcode},
			"crew": []string{user}, "expires": "1h"})
		posted := time.Now()
		var ans struct {
			Candidates int `json:"candidates"`
		}
		if err := dispatchDo(hc, "POST", base, cred, body, &ans); err != nil {
			return r, err
		}
		if ans.Candidates == 0 {
			return r, fmt.Errorf("incident at patient %d's home found nobody", patient)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			if kc.Status().CachedPatients >= cached+ans.Candidates {
				if _, err := kc.OpenPatient(nhs, nil); err == nil {
					break
				}
			}
			if time.Now().After(deadline) {
				return r, fmt.Errorf("the incident's summaries were not readable within a minute (cached %d)", kc.Status().CachedPatients)
			}
		}
		r.readable = max(r.readable, time.Since(posted))
		closed := time.Now()
		if err := dispatchDo(hc, "DELETE", base+"/"+id, cred, nil, nil); err != nil {
			return r, err
		}
		for deadline := time.Now().Add(time.Minute); kc.Status().CachedPatients != cached; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				return r, errors.New("the incident's summaries were still cached a minute after the DELETE")
			}
		}
		r.gone = max(r.gone, time.Since(closed))
	}
	return r, nil
}

// dispatchHTTP is the dispatch system's HTTPS client, trusting the CA.
func dispatchHTTP(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

func dispatchDo(hc *http.Client, method, url, cred string, body []byte, out any) error {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(protocol.AuthHeader, "Bearer "+cred)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e protocol.APIError
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %s %s", method, url, resp.Status, e.Message)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}
