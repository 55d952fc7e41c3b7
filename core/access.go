package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"kmcr/audit"
	"kmcr/cache"
	"kmcr/internal/storeddoc"
	"kmcr/present"
	"kmcr/record"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// Roles the client treats specially.
const (
	RoleFrontDesk = "frontdesk"
)

// PatientView is one opened patient: the summary and the device's facts
// about its copy (present.Facts: as of, stale, lease, relationship,
// sections shown, what was withheld and why), everything a screen needs to
// present it honestly. Present makes what screens show of it. Its JSON,
// with snake_case keys, is what "kmcr show --json" prints beside the
// presentation.
//
// AsOf is when the server last confirmed this summary current: the later
// of when it was sent and when the cache was last up to date. For roles
// that never see clinical sections (DemographicsOnly) the summary's
// clinical sections are empty whatever the document held.
type PatientView struct {
	NHS     record.NHSNumber `json:"nhs"`
	Version uint64           `json:"version"` // the server's version of the record shown
	Summary *record.Summary  `json:"summary"`
	present.Facts
}

// Present makes what a screen shows of the view at now: every clinical
// decision about it, in the local time zone.
func (v *PatientView) Present(now time.Time) *present.View {
	return present.Present(v.NHS, v.Summary, v.Facts, present.Options{Now: now, LeaseWarning: LeaseWarning})
}

// BreakGlassReason is a coded reason and the user's own words.
type BreakGlassReason struct {
	Code string
	Text string
}

// BreakGlassReasonCodes lists the coded reasons for emergency access.
func BreakGlassReasonCodes() []string {
	codes := make([]string, len(protocol.BreakGlassReasons))
	for i, x := range protocol.BreakGlassReasons {
		codes[i] = x.Code
	}
	return codes
}

// BreakGlassChoice is one coded reason for emergency access, with the words
// a screen shows for it.
type BreakGlassChoice struct {
	Code    string
	Display string
}

// BreakGlassChoices lists the coded reasons for emergency access, in the
// order a screen offers them.
func BreakGlassChoices() []BreakGlassChoice {
	out := make([]BreakGlassChoice, len(protocol.BreakGlassReasons))
	for i, x := range protocol.BreakGlassReasons {
		out[i] = BreakGlassChoice{Code: x.Code, Display: x.Display}
	}
	return out
}

// ReasonOther is the one coded reason that needs the user's own words.
const ReasonOther = protocol.BreakGlassReasonOther

// Validate checks a reason before it is used. A coded reason is enough,
// except "other", which needs the user's own words; without words, Text
// is the coded reason's display (as the server records it), so the audit
// event and the privacy officer's alert never carry an empty reason.
func (r *BreakGlassReason) Validate() error {
	if !protocol.ValidBreakGlassReason(r.Code) {
		return fmt.Errorf("unknown break-glass reason %q (one of %s)", r.Code, strings.Join(BreakGlassReasonCodes(), ", "))
	}
	if strings.TrimSpace(r.Text) == "" {
		if r.Code == ReasonOther {
			return errors.New("break-glass for another reason needs that reason in your own words")
		}
		r.Text = protocol.BreakGlassReasonDisplay(r.Code)
	}
	return nil
}

// OpenPatient reads a cached patient and returns its view. The view audit
// event (or break-glass event, when bg is set) is written in the same
// cache transaction as the read, and the summary is built only after that
// transaction has committed: no view without an event. A patient not in
// the cache is recorded as a denied access and reported as ErrNotCached.
func (c *Core) OpenPatient(nhsText string, bg *BreakGlassReason) (*PatientView, error) {
	nhs, err := record.ParseNHSNumber(nhsText)
	if err != nil {
		return nil, err
	}
	if bg != nil {
		if err := bg.Validate(); err != nil {
			return nil, err
		}
	}
	return c.openPatient(nhs, bg, "")
}

