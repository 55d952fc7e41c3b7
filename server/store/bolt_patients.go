package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// StageResources implements Store.
func (s *Bolt) StageResources(items []StagedResource) ([]string, error) {
	var changed []string
	err := s.update(func(tx *bolt.Tx) error {
		changed = changed[:0]
		seen := map[string]bool{}
		res := tx.Bucket(bRes)
		for _, it := range items {
			pb, err := res.CreateBucketIfNotExists([]byte(it.PatientKey))
			if err != nil {
				return err
			}
			v := encodeStored(it.FullURL, it.Raw)
			if old := pb.Get([]byte(it.Key)); old != nil && bytes.Equal(old, v) {
				continue
			}
			if err := pb.Put([]byte(it.Key), v); err != nil {
				return err
			}
			if !seen[it.PatientKey] {
				seen[it.PatientKey] = true
				changed = append(changed, it.PatientKey)
			}
		}
		return nil
	})
	return changed, err
}

// encodeStored keeps the fullUrl beside the raw resource: its length as two
// bytes, then the URL, then the resource. A URL of 0xFFFF bytes or more
// (only a hostile feed sends one) has 0xFFFF there and its length in four
// more bytes; before that escape existed such lengths were cut to two bytes,
// so no stored value of the old form starts with 0xFFFF unless it was
// already unreadable.
func encodeStored(fullURL string, raw []byte) []byte {
	n := len(fullURL)
	v := make([]byte, 0, 6+n+len(raw))
	if n < longURL {
		v = append(v, byte(n>>8), byte(n))
	} else {
		v = append(v, 0xff, 0xff)
		v = binary.BigEndian.AppendUint32(v, uint32(n))
	}
	v = append(v, fullURL...)
	return append(v, raw...)
}

// longURL is the two-byte length that says a four-byte one follows.
const longURL = 0xffff

func decodeStored(key, v []byte) (StoredResource, error) {
	if len(v) < 2 {
		return StoredResource{}, fmt.Errorf("stored resource %s is truncated", key)
	}
	n, head := int(v[0])<<8|int(v[1]), 2
	if n == longURL {
		if len(v) < 6 {
			return StoredResource{}, fmt.Errorf("stored resource %s is truncated", key)
		}
		n, head = int(binary.BigEndian.Uint32(v[2:6])), 6
	}
	if len(v)-head < n {
		return StoredResource{}, fmt.Errorf("stored resource %s is truncated", key)
	}
	return StoredResource{
		Key:     string(key),
		FullURL: string(v[head : head+n]),
		Raw:     append([]byte(nil), v[head+n:]...),
	}, nil
}

// PutShared implements Store.
func (s *Bolt) PutShared(items []StoredResource) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bShared)
		for _, it := range items {
			v := encodeStored(it.FullURL, it.Raw)
			if err := b.Put([]byte(it.Key), v); err != nil {
				return err
			}
			// A fullUrl past bbolt's key limit (only a hostile feed sends
			// one) is not indexed: the resource is found by its key alone.
			if it.FullURL != "" && it.FullURL != it.Key && len(it.FullURL) <= bolt.MaxKeySize {
				if err := b.Put([]byte(it.FullURL), v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Shared implements Store.
func (s *Bolt) Shared(key string) (StoredResource, bool, error) {
	var r StoredResource
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bShared).Get([]byte(key))
		if v == nil {
			return nil
		}
		var err error
		r, err = decodeStored([]byte(key), v)
		found = err == nil
		return err
	})
	return r, found, err
}

