// Package devidp is a development OpenID Connect provider shaped like NHS
// login, built on zitadel/oidc's op package, for "make run" and the tests:
// kmcr-server serves it under /dev-idp/ only with serve --dev-idp, and only
// on a loopback address.
//
// # Basics
//
// Its citizens are the imported patients: one signs in with an NHS number
// and the password DemoPassword, and chooses the identity proofing level
// the provider asserts (P9 by default; lower levels exist so the portal's
// answer to them can be tried). The ID token and the JWT access token carry
// the claims NHS login uses: nhs_number, identity_proofing_level and email
// (DemoEmail, for notifications); the
// access token also carries its scope (patient/*.read,
// patient/Observation.write) for the FHIR API. The subject is an opaque
// value derived from the NHS number, so no NHS number travels in a subject
// that clients may log.
//
// The signing key is an RSA key in a file of the data directory (KeyFile),
// made on first use, so "kmcr-server dev-idp token" (MintAccessToken) signs
// tokens the serving provider's keys verify, with or without the server
// running.
//
// # Caveats
//
// Authorisation requests, codes and tokens live in memory: a restart ends
// sign-ins in progress. It is not an identity service: the password is the
// same for every citizen.
package devidp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// DemoPassword is every demo citizen's password.
const DemoPassword = "demo citizen"

// KeyFile is the signing key's file in the data directory.
const KeyFile = "dev-idp-key.pem"

// PathPrefix is where kmcr-server mounts the provider.
const PathPrefix = "/dev-idp"

// Claims NHS login asserts, and the proofing levels it knows.
const (
	ClaimNHSNumber      = "nhs_number"
	ClaimProofingLevel  = "identity_proofing_level"
	ClaimScope          = "scope"
	LevelP9             = "P9" // identity verified to the level record access needs
	LevelP5             = "P5"
	LevelP0             = "P0"
	keyBits             = 2048
	accessTokenLifetime = 15 * time.Minute
	authRequestLifetime = 10 * time.Minute
	keyID               = "kmcr-dev-idp-1"
)

// Levels are the proofing levels a demo citizen may choose, highest first.
var Levels = []string{LevelP9, LevelP5, LevelP0}

// ScriptClient is the client id of the tokens MintAccessToken signs.
const ScriptClient = "kmcr-scripts"

// Scopes the provider grants beside openid.
var Scopes = []string{"patient/*.read", "patient/Observation.write"}

// Citizens says whether an NHS number is a patient of the record.
type Citizens interface {
	IsPatient(nhs string) (bool, error)
}

// Client is a relying party registered with the provider.
type Client struct {
	ID, Secret   string // an empty Secret makes a public client (PKCE only)
	RedirectURIs []string
}

// Config configures a Provider.
type Config struct {
	Issuer   string // https://HOST:PORT/dev-idp
	DataDir  string // holds KeyFile
	Citizens Citizens
	Clients  []Client
	// CryptoKey encrypts the provider's opaque tokens (refresh tokens).
	CryptoKey [32]byte
}

// Provider is the development OpenID provider.
type Provider struct {
	op      *op.Provider
	st      *storage
	handler http.Handler
}

// LoadKey reads the signing key from dir, making it on first use.
func LoadKey(dir string) (*rsa.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := rsa.GenerateKey(rand.Reader, keyBits)
		if err != nil {
			return nil, err
		}
		der := x509.MarshalPKCS1PrivateKey(key)
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der})
		// O_EXCL: two processes making the key at once keep one of them.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadKey(dir)
		}
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(pemBytes); err != nil {
			f.Close()
			return nil, err
		}
		return key, f.Close()
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "RSA PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not an RSA private key", path)
	}
	return x509.ParsePKCS1PrivateKey(blk.Bytes)
}