// openPatient is OpenPatient for a checked NHS number; incident, when set,
// is the dispatch incident the view is for (OpenIncidentPatient).
func (c *Core) openPatient(nhs record.NHSNumber, bg *BreakGlassReason, incident string) (*PatientView, error) {
	cc, s, err := c.open()
	if err != nil {
		return nil, err
	}
	var h storeddoc.Header
	var bundle []byte
	var lease time.Time
	var asOf time.Time
	err = cc.Update(func(tx *cache.Tx) error {
		rec, err := tx.Get(nhs)
		if err != nil {
			return err
		}
		if h, bundle, err = storeddoc.Decode(rec.Data); err != nil {
			return err
		}
		lease = rec.NotAfter
		if _, err := getJSON(tx, metaAsOf, &asOf); err != nil {
			return err
		}
		e := c.patientEvent(s, audit.ActionView, nhs)
		e.Sections = shownSections(h, s)
		if incident != "" {
			e.Purpose = incidentPurpose(incident)
			e.Outcome.Detail = "opened for dispatch incident " + auditedID(incident)
		}
		if bg != nil {
			e.Action = audit.ActionBreakGlass
			e.Purpose = "BTG"
			e.BreakGlass = &audit.BreakGlass{ReasonCode: bg.Code, ReasonText: bg.Text}
		}
		if err := c.writeEvent(tx, e); err != nil {
			return err
		}
		return c.rememberRecent(tx, nhs)
	})
	if err != nil {
		if errors.Is(err, cache.ErrNotFound) || errors.Is(err, cache.ErrExpired) {
			c.logDenied(s, nhs, err, bg)
			if errors.Is(err, cache.ErrExpired) {
				return nil, fmt.Errorf("%w: its offline lease ended; connect to refresh it", ErrNotCached)
			}
			if a, ok := c.setAsideNote(nhs); ok {
				return nil, fmt.Errorf("%w: %s was %w, because this device could not store it (%s); it is stored again when the server sends a newer version", ErrNotCached, nhs, ErrSetAside, a.Reason)
			}
			return nil, fmt.Errorf("%w: %s is not in this device's cache", ErrNotCached, nhs)
		}
		return nil, fmt.Errorf("the summary of %s was not shown, because reading it with its audit event failed: %w", nhs, err)
	}
	c.flushAudit()
	return c.view(nhs, h, bundle, lease, asOf, s, bg != nil)
}

// logDenied records an access that found nothing to show.
func (c *Core) logDenied(s session, nhs record.NHSNumber, why error, bg *BreakGlassReason) {
	e := c.patientEvent(s, audit.ActionDenied, nhs)
	e.Outcome = audit.Outcome{Result: audit.ResultDenied, Detail: why.Error()}
	if bg != nil {
		e.BreakGlass = &audit.BreakGlass{ReasonCode: bg.Code, ReasonText: bg.Text}
	}
	if err := c.logEvent(e); err != nil {
		c.cfg.Logf("recording a denied access: %v", err)
	}
}

// shownSections are the sections the screen will show: the document's,
// limited for roles that see demographics only.
func shownSections(h storeddoc.Header, s session) []string {
	if s.User.Role != RoleFrontDesk {
		return h.Sections
	}
	var out []string
	for _, sec := range h.Sections {
		if sec == record.SectionDemographics || sec == record.SectionGP {
			out = append(out, sec)
		}
	}
	return out
}

func (c *Core) view(nhs record.NHSNumber, h storeddoc.Header, bundle []byte, lease, asOf time.Time, s session, bg bool) (*PatientView, error) {
	rec, err := record.ParseBundle(bundle)
	if err != nil {
		return nil, fmt.Errorf("reading the cached summary of %s: %w", nhs, err)
	}
	if h.AsOf.After(asOf) {
		asOf = h.AsOf
	}
	sum := record.Summarise(rec, asOf)
	v := &PatientView{NHS: nhs, Version: h.Version, Summary: sum, Facts: present.Facts{
		AsOf: asOf, NotAfter: lease, Relationship: present.Relationship(h.Relationship),
		Sections: shownSections(h, s), BreakGlass: bg || h.Relationship == protocol.RelBreakGlass,
		DemographicsOnly: s.User.Role == RoleFrontDesk,
		Freshness:        time.Duration(s.Policy.FreshnessSeconds) * time.Second,
	}}
	if v.Freshness > 0 && c.now().Sub(asOf) > v.Freshness {
		v.Stale = true
	}
	for _, w := range h.Withheld {
		v.Withheld = append(v.Withheld, present.Withheld{Reason: present.WithheldReason(w.Reason), Purpose: w.Purpose, Sections: w.Sections, Count: w.Count})
		switch w.Reason {
		case protocol.WithheldObjection:
			v.Objection = true
		case protocol.WithheldSensitive:
			v.Sensitive += w.Count
		}
	}
	if v.DemographicsOnly {
		clearClinical(sum)
	}
	return v, nil
}

