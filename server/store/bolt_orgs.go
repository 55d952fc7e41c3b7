package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// AddOrg implements Store.
func (s *Bolt) AddOrg(o Org) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOrgs)
		if b.Get([]byte(o.ODS)) != nil {
			return fmt.Errorf("organisation %s: %w", o.ODS, ErrExists)
		}
		return putJSON(b, []byte(o.ODS), o)
	})
}

// Org implements Store.
func (s *Bolt) Org(ods string) (Org, error) {
	var o Org
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bOrgs), []byte(ods), &o, "organisation "+ods)
	})
	return o, err
}

// Orgs implements Store.
func (s *Bolt) Orgs() ([]Org, error) {
	var out []Org
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bOrgs).ForEach(func(_, v []byte) error {
			var o Org
			if err := json.Unmarshal(v, &o); err != nil {
				return err
			}
			out = append(out, o)
			return nil
		})
	})
	return out, err
}

// UpdateOrg implements Store.
func (s *Bolt) UpdateOrg(ods string, fn func(o *Org) error) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOrgs)
		var o Org
		if err := getJSON(b, []byte(ods), &o, "organisation "+ods); err != nil {
			return err
		}
		if err := fn(&o); err != nil {
			return err
		}
		if o.ODS != ods {
			return fmt.Errorf("updating organisation %s: its ODS code cannot change (to %q)", ods, o.ODS)
		}
		return putJSON(b, []byte(ods), o)
	})
}
