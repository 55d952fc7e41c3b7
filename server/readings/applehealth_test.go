package readings

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// TestParseAppleHealth_SyntheticExport checks a synthetic file in Apple
// Health's export.xml format (with its DTD, metadata entries, a
// correlation and a type the record does not take) becomes valid readings
// with converted units, and that the limit refuses rather than truncates.
func TestParseAppleHealth_SyntheticExport(t *testing.T) {
	f, err := os.Open("testdata/export.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	obs, skipped, err := ParseAppleHealth(f, me, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 6 || skipped != 1 {
		t.Fatalf("%d readings, %d skipped; want 6 and 1", len(obs), skipped)
	}
	checkAt := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	byCode := map[string]*Observation{}
	for _, o := range obs {
		if err := Check(o, me, checkAt); err != nil {
			t.Errorf("reading %s refused: %v", o.Code.Coding[0].Code, err)
		}
		byCode[o.Code.Coding[0].Code] = o
		if len(o.Identifier) != 1 || o.Identifier[0].System != AppleIdentifierSystem {
			t.Errorf("reading without the export's identifier")
		}
	}
	if w := *byCode["29463-7"].ValueQuantity.Value; math.Abs(w-80.01) > 0.01 {
		t.Errorf("176.4 lb = %g kg", w)
	}
	if s := *byCode["59408-5"].ValueQuantity.Value; s != 97 {
		t.Errorf("oxygen 0.97 = %g %%", s)
	}
	bp := byCode[BloodPressureLOINC]
	if bp == nil || *bp.Component[0].ValueQuantity.Value != 128 || *bp.Component[1].ValueQuantity.Value != 82 {
		t.Fatalf("blood pressure: %+v", bp)
	}
	f.Seek(0, 0)
	if _, _, err := ParseAppleHealth(f, me, 3); !errors.Is(err, ErrTooMany) {
		t.Fatalf("limit 3: %v", err)
	}
	bad := `<HealthData><Record type="HKQuantityTypeIdentifierHeartRate" unit="count/s" value="1" startDate="2026-11-30 08:12:00 +0000"/></HealthData>`
	if _, _, err := ParseAppleHealth(strings.NewReader(bad), me, 10); err == nil || !strings.Contains(err.Error(), "count/s") {
		t.Fatalf("unknown unit: %v", err)
	}
}
