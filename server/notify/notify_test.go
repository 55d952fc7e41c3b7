package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/notify"
	"kmcr/server/store"
)

// relay is a real SMTP server (go-smtp) on loopback that keeps what it
// accepts, and refuses while refusing is set.
type relay struct {
	addr string
	mu   sync.Mutex
	msgs []mail
	// refuse makes DATA fail with a temporary error.
	refuse bool
}

type mail struct {
	From string
	To   []string
	Data string
}

func newRelay(t *testing.T) *relay {
	t.Helper()
	r := &relay{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	s.Domain = "relay.test"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return r
}

func (r *relay) received() []mail {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mail(nil), r.msgs...)
}

func (r *relay) setRefuse(v bool) {
	r.mu.Lock()
	r.refuse = v
	r.mu.Unlock()
}

type relaySession struct {
	r    *relay
	from string
	to   []string
}

func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }
func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.r.msgs = append(s.r.msgs, mail{From: s.from, To: append([]string(nil), s.to...), Data: string(b)})
	return nil
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	nhsA = "9434765919"
	nhsB = "9434765870"
)

// fixture puts the organisations and users the accesses name into st.
func fixture(t *testing.T, st store.Store) {
	t.Helper()
	for _, o := range []store.Org{
		{ODS: "RKA01", Name: "Kent and Medway Ambulance Service", Kind: "ambulance", DSPT: "met"},
		{ODS: "G82001", Name: "Riverside Surgery", Kind: "gp", DSPT: "met"},
	} {
		if err := st.AddOrg(o); err != nil && !errors.Is(err, store.ErrExists) {
			t.Fatal(err)
		}
	}
	for _, u := range []store.User{{Name: "priya", Role: "paramedic", Org: "RKA01"}, {Name: "sam", Role: "paramedic", Org: "RKA01"}, {Name: "gill", Role: "community", Org: "G82001"}} {
		if err := st.AddUser(u); err != nil && !errors.Is(err, store.ErrExists) {
			t.Fatal(err)
		}
	}
}

