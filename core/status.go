package core

import (
	"slices"
	"time"

	"kmcr/cache"
	"kmcr/sync/syncclient"
)

// LeaseWarning is how long before its lease ends the status warns that
// cached data will soon be unavailable offline.
const LeaseWarning = 12 * time.Hour

// Status is what the status bar and "kmcr status" show. JSON keys are part
// of the command line's interface.
type Status struct {
	Enrolled bool   `json:"enrolled"`
	Locked   bool   `json:"locked"`
	User     string `json:"user"`
	Role     string `json:"role"`
	// Server is the sync service's address in use (or last used);
	// Servers every address this device knows, in the order they are
	// tried (one, or the nodes it was enrolled against).
	Server   string   `json:"server"`
	Servers  []string `json:"servers"`
	DeviceID string   `json:"device_id"`
	// Connection is the truthful connection state: "offline",
	// "connecting", "syncing n of N", "up to date as of T", "error: why".
	Connection string        `json:"connection"`
	State      SyncKind      `json:"-"`
	Done       int           `json:"sync_done,omitempty"`
	Total      int           `json:"sync_total,omitempty"`
	Error      string        `json:"error,omitempty"`
	RetryIn    time.Duration `json:"-"`
	// LastUpToDate is when the server last declared the cache complete.
	LastUpToDate      time.Time `json:"last_up_to_date,omitzero"`
	Stale             bool      `json:"stale"`
	FirstSyncComplete bool      `json:"first_sync_complete"`
	CachedPatients    int       `json:"cached_patients"`
	// SoonestLeaseExpiry is the first moment a cached summary stops being
	// available offline; LeaseExpiringSoon warns within LeaseWarning.
	SoonestLeaseExpiry time.Time `json:"soonest_lease_expiry,omitzero"`
	LeaseExpiringSoon  bool      `json:"lease_expiring_soon"`
	PendingAuditEvents int       `json:"pending_audit_events"`
	OldestPendingAudit time.Time `json:"oldest_pending_audit,omitzero"`
	// OldestPendingAge is the age of the oldest queued event, in seconds.
	OldestPendingAge float64 `json:"oldest_pending_audit_age_seconds"`
	CacheBytes       int64   `json:"cache_bytes"`
	// Damaged counts the records this device holds but cannot show:
	// those that failed authentication at unlock, and those set aside
	// when they arrived because they could not be stored.
	Damaged int `json:"damaged_records"`
	// SetAside lists the records set aside, each with its reason.
	SetAside   []SetAside `json:"damaged_record_reasons,omitempty"`
	WipeReason string     `json:"wipe_reason,omitempty"`
	// Link is what the sync connection measured of the network (see
	// linkStatus); nil before any connection.
	Link *LinkStatus `json:"link,omitempty"`
	// Incidents are the open dispatch incidents the user is crew on (see
	// Incident); empty when none, null while locked.
	Incidents []Incident `json:"incidents"`
}

// Status reports the current state.
func (c *Core) Status() Status {
	c.mu.Lock()
	st := Status{Enrolled: c.profile != nil, Locked: c.c == nil, WipeReason: c.wipeReason, Servers: []string{}}
	state := c.state
	cc := c.c
	sc := c.sync
	if sc == nil {
		sc = c.lastSync
	}
	if c.profile != nil {
		p := c.profile
		st.User, st.Role, st.Server, st.DeviceID, st.FirstSyncComplete = p.User, p.Role, p.Server, p.DeviceID, p.FirstSync
		st.Servers = p.Addresses()
		if sc != nil && slices.Contains(st.Servers, sc.Server()) {
			st.Server = sc.Server()
		}
	}
	freshness := time.Duration(c.sess.Policy.FreshnessSeconds) * time.Second
	c.mu.Unlock()

	st.State, st.Done, st.Total, st.Error, st.RetryIn = SyncKind(state.Kind), state.Done, state.Total, state.Err, state.RetryIn
	st.Link = linkStatus(sc)
	if cc != nil {
		var asOf time.Time
		var incidents []storedIncident
		_ = cc.View(func(tx *cache.Tx) error {
			if _, err := getJSON(tx, metaAsOf, &asOf); err != nil {
				return err
			}
			var err error
			if incidents, _, err = readIncidents(tx, c.now()); err != nil {
				return err
			}
			notes, err := readSetAside(tx)
			st.SetAside = notes.list()
			return err
		})
		st.LastUpToDate = asOf
		st.Incidents = incidentsOf(cc, incidents)
		s := cc.Stats()
		st.CachedPatients, st.SoonestLeaseExpiry = s.Patients, s.SoonestExpiry
		st.PendingAuditEvents, st.OldestPendingAudit = s.OutboxCount, s.OldestOutbox
		st.CacheBytes, st.Damaged = s.FileBytes, s.Damaged+len(st.SetAside)
	}
	now := c.now()
	if !st.OldestPendingAudit.IsZero() {
		st.OldestPendingAge = now.Sub(st.OldestPendingAudit).Seconds()
	}
	if !st.SoonestLeaseExpiry.IsZero() && st.SoonestLeaseExpiry.Sub(now) < LeaseWarning {
		st.LeaseExpiringSoon = true
	}
	if freshness > 0 && !st.LastUpToDate.IsZero() && now.Sub(st.LastUpToDate) > freshness {
		st.Stale = true
	}
	st.Connection = connectionText(state, st.LastUpToDate)
	return st
}

func connectionText(s syncclient.State, asOf time.Time) string {
	switch s.Kind {
	case syncclient.UpToDate:
		if s.AsOf.After(asOf) {
			asOf = s.AsOf
		}
		return "up to date as of " + asOf.Local().Format("02-Jan-2006 15:04")
	case syncclient.Syncing:
		return s.String()
	case syncclient.Error:
		return "error: " + s.Err
	case syncclient.Offline:
		if s.Err != "" {
			return "offline: " + s.Err
		}
		return "offline"
	}
	return s.Kind.String()
}

// Watch registers fn to be called with the new status after every change
// (from the goroutine that made it: a GUI must hand it to its own thread).
// It returns a function that stops the calls.
func (c *Core) Watch(fn func(Status)) func() {
	c.mu.Lock()
	id := c.nextW
	c.nextW++
	c.watchers[id] = fn
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.watchers, id)
		c.mu.Unlock()
	}
}

func (c *Core) notify() {
	c.mu.Lock()
	fns := make([]func(Status), 0, len(c.watchers))
	for _, f := range c.watchers {
		fns = append(fns, f)
	}
	c.mu.Unlock()
	if len(fns) == 0 {
		return
	}
	st := c.Status()
	for _, f := range fns {
		f(st)
	}
}

func (c *Core) setState(s syncclient.State) {
	c.mu.Lock()
	c.state = s
	progress := c.onProgress
	c.mu.Unlock()
	if progress != nil {
		progress(s)
	}
	c.notify()
}
