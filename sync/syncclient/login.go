package syncclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"kmcr/sync/protocol"
)

const (
	// apiTimeout bounds one login or refresh round trip.
	apiTimeout = 30 * time.Second
	// maxAPIBody bounds an API answer; a token answer is a few KiB.
	maxAPIBody = 1 << 20
	// refreshMargin: an access token that expires sooner than this is
	// refreshed before dialling, so it does not expire mid-handshake.
	refreshMargin = 30 * time.Second
)

// Login logs a user in on this device: POST /v1/login with req. It needs
// only cfg.Server (or cfg.Servers), cfg.TLS and cfg.CAFile (and fills
// req.Client from cfg.Client if empty). With several addresses it tries
// the next when a node cannot be reached or trusted or fails (HTTP 5xx),
// and the error then names each address and why it failed. The caller must store the answer with
// TokenStore.SaveTokens before it starts a Client.
//
// Errors: ErrBadLogin for a wrong user name or password, ErrDeviceKey when
// the device is registered with another key, ErrDeviceRevoked when the
// device has been revoked (after calling cfg.Applier.Wipe if an Applier is
// set: a revoked device keeps nothing), ErrUnreachable and ErrCertificate
// for the connection, and *APIError for other refusals.
func Login(ctx context.Context, cfg Config, req protocol.LoginRequest) (*protocol.TokenResponse, error) {
	cfg, ns, err := cfg.withDefaults(false)
	if err != nil {
		return nil, err
	}
	if req.Client == "" {
		req.Client = cfg.Client
	}
	hc := newHTTPClient(cfg)
	defer hc.CloseIdleConnections()
	var errs []error
	for i := range ns.eps {
		ep := ns.eps[(ns.start+i)%len(ns.eps)]
		var tr protocol.TokenResponse
		err := postJSON(ctx, hc, cfg, ep.api+protocol.PathLogin, &req, &tr)
		if err == nil {
			if err := checkTokens(&tr); err != nil {
				return nil, fmt.Errorf("logging in: %w", err)
			}
			return &tr, nil
		}
		if errors.Is(err, ErrDeviceRevoked) && cfg.Applier != nil {
			return nil, wipeRevoked(cfg.Applier, cfg.Logf)
		}
		if len(ns.eps) == 1 {
			return nil, fmt.Errorf("logging in: %w", err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep.display, err))
		if !loginElsewhere(err) {
			break
		}
		cfg.Logf("login: %s failed (%v); trying the next address", ep.display, err)
	}
	return nil, fmt.Errorf("logging in: %w", errors.Join(errs...))
}

// loginElsewhere reports whether a failed login may succeed at another
// node: the node could not be reached or trusted, or failed itself (HTTP
// 5xx). A refusal (a wrong password, a throttled account) would be the
// same at every node, and asking each would count it again.
func loginElsewhere(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrCertificate)
}

