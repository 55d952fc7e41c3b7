package cache

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"kmcr/record"
)

// fastKDF keeps the suite fast; TestCache_Open_DefaultKDF uses DefaultKDF.
var fastKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

const testPass = "correct horse battery staple"

// memStore is an in-memory SecretStore standing in for the OS keyring.
type memStore struct {
	kind SecretStoreKind
	mu   sync.Mutex
	m    map[string][]byte
}

func newMemStore() *memStore { return &memStore{kind: KindOSKeyring, m: map[string][]byte{}} }

func (s *memStore) Kind() SecretStoreKind { return s.kind }

func (s *memStore) Get(id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[id]
	if !ok {
		return nil, fmt.Errorf("memory store: %w", ErrSecretNotFound)
	}
	return bytes.Clone(v), nil
}

func (s *memStore) Set(id string, secret []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = bytes.Clone(secret)
	return nil
}

func (s *memStore) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// fakeClock is a settable clock for leases and retry delays.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is one profile: its options, clock and secret store.
type testEnv struct {
	opts  Options
	clock *fakeClock
	store *memStore
}

var epoch = time.Date(2025, 11, 1, 9, 0, 0, 0, time.UTC)

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	e := &testEnv{clock: &fakeClock{t: epoch}, store: newMemStore()}
	e.opts = Options{Dir: t.TempDir(), Secrets: e.store, KDF: fastKDF, Now: e.clock.Now}
	return e
}

// mustCreate makes a cache in a temporary profile, closed at cleanup.
func mustCreate(t testing.TB) (*Cache, *testEnv) {
	t.Helper()
	e := newEnv(t)
	c, err := Create(e.opts, []byte(testPass))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, e
}

// mustOpen unlocks e's cache, closed at cleanup.
func mustOpen(t testing.TB, e *testEnv) *Cache {
	t.Helper()
	c, err := Open(e.opts, []byte(testPass))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustClose(t testing.TB, c *Cache) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// nhsNumbers mints n valid NHS numbers in the 999 test range, starting
// after skip valid ones.
func nhsNumbers(skip, n int) []record.NHSNumber {
	out := make([]record.NHSNumber, 0, n)
	for p := 999000000; len(out) < n; p++ {
		nhs, ok := record.CompleteNHSNumber(strconv.Itoa(p))
		if !ok {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, nhs)
	}
	return out
}

func nhs1(i int) record.NHSNumber { return nhsNumbers(i, 1)[0] }

func testRecord(n record.NHSNumber, version uint64, notAfter time.Time) Record {
	return Record{NHS: n, Version: version, NotAfter: notAfter,
		Data: []byte(fmt.Sprintf(`{"nhs":%q,"version":%d,"allergies":["penicillin"]}`, n.Digits(), version))}
}

func testEntry(n record.NHSNumber, family, given, dob, postcode string) IndexEntry {
	return IndexEntry{NHS: n, Family: family, Given: given, BirthDate: dob, Postcode: postcode,
		Display: fmt.Sprintf("%s, %s", family, given)}
}

var lease = epoch.Add(30 * 24 * time.Hour)

// mustPut stores patients with default records in one transaction.
func mustPut(t testing.TB, c *Cache, entries ...IndexEntry) {
	t.Helper()
	err := c.Update(func(tx *Tx) error {
		for _, ie := range entries {
			if err := tx.Put(testRecord(ie.NHS, 1, lease), ie); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// editDB changes cache.db with raw bbolt while the cache is closed.
func editDB(t testing.TB, e *testEnv, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(e.opts.dbPath(), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
