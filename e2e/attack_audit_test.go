package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kmcr/audit"
	"kmcr/demo"
	"kmcr/server/pki"
	"kmcr/server/store"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// The attack suite for break-glass and the audit trail: each test tries
// one attack against the real kmcr-server binary (and the real kmcr
// client where a user would use it) and asserts that it fails. A
// hand-written protocol client plays the hostile device.

// attackDevice registers a device for user on a running kmcr-server and
// opens a sync websocket, answering the first sync. It reuses rawDevice's
// upload and receive.
func attackDevice(t *testing.T, srv *serverProc, user string) *rawDevice {
	t.Helper()
	pub, priv, err := audit.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pki.LoadCAPool(srv.d.ca)
	if err != nil {
		t.Fatal(err)
	}
	tlsc := &tls.Config{RootCAs: pool}
	d := &rawDevice{t: t, id: fmt.Sprintf("dev-attack-%d", time.Now().UnixNano()), user: user, priv: priv}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := syncclient.Login(ctx, syncclient.Config{Server: srv.url(), TLS: tlsc, CAFile: srv.d.ca},
		protocol.LoginRequest{User: user, Password: userPassword(user), DeviceID: d.id, PublicKey: pub, Host: "attack-host"})
	if err != nil {
		t.Fatal(err)
	}
	dialer := websocket.Dialer{TLSClientConfig: tlsc, Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: 10 * time.Second}
	h := http.Header{}
	h.Set(protocol.AuthHeader, "Bearer "+tok.AccessToken)
	ws, _, err := dialer.DialContext(ctx, "wss://"+srv.addr+protocol.PathSync, h)
	if err != nil {
		t.Fatal(err)
	}
	d.conn = protocol.NewConn(ws, protocol.DefaultTimeouts, protocol.MaxServerMessage)
	t.Cleanup(func() { d.conn.Close(protocol.CloseNormal, "test over") })
	d.send(&protocol.Hello{Protocol: protocol.Version, Client: "e2e-attack", Window: protocol.DefaultWindow})
	if _, ok := d.receive().(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}
	return d
}

// breakGlass asks for emergency access and returns the answer.
func (d *rawDevice) breakGlass(nhs, code, text string) *protocol.BreakGlassResult {
	d.t.Helper()
	d.nextID++
	id := fmt.Sprint(d.nextID)
	d.send(&protocol.BreakGlass{RequestID: id, NHS: nhs, ReasonCode: code, ReasonText: text})
	res, ok := d.receive().(*protocol.BreakGlassResult)
	if !ok || res.RequestID != id {
		d.t.Fatalf("want the answer to break-glass request %s, got %+v", id, res)
	}
	return res
}

// event appends an event the test made (who, when, what) to the device's chain.
func (d *rawDevice) event(e audit.Event) {
	d.t.Helper()
	e.Device = audit.Device{ID: d.id, Host: "attack-host"}
	if e.Outcome.Result == "" {
		e.Outcome = audit.Outcome{Result: audit.ResultSuccess}
	}
	if err := e.Validate(); err != nil {
		d.t.Fatal(err)
	}
	e, d.head = audit.Next(d.head, e)
	d.events = append(d.events, e)
}

func seqsThrough(n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}

// unknownNHS is a valid NHS number the seeded server does not hold.
func unknownNHS(seed uint64, patients int) string { return demo.NHSNumber(seed, patients+50).Digits() }

const realReason = "unconscious patient found at home"

