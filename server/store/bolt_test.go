package store

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustOpen(t *testing.T) *Bolt {
	t.Helper()
	s, err := OpenBolt(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func changes(t *testing.T, s *Bolt, after uint64) []Change {
	t.Helper()
	var out []Change
	if err := s.Changes(after, func(c Change) error { out = append(out, c); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBolt_OpenBolt_Locked checks a second opener is refused quickly.
func TestBolt_OpenBolt_Locked(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	if _, err := OpenBolt(dir, 100*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open = %v; want ErrLocked", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("lock wait too long")
	}
	epoch := s.Epoch()
	s.Close()
	s2, err := OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Epoch() != epoch || epoch == "" {
		t.Fatalf("epoch changed on reopen: %q vs %q", s2.Epoch(), epoch)
	}
}

// TestBolt_Permitted_MergesCaseloadAndRelationships checks NHS order,
// after-position resumption, dedupe and expiry.
func TestBolt_Permitted_MergesCaseloadAndRelationships(t *testing.T) {
	s := mustOpen(t)
	now := time.Now()
	if err := s.AddUser(User{Name: "amy", Role: "paramedic"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CaseloadAdd("amy", []string{"3", "1", "5"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []Relationship{
		{User: "amy", NHS: "2", Expires: now.Add(time.Hour)},
		{User: "amy", NHS: "5", Expires: now.Add(time.Hour)},
		{User: "amy", NHS: "4", Expires: now.Add(-time.Hour)},
		{User: "bob", NHS: "0", Expires: now.Add(time.Hour)},
		{User: "amy", NHS: "6", Expires: now.Add(time.Hour)},
	} {
		if err := s.GrantRelationship(r); err != nil {
			t.Fatal(err)
		}
	}
	got := func(after string) []string {
		var out []string
		err := s.Permitted("amy", after, now, func(nhs, rel string, _ time.Time) error {
			out = append(out, nhs+":"+rel[:1])
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if g, w := got(""), []string{"1:c", "2:b", "3:c", "5:c", "6:b"}; !reflect.DeepEqual(g, w) {
		t.Fatalf("Permitted = %v; want %v", g, w)
	}
	if g, w := got("3"), []string{"5:c", "6:b"}; !reflect.DeepEqual(g, w) {
		t.Fatalf("Permitted after 3 = %v; want %v", g, w)
	}
	if n, _ := s.CountPermitted("amy", "", now); n != 5 {
		t.Fatalf("CountPermitted = %d", n)
	}
}

// TestBolt_Caseload_Changes checks only real changes are logged and
// subscribers hear of them.
func TestBolt_Caseload_Changes(t *testing.T) {
	s := mustOpen(t)
	ch, cancel := s.Subscribe()
	defer cancel()
	s.AddUser(User{Name: "amy"})
	if _, err := s.CaseloadAdd("nobody", []string{"1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	got, _ := s.CaseloadAdd("amy", []string{"1", "2"})
	again, _ := s.CaseloadAdd("amy", []string{"2"})
	removed, _ := s.CaseloadRemove("amy", []string{"1", "9"})
	if len(got) != 2 || len(again) != 0 || !reflect.DeepEqual(removed, []string{"1"}) {
		t.Fatalf("add %v, add again %v, remove %v", got, again, removed)
	}
	cs := changes(t, s, 0)
	if len(cs) != 3 || cs[2].Kind != ChangeCaseloadRemove || cs[2].Seq != 3 {
		t.Fatalf("changes = %+v", cs)
	}
	select {
	case seq := <-ch:
		if seq != 3 {
			t.Fatalf("notified seq %d; want the newest, 3", seq)
		}
	default:
		t.Fatal("no notification")
	}
}

// TestBolt_CommitPatients_Idempotent checks the same documents twice make
// one change, and more sensitive items make a relabel change.
func TestBolt_CommitPatients_Idempotent(t *testing.T) {
	s := mustOpen(t)
	up := PatientUpdate{Meta: PatientMeta{NHS: "9990000018", DocHash: []byte{1}}, Docs: map[string][]byte{DocFull: []byte("full")}}
	for i := 0; i < 2; i++ {
		if _, err := s.CommitPatients([]PatientUpdate{up}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if cs := changes(t, s, 0); len(cs) != 1 {
		t.Fatalf("changes after two identical commits = %d", len(cs))
	}
	up.Meta.DocHash, up.Meta.Sensitive = []byte{2}, 1
	n, _ := s.CommitPatients([]PatientUpdate{up}, time.Now())
	cs := changes(t, s, 1)
	if n != 1 || len(cs) != 1 || cs[0].Kind != ChangeRelabel {
		t.Fatalf("relabel: n=%d changes=%+v", n, cs)
	}
	m, err := s.Patient("9990000018")
	if err != nil || m.Version != 2 {
		t.Fatalf("meta %+v, %v", m, err)
	}
	if d, _ := s.Doc("9990000018", DocFull); string(d) != "full" {
		t.Fatalf("doc %q", d)
	}
}

// TestBolt_StageResources_ReportsChangedPatients checks unchanged bytes
// are not reported again.
func TestBolt_StageResources_ReportsChangedPatients(t *testing.T) {
	s := mustOpen(t)
	items := []StagedResource{{PatientKey: "Patient/a", Key: "Condition/1", Raw: []byte(`{"a":1}`)}, {PatientKey: "Patient/b", Key: "Condition/2", FullURL: "urn:uuid:2", Raw: []byte(`{}`)}}
	c1, _ := s.StageResources(items)
	c2, _ := s.StageResources(items)
	if len(c1) != 2 || len(c2) != 0 {
		t.Fatalf("changed %v then %v", c1, c2)
	}
	rs, _ := s.PatientResources("Patient/b")
	if len(rs) != 1 || rs[0].FullURL != "urn:uuid:2" || string(rs[0].Raw) != `{}` {
		t.Fatalf("resources %+v", rs)
	}
}

// TestBolt_StoreAudit_OncePerSeq checks a re-sent event is stored once and
// appears once in the access log.
func TestBolt_StoreAudit_OncePerSeq(t *testing.T) {
	s := mustOpen(t)
	s.RegisterDevice(Device{ID: "d1", User: "amy"})
	ev := StoredEvent{Device: "d1", Seq: 1, Hash: []byte{9}, Canonical: []byte("x"), Recorded: time.Now(), NHS: "9990000018"}
	for i := 0; i < 3; i++ {
		if err := s.StoreAudit("d1", []StoredEvent{ev}, nil, nil, []byte("chain")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	s.AccessLog("9990000018", func(StoredEvent) error { n++; return nil })
	if n != 1 {
		t.Fatalf("access log has %d entries", n)
	}
	if h, ok, _ := s.AuditHash("d1", 1); !ok || h[0] != 9 {
		t.Fatal("hash not stored")
	}
	d, _ := s.Device("d1")
	if string(d.Chain) != "chain" {
		t.Fatal("chain state not stored")
	}
}

// TestBolt_Changes_AfterTheLargestSequence checks a cursor at the largest
// sequence number reads nothing rather than wrapping to the whole log.
func TestBolt_Changes_AfterTheLargestSequence(t *testing.T) {
	s := mustOpen(t)
	s.AddUser(User{Name: "amy"})
	if _, err := s.CaseloadAdd("amy", []string{"9990000018"}); err != nil {
		t.Fatal(err)
	}
	if cs := changes(t, s, math.MaxUint64); len(cs) != 0 {
		t.Fatalf("Changes(MaxUint64) = %+v; want none", cs)
	}
}

// TestBolt_CommitPatients_RemovesDocumentsNoLongerMade checks a patient
// whose full document is no longer made (grown too large) keeps no stale
// copy of it.
func TestBolt_CommitPatients_RemovesDocumentsNoLongerMade(t *testing.T) {
	s := mustOpen(t)
	up := PatientUpdate{Meta: PatientMeta{NHS: "9990000018", DocHash: []byte{1}}, Docs: map[string][]byte{DocFull: []byte("full"), DocDemographics: []byte("demo")}}
	if _, err := s.CommitPatients([]PatientUpdate{up}, time.Now()); err != nil {
		t.Fatal(err)
	}
	up = PatientUpdate{Meta: PatientMeta{NHS: "9990000018", DocHash: []byte{2}, TooLarge: true}, Docs: map[string][]byte{DocDemographics: []byte("demo 2")}}
	if _, err := s.CommitPatients([]PatientUpdate{up}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Doc("9990000018", DocFull); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the old full document is still stored: %q, %v", d, err)
	}
	if d, _ := s.Doc("9990000018", DocDemographics); string(d) != "demo 2" {
		t.Fatalf("demographics document %q", d)
	}
}

// TestBolt_StoredResource_LongFullURL checks a fullUrl too long for a
// two-byte length is kept whole instead of spilling into the resource, and
// that values of the two-byte form still read.
func TestBolt_StoredResource_LongFullURL(t *testing.T) {
	s := mustOpen(t)
	raw := []byte(`{"resourceType":"Condition"}`)
	for _, n := range []int{0, 1, 300, 0xfffe, 0xffff, 0x10000, 70000} {
		url := strings.Repeat("u", n)
		if _, err := s.StageResources([]StagedResource{{PatientKey: "Patient/a", Key: "Condition/1", FullURL: url, Raw: raw}}); err != nil {
			t.Fatal(err)
		}
		rs, err := s.PatientResources("Patient/a")
		if err != nil || len(rs) != 1 || rs[0].FullURL != url || string(rs[0].Raw) != string(raw) {
			t.Fatalf("fullUrl of %d bytes read back wrong: %d resources, %v", n, len(rs), err)
		}
		if err := s.PutShared([]StoredResource{{Key: "Organization/1", FullURL: url, Raw: raw}}); err != nil {
			t.Fatal(err)
		}
		if r, ok, err := s.Shared("Organization/1"); err != nil || !ok || r.FullURL != url || string(r.Raw) != string(raw) {
			t.Fatalf("shared fullUrl of %d bytes read back wrong: %v, %v", n, ok, err)
		}
	}
	// The two-byte form as earlier versions wrote it.
	old := append([]byte{0, 3}, []byte("urn{}")...)
	if r, err := decodeStored([]byte("k"), old); err != nil || r.FullURL != "urn" || string(r.Raw) != "{}" {
		t.Fatalf("old form: %+v, %v", r, err)
	}
	for _, bad := range [][]byte{{0}, {0, 9, 'x'}, {0xff, 0xff, 0}, {0xff, 0xff, 0, 0, 0, 9}} {
		if _, err := decodeStored([]byte("k"), bad); err == nil {
			t.Errorf("decodeStored(%v) accepted a truncated value", bad)
		}
	}
}

// TestBolt_UpdateDevice_KeepsTheID checks an update that changes the ID is
// refused instead of storing a device under another device's key.
func TestBolt_UpdateDevice_KeepsTheID(t *testing.T) {
	s := mustOpen(t)
	if err := s.RegisterDevice(Device{ID: "d1", User: "amy"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateDevice("d1", func(d *Device) error { d.ID = "d2"; return nil }); err == nil {
		t.Fatal("UpdateDevice stored a changed ID")
	}
	if d, err := s.Device("d1"); err != nil || d.ID != "d1" {
		t.Fatalf("device after a refused update: %+v, %v", d, err)
	}
}

// TestBolt_Subscribe_NewestAfterConcurrentWriters checks a subscriber ends
// holding the newest sequence when writers commit at once: notifications
// sent out of order must not leave an older number in its place.
func TestBolt_Subscribe_NewestAfterConcurrentWriters(t *testing.T) {
	s := mustOpen(t)
	ch, cancel := s.Subscribe()
	defer cancel()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, err := s.Object(fmt.Sprintf("999%07d", w*100+i), "research"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	last, _ := s.LastSeq()
	select {
	case seq := <-ch:
		if seq != last {
			t.Fatalf("the subscriber holds %d after every commit; want the newest, %d", seq, last)
		}
	default:
		t.Fatal("no notification pending")
	}
}
