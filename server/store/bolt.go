package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file inside the data directory.
const FileName = "kmcr-server.db"

// Bucket names.
var (
	bMeta      = []byte("meta")
	bUsers     = []byte("users")
	bCaseload  = []byte("caseload") // nested: user -> nhs -> added
	bObjection = []byte("objections")
	bRels      = []byte("relationships") // user \x00 nhs -> Relationship
	bDevices   = []byte("devices")
	bRes       = []byte("resources") // nested: patient key -> resource key -> raw
	bShared    = []byte("shared")
	bPKeys     = []byte("patient-keys") // patient key -> nhs
	bNHSKeys   = []byte("nhs-keys")     // nhs \x00 patient key -> nil
	bPatients  = []byte("patients")     // nhs -> PatientMeta
	bDocs      = []byte("docs")         // nhs \x00 kind -> document
	bTrace     = []byte("trace")        // family \x00 birth \x00 nhs -> nothing (TracePatients)
	bChanges   = []byte("changes")      // seq -> Change
	bAudit     = []byte("audit")        // nested: device -> seq -> StoredEvent
	bAuditPat  = []byte("audit-by-patient")
	bAlerts    = []byte("alerts")
	bConflicts = []byte("audit-conflicts")          // device \x00 seq \x00 hash -> StoredEvent
	bOrgs      = []byte("orgs")                     // ods -> Org
	bNotify    = []byte("notifications")            // id -> Notification
	bNotifyPat = []byte("notifications-by-patient") // nhs \x00 id -> nil
	bNotifyDue = []byte("notifications-pending")    // created (be64 ns) \x00 id -> nil, until sent
	bContacts  = []byte("contacts")                 // nhs -> email
	bIncidents = []byte("incidents")                // id -> Incident
	bIncGrants = []byte("incident-grants")          // user \x00 nhs \x00 id -> expires (RFC 3339)
	bPostcodes = []byte("postcode-index")           // postcode \x00 nhs -> nil
	bDispatch  = []byte("dispatchers")              // name -> Dispatcher

	kEpoch   = []byte("epoch")
	kSeq     = []byte("seq")
	kAlertID = []byte("alert-id")
)

// Bolt is the bbolt implementation of Store.
type Bolt struct {
	db    *bolt.DB
	epoch string

	mu     sync.Mutex
	subs   map[int]chan uint64
	next   int
	newest uint64 // the highest sequence notified
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens or creates the store in dir. lockTimeout bounds the wait
// for another process's lock; ErrLocked is returned when it expires.
func OpenBolt(dir string, lockTimeout time.Duration) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{Timeout: lockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	s := &Bolt{db: db, subs: map[int]chan uint64{}}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bMeta, bUsers, bCaseload, bObjection, bRels, bDevices, bRes, bShared, bPKeys, bNHSKeys, bPatients, bDocs, bTrace, bChanges, bAudit, bAuditPat, bAlerts, bConflicts, bOrgs, bNotify, bNotifyPat, bNotifyDue, bContacts, bIncidents, bIncGrants, bPostcodes, bDispatch} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bMeta)
		if e := m.Get(kEpoch); e != nil {
			s.epoch = string(e)
			return nil
		}
		var r [10]byte
		if _, err := rand.Read(r[:]); err != nil {
			return err
		}
		s.epoch = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(r[:])
		return m.Put(kEpoch, []byte(s.epoch))
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Exists reports whether dir holds a store file.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, FileName))
	return err == nil
}

// Epoch implements Store.
func (s *Bolt) Epoch() string { return s.epoch }

// Close implements Store.
func (s *Bolt) Close() error { return s.db.Close() }

// LastSeq implements Store.
func (s *Bolt) LastSeq() (uint64, error) {
	var seq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		seq = u64(tx.Bucket(bMeta).Get(kSeq))
		return nil
	})
	return seq, err
}

// Secret implements Store.
func (s *Bolt) Secret(name string) ([]byte, error) {
	var out []byte
	err := s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		k := []byte("secret/" + name)
		if v := m.Get(k); v != nil {
			out = append([]byte(nil), v...)
			return nil
		}
		out = make([]byte, 32)
		if _, err := rand.Read(out); err != nil {
			return err
		}
		return m.Put(k, out)
	})
	return out, err
}

// DropSecret deletes the secret kept under name and reports whether one
// was there. It is not part of Store: it moves a secret an older version
// kept inside the database out of it (the token-signing key now lives in
// its own file). bbolt does not scrub freed pages, so the caller must
// also stop trusting the value (the server never accepts tokens signed
// with it).
func (s *Bolt) DropSecret(name string) (bool, error) {
	found := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		k := []byte("secret/" + name)
		if m.Get(k) == nil {
			return nil
		}
		found = true
		return m.Delete(k)
	})
	return found, err
}

