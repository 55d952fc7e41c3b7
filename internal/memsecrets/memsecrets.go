// Package memsecrets is an in-memory stand-in for the OS keyring, for
// tests and benchmarks only: it lets a profile be made and unlocked without
// a D-Bus session or a keyring daemon. It claims the OS keyring's kind, so
// the cache behaves exactly as for a normal profile. Never use it in the
// programs: a device secret that lives only in memory is lost at exit.
package memsecrets

import (
	"fmt"
	"sync"

	"kmcr/cache"
)

// Store is an in-memory cache.SecretStore. The zero value is ready to use.
type Store struct {
	mu sync.Mutex
	m  map[string][]byte
}

var _ cache.SecretStore = (*Store)(nil)

// New returns an empty Store.
func New() *Store { return &Store{} }

// Kind implements cache.SecretStore.
func (s *Store) Kind() cache.SecretStoreKind { return cache.KindOSKeyring }

// Get implements cache.SecretStore.
func (s *Store) Get(id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[id]
	if !ok {
		return nil, fmt.Errorf("in-memory secret store: %w", cache.ErrSecretNotFound)
	}
	return append([]byte(nil), v...), nil
}

// Set implements cache.SecretStore.
func (s *Store) Set(id string, secret []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[id] = append([]byte(nil), secret...)
	return nil
}

// Delete implements cache.SecretStore.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}

// Len reports how many secrets are held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
