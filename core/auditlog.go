package core

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"kmcr/audit"
	"kmcr/cache"
	"kmcr/record"
	"kmcr/sync/protocol"
)

// Sealed metadata names in the cache.
const (
	metaSession   = "session"    // who uses this cache: user, role, policy
	metaDeviceKey = "device-key" // Ed25519 private key signing the audit chain
	metaAuditHead = "audit-head" // the chain head
	metaTokens    = "tokens"     // access token and refresh credential
	metaCursor    = "cursor"     // sync cursor
	metaAsOf      = "as-of"      // when the server last declared the cache complete
	metaLiveAt    = "live-at"    // when a first sync's last batch was stored (client clock)
	metaRecent    = "recent"     // recently opened patients
	metaFailures  = "failures-logged"
	metaIndexKeys = "index-keys" // the version of the search keys the index entries were made with
)

// session is who is using the cache, sealed inside it at enrolment and
// refreshed from the server's Welcome.
type session struct {
	User     protocol.UserInfo `json:"user"`
	Policy   protocol.Policy   `json:"policy"`
	DeviceID string            `json:"device_id"`
	Host     string            `json:"host"`
	Epoch    string            `json:"epoch"`
}

func getJSON(tx *cache.Tx, name string, v any) (bool, error) {
	b, err := tx.Meta(name)
	if errors.Is(err, cache.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(b, v)
}

func putJSON(tx *cache.Tx, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.PutMeta(name, b)
}

// chainStore adapts a cache transaction to audit.ChainStore: the event and
// the new head are written in the caller's transaction.
type chainStore struct {
	tx    *cache.Tx
	marks *markKeeper
}

func (s chainStore) ChainHead() (audit.Head, error) {
	var h audit.Head
	_, err := getJSON(s.tx, metaAuditHead, &h)
	return h, err
}

func (s chainStore) AppendEvent(e audit.Event, canonical []byte, newHead audit.Head) error {
	s.marks.reserve(e.Seq)
	if err := s.tx.OutboxAppend(e.Seq, e.Occurred, canonical); err != nil {
		return err
	}
	return putJSON(s.tx, metaAuditHead, newHead)
}

// event fills in who, where and when for an event of the session's user.
func (c *Core) event(s session, a audit.Action) audit.Event {
	return audit.Event{
		Action:   a,
		Occurred: c.now(),
		User:     audit.Actor{ID: s.User.ID, Name: s.User.Name, Role: s.User.Role},
		Device:   audit.Device{ID: s.DeviceID, Host: s.Host},
		Outcome:  audit.Outcome{Result: audit.ResultSuccess},
	}
}

// writeEvent appends e to the outbox inside tx, reserving its sequence
// number in the high-water mark first.
func (c *Core) writeEvent(tx *cache.Tx, e audit.Event) error {
	if _, err := audit.Append(chainStore{tx: tx, marks: &c.marks}, e); err != nil {
		return fmt.Errorf("writing the audit event: %w", err)
	}
	return nil
}

// logEvent writes one event in its own transaction and nudges the uploader.
func (c *Core) logEvent(e audit.Event) error {
	cc, _, err := c.open()
	if err != nil {
		return err
	}
	if err := cc.Update(func(tx *cache.Tx) error { return c.writeEvent(tx, e) }); err != nil {
		return err
	}
	c.flushAudit()
	return nil
}

func (c *Core) flushAudit() {
	c.mu.Lock()
	sc := c.sync
	c.mu.Unlock()
	if sc != nil {
		sc.FlushAudit()
	}
	c.notify()
}

// signedHead signs the current chain head with the device key.
func signedHead(tx *cache.Tx, deviceID string) (*protocol.SignedHead, error) {
	var h audit.Head
	ok, err := getJSON(tx, metaAuditHead, &h)
	if err != nil || !ok {
		return nil, err
	}
	key, err := tx.Meta(metaDeviceKey)
	if err != nil {
		return nil, fmt.Errorf("reading the device key: %w", err)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("the device key is damaged")
	}
	sh := audit.SignHead(ed25519.PrivateKey(key), deviceID, h)
	return &protocol.SignedHead{Seq: sh.Seq, Hash: append([]byte(nil), sh.Hash[:]...), Sig: sh.Signature}, nil
}

// patientEvent is an access to one patient, under the role's purpose of use.
func (c *Core) patientEvent(s session, a audit.Action, nhs record.NHSNumber) audit.Event {
	e := c.event(s, a)
	e.Patient = nhs
	e.Purpose = s.Policy.Purpose
	return e
}
