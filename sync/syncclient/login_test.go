package syncclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"kmcr/sync/protocol"
)

func loginConfig(fs *fakeServer) Config {
	return Config{Server: fs.url(), TLS: fs.clientTLS(), CAFile: testCAFile}
}

func loginRequest(password string) protocol.LoginRequest {
	return protocol.LoginRequest{User: "amy", Password: password, DeviceID: "device-1", PublicKey: make([]byte, 32), Host: "ambulance-7"}
}

// TestLogin_Success checks a right password returns a complete token answer.
func TestLogin_Success(t *testing.T) {
	fs := newFakeServer(t, 0)
	tr, err := Login(context.Background(), loginConfig(fs), loginRequest(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.ExpiresAt.IsZero() || tr.User.Role != "paramedic" {
		t.Fatalf("incomplete answer %+v", tr)
	}
	if fs.snapshot().logins != 1 {
		t.Fatal("server did not see one login")
	}
}

// TestLogin_Refusals checks each refusal maps to its typed error, and a
// revoked device is wiped.
func TestLogin_Refusals(t *testing.T) {
	tests := []struct {
		name     string
		password string
		revoked  bool
		want     error
		wipe     bool
	}{
		{"bad password", "wrong", false, ErrBadLogin, false},
		{"device revoked", testPassword, true, ErrDeviceRevoked, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t, 0)
			fs.revoked = tt.revoked
			app := newFakeApplier()
			cfg := loginConfig(fs)
			cfg.Applier = app
			tr, err := Login(context.Background(), cfg, loginRequest(tt.password))
			if !errors.Is(err, tt.want) || tr != nil {
				t.Fatalf("Login = %v, %v; want %v", tr, err, tt.want)
			}
			if _, _, _, wiped, _, _ := app.view(); (len(wiped) > 0) != tt.wipe {
				t.Fatalf("wiped %v; want wipe %v", wiped, tt.wipe)
			}
			var ae *APIError
			if !tt.wipe && (!errors.As(err, &ae) || ae.Status != 401 || ae.Code != protocol.ErrCodeBadLogin) {
				t.Fatalf("error %v is not the server's APIError", err)
			}
		})
	}
}

// TestLogin_UntrustedCertificate checks a certificate not signed by the
// configured CA is named as such, with the file.
func TestLogin_UntrustedCertificate(t *testing.T) {
	fs := newFakeServer(t, 0)
	cfg := loginConfig(fs)
	cfg.TLS = &tls.Config{RootCAs: x509.NewCertPool()}
	_, err := Login(context.Background(), cfg, loginRequest(testPassword))
	if !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), "not signed by the CA in "+testCAFile) {
		t.Fatalf("Login = %v; want a certificate error naming %s", err, testCAFile)
	}
}

// TestLogin_ServerDown checks an unreachable server says so.
func TestLogin_ServerDown(t *testing.T) {
	fs := newFakeServer(t, 0)
	cfg := loginConfig(fs)
	fs.close()
	_, err := Login(context.Background(), cfg, loginRequest(testPassword))
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "server unreachable: ") {
		t.Fatalf("Login = %v; want server unreachable", err)
	}
}

// TestNew_RejectsBadConfig checks configuration mistakes are caught early.
func TestNew_RejectsBadConfig(t *testing.T) {
	good := Config{Server: "wss://127.0.0.1:8443", DeviceID: "d", Applier: newFakeApplier(), Tokens: &fakeTokens{}}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"plain ws", func(c *Config) { c.Server = "ws://127.0.0.1:8443" }},
		{"https", func(c *Config) { c.Server = "https://127.0.0.1:8443" }},
		{"query", func(c *Config) { c.Server = "wss://127.0.0.1:8443/?token=x" }},
		{"no device", func(c *Config) { c.DeviceID = "" }},
		{"no applier", func(c *Config) { c.Applier = nil }},
		{"no tokens", func(c *Config) { c.Tokens = nil }},
		{"window", func(c *Config) { c.Window = protocol.MaxWindow + 1 }},
		{"read before ping", func(c *Config) { c.Timeouts = protocol.Timeouts{Ping: 2, Read: 1, Write: 1} }},
		{"backoff", func(c *Config) { c.Backoff = Backoff{Base: 2, Cap: 1, StableAfter: 1} }},
	}
	if _, err := New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

// TestNew_RaisesTLSVersion checks TLS below 1.2 is never offered.
func TestNew_RaisesTLSVersion(t *testing.T) {
	c, err := New(Config{Server: "wss://127.0.0.1:8443", DeviceID: "d", Applier: newFakeApplier(), Tokens: &fakeTokens{},
		TLS: &tls.Config{MinVersion: tls.VersionTLS10}})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.TLS.MinVersion != tls.VersionTLS12 || c.node().api != "https://127.0.0.1:8443" || c.node().sync != "wss://127.0.0.1:8443"+protocol.PathSync {
		t.Fatalf("config %v %+v", c.cfg.TLS.MinVersion, c.node())
	}
}