// TestAttack_BreakGlassFlood_Bounded: a paramedic tries to pull the whole
// record through break-glass. The budget set on the command line (3 an
// hour) grants three, refuses the rest with a clear message, raises one
// escalating alert however many follow, and the user's other device and
// the kmcr command line are refused too.
func TestAttack_BreakGlassFlood_Bounded(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 40, 81)
	d.addUser("para", "paramedic", d.nhs[0])
	srv := d.serve("127.0.0.1:0", "--break-glass-budget", "role=paramedic,hour=3,day=10")
	dev := attackDevice(t, srv, "para")
	granted := 0
	start := time.Now()
	for _, n := range d.nhs[1:] {
		res := dev.breakGlass(n, "emergency-treatment", realReason)
		if res.Granted {
			granted++
			continue
		}
		if !strings.Contains(res.Error, "limit of emergency accesses") {
			t.Fatalf("refusal does not say why: %q", res.Error)
		}
	}
	t.Logf("%d requests answered in %v", len(d.nhs)-1, time.Since(start))
	if granted != 3 {
		t.Fatalf("%d of %d break-glass requests granted, want the budget of 3", granted, len(d.nhs)-1)
	}
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")
	r := p.kmcr(runOpts{}, "show", d.nhs[len(d.nhs)-1], "--break-glass", "--reason", "emergency-treatment", "--reason-text", realReason)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "limit of emergency accesses") {
		t.Fatalf("kmcr show --break-glass past the budget:\n%s", r)
	}
	as := d.alerts()
	if got := alertsOf(as, "break-glass-budget", ""); len(got) != 1 || got[0].User != "para" {
		t.Errorf("budget alerts: %+v, want exactly one naming para", got)
	}
	grants := 0
	for _, a := range alertsOf(as, "break-glass", "") {
		if a.Seq == 0 {
			grants++
		}
	}
	if grants != 3 {
		t.Errorf("%d grant alerts, want 3", grants)
	}
}

// TestAttack_ZeroWidthReason_Refused: reasons made of invisible or filler
// characters are refused whatever the client; a short real reason passes.
func TestAttack_ZeroWidthReason_Refused(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 12, 82)
	d.addUser("para", "paramedic", d.nhs[0])
	srv := d.serve("127.0.0.1:0")
	dev := attackDevice(t, srv, "para")
	bad := []string{"x", "....", "aaaa", "aaaa aaaa", "\u200b\u200b\u200b", "\u200bx\u200b", "\u202e\u2066\u2069", "\ufeff\u2060", "\u200c\u200d\u200e\u200f", "\x01\x02\x03", "ok ok"}
	for i, text := range bad {
		res := dev.breakGlass(d.nhs[1+i%5], "emergency-treatment", text)
		if res.Granted || !strings.Contains(res.Error, "real words") {
			t.Errorf("reason %q: granted %v, error %q", text, res.Granted, res.Error)
		}
	}
	if res := dev.breakGlass(d.nhs[7], "emergency-treatment", "\u200bunconscious\u200b patient"); !res.Granted {
		t.Errorf("a real reason with zero-width padding refused: %q", res.Error)
	}
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "para")
	r := p.kmcr(runOpts{}, "show", d.nhs[8], "--break-glass", "--reason", "emergency-treatment", "--reason-text", "\u200b\u200b")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "real words") {
		t.Errorf("kmcr show with a zero-width reason:\n%s", r)
	}
	as := d.alerts()
	if got := alertsOf(as, "denied", ""); len(got) != 1 {
		t.Errorf("%d denial alerts for %d refusals of one user, want 1 (coalesced)", len(got), len(bad)+1)
	}
	for _, a := range alertsOf(as, "break-glass", "") {
		if strings.ContainsAny(a.Detail, "\u200b\u202e\ufeff") {
			t.Errorf("alert keeps invisible characters: %q", a.Detail)
		}
	}
}