// Subscribe implements Store.
func (s *Bolt) Subscribe() (<-chan uint64, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	ch := make(chan uint64, 1)
	s.subs[id] = ch
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

// notify tells subscribers the newest sequence, replacing an unread one.
// Two writers' notifications can arrive out of order (each is sent after its
// transaction commits); an older one is dropped, since subscribers already
// hold a newer number, so what they read never goes backwards.
func (s *Bolt) notify(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.newest {
		return
	}
	s.newest = seq
	for _, ch := range s.subs {
		select {
		case <-ch:
		default:
		}
		ch <- seq
	}
}

// update runs fn in a write transaction and notifies subscribers when it
// appended changes.
func (s *Bolt) update(fn func(tx *bolt.Tx) error) error {
	var before, after uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		before = u64(tx.Bucket(bMeta).Get(kSeq))
		if err := fn(tx); err != nil {
			return err
		}
		after = u64(tx.Bucket(bMeta).Get(kSeq))
		return nil
	})
	if err == nil && after != before {
		s.notify(after)
	}
	return err
}

// appendChange logs c with the next sequence number.
func appendChange(tx *bolt.Tx, c Change) error {
	m := tx.Bucket(bMeta)
	c.Seq = u64(m.Get(kSeq)) + 1
	if err := m.Put(kSeq, be64(c.Seq)); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bChanges), be64(c.Seq), c)
}

// Changes implements Store.
func (s *Bolt) Changes(after uint64, fn func(Change) error) error {
	if after == math.MaxUint64 {
		return nil // nothing can follow it, and after+1 would wrap to the start
	}
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bChanges).Cursor()
		for k, v := c.Seek(be64(after + 1)); k != nil; k, v = c.Next() {
			var ch Change
			if err := json.Unmarshal(v, &ch); err != nil {
				return fmt.Errorf("change %d: %w", u64(k), err)
			}
			if err := fn(ch); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddUser implements Store.
func (s *Bolt) AddUser(u User) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bUsers)
		if b.Get([]byte(u.Name)) != nil {
			return fmt.Errorf("user %q: %w", u.Name, ErrExists)
		}
		return putJSON(b, []byte(u.Name), u)
	})
}

// User implements Store.
func (s *Bolt) User(name string) (User, error) {
	var u User
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bUsers), []byte(name), &u, "user "+name)
	})
	return u, err
}

// Users implements Store.
func (s *Bolt) Users() ([]User, error) {
	var out []User
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bUsers).ForEach(func(k, v []byte) error {
			var u User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// UpdateUser implements Store.
func (s *Bolt) UpdateUser(name string, fn func(u *User) error) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bUsers)
		var u User
		if err := getJSON(b, []byte(name), &u, "user "+name); err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			return err
		}
		if u.Name != name {
			return fmt.Errorf("updating user %s: the name cannot change (to %q)", name, u.Name)
		}
		return putJSON(b, []byte(name), u)
	})
}

// CaseloadAdd implements Store.
func (s *Bolt) CaseloadAdd(user string, nhs []string) ([]string, error) {
	var changed []string
	err := s.update(func(tx *bolt.Tx) error {
		changed = changed[:0]
		if tx.Bucket(bUsers).Get([]byte(user)) == nil {
			return fmt.Errorf("user %q: %w", user, ErrNotFound)
		}
		b, err := tx.Bucket(bCaseload).CreateBucketIfNotExists([]byte(user))
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		for _, n := range nhs {
			if b.Get([]byte(n)) != nil {
				continue
			}
			if err := b.Put([]byte(n), []byte(now.Format(time.RFC3339))); err != nil {
				return err
			}
			if err := appendChange(tx, Change{Kind: ChangeCaseloadAdd, User: user, NHS: n, At: now}); err != nil {
				return err
			}
			changed = append(changed, n)
		}
		return nil
	})
	return changed, err
}

