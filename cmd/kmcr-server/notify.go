package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"

	"kmcr/server/notify"
	"kmcr/server/store"
)

// notifyFlags are serve's flags for the patients' email notifications.
type notifyFlags struct {
	relay, from, tlsMode, ca, user, passwordFile, portalURL *string
}

func addNotifyFlags(fs *flag.FlagSet) notifyFlags {
	return notifyFlags{
		relay:        fs.String("smtp-relay", "", "the SMTP relay (HOST:PORT) that sends patients their notifications by email (none: the portal lists them only)"),
		from:         fs.String("smtp-from", "", "the sender address of those emails, e.g. 'Care record <no-reply@record.example.nhs.uk>'"),
		tlsMode:      fs.String("smtp-tls", notify.TLSStartTLS, "TLS to the relay: starttls (required), tls (from the first byte, port 465) or none (loopback relays only)"),
		ca:           fs.String("smtp-ca", "", "a PEM file of CA certificates to check the relay's certificate with (default: the system's)"),
		user:         fs.String("smtp-user", "", "the user name to authenticate to the relay with (AUTH PLAIN, over TLS only)"),
		passwordFile: fs.String("smtp-password-file", "", "a file holding the relay password for --smtp-user"),
		portalURL:    fs.String("portal-url", "", "where citizens reach the portal, for the link in emails (default https://ADDR/my/)"),
	}
}

// check refuses combinations that cannot work before anything starts.
func (f notifyFlags) check() error {
	if *f.relay == "" {
		if *f.from != "" || *f.user != "" || *f.passwordFile != "" || *f.ca != "" {
			return fmt.Errorf("%w: --smtp-from, --smtp-user, --smtp-password-file and --smtp-ca need --smtp-relay", errUsage)
		}
		return nil
	}
	if *f.from == "" {
		return fmt.Errorf("%w: --smtp-relay needs --smtp-from", errUsage)
	}
	if _, _, err := net.SplitHostPort(*f.relay); err != nil {
		return fmt.Errorf("%w: --smtp-relay %q is not HOST:PORT", errUsage, *f.relay)
	}
	if _, err := mail.ParseAddress(*f.from); err != nil {
		return fmt.Errorf("%w: --smtp-from %q is not an email address", errUsage, *f.from)
	}
	switch *f.tlsMode {
	case notify.TLSStartTLS, notify.TLSImplicit, notify.TLSNone:
	default:
		return fmt.Errorf("%w: --smtp-tls is starttls, tls or none, not %q", errUsage, *f.tlsMode)
	}
	if (*f.user == "") != (*f.passwordFile == "") {
		return fmt.Errorf("%w: --smtp-user and --smtp-password-file go together", errUsage)
	}
	if *f.tlsMode == notify.TLSNone && *f.user != "" {
		return fmt.Errorf("%w: --smtp-user needs TLS (--smtp-tls starttls or tls): the password would cross in the clear", errUsage)
	}
	if *f.tlsMode == notify.TLSNone {
		host, _, err := net.SplitHostPort(*f.relay)
		ip := net.ParseIP(host)
		if err != nil || ((ip == nil || !ip.IsLoopback()) && host != "localhost") {
			return fmt.Errorf("%w: --smtp-tls none is only allowed for a relay on a loopback address (the emails would cross the network in the clear)", errUsage)
		}
	}
	if *f.portalURL != "" && !strings.HasPrefix(*f.portalURL, "https://") {
		return fmt.Errorf("%w: --portal-url must be an https:// address", errUsage)
	}
	return nil
}

// sender makes the notification sender; base is https://HOST:PORT.
func (f notifyFlags) sender(st store.Store, base string, logf func(string, ...any)) (*notify.Sender, error) {
	cfg := notify.Config{Store: st, Relay: *f.relay, From: *f.from, TLS: *f.tlsMode, Username: *f.user, PortalURL: *f.portalURL, Logf: logf}
	if cfg.PortalURL == "" {
		cfg.PortalURL = base + "/my/"
	}
	host, _ := os.Hostname()
	cfg.Node = fmt.Sprintf("%s/%d", host, os.Getpid())
	if *f.passwordFile != "" {
		b, err := os.ReadFile(*f.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("reading --smtp-password-file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	if *f.ca != "" {
		b, err := os.ReadFile(*f.ca)
		if err != nil {
			return nil, fmt.Errorf("reading --smtp-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--smtp-ca %s holds no PEM certificate", *f.ca)
		}
		cfg.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	s, err := notify.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return s, nil
}
