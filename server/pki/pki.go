// Package pki makes the private certificate authority and the TLS server
// certificate that "kmcr-server init" writes into the data directory. A
// client trusts exactly that CA (kmcr enrol --ca FILE), never the system
// roots, so a care record server cannot be impersonated by any public CA.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside the data directory.
const (
	CAFile      = "ca.pem"
	CAKeyFile   = "ca-key.pem"
	CertFile    = "server.pem"
	CertKeyFile = "server-key.pem"
)

// Validity periods: a CA outlives many server certificates; a server
// certificate stays under the 398 days browsers and TLS stacks accept.
const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 397 * 24 * time.Hour
)

// ErrExists is returned by Init when the directory already holds a CA.
var ErrExists = errors.New("a CA already exists in this data directory")

// Init creates a new CA and a server certificate for hosts (host names or
// IP addresses) in dir, and returns the CA certificate's path. Private keys
// are written with mode 0600.
func Init(dir string, hosts []string, now time.Time) (string, error) {
	return InitCAKeyAt(dir, filepath.Join(dir, CAKeyFile), hosts, now)
}

// InitCAKeyAt is Init writing the CA's private key to caKeyPath (outside
// the data directory, say on removable media): the server never needs it
// to run, only to issue a new server certificate. It refuses to replace
// an existing file there.
func InitCAKeyAt(dir, caKeyPath string, hosts []string, now time.Time) (string, error) {
	caPath := filepath.Join(dir, CAFile)
	if _, err := os.Stat(caPath); err == nil {
		return caPath, ErrExists
	}
	if _, err := os.Lstat(caKeyPath); err == nil {
		return "", fmt.Errorf("%s already exists: give a new file for the CA key", caKeyPath)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kmcr-server private CA", Organization: []string{"kmcr"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", fmt.Errorf("creating CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", err
	}
	if err := writeKey(caKeyPath, caKey); err != nil {
		return "", err
	}
	if err := writePEM(filepath.Join(dir, CAFile), "CERTIFICATE", caDER, 0o644); err != nil {
		return "", err
	}
	if err := Issue(dir, caCert, caKey, hosts, now); err != nil {
		return "", err
	}
	return caPath, nil
}

// Issue writes a server certificate for hosts signed by the CA.
func Issue(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kmcr-server", Organization: []string{"kmcr"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("creating server certificate: %w", err)
	}
	if err := writeKey(filepath.Join(dir, CertKeyFile), key); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, CertFile), "CERTIFICATE", der, 0o644)
}

// LoadServer loads the server certificate and key from dir.
func LoadServer(dir string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, CertKeyFile))
	if err != nil {
		return c, fmt.Errorf("loading the TLS certificate (run \"kmcr-server init\" first): %w", err)
	}
	return c, nil
}

// LoadCAPool reads a CA certificate file into a pool for a TLS client.
func LoadCAPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ServerTLS returns the server's TLS configuration: TLS 1.2 at least.
func ServerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|noFollow, mode)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
