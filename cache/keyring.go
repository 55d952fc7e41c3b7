package cache

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/zalando/go-keyring"
)

// SecretStoreKind says where a SecretStore keeps the device secret. The
// kind is recorded in cache.keys at Create, and Open refuses a store of the
// other kind with ErrSecretStoreMismatch: switching silently between them
// would either fail as a baffling "wrong passphrase" or quietly weaken the
// protection.
type SecretStoreKind uint8

// The kinds of SecretStore.
const (
	// KindOSKeyring is the operating system's keyring: Secret Service
	// (gnome-keyring, KWallet) on Linux, Keychain on macOS, Credential
	// Manager on Windows.
	KindOSKeyring SecretStoreKind = 1
	// KindFile is a device secret file chosen explicitly by the user on a
	// machine without a keyring (see NewFileSecretStore).
	KindFile SecretStoreKind = 2
)

// String names the kind for messages, as in "the OS keyring".
func (k SecretStoreKind) String() string {
	switch k {
	case KindOSKeyring:
		return "the OS keyring"
	case KindFile:
		return "a device secret file"
	}
	return fmt.Sprintf("an unknown secret store (%d)", uint8(k))
}

// SecretStore keeps the 32-byte device secret, the second factor of the key
// that wraps the master key. The cache passes its random id as id. Get must
// return an error wrapping ErrSecretNotFound when nothing is stored for id.
// Implementations must be safe for concurrent use.
type SecretStore interface {
	Kind() SecretStoreKind
	Get(id string) ([]byte, error)
	Set(id string, secret []byte) error
	Delete(id string) error
}

// keyringService is the service name of every kmcr keyring entry; the
// user name is the cache's random id, so profiles never collide.
const keyringService = "kmcr"

// keyringBackend is the part of go-keyring the store uses, so tests can
// substitute one that hangs.
type keyringBackend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

type goKeyring struct{}

func (goKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (goKeyring) Set(service, user, password string) error {
	return keyring.Set(service, user, password)
}
func (goKeyring) Delete(service, user string) error { return keyring.Delete(service, user) }

// osKeyring runs every keyring call on its own goroutine and stops waiting
// after timeout: Secret Service calls can hang on a locked or absent
// daemon, or wait for a prompt nobody will answer. A call that times out is
// abandoned; its goroutine ends whenever the keyring answers.
type osKeyring struct {
	backend keyringBackend
	timeout time.Duration
}

var _ SecretStore = (*osKeyring)(nil)

// NewOSKeyring returns the SecretStore backed by the OS keyring. Each call
// runs off the caller's goroutine and gives up after timeout (zero means
// DefaultKeyringTimeout) with an error wrapping ErrKeyringTimeout; a missing
// or unusable keyring gives an error wrapping ErrNoKeyring. Both messages
// name the fix. The secret is stored base64-encoded, because Secret Service
// carries text.
func NewOSKeyring(timeout time.Duration) SecretStore {
	return newOSKeyring(goKeyring{}, timeout)
}

func newOSKeyring(b keyringBackend, timeout time.Duration) *osKeyring {
	if timeout <= 0 {
		timeout = DefaultKeyringTimeout
	}
	return &osKeyring{backend: b, timeout: timeout}
}

// Kind reports KindOSKeyring.
func (k *osKeyring) Kind() SecretStoreKind { return KindOSKeyring }

func (k *osKeyring) call(fn func() (string, error)) (string, error) {
	type result struct {
		s   string
		err error
	}
	// Buffered, so an abandoned call can still deliver and exit.
	ch := make(chan result, 1)
	go func() {
		s, err := fn()
		ch <- result{s, err}
	}()
	t := time.NewTimer(k.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-t.C:
		return "", fmt.Errorf("no answer after %s: %w", k.timeout, ErrKeyringTimeout)
	}
}

func classifyKeyringErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrKeyringTimeout):
		return err
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("OS keyring: %w", ErrSecretNotFound)
	}
	return fmt.Errorf("%w (%v)", ErrNoKeyring, err)
}

// Get returns the device secret stored for id.
func (k *osKeyring) Get(id string) ([]byte, error) {
	s, err := k.call(func() (string, error) { return k.backend.Get(keyringService, id) })
	if err = classifyKeyringErr(err); err != nil {
		return nil, err
	}
	secret, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("the OS keyring entry %s/%s is not a kmcr device secret: %w", keyringService, id, ErrWrongDeviceSecret)
	}
	return secret, nil
}

// Set stores secret for id, replacing any earlier one.
func (k *osKeyring) Set(id string, secret []byte) error {
	enc := base64.StdEncoding.EncodeToString(secret)
	_, err := k.call(func() (string, error) { return "", k.backend.Set(keyringService, id, enc) })
	return classifyKeyringErr(err)
}

// Delete removes the secret for id. Deleting a missing entry is not an error.
func (k *osKeyring) Delete(id string) error {
	_, err := k.call(func() (string, error) { return "", k.backend.Delete(keyringService, id) })
	if err = classifyKeyringErr(err); errors.Is(err, ErrSecretNotFound) {
		return nil
	}
	return err
}
