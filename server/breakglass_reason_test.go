package server

import "testing"

// TestReasonAcceptable_CodedReasonIsEnough: a coded reason needs no free
// text except "other"; text that is given must hold real words.
func TestReasonAcceptable_CodedReasonIsEnough(t *testing.T) {
	tests := []struct {
		code, text string
		want       bool
	}{
		{"emergency-treatment", "", true},
		{"safeguarding", "", true},
		{"other", "", false},
		{"other", "patient collapsed in the street", true},
		{"emergency-treatment", "x", false},
		{"emergency-treatment", "....", false},
		{"emergency-treatment", "\u200b\u200b", false},
		{"emergency-treatment", "  ", true},
		{"made-up", "unconscious patient", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := reasonAcceptable(tt.code, tt.text, CleanReason(tt.text)); got != tt.want {
			t.Errorf("reasonAcceptable(%q, %q) = %v, want %v", tt.code, tt.text, got, tt.want)
		}
	}
}
