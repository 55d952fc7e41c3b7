package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"kmcr/record"
	"kmcr/server/devidp"
	"kmcr/server/fhirapi"
	"kmcr/server/pki"
	"kmcr/server/portal"
	"kmcr/server/store"
)

func init() {
	register(&command{name: "dev-idp", summary: "dev-idp token --nhs N --scope '...': a bearer token the development sign-in provider signed", run: runDevIdP})
}

// devPortalClient is the portal's registration with the development provider.
const devPortalClient = "kmcr-portal"

// portalFlags are serve's flags for the patient portal.
type portalFlags struct {
	devIdP                   *bool
	issuer, clientID, secret *string
}

func addPortalFlags(fs *flag.FlagSet) portalFlags {
	return portalFlags{
		devIdP:   fs.Bool("dev-idp", false, "serve the development sign-in provider under /dev-idp/ and sign citizens in with it (loopback addresses only)"),
		issuer:   fs.String("oidc-issuer", "", "the OpenID provider citizens sign in with (NHS login), e.g. https://auth.login.nhs.uk"),
		clientID: fs.String("oidc-client-id", "", "the portal's client id at that provider"),
		secret:   fs.String("oidc-client-secret-file", "", "a file holding the portal's client secret at that provider"),
	}
}

// check refuses flag combinations that cannot work.
func (f portalFlags) check(addr string, plain bool) error {
	if *f.devIdP && *f.issuer != "" {
		return fmt.Errorf("%w: --dev-idp and --oidc-issuer cannot both be given", errUsage)
	}
	if *f.devIdP {
		host, _, err := net.SplitHostPort(addr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("%w: --dev-idp is only allowed on a loopback address such as 127.0.0.1:8443", errUsage)
		}
	}
	if *f.issuer != "" && (*f.clientID == "" || *f.secret == "") {
		return fmt.Errorf("%w: --oidc-issuer needs --oidc-client-id and --oidc-client-secret-file", errUsage)
	}
	if (*f.issuer != "" || *f.devIdP) && plain {
		return fmt.Errorf("%w: the patient portal needs TLS (its cookies are Secure): leave out --dev-plaintext", errUsage)
	}
	if *f.issuer != "" && (*f.clientID == "" || *f.secret == "") {
		return fmt.Errorf("%w: --oidc-issuer needs --oidc-client-id and --oidc-client-secret-file", errUsage)
	}
	if *f.issuer != "" && !strings.HasPrefix(*f.issuer, "https://") {
		return fmt.Errorf("%w: --oidc-issuer must be an https:// address", errUsage)
	}
	return nil
}

// citizens are the record's patients, for the development provider.
type citizens struct{ st store.Store }

func (c citizens) IsPatient(nhs string) (bool, error) {
	_, err := c.st.Patient(nhs)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// portalRoutes makes the portal (and the development provider) for a
// server listening at base (https://HOST:PORT); none when neither
// --dev-idp nor --oidc-issuer is given.
func portalRoutes(f portalFlags, dir, base, node string, st store.Store, rec portal.Record, logf func(string, ...any)) (map[string]http.Handler, error) {
	routes := map[string]http.Handler{}
	cfg := portal.Config{Store: st, Record: rec, BaseURL: base, Logf: logf, Node: node}
	var verify func(context.Context, string) (fhirapi.Claims, error)
	switch {
	case *f.devIdP:
		secret, err := st.Secret("dev-idp-portal-client")
		if err != nil {
			return nil, err
		}
		crypt, err := st.Secret("dev-idp-crypto")
		if err != nil {
			return nil, err
		}
		var ck [32]byte
		copy(ck[:], crypt)
		issuer := base + devidp.PathPrefix
		idp, err := devidp.New(devidp.Config{Issuer: issuer, DataDir: dir, Citizens: citizens{st}, CryptoKey: ck,
			Clients: []devidp.Client{{ID: devPortalClient, Secret: hex.EncodeToString(secret), RedirectURIs: []string{base + portal.CallbackPath}}}})
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, devIssuerFile), []byte(issuer+"\n"), 0o600); err != nil {
			return nil, err
		}
		routes[devidp.PathPrefix+"/"] = idp.Handler()
		verify = fhirapi.OIDCVerify(oidc.NewVerifier(issuer, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{idp.PublicKey()}}, &oidc.Config{SkipClientIDCheck: true}))
		pool, err := pki.LoadCAPool(filepath.Join(dir, pki.CAFile))
		if err != nil {
			return nil, err
		}
		// The portal reaches the provider on this same listener.
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		cfg.Issuer, cfg.ClientID, cfg.ClientSecret = issuer, devPortalClient, hex.EncodeToString(secret)
	case *f.issuer != "":
		b, err := os.ReadFile(*f.secret)
		if err != nil {
			return nil, fmt.Errorf("reading --oidc-client-secret-file: %w", err)
		}
		cfg.Issuer, cfg.ClientID, cfg.ClientSecret = *f.issuer, *f.clientID, strings.TrimSpace(string(b))
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
		verify = remoteVerify(*f.issuer, cfg.HTTPClient)
	default:
		return routes, nil
	}
	p, err := portal.New(cfg)
	if err != nil {
		return nil, err
	}
	routes[portal.Prefix] = p.Handler()
	api, err := fhirapi.New(fhirapi.Config{Store: st, Record: rec, Verify: verify, Logf: logf, Node: node})
	if err != nil {
		return nil, err
	}
	routes["/fhir"] = api.Handler()
	routes["/fhir/"] = api.Handler()
	return routes, nil
}

