package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Ensure the retry schedule is 0, 0, 0, 1s, 2s, 4s... capped at 5 minutes.
func TestRetryDelay_Schedule(t *testing.T) {
	tests := []struct {
		failures uint32
		want     time.Duration
	}{
		{0, 0}, {1, 0}, {2, 0}, {3, 0},
		{4, time.Second}, {5, 2 * time.Second}, {6, 4 * time.Second},
		{11, 128 * time.Second}, {12, 256 * time.Second}, {13, 5 * time.Minute},
		{40, 5 * time.Minute}, {^uint32(0), 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := retryDelay(tt.failures); got != tt.want {
			t.Errorf("retryDelay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

// Ensure wrong passphrases give typed errors, a growing delay that survives
// reopening, and that a successful unlock resets it.
func TestOpen_WrongPassphrase(t *testing.T) {
	c, e := mustCreate(t)
	mustClose(t, c)
	wrong := []byte("Tr0ub4dor&3")
	for i, want := range []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second} {
		_, err := Open(e.opts, wrong)
		var re *RetryError
		if !errors.As(err, &re) || !errors.Is(err, ErrWrongPassphrase) || re.Wait != want {
			t.Fatalf("attempt %d: error = %v (wait %v), want ErrWrongPassphrase with wait %v", i+1, err, re, want)
		}
		if want > 0 {
			// Too soon: refused without trying, even with the right passphrase.
			e.clock.Advance(want / 2)
			_, err := Open(e.opts, []byte(testPass))
			if !errors.As(err, &re) || !errors.Is(err, ErrTooSoon) || re.Wait != want-want/2 {
				t.Fatalf("attempt %d early: error = %v, want ErrTooSoon with wait %v", i+1, err, want-want/2)
			}
			if errors.Is(err, ErrWrongPassphrase) {
				t.Fatal("ErrTooSoon also matches ErrWrongPassphrase")
			}
			e.clock.Advance(want - want/2)
		}
	}
	if !strings.Contains(fmt.Sprint(&RetryError{Wait: 4 * time.Second, Err: ErrWrongPassphrase}), "try again in 4s") {
		t.Error("RetryError message does not say how long to wait")
	}
	// A clock set back does not shorten the wait.
	e.clock.Advance(-time.Hour)
	_, err := Open(e.opts, []byte(testPass))
	wantErr(t, err, ErrTooSoon)
	e.clock.Advance(time.Hour + 8*time.Second)

	c = mustOpen(t, e)
	mustClose(t, c)
	_, err = Open(e.opts, wrong)
	var re *RetryError
	if !errors.As(err, &re) || re.Wait != 0 {
		t.Fatalf("after a successful unlock: %v, want a reset counter", err)
	}
}

// Ensure a missing device secret is reported as such, not as a wrong passphrase.
func TestOpen_MissingDeviceSecret(t *testing.T) {
	c, e := mustCreate(t)
	mustClose(t, c)
	clear(e.store.m)
	for range 5 {
		_, err := Open(e.opts, []byte(testPass))
		wantErr(t, err, ErrNoDeviceSecret)
		if errors.Is(err, ErrWrongPassphrase) || errors.Is(err, ErrTooSoon) {
			t.Fatalf("missing secret reported as %v", err)
		}
	}
}

// Ensure a device secret that is not this cache's is reported as such.
func TestOpen_WrongDeviceSecret(t *testing.T) {
	c, e := mustCreate(t)
	mustClose(t, c)
	for id := range e.store.m {
		e.store.m[id] = make([]byte, deviceSecretSize)
	}
	_, err := Open(e.opts, []byte(testPass))
	wantErr(t, err, ErrWrongDeviceSecret)
}

// Ensure opening with the other kind of secret store fails with a clear mismatch.
func TestOpen_SecretStoreMismatch(t *testing.T) {
	tests := []struct {
		name         string
		create, open SecretStoreKind
	}{
		{"keyring then file", KindOSKeyring, KindFile},
		{"file then keyring", KindFile, KindOSKeyring},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.store.kind = tt.create
			c, err := Create(e.opts, []byte(testPass))
			if err != nil {
				t.Fatal(err)
			}
			mustClose(t, c)
			e.store.kind = tt.open
			_, err = Open(e.opts, []byte(testPass))
			wantErr(t, err, ErrSecretStoreMismatch)
			if errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), tt.create.String()) || !strings.Contains(err.Error(), tt.open.String()) {
				t.Errorf("message does not name the mismatch: %v", err)
			}
		})
	}
}

