package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	bolt "go.etcd.io/bbolt"

	"kmcr/audit"
	"kmcr/internal/faultproxy"
	"kmcr/server/pki"
	"kmcr/server/store"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// viewsFrom counts a device's successful views in a patient's access log,
// failing on any (device, seq) listed twice.
func viewsFrom(t *testing.T, d *serverData, nhs, device string) int {
	t.Helper()
	seen, n := map[string]bool{}, 0
	for _, e := range d.accessLog(nhs) {
		if e.Device != device {
			continue
		}
		if seen[e.Seq] {
			t.Fatalf("%s: sequence %s stored twice", nhs, e.Seq)
		}
		seen[e.Seq] = true
		if e.isView() {
			n++
		}
	}
	return n
}

// tamperAlerts are the alert kinds that say the audit trail was damaged.
var tamperAlerts = []string{"gap", "reorder", "changed", "rollback", "bad-signature", "malformed"}

// noTamperAlerts fails if the device has any alert saying its trail was
// damaged.
func noTamperAlerts(t *testing.T, d *serverData, device string) {
	t.Helper()
	for _, k := range tamperAlerts {
		if as := alertsOf(d.alerts(), k, device); len(as) > 0 {
			t.Fatalf("unexpected %s alert: %+v", k, as)
		}
	}
}

