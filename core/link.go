package core

import (
	"fmt"
	"time"

	"kmcr/sync/syncclient"
)

// LinkStatus is the network as the sync connection measured it, for the
// status bar and "kmcr status": honest about a slow or silent link.
type LinkStatus struct {
	Connected   bool      `json:"connected"`
	Compression string    `json:"compression"`           // "zstd.d1", or "" for none
	RateBytes   float64   `json:"rate_bytes_per_second"` // while data flows; 0 until measured
	RTTMillis   int64     `json:"rtt_ms"`                // last heartbeat round trip; 0 until measured
	LastContact time.Time `json:"last_contact,omitzero"` // last message or heartbeat from the server
	SinceMillis int64     `json:"since_last_contact_ms"` // how long ago that was
}

// linkStatus reads the sync client's measurements; nil without a client or
// before its first connection.
func linkStatus(sc *syncclient.Client) *LinkStatus {
	if sc == nil {
		return nil
	}
	l, live := sc.Link()
	if l.LastContact.IsZero() {
		return nil
	}
	return &LinkStatus{Connected: live, Compression: l.Compression, RateBytes: l.RateIn,
		RTTMillis: l.RTT.Milliseconds(), LastContact: l.LastContact.UTC(), SinceMillis: time.Since(l.LastContact).Milliseconds()}
}

// String is the one-line form: "1.2 Mbit/s, 210 ms round trip, last
// contact 2 s ago".
func (l *LinkStatus) String() string {
	if l == nil {
		return "not measured yet"
	}
	rate := "rate not measured yet"
	if l.RateBytes > 0 {
		rate = humanRate(l.RateBytes * 8)
	}
	rtt := ""
	if l.RTTMillis > 0 {
		rtt = fmt.Sprintf(", %d ms round trip", l.RTTMillis)
	}
	ago := time.Duration(l.SinceMillis) * time.Millisecond
	state := ""
	if !l.Connected {
		state = ", disconnected"
	}
	return fmt.Sprintf("%s%s, last contact %s ago%s", rate, rtt, ago.Round(time.Second), state)
}

func humanRate(bits float64) string {
	switch {
	case bits >= 1e6:
		return fmt.Sprintf("%.1f Mbit/s", bits/1e6)
	case bits >= 1e3:
		return fmt.Sprintf("%.0f kbit/s", bits/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bits)
}
