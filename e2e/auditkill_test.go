package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"kmcr/internal/faultproxy"
)

// TestKill_AuditViewsExactlyOnce is the audit issue's counting harness: it
// SIGKILLs the client at random points 200 times (30 with -short) while it
// shows patients ("kmcr show", with the server reachable or not) and
// flushes its queue ("kmcr sync --once", online or offline), then
// delivers what is left with one clean sync and compares the server's
// access log with what the harness saw.
//
// What it asserts, and why. An event is written, in the same transaction
// as the read, before the summary is shown, so:
//   - every show that printed the banner must have exactly one stored view
//     event: per patient, stored >= displayed;
//   - a show killed before it printed may or may not have committed its
//     event (the kill can fall either side of the commit), so those are
//     allowed, and only those: stored <= displayed + killed before display;
//   - no (device, sequence number) is stored twice however many uploads a
//     kill interrupted (re-sends after a lost acknowledgement are
//     duplicates the server must not store again), and the device's chain
//     on the server has no gaps: "kmcr-server audit verify" passes and no
//     tampering alert is raised;
//   - nothing stays queued: after the clean sync no event is pending.
func TestKill_AuditViewsExactlyOnce(t *testing.T) {
	t.Parallel()
	kills := 200
	if testing.Short() {
		kills = 30
	}
	d := newServerData(t, 6, 21)
	patients := d.nhs[:5]
	d.addUser("para", "paramedic", patients...)
	srv := d.serve("127.0.0.1:0")
	proxy, err := faultproxy.New(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	// Enrolled in-process with a cheap KDF so each of the hundreds of
	// commands below unlocks in milliseconds; kmcr reads the KDF
	// parameters from the profile.
	p := newProfile(t)
	logs := newLogSink(t)
	c := enrolCore(t, p, "wss://"+proxy.Addr(), d.ca, "para", coreOpts{}, logs.logf)
	device := c.Profile().DeviceID
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0xa0d17))
	// typical is how long an unkilled run of each command takes, so kills
	// fall anywhere in a run, early or late.
	typical := map[string]time.Duration{"show": 100 * time.Millisecond, "sync": 200 * time.Millisecond}
	displayed := map[string]int{}
	inFlight := map[string]int{}
	killed, shows, syncs, offlineSyncs := 0, 0, 0, 0
	for i := 0; killed < kills; i++ {
		if i > 20*kills {
			t.Fatalf("only %d kills after %d commands", killed, i)
		}
		kind := "show"
		if rng.IntN(3) == 0 {
			kind = "sync"
		}
		var o runOpts
		switch rng.IntN(5) {
		case 0, 1: // anywhere in the run
			o.killAfter = time.Duration(rng.Int64N(int64(typical[kind] * 5 / 4)))
		case 2: // late, where the event commits and the summary prints
			o.killAfter = typical[kind]/2 + time.Duration(rng.Int64N(int64(typical[kind]*3/4)))
		}
		switch kind {
		case "show":
			shows++
			n := patients[rng.IntN(len(patients))]
			r := p.kmcr(o, "show", n)
			shown := strings.Contains(r.stdout, banner(n))
			switch {
			case shown:
				displayed[n]++
			case r.killed:
				inFlight[n]++
			default:
				t.Fatalf("an unkilled show printed no summary:\n%s", r)
			}
			if !r.killed && r.code != 0 {
				t.Fatalf("an unkilled show failed:\n%s", r)
			}
			if r.killed {
				killed++
			} else {
				typical[kind] = (3*typical[kind] + r.took) / 4
			}
		case "sync":
			syncs++
			online := rng.IntN(4) != 0
			if online {
				proxy.Pass()
			} else {
				offlineSyncs++
				proxy.Drop()
			}
			r := p.kmcr(o, "sync", "--once")
			switch {
			case r.killed:
				killed++
			case online && r.code != 0:
				t.Fatalf("an unkilled online sync failed:\n%s", r)
			case !online && r.code == 0:
				t.Fatalf("a sync through a dropped link succeeded:\n%s", r)
			case online:
				typical[kind] = (3*typical[kind] + r.took) / 4
			}
		}
	}

	proxy.Pass()
	p.mustKmcr("sync", "--once")
	if st := p.status(); st.PendingAuditEvents != 0 {
		t.Fatalf("after a clean sync %d events are still pending", st.PendingAuditEvents)
	}

	seqs := map[string]bool{}
	totalDisplayed, totalStored, totalInFlight := 0, 0, 0
	for _, n := range patients {
		stored := 0
		for _, e := range d.accessLog(n) {
			if e.Device != device {
				continue
			}
			if seqs[e.Seq] {
				t.Fatalf("sequence %s of %s stored twice", e.Seq, device)
			}
			seqs[e.Seq] = true
			if !e.isView() || e.Patient != n || e.User != "para" {
				t.Fatalf("unexpected event in the access log of %s: %+v", n, e)
			}
			stored++
		}
		if stored < displayed[n] || stored > displayed[n]+inFlight[n] {
			t.Errorf("patient %s: %d view events stored; %d views displayed, %d killed before display: want between %d and %d",
				n, stored, displayed[n], inFlight[n], displayed[n], displayed[n]+inFlight[n])
		}
		totalDisplayed += displayed[n]
		totalStored += stored
		totalInFlight += inFlight[n]
	}
	verify := d.admin(runOpts{}, "audit", "verify")
	if verify.code != 0 || !strings.Contains(verify.stdout, device) {
		t.Errorf("audit verify after the kill loop:\n%s", verify)
	}
	for _, a := range d.alerts() {
		if a.Device == device {
			t.Errorf("alert after the kill loop: %+v", a)
		}
	}
	var devices []struct {
		ID       string `json:"id"`
		AuditSeq uint64 `json:"audit_seq"`
	}
	if err := json.Unmarshal([]byte(d.mustAdmin("device", "list", "--json").stdout), &devices); err != nil {
		t.Fatal(err)
	}
	for _, dv := range devices {
		// The chain holds the enrolment's login event and the views.
		if dv.ID == device && dv.AuditSeq != uint64(totalStored)+1 {
			t.Errorf("the server's chain for %s ends at %d; %d views and the login event are stored", device, dv.AuditSeq, totalStored)
		}
	}
	t.Logf("%d kills over %d shows and %d syncs (%d offline): %d views displayed, %d view events stored, "+
		"%d shows killed before display of which %d left an event; duplicates: 0",
		killed, shows, syncs, offlineSyncs, totalDisplayed, totalStored, totalInFlight, totalStored-totalDisplayed)
	if t.Failed() {
		t.Log(fmt.Sprint("displayed ", displayed, " in flight ", inFlight))
	}
}