// CaseloadRemove implements Store.
func (s *Bolt) CaseloadRemove(user string, nhs []string) ([]string, error) {
	var changed []string
	err := s.update(func(tx *bolt.Tx) error {
		changed = changed[:0]
		if tx.Bucket(bUsers).Get([]byte(user)) == nil {
			return fmt.Errorf("user %q: %w", user, ErrNotFound)
		}
		b := tx.Bucket(bCaseload).Bucket([]byte(user))
		if b == nil {
			return nil
		}
		now := time.Now().UTC()
		for _, n := range nhs {
			if b.Get([]byte(n)) == nil {
				continue
			}
			if err := b.Delete([]byte(n)); err != nil {
				return err
			}
			if err := appendChange(tx, Change{Kind: ChangeCaseloadRemove, User: user, NHS: n, At: now}); err != nil {
				return err
			}
			changed = append(changed, n)
		}
		return nil
	})
	return changed, err
}

// InCaseload implements Store.
func (s *Bolt) InCaseload(user, nhs string) (bool, error) {
	var in bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bCaseload).Bucket([]byte(user)); b != nil {
			in = b.Get([]byte(nhs)) != nil
		}
		return nil
	})
	return in, err
}

// Permitted implements Store: a merge of the user's caseload bucket, live
// relationships and live incident grants, each kept in NHS-number order.
func (s *Bolt) Permitted(user, after string, now time.Time, fn func(nhs, rel string, expires time.Time) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		streams := []*permStream{
			caseloadStream(tx, user, after),
			relStream(tx, user, after, now),
			incidentStream(tx, user, after, now),
		}
		rels := []string{"caseload", "break-glass", "incident"}
		for {
			low := ""
			for _, st := range streams {
				if st.ok && (low == "" || st.nhs < low) {
					low = st.nhs
				}
			}
			if low == "" {
				return nil
			}
			chosen := -1
			var exp time.Time
			for i, st := range streams {
				if st.ok && st.nhs == low {
					if chosen < 0 {
						chosen, exp = i, st.exp
					}
					st.next()
				}
			}
			if err := fn(low, rels[chosen], exp); err != nil {
				return err
			}
		}
	})
}

// permStream is one ordered source of permitted NHS numbers.
type permStream struct {
	nhs  string
	exp  time.Time
	ok   bool
	next func()
}

func caseloadStream(tx *bolt.Tx, user, after string) *permStream {
	st := &permStream{}
	b := tx.Bucket(bCaseload).Bucket([]byte(user))
	if b == nil {
		st.next = func() { st.ok = false }
		return st
	}
	c := b.Cursor()
	k, _ := c.Seek([]byte(after))
	if k != nil && string(k) == after {
		k, _ = c.Next()
	}
	set := func() { st.ok = k != nil; st.nhs = string(k) }
	set()
	st.next = func() { k, _ = c.Next(); set() }
	return st
}

func relStream(tx *bolt.Tx, user, after string, now time.Time) *permStream {
	st := &permStream{}
	prefix := []byte(user + "\x00")
	c := tx.Bucket(bRels).Cursor()
	k, v := c.Seek(append(append([]byte{}, prefix...), after...))
	find := func() {
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			nhs := string(k[len(prefix):])
			var r Relationship
			if nhs > after && json.Unmarshal(v, &r) == nil && r.Expires.After(now) {
				st.ok, st.nhs, st.exp = true, nhs, r.Expires
				return
			}
		}
		st.ok = false
	}
	find()
	st.next = func() { k, v = c.Next(); find() }
	return st
}

// incidentStream yields each NHS number once with the latest expiry of the
// user's live grants for it (grants of several incidents sit side by side).
func incidentStream(tx *bolt.Tx, user, after string, now time.Time) *permStream {
	st := &permStream{}
	prefix := []byte(user + "\x00")
	c := tx.Bucket(bIncGrants).Cursor()
	k, v := c.Seek(append(append([]byte{}, prefix...), after...))
	find := func() {
		st.ok = false
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			nhs, _, _ := strings.Cut(string(k[len(prefix):]), "\x00")
			if nhs <= after {
				continue
			}
			if st.ok && nhs != st.nhs {
				return
			}
			var exp time.Time
			if exp.UnmarshalText(v) != nil || !exp.After(now) {
				continue
			}
			if !st.ok || exp.After(st.exp) {
				st.ok, st.nhs, st.exp = true, nhs, exp
			}
		}
	}
	find()
	st.next = func() { find() }
	return st
}

// CountPermitted implements Store.
func (s *Bolt) CountPermitted(user, after string, now time.Time) (int, error) {
	n := 0
	err := s.Permitted(user, after, now, func(string, string, time.Time) error { n++; return nil })
	return n, err
}

// Object implements Store.
func (s *Bolt) Object(nhs, purpose string) (bool, error) {
	return s.setObjection(nhs, purpose, true)
}

// Withdraw implements Store.
func (s *Bolt) Withdraw(nhs, purpose string) (bool, error) {
	return s.setObjection(nhs, purpose, false)
}

