package store

import (
	"bytes"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

func dueKey(n Notification) []byte {
	return append(append(be64(uint64(n.Created.UnixNano())), 0), n.ID...)
}

// AddNotifications implements Store.
func (s *Bolt) AddNotifications(ns []Notification) (int, error) {
	added := 0
	err := s.update(func(tx *bolt.Tx) error {
		added = 0
		b := tx.Bucket(bNotify)
		for _, n := range ns {
			if b.Get([]byte(n.ID)) != nil {
				continue
			}
			if err := putJSON(b, []byte(n.ID), n); err != nil {
				return err
			}
			if !n.Quiet {
				if err := tx.Bucket(bNotifyPat).Put([]byte(n.NHS+"\x00"+n.ID), nil); err != nil {
					return err
				}
				if n.Sent.IsZero() {
					if err := tx.Bucket(bNotifyDue).Put(dueKey(n), nil); err != nil {
						return err
					}
				}
			}
			added++
		}
		return nil
	})
	return added, err
}

// Notification implements Store.
func (s *Bolt) Notification(id string) (Notification, error) {
	var n Notification
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bNotify), []byte(id), &n, "notification "+id)
	})
	return n, err
}

// PatientNotifications implements Store.
func (s *Bolt) PatientNotifications(nhs string) ([]Notification, error) {
	var out []Notification
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bNotify)
		prefix := []byte(nhs + "\x00")
		c := tx.Bucket(bNotifyPat).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var n Notification
			if err := getJSON(b, k[len(prefix):], &n, "notification"); err != nil {
				return err
			}
			out = append(out, n)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.After(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// ClaimNotification implements Store: bbolt runs one write transaction
// at a time, so the scan and the claim are atomic.
func (s *Bolt) ClaimNotification(node string, now time.Time, stale time.Duration) (Notification, bool, error) {
	var got Notification
	ok := false
	err := s.update(func(tx *bolt.Tx) error {
		ok = false
		b := tx.Bucket(bNotify)
		c := tx.Bucket(bNotifyDue).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			var n Notification
			if err := getJSON(b, k[9:], &n, "notification"); err != nil {
				return err
			}
			if n.NextAttempt.After(now) || (n.ClaimedBy != "" && n.ClaimedAt.After(now.Add(-stale))) {
				continue
			}
			n.ClaimedBy, n.ClaimedAt = node, now
			n.Attempts++
			got, ok = n, true
			return putJSON(b, []byte(n.ID), n)
		}
		return nil
	})
	return got, ok, err
}

func (s *Bolt) updateNotification(id string, fn func(n *Notification)) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bNotify)
		var n Notification
		if err := getJSON(b, []byte(id), &n, "notification "+id); err != nil {
			return err
		}
		fn(&n)
		if !n.Sent.IsZero() {
			if err := tx.Bucket(bNotifyDue).Delete(dueKey(n)); err != nil {
				return err
			}
		}
		return putJSON(b, []byte(id), n)
	})
}

// NotificationSent implements Store.
func (s *Bolt) NotificationSent(id, node string, at time.Time, to string) error {
	return s.updateNotification(id, func(n *Notification) {
		n.Sent, n.To, n.ClaimedBy, n.ClaimedAt = at, to, "", time.Time{}
	})
}

// NotificationRetry implements Store.
func (s *Bolt) NotificationRetry(id, node string, next time.Time, reason string) error {
	return s.updateNotification(id, func(n *Notification) {
		if n.ClaimedBy != node || !n.Sent.IsZero() {
			return
		}
		n.ClaimedBy, n.ClaimedAt, n.NextAttempt, n.LastError = "", time.Time{}, next, reason
	})
}

// SetContact implements Store.
func (s *Bolt) SetContact(nhs, email string) error {
	return s.update(func(tx *bolt.Tx) error {
		if email == "" {
			return tx.Bucket(bContacts).Delete([]byte(nhs))
		}
		return tx.Bucket(bContacts).Put([]byte(nhs), []byte(email))
	})
}

// Contact implements Store.
func (s *Bolt) Contact(nhs string) (string, error) {
	var email string
	err := s.db.View(func(tx *bolt.Tx) error {
		email = string(tx.Bucket(bContacts).Get([]byte(nhs)))
		return nil
	})
	return email, err
}
