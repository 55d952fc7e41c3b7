package core

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"kmcr/internal/memsecrets"
)

// TestCore_Enrol_SeveralServers: enrolled against a dead address and a
// live node, the core logs in and syncs at the live one, keeps both in
// the profile in order, reports both as servers and the live one as the
// server in use, and starts there after a restart.
func TestCore_Enrol_SeveralServers(t *testing.T) {
	ts := startServer(t, 12)
	ts.addUser("amy", "paramedic", ts.nhs[:8]...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "wss://" + ln.Addr().String()
	ln.Close()
	live := "wss://" + ts.addr
	dir := filepath.Join(t.TempDir(), "profile")
	secrets := memsecrets.New()
	c := newCore(t, dir, secrets)
	err = c.Enrol(context.Background(), EnrolRequest{Servers: []string{dead, live, dead}, CAFile: ts.ca, User: "amy", Password: "password amy",
		Passphrase: []byte(testPassphrase), Host: "test-laptop"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := c.Status()
	if !slices.Equal(st.Servers, []string{dead, live}) || st.Server != live || st.CachedPatients != 8 {
		t.Fatalf("status: servers %q, server %q, %d cached", st.Servers, st.Server, st.CachedPatients)
	}
	p, err := loadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Servers, []string{dead, live}) || p.Server != live {
		t.Fatalf("profile: servers %q, server %q", p.Servers, p.Server)
	}
	c.Close()
	c2 := newCore(t, dir, secrets)
	if err := c2.Unlock([]byte(testPassphrase)); err != nil {
		t.Fatal(err)
	}
	if st := c2.Status(); st.Server != live || !slices.Equal(st.Servers, []string{dead, live}) {
		t.Fatalf("after a restart: servers %q, server %q", st.Servers, st.Server)
	}
	syncOnce(t, c2)
}

// TestProfile_OneAddressAsBefore: a profile written with one address has
// no servers field and loads as before; one without it (an older
// version's) gives its server as the only address.
func TestProfile_OneAddressAsBefore(t *testing.T) {
	dir := t.TempDir()
	if err := saveProfile(dir, &Profile{Server: "wss://a:8443", User: "amy"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, profileFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"servers"`) {
		t.Fatalf("a one-address profile names servers:\n%s", b)
	}
	old := `{"server": "wss://old:8443", "user": "amy", "role": "paramedic", "device_id": "dev-x", "host": "h", "secrets": "os-keyring", "enrolled": "2025-01-02T03:04:05Z", "first_sync_complete": true}`
	if err := os.WriteFile(filepath.Join(dir, profileFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := loadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Addresses(); !slices.Equal(got, []string{"wss://old:8443"}) {
		t.Fatalf("addresses of an old profile: %q", got)
	}
}

// TestSplitServers checks the ways a person may type several addresses.
func TestSplitServers(t *testing.T) {
	got := SplitServers(" wss://a:1, wss://b:2\nwss://c:3;wss://d:4  ")
	if want := []string{"wss://a:1", "wss://b:2", "wss://c:3", "wss://d:4"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := SplitServers(" \n,"); len(got) != 0 {
		t.Fatalf("blank: %q", got)
	}
}

// TestCore_Enrol_BadAddress: an address that is not wss://HOST:PORT is
// refused before anything is sent, naming it.
func TestCore_Enrol_BadAddress(t *testing.T) {
	c := newCore(t, filepath.Join(t.TempDir(), "profile"), memsecrets.New())
	for _, servers := range [][]string{nil, {"wss://a:1", "https://b:2"}, {"", " "}} {
		err := c.Enrol(context.Background(), EnrolRequest{Servers: servers, CAFile: "unused", User: "amy", Password: "pw", Passphrase: []byte(testPassphrase)}, nil)
		if err == nil || len(servers) > 1 && servers[1] == "https://b:2" && !strings.Contains(err.Error(), "https://b:2") {
			t.Fatalf("servers %q: %v", servers, err)
		}
		if c.Enrolled() {
			t.Fatalf("servers %q: enrolled", servers)
		}
	}
}
