package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"kmcr/server/store"
)

// TLS modes of the connection to the relay.
const (
	TLSStartTLS = "starttls" // plain connection, STARTTLS required
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS (a relay on loopback)
)

// Defaults.
const (
	DefaultPoll         = 5 * time.Second
	DefaultClaimTimeout = 5 * time.Minute
	DefaultRetryMin     = 30 * time.Second
	DefaultRetryMax     = time.Hour
	dialTimeout         = 30 * time.Second
)

// Config configures the sender.
type Config struct {
	Store store.Store
	// Relay is the SMTP relay (HOST:PORT); From the envelope and header
	// sender.
	Relay, From string
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone; TLSConfig
	// checks the relay's certificate (nil: the system's roots and the
	// relay's host name).
	TLS       string
	TLSConfig *tls.Config
	// Username and Password, when set, authenticate with AUTH PLAIN
	// (only over TLS).
	Username, Password string
	// PortalURL is where the email sends the patient (https://HOST:PORT/my/).
	PortalURL string
	// Node names this process in claims (host name and process id, say).
	Node string
	// Poll is how often the outbox is looked at when not woken;
	// ClaimTimeout how old a claim must be before another node retakes
	// it; RetryMin and RetryMax bound the backoff after a relay failure.
	Poll, ClaimTimeout, RetryMin, RetryMax time.Duration
	Now                                    func() time.Time
	Logf                                   func(format string, args ...any)
}

// Sender sends the outbox's emails. Run it with Serve.
type Sender struct {
	cfg  Config
	from *mail.Address
	wake chan struct{}
}

// New checks the configuration.
func New(cfg Config) (*Sender, error) {
	if cfg.Store == nil || cfg.Node == "" {
		return nil, errors.New("notify: a store and a node name are required")
	}
	var from *mail.Address
	if cfg.Relay != "" {
		if _, _, err := net.SplitHostPort(cfg.Relay); err != nil {
			return nil, fmt.Errorf("the SMTP relay %q is not HOST:PORT", cfg.Relay)
		}
		var err error
		if from, err = mail.ParseAddress(cfg.From); err != nil {
			return nil, fmt.Errorf("the sender address %q is not an email address", cfg.From)
		}
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("the SMTP TLS mode %q is not starttls, tls or none", cfg.TLS)
	}
	if cfg.Username != "" && cfg.TLS == TLSNone {
		return nil, errors.New("SMTP authentication needs TLS: the password would cross the network in the clear")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Poll, DefaultPoll)
	def(&cfg.ClaimTimeout, DefaultClaimTimeout)
	def(&cfg.RetryMin, DefaultRetryMin)
	def(&cfg.RetryMax, DefaultRetryMax)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Sender{cfg: cfg, from: from, wake: make(chan struct{}, 1)}, nil
}

