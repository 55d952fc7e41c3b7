package core

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"kmcr/audit"
	"kmcr/cache"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// MinPassphrase is the shortest passphrase accepted. The passphrase is one
// of two factors (the device secret in the keyring is the other) and is
// stretched with Argon2id, but it still needs some length.
const MinPassphrase = 8

// EnrolRequest is what enrolment needs from the user.
type EnrolRequest struct {
	Server string // wss://HOST:PORT
	// Servers are further addresses of the same sync service (its other
	// nodes), tried in turn after Server when a node fails. Either may be
	// empty, not both; repeats count once.
	Servers    []string
	CAFile     string // the server's CA certificate (PEM)
	User       string
	Password   string
	Passphrase []byte // protects the local cache
	// DeviceSecretFile, when set, keeps the device secret in this file
	// instead of the OS keyring: the documented alternative for machines
	// without one (see docs/cache-format.md for what it costs).
	DeviceSecretFile string
	Host             string // this computer's name (os.Hostname when empty)
}

// ErrFirstSync wraps a first-sync failure after an enrolment that
// otherwise succeeded: the profile is usable and "kmcr sync" resumes.
var ErrFirstSync = errors.New("enrolled, but the first sync did not finish; run kmcr sync to resume")

// PassphraseHint rates a passphrase for the enrolment screen: a short
// sentence, and whether it is acceptable at all.
func PassphraseHint(p string) (string, bool) {
	n := utf8.RuneCountInString(p)
	classes := 0
	for _, set := range []string{"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"} {
		if strings.ContainsAny(p, set) {
			classes++
		}
	}
	if strings.ContainsFunc(p, func(r rune) bool {
		return !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", r)
	}) {
		classes++
	}
	switch {
	case n < MinPassphrase:
		return fmt.Sprintf("Too short: at least %d characters", MinPassphrase), false
	case n >= 16 || (n >= 12 && classes >= 3):
		return "Strong", true
	case n >= 12 || classes >= 3:
		return "Fair: a longer phrase of several words is stronger", true
	default:
		return "Weak: use a phrase of several words", true
	}
}

// loadCA reads the server's CA certificate into a pool.
func loadCA(path string) (*x509.CertPool, []byte, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("the CA file %s holds no PEM certificate", path)
	}
	return pool, pem, nil
}

func newDeviceID() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "dev-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

// Enrol logs in, registers this device, creates the encrypted cache, and
// runs the first sync, reporting its progress. If everything but the first
// sync succeeded, the error wraps ErrFirstSync and the profile is usable.
func (c *Core) Enrol(ctx context.Context, req EnrolRequest, progress func(SyncState)) error {
	if c.Enrolled() {
		return ErrEnrolled
	}
	pool, pem, err := checkEnrolRequest(&req)
	if err != nil {
		return err
	}
	l, err := c.login(ctx, req, pool)
	if err != nil {
		return err
	}
	p, err := newProfile(req, l)
	if err != nil {
		return err
	}
	if err := c.setUp(req, p, l, pem); err != nil {
		return err
	}
	if err := c.SyncOnce(ctx, progress); err != nil {
		return fmt.Errorf("%w: %w", ErrFirstSync, err)
	}
	return nil
}

// checkEnrolRequest refuses a request that cannot succeed before anything
// is sent, fills in the host name, and reads the CA file.
func checkEnrolRequest(req *EnrolRequest) (*x509.CertPool, []byte, error) {
	if _, ok := PassphraseHint(string(req.Passphrase)); !ok {
		return nil, nil, fmt.Errorf("the passphrase must be at least %d characters", MinPassphrase)
	}
	if req.User == "" || req.Password == "" {
		return nil, nil, errors.New("user name and password are required")
	}
	list := enrolAddresses(*req)
	if len(list) == 0 {
		return nil, nil, errors.New("the server's address is required (wss://HOST:PORT)")
	}
	for _, a := range list {
		if !strings.HasPrefix(a, "wss://") || len(a) == len("wss://") {
			return nil, nil, fmt.Errorf("server address %q: want wss://HOST:PORT", a)
		}
	}
	req.Server, req.Servers = list[0], list
	pool, caPEM, err := loadCA(req.CAFile)
	if err != nil {
		return nil, nil, err
	}
	if req.Host == "" {
		req.Host, _ = os.Hostname()
		if req.Host == "" {
			req.Host = "unknown-host"
		}
	}
	return pool, caPEM, nil
}

