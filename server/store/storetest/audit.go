package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"kmcr/server/store"
)

// event is a stored event of device at seq, about patient n (may be ""),
// recorded at minute rec.
func event(device string, seq uint64, n string, rec int) store.StoredEvent {
	return store.StoredEvent{Device: device, Seq: seq, Hash: []byte{byte(seq), 0xaa}, Canonical: []byte(fmt.Sprintf(`{"seq":%d,"device":%q}`, seq, device)), Recorded: at(rec), NHS: n}
}

// sameEvent compares every field.
func sameEvent(t *testing.T, got, want store.StoredEvent, what string) {
	t.Helper()
	if got.Device != want.Device || got.Seq != want.Seq || !bytes.Equal(got.Hash, want.Hash) || !bytes.Equal(got.Canonical, want.Canonical) ||
		!got.Recorded.Equal(want.Recorded) || got.NHS != want.NHS || got.Malformed != want.Malformed || got.Reason != want.Reason {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// events lists a device's stored events.
func events(t *testing.T, s store.Store, device string) []store.StoredEvent {
	t.Helper()
	var out []store.StoredEvent
	must(t, s.AuditEvents(device, func(e store.StoredEvent) error { out = append(out, e); return nil }))
	return out
}

// accessLog lists a patient's access log as "device/seq".
func accessLog(t *testing.T, s store.Store, n string) []string {
	t.Helper()
	var out []string
	must(t, s.AccessLog(n, func(e store.StoredEvent) error { out = append(out, fmt.Sprintf("%s/%d", e.Device, e.Seq)); return nil }))
	return out
}

// conflicts lists a device's kept conflicting versions.
func conflicts(t *testing.T, s store.Store, device string) []store.StoredEvent {
	t.Helper()
	var out []store.StoredEvent
	must(t, s.Conflicts(device, func(e store.StoredEvent) error { out = append(out, e); return nil }))
	return out
}

// alerts lists every alert.
func alerts(t *testing.T, s store.Store) []store.Alert {
	t.Helper()
	var out []store.Alert
	must(t, s.Alerts(func(a store.Alert) error { out = append(out, a); return nil }))
	return out
}

var auditCases = []testCase{
	{"StoreAndReadInSequenceOrder", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		evs := []store.StoredEvent{event("device-1", 3, nhs(0), 3), event("device-1", 1, nhs(1), 1), event("device-1", 2, "", 2)}
		bad := store.StoredEvent{Device: "device-1", Seq: 4, Hash: []byte{4}, Canonical: []byte("not an event"), Recorded: at(4), Malformed: true, Reason: "not JSON"}
		must(t, e.s.StoreAudit("device-1", append(evs, bad), nil, nil, []byte("chain-1")))
		got := events(t, e.s, "device-1")
		want := []store.StoredEvent{evs[1], evs[2], evs[0], bad}
		if len(got) != len(want) {
			t.Fatalf("AuditEvents gave %d; want %d", len(got), len(want))
		}
		for i := range want {
			sameEvent(t, got[i], want[i], fmt.Sprintf("AuditEvents[%d] (in sequence order)", i))
		}
		for _, ev := range append(evs, bad) {
			h, ok, err := e.s.AuditHash("device-1", ev.Seq)
			if err != nil || !ok || !bytes.Equal(h, ev.Hash) {
				t.Fatalf("AuditHash(%d) = %x, %v, %v; want %x", ev.Seq, h, ok, err, ev.Hash)
			}
		}
		d, _ := e.s.Device("device-1")
		if string(d.Chain) != "chain-1" {
			t.Fatalf("chain state %q", d.Chain)
		}
		want0 := fullDevice("device-1", "amy")
		want0.Chain = []byte("chain-1")
		sameDevice(t, d, want0, "the device after StoreAudit (only its chain changes)")
		noChanges(t, e.s, 0, "StoreAudit")
	}},
	{"OncePerSequence", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		first := event("device-1", 1, nhs(0), 1)
		for i := range 3 {
			must(t, e.s.StoreAudit("device-1", []store.StoredEvent{first}, nil, nil, []byte(fmt.Sprintf("chain-%d", i))))
		}
		// A different version of a stored sequence number does not replace it.
		other := first
		other.Hash, other.Canonical, other.Recorded = []byte{0xbb}, []byte("a rewrite"), at(9)
		must(t, e.s.StoreAudit("device-1", []store.StoredEvent{other, other}, nil, nil, []byte("chain-3")))
		got := events(t, e.s, "device-1")
		if len(got) != 1 {
			t.Fatalf("%d events stored for one sequence number", len(got))
		}
		sameEvent(t, got[0], first, "the stored event")
		if log := accessLog(t, e.s, nhs(0)); !slices.Equal(log, []string{"device-1/1"}) {
			t.Fatalf("access log %v; want one entry", log)
		}
		if d, _ := e.s.Device("device-1"); string(d.Chain) != "chain-3" {
			t.Fatalf("the chain state is not the last one given: %q", d.Chain)
		}
	}},
	{"UnknownDeviceStoresNothing", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		err := e.s.StoreAudit("device-absent", []store.StoredEvent{event("device-absent", 1, nhs(0), 1)},
			[]store.StoredEvent{event("device-absent", 1, nhs(0), 2)}, []store.Alert{{Kind: "k", Detail: "d", At: at(1)}}, []byte("chain"))
		wantIs(t, err, store.ErrNotFound, "StoreAudit for an unknown device")
		if evs := events(t, e.s, "device-absent"); len(evs) != 0 {
			t.Fatalf("events of a refused batch stored: %v", evs)
		}
		if log := accessLog(t, e.s, nhs(0)); len(log) != 0 {
			t.Fatalf("a refused batch reached the access log: %v", log)
		}
		if cs := conflicts(t, e.s, "device-absent"); len(cs) != 0 {
			t.Fatalf("conflicts of a refused batch stored: %v", cs)
		}
		if as := alerts(t, e.s); len(as) != 0 {
			t.Fatalf("alerts of a refused batch stored: %v", as)
		}
		// And the alert numbering did not move either.
		must(t, e.s.AddAlerts([]store.Alert{{Kind: "k", Detail: "after", At: at(2)}}))
		if as := alerts(t, e.s); len(as) != 1 || as[0].ID != 1 {
			t.Fatalf("alerts after a refused batch: %+v; want one numbered 1", as)
		}
	}},
	{"AlertsAndConflictsInTheSameBatch", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		must(t, e.s.RegisterDevice(fullDevice("device-10", "amy")))
		must(t, e.s.AddAlerts([]store.Alert{{Kind: "earlier", Detail: "d", At: at(0)}}))
		c2, c1 := event("device-1", 2, nhs(0), 5), event("device-1", 1, nhs(0), 5)
		c1b := c1
		c1b.Hash = []byte{0xcc}
		c2.Reason, c1.Reason, c1b.Reason = "second version", "second version", "third version"
		al := store.Alert{Kind: "audit-conflict", Device: "device-1", User: "amy", NHS: nhs(0), Seq: 1, Detail: "two versions", At: at(5)}
		must(t, e.s.StoreAudit("device-1", []store.StoredEvent{event("device-1", 1, nhs(0), 1)}, []store.StoredEvent{c2, c1, c1b}, []store.Alert{al}, nil))
		must(t, e.s.StoreAudit("device-1", nil, []store.StoredEvent{c1}, nil, nil)) // the same conflict again
		must(t, e.s.StoreAudit("device-10", nil, []store.StoredEvent{event("device-10", 1, "", 1)}, nil, nil))
		got := conflicts(t, e.s, "device-1")
		if len(got) != 3 {
			t.Fatalf("Conflicts gave %d; want 3 (each distinct version once)", len(got))
		}
		if got[0].Seq != 1 || got[1].Seq != 1 || got[2].Seq != 2 {
			t.Fatalf("Conflicts not in sequence order: %d %d %d", got[0].Seq, got[1].Seq, got[2].Seq)
		}
		sameEvent(t, got[2], c2, "the conflict at 2")
		if len(conflicts(t, e.s, "device-10")) != 1 || len(conflicts(t, e.s, "device-2")) != 0 {
			t.Fatal("conflicts leak between devices whose IDs share a prefix")
		}
		if evs := events(t, e.s, "device-1"); len(evs) != 1 || evs[0].Reason != "" {
			t.Fatalf("a conflict replaced or joined the stored events: %+v", evs)
		}
		as := alerts(t, e.s)
		if len(as) != 2 || as[1].ID != 2 || as[1].Kind != "audit-conflict" || as[1].Seq != 1 || as[1].NHS != nhs(0) || !as[1].At.Equal(at(5)) {
			t.Fatalf("alerts = %+v", as)
		}
		n := 0
		if err := e.s.Conflicts("device-1", func(store.StoredEvent) error { n++; return errStop }); !errors.Is(err, errStop) || n != 1 {
			t.Fatalf("Conflicts with a failing callback: %v after %d", err, n)
		}
	}},
	{"AuditHashOfWhatIsNotStored", func(t *testing.T, e *env) {
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		for _, q := range []struct {
			dev string
			seq uint64
		}{{"device-absent", 1}, {"device-1", 1}} {
			if h, ok, err := e.s.AuditHash(q.dev, q.seq); err != nil || ok || h != nil {
				t.Fatalf("AuditHash(%s, %d) = %x, %v, %v; want none", q.dev, q.seq, h, ok, err)
			}
		}
		must(t, e.s.StoreAudit("device-1", []store.StoredEvent{event("device-1", 2, "", 1)}, []store.StoredEvent{event("device-1", 1, "", 1)}, nil, nil))
		if _, ok, _ := e.s.AuditHash("device-1", 1); ok {
			t.Fatal("AuditHash answered for a sequence number only kept as a conflict")
		}
		if evs := events(t, e.s, "device-absent"); len(evs) != 0 {
			t.Fatal("events for an unknown device")
		}
	}},
	{"AccessLogSince", func(t *testing.T, e *env) {
		for _, d := range []string{"device-1", "device-2"} {
			must(t, e.s.RegisterDevice(fullDevice(d, "amy")))
		}
		must(t, e.s.StoreAudit("device-1", []store.StoredEvent{event("device-1", 1, nhs(0), 30), event("device-1", 2, nhs(1), 31), event("device-1", 3, nhs(0), 10)}, nil, nil, nil))
		must(t, e.s.StoreAudit("device-2", []store.StoredEvent{event("device-2", 1, nhs(0), 20), event("device-2", 2, nhs(0), 40), event("device-2", 3, nhs(0), 30)}, nil, nil, nil))
		since := func(rec int) []string {
			var out []string
			must(t, e.s.AccessLogSince(nhs(0), at(rec), func(ev store.StoredEvent) error {
				out = append(out, fmt.Sprintf("%s/%d", ev.Device, ev.Seq))
				return nil
			}))
			return out
		}
		// At or after: the two recorded at minute 30 are both included.
		got := since(30)
		slices.Sort(got)
		if !slices.Equal(got, []string{"device-1/1", "device-2/2", "device-2/3"}) {
			t.Fatalf("AccessLogSince(30) = %v", got)
		}
		if got := since(31); !slices.Equal(got, []string{"device-2/2"}) {
			t.Fatalf("AccessLogSince(31) = %v; want device-2/2", got)
		}
		if got := since(0); len(got) != 5 || got[0] != "device-1/3" || got[4] != "device-2/2" {
			t.Fatalf("AccessLogSince(0) = %v; want all five by recorded time", got)
		}
		var zero []string
		must(t, e.s.AccessLogSince(nhs(0), time.Time{}, func(ev store.StoredEvent) error { zero = append(zero, ev.Device); return nil }))
		if len(zero) != 5 {
			t.Fatalf("AccessLogSince(zero time) = %v; want all five", zero)
		}
		if got := since(41); len(got) != 0 {
			t.Fatalf("AccessLogSince after the last = %v", got)
		}
		var full []store.StoredEvent
		must(t, e.s.AccessLogSince(nhs(1), at(0), func(ev store.StoredEvent) error { full = append(full, ev); return nil }))
		if len(full) != 1 {
			t.Fatalf("another patient's log since 0: %d", len(full))
		}
		sameEvent(t, full[0], event("device-1", 2, nhs(1), 31), "an AccessLogSince entry")
		n := 0
		if err := e.s.AccessLogSince(nhs(0), at(0), func(store.StoredEvent) error { n++; return errStop }); !errors.Is(err, errStop) || n != 1 {
			t.Fatalf("AccessLogSince with a failing callback: %v after %d", err, n)
		}
	}},
	{"AccessLogByRecordedTime", func(t *testing.T, e *env) {
		for _, d := range []string{"device-1", "device-2", "device-20"} {
			must(t, e.s.RegisterDevice(fullDevice(d, "amy")))
		}
		must(t, e.s.StoreAudit("device-1", []store.StoredEvent{event("device-1", 1, nhs(0), 30), event("device-1", 2, nhs(1), 31), event("device-1", 3, "", 32), event("device-1", 4, nhs(0), 10)}, nil, nil, nil))
		must(t, e.s.StoreAudit("device-2", []store.StoredEvent{event("device-2", 1, nhs(0), 20), event("device-2", 2, nhs(0), 40)}, nil, nil, nil))
		must(t, e.s.StoreAudit("device-20", []store.StoredEvent{event("device-20", 1, nhs(0)[:9], 5)}, nil, nil, nil))
		want := []string{"device-1/4", "device-2/1", "device-1/1", "device-2/2"}
		if got := accessLog(t, e.s, nhs(0)); !slices.Equal(got, want) {
			t.Fatalf("AccessLog = %v; want %v (by recorded time, across devices)", got, want)
		}
		if got := accessLog(t, e.s, nhs(1)); !slices.Equal(got, []string{"device-1/2"}) {
			t.Fatalf("another patient's access log = %v", got)
		}
		if got := accessLog(t, e.s, nhs(9)); len(got) != 0 {
			t.Fatalf("access log of a patient nobody viewed: %v", got)
		}
		var full []store.StoredEvent
		must(t, e.s.AccessLog(nhs(1), func(ev store.StoredEvent) error { full = append(full, ev); return nil }))
		sameEvent(t, full[0], event("device-1", 2, nhs(1), 31), "an access log entry")
		n := 0
		if err := e.s.AccessLog(nhs(0), func(store.StoredEvent) error { n++; return errStop }); !errors.Is(err, errStop) || n != 1 {
			t.Fatalf("AccessLog with a failing callback: %v after %d", err, n)
		}
		n = 0
		if err := e.s.AuditEvents("device-1", func(store.StoredEvent) error { n++; return errStop }); !errors.Is(err, errStop) || n != 1 {
			t.Fatalf("AuditEvents with a failing callback: %v after %d", err, n)
		}
	}},
}

