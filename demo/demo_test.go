package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kmcr/record"
)

// TestNHSNumber_ValidDistinctTestRange checks 100,000 numbers: all pass the
// modulus 11 check, are in the 999 range and differ.
func TestNHSNumber_ValidDistinctTestRange(t *testing.T) {
	seen := make(map[record.NHSNumber]int, 100000)
	for i := 0; i < 100000; i++ {
		n := NHSNumber(1, i)
		if _, err := record.ParseNHSNumber(n.String()); err != nil {
			t.Fatalf("patient %d: %v", i, err)
		}
		if !n.IsTestRange() {
			t.Fatalf("patient %d: %s is outside the 999 test range", i, n)
		}
		if j, dup := seen[n]; dup {
			t.Fatalf("patients %d and %d share NHS number %s", j, i, n)
		}
		seen[n] = i
	}
}

// TestNHSNumber_WholeRangeIsAPermutation maps every index of the range and
// checks no stem is reached twice, for two seeds.
func TestNHSNumber_WholeRangeIsAPermutation(t *testing.T) {
	if testing.Short() {
		t.Skip("maps all 909,091 numbers")
	}
	for _, seed := range []uint64{1, 0xdeadbeef} {
		hit := make([]bool, MaxPatients)
		key := mix(seed ^ domainNHS)
		for i := uint32(0); i < MaxPatients; i++ {
			p := permute(key, i)
			if p >= MaxPatients || hit[p] {
				t.Fatalf("seed %d: index %d maps to %d, out of range or already used", seed, i, p)
			}
			hit[p] = true
		}
	}
	if n := len(testStems()); n != MaxPatients {
		t.Fatalf("the 999 range has %d valid stems, MaxPatients says %d", n, MaxPatients)
	}
}

// TestNHSNumber_DependsOnSeed checks different seeds give different numbers.
func TestNHSNumber_DependsOnSeed(t *testing.T) {
	same := 0
	for i := 0; i < 1000; i++ {
		if NHSNumber(1, i) == NHSNumber(2, i) {
			same++
		}
	}
	if same > 10 {
		t.Fatalf("%d of 1000 numbers are the same for seeds 1 and 2", same)
	}
}

// TestNHSNumber_OutOfRangePanics guards the documented panic.
func TestNHSNumber_OutOfRangePanics(t *testing.T) {
	for _, i := range []int{-1, MaxPatients} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NHSNumber(1, %d) did not panic", i)
				}
			}()
			NHSNumber(1, i)
		}()
	}
}

var uuidV8 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestMakeID_ShapeAndUniqueness checks ids are version 8 UUIDs and never
// collide across patients, kinds and ordinals.
func TestMakeID_ShapeAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	key := idKey(7)
	for i := 0; i < 300; i++ {
		for k := kindPatient; k <= kindPractitioner; k++ {
			for n := 0; n < 20; n++ {
				id := makeID(key, i, k, n)
				if !uuidV8.MatchString(id) {
					t.Fatalf("id %q is not an RFC 9562 version 8 UUID", id)
				}
				if seen[id] {
					t.Fatalf("id %q repeated", id)
				}
				seen[id] = true
			}
		}
	}
	if PatientID(7, 3) != makeID(key, 3, kindPatient, 0) || PatientID(7, 3) == PatientID(8, 3) {
		t.Fatal("PatientID must depend on the seed and index only")
	}
}

var stringCases = []string{
	"", "plain", "Zoë", "Chloé", "Ó Briain", "O'Neill", "Lily-Mae", `quote " and \ backslash`,
	"tab\tnew\nline\rcr", "\x00\x01\x1f\x7f", "bad \xff utf8 \xc3", "snowman ☃ and 𝄞", "\u2028\u2029",
}

// TestAppendString_ValidJSON checks every string encodes to valid JSON that
// decodes to the input (with invalid UTF-8 replaced).
func TestAppendString_ValidJSON(t *testing.T) {
	for _, s := range stringCases {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) { checkString(t, s) })
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringCases {
		f.Add(s)
	}
	f.Fuzz(checkString)
}

func checkString(t *testing.T, s string) {
	b := appendString(nil, s)
	if !json.Valid(b) {
		t.Fatalf("%q encodes to invalid JSON %s", s, b)
	}
	var got string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := s
	if !utf8.ValidString(s) {
		var sb strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			sb.WriteRune(r) // RuneError for each invalid byte
			i += size
		}
		want = sb.String()
	}
	if got != want {
		t.Fatalf("%q round-trips to %q, want %q", s, got, want)
	}
}