// clearClinical empties every clinical section, so a screen for a
// demographics-only role cannot render one even by mistake.
func clearClinical(s *record.Summary) {
	s.Alerts = record.Section[record.Alert]{}
	s.Allergies = record.Section[record.Allergy]{}
	s.Medications = record.Section[record.Medication]{}
	s.Problems = record.Section[record.Problem]{}
	s.Encounters = record.Section[record.Encounter]{}
	s.Observations = record.Section[record.Observation]{}
	s.CarePlans = record.Section[record.CarePlan]{}
	s.Immunizations = record.Section[record.Immunization]{}
	s.Documents = nil
	s.Other = nil
}

// SearchResult is what a search found.
type SearchResult struct {
	Entries []PatientEntry `json:"entries"`
	Total   int            `json:"total"`
	// Suggestions are close matches offered when a name search found
	// nobody ("Did you mean SMITH, Shirley, 19-May-1930?"); their listing
	// is audited like the search.
	Suggestions []PatientEntry `json:"suggestions"`
}

// Search looks patients up in the cache by NHS number, family name (and
// date of birth) or postcode. The search audit event is written before the
// results are returned.
func (c *Core) Search(q string, limit int) (*SearchResult, error) {
	cc, s, err := c.open()
	if err != nil {
		return nil, err
	}
	res, err := cc.Search(q, limit)
	if err != nil {
		return nil, err
	}
	e := c.event(s, audit.ActionSearch)
	e.Purpose = s.Policy.Purpose
	e.Query = q
	e.Results = res.Total
	if res.Total == 1 && len(res.Entries) == 1 {
		e.Patient = res.Entries[0].NHS
	}
	if err := c.logEvent(e); err != nil {
		return nil, fmt.Errorf("the search was not shown because its audit event could not be written: %w", err)
	}
	out := &SearchResult{Entries: lookAlikes(cc, entriesOf(res.Entries)), Total: res.Total, Suggestions: []PatientEntry{}}
	if res.Total == 0 {
		sugg, err := cc.Suggest(q)
		if err != nil {
			return nil, err
		}
		if len(sugg) > 0 {
			if err := c.logListing(s, q+" (did you mean)", sugg); err != nil {
				return nil, err
			}
			out.Suggestions = lookAlikes(cc, entriesOf(sugg))
		}
	}
	return out, nil
}

// Caseload lists every patient held on this device, for community staff
// planning the day. Listing names is recorded as a search.
func (c *Core) Caseload() ([]PatientEntry, error) {
	cc, s, err := c.open()
	if err != nil {
		return nil, err
	}
	entries := cc.Entries()
	if err := c.logListing(s, "(caseload list)", entries); err != nil {
		return nil, err
	}
	return lookAlikes(cc, entriesOf(entries)), nil
}

// logListing records that a list of patients' names is about to be shown,
// as a search with a descriptive query, before it is returned.
func (c *Core) logListing(s session, query string, entries []cache.IndexEntry) error {
	e := c.event(s, audit.ActionSearch)
	e.Purpose = s.Policy.Purpose
	e.Query = query
	e.Results = len(entries)
	if len(entries) == 1 {
		e.Patient = entries[0].NHS
	}
	if err := c.logEvent(e); err != nil {
		return fmt.Errorf("the list was not shown because its audit event could not be written: %w", err)
	}
	return nil
}

// maxRecent is how many recently opened patients are remembered.
const maxRecent = 10

func (c *Core) rememberRecent(tx *cache.Tx, nhs record.NHSNumber) error {
	var list []record.NHSNumber
	if _, err := getJSON(tx, metaRecent, &list); err != nil {
		return err
	}
	out := []record.NHSNumber{nhs}
	for _, n := range list {
		if n != nhs && len(out) < maxRecent {
			out = append(out, n)
		}
	}
	return putJSON(tx, metaRecent, out)
}