// Subject is the opaque subject the provider asserts for an NHS number.
func Subject(key *rsa.PrivateKey, nhs string) string {
	m := hmac.New(sha256.New, x509.MarshalPKCS1PrivateKey(key))
	m.Write([]byte("kmcr dev-idp subject\x00" + nhs))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// New makes the provider.
func New(cfg Config) (*Provider, error) {
	if !strings.HasSuffix(cfg.Issuer, PathPrefix) {
		return nil, fmt.Errorf("dev-idp: issuer %q must end in %s", cfg.Issuer, PathPrefix)
	}
	key, err := LoadKey(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("dev-idp signing key: %w", err)
	}
	st := newStorage(key, cfg.Citizens, cfg.Clients)
	conf := &op.Config{
		CryptoKey:                cfg.CryptoKey,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		DefaultLogoutRedirectURI: "/my/",
		SupportedUILocales:       []language.Tag{language.BritishEnglish},
		SupportedClaims:          append(op.DefaultSupportedClaims, ClaimNHSNumber, ClaimProofingLevel),
		SupportedScopes:          append([]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}, Scopes...),
	}
	p, err := op.NewProvider(conf, st, op.StaticIssuer(cfg.Issuer))
	if err != nil {
		return nil, err
	}
	st.callback = op.AuthCallbackURL(p)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", st.loginPage)
	mux.HandleFunc("POST /login", st.loginSubmit)
	mux.Handle("/", p)
	interceptor := op.NewIssuerInterceptor(p.IssuerFromRequest)
	h := http.StripPrefix(PathPrefix, interceptor.Handler(mux))
	return &Provider{op: p, st: st, handler: h}, nil
}

// Handler serves the provider; mount it at PathPrefix + "/".
func (p *Provider) Handler() http.Handler { return p.handler }

// PublicKey is the key the provider's tokens verify with.
func (p *Provider) PublicKey() *rsa.PublicKey { return &p.st.key.PublicKey }

// MintAccessToken signs an access token for a citizen as the provider does
// after a sign-in (same claims, same key, same library code), for scripts:
// kmcr-server dev-idp token.
func MintAccessToken(key *rsa.PrivateKey, issuer, clientID, nhs, level string, scopes []string, now time.Time) (string, time.Time, error) {
	exp := now.Add(accessTokenLifetime)
	var jti [12]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, err
	}
	claims := oidc.NewAccessTokenClaims(issuer, Subject(key, nhs), []string{clientID}, exp, hex.EncodeToString(jti[:]), clientID, 0)
	claims.Claims = citizenClaims(nhs, level, scopes)
	signer, err := op.SignerFromKey(&signingKey{key: key})
	if err != nil {
		return "", time.Time{}, err
	}
	tok, err := crypto.Sign(claims, signer)
	return tok, exp, err
}

func citizenClaims(nhs, level string, scopes []string) map[string]any {
	c := map[string]any{ClaimNHSNumber: nhs, ClaimProofingLevel: level}
	var granted []string
	for _, s := range scopes {
		for _, known := range Scopes {
			if s == known {
				granted = append(granted, s)
			}
		}
	}
	if len(granted) > 0 {
		c[ClaimScope] = strings.Join(granted, " ")
	}
	return c
}

// signingKey is the provider's RSA key as op wants it.
type signingKey struct{ key *rsa.PrivateKey }

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return keyID }

type publicKey struct{ key *rsa.PrivateKey }

func (k *publicKey) ID() string                         { return keyID }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return &k.key.PublicKey }

// authRequest is one sign-in in progress.
type authRequest struct {
	id       string
	created  time.Time
	req      oidc.AuthRequest
	nhs      string // set when the citizen has signed in
	subject  string
	level    string
	authTime time.Time
	done     bool
}

func (a *authRequest) GetID() string         { return a.id }
func (a *authRequest) GetACR() string        { return "" }
func (a *authRequest) GetAMR() []string      { return amr(a.done) }
func (a *authRequest) GetAudience() []string { return []string{a.req.ClientID} }
func (a *authRequest) GetAuthTime() time.Time {
	return a.authTime
}
func (a *authRequest) GetClientID() string { return a.req.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}
func (a *authRequest) GetNonce() string                   { return a.req.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) Done() bool                         { return a.done }

func amr(done bool) []string {
	if done {
		return []string{"pwd"}
	}
	return nil
}

// token is an issued access token.
type token struct {
	id, clientID, subject, nhs, level string
	scopes                            []string
	expires                           time.Time
}

// client implements op.Client.
type client struct{ Client }

func (c client) GetID() string                    { return c.ID }
func (c client) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string { return nil }
func (c client) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c client) AuthMethod() oidc.AuthMethod {
	if c.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode}
}
func (c client) LoginURL(id string) string { return PathPrefix + "/login?authRequestID=" + id }
func (c client) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeJWT
}
func (c client) IDTokenLifetime() time.Duration { return time.Hour }
func (c client) DevMode() bool                  { return false }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) IsScopeAllowed(scope string) bool {
	for _, s := range Scopes {
		if s == scope {
			return true
		}
	}
	return false
}
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c client) ClockSkew() time.Duration             { return 0 }

// storage implements op.Storage in memory, its users the record's patients.
type storage struct {
	key      *rsa.PrivateKey
	citizens Citizens
	clients  map[string]Client
	callback func(context.Context, string) string

	mu       sync.Mutex
	requests map[string]*authRequest
	codes    map[string]string // code -> request id
	tokens   map[string]*token
}