var alertCases = []testCase{
	{"NumberedInOrder", func(t *testing.T, e *env) {
		if as := alerts(t, e.s); len(as) != 0 {
			t.Fatalf("alerts of a new store: %v", as)
		}
		in := []store.Alert{
			{ID: 77, Kind: "break-glass", Device: "device-1", User: "amy", NHS: nhs(0), Detail: "emergency access", At: at(3)},
			{Kind: "denial", User: "bob", Detail: "not permitted", At: at(1)},
		}
		must(t, e.s.AddAlerts(in))
		must(t, e.s.RegisterDevice(fullDevice("device-1", "amy")))
		must(t, e.s.StoreAudit("device-1", nil, nil, []store.Alert{{Kind: "audit-gap", Device: "device-1", Seq: 4, Detail: "gap", At: at(2)}}, nil))
		must(t, e.s.AddAlerts([]store.Alert{{Kind: "clock-skew", Detail: "late", At: at(0)}}))
		must(t, e.s.AddAlerts(nil))
		as := alerts(t, e.s)
		if len(as) != 4 {
			t.Fatalf("%d alerts; want 4", len(as))
		}
		for i, a := range as {
			if a.ID != uint64(i)+1 {
				t.Fatalf("alert %d has ID %d; want %d (numbered by the store in the order added)", i, a.ID, i+1)
			}
		}
		a := as[0]
		if a.Kind != "break-glass" || a.Device != "device-1" || a.User != "amy" || a.NHS != nhs(0) || a.Detail != "emergency access" || !a.At.Equal(at(3)) {
			t.Fatalf("alert read back %+v", a)
		}
		if as[1].Kind != "denial" || as[2].Kind != "audit-gap" || as[2].Seq != 4 || as[3].Kind != "clock-skew" {
			t.Fatalf("alerts out of order: %+v", as)
		}
		n := 0
		if err := e.s.Alerts(func(store.Alert) error { n++; return errStop }); !errors.Is(err, errStop) || n != 1 {
			t.Fatalf("Alerts with a failing callback: %v after %d", err, n)
		}
		noChanges(t, e.s, 0, "AddAlerts")
	}},
}