// TestAudit_CutAfterCommitBeforeAck guards exactly-once delivery when the
// acknowledgement is lost: the connection is cut right after the server
// has committed an uploaded batch and before it can acknowledge it. The
// client keeps the events (nothing unacknowledged is deleted), sends them
// again on the next connection, and the server stores them once.
func TestAudit_CutAfterCommitBeforeAck(t *testing.T) {
	t.Parallel()
	var (
		armed atomic.Bool
		cut   atomic.Int32
		proxy *faultproxy.Proxy
	)
	hs := &hookStore{afterAudit: func(events int) {
		if events > 0 && armed.CompareAndSwap(true, false) {
			cut.Store(int32(events))
			proxy.CutAfter(0) // closes every proxied connection now
			proxy.Pass()
		}
	}}
	srv := newInprocServer(t, inprocOpts{patients: 6, seed: 51, wrap: func(s store.Store) store.Store { hs.Store = s; return hs }})
	srv.addUser("para", "paramedic", srv.nhs...)
	var err error
	if proxy, err = faultproxy.New(srv.addr); err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	p := newProfile(t)
	c := enrolCore(t, p, "wss://"+proxy.Addr(), srv.ca, "para", coreOpts{}, srv.logs.prefixed("client: "))
	device := c.Profile().DeviceID

	viewed := srv.nhs[:4]
	for _, n := range viewed {
		if _, err := c.OpenPatient(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.SyncOnce(ctx, nil); err == nil {
		t.Fatal("a sync whose audit acknowledgement was cut reported success")
	}
	if cut.Load() != int32(len(viewed)) {
		t.Fatalf("the cut came after a batch of %d events, want %d", cut.Load(), len(viewed))
	}
	if st := c.Status(); st.PendingAuditEvents != len(viewed) {
		t.Fatalf("after the lost acknowledgement %d events are queued, want all %d kept", st.PendingAuditEvents, len(viewed))
	}
	for _, n := range viewed {
		if got := viewsFrom(t, srv.serverData, n, device); got != 1 {
			t.Fatalf("%s: %d views stored before the acknowledgement, want 1 (committed)", n, got)
		}
	}

	if err := c.SyncOnce(ctx, nil); err != nil {
		t.Fatalf("the sync after the cut: %v", err)
	}
	if st := c.Status(); st.PendingAuditEvents != 0 {
		t.Fatalf("after the re-send %d events are still queued", st.PendingAuditEvents)
	}
	for _, n := range viewed {
		if got := viewsFrom(t, srv.serverData, n, device); got != 1 {
			t.Fatalf("%s: %d views stored after the re-send, want exactly 1", n, got)
		}
	}
	if r := srv.admin(runOpts{}, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify after a re-send:\n%s", r)
	}
	noTamperAlerts(t, srv.serverData, device)
}

// rawDevice is a protocol client written by hand: a registered device
// whose audit events the test builds, signs and uploads itself.
type rawDevice struct {
	t      *testing.T
	id     string
	user   string
	priv   ed25519.PrivateKey
	conn   *protocol.Conn
	events []audit.Event // events[i] has seq i+1
	head   audit.Head
	nextID uint64
}

// newRawDevice logs in (registering the device and its key) and opens a
// sync websocket, answering the server's first batches.
func newRawDevice(t *testing.T, srv *inprocServer, user string) *rawDevice {
	t.Helper()
	pub, priv, err := audit.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pki.LoadCAPool(srv.ca)
	if err != nil {
		t.Fatal(err)
	}
	tlsc := &tls.Config{RootCAs: pool}
	d := &rawDevice{t: t, id: "dev-raw-e2e-" + fmt.Sprint(time.Now().UnixNano()), user: user, priv: priv}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := syncclient.Login(ctx, syncclient.Config{Server: srv.url(), TLS: tlsc, CAFile: srv.ca},
		protocol.LoginRequest{User: user, Password: userPassword(user), DeviceID: d.id, PublicKey: pub, Host: "raw-host"})
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
	d.send(&protocol.Hello{Protocol: protocol.Version, Client: "e2e-raw", Window: protocol.DefaultWindow})
	if _, ok := d.receive().(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}
	return d
}

func (d *rawDevice) send(m protocol.Message) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.conn.Send(ctx, m); err != nil {
		d.t.Fatal(err)
	}
}

// receive returns the next message that is not a batch or an up-to-date
// marker; batches are acknowledged on the way.
func (d *rawDevice) receive() protocol.Message {
	d.t.Helper()
	for {
		m, err := d.conn.Receive()
		if err != nil {
			d.t.Fatalf("receive: %v", err)
		}
		switch v := m.(type) {
		case *protocol.Batch:
			d.send(&protocol.Ack{ID: v.ID, Cursor: v.Cursor})
		case *protocol.UpToDate:
		default:
			return m
		}
	}
}

// view writes the device's next event: a view of nhs.
func (d *rawDevice) view(nhs string) {
	e := audit.Event{
		Action: audit.ActionView, Occurred: time.Now().UTC(),
		User:    audit.Actor{ID: d.user, Name: d.user, Role: "paramedic"},
		Device:  audit.Device{ID: d.id, Host: "raw-host"},
		Patient: mustNHS(nhs), Sections: []string{"allergies", "medications"}, Purpose: "ETREAT",
		Outcome: audit.Outcome{Result: audit.ResultSuccess},
	}
	if err := e.Validate(); err != nil {
		d.t.Fatal(err)
	}
	e, d.head = audit.Next(d.head, e)
	d.events = append(d.events, e)
}

// upload sends the events with the given sequence numbers, in that order,
// under the device's current signed head, and returns the acknowledgement.
func (d *rawDevice) upload(seqs ...uint64) *protocol.AuditAck {
	return d.uploadHead(d.head, seqs...)
}

func (d *rawDevice) uploadHead(head audit.Head, seqs ...uint64) *protocol.AuditAck {
	d.t.Helper()
	d.nextID++
	sh := audit.SignHead(d.priv, d.id, head)
	up := &protocol.AuditUpload{ID: d.nextID, Head: protocol.SignedHead{Seq: sh.Seq, Hash: sh.Hash[:], Sig: sh.Signature}}
	for _, s := range seqs {
		up.Seqs = append(up.Seqs, s)
		up.Events = append(up.Events, d.events[s-1].Canonical())
	}
	d.send(up)
	ack, ok := d.receive().(*protocol.AuditAck)
	if !ok || ack.ID != up.ID {
		d.t.Fatalf("want the acknowledgement of upload %d, got %+v", up.ID, ack)
	}
	return ack
}

// TestAudit_ReplayDuplicateReorder guards the server against uploads no
// honest client sends, made by a hand-written protocol client from real
// canonical events signed with the device key: the same batch sent twice
// (an at-least-once re-send), a batch carrying one event twice, a batch
// out of order, and an old batch replayed later. Every event is stored
// exactly once and nothing is lost; the re-send raises nothing, while the
// malformed batches and the replay raise the alerts docs/audit.md names
// (a batch that is not strictly increasing: reorder; a head behind the
// stored chain: rollback).
func TestAudit_ReplayDuplicateReorder(t *testing.T) {
	t.Parallel()
	srv := newInprocServer(t, inprocOpts{patients: 3, seed: 52})
	nhs := srv.nhs[0]
	srv.addUser("raw", "paramedic", nhs)
	d := newRawDevice(t, srv, "raw")
	for range 4 {
		d.view(nhs)
	}
	oldHead := d.head
	if ack := d.upload(1, 2, 3, 4); ack.Through != 4 || ack.Accepted != 4 || ack.Alerts != 0 {
		t.Fatalf("first upload: %+v", ack)
	}

	// The same batch again, as after a lost acknowledgement.
	if ack := d.upload(1, 2, 3, 4); ack.Through != 4 || ack.Accepted != 0 || ack.Duplicates != 4 || ack.Alerts != 0 {
		t.Fatalf("the same batch re-sent: %+v, want 4 duplicates, nothing stored, no alert", ack)
	}
	noTamperAlerts(t, srv.serverData, d.id)

	// One event twice in a batch.
	d.view(nhs)
	d.view(nhs)
	if ack := d.upload(5, 5, 6); ack.Through != 6 || ack.Accepted != 2 || ack.Duplicates != 1 {
		t.Fatalf("a batch with seq 5 twice: %+v, want 5 and 6 stored once", ack)
	}

	// Out of order.
	d.view(nhs)
	d.view(nhs)
	d.view(nhs)
	before := len(alertsOf(srv.alerts(), "reorder", d.id))
	if ack := d.upload(8, 7, 9); ack.Through != 9 || ack.Accepted != 3 || ack.Alerts == 0 {
		t.Fatalf("a batch out of order: %+v, want all 3 stored and an alert", ack)
	}
	if got := len(alertsOf(srv.alerts(), "reorder", d.id)); got != before+1 {
		t.Fatalf("%d reorder alerts after a batch out of order, want %d", got, before+1)
	}

	// The first batch replayed after the chain moved on, under its old head.
	if ack := d.uploadHead(oldHead, 1, 2, 3, 4); ack.Accepted != 0 || ack.Duplicates != 4 {
		t.Fatalf("an old batch replayed: %+v, want 4 duplicates and nothing stored", ack)
	}
	if as := alertsOf(srv.alerts(), "rollback", d.id); len(as) == 0 {
		t.Fatal("an old batch replayed under its old head raised no rollback alert")
	}

	if got := viewsFrom(t, srv.serverData, nhs, d.id); got != 9 {
		t.Fatalf("%d view events stored, want each of the 9 once", got)
	}
	for _, k := range []string{"gap", "changed", "bad-signature", "malformed"} {
		if as := alertsOf(srv.alerts(), k, d.id); len(as) > 0 {
			t.Fatalf("unexpected %s alert: %+v", k, as)
		}
	}
	verify := srv.admin(runOpts{}, "audit", "verify")
	if verify.code != 0 || !strings.Contains(verify.stdout, "9 events through sequence 9: ok") {
		t.Fatalf("audit verify: every event is stored once and linked, so the chain is whole:\n%s", verify)
	}
}

// showN runs "kmcr show" for each patient, which must print its banner.
func showN(t *testing.T, p *profile, nhs ...string) {
	t.Helper()
	for _, n := range nhs {
		if r := p.mustKmcr("show", n); !strings.Contains(r.stdout, banner(n)) {
			t.Fatalf("show %s printed no summary:\n%s", n, r)
		}
	}
}

// TestAudit_OutboxEventDeletedOnDisk guards the hash chain against an
// event removed from the queue on disk (a raw edit of the bbolt file while
// kmcr is not running): the next sync delivers the rest, "kmcr-server
// alerts" shows a gap naming the missing event, and "kmcr-server audit
// verify" exits non-zero.
func TestAudit_OutboxEventDeletedOnDisk(t *testing.T) {
	t.Parallel()
	srv := newInprocServer(t, inprocOpts{patients: 6, seed: 53})
	srv.addUser("para", "paramedic", srv.nhs...)
	p := newProfile(t)
	c := enrolCore(t, p, srv.url(), srv.ca, "para", coreOpts{}, srv.logs.prefixed("client: "))
	device := c.Profile().DeviceID
	c.Close()

	// The login event (seq 1) went with the first sync; these are 2 to 6.
	viewed := srv.nhs[:5]
	showN(t, p, viewed...)
	const deleted = 4 // the view of viewed[2]
	db, err := bolt.Open(filepath.Join(p.dir, "cache.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("outbox"))
		if b.Stats().KeyN != 5 {
			return fmt.Errorf("%d queued events, want 5", b.Stats().KeyN)
		}
		return b.Delete(binary.BigEndian.AppendUint64(nil, deleted))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	p.mustKmcr("sync", "--once")
	if st := p.status(); st.PendingAuditEvents != 0 {
		t.Fatalf("%d events still queued", st.PendingAuditEvents)
	}
	gaps := alertsOf(srv.alerts(), "gap", device)
	if len(gaps) != 1 || !strings.Contains(gaps[0].Detail, fmt.Sprintf("event %d is missing", deleted)) {
		t.Fatalf("want one gap alert naming event %d, got %+v", deleted, gaps)
	}
	if text := srv.mustAdmin("alerts"); !strings.Contains(text.stdout, "gap") || !strings.Contains(text.stdout, device) {
		t.Fatalf("kmcr-server alerts does not list the gap:\n%s", text)
	}
	verify := srv.admin(runOpts{}, "audit", "verify")
	if verify.code == 0 || !strings.Contains(verify.stdout, "BROKEN") || !strings.Contains(verify.stdout, "gap") {
		t.Fatalf("audit verify with a deleted event: want a non-zero exit naming the gap:\n%s", verify)
	}
	for i, n := range viewed {
		want := 1
		if i == deleted-2 {
			want = 0
		}
		if got := viewsFrom(t, srv.serverData, n, device); got != want {
			t.Fatalf("%s: %d views stored, want %d", n, got, want)
		}
	}
}

// copyDir copies a profile folder (flat) to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// TestAudit_RestoredOlderCache guards against a rolled-back queue: an older
// copy of the profile is restored after its later events were delivered,
// and the client goes on viewing from it. The server raises a rollback
// alert, keeps the conflicting events aside (nothing is lost), and audit
// verify exits non-zero.
func TestAudit_RestoredOlderCache(t *testing.T) {
	t.Parallel()
	srv := newInprocServer(t, inprocOpts{patients: 6, seed: 54})
	srv.addUser("para", "paramedic", srv.nhs...)
	p := newProfile(t)
	c := enrolCore(t, p, srv.url(), srv.ca, "para", coreOpts{}, srv.logs.prefixed("client: "))
	device := c.Profile().DeviceID
	c.Close()

	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, p.dir, backup)
	showN(t, p, srv.nhs[0], srv.nhs[1])
	p.mustKmcr("sync", "--once")
	noTamperAlerts(t, srv.serverData, device)

	copyDir(t, backup, p.dir)
	showN(t, p, srv.nhs[2], srv.nhs[3], srv.nhs[4])
	if st := p.status(); st.PendingAuditEvents != 3 {
		t.Fatalf("the restored cache queues %d events, want 3", st.PendingAuditEvents)
	}
	r := p.kmcr(runOpts{}, "sync", "--once")
	t.Logf("sync from the restored cache: exit %d\n%s", r.code, r.stderr)

	if as := alertsOf(srv.alerts(), "rollback", device); len(as) == 0 {
		t.Fatalf("no rollback alert after a restored cache synced; alerts: %+v", srv.alerts())
	}
	verify := srv.admin(runOpts{}, "audit", "verify")
	if verify.code == 0 || !strings.Contains(verify.stdout, "second, different version") {
		t.Fatalf("audit verify after a rollback: want a non-zero exit naming the conflicting versions:\n%s", verify)
	}
	// The views made before the restore stay stored; the ones made from the
	// restored copy reused their sequence numbers and are kept aside (the
	// third, seq 4, is new and stored).
	for i, want := range []int{1, 1, 0, 0, 1} {
		if got := viewsFrom(t, srv.serverData, srv.nhs[i], device); got != want {
			t.Errorf("%s: %d views in the access log, want %d", srv.nhs[i], got, want)
		}
	}
	if !strings.Contains(verify.stdout, "sequence 2: a second") || !strings.Contains(verify.stdout, "sequence 3: a second") {
		t.Fatalf("the conflicting copies of sequences 2 and 3 are not reported as kept aside:\n%s", verify)
	}
}

// TestAudit_DeviceClockMovedTwoDays guards against a wrong device clock: a
// laptop whose clock runs two days ahead, and then is set right, still
// delivers every view event; the server raises clock-skew alerts (the
// events order by sequence, not clock) and the chain stays intact.
func TestAudit_DeviceClockMovedTwoDays(t *testing.T) {
	t.Parallel()
	srv := newInprocServer(t, inprocOpts{patients: 6, seed: 55})
	srv.addUser("para", "paramedic", srv.nhs...)
	p := newProfile(t)
	c := enrolCore(t, p, srv.url(), srv.ca, "para", coreOpts{}, srv.logs.prefixed("client: "))
	device := c.Profile().DeviceID
	c.Close()

	ahead := func() time.Time { return time.Now().Add(48 * time.Hour) }
	syncViews := func(now func() time.Time, nhs ...string) {
		t.Helper()
		c := openCore(t, p, coreOpts{now: now}, srv.logs.prefixed("client: "))
		defer c.Close()
		if err := c.UnlockForCommand([]byte(p.pass)); err != nil {
			t.Fatal(err)
		}
		for _, n := range nhs {
			if _, err := c.OpenPatient(n, nil); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.SyncOnce(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if st := c.Status(); st.PendingAuditEvents != 0 {
			t.Fatalf("%d events still queued", st.PendingAuditEvents)
		}
	}
	syncViews(ahead, srv.nhs[0], srv.nhs[1], srv.nhs[2])
	skews := alertsOf(srv.alerts(), "clock-skew", device)
	if len(skews) == 0 {
		t.Fatal("no clock-skew alert for events two days in the future")
	}
	syncViews(nil, srv.nhs[3], srv.nhs[4])
	if got := alertsOf(srv.alerts(), "clock-skew", device); len(got) <= len(skews) {
		t.Fatalf("no clock-skew alert when the clock went back two days: %+v", got)
	}
	for _, n := range srv.nhs[:5] {
		if got := viewsFrom(t, srv.serverData, n, device); got != 1 {
			t.Fatalf("%s: %d views stored, want 1", n, got)
		}
	}
	for _, k := range tamperAlerts {
		if as := alertsOf(srv.alerts(), k, device); len(as) > 0 {
			t.Fatalf("a wrong clock raised a %s alert: %+v", k, as)
		}
	}
	if r := srv.admin(runOpts{}, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify after a clock change:\n%s", r)
	}
}