// TestAttack_BreakGlassRefusal_RevealsNothing: a prober cannot tell a
// known NHS number from an unknown one by a refusal: the same message for
// both when the reason is bad, when the budget is spent and when the role
// may not break glass, in the same time class; probing unknown numbers
// spends the budget like real requests.
func TestAttack_BreakGlassRefusal_RevealsNothing(t *testing.T) {
	t.Parallel()
	const patients = 10
	d := newServerData(t, patients, 83)
	d.addUser("para", "paramedic")
	d.addUser("desk", "frontdesk")
	srv := d.serve("127.0.0.1:0", "--break-glass-budget", "user=para,hour=2,day=2")
	dev := attackDevice(t, srv, "para")
	known, unknown := d.nhs[1], unknownNHS(83, patients)
	same := func(what string, ask func(nhs string) *protocol.BreakGlassResult) {
		t.Helper()
		var kt, ut []time.Duration
		var kr, ur *protocol.BreakGlassResult
		for i := 0; i < 15; i++ {
			s := time.Now()
			kr = ask(known)
			kt = append(kt, time.Since(s))
			s = time.Now()
			ur = ask(unknown)
			ut = append(ut, time.Since(s))
		}
		if kr.Granted || ur.Granted || kr.Error != ur.Error || kr.Error == "" {
			t.Errorf("%s: known %+v, unknown %+v: want the same refusal", what, kr, ur)
		}
		// A store lookup and its alert write take milliseconds on a loaded
		// machine; decided before the lookup, both sides cost the same.
		if km, um := median(kt), median(ut); absDur(km-um) > 40*time.Millisecond {
			t.Errorf("%s: median refusal %v for a known number, %v for an unknown one", what, km, um)
		}
	}
	same("bad reason", func(n string) *protocol.BreakGlassResult { return dev.breakGlass(n, "emergency-treatment", "....") })
	// Two unknown numbers spend the budget of two.
	for _, n := range []string{unknownNHS(83, patients+1), unknownNHS(83, patients+2)} {
		if res := dev.breakGlass(n, "emergency-treatment", realReason); res.Granted {
			t.Fatalf("unknown %s granted", n)
		}
	}
	if res := dev.breakGlass(known, "emergency-treatment", realReason); res.Granted || !strings.Contains(res.Error, "limit") {
		t.Fatalf("a known patient after probing two unknown numbers: %+v, want the budget spent", res)
	}
	same("budget spent", func(n string) *protocol.BreakGlassResult { return dev.breakGlass(n, "emergency-treatment", realReason) })
	desk := attackDevice(t, srv, "desk")
	same("role", func(n string) *protocol.BreakGlassResult {
		return desk.breakGlass(n, "emergency-treatment", realReason)
	})
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// TestAttack_GrantOnlyToAskingDevice: a break-glass grant made on one
// laptop does not reach the user's other laptop, neither by a live sync
// nor by a first sync after the grant.
func TestAttack_GrantOnlyToAskingDevice(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 6, 84)
	d.addUser("para", "paramedic", d.nhs[:3]...)
	srv := d.serve("127.0.0.1:0")
	a, b := newProfile(t), newProfile(t)
	a.enrol(srv.url(), d.ca, "para")
	b.enrol(srv.url(), d.ca, "para")
	target := d.nhs[4]
	if r := a.mustKmcr("show", target, "--break-glass", "--reason", "emergency-treatment", "--reason-text", realReason); !strings.Contains(r.stdout, banner(target)) {
		t.Fatalf("break-glass on the asking device:\n%s", r)
	}
	b.mustKmcr("sync", "--once")
	if r := b.kmcr(runOpts{}, "show", target); r.code == 0 {
		t.Fatalf("the other device of the user shows the break-glass patient:\n%s", r)
	}
	if st := b.status(); st.CachedPatients != 3 {
		t.Errorf("the other device caches %d patients, want its caseload of 3", st.CachedPatients)
	}
	c := newProfile(t)
	c.enrol(srv.url(), d.ca, "para")
	if st := c.status(); st.CachedPatients != 3 {
		t.Errorf("a device enrolled after the grant caches %d patients, want 3", st.CachedPatients)
	}
	a.mustKmcr("sync", "--once")
	if st := a.status(); st.CachedPatients != 4 {
		t.Errorf("the asking device caches %d patients, want 4", st.CachedPatients)
	}
}