// PatientResources implements Store.
func (s *Bolt) PatientResources(patientKey string) ([]StoredResource, error) {
	var out []StoredResource
	err := s.db.View(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bRes).Bucket([]byte(patientKey))
		if pb == nil {
			return nil
		}
		return pb.ForEach(func(k, v []byte) error {
			r, err := decodeStored(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// PatientKeyNHS implements Store.
func (s *Bolt) PatientKeyNHS(patientKey string) (string, bool, error) {
	var nhs string
	err := s.db.View(func(tx *bolt.Tx) error {
		nhs = string(tx.Bucket(bPKeys).Get([]byte(patientKey)))
		return nil
	})
	return nhs, nhs != "", err
}

// MapPatientKeys implements Store. Keys are put in byte order: bbolt
// inserts into a node by moving what follows, so a large map put in
// random order costs the square of its size.
func (s *Bolt) MapPatientKeys(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return s.update(func(tx *bolt.Tx) error {
		b, byNHS := tx.Bucket(bPKeys), tx.Bucket(bNHSKeys)
		index := make([]string, 0, len(keys))
		for _, k := range keys {
			nhs := m[k]
			if old := b.Get([]byte(k)); old != nil && string(old) != nhs {
				if err := byNHS.Delete([]byte(string(old) + "\x00" + k)); err != nil {
					return err
				}
			}
			if err := b.Put([]byte(k), []byte(nhs)); err != nil {
				return err
			}
			index = append(index, nhs+"\x00"+k)
		}
		slices.Sort(index)
		for _, k := range index {
			if err := byNHS.Put([]byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// PatientKeys implements Store.
func (s *Bolt) PatientKeys(nhs string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := []byte(nhs + "\x00")
		c := tx.Bucket(bNHSKeys).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	return out, err
}

// PatientSources implements Store.
func (s *Bolt) PatientSources(nhs []string) (map[string][]PatientSource, error) {
	out := map[string][]PatientSource{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c, res := tx.Bucket(bNHSKeys).Cursor(), tx.Bucket(bRes)
		for _, n := range nhs {
			if _, done := out[n]; done {
				continue
			}
			prefix := []byte(n + "\x00")
			var srcs []PatientSource
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				src := PatientSource{Key: string(k[len(prefix):])}
				if pb := res.Bucket([]byte(src.Key)); pb != nil {
					if err := pb.ForEach(func(k, v []byte) error {
						r, err := decodeStored(k, v)
						src.Resources = append(src.Resources, r)
						return err
					}); err != nil {
						return err
					}
				}
				srcs = append(srcs, src)
			}
			if srcs != nil {
				out[n] = srcs
			}
		}
		return nil
	})
	return out, err
}

// CommitPatients implements Store.
func (s *Bolt) CommitPatients(ups []PatientUpdate, now time.Time) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		pats, docs := tx.Bucket(bPatients), tx.Bucket(bDocs)
		for _, up := range ups {
			var old PatientMeta
			hadOld := false
			if v := pats.Get([]byte(up.Meta.NHS)); v != nil {
				if err := json.Unmarshal(v, &old); err != nil {
					return err
				}
				hadOld = true
				if bytes.Equal(old.DocHash, up.Meta.DocHash) {
					continue
				}
			}
			kind := ChangePatient
			switch {
			case up.Meta.Restricted:
				kind = ChangeRestricted
			case hadOld && up.Meta.Sensitive > old.Sensitive:
				kind = ChangeRelabel
			}
			if err := appendChange(tx, Change{Kind: kind, NHS: up.Meta.NHS, At: now}); err != nil {
				return err
			}
			meta := up.Meta
			meta.Version = u64(tx.Bucket(bMeta).Get(kSeq))
			meta.Updated = now
			if err := putJSON(pats, []byte(meta.NHS), meta); err != nil {
				return err
			}
			if err := retrace(tx.Bucket(bTrace), old, hadOld, meta); err != nil {
				return err
			}
			if err := indexPostcodes(tx, old, meta); err != nil {
				return err
			}
			if err := putDocs(docs, meta.NHS, up.Docs); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// putDocs replaces a patient's documents with docs: a kind the patient no
// longer has (the full document of one grown too large) is removed, not
// left behind to be served or copied.
func putDocs(b *bolt.Bucket, nhs string, docs map[string][]byte) error {
	prefix := []byte(nhs + "\x00")
	var stale [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if _, keep := docs[string(k[len(prefix):])]; !keep {
			stale = append(stale, append([]byte(nil), k...))
		}
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	for kind, d := range docs {
		if err := b.Put([]byte(nhs+"\x00"+kind), d); err != nil {
			return err
		}
	}
	return nil
}

// traceKey is a patient's key in the trace bucket, or nil when a trace
// must not find it.
func traceKey(m PatientMeta) []byte {
	if m.FamilyIndex == "" || m.Birth == "" || m.Restricted || m.Unstorable {
		return nil
	}
	return []byte(m.FamilyIndex + "\x00" + m.Birth + "\x00" + m.NHS)
}

// retrace moves a patient's trace entry from its old metadata to its new.
func retrace(b *bolt.Bucket, old PatientMeta, hadOld bool, meta PatientMeta) error {
	if k := traceKey(old); hadOld && k != nil {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	if k := traceKey(meta); k != nil {
		return b.Put(k, nil)
	}
	return nil
}

// TracePatients implements Store.
func (s *Bolt) TracePatients(family, birth string, limit int) ([]PatientMeta, error) {
	var out []PatientMeta
	if family == "" || birth == "" || limit <= 0 || strings.Contains(family+birth, "\x00") {
		return nil, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := []byte(family + "\x00" + birth + "\x00")
		c := tx.Bucket(bTrace).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			var m PatientMeta
			nhs := string(k[len(prefix):])
			if err := getJSON(tx.Bucket(bPatients), []byte(nhs), &m, "patient "+nhs); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// Patient implements Store.
func (s *Bolt) Patient(nhs string) (PatientMeta, error) {
	var m PatientMeta
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bPatients), []byte(nhs), &m, "patient "+nhs)
	})
	return m, err
}

// Doc implements Store.
func (s *Bolt) Doc(nhs, kind string) ([]byte, error) {
	var d []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bDocs).Get([]byte(nhs + "\x00" + kind))
		if v == nil {
			return fmt.Errorf("document %s of %s: %w", kind, nhs, ErrNotFound)
		}
		d = append([]byte(nil), v...)
		return nil
	})
	return d, err
}

// PatientCount implements Store.
func (s *Bolt) PatientCount() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bPatients).Stats().KeyN
		return nil
	})
	return n, err
}

// StoreAudit implements Store.
func (s *Bolt) StoreAudit(device string, events, conflicts []StoredEvent, alerts []Alert, chain []byte) error {
	return s.update(func(tx *bolt.Tx) error {
		db, err := tx.Bucket(bAudit).CreateBucketIfNotExists([]byte(device))
		if err != nil {
			return err
		}
		idx := tx.Bucket(bAuditPat)
		for _, e := range events {
			k := be64(e.Seq)
			if db.Get(k) != nil {
				continue // stored once per (device, seq), whatever is re-sent
			}
			if err := putJSON(db, k, e); err != nil {
				return err
			}
			if e.NHS != "" {
				ik := make([]byte, 0, 64)
				ik = append(ik, e.NHS...)
				ik = append(ik, 0)
				ik = append(ik, be64(uint64(e.Recorded.UnixNano()))...)
				ik = append(ik, device...)
				ik = append(ik, 0)
				ik = append(ik, k...)
				if err := idx.Put(ik, nil); err != nil {
					return err
				}
			}
		}
		cb := tx.Bucket(bConflicts)
		for _, e := range conflicts {
			k := append(append(append([]byte(device+"\x00"), be64(e.Seq)...), 0), e.Hash...)
			if err := putJSON(cb, k, e); err != nil {
				return err
			}
		}
		if err := addAlerts(tx, alerts); err != nil {
			return err
		}
		dv := tx.Bucket(bDevices)
		var d Device
		if err := getJSON(dv, []byte(device), &d, "device "+device); err != nil {
			return err
		}
		d.Chain = chain
		return putJSON(dv, []byte(device), d)
	})
}

// AuditHash implements Store.
func (s *Bolt) AuditHash(device string, seq uint64) ([]byte, bool, error) {
	var h []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		db := tx.Bucket(bAudit).Bucket([]byte(device))
		if db == nil {
			return nil
		}
		v := db.Get(be64(seq))
		if v == nil {
			return nil
		}
		var e StoredEvent
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		h = e.Hash
		return nil
	})
	return h, h != nil, err
}

