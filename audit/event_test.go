package audit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestEvent_Validate_EveryActionValid checks the helper events, one per
// action, are valid, so every other test starts from a valid event.
func TestEvent_Validate_EveryActionValid(t *testing.T) {
	for _, a := range Actions() {
		t.Run(string(a), func(t *testing.T) {
			if err := validEvent(a).Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

// TestEvent_Validate_Rules checks each rule in Validate's table, one broken
// rule per case.
func TestEvent_Validate_Rules(t *testing.T) {
	tests := []struct {
		name   string
		action Action
		edit   func(*Event)
		field  string // expected in the error; "" means valid
	}{
		{"unknown action", ActionView, func(e *Event) { e.Action = "peek" }, "action"},
		{"no occurred time", ActionView, func(e *Event) { e.Occurred = time.Time{} }, "occurred"},
		{"clock reset to 1970 still records", ActionView, func(e *Event) { e.Occurred = time.Unix(5, 0) }, ""},
		{"year before 1970", ActionView, func(e *Event) { e.Occurred = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, "occurred"},
		{"local time zone allowed", ActionView, func(e *Event) { e.Occurred = t0.In(time.FixedZone("BST", 3600)) }, ""},
		{"no user id", ActionLogin, func(e *Event) { e.User.ID = "" }, "user.id"},
		{"no role", ActionLogin, func(e *Event) { e.User.Role = "" }, "user.role"},
		{"no user name is fine", ActionLogin, func(e *Event) { e.User.Name = "" }, ""},
		{"no device id", ActionLock, func(e *Event) { e.Device.ID = "" }, "device.id"},
		{"no device host", ActionLock, func(e *Event) { e.Device.Host = "" }, "device.host"},
		{"user id with newline", ActionLock, func(e *Event) { e.User.ID = "u\n1" }, "user.id"},
		{"role with trailing space", ActionLock, func(e *Event) { e.User.Role = "paramedic " }, "user.role"},
		{"name not UTF-8", ActionLock, func(e *Event) { e.User.Name = "Sam \xff" }, "user.name"},
		{"id too long", ActionLock, func(e *Event) { e.User.ID = strings.Repeat("u", maxIDLen+1) }, "user.id"},
		{"view without patient", ActionView, func(e *Event) { e.Patient = "" }, "patient"},
		{"view with bad NHS number", ActionView, func(e *Event) { e.Patient = "9434765918" }, "patient"},
		{"view with spaced NHS number", ActionView, func(e *Event) { e.Patient = "943 476 5919" }, "patient"},
		{"view without sections", ActionView, func(e *Event) { e.Sections = nil }, "sections"},
		{"view with empty section", ActionView, func(e *Event) { e.Sections = []string{""} }, "sections[0]"},
		{"view with repeated section", ActionView, func(e *Event) { e.Sections = []string{"allergies", "allergies"} }, "sections"},
		{"view without purpose", ActionView, func(e *Event) { e.Purpose = "" }, "purpose"},
		{"view with query", ActionView, func(e *Event) { e.Query = "x" }, "query"},
		{"view with results", ActionView, func(e *Event) { e.Results = 2 }, "results"},
		{"view under break-glass", ActionView, func(e *Event) { e.BreakGlass = &BreakGlass{"unconscious", "see break-glass"} }, ""},
		{"view denied outcome", ActionView, func(e *Event) { e.Outcome.Result = ResultDenied }, "outcome.result"},
		{"view failed outcome", ActionView, func(e *Event) { e.Outcome = Outcome{ResultFailure, "decryption failed"} }, ""},
		{"unknown outcome", ActionView, func(e *Event) { e.Outcome.Result = "maybe" }, "outcome.result"},
		{"search without query", ActionSearch, func(e *Event) { e.Query = "" }, "query"},
		{"search negative results", ActionSearch, func(e *Event) { e.Results = -1 }, "results"},
		{"search one hit names patient", ActionSearch, func(e *Event) { e.Results, e.Patient = 1, testPatient }, ""},
		{"search many hits names patient", ActionSearch, func(e *Event) { e.Patient = testPatient }, "patient"},
		{"search with sections", ActionSearch, func(e *Event) { e.Sections = []string{"allergies"} }, "sections"},
		{"search query with newline", ActionSearch, func(e *Event) { e.Query = "PATEL\nSAM" }, ""},
		{"search query with NUL", ActionSearch, func(e *Event) { e.Query = "PATEL\x00" }, "query"},
		{"break-glass without reason", ActionBreakGlass, func(e *Event) { e.BreakGlass = nil }, "breakGlass"},
		{"break-glass without code", ActionBreakGlass, func(e *Event) { e.BreakGlass.ReasonCode = "" }, "breakGlass.reasonCode"},
		{"break-glass blank text", ActionBreakGlass, func(e *Event) { e.BreakGlass.ReasonText = "  \n" }, "breakGlass.reasonText"},
		{"break-glass without patient", ActionBreakGlass, func(e *Event) { e.Patient = "" }, "patient"},
		{"break-glass text too long", ActionBreakGlass, func(e *Event) { e.BreakGlass.ReasonText = strings.Repeat("x", maxTextLen+1) }, "breakGlass.reasonText"},
		{"export without sections", ActionExport, func(e *Event) { e.Sections = nil }, "sections"},
		{"denied must be denied", ActionDenied, func(e *Event) { e.Outcome.Result = ResultSuccess }, "outcome.result"},
		{"denied search without patient", ActionDenied, func(e *Event) { e.Patient, e.Query = "", "SMITH" }, ""},
		{"login with patient", ActionLogin, func(e *Event) { e.Patient = testPatient }, "patient"},
		{"login with purpose", ActionLogin, func(e *Event) { e.Purpose = "TREAT" }, "purpose"},
		{"lock with break-glass", ActionLock, func(e *Event) { e.BreakGlass = &BreakGlass{"x", "y"} }, "breakGlass"},
		{"wipe with sections", ActionWipe, func(e *Event) { e.Sections = []string{"allergies"} }, "sections"},
		{"unlock that failed", ActionUnlock, func(e *Event) { e.Outcome.Result = ResultFailure }, "outcome.result"},
		{"unlock-failed that succeeded", ActionUnlockFailed, func(e *Event) { e.Outcome.Result = ResultSuccess }, "outcome.result"},
		{"detail too long", ActionLogin, func(e *Event) { e.Outcome.Detail = strings.Repeat("d", maxTextLen+1) }, "outcome.detail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEvent(tt.action)
			if e.BreakGlass != nil {
				bg := *e.BreakGlass
				e.BreakGlass = &bg
			}
			tt.edit(&e)
			err := e.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("Validate() = %v, want ErrInvalidEvent", err)
			}
			if !strings.Contains(err.Error(), ": "+tt.field+":") {
				t.Errorf("Validate() = %v, want it to name field %q", err, tt.field)
			}
		})
	}
}