// Wake makes Serve look at the outbox now (after Queue added entries).
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Serve sends until ctx ends.
func (s *Sender) Serve(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			more, err := s.SendOne(ctx)
			if err != nil {
				s.cfg.Logf("notify: %v", err)
				break
			}
			if !more {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

// SendOne claims one due entry and sends it; more is false when none was
// due. A relay failure is not an error: the entry is retried later.
func (s *Sender) SendOne(ctx context.Context) (more bool, err error) {
	now := s.cfg.Now().UTC()
	n, ok, err := s.cfg.Store.ClaimNotification(s.cfg.Node, now, s.cfg.ClaimTimeout)
	if err != nil || !ok {
		return false, err
	}
	to, err := s.cfg.Store.Contact(n.NHS)
	if err != nil {
		return true, s.retry(n, now, err)
	}
	if to == "" || s.cfg.Relay == "" {
		// Listed in the portal only.
		return true, s.cfg.Store.NotificationSent(n.ID, s.cfg.Node, now, "")
	}
	msg, err := s.message(n, to, now)
	if err != nil {
		return true, s.retry(n, now, err)
	}
	if err := s.send(ctx, rcptAddress(to), msg); err != nil {
		s.cfg.Logf("notify: the SMTP relay did not take notification %s (attempt %d): %v", n.ID, n.Attempts, err)
		return true, s.retry(n, now, err)
	}
	return true, s.cfg.Store.NotificationSent(n.ID, s.cfg.Node, s.cfg.Now().UTC(), to)
}

func (s *Sender) retry(n store.Notification, now time.Time, cause error) error {
	wait := s.cfg.RetryMin
	for i := 1; i < n.Attempts && wait < s.cfg.RetryMax; i++ {
		wait *= 2
	}
	wait = min(wait, s.cfg.RetryMax)
	reason := cause.Error()
	if len(reason) > 500 {
		reason = reason[:500]
	}
	return s.cfg.Store.NotificationRetry(n.ID, s.cfg.Node, now.Add(wait), reason)
}

func (s *Sender) send(ctx context.Context, to string, msg []byte) error {
	host, _, _ := net.SplitHostPort(s.cfg.Relay)
	tc := s.cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	d := net.Dialer{Timeout: dialTimeout}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if s.cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tc}).DialContext(dctx, "tcp", s.cfg.Relay)
	} else {
		conn, err = d.DialContext(dctx, "tcp", s.cfg.Relay)
	}
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	var c *smtp.Client
	if s.cfg.TLS == TLSStartTLS {
		if c, err = smtp.NewClientStartTLS(conn, tc); err != nil {
			conn.Close()
			return err
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return err
		}
	}
	if err := c.SendMail(s.from.Address, []string{to}, bytes.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

// ukTime is the zone emails give times in.
var ukTime = func() *time.Location {
	if l, err := time.LoadLocation("Europe/London"); err == nil {
		return l
	}
	return time.UTC
}()

// Text returns an entry's subject and plain-English body (no NHS number,
// no name of the patient, no clinical detail), given the organisation's
// name.
func Text(n store.Notification, orgName, portalURL string) (subject, body string) {
	when := n.At.In(ukTime).Format("2 January 2006 at 15:04")
	link := strings.TrimSuffix(portalURL, "/") + "/who-viewed"
	switch n.Kind {
	case store.NotifyBreakGlass:
		subject = "Your care record was opened using emergency access"
		body = fmt.Sprintf("On %s, %s of %s used emergency access (break-glass) to open your care record.\r\n\r\n"+
			"Emergency access is used when someone caring for you urgently needs your record and has no other way to see it. They had to give a reason, and every use is checked by a privacy officer.\r\n\r\n", when, n.Who, orgName)
	default:
		subject = "A new organisation looked at your care record"
		body = fmt.Sprintf("On %s, staff at %s looked at your care record for the first time.\r\n\r\n", when, orgName)
	}
	body += "To see who has looked at your record, when and why, sign in to your care record:\r\n" + link + "\r\n\r\n" +
		"If you do not think this was right, contact your GP practice.\r\n\r\n" +
		"This email was sent automatically. Do not reply to it.\r\n"
	return subject, body
}

func (s *Sender) message(n store.Notification, to string, now time.Time) ([]byte, error) {
	orgName := n.Org
	if o, err := s.cfg.Store.Org(n.Org); err == nil {
		orgName = o.Name
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return nil, fmt.Errorf("the patient's address cannot be used: %w", err)
	}
	subject, body := Text(n, orgName, s.cfg.PortalURL)
	sum := sha256.Sum256([]byte(n.ID))
	_, domain, _ := strings.Cut(s.from.Address, "@")
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n", s.from.String(), rcpt.String(), mime.QEncoding.Encode("utf-8", subject),
		now.Format(time.RFC1123Z), hex.EncodeToString(sum[:16]), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n")
	b.WriteString(body)
	return b.Bytes(), nil
}

// rcptAddress is the bare address of a checked recipient.
func rcptAddress(to string) string {
	if a, err := mail.ParseAddress(to); err == nil {
		return a.Address
	}
	return to
}
