package server

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// quotaEvents builds n chained view events of a device, as its cache would.
func quotaEvents(t *testing.T, device, user, role, nhs string, n int) []audit.Event {
	t.Helper()
	var head audit.Head
	out := make([]audit.Event, 0, n)
	for i := 0; i < n; i++ {
		e := audit.Event{Action: audit.ActionView, Occurred: time.Now().UTC(),
			User: audit.Actor{ID: user, Name: user, Role: role}, Device: audit.Device{ID: device, Host: "h"},
			Patient: record.MustParseNHSNumber(nhs), Sections: []string{"allergies"}, Purpose: "ETREAT",
			Outcome: audit.Outcome{Result: audit.ResultSuccess}}
		e, head = audit.Next(head, e)
		out = append(out, e)
	}
	return out
}

func quotaUpload(id uint64, priv ed25519.PrivateKey, device string, evs []audit.Event, from, to uint64) *protocol.AuditUpload {
	last := evs[len(evs)-1]
	sh := audit.SignHead(priv, device, audit.Head{Seq: last.Seq, Hash: last.Hash()})
	up := &protocol.AuditUpload{ID: id, Head: protocol.SignedHead{Seq: sh.Seq, Hash: sh.Hash[:], Sig: sh.Signature}}
	for s := from; s <= to; s++ {
		c := evs[s-1].Canonical()
		up.Seqs, up.Sizes, up.Events = append(up.Seqs, s), append(up.Sizes, len(c)), append(up.Events, c)
	}
	return up
}

