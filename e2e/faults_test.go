package e2e

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"kmcr/core"
	"kmcr/internal/faultproxy"
	"kmcr/server"
)

// faultRig is an in-process server with short heartbeats, a fault proxy in
// front of it, and a fresh profile to enrol through the proxy.
type faultRig struct {
	srv   *inprocServer
	proxy *faultproxy.Proxy
	p     *profile
	logs  *logSink
	user  string
	want  []string
}

func newFaultRig(t *testing.T, srv *inprocServer, user string) *faultRig {
	proxy, err := faultproxy.New(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return &faultRig{srv: srv, proxy: proxy, p: newProfile(t), logs: newLogSink(t), user: user, want: srv.nhs}
}

// enrol enrols through the proxy; onProgress sees the first sync's states.
// A window of one batch means that when a batch has been applied the next
// has not been sent yet, so a fault injected then hits it.
func (r *faultRig) enrol(t *testing.T, onProgress func(core.SyncState)) (*core.Core, error) {
	return tryEnrolCore(t, r.p, "wss://"+r.proxy.Addr(), r.srv.ca, r.user, coreOpts{timeouts: shortTimeouts, window: 1}, r.logs.logf, onProgress)
}

// finish syncs in the background until up to date and checks the cache:
// exactly the permitted patients, nothing damaged, a sample opening. A
// sync the test already runs is left to carry on.
func (r *faultRig) finish(t *testing.T, c *core.Core) {
	t.Helper()
	if !c.Syncing() {
		serveSync(t, c)
	}
	waitState(t, c, 60*time.Second, "up to date after the fault", func(st core.Status) bool {
		return upToDate(st) && st.CachedPatients == len(r.want) && st.FirstSyncComplete
	})
	checkConsistent(t, c, r.want, sample(r.want, 25))
}

// sample picks up to n entries of s, always with the first and last.
func sample(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	sorted := sortedCopy(s)
	out := []string{sorted[0], sorted[len(sorted)-1]}
	for _, i := range rand.Perm(len(s))[:n-2] {
		out = append(out, s[i])
	}
	return out
}

// firstSyncFault returns a progress function that runs fault once, as soon
// as the first sync has applied some documents.
func firstSyncFault(fault func()) func(core.SyncState) {
	var once sync.Once
	return func(s core.SyncState) {
		if s.Kind == core.SyncSyncing && s.Done > 0 {
			once.Do(fault)
		}
	}
}

// TestFaults_SyncCompletesThroughFaultyLink guards the sync against the
// network faults of a moving ambulance, through a fault-injecting proxy
// on loopback: connections reset (drop), slow links (delay), a connection
// cut in the middle of a frame, and a half-open link. The sync resumes and
// completes, the cache holds exactly the permitted patients and every
// sampled one opens, the connection state tells the truth meanwhile, and a
// half-open link is noticed within the heartbeat's read timeout.
func TestFaults_SyncCompletesThroughFaultyLink(t *testing.T) {
	t.Parallel()
	srv := newInprocServer(t, inprocOpts{patients: 600, seed: 31, timeouts: shortTimeouts})
	// Each subtest enrols its own device; the half-open one changes its
	// user's caseload, so it has a user of its own.
	srv.addUser("para", "paramedic", srv.nhs...)
	srv.addUser("para2", "paramedic", srv.nhs...)

	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		r := newFaultRig(t, srv, "para")
		c, err := r.enrol(t, firstSyncFault(r.proxy.Drop))
		if !errors.Is(err, core.ErrFirstSync) {
			t.Fatalf("enrol through a dropped link: %v, want ErrFirstSync", err)
		}
		serveSync(t, c)
		st := waitState(t, c, 30*time.Second, "offline with a reason while the link drops", func(st core.Status) bool {
			return st.State == core.SyncOffline && st.Error != ""
		})
		if st.CachedPatients == 0 || st.CachedPatients >= len(r.want) || st.FirstSyncComplete {
			t.Fatalf("during the drop: %d cached, first sync complete %v; want a partial first sync", st.CachedPatients, st.FirstSyncComplete)
		}
		r.proxy.Pass()
		r.finish(t, c)
	})

	t.Run("delay", func(t *testing.T) {
		t.Parallel()
		r := newFaultRig(t, srv, "para")
		r.proxy.Delay(10 * time.Millisecond)
		c, err := r.enrol(t, nil)
		if err != nil {
			t.Fatalf("enrol through a slow link: %v", err)
		}
		r.finish(t, c)
	})

	t.Run("cut mid-frame", func(t *testing.T) {
		t.Parallel()
		r := newFaultRig(t, srv, "para")
		// Batches are hundreds of KiB, so a cut a few KiB in falls inside
		// a frame.
		cut := func() { r.proxy.CutAfter(1 + rand.IntN(48<<10)) }
		c, err := r.enrol(t, firstSyncFault(cut))
		if !errors.Is(err, core.ErrFirstSync) {
			t.Fatalf("enrol through a cut link: %v, want ErrFirstSync", err)
		}
		if r.proxy.Cuts() == 0 {
			t.Fatal("the proxy cut nothing")
		}
		// Cut the resumed sync once more, after it has applied a batch,
		// then let it finish.
		r.proxy.Pass()
		var once sync.Once
		before, cuts := c.Status().CachedPatients, r.proxy.Cuts()
		stop := c.Watch(func(st core.Status) {
			if st.CachedPatients > before {
				once.Do(cut)
			}
		})
		defer stop()
		serveSync(t, c)
		eventually(t, 30*time.Second, "a second cut", func() error {
			if r.proxy.Cuts() > cuts {
				return nil
			}
			return errors.New("no second cut yet")
		})
		r.proxy.Pass()
		r.finish(t, c)
	})

	t.Run("half-open", func(t *testing.T) {
		t.Parallel()
		r := newFaultRig(t, srv, "para2")
		c, err := r.enrol(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.finish(t, c)
		r.proxy.HalfOpen()
		start := time.Now()
		st := waitState(t, c, 30*time.Second, "a half-open link noticed", func(st core.Status) bool { return !upToDate(st) })
		noticed := time.Since(start)
		if limit := shortTimeouts.Ping + shortTimeouts.Read + 5*time.Second; noticed > limit {
			t.Fatalf("half-open link noticed after %v, want within %v (ping %v + read timeout %v, plus slack)", noticed, limit, shortTimeouts.Ping, shortTimeouts.Read)
		}
		t.Logf("half-open link noticed after %v (read timeout %v): %q", noticed.Round(time.Millisecond), shortTimeouts.Read, st.Connection)
		r.proxy.Pass()
		// A change made while the link was down arrives once it is back.
		gone := r.want[0]
		res, err := srv.local.CaseloadRemove(context.Background(), server.NHSListArgs{User: "para2", NHS: []string{gone}})
		if err != nil || len(res.Changed) != 1 {
			t.Fatalf("caseload remove: %v %+v", err, res)
		}
		r.want = r.want[1:]
		r.finish(t, c)
		if _, err := c.OpenPatient(gone, nil); !isNotCached(err) {
			t.Fatalf("a patient removed while the link was half-open still opens: %v", err)
		}
	})
}
