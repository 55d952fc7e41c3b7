package core

import (
	"testing"
	"time"

	"kmcr/cache"
	"kmcr/internal/storeddoc"
	"kmcr/record"
)

// TestPatientEntry_Banner_AgeStopsAtDeath checks a search result's banner
// words: the age on today's date for the living, at death for the dead,
// none when the date of death is not recorded, and the death shown.
func TestPatientEntry_Banner_AgeStopsAtDeath(t *testing.T) {
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	nhs := record.MustParseNHSNumber("9434765919")
	tests := []struct {
		name                string
		died                string // the cache's Died
		wantBorn, wantDeath string
	}{
		{"alive", "", "16-Dec-1923 (102y)", ""},
		{"died on a known day", "2013-10-05", "16-Dec-1923 (89y)", "DECEASED 05-Oct-2013"},
		{"died on an unknown date", storeddoc.DiedDateUnknown, "16-Dec-1923", "DECEASED (date not recorded)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := entryOf(cache.IndexEntry{NHS: nhs, Family: "Smith", Given: "Jane", BirthDate: "1923-12-16", Died: tt.died})
			if e.Deceased != (tt.died != "") {
				t.Errorf("Deceased = %v", e.Deceased)
			}
			b := e.Banner(now)
			if b.Born != tt.wantBorn || b.Deceased != tt.wantDeath || b.Name != "SMITH, Jane" {
				t.Errorf("banner %+v; want born %q, deceased %q", b, tt.wantBorn, tt.wantDeath)
			}
		})
	}
}