// newHTTPClient makes the client for the login and token API. Keep-alives
// are off: these calls are rare, and an idle pooled connection would
// outlive the Client.
func newHTTPClient(cfg Config) *http.Client {
	tlsc := cfg.TLS.Clone()
	return &http.Client{
		Timeout: apiTimeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
			TLSClientConfig:     tlsc,
			TLSHandshakeTimeout: cfg.DialTimeout,
			DisableKeepAlives:   true,
			ForceAttemptHTTP2:   false,
		},
		// The API never redirects; following one could send a password
		// somewhere unexpected.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// postJSON posts in as JSON and decodes a 200 answer into out; any other
// status becomes an *APIError, and transport failures ErrUnreachable or
// ErrCertificate.
func postJSON(ctx context.Context, hc *http.Client, cfg Config, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return transportError(ctx, cfg, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return transportError(ctx, cfg, err)
	}
	if resp.StatusCode != http.StatusOK {
		return apiError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("server sent an unreadable answer: %w", err)
	}
	return nil
}

// apiError reads an error body; one that is not an APIError still gives
// the status.
func apiError(status int, data []byte) *APIError {
	var ae protocol.APIError
	if json.Unmarshal(data, &ae) != nil {
		ae = protocol.APIError{}
	}
	return &APIError{Status: status, Code: ae.Code, Message: ae.Message}
}

func checkTokens(tr *protocol.TokenResponse) error {
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.ExpiresAt.IsZero() {
		return errors.New("server sent an incomplete token answer")
	}
	return nil
}

// transportError names a failure to talk to the server at all: an
// untrusted certificate (the user must act) or an unreachable server.
func transportError(ctx context.Context, cfg Config, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ce := certProblem(cfg.CAFile, err); ce != nil {
		return ce
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

// certError is a TLS verification failure, described for the user.
type certError struct {
	msg string
	err error
}

func (e *certError) Error() string        { return e.msg }
func (e *certError) Unwrap() error        { return e.err }
func (e *certError) Is(target error) bool { return target == ErrCertificate }

func certProblem(caFile string, err error) error {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		if caFile != "" {
			return &certError{fmt.Sprintf("the server's certificate is not signed by the CA in %s", caFile), err}
		}
		return &certError{"the server's certificate is not signed by a trusted CA", err}
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return &certError{"the server's certificate does not match its address: " + he.Error(), err}
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) {
		return &certError{"the server's certificate is not valid: " + ci.Error(), err}
	}
	return nil
}

// wipeRevoked destroys the cache of a revoked device and says so.
func wipeRevoked(a Applier, logf func(string, ...any)) error {
	logf("sync: device revoked by the server; wiping the local cache")
	if err := a.Wipe("this device was revoked by the service"); err != nil {
		return fmt.Errorf("%w; wiping the local cache failed: %v", ErrDeviceRevoked, err)
	}
	return fmt.Errorf("%w; its local cache has been wiped", ErrDeviceRevoked)
}

// accessToken returns an access token good for at least refreshMargin,
// refreshing first when it is missing or expiring, or the server refused
// it (c.forceRefresh, kept until a refresh succeeds). A new
// TokenResponse is stored before it is used; if storing fails it is kept
// in memory and storing is retried on the next attempt, so the single-use
// refresh credential is never lost while the process runs.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if c.unsaved != nil {
		if err := c.cfg.Tokens.SaveTokens(c.unsaved); err != nil {
			return "", local("saving the new login tokens: %w", err)
		}
		c.unsaved = nil
	}
	access, refresh, expires, err := c.cfg.Tokens.Tokens()
	if err != nil {
		return "", local("reading the login tokens: %w", err)
	}
	if !c.forceRefresh && access != "" && time.Until(expires) > refreshMargin {
		return access, nil
	}
	if refresh == "" {
		return "", ErrLoginRequired
	}
	var tr protocol.TokenResponse
	err = postJSON(ctx, c.http, c.cfg, c.node().api+protocol.PathRefresh,
		&protocol.RefreshRequest{DeviceID: c.cfg.DeviceID, RefreshToken: refresh}, &tr)
	if err == nil {
		err = checkTokens(&tr)
	}
	if err != nil {
		var ae *APIError
		switch {
		case errors.Is(err, ErrDeviceRevoked):
			return "", wipeRevoked(c.cfg.Applier, c.cfg.Logf)
		case errors.As(err, &ae) && (ae.Code == protocol.ErrCodeBadLogin || ae.Code == protocol.ErrCodeExpired ||
			ae.Code == protocol.ErrCodeDeviceKey || ae.Status == http.StatusUnauthorized):
			return "", fmt.Errorf("%w (%v)", ErrLoginRequired, ae)
		}
		return "", fmt.Errorf("refreshing the access token: %w", err)
	}
	c.cfg.Logf("sync: access token refreshed, valid until %s", tr.ExpiresAt.UTC().Format(time.RFC3339))
	c.forceRefresh = false
	if err := c.cfg.Tokens.SaveTokens(&tr); err != nil {
		c.unsaved = &tr
		return "", local("saving the new login tokens: %w", err)
	}
	return tr.AccessToken, nil
}