// TestAttack_ForgedAuditUser_Refused: a paramedic's device files views
// and a break-glass under a carer's name. The server keeps them aside as
// forged, never as the carer's accesses, raises an alert naming the
// device's own user, and audit verify fails for that device.
func TestAttack_ForgedAuditUser_Refused(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 4, 85)
	d.addUser("para", "paramedic", d.nhs...)
	d.addUser("carer", "community", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	dev := attackDevice(t, srv, "para")
	now := time.Now().UTC()
	dev.event(audit.Event{Action: audit.ActionView, Occurred: now, User: audit.Actor{ID: "para", Name: "para", Role: "paramedic"},
		Patient: mustNHS(d.nhs[0]), Sections: []string{"allergies"}, Purpose: "ETREAT"})
	dev.event(audit.Event{Action: audit.ActionView, Occurred: now, User: audit.Actor{ID: "carer", Name: "carer", Role: "community"},
		Patient: mustNHS(d.nhs[1]), Sections: []string{"allergies"}, Purpose: "TREAT"})
	dev.event(audit.Event{Action: audit.ActionBreakGlass, Occurred: now, User: audit.Actor{ID: "carer", Name: "carer", Role: "community"},
		Patient: mustNHS(d.nhs[2]), Purpose: "BTG", BreakGlass: &audit.BreakGlass{ReasonCode: "other", ReasonText: realReason}})
	dev.event(audit.Event{Action: audit.ActionView, Occurred: now, User: audit.Actor{ID: "para", Name: "para", Role: "privacy-officer"},
		Patient: mustNHS(d.nhs[3]), Sections: []string{"allergies"}, Purpose: "ETREAT"})
	if ack := dev.upload(seqsThrough(4)...); ack.Through != 4 {
		t.Fatalf("ack through %d, want every item kept (4)", ack.Through)
	}
	for _, n := range d.nhs[1:] {
		for _, e := range d.accessLog(n) {
			if e.Device == dev.id {
				t.Errorf("patient %s: a forged event counts as an access: %+v", n, e)
			}
		}
	}
	if log := d.accessLog(d.nhs[0]); len(log) != 1 || log[0].User != "para" {
		t.Errorf("the honest event: %+v", log)
	}
	as := d.alerts()
	forged := alertsOf(as, "forged", dev.id)
	if len(forged) != 1 || forged[0].User != "para" {
		t.Errorf("forged alerts %+v, want one naming the device's user para", forged)
	}
	for _, a := range as {
		if a.User == "carer" {
			t.Errorf("an alert names the impersonated user: %+v", a)
		}
	}
	r := d.admin(runOpts{}, "audit", "verify")
	if r.code == 0 || !strings.Contains(r.stdout, dev.id) || !strings.Contains(r.stdout, "forged") {
		t.Errorf("audit verify after forged events:\n%s", r)
	}
}

// TestAttack_ImpossibleEventTime_Flagged: events dated before the device
// was registered, or a day in the future, are kept (they happened) and
// flagged for the privacy officer.
func TestAttack_ImpossibleEventTime_Flagged(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 2, 86)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	dev := attackDevice(t, srv, "para")
	u := audit.Actor{ID: "para", Name: "para", Role: "paramedic"}
	for _, at := range []time.Time{time.Now().Add(-72 * time.Hour), time.Now().Add(-71 * time.Hour), time.Now().Add(24 * time.Hour)} {
		dev.event(audit.Event{Action: audit.ActionView, Occurred: at.UTC(), User: u, Patient: mustNHS(d.nhs[0]), Sections: []string{"allergies"}, Purpose: "ETREAT"})
	}
	if ack := dev.upload(seqsThrough(3)...); ack.Through != 3 {
		t.Fatalf("ack through %d, want 3", ack.Through)
	}
	if n := len(d.accessLog(d.nhs[0])); n != 3 {
		t.Errorf("%d events in the access log, want all 3 kept", n)
	}
	as := d.alerts()
	early := alertsOf(as, "impossible-time", dev.id)
	if len(early) != 1 || !strings.Contains(early[0].Detail, "2 events") || early[0].User != "para" {
		t.Errorf("impossible-time alerts: %+v, want one for the 2 events before registration", early)
	}
	if len(alertsOf(as, "clock-skew", dev.id)) == 0 {
		t.Error("the event a day in the future was not flagged")
	}
}

