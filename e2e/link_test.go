package e2e

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"kmcr/core"
	"kmcr/internal/faultproxy"
	"kmcr/internal/netlab"
)

// linkProfile is one poor link of issue 12: the rate is real (tbf on a
// veth into a network namespace the test makes), latency, loss stalls and
// drops come from the fault proxy on that path.
type linkProfile struct {
	name string
	rate int // bits per second, each direction
	im   faultproxy.Impairment
}

var linkProfiles = []linkProfile{
	{"1mbit-200ms-2pct", 1_000_000, faultproxy.Impairment{RTT: 200 * time.Millisecond, Jitter: 20 * time.Millisecond, LossRate: 0.02, Seed: 1}},
	{"256kbit-600ms-5pct", 256_000, faultproxy.Impairment{RTT: 600 * time.Millisecond, Jitter: 60 * time.Millisecond, LossRate: 0.05, Seed: 2}},
	// The first drop comes 4 s in, so it falls inside the first sync.
	{"256kbit-drops-5s-every-15s", 256_000, faultproxy.Impairment{RTT: 200 * time.Millisecond, LossRate: 0.02,
		DropEvery: 15 * time.Second, DropFor: 5 * time.Second, DropFirst: 4 * time.Second, Seed: 3}},
}

// impairedRig is an in-process server listening inside a namespace behind
// a shaped veth, and a fault proxy on 127.0.0.1 in front of it.
type impairedRig struct {
	srv   *inprocServer
	proxy *faultproxy.Proxy
}

func newImpairedRig(t *testing.T, lp linkProfile, patients int) *impairedRig {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Skipf("impaired-link test skipped: %v", err)
	}
	link, err := netlab.New(lp.rate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	var addr string
	srv := newInprocServer(t, inprocOpts{patients: patients, seed: 41, listen: func() (net.Listener, error) {
		ln, err := link.Listen(0)
		if err == nil {
			addr = ln.Addr().String()
		}
		return ln, err
	}})
	proxy, err := faultproxy.NewToNamespace(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return &impairedRig{srv: srv, proxy: proxy}
}

// syncTimer records when a first sync started connecting, when it was
// up to date, and the documents done at each connection.
type syncTimer struct {
	mu       sync.Mutex
	start    time.Time
	end      time.Time
	perConn  []int // documents done when each connection that reached the server ended
	lastDone int
	conns    int
	synced   bool  // the current connection got as far as syncing
	starts   []int // documents already done when each such connection began
}

func (st *syncTimer) progress(s core.SyncState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch s.Kind {
	case core.SyncConnecting:
		if st.start.IsZero() {
			st.start = time.Now()
		}
		// Attempts made while the link is down never reach the server;
		// only those that did must have moved forward.
		if st.synced {
			st.perConn = append(st.perConn, st.lastDone)
		}
		st.synced = false
		st.conns++
	case core.SyncSyncing:
		if !st.synced {
			st.starts = append(st.starts, s.Done)
		}
		st.lastDone, st.synced = s.Done, true
	case core.SyncUpToDate:
		if st.end.IsZero() {
			st.end = time.Now()
		}
	}
}

// TestLink_FirstSync300 runs a 300-patient first sync of the real client
// core over each impaired link: under 5 s on 1 Mbit/s with 200 ms and 2%
// loss; complete on 256 kbit/s with 600 ms and 5%; and on the link that
// drops for 5 s every 15 s, complete with every reconnection moving the
// cursor forward.
func TestLink_FirstSync300(t *testing.T) {
	if testing.Short() {
		t.Skip("impaired-link tests take about a minute")
	}
	for _, lp := range linkProfiles {
		t.Run(lp.name, func(t *testing.T) {
			rig := newImpairedRig(t, lp, 300)
			rig.srv.addUser("para", "paramedic", rig.srv.nhs...)
			rig.proxy.Impair(lp.im)
			p := newProfile(t)
			timer := &syncTimer{}
			c, err := tryEnrolCore(t, p, "wss://"+rig.proxy.Addr(), rig.srv.ca, "para", coreOpts{}, rig.srv.logs.prefixed("client: "), timer.progress)
			for i := 0; err != nil && i < 60; i++ {
				if !errors.Is(err, core.ErrFirstSync) && !c.Enrolled() {
					t.Fatalf("enrol: %v", err)
				}
				time.Sleep(500 * time.Millisecond) // the link is down: try again shortly, as sync does
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				err = c.SyncOnce(ctx, timer.progress)
				cancel()
			}
			if err != nil {
				t.Fatalf("first sync did not complete: %v", err)
			}
			timer.mu.Lock()
			took := timer.end.Sub(timer.start)
			perConn := append([]int(nil), timer.perConn...)
			starts := append([]int(nil), timer.starts...)
			attempts := timer.conns
			timer.mu.Unlock()
			if got := len(cachedSet(t, c)); got != 300 {
				t.Fatalf("cached %d of 300", got)
			}
			st := c.Status()
			t.Logf("%s: 300-patient first sync in %v, %d attempts (done when each connection that reached the server ended: %v), %d drops; link %s",
				lp.name, took.Round(10*time.Millisecond), attempts, perConn, rig.proxy.Drops(), st.Link)
			switch lp.name {
			case "1mbit-200ms-2pct":
				if took > 5*time.Second {
					t.Fatalf("first sync took %v; the goal is under 5 s", took)
				}
			case "256kbit-drops-5s-every-15s":
				if rig.proxy.Drops() == 0 || len(perConn) == 0 {
					t.Fatalf("no drop fell inside the first sync (drops %d, connections cut %v)", rig.proxy.Drops(), perConn)
				}
				prev := 0
				for i, d := range perConn {
					if d <= prev {
						t.Fatalf("a reconnection did not move forward: done per connection %v", perConn)
					}
					// The next connection resumes where this one stopped.
					if i+1 < len(starts) && starts[i+1] < d {
						t.Fatalf("connection %d resumed at %d after %d were applied (starts %v)", i+2, starts[i+1], d, starts)
					}
					prev = d
				}
			}
		})
	}
}
