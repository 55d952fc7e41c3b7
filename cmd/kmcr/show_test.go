package main

import (
	"strings"
	"testing"
	"time"

	"kmcr/core"
	"kmcr/record"
)

// TestRenderView_AlertStates checks "kmcr show" keeps "none recorded" and
// "information not available" apart for alerts, as for every section.
func TestRenderView_AlertStates(t *testing.T) {
	alertsBlock := func(st record.SectionState) string {
		s := &record.Summary{}
		s.Alerts.State = st
		var b strings.Builder
		renderView(&b, &core.PatientView{Summary: s}, time.Now())
		out := b.String()
		i := strings.Index(out, "Alerts\n")
		if i < 0 {
			t.Fatalf("no Alerts section in:\n%s", out)
		}
		rest := out[i:]
		if j := strings.Index(rest, "\n\n"); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	if got := alertsBlock(record.StateNotAvailable); !strings.Contains(got, "information not available") || strings.Contains(got, "none recorded") {
		t.Errorf("no alerts shared renders as:\n%s", got)
	}
	if got := alertsBlock(record.StateNoneRecorded); !strings.Contains(got, "none recorded") {
		t.Errorf("alerts recorded as none render as:\n%s", got)
	}
}
