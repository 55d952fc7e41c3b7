package core

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"kmcr/cache"
	"kmcr/internal/storeddoc"
	"kmcr/present"
	"kmcr/record"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// metaIncidents holds the open dispatch incidents the user is crew on,
// sealed like the rest of the metadata: the list names patients and an
// address.
const metaIncidents = "incidents"

// Incident is one open dispatch incident on which the user is crew: where,
// until when, and the patients the record found at that address (their
// summaries reach this device with the incident relationship, ahead of
// other sync work). JSON keys are part of the command line's interface.
type Incident struct {
	ID string `json:"id"`
	// Address is the first line and town the dispatch system gave, then
	// the postcode: "12 High Street, Rochester ME1 1AA".
	Address  string    `json:"address"`
	Postcode string    `json:"postcode"`
	Opened   time.Time `json:"opened,omitzero"`
	Expires  time.Time `json:"expires"`
	// NHS lists the candidates recorded at the address, possibly none.
	NHS []record.NHSNumber `json:"nhs"`
	// OnDevice lists those of them whose summary this device holds now,
	// readable offline.
	OnDevice []record.NHSNumber `json:"on_device"`
}

// Heading is the incident's line on screen: "Incident 4711: 2 people
// recorded at 12 High Street, Rochester ME1 1AA".
func (in Incident) Heading() string {
	return present.IncidentHeading(in.ID, len(in.NHS), in.Address)
}

// storedIncident is one incident as the cache keeps it (as received).
type storedIncident struct {
	ID       string    `json:"id"`
	Address  string    `json:"address"`
	Postcode string    `json:"postcode"`
	Opened   time.Time `json:"opened"`
	Expires  time.Time `json:"expires"`
	NHS      []string  `json:"nhs"`
}

// ErrIncidentEnded is returned by OpenIncidentPatient when the incident
// has closed or expired, or does not name the patient.
var ErrIncidentEnded = errors.New("this incident has ended")

var _ syncclient.IncidentApplier = syncer{}

// ApplyIncidents stores the server's complete list of the user's open
// incidents, replacing the one held. Every NHS number is checked first;
// a malformed list stores nothing. Incidents already past their expiry on
// this device's clock are not kept.
func (s syncer) ApplyIncidents(in *protocol.Incidents) error {
	cc, _, err := s.c.open()
	if err != nil {
		return err
	}
	now := s.c.now()
	list := make([]storedIncident, 0, len(in.Open))
	for _, i := range in.Open {
		for _, n := range i.NHS {
			if _, err := record.ParseNHSNumber(n); err != nil {
				return fmt.Errorf("%w: incident %s: %w", syncclient.ErrBadBatch, i.ID, err)
			}
		}
		if !i.Expires.After(now) {
			continue
		}
		list = append(list, storedIncident{ID: i.ID, Address: i.Address, Postcode: i.Postcode, Opened: i.Opened.UTC(), Expires: i.Expires.UTC(), NHS: slices.Clone(i.NHS)})
	}
	if err := cc.Update(func(tx *cache.Tx) error { return putJSON(tx, metaIncidents, list) }); err != nil {
		return err
	}
	s.c.armIncidentExpiry(list)
	s.c.notify()
	return nil
}

// readIncidents returns the stored incidents still open at now, and
// whether any stored one has expired.
func readIncidents(tx *cache.Tx, now time.Time) (open []storedIncident, expired bool, err error) {
	var all []storedIncident
	if _, err := getJSON(tx, metaIncidents, &all); err != nil {
		return nil, false, err
	}
	for _, i := range all {
		if i.Expires.After(now) {
			open = append(open, i)
		} else {
			expired = true
		}
	}
	return open, expired, nil
}

