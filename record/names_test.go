package record

import "testing"

// TestFormatName_Banner checks the NHS banner format with parts missing.
func TestFormatName_Banner(t *testing.T) {
	tests := []struct {
		family        string
		given, prefix []string
		want          string
	}{
		{"Smith", []string{"Jane", "Ann"}, []string{"Mrs"}, "SMITH, Jane Ann (Mrs)"},
		{"O'Keefe", []string{"Karena"}, []string{"Ms."}, "O'KEEFE, Karena (Ms)"},
		{"Beaumont-Ørsted", []string{"Élise"}, nil, "BEAUMONT-ØRSTED, Élise"},
		{"Smith", nil, []string{"Dr.", "Prof"}, "SMITH (Dr Prof)"},
		{"", []string{"Cher"}, nil, "Cher"},
		{" ", []string{" ", ""}, []string{"."}, ""},
	}
	for _, tt := range tests {
		if got := FormatName(tt.family, tt.given, tt.prefix); got != tt.want {
			t.Errorf("FormatName(%q, %q, %q) = %q; want %q", tt.family, tt.given, tt.prefix, got, tt.want)
		}
	}
}

// TestFoldName checks case, accents (precomposed and combining),
// apostrophes and separators, the capital sharp s among them.
func TestFoldName(t *testing.T) {
	tests := map[string]string{
		"Zoë":                "zoe",
		"Zoe\u0308":          "zoe",
		"ZOE":                "zoe",
		"O'Keefe":            "okeefe",
		"O’Brien":            "obrien",
		"Ó'Brien-Łukasz":     "obrienlukasz",
		"Beaumont-Ørsted":    "beaumontorsted",
		"  Mary \u00a0Ann\t": "maryann",
		"Łukasz Żółć":        "lukaszzolc",
		"Straße":             "strasse",
		"STRAẞE":             "strasse",
		"Æthelflæd":          "aethelflaed",
		"Ní Bhriain":         "nibhriain",
		"Dvořák":             "dvorak",
		"Medhurst46":         "medhurst46",
		"Σωκράτης":           "σωκράτης",
		"St. John-Smythe, ":  "stjohnsmythe",
		"":                   "",
	}
	for in, want := range tests {
		if got := FoldName(in); got != want {
			t.Errorf("FoldName(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestNormalisePostcode_Forms checks any spacing and case of a UK postcode
// gives "OUTWARD INWARD", and other text is upper-cased without spaces.
func TestNormalisePostcode_Forms(t *testing.T) {
	for in, want := range map[string]string{
		"ME14 1XX": "ME14 1XX", "ME141XX": "ME14 1XX", "me14  1xx": "ME14 1XX", "me14\t1xx": "ME14 1XX",
		"ME14\u00a01XX": "ME14 1XX", " dn18  5dw ": "DN18 5DW", "EC1A 1BB": "EC1A 1BB", "W1A0AX": "W1A 0AX",
		"M1 1AE": "M1 1AE", "not a postcode": "NOTAPOSTCODE", "": "",
	} {
		if got := NormalisePostcode(in); got != want {
			t.Errorf("NormalisePostcode(%q) = %q; want %q", in, got, want)
		}
	}
}

// FuzzFoldName checks folding is idempotent and never panics, and that a
// postcode normalises to a fixed point.
func FuzzFoldName(f *testing.F) {
	for _, s := range []string{"Zoë", "O'Keefe", "Beaumont-Ørsted", "Σωκράτης", "\xff", "me14  1xx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := FoldName(s)
		if twice := FoldName(once); twice != once {
			t.Fatalf("FoldName(%q) = %q, then %q", s, once, twice)
		}
		p := NormalisePostcode(s)
		if again := NormalisePostcode(p); again != p {
			t.Fatalf("NormalisePostcode(%q) = %q, then %q", s, p, again)
		}
	})
}