var _ op.Storage = (*storage)(nil)

func newStorage(key *rsa.PrivateKey, c Citizens, clients []Client) *storage {
	m := map[string]Client{}
	for _, cl := range clients {
		m[cl.ID] = cl
	}
	return &storage{key: key, citizens: c, clients: m, requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]*token{}}
}

func randomID() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// sweep drops sign-ins older than authRequestLifetime and expired tokens,
// so abandoned ones do not pile up. Called with mu held.
func (s *storage) sweep(now time.Time) {
	for id, r := range s.requests {
		if now.Sub(r.created) > authRequestLifetime {
			delete(s.requests, id)
		}
	}
	for code, id := range s.codes {
		if _, ok := s.requests[id]; !ok {
			delete(s.codes, code)
		}
	}
	for id, t := range s.tokens {
		if now.After(t.expires) {
			delete(s.tokens, id)
		}
	}
}

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if len(req.Prompt) == 1 && req.Prompt[0] == oidc.PromptNone {
		return nil, oidc.ErrLoginRequired()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.sweep(now)
	r := &authRequest{id: randomID(), created: now, req: *req}
	s.requests[r.id] = r
	return r, nil
}

func (s *storage) request(id string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok || time.Since(r.created) > authRequestLifetime {
		return nil, errors.New("sign-in request not found or expired")
	}
	return r, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	return s.request(id)
}

func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("code invalid or expired")
	}
	return s.request(id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) newToken(clientID, subject string, scopes []string, nhs, level string) *token {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &token{id: randomID(), clientID: clientID, subject: subject, nhs: nhs, level: level, scopes: scopes, expires: time.Now().Add(accessTokenLifetime)}
	s.tokens[t.id] = t
	return t
}

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	r, ok := req.(*authRequest)
	if !ok || !r.done {
		return "", time.Time{}, errors.New("only the code flow is supported")
	}
	t := s.newToken(r.req.ClientID, r.GetSubject(), r.req.Scopes, r.nhs, r.level)
	return t.id, t.expires, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("refresh tokens are not issued")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) TerminateSession(_ context.Context, subject, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.tokens {
		if t.subject == subject && t.clientID == clientID {
			delete(s.tokens, id)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, id, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[id]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued for this client")
		}
		delete(s.tokens, id)
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return &signingKey{key: s.key}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{&publicKey{key: s.key}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.clients[id]
	if !ok {
		return nil, errors.New("client not found")
	}
	return client{c}, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.clients[id]
	if !ok || c.Secret == "" || !hmac.Equal([]byte(c.Secret), []byte(secret)) {
		return errors.New("client unknown or wrong secret")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// DemoEmail is the email address the provider asserts for a demo citizen
// (its subject): at the reserved .invalid domain, so no real mailbox gets
// a demo notification; the tests' relay accepts it.
func DemoEmail(subject string) string { return "citizen-" + subject + "@demo.invalid" }

func setUserinfo(ui *oidc.UserInfo, subject, nhs, level string) {
	ui.Subject = subject
	ui.Email, ui.EmailVerified = DemoEmail(subject), true
	ui.AppendClaims(ClaimNHSNumber, nhs)
	ui.AppendClaims(ClaimProofingLevel, level)
}

// SetUserinfoFromRequest puts the citizen's claims into the ID token.
func (s *storage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	r, ok := req.(*authRequest)
	if !ok {
		return errors.New("unknown request")
	}
	setUserinfo(ui, r.GetSubject(), r.nhs, r.level)
	return nil
}

func (s *storage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("token invalid or expired")
	}
	setUserinfo(ui, t.subject, t.nhs, t.level)
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, in *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) || t.clientID != clientID {
		return errors.New("token invalid")
	}
	ui := new(oidc.UserInfo)
	setUserinfo(ui, t.subject, t.nhs, t.level)
	in.SetUserInfo(ui)
	in.Scope, in.ClientID, in.Expiration = t.scopes, t.clientID, oidc.FromTime(t.expires)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetPrivateClaimsFromRequest puts the citizen's claims and the granted
// scope into the JWT access token.
func (s *storage) GetPrivateClaimsFromRequest(_ context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	r, ok := req.(*authRequest)
	if !ok {
		return nil, errors.New("unknown request")
	}
	return citizenClaims(r.nhs, r.level, r.req.Scopes), nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("client keys are not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile grants are not supported")
}

func (s *storage) Health(context.Context) error { return nil }