// TestCivilDays_MatchesTimePackage checks the calendar arithmetic against
// the time package across four centuries.
func TestCivilDays_MatchesTimePackage(t *testing.T) {
	for day := daysFromCivil(1900, 1, 1); day < daysFromCivil(2300, 1, 1); day += 7 {
		want := time.Unix(int64(day)*86400, 0).UTC()
		y, m, d := civilFromDays(day)
		if y != want.Year() || m != int(want.Month()) || d != want.Day() {
			t.Fatalf("day %d: got %d-%d-%d, want %s", day, y, m, d, want.Format(time.DateOnly))
		}
		if got := string(appendDate(nil, day)); got != want.Format(time.DateOnly) {
			t.Fatalf("day %d formats as %s, want %s", day, got, want.Format(time.DateOnly))
		}
		if dayOf(want) != day {
			t.Fatalf("dayOf(%s) = %d, want %d", want, dayOf(want), day)
		}
	}
}

// TestOptions_Check covers the documented errors.
func TestOptions_Check(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"zero patients", Options{Patients: 0}, ErrPatients},
		{"negative", Options{Patients: -5}, ErrPatients},
		{"too many", Options{Patients: MaxPatients + 1}, ErrPatients},
		{"maximum", Options{Patients: MaxPatients}, nil},
		{"as-of too early", Options{Patients: 1, AsOf: time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)}, ErrAsOf},
		{"as-of too late", Options{Patients: 1, AsOf: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrAsOf},
		{"as-of fine", Options{Patients: 1, AsOf: time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.check()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("check() = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestPatient_DeterministicAndIndependent checks a patient is the same
// whether made alone or after others, and changes with the seed and the
// reference date.
func TestPatient_DeterministicAndIndependent(t *testing.T) {
	opts := Options{Patients: 100, Seed: 42}
	joined := func(rs []Resource) string {
		var sb strings.Builder
		for _, r := range rs {
			sb.Write(r.JSON)
			sb.WriteByte('\n')
		}
		return sb.String()
	}
	alone := joined(Patient(opts, 57))
	g := newGen(opts.Seed, must(opts.check()))
	for i := 0; i < 57; i++ {
		g.patient(i)
	}
	g.patient(57)
	if after := joined(g.res); after != alone {
		t.Fatal("patient 57 differs when generated after patients 0-56")
	}
	if other := joined(Patient(Options{Patients: 100, Seed: 43}, 57)); other == alone {
		t.Fatal("patient 57 is the same for seeds 42 and 43")
	}
	later := opts
	later.AsOf = time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
	if moved := joined(Patient(later, 57)); moved == alone {
		t.Fatal("patient 57 is the same for different reference dates")
	}
	if first := Patient(opts, 57)[0]; first.Type != "Patient" || first.ID != PatientID(42, 57) {
		t.Fatalf("first resource is %s/%s, want Patient/%s", first.Type, first.ID, PatientID(42, 57))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestShared_SameForEverySeed checks organisations do not depend on the seed
// and that practice codes and names are unique.
func TestShared_SameForEverySeed(t *testing.T) {
	a, b := Shared(), Shared()
	if len(a) != len(b) {
		t.Fatal("Shared() is not stable")
	}
	codes, names := map[string]bool{}, map[string]bool{}
	orgs := 0
	for i := range a {
		if string(a[i].JSON) != string(b[i].JSON) {
			t.Fatalf("resource %d differs between calls", i)
		}
		if a[i].Type != "Organization" {
			continue
		}
		orgs++
		var o struct {
			Name       string
			Identifier []struct{ Value string }
		}
		if err := json.Unmarshal(a[i].JSON, &o); err != nil {
			t.Fatal(err)
		}
		if codes[o.Identifier[0].Value] || names[o.Name] {
			t.Fatalf("organisation %q (%s) is not unique", o.Name, o.Identifier[0].Value)
		}
		codes[o.Identifier[0].Value], names[o.Name] = true, true
	}
	if orgs < 200 {
		t.Fatalf("%d organisations, want a few hundred practices", orgs)
	}
}

func ExampleNHSNumber() {
	n := NHSNumber(1, 0)
	fmt.Println(n.IsTestRange(), len(n.Digits()))
	// Output: true 10
}