// remoteVerify checks bearer tokens against a provider discovered on first
// use (its keys are fetched and cached by go-oidc).
func remoteVerify(issuer string, hc *http.Client) func(context.Context, string) (fhirapi.Claims, error) {
	var mu sync.Mutex
	var v func(context.Context, string) (fhirapi.Claims, error)
	return func(ctx context.Context, tok string) (fhirapi.Claims, error) {
		mu.Lock()
		if v == nil {
			prov, err := oidc.NewProvider(oidc.ClientContext(context.Background(), hc), issuer)
			if err != nil {
				mu.Unlock()
				return fhirapi.Claims{}, err
			}
			v = fhirapi.OIDCVerify(prov.Verifier(&oidc.Config{SkipClientIDCheck: true}))
		}
		f := v
		mu.Unlock()
		return f(oidc.ClientContext(ctx, hc), tok)
	}
}

// devIssuerFile remembers the development provider's issuer, for
// "dev-idp token" to put into the tokens it signs.
const devIssuerFile = "dev-idp-issuer"

func runDevIdP(env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "token" {
		return fmt.Errorf("%w: kmcr-server dev-idp token --data-dir D --nhs N --scope 'patient/*.read patient/Observation.write'", errUsage)
	}
	fs := newFlags(env, "dev-idp token")
	dir := dataDirFlag(fs)
	nhs := fs.String("nhs", "", "the demo citizen's NHS number")
	scope := fs.String("scope", "patient/*.read", "the scopes, space-separated: patient/*.read, patient/Observation.write")
	level := fs.String("level", devidp.LevelP9, "the identity proofing level to assert")
	issuer := fs.String("issuer", "", "the provider's issuer (default: the one the last serve --dev-idp used)")
	if _, err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	n, err := record.ParseNHSNumber(*nhs)
	if err != nil {
		return fmt.Errorf("%w: --nhs: %v", errUsage, err)
	}
	scopes := strings.Fields(*scope)
	for _, s := range scopes {
		known := false
		for _, k := range devidp.Scopes {
			known = known || s == k
		}
		if !known {
			return fmt.Errorf("%w: unknown scope %q (known: %s)", errUsage, s, strings.Join(devidp.Scopes, ", "))
		}
	}
	if len(scopes) == 0 {
		return fmt.Errorf("%w: --scope names no scope", errUsage)
	}
	iss := *issuer
	if iss == "" {
		b, err := os.ReadFile(filepath.Join(*dir, devIssuerFile))
		if err != nil {
			return fmt.Errorf("no issuer known for %s: run \"kmcr-server serve --dev-idp\" once, or give --issuer", *dir)
		}
		iss = strings.TrimSpace(string(b))
	}
	if !store.Exists(*dir) {
		return fmt.Errorf("no kmcr-server store in %s", *dir)
	}
	key, err := devidp.LoadKey(*dir)
	if err != nil {
		return err
	}
	tok, _, err := devidp.MintAccessToken(key, iss, devidp.ScriptClient, n.Digits(), *level, scopes, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, tok)
	return nil
}