// hungBackend is a keyring that never answers, like a Secret Service
// waiting on a prompt.
type hungBackend struct{ release chan struct{} }

func (h hungBackend) Get(string, string) (string, error) { <-h.release; return "", nil }
func (h hungBackend) Set(string, string, string) error   { <-h.release; return nil }
func (h hungBackend) Delete(string, string) error        { <-h.release; return nil }

// brokenBackend is a keyring whose daemon is missing.
type brokenBackend struct{}

func (brokenBackend) Get(string, string) (string, error) {
	return "", errors.New("The name org.freedesktop.secrets was not provided by any .service files")
}
func (brokenBackend) Set(string, string, string) error {
	return errors.New("The name org.freedesktop.secrets was not provided by any .service files")
}
func (brokenBackend) Delete(string, string) error { return nil }

// Ensure a hung keyring gives ErrKeyringTimeout within the timeout, for
// the store and for Create and Open.
func TestOSKeyring_Timeout(t *testing.T) {
	hung := hungBackend{release: make(chan struct{})}
	t.Cleanup(func() { close(hung.release) })
	const timeout = 200 * time.Millisecond
	store := newOSKeyring(hung, timeout)

	start := time.Now()
	_, err := store.Get("id")
	wantErr(t, err, ErrKeyringTimeout)
	if d := time.Since(start); d < timeout || d > timeout+2*time.Second {
		t.Errorf("Get took %v with a %v timeout", d, timeout)
	}
	if !strings.Contains(err.Error(), "gnome-keyring") || !strings.Contains(err.Error(), "device secret file") {
		t.Errorf("message does not name the fix: %v", err)
	}

	e := newEnv(t)
	e.opts.Secrets = store
	_, err = Create(e.opts, []byte(testPass))
	wantErr(t, err, ErrKeyringTimeout)
	if Exists(e.opts.Dir) {
		t.Error("a failed Create left files behind")
	}

	// Open: create with a working store, then open with the hung one.
	c, e2 := mustCreate(t)
	mustClose(t, c)
	e2.opts.Secrets = store
	start = time.Now()
	_, err = Open(e2.opts, []byte(testPass))
	wantErr(t, err, ErrKeyringTimeout)
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Errorf("Open took %v with a %v keyring timeout", d, timeout)
	}
}

// Ensure an unreachable keyring gives ErrNoKeyring naming the fix.
func TestOSKeyring_NoKeyring(t *testing.T) {
	store := newOSKeyring(brokenBackend{}, time.Second)
	_, err := store.Get("id")
	wantErr(t, err, ErrNoKeyring)
	if !strings.Contains(err.Error(), "install and unlock gnome-keyring (Secret Service), or re-enrol choosing a device secret file") {
		t.Errorf("message does not name the fix: %v", err)
	}
	e := newEnv(t)
	e.opts.Secrets = store
	_, err = Create(e.opts, []byte(testPass))
	wantErr(t, err, ErrNoKeyring)
}

// Ensure the real OS keyring stores, returns and deletes a device secret,
// and backs a cache. Runs only with KMCR_TEST_KEYRING=1 (see the Makefile).
func TestOSKeyring_RoundTrip(t *testing.T) {
	if os.Getenv("KMCR_TEST_KEYRING") != "1" {
		t.Skip("set KMCR_TEST_KEYRING=1 inside a D-Bus session with an unlocked Secret Service (gnome-keyring) to test the OS keyring")
	}
	store := NewOSKeyring(10 * time.Second)
	id := fmt.Sprintf("kmcr-test-%d", time.Now().UnixNano())
	secret := []byte{0, 1, 2, 250, 251, 252, 253, 254, 255}
	if err := store.Set(id, secret); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(id)
	if err != nil || string(got) != string(secret) {
		t.Fatalf("Get = %x, %v", got, err)
	}
	if err := store.Delete(id); err != nil {
		t.Fatal(err)
	}
	_, err = store.Get(id)
	wantErr(t, err, ErrSecretNotFound)

	e := newEnv(t)
	e.opts.Secrets = store
	c, err := Create(e.opts, []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, testEntry(nhs1(0), "Keyring", "Test", "", ""))
	mustClose(t, c)
	c = mustOpen(t, e)
	if _, err := c.Get(nhs1(0)); err != nil {
		t.Fatal(err)
	}
	if err := c.Wipe(); err != nil {
		t.Fatal(err)
	}
	_, err = store.Get(fmt.Sprintf("%x", c.hdr.cacheID))
	wantErr(t, err, ErrSecretNotFound)
}