func (s *Bolt) setObjection(nhs, purpose string, on bool) (bool, error) {
	changed := false
	err := s.update(func(tx *bolt.Tx) error {
		changed = false
		b := tx.Bucket(bObjection)
		var ps []string
		if v := b.Get([]byte(nhs)); v != nil {
			if err := json.Unmarshal(v, &ps); err != nil {
				return err
			}
		}
		idx := -1
		for i, p := range ps {
			if p == purpose {
				idx = i
			}
		}
		switch {
		case on && idx < 0:
			ps = append(ps, purpose)
		case !on && idx >= 0:
			ps = append(ps[:idx], ps[idx+1:]...)
		default:
			return nil
		}
		changed = true
		if err := putJSON(b, []byte(nhs), ps); err != nil {
			return err
		}
		kind := ChangeObjection
		if !on {
			kind = ChangeWithdraw
		}
		return appendChange(tx, Change{Kind: kind, NHS: nhs, Reason: purpose, At: time.Now().UTC()})
	})
	return changed, err
}

// Objections implements Store.
func (s *Bolt) Objections(nhs string) ([]string, error) {
	var ps []string
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bObjection).Get([]byte(nhs)); v != nil {
			return json.Unmarshal(v, &ps)
		}
		return nil
	})
	return ps, err
}

// GrantRelationship implements Store.
func (s *Bolt) GrantRelationship(r Relationship) error {
	return s.update(func(tx *bolt.Tx) error {
		if err := putJSON(tx.Bucket(bRels), []byte(r.User+"\x00"+r.NHS), r); err != nil {
			return err
		}
		return appendChange(tx, Change{Kind: ChangeRelationship, User: r.User, NHS: r.NHS, Reason: r.ReasonCode, At: r.Granted})
	})
}

// Relationship implements Store.
func (s *Bolt) Relationship(user, nhs string, now time.Time) (Relationship, bool, error) {
	var r Relationship
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bRels).Get([]byte(user + "\x00" + nhs))
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		found = r.Expires.After(now)
		return nil
	})
	return r, found, err
}

// ExpireRelationships implements Store.
func (s *Bolt) ExpireRelationships(now time.Time) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bRels)
		var dead [][]byte
		var rels []Relationship
		err := b.ForEach(func(k, v []byte) error {
			var r Relationship
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !r.Expires.After(now) {
				dead = append(dead, append([]byte{}, k...))
				rels = append(rels, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
			if err := appendChange(tx, Change{Kind: ChangeRelationshipEnd, User: rels[i].User, NHS: rels[i].NHS, At: now}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// RegisterDevice implements Store.
func (s *Bolt) RegisterDevice(d Device) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDevices)
		if b.Get([]byte(d.ID)) != nil {
			return fmt.Errorf("device %s: %w", d.ID, ErrExists)
		}
		return putJSON(b, []byte(d.ID), d)
	})
}

// Device implements Store.
func (s *Bolt) Device(id string) (Device, error) {
	var d Device
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bDevices), []byte(id), &d, "device "+id)
	})
	return d, err
}

// UpdateDevice implements Store.
func (s *Bolt) UpdateDevice(id string, fn func(d *Device) error) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDevices)
		var d Device
		if err := getJSON(b, []byte(id), &d, "device "+id); err != nil {
			return err
		}
		if err := fn(&d); err != nil {
			return err
		}
		if d.ID != id {
			return fmt.Errorf("updating device %s: its ID cannot change (to %q)", id, d.ID)
		}
		return putJSON(b, []byte(id), d)
	})
}

// Devices implements Store.
func (s *Bolt) Devices() ([]Device, error) {
	var out []Device
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bDevices).ForEach(func(k, v []byte) error {
			var d Device
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// RevokeDevice implements Store.
func (s *Bolt) RevokeDevice(id string, now time.Time) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDevices)
		var d Device
		if err := getJSON(b, []byte(id), &d, "device "+id); err != nil {
			return err
		}
		if d.Revoked {
			return nil
		}
		d.Revoked, d.RevokedAt, d.RefreshHash, d.PrevRefreshHash = true, now, nil, nil
		if err := putJSON(b, []byte(id), d); err != nil {
			return err
		}
		return appendChange(tx, Change{Kind: ChangeDeviceRevoked, Device: id, User: d.User, At: now})
	})
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func getJSON(b *bolt.Bucket, k []byte, v any, what string) error {
	data := b.Get(k)
	if data == nil {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return json.Unmarshal(data, v)
}

func be64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