// AccessLog implements Store.
func (s *Bolt) AccessLog(nhs string, fn func(StoredEvent) error) error {
	return s.accessLog(nhs, nil, fn)
}

// AccessLogSince implements Store.
func (s *Bolt) AccessLogSince(nhs string, since time.Time, fn func(StoredEvent) error) error {
	if since.IsZero() || since.UnixNano() <= 0 {
		return s.accessLog(nhs, nil, fn) // the index holds nothing before 1970
	}
	return s.accessLog(nhs, be64(uint64(since.UnixNano())), fn)
}

// accessLog walks the patient index from the recorded time from (nil:
// the start); the index key is nhs \x00 recorded-nanoseconds device \x00 seq.
func (s *Bolt) accessLog(nhs string, from []byte, fn func(StoredEvent) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		prefix := []byte(nhs + "\x00")
		c := tx.Bucket(bAuditPat).Cursor()
		for k, _ := c.Seek(append(append([]byte(nil), prefix...), from...)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			rest := k[len(prefix)+8:]
			i := bytes.IndexByte(rest, 0)
			if i < 0 || len(rest) != i+9 {
				return fmt.Errorf("audit index entry malformed")
			}
			device, seq := rest[:i], rest[i+1:]
			db := tx.Bucket(bAudit).Bucket(device)
			if db == nil {
				continue
			}
			v := db.Get(seq)
			if v == nil {
				continue
			}
			var e StoredEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditEvents implements Store.
func (s *Bolt) AuditEvents(device string, fn func(StoredEvent) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		db := tx.Bucket(bAudit).Bucket([]byte(device))
		if db == nil {
			return nil
		}
		return db.ForEach(func(k, v []byte) error {
			var e StoredEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			return fn(e)
		})
	})
}

// Conflicts implements Store.
func (s *Bolt) Conflicts(device string, fn func(StoredEvent) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		prefix := []byte(device + "\x00")
		c := tx.Bucket(bConflicts).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var e StoredEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddAlerts implements Store.
func (s *Bolt) AddAlerts(alerts []Alert) error {
	return s.update(func(tx *bolt.Tx) error { return addAlerts(tx, alerts) })
}

func addAlerts(tx *bolt.Tx, alerts []Alert) error {
	m, b := tx.Bucket(bMeta), tx.Bucket(bAlerts)
	for _, a := range alerts {
		a.ID = u64(m.Get(kAlertID)) + 1
		if err := m.Put(kAlertID, be64(a.ID)); err != nil {
			return err
		}
		if err := putJSON(b, be64(a.ID), a); err != nil {
			return err
		}
	}
	return nil
}

// Alerts implements Store.
func (s *Bolt) Alerts(fn func(Alert) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bAlerts).ForEach(func(k, v []byte) error {
			var a Alert
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			return fn(a)
		})
	})
}
