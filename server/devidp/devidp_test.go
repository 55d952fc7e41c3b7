package devidp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"kmcr/server/devidp"
)

type onePatient string

func (p onePatient) IsPatient(nhs string) (bool, error) { return nhs == string(p), nil }

// TestMintAccessToken_VerifiesWithProviderKeys checks a token signed for
// scripts verifies against the keys the running provider publishes (as a
// resource server checks it), with the citizen's claims and scope, and
// that the key survives a restart (the file in the data directory).
func TestMintAccessToken_VerifiesWithProviderKeys(t *testing.T) {
	dir := t.TempDir()
	var h http.Handler
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	issuer := srv.URL + devidp.PathPrefix
	p, err := devidp.New(devidp.Config{Issuer: issuer, DataDir: dir, Citizens: onePatient("9990000018")})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(devidp.PathPrefix+"/", p.Handler())
	h = mux
	if fi, err := os.Stat(filepath.Join(dir, devidp.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	key, err := devidp.LoadKey(dir) // a second process reads the same key
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := devidp.MintAccessToken(key, issuer, devidp.ScriptClient, "9990000018", devidp.LevelP9, []string{"patient/*.read", "patient/Observation.write", "system/*.*"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(exp) > 16*time.Minute {
		t.Fatalf("token lives until %v", exp)
	}
	ctx := oidc.ClientContext(context.Background(), srv.Client())
	prov, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	v := prov.Verifier(&oidc.Config{SkipClientIDCheck: true})
	idt, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("the provider's keys do not verify the token: %v", err)
	}
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c[devidp.ClaimNHSNumber] != "9990000018" || c[devidp.ClaimProofingLevel] != "P9" || c[devidp.ClaimScope] != "patient/*.read patient/Observation.write" {
		t.Fatalf("claims: %v", c)
	}
	if strings.Contains(idt.Subject, "9990000018") || idt.Subject != devidp.Subject(key, "9990000018") {
		t.Fatalf("subject %q", idt.Subject)
	}
	// A token signed by another key does not verify.
	other, err := devidp.LoadKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	forged, _, _ := devidp.MintAccessToken(other, issuer, devidp.ScriptClient, "9990000018", devidp.LevelP9, []string{"patient/*.read"}, time.Now())
	if _, err := v.Verify(ctx, forged); err == nil {
		t.Fatal("a token signed with another key verified")
	}
}