// enrolAddresses is Server, then Servers, without repeats or blanks.
func enrolAddresses(req EnrolRequest) []string {
	var list []string
	for _, a := range append([]string{req.Server}, req.Servers...) {
		if a = strings.TrimSpace(a); a != "" && !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

// SplitServers reads the addresses a person typed for a sync service
// with several nodes: separated by commas, spaces or new lines.
func SplitServers(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

// loggedIn is what logging in made: this device's identity and key, and
// the server's answer.
type loggedIn struct {
	deviceID string
	priv     []byte // the device's audit signing key
	tok      *protocol.TokenResponse
}

// login makes this device's identity and audit key and registers them with
// the server by logging in.
func (c *Core) login(ctx context.Context, req EnrolRequest, pool *x509.CertPool) (loggedIn, error) {
	deviceID, err := newDeviceID()
	if err != nil {
		return loggedIn{}, err
	}
	pub, priv, err := audit.NewDeviceKey()
	if err != nil {
		return loggedIn{}, err
	}
	cfg := syncclient.Config{Server: req.Server, Servers: req.Servers, TLS: &tls.Config{RootCAs: pool}, CAFile: req.CAFile, DeviceID: deviceID, Client: "kmcr/" + Version, Logf: c.cfg.Logf}
	tok, err := syncclient.Login(ctx, cfg, protocol.LoginRequest{User: req.User, Password: req.Password, DeviceID: deviceID, PublicKey: pub, Host: req.Host, Client: cfg.Client})
	if err != nil {
		return loggedIn{}, fmt.Errorf("logging in: %w", err)
	}
	return loggedIn{deviceID: deviceID, priv: priv, tok: tok}, nil
}

// newProfile is the profile an enrolment writes. It names its secret store
// before the cache is created, so the same kind is used to open it.
func newProfile(req EnrolRequest, l loggedIn) (*Profile, error) {
	p := &Profile{Server: req.Server, Servers: req.Servers, User: l.tok.User.Name, Role: l.tok.User.Role, DeviceID: l.deviceID, Host: req.Host, Secrets: SecretsKeyring}
	if req.DeviceSecretFile != "" {
		abs, err := filepath.Abs(req.DeviceSecretFile)
		if err != nil {
			return nil, err
		}
		p.Secrets, p.SecretFile = SecretsFile, abs
	}
	if len(p.Servers) < 2 {
		p.Servers = nil // one address: the profile as it always was
	}
	applyPolicy(p, l.tok.Policy)
	return p, nil
}

// setUp creates the cache for profile p and writes the session, the
// tokens, the device key, the login event, the CA and, last, the profile;
// the cache is left open. On failure nothing of the profile remains.
func (c *Core) setUp(req EnrolRequest, p *Profile, l loggedIn, caPEM []byte) error {
	p.Enrolled = c.now()
	c.mu.Lock()
	c.profile = p
	opts := c.cacheOptions()
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		c.profile = nil
		c.mu.Unlock()
	}
	cc, err := createCache(opts, req.Passphrase, c.cfg.Logf)
	if err != nil {
		forget()
		return err
	}
	s := session{User: l.tok.User, Policy: l.tok.Policy, DeviceID: l.deviceID, Host: req.Host, Epoch: l.tok.Epoch}
	err = cc.Update(func(tx *cache.Tx) error {
		c.checkMark(tx, c.markStore(opts), s)
		if err := tx.PutMeta(metaDeviceKey, l.priv); err != nil {
			return err
		}
		if err := putJSON(tx, metaSession, s); err != nil {
			return err
		}
		if err := putJSON(tx, metaTokens, storedTokens{Access: l.tok.AccessToken, Refresh: l.tok.RefreshToken, Expires: l.tok.ExpiresAt}); err != nil {
			return err
		}
		if err := putJSON(tx, metaIndexKeys, indexKeysVersion); err != nil {
			return err
		}
		return c.writeEvent(tx, c.event(s, audit.ActionLogin))
	})
	if err == nil {
		err = os.WriteFile(filepath.Join(c.cfg.DataDir, caFile), caPEM, 0o600)
	}
	if err == nil {
		err = saveProfile(c.cfg.DataDir, p)
	}
	if err != nil {
		_ = cc.Wipe()
		forget()
		return fmt.Errorf("setting up the profile: %w", err)
	}
	c.mu.Lock()
	c.c, c.sess = cc, s
	c.mu.Unlock()
	c.notify()
	return nil
}

// createCache creates the encrypted cache. A cache without a profile is
// what an enrolment stopped part-way (a crash, a kill) leaves: the profile
// is written last, so nothing in that cache was synced or shown, and
// without removing it neither enrol nor wipe would accept the folder again.
func createCache(opts cache.Options, passphrase []byte, logf func(string, ...any)) (*cache.Cache, error) {
	if cache.Exists(opts.Dir) {
		err := cache.Wipe(opts)
		if err != nil && cache.Exists(opts.Dir) {
			return nil, fmt.Errorf("removing the remains of an unfinished enrolment: %w", err)
		}
		if err != nil {
			logf("removed the remains of an unfinished enrolment: %v", err)
		}
	}
	cc, err := cache.Create(opts, passphrase)
	if err != nil {
		return nil, fmt.Errorf("creating the encrypted cache: %w", err)
	}
	return cc, nil
}

// applyPolicy copies the server's policy into the profile, which keeps
// what the unlock screen needs before the cache is open.
func applyPolicy(p *Profile, pol protocol.Policy) {
	p.Autolock, p.Freshness, p.BreakGlass, p.Sections = pol.AutoLockSeconds, pol.FreshnessSeconds, pol.BreakGlass, pol.Sections
}
