package server

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"kmcr/server/store"
)

// CleanReason removes invisible characters and folds white space.
func TestCleanReason_RemovesInvisible(t *testing.T) {
	cases := map[string]string{
		"unconscious patient":                        "unconscious patient",
		"  cardiac\t\narrest  ":                      "cardiac arrest",
		"\u200b\u200c\u200d\u200e\u200f\u2060\ufeff": "",
		"x\u202ey\u2066z\u2069":                      "xyz",
		"a\x00b\x1bc\x7f":                            "abc",
		"fall\u00a0at home":                          "fall at home",
	}
	for in, want := range cases {
		if got := CleanReason(in); got != want {
			t.Errorf("CleanReason(%q) = %q, want %q", in, got, want)
		}
	}
}

// RealReason accepts short real phrases and refuses filler.
func TestRealReason_Words(t *testing.T) {
	for _, ok := range []string{"unconscious patient", "cardiac arrest at home", "Sturz, bewusstlos", "patient collapsed"} {
		if !RealReason(CleanReason(ok)) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "x", "....", "aaaa", "aaaa aaaa", "ok ok", "x y z w v u", "12345 67890",
		"\u200bx\u200b", "a\u200bb\u200bc\u200bd", "!!!! ????"} {
		if RealReason(CleanReason(bad)) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// ParseBreakGlassBudget reads the flag's forms and refuses the rest.
func TestParseBreakGlassBudget_Forms(t *testing.T) {
	b, err := ParseBreakGlassBudget("role=paramedic,hour=3,day=9")
	if err != nil || b != (BreakGlassBudget{Role: "paramedic", Hour: 3, Day: 9}) {
		t.Errorf("role form: %+v %v", b, err)
	}
	b, err = ParseBreakGlassBudget("role=community,day=7")
	if err != nil || b != (BreakGlassBudget{Role: "community", Hour: 2, Day: 7}) {
		t.Errorf("default hour kept: %+v %v", b, err)
	}
	b, err = ParseBreakGlassBudget("user=amy,hour=1,day=1")
	if err != nil || b != (BreakGlassBudget{User: "amy", Hour: 1, Day: 1}) {
		t.Errorf("user form: %+v %v", b, err)
	}
	for _, bad := range []string{"", "role=pilot,hour=1,day=2", "role=paramedic,hour=x", "hour=1,day=2",
		"role=paramedic,user=amy,hour=1,day=1", "user=amy,hour=1", "role=paramedic,hour=9,day=3", "role=paramedic,colour=red"} {
		if _, err := ParseBreakGlassBudget(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The ledger counts grants per user in a sliding hour and day, seeded
// from what was stored before a restart.
func TestBudgetLedger_HourAndDay(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	l := budgetLedger{seed: func(user string, since time.Time) []time.Time {
		if user == "old" {
			return []time.Time{t0.Add(-30 * time.Minute), t0.Add(-20 * time.Minute)}
		}
		return nil
	}}
	b := BreakGlassBudget{Hour: 2, Day: 3}
	if ok, _, _ := l.take(b, "old", t0); ok {
		t.Error("seeded grants ignored: third in an hour granted")
	}
	for i, want := range []bool{true, true, false} {
		if ok, _, _ := l.take(b, "amy", t0.Add(time.Duration(i)*time.Minute)); ok != want {
			t.Errorf("request %d: granted %v, want %v", i+1, ok, want)
		}
	}
	if ok, _, _ := l.take(b, "amy", t0.Add(61*time.Minute)); !ok {
		t.Error("a new hour refused")
	}
	if ok, h, d := l.take(b, "amy", t0.Add(3*time.Hour)); ok || h != 1 || d != 4 {
		t.Errorf("day limit: granted %v, hour %d day %d", ok, h, d)
	}
	if ok, _, _ := l.take(b, "amy", t0.Add(25*time.Hour)); !ok {
		t.Error("the next day refused")
	}
}

// The coalescer reports the first hit of a key in each window and how
// many it folded.
func TestCoalescer_OnePerWindow(t *testing.T) {
	var c coalescer
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	firsts := 0
	for i := 0; i < 1000; i++ {
		if first, _ := c.hit("denied\x00amy", t0.Add(time.Duration(i)*time.Second), time.Hour); first {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d alerts for 1000 denials in 17 minutes, want 1", firsts)
	}
	if first, folded := c.hit("denied\x00amy", t0.Add(2*time.Hour), time.Hour); !first || folded != 999 {
		t.Errorf("next window: first %v folded %d, want true 999", first, folded)
	}
	if first, _ := c.hit("denied\x00bob", t0, time.Hour); !first {
		t.Error("another user's first denial folded")
	}
}

// budgetFor prefers the user's own budget, then the configured role's,
// then the default.
func TestService_BudgetFor(t *testing.T) {
	s := &Service{cfg: Config{BreakGlassBudgets: []BreakGlassBudget{{Role: "paramedic", Hour: 1, Day: 2}, {User: "amy", Hour: 7, Day: 8}}}}
	if b := s.budgetFor(store.User{Name: "amy", Role: "paramedic"}); b.Hour != 7 {
		t.Errorf("user budget: %+v", b)
	}
	if b := s.budgetFor(store.User{Name: "bob", Role: "paramedic"}); b.Hour != 1 || b.Day != 2 {
		t.Errorf("role budget: %+v", b)
	}
	if b := s.budgetFor(store.User{Name: "cat", Role: "community"}); b.Hour != 2 || b.Day != 5 {
		t.Errorf("default budget: %+v", b)
	}
	if b := s.budgetFor(store.User{Name: "dan", Role: "frontdesk"}); b.Hour != 0 || b.Day != 0 {
		t.Errorf("no budget: %+v", b)
	}
}

// FuzzCleanReason: the cleaned reason has no control or format character,
// no leading, trailing or doubled space, and cleaning it again changes
// nothing; a reason that is not real stays not real once cleaned.
func FuzzCleanReason(f *testing.F) {
	for _, s := range []string{"unconscious patient", "\u200bx\u200b", "a\u202eb c\u2066d", "  \t\n", "\xff\xfe", "aaaa aaaa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := CleanReason(s)
		if CleanReason(c) != c {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, c, CleanReason(c))
		}
		if strings.HasPrefix(c, " ") || strings.HasSuffix(c, " ") || strings.Contains(c, "  ") {
			t.Fatalf("spaces left in %q", c)
		}
		for _, r := range c {
			if unicode.Is(unicode.Cf, r) || unicode.IsControl(r) || r == utf8.RuneError {
				t.Fatalf("%q keeps %U", c, r)
			}
		}
		if RealReason(c) && !RealReason(CleanReason(c)) {
			t.Fatalf("real before, not after: %q", c)
		}
	})
}
