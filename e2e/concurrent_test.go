package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"kmcr/core"
)

// TestConcurrent_FiftyClients guards the server under load: 50 clients (25
// users with two devices each, every user with a caseload of 200 patients,
// 50 with -short, drawn from a shared pool) enrol and run their first
// syncs at once, view patients, then stay connected while caseloads
// change. Every client ends with exactly its user's caseload, every audit
// event arrives once, and the server's state is consistent: 50 devices,
// 50 intact audit chains, no alert, no session left open.
func TestConcurrent_FiftyClients(t *testing.T) {
	t.Parallel()
	const users, perUser, viewsEach = 25, 2, 3
	pool, caseloadN := 500, 200
	if testing.Short() {
		pool, caseloadN = 150, 50
	}
	srv := newInprocServer(t, inprocOpts{patients: pool, seed: 41})
	rng := rand.New(rand.NewPCG(41, 41))
	type client struct {
		user string
		p    *profile
		c    *core.Core
	}
	caseloads := map[string][]string{}
	var clients []*client
	logs := newLogSink(t)
	for u := range users {
		name := fmt.Sprintf("user%02d", u)
		var cl []string
		for _, i := range rng.Perm(pool)[:caseloadN] {
			cl = append(cl, srv.nhs[i])
		}
		caseloads[name] = cl
		role := "community"
		if u%2 == 0 {
			role = "paramedic"
		}
		srv.addUser(name, role, cl...)
		for range perUser {
			p := newProfile(t)
			clients = append(clients, &client{user: name, p: p, c: openCore(t, p, coreOpts{window: 2}, logs.prefixed(name+": "))})
		}
	}

	// Enrol and first-sync all 50 at once.
	start := time.Now()
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			err := cl.c.Enrol(ctx, core.EnrolRequest{Server: srv.url(), CAFile: srv.ca, User: cl.user, Password: userPassword(cl.user),
				Passphrase: []byte(cl.p.pass), DeviceSecretFile: cl.p.secret, Host: "e2e-host"}, nil)
			if err != nil {
				t.Errorf("enrolling a device of %s: %v", cl.user, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("50 concurrent first syncs of %d summaries each took %v", caseloadN, time.Since(start).Round(time.Millisecond))

	views := map[string]int{}
	for _, cl := range clients {
		opened := sample(caseloads[cl.user], viewsEach)
		checkConsistent(t, cl.c, caseloads[cl.user], opened)
		for _, n := range opened {
			views[n]++
		}
	}

	// Live: every client connected while each user loses one patient and
	// gains another.
	for _, cl := range clients {
		serveSync(t, cl.c)
	}
	for u := range users {
		name := fmt.Sprintf("user%02d", u)
		cl := caseloads[name]
		in := map[string]bool{}
		for _, n := range cl {
			in[n] = true
		}
		for _, n := range srv.nhs {
			if !in[n] {
				srv.caseload(srv.local.CaseloadAdd, name, n)
				cl = append(cl, n)
				break
			}
		}
		srv.caseload(srv.local.CaseloadRemove, name, cl[0])
		caseloads[name] = cl[1:]
	}
	// One patient in and one out leaves the count as it was, and the cache
	// was already up to date: wait for the server to declare it up to date
	// after the last change, or this passes before the changes arrive.
	changed := time.Now()
	for _, cl := range clients {
		want := caseloads[cl.user]
		waitState(t, cl.c, 2*time.Minute, "a live change reaching "+cl.user, func(st core.Status) bool {
			return upToDate(st) && st.LastUpToDate.After(changed) && st.CachedPatients == len(want) && st.PendingAuditEvents == 0
		})
		checkConsistent(t, cl.c, want, nil)
	}
	// Each device's chain: the login event, the two caseload listings made
	// by checkConsistent and the views, all delivered before it stops.
	for _, cl := range clients {
		waitState(t, cl.c, time.Minute, "the audit queue of "+cl.user+" delivered", func(st core.Status) bool {
			return upToDate(st) && st.PendingAuditEvents == 0
		})
		if err := cl.c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "every session closed", func() error {
		if n := srv.svc.Sessions(); n != 0 {
			return fmt.Errorf("%d sessions open", n)
		}
		return nil
	})
	devices, err := srv.local.DeviceList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) != users*perUser {
		t.Fatalf("%d devices registered, want %d", len(devices), users*perUser)
	}
	for _, d := range devices {
		if want := uint64(1 + 2 + viewsEach); d.AuditSeq != want {
			t.Errorf("device %s of %s: chain ends at %d, want %d", d.ID, d.User, d.AuditSeq, want)
		}
	}
	verify, err := srv.local.AuditVerify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if verify.Broken || len(verify.Devices) != users*perUser {
		t.Fatalf("audit verify: broken %v over %d devices: %+v", verify.Broken, len(verify.Devices), verify.Devices)
	}
	for n, want := range views {
		res, err := srv.local.AccessLog(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, e := range res.Entries {
			if e.Event.Action == "view" {
				got++
			}
		}
		if got != want {
			t.Errorf("patient %s: %d view events stored, %d views made", n, got, want)
		}
	}
	if as := srv.alerts(); len(as) != 0 {
		t.Fatalf("alerts after a clean concurrent run: %+v", as)
	}
}