// An upload past the device's event quota is held, not dropped: the part
// the allowance covers is acknowledged at once, the rest after the
// allowance refills, every event is stored exactly once, and the device's
// user gets one throttling alert however many uploads were held.
func TestSession_AuditQuota_HoldsNotDrops(t *testing.T) {
	ts := newTestServer(t, 2)
	q := DefaultAuditQuota
	q.EventsPerMinute, q.EventBurst = 1200, 8 // 20 a second after a burst of 8
	ts.svc.cfg.AuditQuota, ts.svc.quotas.q = q, q
	ts.addUser("amy", "paramedic", ts.nhs...)
	dev := devID(1)
	tok, priv := ts.login("amy", dev)
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.hello(4)
	cl.untilUpToDate(0)
	const n = 40
	evs := quotaEvents(t, dev, "amy", "paramedic", ts.nhs[0], n)
	var through uint64
	held := 0
	for id := uint64(1); through < n && id < 100; id++ {
		cl.send(quotaUpload(id, priv, dev, evs, through+1, n))
		start := time.Now()
		m, err := cl.recv()
		if err != nil {
			t.Fatal(err)
		}
		ack, ok := m.(*protocol.AuditAck)
		if !ok || ack.ID != id {
			t.Fatalf("got %#v, want the ack of upload %d", m, id)
		}
		if id == 1 && ack.Through != 8 {
			t.Errorf("first ack through %d, want the burst of 8", ack.Through)
		}
		if time.Since(start) > 500*time.Millisecond {
			held++
		}
		if ack.Through < through {
			t.Fatalf("ack went back from %d to %d", through, ack.Through)
		}
		through = ack.Through
	}
	if through != n {
		t.Fatalf("acknowledged through %d of %d", through, n)
	}
	if held == 0 {
		t.Error("no upload was held past the quota")
	}
	seen := map[uint64]int{}
	if err := ts.st.AuditEvents(dev, func(se store.StoredEvent) error { seen[se.Seq]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for s := uint64(1); s <= n; s++ {
		if seen[s] != 1 {
			t.Errorf("seq %d stored %d times", s, seen[s])
		}
	}
	throttled := 0
	_ = ts.st.Alerts(func(a store.Alert) error {
		if a.Kind == AlertAuditThrottled {
			throttled++
			if a.User != "amy" || a.Device != dev {
				t.Errorf("throttle alert names %s/%s", a.User, a.Device)
			}
		} else if a.Kind != AlertDenied {
			t.Errorf("unexpected alert %s: %s", a.Kind, a.Detail)
		}
		return nil
	})
	if throttled != 1 {
		t.Errorf("%d throttle alerts, want 1", throttled)
	}
}

// A valid event with every field at its limit fits MaxEventBytes, so the
// byte limit never truncates an honest event.
func TestAuditQuota_MaxEventFitsValidEvent(t *testing.T) {
	long := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a' + byte(i%26)
		}
		return string(b)
	}
	secs := make([]string, 32)
	for i := range secs {
		secs[i] = long(60) + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	e := audit.Event{Seq: 1, Action: audit.ActionBreakGlass, Occurred: time.Now().UTC(),
		User:    audit.Actor{ID: long(128), Name: long(256), Role: long(64)},
		Device:  audit.Device{ID: long(128), Host: long(128)},
		Patient: record.MustParseNHSNumber("9434765919"), Sections: secs, Purpose: "BTG",
		BreakGlass: &audit.BreakGlass{ReasonCode: long(64), ReasonText: long(4096)},
		Outcome:    audit.Outcome{Result: audit.ResultSuccess, Detail: long(4096)}}
	e, _ = audit.Next(audit.Head{}, e)
	if err := e.Validate(); err != nil {
		t.Fatalf("the largest event is not valid: %v", err)
	}
	if n := len(e.Canonical()); n > DefaultAuditQuota.MaxEventBytes {
		t.Errorf("a valid event of %d bytes is over MaxEventBytes %d", n, DefaultAuditQuota.MaxEventBytes)
	}
}

// The server judges uploaded events by what it knows: an event naming
// another user or role is kept aside as forged (not an access), alerts
// name the device's user, an event dated before the registration is
// flagged, and a reported profile rollback breaks the device's verify.
func TestIngest_WhatTheServerKnows(t *testing.T) {
	ts := newTestServer(t, 2)
	ts.addUser("amy", "paramedic", ts.nhs...)
	ts.addUser("bob", "community", ts.nhs...)
	dev := devID(2)
	_, priv := ts.login("amy", dev)
	d, err := ts.st.Device(dev)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := ts.st.User("amy")
	evs := quotaEvents(t, dev, "amy", "paramedic", ts.nhs[0], 1)
	head := audit.Head{Seq: 1, Hash: evs[0].Hash()}
	add := func(e audit.Event) {
		e.Device = audit.Device{ID: dev, Host: "h"}
		e.Outcome = audit.Outcome{Result: audit.ResultSuccess}
		e, head = audit.Next(head, e)
		evs = append(evs, e)
	}
	add(audit.Event{Action: audit.ActionView, Occurred: time.Now().UTC(), User: audit.Actor{ID: "bob", Name: "bob", Role: "community"},
		Patient: record.MustParseNHSNumber(ts.nhs[1]), Sections: []string{"allergies"}, Purpose: "TREAT"})
	add(audit.Event{Action: audit.ActionView, Occurred: d.Registered.Add(-48 * time.Hour), User: audit.Actor{ID: "amy", Name: "amy", Role: "paramedic"},
		Patient: record.MustParseNHSNumber(ts.nhs[1]), Sections: []string{"allergies"}, Purpose: "ETREAT"})
	ack, hold, err := ts.svc.ingestAudit(d, u, quotaUpload(1, priv, dev, evs, 1, 3))
	if err != nil || hold != 0 || ack.Through != 3 || ack.Accepted != 2 {
		t.Fatalf("ack %+v hold %v err %v: want all 3 kept, 2 accepted", ack, hold, err)
	}
	log, err := ts.svc.AccessLog(ts.nhs[1])
	if err != nil || len(log) != 1 || log[0].Event.User.ID != "amy" {
		t.Fatalf("access log of the forged patient: %+v %v, want only amy's early event", log, err)
	}
	kinds := map[string]store.Alert{}
	_ = ts.st.Alerts(func(a store.Alert) error { kinds[a.Kind] = a; return nil })
	if a, ok := kinds[AlertForged]; !ok || a.User != "amy" {
		t.Errorf("forged alert %+v", a)
	}
	if a, ok := kinds[AlertImpossibleTime]; !ok || a.User != "amy" || a.Seq != 3 {
		t.Errorf("impossible-time alert %+v", a)
	}
	reps, err := ts.svc.VerifyChains()
	if err == nil {
		t.Errorf("verify ok with a forged event: %+v", reps)
	}
	r := &protocol.RollbackReport{FoundSeq: 3, AllocatedSeq: 9, DetectedAt: time.Now().UTC()}
	ts.svc.reportRollback(d, u, r)
	ts.svc.reportRollback(d, u, r)
	n := 0
	_ = ts.st.Alerts(func(a store.Alert) error {
		if a.Kind == AlertProfileRollback {
			n++
		}
		return nil
	})
	if n != 1 {
		t.Errorf("%d rollback alerts for one report sent twice, want 1", n)
	}
	reps, _ = ts.svc.VerifyChains()
	found := false
	for _, rep := range reps {
		for _, p := range rep.Problems {
			if rep.Device == dev && strings.Contains(p, "profile rollback") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("verify does not name the reported rollback: %+v", reps)
	}
}

// A client of protocol revision 1 (no rollback field) is still served, in
// its own revision; a revision beyond the server's is refused.
func TestSession_OlderRevisionServed(t *testing.T) {
	ts := newTestServer(t, 1)
	ts.addUser("amy", "paramedic", ts.nhs...)
	tok, _ := ts.login("amy", devID(3))
	cl := newClient(t, ts.dial(tok.AccessToken))
	cl.send(&protocol.Hello{Protocol: protocol.MinVersion, Client: "old", Window: 2})
	m, err := cl.recv()
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := m.(*protocol.Welcome); !ok || w.Protocol != protocol.MinVersion {
		t.Fatalf("got %#v, want a welcome in revision %d", m, protocol.MinVersion)
	}
	tok2, _ := ts.login("amy", devID(4))
	cl2 := newClient(t, ts.dial(tok2.AccessToken))
	cl2.send(&protocol.Hello{Protocol: protocol.Version + 1, Client: "future", Window: 2})
	for {
		m, err := cl2.recv()
		if err != nil {
			if protocol.CloseCode(err) != protocol.CloseBadVersion {
				t.Fatalf("closed with %v, want %d", err, protocol.CloseBadVersion)
			}
			return
		}
		if _, ok := m.(*protocol.Welcome); ok {
			t.Fatal("a future revision was welcomed")
		}
	}
}
