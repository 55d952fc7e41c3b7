package fhirapi

import (
	"context"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// OIDCVerify checks bearer tokens with a go-oidc verifier (the provider's
// keys and issuer, expiry; the audience is the app's, not checked) and
// reads NHS login's claims and the scope.
func OIDCVerify(v *oidc.IDTokenVerifier) func(ctx context.Context, token string) (Claims, error) {
	return func(ctx context.Context, token string) (Claims, error) {
		t, err := v.Verify(ctx, token)
		if err != nil {
			return Claims{}, err
		}
		var c struct {
			NHS   string `json:"nhs_number"`
			Level string `json:"identity_proofing_level"`
			Scope string `json:"scope"`
		}
		if err := t.Claims(&c); err != nil {
			return Claims{}, err
		}
		return Claims{NHS: c.NHS, Level: c.Level, Scopes: strings.Fields(c.Scope), Subject: t.Subject}, nil
	}
}