// incidentsOf turns stored incidents into the core's type, noting which
// candidates this device holds.
func incidentsOf(cc *cache.Cache, list []storedIncident) []Incident {
	out := make([]Incident, 0, len(list))
	for _, i := range list {
		in := Incident{ID: i.ID, Address: present.IncidentAddress(i.Address, i.Postcode), Postcode: record.NormalisePostcode(i.Postcode),
			Opened: i.Opened, Expires: i.Expires, NHS: []record.NHSNumber{}, OnDevice: []record.NHSNumber{}}
		for _, s := range i.NHS {
			n := record.NHSNumber(s)
			in.NHS = append(in.NHS, n)
			if _, ok := cc.Entry(n); ok {
				in.OnDevice = append(in.OnDevice, n)
			}
		}
		out = append(out, in)
	}
	return out
}

// Incidents lists the open incidents the user is crew on, soonest opened
// first; an incident past its expiry is never listed, connected or not.
// It shows NHS numbers but no names, and writes no audit event: the
// candidates' names are shown through IncidentCandidates.
func (c *Core) Incidents() ([]Incident, error) {
	cc, _, err := c.open()
	if err != nil {
		return nil, err
	}
	var list []storedIncident
	if err := cc.View(func(tx *cache.Tx) error {
		list, _, err = readIncidents(tx, c.now())
		return err
	}); err != nil {
		return nil, err
	}
	return incidentsOf(cc, list), nil
}

// IncidentCandidates lists the patients recorded at an open incident's
// address whose summaries this device holds, as search results are
// listed, and records the listing as a search. Candidates whose summary
// has not arrived are missing from it (Incident.NHS against OnDevice).
func (c *Core) IncidentCandidates(id string) ([]PatientEntry, error) {
	cc, s, err := c.open()
	if err != nil {
		return nil, err
	}
	in, err := c.openIncident(cc, id)
	if err != nil {
		return nil, err
	}
	var entries []cache.IndexEntry
	for _, n := range in.NHS {
		if e, ok := cc.Entry(record.NHSNumber(n)); ok {
			entries = append(entries, e)
		}
	}
	if len(entries) > 0 {
		if err := c.logListing(s, "(incident "+id+": people recorded at the address)", entries); err != nil {
			return nil, err
		}
	}
	return lookAlikes(cc, entriesOf(entries)), nil
}

// openIncident returns the incident id if it is open now.
func (c *Core) openIncident(cc *cache.Cache, id string) (storedIncident, error) {
	var list []storedIncident
	err := cc.View(func(tx *cache.Tx) error {
		var err error
		list, _, err = readIncidents(tx, c.now())
		return err
	})
	if err != nil {
		return storedIncident{}, err
	}
	for _, i := range list {
		if i.ID == id {
			return i, nil
		}
	}
	return storedIncident{}, fmt.Errorf("%w: incident %s is not open on this device", ErrIncidentEnded, id)
}

// OpenIncidentPatient opens a candidate of an open incident: an ordinary
// view, audited like OpenPatient, whose purpose of use is "emergency care,
// incident ID" (present.IncidentPurpose). No break-glass is needed for a
// candidate; a patient the incident does not name, or an incident that
// has ended, is refused with ErrIncidentEnded and nothing is read.
func (c *Core) OpenIncidentPatient(id, nhsText string) (*PatientView, error) {
	nhs, err := record.ParseNHSNumber(nhsText)
	if err != nil {
		return nil, err
	}
	cc, _, err := c.open()
	if err != nil {
		return nil, err
	}
	in, err := c.openIncident(cc, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(in.NHS, nhs.Digits()) {
		return nil, fmt.Errorf("%w: incident %s does not name %s", ErrIncidentEnded, id, nhs)
	}
	v, err := c.openPatient(nhs, nil, id)
	if err != nil {
		return nil, err
	}
	v.Incident = id
	return v, nil
}

// incidentPurpose is the audit event's purpose for a view opened for an
// incident. The field is a code of at most 64 bytes, without control
// characters or runs of spaces: the id is written that way (auditedID) and
// a longer purpose is cut at 64 bytes (the event's outcome detail carries
// the id whole).
func incidentPurpose(id string) string {
	p := present.IncidentPurpose(auditedID(id))
	if len(p) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(p[cut]) {
			cut--
		}
		p = p[:cut]
	}
	return strings.TrimSpace(p)
}

