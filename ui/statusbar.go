package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
)

// statusBar is the line at the foot of every unlocked screen: the truth
// about the connection in plain words, the audit queue, the cache, and
// warnings about staleness, damage and an unfinished first sync. Its texts
// are elided rather than widening the window; the full text, socket errors
// included, is one click away under Details.
type statusBar struct {
	conn, audit, count *widget.RichText
	details            *widget.Button
	warnings           *fyne.Container
	row                fyne.CanvasObject
	root               fyne.CanvasObject
	// offlineSince is when the connection was first seen offline in this
	// run of offline states; zero while connected.
	offlineSince time.Time
	// detail is everything the bar knows, in full, for Details.
	detail    string
	onDetails func(text string) // shows detail; set by the shell
}

func newStatusBar() *statusBar {
	s := &statusBar{conn: line(span{"status unknown", muted}), audit: line(), count: line()}
	for _, rt := range []*widget.RichText{s.conn, s.audit, s.count} {
		rt.Wrapping = fyne.TextWrapOff
		rt.Truncation = fyne.TextTruncateEllipsis
	}
	s.details = widget.NewButtonWithIcon("Details", theme.InfoIcon(), func() {
		if s.onDetails != nil {
			s.onDetails(s.detail)
		}
	})
	s.warnings = container.NewVBox()
	// Equal columns of elided text: no status text can widen the window.
	s.row = container.NewBorder(nil, nil, nil, s.details, container.NewGridWithColumns(3, s.conn, s.audit, s.count))
	s.root = compact(container.NewStack(newThemedRect(theme.ColorNameHeaderBackground, "", 0),
		container.NewPadded(container.NewVBox(s.warnings, s.row))))
	return s
}

// clock is a time as the status bar says it: "05:01" today, else the
// date and time.
func clock(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if y, m, d := t.Local().Date(); now.Local().Year() == y && now.Local().Month() == m && now.Local().Day() == d {
		return t.Local().Format("15:04")
	}
	return fmtTime(t)
}

// connectionWords is the connection in plain words: "Offline since 05:01;
// summaries last checked 05:01" rather than a socket error.
func (s *statusBar) connectionWords(st core.Status, now time.Time) string {
	switch {
	case st.Locked:
		return "Locked"
	case st.State == core.SyncOffline:
		if s.offlineSince.IsZero() {
			s.offlineSince = now
		}
		return fmt.Sprintf("Offline since %s; summaries last checked %s", clock(s.offlineSince, now), clock(st.LastUpToDate, now))
	case st.State == core.SyncError:
		return "Connection needs attention: see Details"
	}
	s.offlineSince = time.Time{}
	if st.Connection == "" {
		return "Offline"
	}
	return strings.ToUpper(st.Connection[:1]) + st.Connection[1:]
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
	conn := s.connectionWords(st, now)
	setSpans(s.conn, span{conn, connectionStyle(st)})
	detail := []string{"Connection: " + conn}
	if st.Connection != "" && !st.Locked {
		detail = append(detail, "State: "+st.Connection)
	}
	if st.Error != "" {
		detail = append(detail, "Last error: "+st.Error)
	}
	if st.RetryIn > 0 {
		detail = append(detail, "Next attempt in "+humanDuration(st.RetryIn))
	}
	detail = append(detail, "Summaries last checked with the server: "+fmtTime(st.LastUpToDate))
	if st.Link != nil && !st.Locked {
		// The measured link: rate, round trip and last contact.
		setSpans(s.conn, span{conn, connectionStyle(st)}, span{" (" + st.Link.String() + ")", muted})
		detail = append(detail, "Link: "+st.Link.String())
	}
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
		detail = append(detail, s.audit.String(), s.count.String())
		if !st.SoonestLeaseExpiry.IsZero() {
			// Expiring copies are warned on each patient's summary, not
			// across the screen; the soonest is here for whoever asks.
			detail = append(detail, "The first offline copy expires at "+fmtTime(st.SoonestLeaseExpiry)+"; connect to renew.")
		}
	}
	s.warnings.RemoveAll()
	warn := func(text string, st style) {
		s.warnings.Add(block(colCaution, txt(text, style{col: colOnCaution, bold: st.bold})))
		detail = append(detail, text)
	}
	if st.Enrolled && !st.FirstSyncComplete {
		warn("First sync incomplete: patients may be missing from this device. Stay connected to finish it.", bold)
	}
	if !st.Locked && st.Stale {
		warn(fmt.Sprintf("Stale: this device last confirmed its data at %s. Newer information may exist.", fmtTime(st.LastUpToDate)), bold)
	}
	if n := st.Damaged - len(st.SetAside); n > 0 {
		warn(fmt.Sprintf("%s could not be read (damaged) and will be fetched again at the next sync.", plural(n, "record", "records")), bold)
	}
	if n := len(st.SetAside); n > 0 {
		warn(fmt.Sprintf("%s set aside: this device could not store them (%s). A newer version from the server replaces them.", plural(n, "record", "records"), st.SetAside[0].Reason), bold)
	}
	s.detail = strings.Join(detail, "\n")
	// The texts changed width: lay the row out again so they do not overlap.
	s.row.Refresh()
	s.warnings.Refresh()
	s.root.Refresh()
}
