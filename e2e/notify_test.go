package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"kmcr/record"
	"kmcr/server/pki"
)

// mailbox is a real SMTP server (go-smtp) on loopback keeping what it
// accepts.
type mailbox struct {
	addr string
	mu   sync.Mutex
	msgs []string
}

func newMailbox(t *testing.T) *mailbox {
	t.Helper()
	m := &mailbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{m: m}, nil }))
	s.Domain = "relay.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return m
}

func (m *mailbox) received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs...)
}

type mailboxSession struct {
	m  *mailbox
	to string
}

func (s *mailboxSession) Reset()                                    {}
func (s *mailboxSession) Logout() error                             { return nil }
func (s *mailboxSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }
func (s *mailboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, "RCPT "+s.to+"\n"+string(b))
	s.m.mu.Unlock()
	return nil
}

// TestNotify_FirstViewEmailedOnceAcrossARestart runs the real binaries:
// "kmcr-server serve --smtp-relay" with the development provider; the
// citizen signs in (their address kept from the sign-in); a paramedic's
// view made with "kmcr show" reaches the record with "kmcr sync --once"
// and the patient gets one email naming the trust; after a restart of the
// server, another view by the same trust and the device's sync send
// nothing more, and the home page lists the notification.
func TestNotify_FirstViewEmailedOnceAcrossARestart(t *testing.T) {
	d := newServerData(t, 3, 7)
	nhs := d.nhs[0]
	d.mustAdmin("org", "add", "--ods", "RKA01", "--name", "Kent and Medway Ambulance Service", "--kind", "ambulance", "--dspt", "met")
	if r := d.admin(runOpts{stdin: userPassword("amy") + "\n"}, "user", "add", "--name", "amy", "--role", "paramedic", "--org", "RKA01", "--password-stdin"); r.code != 0 {
		t.Fatalf("user add:\n%s", r)
	}
	d.mustAdmin("caseload", "add", "--user", "amy", "--nhs", nhs)
	mb := newMailbox(t)
	flags := []string{"--dev-idp", "--smtp-relay", mb.addr, "--smtp-from", "Care record <no-reply@record.test>", "--smtp-tls", "none"}
	srv := d.serve("127.0.0.1:0", flags...)

	// The citizen signs in through the development provider.
	pool, err := pki.LoadCAPool(d.ca)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://" + srv.addr
	get := func(u string) string {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	form := url.Values{}
	for _, m := range portalHidden.FindAllStringSubmatch(get(base+"/my/signin"), -1) {
		form.Set(m[1], m[2])
	}
	form.Set("nhs", record.NHSNumber(nhs).String())
	form.Set("password", "demo citizen")
	form.Set("level", "P9")
	resp, err := c.PostForm(base+"/dev-idp/login", form)
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(home), "We also email you at citizen-") {
		t.Fatalf("the home page does not say where notifications go:\n%s", home)
	}

	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "amy")
	p.mustKmcr("show", nhs)
	p.mustKmcr("sync", "--once")
	eventually(t, 20*time.Second, "the first-view email", func() error {
		if n := len(mb.received()); n != 1 {
			return fmt.Errorf("%d emails received", n)
		}
		return nil
	})
	msg := mb.received()[0]
	if !strings.Contains(msg, "RCPT citizen-") || !strings.Contains(msg, "@demo.invalid") || !strings.Contains(msg, "staff at Kent and Medway Ambulance Service") ||
		!strings.Contains(msg, base+"/my/who-viewed") || strings.Contains(msg, nhs) {
		t.Fatalf("the email:\n%s", msg)
	}

	srv.stop()
	srv = d.serve(srv.addr, flags...)
	p.mustKmcr("show", nhs)
	p.mustKmcr("sync", "--once")
	time.Sleep(3 * time.Second) // the sender is woken at once; give it time to send wrongly
	if n := len(mb.received()); n != 1 {
		t.Fatalf("%d emails after a restart and another view by the same trust; want still 1", n)
	}
	// The session cookie outlived the restart (sealed with the store's key).
	if page := get(base + "/my/"); !strings.Contains(page, "Staff at Kent and Medway Ambulance Service looked at your record for the first time") || !strings.Contains(page, "We emailed you about this") {
		t.Fatalf("the home page does not list the emailed notification:\n%s", page)
	}
}