// TestAttack_ProfileRollback_Detected: a user views a patient offline,
// then restores an older copy of the profile folder so the view would
// vanish. The next unlock finds the chain behind the high-water mark kept
// outside the folder, the next sync reports it, the server raises an
// alert naming the device's user, and audit verify fails for the device.
// It runs with a device secret file outside the folder always, and with
// the real OS keyring when KMCR_TEST_KEYRING=1.
func TestAttack_ProfileRollback_Detected(t *testing.T) {
	t.Parallel()
	t.Run("secret-file", func(t *testing.T) { t.Parallel(); rollbackAttack(t, false) })
	t.Run("os-keyring", func(t *testing.T) {
		t.Parallel()
		if os.Getenv("KMCR_TEST_KEYRING") != "1" {
			t.Skip("skipped: set KMCR_TEST_KEYRING=1 inside a D-Bus session with an unlocked Secret Service to use the real OS keyring")
		}
		rollbackAttack(t, true)
	})
}

func rollbackAttack(t *testing.T, keyring bool) {
	d := newServerData(t, 3, 87)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	if keyring {
		r := p.kmcr(runOpts{stdin: userPassword("para") + "\n"}, "enrol", "--server", srv.url(), "--ca", d.ca, "--user", "para", "--password-stdin")
		if r.code != 0 {
			t.Fatalf("enrol with the OS keyring:\n%s", r)
		}
		t.Cleanup(func() { p.kmcr(runOpts{}, "wipe", "--yes") })
	} else {
		p.enrol(srv.url(), d.ca, "para")
	}
	device := p.status().DeviceID
	backup := filepath.Join(t.TempDir(), "profile-copy")
	if out, err := exec.Command("cp", "-a", p.dir, backup).CombinedOutput(); err != nil {
		t.Fatalf("copying the profile: %v %s", err, out)
	}
	p.mustKmcr("show", d.nhs[0]) // viewed offline: the event is queued, not sent
	if st := p.status(); st.PendingAuditEvents == 0 {
		t.Fatal("the view left no queued event")
	}
	if err := os.RemoveAll(p.dir); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", backup, p.dir).CombinedOutput(); err != nil {
		t.Fatalf("restoring the profile: %v %s", err, out)
	}
	if r := d.admin(runOpts{}, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify before the restored device synced:\n%s", r)
	}
	p.mustKmcr("sync", "--once")
	as := alertsOf(d.alerts(), "profile-rollback", device)
	if len(as) != 1 || as[0].User != "para" {
		t.Fatalf("profile-rollback alerts %+v, want one naming para", as)
	}
	p.mustKmcr("sync", "--once")
	if n := len(alertsOf(d.alerts(), "profile-rollback", device)); n != 1 {
		t.Errorf("%d rollback alerts after a second sync, want the one", n)
	}
	r := d.admin(runOpts{}, "audit", "verify")
	if r.code == 0 || !strings.Contains(r.stdout, device) || !strings.Contains(r.stdout, "rollback") {
		t.Errorf("audit verify after a reported rollback:\n%s", r)
	}
}

