package core

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmcr/audit"
	"kmcr/cache"
	"kmcr/server"
	"kmcr/sync/protocol"
)

// TestCore_Enrol_SearchOpenDeliver checks the whole path a paramedic
// takes: enrol and first sync, search, open a summary (its view event
// queued before the data is returned), deliver the events, and see them in
// the server's access log exactly once.
func TestCore_Enrol_SearchOpenDeliver(t *testing.T) {
	ts := startServer(t, 40)
	ts.addUser("amy", "paramedic", ts.nhs[:30]...)
	c, _ := enrolled(t, ts, "amy")

	st := c.Status()
	if st.CachedPatients != 30 || !st.FirstSyncComplete || st.User != "amy" || st.Role != "paramedic" {
		t.Fatalf("status after enrolment %+v", st)
	}
	before := st.PendingAuditEvents
	res, err := c.Search(ts.nhs[3], 10)
	if err != nil || res.Total != 1 || res.Entries[0].NHS.Digits() != ts.nhs[3] {
		t.Fatalf("search %+v %v", res, err)
	}
	v, err := c.OpenPatient(ts.nhs[3], nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Summary.Demographics.NHS.Digits() != ts.nhs[3] || v.Stale || v.DemographicsOnly || len(v.Sections) < 5 {
		t.Fatalf("view %+v", v)
	}
	if got := c.Status().PendingAuditEvents; got != before+2 {
		t.Fatalf("pending events %d; want %d (search and view)", got, before+2)
	}
	syncOnce(t, c)
	if got := c.Status().PendingAuditEvents; got != 0 {
		t.Fatalf("pending after sync %d", got)
	}
	log, err := ts.svc.AccessLog(ts.nhs[3])
	if err != nil {
		t.Fatal(err)
	}
	views := 0
	for _, e := range log {
		if e.Event.Action == audit.ActionView {
			views++
			if e.Event.User.ID != "amy" || e.Event.Device.Host != "test-laptop" || len(e.Event.Sections) == 0 {
				t.Fatalf("view event %+v", e.Event)
			}
		}
	}
	if views != 1 {
		t.Fatalf("access log has %d views; want 1", views)
	}
}

// TestCore_OpenPatient_OfflineAndRevoked checks a cached patient opens with
// the server down, and a patient removed from the caseload is gone after
// one sync, with the refused access recorded.
func TestCore_OpenPatient_OfflineAndRevoked(t *testing.T) {
	ts := startServer(t, 10)
	ts.addUser("cara", "community", ts.nhs[:5]...)
	c, _ := enrolled(t, ts, "cara")
	ts.stop()
	if _, err := c.OpenPatient(ts.nhs[1], nil); err != nil {
		t.Fatalf("offline open: %v", err)
	}
	ts.restart()
	if _, err := ts.admin.CaseloadRemove(context.Background(), server.NHSListArgs{User: "cara", NHS: ts.nhs[1:2]}); err != nil {
		t.Fatal(err)
	}
	syncOnce(t, c)
	if _, err := c.OpenPatient(ts.nhs[1], nil); !isNotCached(err) {
		t.Fatalf("open of a revoked patient = %v; want ErrNotCached", err)
	}
	if _, err := c.OpenPatient(ts.nhs[7], nil); !isNotCached(err) {
		t.Fatalf("open of a patient never permitted = %v", err)
	}
	syncOnce(t, c)
	log, _ := ts.svc.AccessLog(ts.nhs[7])
	if len(log) != 1 || log[0].Event.Action != audit.ActionDenied {
		t.Fatalf("denied access not recorded: %+v", log)
	}
}

// TestCore_FrontDesk_NoClinicalData checks a reception user's view holds
// demographics and GP only.
func TestCore_FrontDesk_NoClinicalData(t *testing.T) {
	ts := startServer(t, 5)
	ts.addUser("rita", "frontdesk", ts.nhs...)
	c, _ := enrolled(t, ts, "rita")
	for _, n := range ts.nhs {
		v, err := c.OpenPatient(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := v.Summary
		if !v.DemographicsOnly || s.Allergies.Len()+s.Medications.Len()+s.Problems.Len()+s.Observations.Len()+s.Alerts.Len() != 0 {
			t.Fatalf("front desk sees clinical data for %s", n)
		}
		if strings.Join(v.Sections, ",") != "demographics,gp" {
			t.Fatalf("sections %v", v.Sections)
		}
	}
}

// TestCore_Unlock_WrongPassphrase checks a wrong passphrase is refused with
// a typed error, and recorded as an event at the next successful unlock.
func TestCore_Unlock_WrongPassphrase(t *testing.T) {
	ts := startServer(t, 3)
	ts.addUser("amy", "paramedic", ts.nhs...)
	c, secrets := enrolled(t, ts, "amy")
	dir := c.DataDir()
	if err := c.Lock(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenPatient(ts.nhs[0], nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("open while locked = %v", err)
	}
	c.Close()
	c2 := newCore(t, dir, secrets)
	if err := c2.Unlock([]byte("not it")); !errors.Is(err, cache.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	before := time.Now()
	if err := c2.Unlock([]byte(testPassphrase)); err != nil {
		t.Fatal(err)
	}
	entries, err := c2.c.Outbox(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range entries {
		ev, err := audit.Decode(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if !ev.Occurred.After(before.Add(time.Minute)) {
			kinds = append(kinds, string(ev.Action))
		}
	}
	if got := strings.Join(kinds, ","); !strings.HasSuffix(got, "lock,unlock-failed,unlock") {
		t.Fatalf("events %s; want ... lock, unlock-failed, unlock", got)
	}
}

// TestCore_BreakGlass checks emergency access online (the server grants a
// short relationship and the document arrives) and offline (cached only).
func TestCore_BreakGlass(t *testing.T) {
	ts := startServer(t, 6)
	ts.addUser("amy", "paramedic", ts.nhs[:2]...)
	c, _ := enrolled(t, ts, "amy")
	serveSync(t, c)
	waitFor(t, func() bool { return strings.HasPrefix(c.Status().Connection, "up to date") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reason := BreakGlassReason{Code: "emergency-treatment", Text: "collapsed in the street"}
	v, err := c.BreakGlass(ctx, ts.nhs[4], reason)
	if err != nil {
		t.Fatal(err)
	}
	if !v.BreakGlass || v.Relationship != protocol.RelBreakGlass || time.Until(v.NotAfter) > 2*time.Hour+time.Minute {
		t.Fatalf("break-glass view %+v", v)
	}
	c.StopSync()
	// Offline: a patient never cached cannot be opened, whatever the reason.
	if _, err := c.BreakGlass(ctx, ts.nhs[5], reason); !isNotCached(err) {
		t.Fatalf("offline break-glass of an uncached patient = %v", err)
	}
	// Offline: a cached one opens, and the event carries the reason.
	if _, err := c.BreakGlass(ctx, ts.nhs[0], reason); err != nil {
		t.Fatal(err)
	}
	syncOnce(t, c)
	log, _ := ts.svc.AccessLog(ts.nhs[0])
	found := false
	for _, e := range log {
		if e.Event.Action == audit.ActionBreakGlass && e.Event.BreakGlass != nil && e.Event.BreakGlass.ReasonText == reason.Text {
			found = true
		}
	}
	if !found {
		t.Fatalf("offline break-glass not in the access log: %+v", log)
	}
	if _, err := c.BreakGlass(ctx, ts.nhs[0], BreakGlassReason{Code: "because"}); err == nil {
		t.Fatal("a bad reason was accepted")
	}
}

// TestCore_NoPlaintextOnDisk checks that after a sync no NHS number,
// family name or postcode of a cached patient appears in any profile file.
func TestCore_NoPlaintextOnDisk(t *testing.T) {
	ts := startServer(t, 60)
	ts.addUser("amy", "paramedic", ts.nhs...)
	c, _ := enrolled(t, ts, "amy")
	var needles [][]byte
	for _, n := range ts.nhs {
		v, err := c.OpenPatient(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := v.Summary.Demographics
		needles = append(needles, []byte(n), []byte(v.NHS.String()), []byte(d.Address.Postcode))
		if len(d.Name.Family) >= 4 {
			needles = append(needles, []byte(d.Name.Family))
		}
	}
	dir := c.DataDir()
	c.Close()
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Fatalf("%s contains %q in plaintext", f.Name(), n)
			}
		}
	}
}

// TestCore_Cursor_FullSyncAfterLongOffline checks a cache last confirmed
// more than half a lease ago asks for a full sync, so documents whose
// lease lapsed come back.
func TestCore_Cursor_FullSyncAfterLongOffline(t *testing.T) {
	ts := startServer(t, 4)
	ts.addUser("amy", "paramedic", ts.nhs...)
	c, _ := enrolled(t, ts, "amy")
	s := syncer{c}
	cur, err := s.Cursor()
	if err != nil || cur.Phase != protocol.PhaseLive {
		t.Fatalf("cursor %+v %v", cur, err)
	}
	c.cfg.Now = func() time.Time { return time.Now().Add(37 * time.Hour) }
	if cur, _ := s.Cursor(); !cur.IsZero() {
		t.Fatalf("cursor after 37 h offline %+v; want a full sync", cur)
	}
}

// TestCore_Cursor_StoppedBeforeUpToDate checks a first sync stopped after
// its last batch was stored but before the up-to-date marker resumes from
// that batch's live cursor rather than starting the first sync again, and
// still asks for a full sync once half a lease has passed.
func TestCore_Cursor_StoppedBeforeUpToDate(t *testing.T) {
	ts := startServer(t, 4)
	ts.addUser("amy", "paramedic", ts.nhs...)
	c, _ := enrolled(t, ts, "amy")
	s := syncer{c}
	live, err := s.Cursor()
	if err != nil || live.Phase != protocol.PhaseLive {
		t.Fatalf("cursor %+v %v", live, err)
	}
	// Back to the state before the last batch: a full-phase cursor and
	// no up-to-date marker ever stored.
	cc, _, err := c.open()
	if err != nil {
		t.Fatal(err)
	}
	full := protocol.Cursor{Epoch: live.Epoch, Seq: live.Seq, Phase: protocol.PhaseFull, After: ts.nhs[0]}
	err = cc.Update(func(tx *cache.Tx) error {
		for _, m := range []string{metaAsOf, metaLiveAt} {
			if err := tx.DeleteMeta(m); err != nil && !errors.Is(err, cache.ErrNotFound) {
				return err
			}
		}
		return putJSON(tx, metaCursor, full)
	})
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Cursor(); cur != full {
		t.Fatalf("mid-sync cursor %+v; want %+v", cur, full)
	}
	if err := s.ApplyBatches([]*protocol.Batch{{ID: 1, Cursor: live}}); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Cursor(); cur != live {
		t.Fatalf("after the last batch, with no up-to-date marker: cursor %+v; want %+v (resume, not restart)", cur, live)
	}
	c.cfg.Now = func() time.Time { return time.Now().Add(37 * time.Hour) }
	if cur, _ := s.Cursor(); !cur.IsZero() {
		t.Fatalf("cursor 37 h after the last batch %+v; want a full sync", cur)
	}
}

// TestCore_Wipe checks wiping removes the profile and its keys.
func TestCore_Wipe(t *testing.T) {
	ts := startServer(t, 2)
	ts.addUser("amy", "paramedic", ts.nhs...)
	c, secrets := enrolled(t, ts, "amy")
	if err := c.Wipe(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if c.Enrolled() || secrets.Len() != 0 {
		t.Fatalf("after wipe: enrolled=%v secrets=%d", c.Enrolled(), secrets.Len())
	}
	if files, _ := os.ReadDir(c.DataDir()); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
}

// TestPassphraseHint checks the hint refuses short passphrases.
func TestPassphraseHint(t *testing.T) {
	if _, ok := PassphraseHint("short"); ok {
		t.Fatal("short passphrase accepted")
	}
	if h, ok := PassphraseHint("four words in a row"); !ok || h != "Strong" {
		t.Fatalf("hint %q %v", h, ok)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 15 s")
}