// Recent lists recently opened patients still in the cache, newest first.
// Listing names is recorded as a search, like the caseload list.
func (c *Core) Recent() ([]PatientEntry, error) {
	cc, s, err := c.open()
	if err != nil {
		return nil, err
	}
	var list []record.NHSNumber
	if err := cc.View(func(tx *cache.Tx) error { _, err := getJSON(tx, metaRecent, &list); return err }); err != nil {
		return nil, err
	}
	var out []cache.IndexEntry
	for _, n := range list {
		if e, ok := cc.Entry(n); ok {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	if err := c.logListing(s, "(recently opened list)", out); err != nil {
		return nil, err
	}
	return lookAlikes(cc, entriesOf(out)), nil
}

// BreakGlass opens a patient under emergency access. Online, it asks the
// server for a time-limited relationship (the server raises an alert for
// the privacy officer) and opens the document it sends. Offline, it opens
// the patient only if the summary is already cached: a summary that never
// reached this device cannot be conjured without a connection, and the
// event still records the reason. Either way the event carries the reason.
func (c *Core) BreakGlass(ctx context.Context, nhsText string, reason BreakGlassReason) (*PatientView, error) {
	if err := reason.Validate(); err != nil {
		return nil, err
	}
	nhs, err := record.ParseNHSNumber(nhsText)
	if err != nil {
		return nil, err
	}
	_, s, err := c.open()
	if err != nil {
		return nil, err
	}
	if !s.Policy.BreakGlass {
		c.logDenied(s, nhs, ErrBreakGlassNotAllowed, &reason)
		return nil, ErrBreakGlassNotAllowed
	}
	c.mu.Lock()
	sc := c.sync
	c.mu.Unlock()
	if sc != nil {
		res, err := sc.BreakGlass(ctx, nhs.Digits(), reason.Code, reason.Text)
		switch {
		case err == nil && !res.Granted:
			c.logDenied(s, nhs, fmt.Errorf("break-glass refused by the server: %s", res.Error), &reason)
			return nil, fmt.Errorf("emergency access refused: %s", res.Error)
		case err != nil && !errors.Is(err, syncclient.ErrOffline):
			return nil, fmt.Errorf("emergency access: %w", err)
		}
	}
	return c.OpenPatient(nhs.Digits(), &reason)
}

// Waits of BreakGlassConnected.
const (
	bgReachWait   = 8 * time.Second  // for the server to be reached
	bgAskWait     = 20 * time.Second // for its answer
	bgDeliverWait = 5 * time.Second  // for the event to be delivered
)

// BreakGlassConnected is BreakGlass for a caller that does not sync (the
// command line): it connects when it can, waits a few seconds for the
// server, asks it for emergency access, gives the uploader a few seconds
// to deliver the break-glass event (what is not delivered stays queued),
// and disconnects. When the server cannot be reached (an attempt failed)
// the offline rule applies at once, not after the wait.
func (c *Core) BreakGlassConnected(nhs string, reason BreakGlassReason) (*PatientView, error) {
	if _, _, err := c.open(); err != nil {
		return nil, err
	}
	// The sync service runs only for this call, and has returned before it
	// does.
	syncCtx, stopSync := context.WithCancel(context.Background())
	var syncErr error
	synced := make(chan struct{})
	go func() { defer close(synced); syncErr = c.ServeSync(syncCtx) }()
	defer func() {
		stopSync()
		<-synced
		if syncErr != nil {
			c.cfg.Logf("sync for emergency access: %v", syncErr)
		}
	}()
	for deadline := time.Now().Add(bgReachWait); time.Now().Before(deadline); {
		select {
		case <-synced: // it could not start: the offline rule applies now
			return c.BreakGlass(context.Background(), nhs, reason)
		default:
		}
		st := c.Status()
		if strings.HasPrefix(st.Connection, "up to date") {
			break
		}
		if st.State == SyncError || (st.State == SyncOffline && st.Error != "") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bgAskWait)
	defer cancel()
	v, err := c.BreakGlass(ctx, nhs, reason)
	for end := time.Now().Add(bgDeliverWait); err == nil && time.Now().Before(end); {
		st := c.Status()
		if st.PendingAuditEvents == 0 || !strings.HasPrefix(st.Connection, "up to date") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return v, err
}

// lookAlikes flags the entries that have a look-alike on the device (name,
// date of birth and postcode closely matching another patient's), so a
// screen can say "similar record on this device" on both rows. The flag is
// a warning only: a failure to compute it leaves the entries unflagged.
func lookAlikes(cc *cache.Cache, es []PatientEntry) []PatientEntry {
	nhs := make([]record.NHSNumber, len(es))
	for i, e := range es {
		nhs[i] = e.NHS
	}
	similar, err := cc.LookAlikes(nhs)
	if err != nil {
		return es
	}
	for i := range es {
		es[i].SimilarOnDevice = similar[es[i].NHS]
	}
	return es
}
