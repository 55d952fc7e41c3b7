package portal

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"kmcr/audit"
	"kmcr/server/selfaudit"
	"kmcr/server/store"
)

// PageSize is how many accesses the "who viewed" page lists at once.
const PageSize = 20

// offlineAfter is how long after the access its arrival at the record
// makes it an offline view: a device online reports within seconds; one
// that queued the event while offline reports when it is back.
const offlineAfter = 30 * time.Second

// Access is one line of "who viewed my record".
type Access struct {
	When, Reported   string // "3 Dec 2026 at 14:02" (UK time)
	Offline          bool
	What             string // "Viewed your record", "Searched for you", ...
	Name, Role, Org  string
	Purpose          string
	BreakGlass       bool
	BreakGlassReason string
	Sections         string
	Device           string
}

// viewedData is the "who viewed" page's data.
type viewedData struct {
	Accesses   []Access
	Total      int
	Page, Last int
	From, To   string // the filter as given (YYYY-MM-DD)
	BadDate    string
	PrevURL    string
	NextURL    string
	Download   string
	BreakGlass int // break-glass accesses within the filter
}

// purposeWords says a purpose-of-use code in plain words.
var purposeWords = map[string]string{
	"TREAT":   "to care for you",
	"ETREAT":  "emergency care",
	"HOPERAT": "running the service",
	"BTG":     "emergency access",
	"PUBHLTH": "public health",
}

// roleWords says a role in plain words.
var roleWords = map[string]string{
	"paramedic":       "Paramedic",
	"community":       "Community care worker",
	"frontdesk":       "Reception staff",
	"privacy-officer": "Privacy officer",
	"admin":           "Administrator",
}

var actionWords = map[audit.Action]string{
	audit.ActionView:       "Viewed your record",
	audit.ActionSearch:     "Found you in a search",
	audit.ActionBreakGlass: "Used emergency access (break-glass) to open your record",
	audit.ActionExport:     "Printed or saved your record",
	audit.ActionDenied:     "Tried to open your record and was refused",
}

func ukWhen(t time.Time) string { return t.In(ukTime).Format("2 Jan 2006 at 15:04") }

// maxCachedLogs bounds how many patients' decoded access logs are kept.
const maxCachedLogs = 256

// rereadMargin is how far back from the latest recorded time (or now,
// whichever is earlier) each page reads again: another node's clock, or
// an event recorded with a time from the future, may put a new event
// before the latest one read; those read twice are dropped by their key.
const rereadMargin = 10 * time.Minute

// patientLog is one patient's decoded accesses by others, newest first,
// and how far through the store's log they reach.
type patientLog struct {
	entries []audit.Stored
	seen    map[string]bool // device \x00 seq
	last    time.Time       // the latest recorded time read
	used    time.Time
}

// accessLogs keeps decoded access logs, so a page reads from the store
// only the events recorded since the last one it read (AccessLogSince):
// decoding ten thousand events for every page would be slow.
type accessLogs struct {
	mu   sync.Mutex
	byID map[string]*patientLog
}

