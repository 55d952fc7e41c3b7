package ui

import (
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
)

// statusBar is the line at the foot of every unlocked screen: the truth
// about the connection, the audit queue, the cache, and warnings about
// leases, staleness and an unfinished first sync.
type statusBar struct {
	conn, audit, count *widget.RichText
	warnings, row      *fyne.Container
	root               fyne.CanvasObject
}

func newStatusBar() *statusBar {
	s := &statusBar{conn: line(span{"status unknown", muted}), audit: line(), count: line()}
	for _, rt := range []*widget.RichText{s.conn, s.audit, s.count} {
		rt.Wrapping = fyne.TextWrapOff
	}
	s.warnings = container.NewVBox()
	s.row = container.NewHBox(s.conn, widget.NewSeparator(), s.audit, widget.NewSeparator(), s.count)
	s.root = compact(container.NewStack(newThemedRect(theme.ColorNameHeaderBackground, "", 0),
		container.NewPadded(container.NewVBox(s.warnings, s.row))))
	return s
}

// setSpans replaces a RichText's content.
func setSpans(rt *widget.RichText, spans ...span) {
	fresh := line(spans...)
	rt.Segments = fresh.Segments
	rt.Refresh()
}

// connectionStyle colours the connection state by what it asks of the user.
func connectionStyle(st core.Status) style {
	switch st.State {
	case core.SyncUpToDate:
		return okText
	case core.SyncError:
		return danger
	case core.SyncOffline:
		return warnText
	}
	return bold
}

// update shows st; now ages the oldest audit event and the lease.
func (s *statusBar) update(st core.Status, now time.Time) {
	conn := st.Connection
	if conn == "" {
		conn = "offline"
	}
	if st.Locked {
		conn = "locked"
	}
	setSpans(s.conn, span{"Connection: ", plain}, span{conn, connectionStyle(st)})
	if st.Locked {
		setSpans(s.audit, span{"Audit: unlock to see the queue", muted})
		setSpans(s.count)
	} else {
		switch st.PendingAuditEvents {
		case 0:
			setSpans(s.audit, span{"Audit: all events delivered", plain})
		default:
			age := ""
			if !st.OldestPendingAudit.IsZero() {
				age = ", oldest " + humanDuration(now.Sub(st.OldestPendingAudit)) + " old"
			}
			setSpans(s.audit, span{fmt.Sprintf("Audit: %s waiting to upload%s", plural(st.PendingAuditEvents, "event", "events"), age), warnText})
		}
		setSpans(s.count, span{plural(st.CachedPatients, "patient", "patients") + " on this device", plain})
	}

	s.warnings.RemoveAll()
	warn := func(text string, st style) {
		s.warnings.Add(block(colCaution, txt(text, style{col: colOnCaution, bold: st.bold})))
	}
	if st.Enrolled && !st.FirstSyncComplete {
		warn("First sync incomplete: patients may be missing from this device. Stay connected to finish it.", bold)
	}
	if !st.Locked && st.LeaseExpiringSoon && !st.SoonestLeaseExpiry.IsZero() {
		warn(fmt.Sprintf("Offline copies start to expire at %s (in %s): connect to renew them, or they cannot be shown.",
			fmtTime(st.SoonestLeaseExpiry), humanDuration(st.SoonestLeaseExpiry.Sub(now))), bold)
	}
	if !st.Locked && st.Stale {
		warn(fmt.Sprintf("Stale: this device last confirmed its data at %s. Newer information may exist.", fmtTime(st.LastUpToDate)), bold)
	}
	if st.Damaged > 0 {
		warn(fmt.Sprintf("%s could not be read (damaged) and will be fetched again at the next sync.", plural(st.Damaged, "record", "records")), bold)
	}
	// The texts changed width: lay the row out again so they do not overlap.
	s.row.Refresh()
	s.warnings.Refresh()
	s.root.Refresh()
}
