package server

import (
	"sort"
	"sync"
	"time"

	"kmcr/audit"
)

// AuditQuota bounds what one device may upload. Uploads past it are held,
// never dropped: the server stores and acknowledges what the allowance
// covers, keeps the session's acknowledgement of the rest until the
// allowance refills, and the client, which deletes only acknowledged
// events, sends them again. Exactly-once delivery is untouched.
type AuditQuota struct {
	// EventsPerMinute refills the event allowance; EventBurst caps it. A
	// week offline is a few hundred events: the burst lets a large backlog
	// (10,000 queued events) through at once, the rate stops a device
	// filling the store.
	EventsPerMinute int
	EventBurst      int
	// BytesPerMinute and ByteBurst do the same for the bytes of events.
	BytesPerMinute int
	ByteBurst      int
	// MaxEventBytes is the most one stored event may weigh. A valid event
	// with every field at its limit is well under it (see
	// audit.Validate's limits); a larger item is kept as malformed, its
	// first MaxEventBytes bytes and the hash of the whole.
	MaxEventBytes int
	// MalformedPerHour is how many malformed, forged or oversized items
	// of a device are kept an hour; more are held.
	MalformedPerHour int
	// AlertsPerHour is how many alerts one device's uploads raise an hour
	// before the rest are folded into one "audit-alert-flood" alert.
	AlertsPerHour int
}

// DefaultAuditQuota is the production quota.
var DefaultAuditQuota = AuditQuota{
	EventsPerMinute:  1_000,
	EventBurst:       10_000,
	BytesPerMinute:   4 << 20,
	ByteBurst:        16 << 20,
	MaxEventBytes:    16 << 10,
	MalformedPerHour: 100,
	AlertsPerHour:    100,
}

// Alert kinds of upload quotas.
const (
	// AlertAuditThrottled: a device uploaded faster than its quota; the
	// rest is held. One alert per device per hour.
	AlertAuditThrottled = "audit-throttled"
	// AlertAuditAlertFlood: a device's uploads raised more alerts in an
	// hour than AlertsPerHour; the rest were counted, not stored one by one.
	AlertAuditAlertFlood = "audit-alert-flood"
)

// maxHold bounds how long one held upload waits before it is tried again.
const maxHold = 30 * time.Second

// allowance is one device's token buckets.
type allowance struct {
	events, bytes, malformed, alerts float64
	at                               time.Time
}

// deviceQuotas holds every device's allowance, in memory: a restart
// refills them, which costs at most one burst.
type deviceQuotas struct {
	q  AuditQuota
	mu sync.Mutex
	m  map[string]*allowance
}

func (dq *deviceQuotas) get(device string, now time.Time) *allowance {
	if dq.m == nil {
		dq.m = map[string]*allowance{}
	}
	a, ok := dq.m[device]
	if !ok {
		a = &allowance{events: float64(dq.q.EventBurst), bytes: float64(dq.q.ByteBurst),
			malformed: float64(dq.q.MalformedPerHour), alerts: float64(dq.q.AlertsPerHour), at: now}
		dq.m[device] = a
		return a
	}
	if d := now.Sub(a.at); d > 0 {
		min := d.Minutes()
		a.events = fill(a.events, min*float64(dq.q.EventsPerMinute), dq.q.EventBurst)
		a.bytes = fill(a.bytes, min*float64(dq.q.BytesPerMinute), dq.q.ByteBurst)
		a.malformed = fill(a.malformed, d.Hours()*float64(dq.q.MalformedPerHour), dq.q.MalformedPerHour)
		a.alerts = fill(a.alerts, d.Hours()*float64(dq.q.AlertsPerHour), dq.q.AlertsPerHour)
		a.at = now
	}
	return a
}

func fill(v, add float64, max int) float64 {
	v += add
	if v > float64(max) {
		return float64(max)
	}
	return v
}

// admit returns the highest seq of the batch (in seq order) the event and
// byte allowances cover, whether that is the whole batch, and, when
// nothing is covered, how long until the first item would be.
func (dq *deviceQuotas) admit(device string, batch []audit.Uploaded, now time.Time) (cut uint64, all bool, wait time.Duration) {
	dq.mu.Lock()
	defer dq.mu.Unlock()
	a := dq.get(device, now)
	sorted := sortedSeqs(batch)
	events, bytes := a.events, a.bytes
	n := 0
	for _, it := range sorted {
		sz := float64(min(len(it.Canonical), dq.q.MaxEventBytes))
		if events < 1 || bytes < sz {
			break
		}
		events--
		bytes -= sz
		n++
	}
	if n == len(sorted) {
		return 0, true, 0
	}
	if n > 0 {
		return sorted[n].Seq, false, 0
	}
	first := float64(min(len(sorted[0].Canonical), dq.q.MaxEventBytes))
	wait = max(perMinute(1-a.events, dq.q.EventsPerMinute), perMinute(first-a.bytes, dq.q.BytesPerMinute))
	return 0, false, clampHold(wait)
}

// spend takes what a stored batch used.
func (dq *deviceQuotas) spend(device string, items, bytes, malformed int, now time.Time) {
	dq.mu.Lock()
	defer dq.mu.Unlock()
	a := dq.get(device, now)
	a.events -= float64(items)
	a.bytes -= float64(bytes)
	a.malformed -= float64(malformed)
}

// malformedLeft is how many malformed items may be kept now, and how long
// until one more may.
func (dq *deviceQuotas) malformedLeft(device string, now time.Time) (int, time.Duration) {
	dq.mu.Lock()
	defer dq.mu.Unlock()
	a := dq.get(device, now)
	wait := time.Duration((1 - a.malformed) / float64(dq.q.MalformedPerHour) * float64(time.Hour))
	return int(a.malformed), clampHold(wait)
}

// alertsLeft takes up to n alerts from the allowance and returns how many
// may be stored one by one.
func (dq *deviceQuotas) alertsLeft(device string, n int, now time.Time) int {
	dq.mu.Lock()
	defer dq.mu.Unlock()
	a := dq.get(device, now)
	k := min(n, int(a.alerts))
	a.alerts -= float64(k)
	return k
}

func perMinute(need float64, rate int) time.Duration {
	if need <= 0 || rate <= 0 {
		return 0
	}
	return time.Duration(need / float64(rate) * float64(time.Minute))
}

func clampHold(d time.Duration) time.Duration {
	return min(max(d, time.Second), maxHold)
}

func sortedSeqs(batch []audit.Uploaded) []audit.Uploaded {
	s := append([]audit.Uploaded(nil), batch...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Seq < s[j].Seq })
	return s
}

// below keeps the items with seq < cut, in their order.
func below(batch []audit.Uploaded, cut uint64) []audit.Uploaded {
	var out []audit.Uploaded
	for _, it := range batch {
		if it.Seq < cut {
			out = append(out, it)
		}
	}
	return out
}
