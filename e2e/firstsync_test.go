package e2e

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"kmcr/cache"
	"kmcr/core"
	"kmcr/sync/protocol"
)

// cacheView is what a profile's encrypted cache holds, read with the cache
// package directly (no audit events, nothing written).
type cacheView struct {
	cursor   protocol.Cursor
	patients []string // sorted; every one decrypted and authenticated
	damaged  int
	raw      map[string]int // keys per bbolt bucket, counted in the file
}

// What this test reads below the client core's API: the sealed name of its
// sync cursor (app/auditlog.go) and the cache's per-patient buckets
// (cache/seal.go).
const metaCursor = "cursor"

var patientBuckets = []string{"keys", "index", "records", "slots"}

// inspectCache opens the profile's cache with its passphrase and device
// secret file, decrypts every cached document, and reads the cursor; then
// counts the patient buckets in the bbolt file itself.
func inspectCache(t testing.TB, p *profile) cacheView {
	t.Helper()
	cc, err := cache.Open(cache.Options{Dir: p.dir, Secrets: cache.NewFileSecretStore(p.secret)}, []byte(p.pass))
	if err != nil {
		t.Fatalf("opening the cache: %v", err)
	}
	var v cacheView
	err = cc.View(func(tx *cache.Tx) error {
		b, err := tx.Meta(metaCursor)
		switch {
		case errors.Is(err, cache.ErrNotFound):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(b, &v.cursor); err != nil {
				return err
			}
		}
		ps, err := tx.Patients()
		if err != nil {
			return err
		}
		for _, n := range ps {
			rec, err := tx.Get(n)
			if err != nil {
				return err
			}
			if len(rec.Data) == 0 || rec.NHS != n {
				return errors.New("empty or misfiled record for " + n.Digits())
			}
			v.patients = append(v.patients, n.Digits())
		}
		return nil
	})
	v.damaged = cc.Stats().Damaged
	if cerr := cc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("reading the cache: %v", err)
	}
	slices.Sort(v.patients)

	db, err := bolt.Open(filepath.Join(p.dir, "cache.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v.raw = map[string]int{}
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range patientBuckets {
			b := tx.Bucket([]byte(name))
			if b == nil {
				return errors.New("no bucket " + name)
			}
			v.raw[name] = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestKill_FirstSyncResumesConsistently guards resumable first sync: the
// client is SIGKILLed at random points of a 10,000-summary first sync (20
// times; 4 with -short) and restarted with "kmcr sync --once" (or "kmcr
// enrol" again if the kill came before enrolment finished). After every
// kill the cache must be consistent: every stored summary decrypts, the
// patient buckets (keys, index entries, documents and their slots) agree,
// and the cursor matches what is stored: a first sync applies patients in
// NHS-number order, each batch with its cursor in one transaction, and a
// sync stopped after its last batch resumes from it rather than starting
// again, so with a full-phase cursor at NHS number A
// the cache holds exactly the permitted patients up to A, with a live
// cursor all of them, and with no cursor none. Every round ends with an
// unkilled sync that must complete holding exactly the permitted set.
func TestKill_FirstSyncResumesConsistently(t *testing.T) {
	t.Parallel()
	kills := 20
	if testing.Short() {
		kills = 4
	}
	const permittedN, seeded = 10000, 10050
	d := newServerData(t, seeded, 11)
	permitted := d.nhs[:permittedN]
	d.addUser("para", "paramedic", permitted...)
	srv := d.serve("127.0.0.1:0")
	epoch := srv.epoch()
	want := sortedCopy(permitted)

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	const maxDelay = 3 * time.Second

	killed, rounds := 0, 0
	var killedAt []time.Duration
	for killed < kills {
		rounds++
		p := newProfile(t)
		for step := 0; ; step++ {
			if step > 50 {
				t.Fatalf("round %d: the first sync did not complete after %d restarts", rounds, step)
			}
			var o runOpts
			if killed < kills {
				o.killAfter = time.Duration(rng.Int64N(int64(maxDelay)))
			}
			var r result
			if enrolled(p) {
				r = p.kmcr(o, "sync", "--once")
			} else {
				o.stdin = userPassword("para") + "\n"
				r = p.kmcr(o, p.enrolArgs(srv.url(), d.ca, "para")...)
			}
			if r.killed {
				killed++
				killedAt = append(killedAt, o.killAfter)
				checkAfterKill(t, p, epoch, want, rng)
				continue
			}
			if r.code != 0 {
				t.Fatalf("round %d: an unkilled run failed:\n%s", rounds, r)
			}
			v := checkAfterKill(t, p, epoch, want, rng)
			if v.cursor.Phase != protocol.PhaseLive || len(v.patients) != permittedN {
				t.Fatalf("round %d: a completed sync left cursor %+v and %d patients", rounds, v.cursor, len(v.patients))
			}
			if st := p.status(); !st.FirstSyncComplete || st.CachedPatients != permittedN || st.Damaged != 0 {
				t.Fatalf("round %d: status after the completed sync: %+v", rounds, st)
			}
			break
		}
	}
	t.Logf("%d SIGKILLs over %d first syncs of %d summaries; kill delays %v", killed, rounds, permittedN, killedAt)
}

// enrolled reports whether a profile folder holds a finished enrolment.
func enrolled(p *profile) bool {
	_, err := os.Stat(filepath.Join(p.dir, "profile.json"))
	return err == nil
}

// checkAfterKill asserts the consistency promises of a first sync that
// may have been interrupted, and opens a sample of the cached patients
// through the client core.
func checkAfterKill(t *testing.T, p *profile, epoch string, permitted []string, rng *rand.Rand) cacheView {
	t.Helper()
	if !enrolled(p) {
		// Killed before the profile was written: nothing was synced, and
		// "kmcr enrol" must be able to start again in the same folder.
		return cacheView{}
	}
	v := inspectCache(t, p)
	if v.damaged != 0 {
		t.Fatalf("%d damaged records after a kill", v.damaged)
	}
	for _, b := range patientBuckets {
		if v.raw[b] != len(v.patients) {
			t.Fatalf("bucket %s holds %d keys, %d patients decrypt (%v)", b, v.raw[b], len(v.patients), v.raw)
		}
	}
	var want []string
	switch v.cursor.Phase {
	case protocol.PhaseNone:
		want = nil
	case protocol.PhaseFull:
		if _, ok := slices.BinarySearch(permitted, v.cursor.After); !ok {
			t.Fatalf("full-phase cursor %+v names a patient outside the permitted set", v.cursor)
		}
		n, _ := slices.BinarySearch(permitted, v.cursor.After)
		want = permitted[:n+1]
	case protocol.PhaseLive:
		want = permitted
	default:
		t.Fatalf("cursor %+v has an unknown phase", v.cursor)
	}
	if v.cursor.Phase != protocol.PhaseNone && v.cursor.Epoch != epoch {
		t.Fatalf("cursor epoch %q, server epoch %q", v.cursor.Epoch, epoch)
	}
	if d := diffSets(v.patients, want); d != "" {
		t.Fatalf("cursor %+v does not match the cache: %s", v.cursor, d)
	}
	if len(v.patients) == 0 {
		return v
	}

	c, err := core.Open(core.Config{DataDir: p.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.UnlockForCommand([]byte(p.pass)); err != nil {
		t.Fatalf("unlocking after a kill: %v", err)
	}
	sample := []string{v.patients[0], v.patients[len(v.patients)-1]}
	for range 8 {
		sample = append(sample, v.patients[rng.IntN(len(v.patients))])
	}
	for _, n := range sample {
		pv, err := c.OpenPatient(n, nil)
		if err != nil || pv.Summary.Demographics.NHS.Digits() != n {
			t.Fatalf("opening cached patient %s after a kill: %v", n, err)
		}
	}
	return v
}

// TestKill_EnrolBeforeProfileWritten guards recovery from an enrolment
// killed after it created the encrypted cache but before it wrote the
// profile: running "kmcr enrol" again in the same folder must work (it
// used to fail with "a kmcr cache already exists in this profile", while
// "kmcr wipe" said the profile was not enrolled).
func TestKill_EnrolBeforeProfileWritten(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 5, 12)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	var p *profile
	for try := 0; ; try++ {
		if try == 20 {
			t.Fatal("never caught enrol between creating the cache and writing the profile")
		}
		p = newProfile(t)
		cacheMade := func() bool {
			_, err := os.Stat(filepath.Join(p.dir, "cache.db"))
			return err == nil
		}
		r := p.kmcr(runOpts{stdin: userPassword("para") + "\n", killWhen: cacheMade}, p.enrolArgs(srv.url(), d.ca, "para")...)
		if r.killed && cacheMade() && !enrolled(p) {
			break
		}
	}
	if r := p.kmcr(runOpts{}, "sync", "--once"); r.code == 0 || !strings.Contains(r.stderr, "run kmcr enrol") {
		t.Fatalf("sync on the remains of an enrolment: want a message saying to enrol:\n%s", r)
	}
	out := p.enrol(srv.url(), d.ca, "para")
	if !strings.Contains(out.stdout, "5 patient(s) cached") {
		t.Fatalf("enrol again in the same folder:\n%s", out)
	}
	if st := p.status(); !st.Enrolled || st.CachedPatients != 5 {
		t.Fatalf("status after enrolling again: %+v", st)
	}
}