func user(t *testing.T, st store.Store, name string) store.User {
	t.Helper()
	u, err := st.User(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func access(action audit.Action, seq uint64, who, name, nhs string, at time.Time) audit.Event {
	e := audit.Event{Seq: seq, Action: action, Occurred: at, User: audit.Actor{ID: who, Name: name, Role: "paramedic"},
		Device: audit.Device{ID: "dev-" + who, Host: "laptop"}, Patient: record.NHSNumber(nhs), Sections: []string{"allergies"}, Purpose: "ETREAT",
		Outcome: audit.Outcome{Result: audit.ResultSuccess}}
	if action == audit.ActionBreakGlass {
		e.BreakGlass = &audit.BreakGlass{ReasonCode: "unconscious", ReasonText: "found collapsed"}
		e.Sections = nil
	}
	return e
}

func newSender(t *testing.T, st store.Store, r *relay, node string, clk *clock) *notify.Sender {
	t.Helper()
	s, err := notify.New(notify.Config{Store: st, Relay: r.addr, From: "Care record <no-reply@record.test>", TLS: notify.TLSNone,
		PortalURL: "https://record.test/my/", Node: node, Now: clk.Now, RetryMin: time.Minute, RetryMax: 10 * time.Minute, ClaimTimeout: 5 * time.Minute, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// drain sends until nothing is due.
func drain(t *testing.T, s *notify.Sender) {
	t.Helper()
	for range 100 {
		more, err := s.SendOne(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			return
		}
	}
	t.Fatal("the outbox never emptied")
}

func openBolt(t *testing.T, dir string) *store.Bolt {
	t.Helper()
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestNotify_OneEmailPerEvent_NoResendAfterRestart: a break-glass and the
// first view by a new organisation each send one email through a real
// SMTP relay, saying who or which organisation and when and linking to
// the portal, with no NHS number; a second view by the same organisation,
// the same upload queued again and a restart of the process send nothing
// more; a patient with no address has the portal listing only.
func TestNotify_OneEmailPerEvent_NoResendAfterRestart(t *testing.T) {
	dir := t.TempDir()
	st := openBolt(t, dir)
	fixture(t, st)
	r := newRelay(t)
	clk := &clock{now: time.Date(2026, 12, 3, 14, 30, 0, 0, time.UTC)}
	if err := st.SetContact(nhsA, "patient.a@example.org"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 14, 2, 0, 0, time.UTC)
	upload := []audit.Event{
		access(audit.ActionBreakGlass, 1, "priya", "Priya Raman", nhsA, at),
		access(audit.ActionView, 2, "priya", "Priya Raman", nhsA, at.Add(time.Minute)),
		access(audit.ActionView, 3, "priya", "Priya Raman", nhsB, at.Add(2*time.Minute)), // no address
	}
	if err := notify.Queue(st, "dev-priya", user(t, st, "priya"), upload, clk.Now()); err != nil {
		t.Fatal(err)
	}
	// Another paramedic of the same trust, and the same upload again.
	if err := notify.Queue(st, "dev-sam", user(t, st, "sam"), []audit.Event{access(audit.ActionView, 1, "sam", "Sam Okafor", nhsA, at.Add(5*time.Minute))}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := notify.Queue(st, "dev-priya", user(t, st, "priya"), upload, clk.Now()); err != nil {
		t.Fatal(err)
	}
	// A community worker of a GP practice: a new organisation.
	if err := notify.Queue(st, "dev-gill", user(t, st, "gill"), []audit.Event{access(audit.ActionView, 1, "gill", "Gill Hart", nhsA, at.Add(10*time.Minute))}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, st, r, "node-a", clk)
	drain(t, s)
	got := r.received()
	if len(got) != 2 {
		t.Fatalf("%d emails; want 2 (the break-glass and the GP practice's first view): %+v", len(got), got)
	}
	var bg, first string
	for _, m := range got {
		if len(m.To) != 1 || m.To[0] != "patient.a@example.org" || m.From != "Care record <no-reply@record.test>" && m.From != "no-reply@record.test" {
			t.Errorf("envelope from %q to %v", m.From, m.To)
		}
		if strings.Contains(m.Data, nhsA) || strings.Contains(m.Data, record.NHSNumber(nhsA).String()) || strings.Contains(m.Data, "allergies") || strings.Contains(m.Data, "collapsed") {
			t.Errorf("the email carries patient data:\n%s", m.Data)
		}
		if !strings.Contains(m.Data, "https://record.test/my/who-viewed") {
			t.Errorf("the email does not link to the portal:\n%s", m.Data)
		}
		switch {
		case strings.Contains(m.Data, "emergency access"):
			bg = m.Data
		case strings.Contains(m.Data, "for the first time"):
			first = m.Data
		}
	}
	if !strings.Contains(bg, "Priya Raman of Kent and Medway Ambulance Service") || !strings.Contains(bg, "3 December 2026 at 14:02") {
		t.Errorf("the break-glass email does not say who and when:\n%s", bg)
	}
	if !strings.Contains(first, "staff at Riverside Surgery") || !strings.Contains(first, "3 December 2026 at 14:12") {
		t.Errorf("the first-view email does not say which organisation and when:\n%s", first)
	}
	// The portal lists them all, the patient with no address included.
	if ns, _ := st.PatientNotifications(nhsA); len(ns) != 2 || ns[0].Org != "G82001" || ns[1].Kind != store.NotifyBreakGlass {
		t.Fatalf("patient A's notifications: %+v", ns)
	}
	if ns, _ := st.PatientNotifications(nhsB); len(ns) != 1 || ns[0].Sent.IsZero() || ns[0].To != "" {
		t.Fatalf("patient B (no address): %+v; want one, done without an email", ns)
	}

	// A restart: the same store reopened, a new sender, and the devices
	// sending their uploads again.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openBolt(t, dir)
	clk.add(time.Hour)
	if err := notify.Queue(st, "dev-priya", user(t, st, "priya"), upload, clk.Now()); err != nil {
		t.Fatal(err)
	}
	drain(t, newSender(t, st, r, "node-a2", clk))
	if n := len(r.received()); n != 2 {
		t.Fatalf("%d emails after the restart; want still 2", n)
	}
}

// TestNotify_RelayFailureRetriesWithBackoff: while the relay refuses,
// the entry waits (RetryMin, doubling) and nothing is marked sent; once
// it accepts, one email goes.
func TestNotify_RelayFailureRetriesWithBackoff(t *testing.T) {
	st := openBolt(t, t.TempDir())
	fixture(t, st)
	r := newRelay(t)
	r.setRefuse(true)
	clk := &clock{now: time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)}
	_ = st.SetContact(nhsA, "patient.a@example.org")
	if err := notify.Queue(st, "dev-priya", user(t, st, "priya"), []audit.Event{access(audit.ActionBreakGlass, 1, "priya", "Priya Raman", nhsA, clk.Now())}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, st, r, "node-a", clk)
	drain(t, s)
	ids := func() store.Notification {
		ns, _ := st.PatientNotifications(nhsA)
		for _, n := range ns {
			if n.Kind == store.NotifyBreakGlass {
				return n
			}
		}
		t.Fatal("no break-glass entry")
		return store.Notification{}
	}
	n := ids()
	if !n.Sent.IsZero() || n.Attempts != 1 || !n.NextAttempt.Equal(clk.Now().Add(time.Minute)) || !strings.Contains(n.LastError, "try again later") {
		t.Fatalf("after a refusal: %+v", n)
	}
	clk.add(30 * time.Second)
	drain(t, s) // not due yet
	if n := ids(); n.Attempts != 1 {
		t.Fatalf("retried before the backoff: %+v", n)
	}
	clk.add(30 * time.Second)
	drain(t, s) // refused again: the wait doubles
	if n := ids(); n.Attempts != 2 || !n.NextAttempt.Equal(clk.Now().Add(2*time.Minute)) {
		t.Fatalf("second refusal: %+v; want the next attempt 2 minutes on", n)
	}
	r.setRefuse(false)
	clk.add(2 * time.Minute)
	drain(t, s)
	if got := r.received(); len(got) != 1 {
		t.Fatalf("%d emails once the relay accepts; want 1", len(got))
	}
	if n := ids(); n.Sent.IsZero() || n.To != "patient.a@example.org" {
		t.Fatalf("not marked sent: %+v", n)
	}
}

// TestNotify_DeadNodesClaimIsRetaken: an entry claimed by a node that
// stopped before sending goes, once, after ClaimTimeout, from another.
func TestNotify_DeadNodesClaimIsRetaken(t *testing.T) {
	st := openBolt(t, t.TempDir())
	fixture(t, st)
	r := newRelay(t)
	clk := &clock{now: time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC)}
	_ = st.SetContact(nhsA, "patient.a@example.org")
	if err := notify.Queue(st, "dev-gill", user(t, st, "gill"), []audit.Event{access(audit.ActionView, 1, "gill", "Gill Hart", nhsA, clk.Now())}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.ClaimNotification("node-dead", clk.Now(), 5*time.Minute); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	s := newSender(t, st, r, "node-b", clk)
	drain(t, s)
	if n := len(r.received()); n != 0 {
		t.Fatalf("%d emails while the claim is young", n)
	}
	clk.add(5 * time.Minute)
	drain(t, s)
	drain(t, s)
	if n := len(r.received()); n != 1 {
		t.Fatalf("%d emails after the claim timed out; want 1", n)
	}
}

// TestNotify_ServeSendsWhenWoken: the service sends soon after Wake.
func TestNotify_ServeSendsWhenWoken(t *testing.T) {
	st := openBolt(t, t.TempDir())
	fixture(t, st)
	r := newRelay(t)
	_ = st.SetContact(nhsA, "patient.a@example.org")
	s, err := notify.New(notify.Config{Store: st, Relay: r.addr, From: "no-reply@record.test", TLS: notify.TLSNone, PortalURL: "https://record.test/my/", Node: "n", Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	if err := notify.Queue(st, "dev-gill", user(t, st, "gill"), []audit.Event{access(audit.ActionView, 1, "gill", "Gill Hart", nhsA, time.Now().UTC())}, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	s.Wake()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(r.received()); n != 1 {
		t.Fatalf("%d emails after Wake; want 1", n)
	}
}

// TestNotify_ConfigRefusals: bad flags are told apart before serving.
func TestNotify_ConfigRefusals(t *testing.T) {
	st := openBolt(t, t.TempDir())
	for _, c := range []struct {
		cfg  notify.Config
		want string
	}{
		{notify.Config{Store: st, Node: "n", Relay: "mail.example.org", From: "a@b.org"}, "HOST:PORT"},
		{notify.Config{Store: st, Node: "n", Relay: "mail.example.org:25", From: "not an address"}, "not an email address"},
		{notify.Config{Store: st, Node: "n", Relay: "mail.example.org:25", From: "a@b.org", TLS: "maybe"}, "starttls, tls or none"},
		{notify.Config{Store: st, Node: "n", Relay: "mail.example.org:25", From: "a@b.org", TLS: notify.TLSNone, Username: "u"}, "needs TLS"},
	} {
		if _, err := notify.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v; want an error saying %q", c.cfg, err, c.want)
		}
	}
	_ = fmt.Sprint()
}
