package record

import (
	"errors"
	"fmt"
	"strings"
)

// NHSNumberSystem is the FHIR identifier system for an NHS number.
const NHSNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"

// ErrInvalidNHSNumber is returned (wrapped, with the reason) when a string is
// not a valid NHS number: wrong length, a non-digit, or a failed check digit.
var ErrInvalidNHSNumber = errors.New("invalid NHS number")

// NHSNumber is a validated 10-digit NHS number, held as its digits only.
// The zero value means "no NHS number".
type NHSNumber string

// ParseNHSNumber accepts ten digits, optionally grouped with spaces or
// hyphens ("943 476 5919", "943-476-5919"), and checks the modulus 11 check
// digit (weights 10 down to 2; a remainder giving 11 means 0, 10 is invalid).
func ParseNHSNumber(s string) (NHSNumber, error) {
	var b strings.Builder
	b.Grow(10)
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			if b.Len() == 10 {
				return "", fmt.Errorf("%w: %q has more than 10 digits", ErrInvalidNHSNumber, s)
			}
			b.WriteRune(r)
		case r == ' ' || r == '-':
		default:
			return "", fmt.Errorf("%w: %q contains %q; only digits, spaces and hyphens are allowed", ErrInvalidNHSNumber, s, r)
		}
	}
	d := b.String()
	if len(d) != 10 {
		return "", fmt.Errorf("%w: %q has %d digits, need 10", ErrInvalidNHSNumber, s, len(d))
	}
	check, ok := nhsCheckDigit(d[:9])
	if !ok {
		return "", fmt.Errorf("%w: %q can never be valid (its check digit would be 10)", ErrInvalidNHSNumber, s)
	}
	if int(d[9]-'0') != check {
		return "", fmt.Errorf("%w: %q fails the modulus 11 check (check digit should be %d)", ErrInvalidNHSNumber, s, check)
	}
	return NHSNumber(d), nil
}

// MustParseNHSNumber is ParseNHSNumber for constants in tests and examples;
// it panics on an invalid number.
func MustParseNHSNumber(s string) NHSNumber {
	n, err := ParseNHSNumber(s)
	if err != nil {
		panic(err)
	}
	return n
}

// nhsCheckDigit computes the modulus 11 check digit for nine digits.
// ok is false when the remainder makes the number unusable (check digit 10).
func nhsCheckDigit(nine string) (digit int, ok bool) {
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(nine[i]-'0') * (10 - i)
	}
	c := 11 - sum%11
	switch c {
	case 11:
		return 0, true
	case 10:
		return 0, false
	}
	return c, true
}

// CompleteNHSNumber appends the check digit to nine digits, reporting false
// when no valid number starts with them. It is how test numbers are minted.
func CompleteNHSNumber(nine string) (NHSNumber, bool) {
	if len(nine) != 9 {
		return "", false
	}
	for i := 0; i < 9; i++ {
		if nine[i] < '0' || nine[i] > '9' {
			return "", false
		}
	}
	c, ok := nhsCheckDigit(nine)
	if !ok {
		return "", false
	}
	return NHSNumber(nine + string(rune('0'+c))), true
}

// String formats the number the NHS way, in groups of 3, 3 and 4: "943 476 5919".
func (n NHSNumber) String() string {
	if len(n) != 10 {
		return string(n)
	}
	return string(n[:3]) + " " + string(n[3:6]) + " " + string(n[6:])
}

// Digits returns the ten digits with no spaces, as stored and sent on the wire.
func (n NHSNumber) Digits() string { return string(n) }

// IsZero reports whether n holds no number.
func (n NHSNumber) IsZero() bool { return n == "" }

// IsTestRange reports whether n is in the 999 range, which is never issued
// to real people and is safe for demonstrations and tests.
func (n NHSNumber) IsTestRange() bool { return strings.HasPrefix(string(n), "999") }