// TestAttack_AuditFlood_Throttled: a device floods the audit upload with
// junk. The server keeps what the quota allows (malformed items an hour,
// oversized items cut to their start), holds the rest without
// acknowledging it, raises one throttling alert, and stores a small part
// of the flood's bytes; the session keeps answering meanwhile.
func TestAttack_AuditFlood_Throttled(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 3, 88)
	d.addUser("para", "paramedic", d.nhs[0])
	srv := d.serve("127.0.0.1:0")
	dev := attackDevice(t, srv, "para")
	total := 0
	send := func(from, to uint64, size int) {
		dev.nextID++
		up := &protocol.AuditUpload{ID: dev.nextID, Head: protocol.SignedHead{Seq: to, Hash: make([]byte, 32), Sig: make([]byte, 64)}}
		for s := from; s <= to; s++ {
			e := make([]byte, size)
			_, _ = rand.Read(e)
			up.Seqs, up.Sizes, up.Events = append(up.Seqs, s), append(up.Sizes, len(e)), append(up.Events, e)
			total += size
		}
		dev.send(up)
	}
	// 5 oversized items of 48 KiB, then 150 of 12 KiB, then 40 more.
	send(1, 5, 48<<10)
	if ack, ok := dev.receive().(*protocol.AuditAck); !ok || ack.Through != 5 {
		t.Fatalf("oversized items: %+v, want all 5 kept", ack)
	}
	send(6, 155, 12<<10)
	if ack, ok := dev.receive().(*protocol.AuditAck); !ok || ack.Through != 100 {
		t.Fatalf("first flood upload: %+v, want the 100 malformed items an hour kept (through seq 100)", ack)
	}
	send(101, 140, 12<<10)
	// Held: no acknowledgement comes, but the session still answers.
	res := dev.breakGlass(d.nhs[1], "emergency-treatment", realReason)
	if !res.Granted {
		t.Errorf("break-glass while an upload is held: %+v", res)
	}
	as := d.alerts()
	if n := len(alertsOf(as, "audit-throttled", dev.id)); n != 1 {
		t.Errorf("%d throttling alerts, want 1", n)
	}
	if n := len(as); n > 110 {
		t.Errorf("%d alerts after the flood, want at most the hour's allowance", n)
	}
	dev.conn.Close(protocol.CloseNormal, "done")
	srv.stop()
	st, err := store.OpenBolt(d.dir, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, items := 0, 0
	if err := st.AuditEvents(dev.id, func(se store.StoredEvent) error {
		items++
		stored += len(se.Canonical)
		if len(se.Canonical) > 16<<10 {
			t.Errorf("seq %d stored with %d bytes, over the per-event limit", se.Seq, len(se.Canonical))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a flood of %d bytes in 195 items: %d items, %d bytes stored", total, items, stored)
	if items != 100 || stored > 95*(12<<10)+5*(1<<10) {
		t.Errorf("stored %d items, %d bytes: want 100 items, the oversized cut to 1 KiB", items, stored)
	}
}

// TestAttack_DenialFlood_Coalesced: a front-desk account makes a thousand
// refused break-glass requests; the privacy officer gets one denial alert
// for that user in the hour, while another user's denial still gets its own.
func TestAttack_DenialFlood_Coalesced(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 3, 89)
	d.addUser("desk", "frontdesk", d.nhs[0])
	d.addUser("desk2", "frontdesk", d.nhs[0])
	srv := d.serve("127.0.0.1:0")
	dev := attackDevice(t, srv, "desk")
	start := time.Now()
	for i := 0; i < 1000; i++ {
		if res := dev.breakGlass(d.nhs[1+i%2], "emergency-treatment", realReason); res.Granted {
			t.Fatal("front desk granted break-glass")
		}
	}
	t.Logf("1000 refusals in %v", time.Since(start))
	other := attackDevice(t, srv, "desk2")
	other.breakGlass(d.nhs[1], "emergency-treatment", realReason)
	as := alertsOf(d.alerts(), "denied", "")
	per := map[string]int{}
	for _, a := range as {
		per[a.User]++
	}
	if per["desk"] != 1 || per["desk2"] != 1 || len(as) != 2 {
		t.Errorf("denial alerts per user %v, want one each", per)
	}
}
