package record

import (
	"errors"
	"testing"
)

// TestParseNHSNumber checks the numbers the shared FHIR data's README names
// as valid and invalid, plus formatting variants.
func TestParseNHSNumber(t *testing.T) {
	tests := []struct {
		in   string
		want NHSNumber
		ok   bool
	}{
		{"9990000018", "9990000018", true},
		{"999 000 0026", "9990000026", true},
		{"999-000-0034", "9990000034", true},
		{" 9990000042 ", "9990000042", true},
		{"999 000 0050", "9990000050", true},
		{"943 476 5919", "9434765919", true},
		{"9000000009", "9000000009", true},
		{"9693632109", "9693632109", true},
		{"987 654 4321", "", false},
		{"123 456 7890", "", false},
		{"", "", false},
		{"999000001", "", false},
		{"99900000181", "", false},
		{"999O000018", "", false},
		{"999/000/0018", "", false},
		{"0000000000", "0000000000", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseNHSNumber(tt.in)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("ParseNHSNumber(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalidNHSNumber) {
				t.Fatalf("ParseNHSNumber(%q) error = %v; want ErrInvalidNHSNumber", tt.in, err)
			}
		})
	}
}

// TestNHSNumber_String checks the NHS display format.
func TestNHSNumber_String(t *testing.T) {
	if got := MustParseNHSNumber("9434765919").String(); got != "943 476 5919" {
		t.Fatalf("String() = %q", got)
	}
}

// TestCompleteNHSNumber checks minting agrees with parsing, including the
// prefixes that can never be valid.
func TestCompleteNHSNumber(t *testing.T) {
	valid, invalid := 0, 0
	for i := 0; i < 1000; i++ {
		nine := "999000" + string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
		n, ok := CompleteNHSNumber(nine)
		if !ok {
			invalid++
			continue
		}
		valid++
		if _, err := ParseNHSNumber(string(n)); err != nil {
			t.Fatalf("minted %q does not parse: %v", n, err)
		}
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("valid=%d invalid=%d; expect both kinds", valid, invalid)
	}
}

func FuzzParseNHSNumber(f *testing.F) {
	for _, s := range []string{"9990000018", "943 476 5919", "987 654 4321", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNHSNumber(s)
		if err != nil {
			return
		}
		again, err := ParseNHSNumber(n.String())
		if err != nil || again != n {
			t.Fatalf("round trip of %q: %q, %v", s, again, err)
		}
	})
}
