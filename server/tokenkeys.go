package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"kmcr/internal/fsperm"
	"kmcr/sync/protocol"
)

// TokenKeysFile is the token-signing key file inside the data directory,
// kept apart from the database so a copy of kmcr-server.db cannot mint
// tokens.
const TokenKeysFile = "token-keys.json"

// tokenKeySize is the HMAC-SHA256 key size: the hash's block-independent
// security level, 256 bits.
const tokenKeySize = 32

// retiredKeyLife is how long a key stays accepted after a rotation: one
// access token lifetime, so every token signed just before still works to
// its end, plus the clock skew the checks allow.
const retiredKeyLife = protocol.AccessTokenTTL + tokenSkew

// TokenKey is one signing key. ID travels in every token it signs.
type TokenKey struct {
	ID      string    `json:"id"`
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
	// Retired is when a rotation replaced it; zero for the current key.
	Retired time.Time `json:"retired,omitzero"`
}

// TokenKeyInfo describes a key without its secret, for admins.
type TokenKeyInfo struct {
	ID            string    `json:"id"`
	Created       time.Time `json:"created"`
	Current       bool      `json:"current"`
	AcceptedUntil time.Time `json:"accepted_until,omitzero"`
}

type keyFileJSON struct {
	Keys []TokenKey `json:"keys"`
}

// TokenKeys is the set of signing keys a Service accepts: the current key
// signs, retired ones are accepted for retiredKeyLife after their
// rotation. It is kept in a 0600 file (OpenTokenKeys) or in memory only
// (NewMemoryTokenKeys, tokens die with the process).
type TokenKeys struct {
	path string // "" for memory only
	mu   sync.RWMutex
	keys []TokenKey // the current one last
}

// ErrNoTokenKeys is returned by OpenTokenKeys for a key file that holds
// no key.
var ErrNoTokenKeys = errors.New("the token key file holds no key")

// NewMemoryTokenKeys returns a key set held in memory only, with one
// fresh key: for tests and throwaway servers.
func NewMemoryTokenKeys(now time.Time) (*TokenKeys, error) {
	k, err := newTokenKey(now)
	if err != nil {
		return nil, err
	}
	return &TokenKeys{keys: []TokenKey{k}}, nil
}

// OpenTokenKeys reads the key file at path, creating it (mode 0600, with
// one fresh key) when absent. A file readable by group or others is
// tightened to 0600, and the change reported through logf.
func OpenTokenKeys(path string, now time.Time, logf func(string, ...any)) (*TokenKeys, error) {
	tk := &TokenKeys{path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		k, err := newTokenKey(now)
		if err != nil {
			return nil, err
		}
		tk.keys = []TokenKey{k}
		if err := tk.save(); err != nil {
			return nil, err
		}
		return tk, nil
	case err != nil:
		return nil, fmt.Errorf("reading the token key file: %w", err)
	}
	if changed, err := fsperm.TightenFile(path); err != nil {
		return nil, err
	} else if changed != "" && logf != nil {
		logf("%s", changed)
	}
	var f keyFileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("the token key file %s is not valid: %w", path, err)
	}
	for _, k := range f.Keys {
		if k.ID == "" || len(k.Key) != tokenKeySize {
			return nil, fmt.Errorf("the token key file %s has a malformed key %q", path, k.ID)
		}
	}
	if len(f.Keys) == 0 || !f.Keys[len(f.Keys)-1].Retired.IsZero() {
		return nil, fmt.Errorf("%s: %w", path, ErrNoTokenKeys)
	}
	tk.keys = f.Keys
	return tk, nil
}

func newTokenKey(now time.Time) (TokenKey, error) {
	key := make([]byte, tokenKeySize)
	if _, err := rand.Read(key); err != nil {
		return TokenKey{}, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return TokenKey{}, err
	}
	return TokenKey{ID: hex.EncodeToString(id), Key: key, Created: now.UTC()}, nil
}

// save writes the key file atomically with mode 0600.
func (tk *TokenKeys) save() error {
	if tk.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(keyFileJSON{Keys: tk.keys}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(tk.path), ".token-keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), tk.path)
}

// current returns the signing key.
func (tk *TokenKeys) current() TokenKey {
	tk.mu.RLock()
	defer tk.mu.RUnlock()
	return tk.keys[len(tk.keys)-1]
}

// lookup returns the key with id if it is accepted at now.
func (tk *TokenKeys) lookup(id string, now time.Time) ([]byte, bool) {
	tk.mu.RLock()
	defer tk.mu.RUnlock()
	for _, k := range tk.keys {
		if k.ID != id {
			continue
		}
		if !k.Retired.IsZero() && !now.Before(k.Retired.Add(retiredKeyLife)) {
			return nil, false
		}
		return k.Key, true
	}
	return nil, false
}

// Rotate makes a new current key; the old one stays accepted for one
// token lifetime, and keys retired longer ago are dropped from the file.
func (tk *TokenKeys) Rotate(now time.Time) ([]TokenKeyInfo, error) {
	nk, err := newTokenKey(now)
	if err != nil {
		return nil, err
	}
	tk.mu.Lock()
	defer tk.mu.Unlock()
	old := tk.keys
	var keep []TokenKey
	for i, k := range old {
		if i == len(old)-1 {
			k.Retired = now.UTC()
		}
		if !k.Retired.IsZero() && !now.Before(k.Retired.Add(retiredKeyLife)) {
			continue
		}
		keep = append(keep, k)
	}
	tk.keys = append(keep, nk)
	if err := tk.save(); err != nil {
		tk.keys = old
		return nil, fmt.Errorf("writing the token key file: %w", err)
	}
	return tk.infoLocked(), nil
}

// Info describes the keys, oldest first, without their secrets.
func (tk *TokenKeys) Info() []TokenKeyInfo {
	tk.mu.RLock()
	defer tk.mu.RUnlock()
	return tk.infoLocked()
}

func (tk *TokenKeys) infoLocked() []TokenKeyInfo {
	out := make([]TokenKeyInfo, 0, len(tk.keys))
	for i, k := range tk.keys {
		in := TokenKeyInfo{ID: k.ID, Created: k.Created, Current: i == len(tk.keys)-1}
		if !k.Retired.IsZero() {
			in.AcceptedUntil = k.Retired.Add(retiredKeyLife)
		}
		out = append(out, in)
	}
	return out
}
