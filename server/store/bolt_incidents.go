package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

func grantKey(user, nhs, id string) []byte { return []byte(user + "\x00" + nhs + "\x00" + id) }

// incidentGrants lists an incident's grants as user, nhs pairs.
func incidentGrants(in Incident) [][2]string {
	var out [][2]string
	for _, u := range in.Crew {
		for _, n := range in.NHS {
			out = append(out, [2]string{u, n})
		}
	}
	return out
}

// IncidentChanges are the changes replacing prev (when had) by next (when
// put) appends, in a fixed order: grants held, grants ended, then each
// crew member's list. Both backends log exactly these.
func IncidentChanges(prev Incident, had bool, next Incident, put bool, at time.Time) []Change {
	var cs []Change
	held := map[[2]string]bool{}
	if put {
		for _, g := range incidentGrants(next) {
			held[g] = true
			cs = append(cs, Change{Kind: ChangeIncident, User: g[0], NHS: g[1], Reason: next.ID, At: at})
		}
	}
	if had {
		for _, g := range incidentGrants(prev) {
			if !held[g] {
				cs = append(cs, Change{Kind: ChangeIncidentEnd, User: g[0], NHS: g[1], Reason: prev.ID, At: at})
			}
		}
	}
	crew := map[string]bool{}
	var users []string
	for _, in := range []struct {
		i  Incident
		ok bool
	}{{next, put}, {prev, had}} {
		if !in.ok {
			continue
		}
		for _, u := range in.i.Crew {
			if !crew[u] {
				crew[u] = true
				users = append(users, u)
			}
		}
	}
	id := next.ID
	if !put {
		id = prev.ID
	}
	for _, u := range users {
		cs = append(cs, Change{Kind: ChangeIncidentsList, User: u, Reason: id, At: at})
	}
	return cs
}

// PutIncident implements Store.
func (s *Bolt) PutIncident(in Incident) (Incident, bool, error) {
	var prev Incident
	had := false
	err := s.update(func(tx *bolt.Tx) error {
		b, g := tx.Bucket(bIncidents), tx.Bucket(bIncGrants)
		prev, had = Incident{}, false
		if v := b.Get([]byte(in.ID)); v != nil {
			if err := json.Unmarshal(v, &prev); err != nil {
				return err
			}
			had = true
			for _, gr := range incidentGrants(prev) {
				if err := g.Delete(grantKey(gr[0], gr[1], prev.ID)); err != nil {
					return err
				}
			}
		}
		if err := putJSON(b, []byte(in.ID), in); err != nil {
			return err
		}
		exp, err := in.Expires.UTC().MarshalText()
		if err != nil {
			return err
		}
		for _, gr := range incidentGrants(in) {
			if err := g.Put(grantKey(gr[0], gr[1], in.ID), exp); err != nil {
				return err
			}
		}
		for _, c := range IncidentChanges(prev, had, in, true, in.Updated) {
			if err := appendChange(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	return prev, had, err
}

// endIncident removes one incident in tx.
func endIncident(tx *bolt.Tx, in Incident, now time.Time) error {
	g := tx.Bucket(bIncGrants)
	for _, gr := range incidentGrants(in) {
		if err := g.Delete(grantKey(gr[0], gr[1], in.ID)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bIncidents).Delete([]byte(in.ID)); err != nil {
		return err
	}
	for _, c := range IncidentChanges(in, true, Incident{}, false, now) {
		if err := appendChange(tx, c); err != nil {
			return err
		}
	}
	return nil
}

// EndIncident implements Store.
func (s *Bolt) EndIncident(id string, now time.Time) (Incident, error) {
	var in Incident
	err := s.update(func(tx *bolt.Tx) error {
		if err := getJSON(tx.Bucket(bIncidents), []byte(id), &in, "incident "+id); err != nil {
			return err
		}
		return endIncident(tx, in, now)
	})
	return in, err
}

// Incident implements Store.
func (s *Bolt) Incident(id string) (Incident, error) {
	var in Incident
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bIncidents), []byte(id), &in, "incident "+id)
	})
	return in, err
}

// Incidents implements Store. The incidents are read in one transaction
// and handed to fn after it ends.
func (s *Bolt) Incidents(fn func(Incident) error) error {
	var all []Incident
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bIncidents).ForEach(func(_, v []byte) error {
			var in Incident
			if err := json.Unmarshal(v, &in); err != nil {
				return err
			}
			all = append(all, in)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, in := range all {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// ExpireIncidents implements Store.
func (s *Bolt) ExpireIncidents(now time.Time) ([]Incident, error) {
	var ended []Incident
	err := s.update(func(tx *bolt.Tx) error {
		ended = nil
		err := tx.Bucket(bIncidents).ForEach(func(_, v []byte) error {
			var in Incident
			if err := json.Unmarshal(v, &in); err != nil {
				return err
			}
			if !in.Expires.After(now) {
				ended = append(ended, in)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, in := range ended {
			if err := endIncident(tx, in, now); err != nil {
				return err
			}
		}
		return nil
	})
	return ended, err
}

// IncidentGrant implements Store.
func (s *Bolt) IncidentGrant(user, nhs string, now time.Time) (time.Time, bool, error) {
	var latest time.Time
	ok := false
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := []byte(user + "\x00" + nhs + "\x00")
		c := tx.Bucket(bIncGrants).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var exp time.Time
			if err := exp.UnmarshalText(v); err != nil {
				return fmt.Errorf("incident grant %q: %w", k, err)
			}
			if exp.After(now) && (!ok || exp.After(latest)) {
				latest, ok = exp, true
			}
		}
		return nil
	})
	return latest, ok, err
}

// PatientsAtPostcode implements Store.
func (s *Bolt) PatientsAtPostcode(postcode string) ([]PatientMeta, error) {
	var out []PatientMeta
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := []byte(postcode + "\x00")
		pats := tx.Bucket(bPatients)
		c := tx.Bucket(bPostcodes).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var m PatientMeta
			if err := getJSON(pats, k[len(prefix):], &m, "patient "+string(k[len(prefix):])); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// indexPostcodes replaces a patient's entries in the postcode index.
func indexPostcodes(tx *bolt.Tx, old, meta PatientMeta) error {
	b := tx.Bucket(bPostcodes)
	for _, a := range old.Addresses {
		if err := b.Delete([]byte(a.Postcode + "\x00" + old.NHS)); err != nil {
			return err
		}
	}
	if meta.Restricted {
		return nil
	}
	for _, a := range meta.Addresses {
		if err := b.Put([]byte(a.Postcode+"\x00"+meta.NHS), nil); err != nil {
			return err
		}
	}
	return nil
}

// AddDispatcher implements Store.
func (s *Bolt) AddDispatcher(d Dispatcher) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDispatch)
		if b.Get([]byte(d.Name)) != nil {
			return fmt.Errorf("dispatch system %s: %w", d.Name, ErrExists)
		}
		return putJSON(b, []byte(d.Name), d)
	})
}

// Dispatcher implements Store.
func (s *Bolt) Dispatcher(name string) (Dispatcher, error) {
	var d Dispatcher
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bDispatch), []byte(name), &d, "dispatch system "+name)
	})
	return d, err
}

// Dispatchers implements Store.
func (s *Bolt) Dispatchers() ([]Dispatcher, error) {
	var out []Dispatcher
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bDispatch).ForEach(func(_, v []byte) error {
			var d Dispatcher
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// RemoveDispatcher implements Store.
func (s *Bolt) RemoveDispatcher(name string) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDispatch)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("dispatch system %s: %w", name, ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}