// accessLog reads the patient's accesses by others, newest first, within
// [from, to) when set. The citizen's own portal visits are left out.
func (p *Portal) accessLog(nhs string, from, to time.Time) ([]audit.Stored, error) {
	l := &p.logs
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil {
		l.byID = map[string]*patientLog{}
	}
	pl := l.byID[nhs]
	if pl == nil {
		if len(l.byID) >= maxCachedLogs {
			var oldest string
			for k, v := range l.byID {
				if oldest == "" || v.used.Before(l.byID[oldest].used) {
					oldest = k
				}
			}
			delete(l.byID, oldest)
		}
		pl = &patientLog{seen: map[string]bool{}}
		l.byID[nhs] = pl
	}
	pl.used = time.Now()
	added := false
	since := pl.last
	if now := p.now(); now.Before(since) {
		since = now
	}
	if !since.IsZero() {
		since = since.Add(-rereadMargin)
	}
	err := p.st.AccessLogSince(nhs, since, func(se store.StoredEvent) error {
		if se.Recorded.After(pl.last) {
			pl.last = se.Recorded
		}
		key := fmt.Sprintf("%s\x00%d", se.Device, se.Seq)
		if pl.seen[key] {
			return nil // at the boundary: read last time
		}
		pl.seen[key] = true
		if se.Malformed || selfaudit.IsSelf(se.Device) {
			return nil
		}
		e, err := audit.Decode(se.Canonical)
		if err != nil || actionWords[e.Action] == "" {
			return nil // kept by the store for the chain; not a readable access
		}
		pl.entries = append(pl.entries, audit.Stored{DeviceID: se.Device, Event: e, Recorded: se.Recorded})
		added = true
		return nil
	})
	if err != nil {
		delete(l.byID, nhs) // read again in full next time
		return nil, err
	}
	if added {
		sort.SliceStable(pl.entries, func(i, j int) bool { return pl.entries[i].Event.Occurred.After(pl.entries[j].Event.Occurred) })
	}
	if from.IsZero() && to.IsZero() {
		return append([]audit.Stored(nil), pl.entries...), nil
	}
	var out []audit.Stored
	for _, e := range pl.entries {
		if (!from.IsZero() && e.Event.Occurred.Before(from)) || (!to.IsZero() && !e.Event.Occurred.Before(to)) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// badDate is a date filter the page cannot use; its text is shown as it
// stands, to the citizen.
type badDate string

func (b badDate) Error() string { return string(b) }

// dateRange reads ?from=YYYY-MM-DD&to=YYYY-MM-DD (UK dates, to inclusive).
func dateRange(r *http.Request) (from, to time.Time, fs, ts string, err error) {
	fs, ts = r.URL.Query().Get("from"), r.URL.Query().Get("to")
	if fs != "" {
		if from, err = time.ParseInLocation(time.DateOnly, fs, ukTime); err != nil {
			return from, to, fs, ts, badDate("Enter the 'from' date as year-month-day, for example 2026-12-03")
		}
	}
	if ts != "" {
		t, perr := time.ParseInLocation(time.DateOnly, ts, ukTime)
		if perr != nil {
			return from, to, fs, ts, badDate("Enter the 'to' date as year-month-day, for example 2026-12-03")
		}
		to = t.AddDate(0, 0, 1)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return time.Time{}, time.Time{}, fs, ts, badDate("The 'from' date must be on or before the 'to' date")
	}
	return from, to, fs, ts, nil
}

func (p *Portal) whoViewed(w http.ResponseWriter, r *http.Request, s *Session) (any, int, bool) {
	if !s.Proofed() {
		p.render(w, r, http.StatusForbidden, "proofing", s, nil)
		return nil, 0, true
	}
	from, to, fs, ts, derr := dateRange(r)
	d := viewedData{From: fs, To: ts}
	if derr != nil {
		d.BadDate = derr.Error()
		return d, http.StatusBadRequest, false
	}
	entries, err := p.accessLog(s.NHS, from, to)
	if err != nil {
		p.cfg.Logf("portal: reading the access log: %v", err)
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
		return nil, 0, true
	}
	d.Total = len(entries)
	d.Last = max(1, (d.Total+PageSize-1)/PageSize)
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = min(max(d.Page, 1), d.Last)
	for _, e := range entries {
		if e.Event.Action == audit.ActionBreakGlass || e.Event.BreakGlass != nil {
			d.BreakGlass++
		}
	}
	lo := (d.Page - 1) * PageSize
	hi := min(lo+PageSize, d.Total)
	orgs := map[string]string{}
	for _, e := range entries[lo:hi] {
		d.Accesses = append(d.Accesses, p.access(e, orgs))
	}
	q := func(page int) string {
		u := fmt.Sprintf("/my/who-viewed?page=%d", page)
		if fs != "" {
			u += "&from=" + fs
		}
		if ts != "" {
			u += "&to=" + ts
		}
		return u
	}
	if d.Page > 1 {
		d.PrevURL = q(d.Page - 1)
	}
	if d.Page < d.Last {
		d.NextURL = q(d.Page + 1)
	}
	d.Download = "/my/who-viewed/bundle.json"
	if fs != "" || ts != "" {
		d.Download += "?from=" + fs + "&to=" + ts
	}
	return d, http.StatusOK, false
}

// access says one stored event in plain words, with the person's
// organisation as the record knows it now.
func (p *Portal) access(e audit.Stored, orgs map[string]string) Access {
	ev := e.Event
	a := Access{
		When: ukWhen(ev.Occurred), Reported: ukWhen(e.Recorded),
		Offline: e.Recorded.Sub(ev.Occurred) > offlineAfter,
		What:    actionWords[ev.Action], Name: ev.User.Name, Role: roleWords[ev.User.Role],
		Purpose: purposeWords[ev.Purpose], Device: ev.Device.Host,
	}
	if a.Role == "" {
		a.Role = ev.User.Role
	}
	if a.Purpose == "" {
		a.Purpose = ev.Purpose
	}
	if ev.BreakGlass != nil {
		a.BreakGlass, a.BreakGlassReason = true, ev.BreakGlass.ReasonText
	}
	if ev.Action == audit.ActionBreakGlass {
		a.BreakGlass = true
	}
	for i, sec := range ev.Sections {
		if i > 0 {
			a.Sections += ", "
		}
		a.Sections += sec
	}
	org, ok := orgs[ev.User.ID]
	if !ok {
		org = "organisation not recorded"
		if u, err := p.st.User(ev.User.ID); err == nil {
			code := u.Org
			if code == "" {
				code = "DEFAULT"
			}
			if o, err := p.st.Org(code); err == nil {
				org = o.Name
			}
		}
		orgs[ev.User.ID] = org
	}
	a.Org = org
	return a
}

// viewedBundle downloads the same accesses as a FHIR Bundle of AuditEvent.
func (p *Portal) viewedBundle(w http.ResponseWriter, r *http.Request) {
	s, _ := p.session(w, r)
	if s == nil || !s.Proofed() {
		http.Error(w, "Sign in first.", http.StatusUnauthorized)
		return
	}
	from, to, _, _, err := dateRange(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	entries, err := p.accessLog(s.NHS, from, to)
	if err == nil {
		err = p.audit.view(s, "who-viewed-download")
	}
	var b []byte
	if err == nil {
		b, err = audit.Bundle(entries)
	}
	if err != nil {
		p.cfg.Logf("portal: the access log download: %v", err)
		http.Error(w, "The download could not be made. Try again later.", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("Content-Disposition", `attachment; filename="who-viewed-my-record.json"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