// Ensure the device secret file works, is 0600, refuses wider modes and
// is removed with its last entry.
func TestFileSecretStore_RoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "device.secret")
	e := newEnv(t)
	e.opts.Secrets = NewFileSecretStore(path)
	c, err := Create(e.opts, []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, testEntry(nhs1(0), "File", "Store", "", ""))
	mustClose(t, c)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode = %v, %v", st.Mode(), err)
	}
	c = mustOpen(t, e)
	if _, err := c.Get(nhs1(0)); err != nil {
		t.Fatal(err)
	}
	mustClose(t, c)

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(e.opts, []byte(testPass))
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable secret file accepted: %v", err)
	}
	os.Chmod(path, 0o600)

	if err := Wipe(e.opts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("secret file still exists after Wipe: %v", err)
	}
	_, err = e.opts.Secrets.Get("anything")
	wantErr(t, err, ErrSecretNotFound)
}

// Ensure ChangePassphrase re-wraps M: the old passphrase fails, the new one
// works, records are intact and the old wrapping is gone from cache.keys.
func TestCache_ChangePassphrase(t *testing.T) {
	c, e := mustCreate(t)
	mustPut(t, c, testEntry(nhs1(0), "Smith", "J", "", ""))
	oldHalf := readFile(t, e.opts.keysPath())[masterHalfOffset(c.masterHalf):][:masterHalfSize]

	err := c.ChangePassphrase([]byte("not it"), []byte("new passphrase"))
	wantErr(t, err, ErrWrongPassphrase)
	wantErr(t, c.ChangePassphrase([]byte(testPass), nil), ErrInvalid)

	e.opts.KDF = KDFParams{Time: 2, MemoryKiB: 128, Threads: 1} // raise the cost
	c.opts.KDF = e.opts.KDF
	if err := c.ChangePassphrase([]byte(testPass), []byte("new passphrase")); err != nil {
		t.Fatal(err)
	}
	mustClose(t, c)
	img := readFile(t, e.opts.keysPath())
	if strings.Contains(string(img), string(oldHalf[mhNonce:])) {
		t.Error("old master wrapping still in cache.keys")
	}
	if !isZero(img[masterHalfOffset(0):][:masterHalfSize]) {
		t.Error("old master half not zeroed")
	}

	_, err = Open(e.opts, []byte(testPass))
	wantErr(t, err, ErrWrongPassphrase)
	c, err = Open(e.opts, []byte("new passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.kdf != e.opts.KDF {
		t.Errorf("KDF = %+v, want raised %+v", c.kdf, e.opts.KDF)
	}
	if _, err := c.Get(nhs1(0)); err != nil {
		t.Fatal(err)
	}
}

// Ensure Wipe destroys files and the device secret, and Open then fails
// with ErrNotExist; with and without the passphrase.
func TestCache_Wipe(t *testing.T) {
	for _, unlocked := range []bool{true, false} {
		t.Run(fmt.Sprintf("unlocked=%v", unlocked), func(t *testing.T) {
			c, e := mustCreate(t)
			mustPut(t, c, testEntry(nhs1(0), "Smith", "J", "", ""))
			if unlocked {
				if err := c.Wipe(); err != nil {
					t.Fatal(err)
				}
				wantErr(t, c.Wipe(), ErrClosed)
			} else {
				mustClose(t, c)
				if err := Wipe(e.opts); err != nil {
					t.Fatal(err)
				}
			}
			if Exists(e.opts.Dir) {
				t.Error("files remain")
			}
			if e.store.len() != 0 {
				t.Error("device secret remains")
			}
			_, err := Open(e.opts, []byte(testPass))
			wantErr(t, err, ErrNotExist)
			wantErr(t, Wipe(e.opts), ErrNotExist)
		})
	}
}

// Ensure Wipe refuses while the cache is open, and wipes damaged caches.
func TestWipe_Refusals(t *testing.T) {
	c, e := mustCreate(t)
	e.opts.LockTimeout = 100 * time.Millisecond
	wantErr(t, Wipe(e.opts), ErrAlreadyRunning)
	mustClose(t, c)
	if err := os.Truncate(e.opts.dbPath(), 1000); err != nil {
		t.Fatal(err)
	}
	if err := Wipe(e.opts); err != nil {
		t.Fatalf("Wipe of a truncated cache: %v", err)
	}
	if Exists(e.opts.Dir) || e.store.len() != 0 {
		t.Error("damaged cache not wiped")
	}
}
