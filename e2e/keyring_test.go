package e2e

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"
)

// keyringService is the service name of kmcr's keyring entries
// (cache/keyring.go); the entry's user is the cache id in hex, which
// cache.keys holds at bytes 16 to 32 (docs/cache-format.md).
const keyringService = "kmcr"

func cacheID(t *testing.T, p *profile) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "cache.keys"))
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[16:32])
}

// TestKeyring_EnrolShowWipe guards the default, keyring-backed profile with
// the real OS keyring: kmcr enrol without --device-secret-file keeps the
// device secret in the Secret Service under the cache's id, show and
// status unlock with it, and kmcr wipe deletes it. It runs only with
// KMCR_TEST_KEYRING=1, inside a D-Bus session with an unlocked keyring
// (the Makefile's test target starts one with gnome-keyring).
func TestKeyring_EnrolShowWipe(t *testing.T) {
	t.Parallel()
	if os.Getenv("KMCR_TEST_KEYRING") != "1" {
		t.Skip("skipped: set KMCR_TEST_KEYRING=1 inside a D-Bus session with an unlocked Secret Service (make test does) to use the real OS keyring")
	}
	d := newServerData(t, 5, 71)
	d.addUser("para", "paramedic", d.nhs...)
	srv := d.serve("127.0.0.1:0")
	p := newProfile(t)
	r := p.kmcr(runOpts{stdin: userPassword("para") + "\n"}, "enrol", "--server", srv.url(), "--ca", d.ca, "--user", "para", "--password-stdin")
	if r.code != 0 {
		t.Fatalf("enrol with the OS keyring:\n%s", r)
	}
	var prof struct{ Secrets string }
	b, err := os.ReadFile(filepath.Join(p.dir, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &prof); err != nil || prof.Secrets != "os-keyring" {
		t.Fatalf("profile.json names secret store %q (%v), want os-keyring", prof.Secrets, err)
	}
	id := cacheID(t, p)
	if secret, err := keyring.Get(keyringService, id); err != nil || secret == "" {
		t.Fatalf("no device secret in the OS keyring for cache %s: %v", id, err)
	}
	if _, err := os.Stat(p.secret); !os.IsNotExist(err) {
		t.Fatalf("a device secret file exists for a keyring profile (%v)", err)
	}

	if show := p.mustKmcr("show", d.nhs[0]); !strings.Contains(show.stdout, banner(d.nhs[0])) {
		t.Fatalf("show with the keyring:\n%s", show)
	}
	if st := p.status(); st.CachedPatients != 5 {
		t.Fatalf("status with the keyring: %+v", st)
	}
	p.mustKmcr("wipe", "--yes")
	if _, err := keyring.Get(keyringService, id); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("the keyring entry survived kmcr wipe: %v", err)
	}
	if st := p.status(); st.Enrolled {
		t.Fatalf("status after wipe: %+v", st)
	}
}
