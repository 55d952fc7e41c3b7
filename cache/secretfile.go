package cache

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// secretFileHeader is the first line of a device secret file.
const secretFileHeader = "kmcr device secrets v1"

// fileStore keeps device secrets in a text file, one "id base64" line each.
type fileStore struct {
	path string
	mu   sync.Mutex
}

var _ SecretStore = (*fileStore)(nil)

// NewFileSecretStore returns a SecretStore that keeps the device secret in
// the file at path (mode 0600), for machines without an OS keyring. It is an
// explicit opt-in and the user must choose it: with the secret on the same
// disk as the cache, whoever takes the disk has both factors and only the
// passphrase (Argon2id) stands between them and the data. It keeps its
// value when path is on separate removable media, or when the disk has
// full-disk encryption. Get refuses a file other users can read.
func NewFileSecretStore(path string) SecretStore {
	return &fileStore{path: path}
}

// Kind reports KindFile.
func (s *fileStore) Kind() SecretStoreKind { return KindFile }

func (s *fileStore) load() (map[string]string, []string, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading device secret file: %w", err)
	}
	entries := map[string]string{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			first = false
			if line != secretFileHeader {
				return nil, nil, fmt.Errorf("%s is not a kmcr device secret file", s.path)
			}
			continue
		}
		if line == "" {
			continue
		}
		id, val, ok := strings.Cut(line, " ")
		if !ok {
			return nil, nil, fmt.Errorf("device secret file %s is damaged", s.path)
		}
		if _, dup := entries[id]; !dup {
			order = append(order, id)
		}
		entries[id] = val
	}
	clear(b)
	return entries, order, nil
}

// Get returns the device secret stored for id.
func (s *fileStore) Get(id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("device secret file %s does not exist: %w", s.path, ErrSecretNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("device secret file: %w", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("device secret file %s can be read by other users (mode %04o); run chmod 600 on it", s.path, st.Mode().Perm())
	}
	entries, _, err := s.load()
	if err != nil {
		return nil, err
	}
	v, ok := entries[id]
	if !ok {
		return nil, fmt.Errorf("device secret file %s has no entry for this cache: %w", s.path, ErrSecretNotFound)
	}
	secret, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("device secret file %s is damaged: %w", s.path, ErrWrongDeviceSecret)
	}
	return secret, nil
}

// Set stores secret for id, replacing any earlier one.
func (s *fileStore) Set(id string, secret []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.ContainsAny(id, " \n") || id == "" {
		return fmt.Errorf("%w: secret id %q", ErrInvalid, id)
	}
	entries, order, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := entries[id]; !ok {
		order = append(order, id)
	}
	entries[id] = base64.StdEncoding.EncodeToString(secret)
	return s.store(entries, order)
}

// Delete removes the secret for id, overwriting the old file's bytes first.
// Deleting a missing entry is not an error.
func (s *fileStore) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, order, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := entries[id]; !ok {
		return nil
	}
	delete(entries, id)
	return s.store(entries, order)
}

// store replaces the file atomically: write a temporary file, overwrite the
// old file in place with zeros (so a removed secret does not linger in its
// blocks on in-place filesystems), then rename. With no entries left the
// file is removed.
func (s *fileStore) store(entries map[string]string, order []string) error {
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("device secret file: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(secretFileHeader + "\n")
	for _, id := range order {
		if v, ok := entries[id]; ok {
			buf.WriteString(id + " " + v + "\n")
		}
	}
	defer clear(buf.Bytes())
	if err := overwriteWithZeros(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("device secret file: %w", err)
	}
	if len(entries) == 0 {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("device secret file: %w", err)
		}
		return syncDir(dir)
	}
	tmp, err := os.CreateTemp(dir, ".kmcr-secret-*")
	if err != nil {
		return fmt.Errorf("device secret file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("device secret file: %w", err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("device secret file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("device secret file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("device secret file: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("device secret file: %w", err)
	}
	return syncDir(dir)
}

// overwriteWithZeros writes zeros over a file's current length and syncs.
func overwriteWithZeros(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.WriteAt(make([]byte, st.Size()), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename or removal durable. Directories cannot be synced
// on Windows, where the metadata is journaled anyway.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
