package audit

import (
	"fmt"
	"time"

	"kmcr/record"
)

// AlertKind names what the server found. docs/audit.md says, for each kind,
// what causes it and what happens to the events concerned.
type AlertKind string

// The alert kinds.
const (
	// AlertGap: sequence numbers are missing between what the server holds
	// and what arrived, so events were deleted from the device's outbox
	// (or the server lost some). Later events are still accepted.
	AlertGap AlertKind = "gap"
	// AlertReorder: a batch's sequence numbers were not strictly
	// increasing. The events are put in order and accepted.
	AlertReorder AlertKind = "reorder"
	// AlertChanged: an event does not link to its predecessor's hash, an
	// already-stored sequence number came back with other content, or the
	// device's signed head does not match the event it names.
	AlertChanged AlertKind = "changed"
	// AlertRollback: the device is writing from an older copy of its cache:
	// its signed head is behind what the server holds, or it wrote new events
	// that reuse stored sequence numbers.
	AlertRollback AlertKind = "rollback"
	// AlertBadSignature: the batch had no signed head, its signature did not
	// verify, or it held events beyond the head that was signed.
	AlertBadSignature AlertKind = "bad-signature"
	// AlertMalformed: an uploaded item did not decode as a canonical event
	// of this device with the sequence number it was sent under.
	AlertMalformed AlertKind = "malformed"
	// AlertClockSkew: the device clock looked wrong (an event more than
	// ClockSkewTolerance after the server received it, or that far before
	// the event preceding it). Informational: the events are accepted,
	// because they happened, and the order that counts is the sequence.
	AlertClockSkew AlertKind = "clock-skew"
	// AlertBreakGlass: a user used emergency access. Raised for every
	// break-glass event so that a privacy officer reviews each one.
	AlertBreakGlass AlertKind = "break-glass"
)

// ClockSkewTolerance is how far a device clock may be ahead of the server,
// or run backwards between two events, before AlertClockSkew is raised.
// Ten minutes absorbs ordinary drift on a laptop that has been offline for
// days without hiding a clock that was set wrong.
const ClockSkewTolerance = 10 * time.Minute

// Informational reports whether alerts of kind k describe the device rather
// than the integrity of its audit trail (only AlertClockSkew does).
func (k AlertKind) Informational() bool { return k == AlertClockSkew }

// Alert is something a privacy officer or operator should look at.
type Alert struct {
	Kind     AlertKind
	DeviceID string
	Seq      uint64 // the first event concerned; for a finding about a signed head, its seq
	Detail   string // what was found, for people; consecutive events with the same finding share one alert
	At       time.Time
	// User and Patient are set when the alert is about what one event did
	// (break-glass), so a privacy officer can find it by person or patient.
	User    string
	Patient record.NHSNumber
}

// AlertsFor returns the alerts an event raises by its content alone, whatever
// the state of its chain: one AlertBreakGlass for a break-glass event. At is
// the event's own (device) time, when the emergency access happened.
func AlertsFor(e Event) []Alert {
	if e.Action != ActionBreakGlass {
		return nil
	}
	reason := "no reason recorded"
	if e.BreakGlass != nil {
		reason = fmt.Sprintf("reason %s: %q", e.BreakGlass.ReasonCode, e.BreakGlass.ReasonText)
	}
	return []Alert{{
		Kind:     AlertBreakGlass,
		DeviceID: e.Device.ID,
		Seq:      e.Seq,
		Detail: fmt.Sprintf("%s (%s, %s) used emergency access to patient %s for %s; %s",
			e.User.ID, e.User.Name, e.User.Role, e.Patient, e.Purpose, reason),
		At:      e.Occurred,
		User:    e.User.ID,
		Patient: e.Patient,
	}}
}

// alertLog collects a batch's alerts, folding a finding that repeats on
// consecutive events into one alert: a restored cache or a clock that stayed
// wrong for a week must not bury the privacy officer in identical alerts.
type alertLog struct {
	deviceID string
	at       time.Time
	alerts   []Alert
	runs     map[string]int // finding key -> index in runs of its latest run
	open     []alertRun
}

type alertRun struct {
	alert     int // index in alerts
	last      uint64
	following int
}

// add records a finding about event seq. key separates findings of one kind
// that must not be folded together (a clock running ahead, then going back).
func (l *alertLog) add(kind AlertKind, key string, seq uint64, detail string) {
	k := string(kind) + "/" + key
	if i, ok := l.runs[k]; ok && l.open[i].last+1 == seq {
		l.open[i].last = seq
		l.open[i].following++
		return
	}
	l.alerts = append(l.alerts, Alert{Kind: kind, DeviceID: l.deviceID, Seq: seq, Detail: detail, At: l.at})
	if l.runs == nil {
		l.runs = make(map[string]int)
	}
	l.runs[k] = len(l.open)
	l.open = append(l.open, alertRun{alert: len(l.alerts) - 1, last: seq})
}

// addAlerts records alerts as they are, never folded.
func (l *alertLog) addAlerts(as []Alert) { l.alerts = append(l.alerts, as...) }

func (l *alertLog) finish() []Alert {
	for _, r := range l.open {
		switch {
		case r.following == 1:
			l.alerts[r.alert].Detail += fmt.Sprintf(" (and the next event, seq %d)", r.last)
		case r.following > 1:
			l.alerts[r.alert].Detail += fmt.Sprintf(" (and the %d following events, through seq %d)", r.following, r.last)
		}
	}
	return l.alerts
}
