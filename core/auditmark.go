package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"kmcr/audit"
	"kmcr/cache"
	"kmcr/sync/protocol"
)

// Rollback detection.
//
// The cache keeps the audit chain inside the profile folder, so restoring
// an older copy of the folder after viewing offline would take the views
// with it. The device therefore keeps a high-water mark of the audit
// sequence numbers it has allocated outside the folder, beside the device
// secret in the OS keyring (or the device secret file), and checks it at
// every unlock: a chain head behind the mark is a profile restored from an
// older copy. The finding is kept in the mark, so restoring again does not
// erase it, and reported to the server in the next Hello.
//
// Writing the keyring for every event would make each access wait for the
// Secret Service, so sequence numbers are reserved in blocks of
// auditMarkBlock, and the exact head is recorded when the cache is closed
// or locked. A restore within the current block after a crash (no clean
// close) is not detected; docs/audit.md says what is and is not detectable.

// auditMarkBlock is how many sequence numbers one keyring write reserves.
const auditMarkBlock = 256

// auditMarkPrefix names the keyring entry of a device's mark; the device
// ID makes it unique per enrolment.
const auditMarkPrefix = "audit-mark-"

// auditMark is the high-water mark kept outside the profile folder.
type auditMark struct {
	// Reserved: sequence numbers through Reserved may have been allocated.
	// The head reached at least Reserved-auditMarkBlock when it was set.
	Reserved uint64 `json:"reserved"`
	// Closed is the exact chain head at the last clean close or lock.
	Closed uint64 `json:"closed"`
	// Pending is a rollback found at unlock and not yet reported.
	Pending *protocol.RollbackReport `json:"pending,omitempty"`
}

// floor is the head the cache must have reached: anything less is a rollback.
func (m auditMark) floor() uint64 {
	f := m.Closed
	if m.Reserved > auditMarkBlock && m.Reserved-auditMarkBlock > f {
		f = m.Reserved - auditMarkBlock
	}
	return f
}

// markKeeper holds the open cache's mark and writes it to the secret store.
type markKeeper struct {
	mu       sync.Mutex
	secrets  cache.SecretStore // nil while locked
	id       string
	mark     auditMark
	logf     func(string, ...any)
	failures int // keyring writes that failed (detection is weaker, never wrong)
}

func (k *markKeeper) save(m auditMark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := k.secrets.Set(k.id, b); err != nil {
		k.failures++
		return fmt.Errorf("keeping the audit high-water mark: %w", err)
	}
	k.mark = m
	return nil
}

// open loads the mark for a device and checks the cache's head against
// it. It returns the rollback found, if any (also kept as Pending).
func (k *markKeeper) open(secrets cache.SecretStore, deviceID string, head uint64, now time.Time) (*protocol.RollbackReport, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.secrets, k.id = secrets, auditMarkPrefix+deviceID
	b, err := secrets.Get(k.id)
	if errors.Is(err, cache.ErrSecretNotFound) {
		// A profile enrolled before marks were kept: start one now.
		return nil, k.save(auditMark{Reserved: head, Closed: head})
	}
	if err != nil {
		return nil, fmt.Errorf("reading the audit high-water mark: %w", err)
	}
	var m auditMark
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the audit high-water mark in %s is damaged: %w", secrets.Kind(), err)
	}
	k.mark = m
	floor := m.floor()
	if head >= floor {
		return nil, nil
	}
	r := protocol.RollbackReport{FoundSeq: head, AllocatedSeq: floor, DetectedAt: now}
	if p := m.Pending; p != nil {
		r.FoundSeq, r.AllocatedSeq = min(p.FoundSeq, head), max(p.AllocatedSeq, floor)
		r.DetectedAt = p.DetectedAt
	}
	// The chain goes on from the restored head; the mark follows it, and
	// keeps the finding until the server has it.
	return &r, k.save(auditMark{Reserved: head, Closed: head, Pending: &r})
}

// reserve is called with each event's sequence number before it is
// written; it writes the keyring once per block. A failed write is logged
// and the event still written: the mark then lags, which can hide a
// rollback but never invents one.
func (k *markKeeper) reserve(seq uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.secrets == nil || seq <= k.mark.Reserved {
		return
	}
	m := k.mark
	m.Reserved = seq + auditMarkBlock - 1
	if err := k.save(m); err != nil {
		k.logf("%v", err)
	}
}

// closed records the exact head at a clean close or lock, and forgets the
// store.
func (k *markKeeper) closed(head uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.secrets == nil {
		return
	}
	if head > k.mark.Closed {
		m := k.mark
		m.Closed = head
		m.Reserved = max(m.Reserved, head)
		if err := k.save(m); err != nil {
			k.logf("%v", err)
		}
	}
	k.secrets = nil
}

// pending is the rollback to report, if any.
func (k *markKeeper) pending() *protocol.RollbackReport {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mark.Pending == nil {
		return nil
	}
	r := *k.mark.Pending
	return &r
}

// reported forgets a reported rollback.
func (k *markKeeper) reported(r protocol.RollbackReport) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.secrets == nil || k.mark.Pending == nil || *k.mark.Pending != r {
		return nil
	}
	m := k.mark
	m.Pending = nil
	return k.save(m)
}

// drop forgets the store without writing (the cache is being wiped).
func (k *markKeeper) drop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.secrets, k.mark = nil, auditMark{}
}

// forget removes the mark (the cache is being wiped).
func forgetMark(secrets cache.SecretStore, deviceID string) error {
	return secrets.Delete(auditMarkPrefix + deviceID)
}

// chainHead reads the cache's chain head sequence number.
func chainHead(tx *cache.Tx) (uint64, error) {
	var h audit.Head
	_, err := getJSON(tx, metaAuditHead, &h)
	return h.Seq, err
}

// markFile keeps the mark of a profile whose device secret is in a file,
// in its own file beside that one: the device secret file is rewritten
// with its old bytes zeroed first, so rewriting it at every close would
// put the device secret at risk of a kill mid-write. The mark file is
// replaced whole by a rename, so a kill leaves the old mark or the new.
type markFile struct{ dir, base string }

func newMarkFile(secretFile string) markFile {
	return markFile{dir: filepath.Dir(secretFile), base: "." + filepath.Base(secretFile) + "."}
}

func (m markFile) path(id string) string { return filepath.Join(m.dir, m.base+id) }

func (markFile) Kind() cache.SecretStoreKind { return cache.KindFile }

func (m markFile) Get(id string) ([]byte, error) {
	b, err := os.ReadFile(m.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("audit high-water mark file: %w", cache.ErrSecretNotFound)
	}
	return b, err
}

func (m markFile) Set(id string, b []byte) error {
	tmp, err := os.CreateTemp(m.dir, m.base+"tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
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
	return os.Rename(tmp.Name(), m.path(id))
}

func (m markFile) Delete(id string) error {
	if err := os.Remove(m.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// markStore is where this profile's mark is kept: beside the device
// secret, in the OS keyring as its own entry or in a file of its own.
func (c *Core) markStore(opts cache.Options) cache.SecretStore {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.Secrets == nil && c.profile != nil && c.profile.Secrets == SecretsFile {
		return newMarkFile(c.profile.SecretFile)
	}
	return opts.Secrets
}
