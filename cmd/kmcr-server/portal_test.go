package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe_DevIdPRefusedOffLoopback checks --dev-idp is refused on an
// address that is not loopback, and the portal without TLS.
func TestServe_DevIdPRefusedOffLoopback(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runCmd(t, "init", "--data-dir", dir); code != 0 {
		t.Fatal(errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--data-dir", dir, "--dev-idp", "--addr", "0.0.0.0:0"}, "only allowed on a loopback address"},
		{[]string{"serve", "--data-dir", dir, "--dev-idp", "--addr", "192.0.2.1:8443"}, "only allowed on a loopback address"},
		{[]string{"serve", "--data-dir", dir, "--dev-idp", "--addr", "127.0.0.1:0", "--dev-plaintext"}, "needs TLS"},
		{[]string{"serve", "--data-dir", dir, "--oidc-issuer", "https://auth.example", "--addr", "127.0.0.1:0"}, "needs --oidc-client-id"},
		{[]string{"serve", "--data-dir", dir, "--oidc-issuer", "http://auth.example", "--oidc-client-id", "x", "--oidc-client-secret-file", "f", "--addr", "127.0.0.1:0"}, "https://"},
		{[]string{"serve", "--data-dir", dir, "--dev-idp", "--oidc-issuer", "https://auth.example", "--addr", "127.0.0.1:0"}, "cannot both"},
	} {
		code, _, errs := runCmd(t, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
}

// TestServe_SMTPFlagsChecked checks the notification flags are refused,
// before anything starts, when they cannot work.
func TestServe_SMTPFlagsChecked(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runCmd(t, "init", "--data-dir", dir); code != 0 {
		t.Fatal(errs)
	}
	serve := []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--smtp-relay", "127.0.0.1:2525"}, "needs --smtp-from"},
		{[]string{"--smtp-from", "no-reply@record.test"}, "need --smtp-relay"},
		{[]string{"--smtp-relay", "mail.example.org", "--smtp-from", "no-reply@record.test"}, "not HOST:PORT"},
		{[]string{"--smtp-relay", "127.0.0.1:2525", "--smtp-from", "nobody"}, "not an email address"},
		{[]string{"--smtp-relay", "127.0.0.1:2525", "--smtp-from", "no-reply@record.test", "--smtp-tls", "maybe"}, "starttls, tls or none"},
		{[]string{"--smtp-relay", "mail.example.org:25", "--smtp-from", "no-reply@record.test", "--smtp-tls", "none"}, "loopback"},
		{[]string{"--smtp-relay", "127.0.0.1:2525", "--smtp-from", "no-reply@record.test", "--smtp-user", "kmcr"}, "go together"},
		{[]string{"--smtp-relay", "127.0.0.1:2525", "--smtp-from", "no-reply@record.test", "--smtp-tls", "none", "--smtp-user", "kmcr", "--smtp-password-file", "f"}, "needs TLS"},
		{[]string{"--portal-url", "http://record.example", "--smtp-relay", "127.0.0.1:2525", "--smtp-from", "a@b.test"}, "https://"},
	} {
		args := append(append([]string(nil), serve...), c.args...)
		code, _, errs := runCmd(t, args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
}

// TestDevIdPToken checks the token command signs a three-part JWT with the
// key the provider uses, refuses unknown scopes and bad NHS numbers, and
// needs an issuer.
func TestDevIdPToken(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runCmd(t, "init", "--data-dir", dir); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := runCmd(t, "dev-idp", "token", "--data-dir", dir, "--nhs", "9990000018"); code != 1 || !strings.Contains(errs, "serve --dev-idp") {
		t.Fatalf("no issuer known: %d %q", code, errs)
	}
	code, out, errs := runCmd(t, "dev-idp", "token", "--data-dir", dir, "--nhs", "999 000 0018", "--scope", "patient/*.read patient/Observation.write", "--issuer", "https://127.0.0.1:8443/dev-idp")
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token: %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "dev-idp-key.pem")); err != nil {
		t.Fatalf("signing key: %v", err)
	}
	if code, _, errs := runCmd(t, "dev-idp", "token", "--data-dir", dir, "--nhs", "9990000018", "--scope", "user/*.*", "--issuer", "https://x/dev-idp"); code != 2 || !strings.Contains(errs, "unknown scope") {
		t.Fatalf("unknown scope: %d %q", code, errs)
	}
	if code, _, _ := runCmd(t, "dev-idp", "token", "--data-dir", dir, "--nhs", "1234567890", "--issuer", "https://x/dev-idp"); code != 2 {
		t.Fatalf("bad NHS number: %d", code)
	}
}
