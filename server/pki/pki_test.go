package pki

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInit_TLSHandshake checks a client trusting only the CA file can
// complete a TLS handshake with the issued certificate on 127.0.0.1 and
// localhost, and that key files are private.
func TestInit_TLSHandshake(t *testing.T) {
	dir := t.TempDir()
	caPath, err := Init(dir, []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CAKeyFile, CertKeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v", f, st.Mode(), err)
		}
	}
	cert, err := LoadServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := LoadCAPool(caPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerTLS(cert))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, host := range []string{"127.0.0.1", "localhost"} {
		c, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), &tls.Config{RootCAs: pool, ServerName: host})
		if err != nil {
			t.Fatalf("handshake as %s: %v", host, err)
		}
		c.Close()
	}
	if _, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Fatal("system roots must not trust the private CA")
	}
	if _, err := Init(dir, nil, time.Now()); !errors.Is(err, ErrExists) {
		t.Fatalf("second Init = %v; want ErrExists", err)
	}
}