// auditedID is an incident id as an audit event may carry it: control
// characters as U+FFFD, and runs of white space as one space.
func auditedID(id string) string {
	id = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return utf8.RuneError
		}
		return r
	}, id)
	return strings.Join(strings.Fields(id), " ")
}

// armIncidentExpiry schedules expireIncidents for the soonest expiry in
// list, replacing any earlier schedule, so an incident ends on time on a
// device that is offline and idle.
func (c *Core) armIncidentExpiry(list []storedIncident) {
	var soonest time.Time
	for _, i := range list {
		if soonest.IsZero() || i.Expires.Before(soonest) {
			soonest = i.Expires
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.incidentTimer != nil {
		c.incidentTimer.Stop()
		c.incidentTimer = nil
	}
	if soonest.IsZero() {
		return
	}
	// A moment after the expiry, so the cache's clock agrees it has passed.
	d := soonest.Sub(c.now()) + 10*time.Millisecond
	c.incidentTimer = time.AfterFunc(max(d, 0), func() {
		if err := c.expireIncidents(); err != nil && !errors.Is(err, ErrLocked) {
			c.cfg.Logf("ending expired incidents: %v", err)
		}
	})
}

// expireIncidents ends every incident past its expiry on this device's
// clock, whether or not the server has said so: it leaves the list, and
// each of its candidates held only for an incident (the incident
// relationship), and named by no incident still open, is deleted with its
// key. Then every lease that has ended is swept, and the next expiry
// scheduled.
func (c *Core) expireIncidents() error {
	cc, _, err := c.open()
	if err != nil {
		return err
	}
	now := c.now()
	var open []storedIncident
	removed := 0
	err = cc.Update(func(tx *cache.Tx) error {
		var all []storedIncident
		if _, err := getJSON(tx, metaIncidents, &all); err != nil {
			return err
		}
		held := map[string]bool{}
		var ended []storedIncident
		for _, i := range all {
			if i.Expires.After(now) {
				open = append(open, i)
				for _, n := range i.NHS {
					held[n] = true
				}
			} else {
				ended = append(ended, i)
			}
		}
		if len(ended) == 0 {
			return nil
		}
		for _, i := range ended {
			for _, s := range i.NHS {
				if held[s] {
					continue
				}
				gone, err := dropIncidentDocument(tx, record.NHSNumber(s))
				if err != nil {
					return err
				}
				if gone {
					removed++
				}
			}
		}
		if open == nil {
			open = []storedIncident{}
		}
		return putJSON(tx, metaIncidents, open)
	})
	if err != nil {
		return err
	}
	if _, err := cc.Sweep(); err != nil {
		return err
	}
	if removed > 0 {
		c.cfg.Logf("incident expiry: %d summaries held for ended incidents destroyed", removed)
	}
	c.armIncidentExpiry(open)
	c.notify()
	return nil
}

// dropIncidentDocument deletes a patient's document if the device holds it
// for an incident only. One past its lease is left to the sweep.
func dropIncidentDocument(tx *cache.Tx, nhs record.NHSNumber) (bool, error) {
	rec, err := tx.Get(nhs)
	if errors.Is(err, cache.ErrNotFound) || errors.Is(err, cache.ErrExpired) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	h, _, err := storeddoc.Decode(rec.Data)
	if err != nil || h.Relationship != protocol.RelIncident {
		return false, nil
	}
	if err := tx.Delete(nhs); err != nil && !errors.Is(err, cache.ErrNotFound) {
		return false, err
	}
	return true, nil
}

// scheduleIncidentExpiry arms the expiry schedule from the stored list, at
// unlock.
func (c *Core) scheduleIncidentExpiry(cc *cache.Cache) {
	var all []storedIncident
	if err := cc.View(func(tx *cache.Tx) error { _, err := getJSON(tx, metaIncidents, &all); return err }); err != nil {
		c.cfg.Logf("reading the open incidents: %v", err)
		return
	}
	c.armIncidentExpiry(all)
}
