package record

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"
)

// TestAssignNHSNumber_Stable checks the rule gives fixed answers: cached
// records and audit trails name patients by these numbers, so a change here
// is a change of identity and must fail this test.
func TestAssignNHSNumber_Stable(t *testing.T) {
	tests := map[string]NHSNumber{
		"Patient/195bd73c-1ef3-400d-9269-a0d9042afafe": "9993462381",
		"Patient/129c6ac7-8d06-89de-ad63-0204a93e76c3": "9994173316",
		"Patient/9da6b890-7d75-4ef3-b446-9adf727193f3": "9999777503",
	}
	for key, want := range tests {
		for i := 0; i < 3; i++ {
			if got := AssignNHSNumber(key); got != want {
				t.Fatalf("AssignNHSNumber(%q) = %s; want %s", key, got, want)
			}
		}
	}
}

// TestAssignNHSNumber_FollowsRule checks many keys against the rule as the
// documentation states it, written out again here, and that every result is
// a valid 999-range number; some keys must need the stepping step.
func TestAssignNHSNumber_FollowsRule(t *testing.T) {
	stepped := 0
	for i := 0; i < 5000; i++ {
		key := fmt.Sprintf("Patient/%d", i)
		got := AssignNHSNumber(key)
		if _, err := ParseNHSNumber(string(got)); err != nil || !got.IsTestRange() {
			t.Fatalf("AssignNHSNumber(%q) = %q: %v", key, got, err)
		}
		sum := sha256.Sum256([]byte(key))
		n := binary.BigEndian.Uint64(sum[:8]) % 1_000_000
		want, ok := CompleteNHSNumber(fmt.Sprintf("999%06d", n))
		for !ok {
			stepped++
			n = (n + 1) % 1_000_000
			want, ok = CompleteNHSNumber(fmt.Sprintf("999%06d", n))
		}
		if got != want {
			t.Fatalf("AssignNHSNumber(%q) = %s; the documented rule gives %s", key, got, want)
		}
	}
	if stepped == 0 {
		t.Error("no key needed the next candidate; the stepping rule is untested")
	}
}
