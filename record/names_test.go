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

// TestNormaliseName_Folding checks case, accents, apostrophes and separators.
func TestNormaliseName_Folding(t *testing.T) {
	tests := map[string]string{
		"Zoë":               "zoe",
		"ZOE":               "zoe",
		"O'Keefe":           "okeefe",
		"O’Brien":           "obrien",
		"Beaumont-Ørsted":   "beaumont orsted",
		"  Mary   Ann  ":    "mary ann",
		"Łukasz Żółć":       "lukasz zolc",
		"Straße":            "strasse",
		"Æthelflæd":         "aethelflaed",
		"Ní Bhriain":        "ni bhriain",
		"Dvořák":            "dvorak",
		"Medhurst46":        "medhurst46",
		"Σωκράτης":          "σωκράτης",
		"St. John-Smythe, ": "st john smythe",
		"":                  "",
	}
	for in, want := range tests {
		if got := NormaliseName(in); got != want {
			t.Errorf("NormaliseName(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestNormalisePostcode_Forms checks case and white space are removed.
func TestNormalisePostcode_Forms(t *testing.T) {
	for in, want := range map[string]string{"ME14 1XX": "ME141XX", "me14\t1xx": "ME141XX", " dn18  5dw ": "DN185DW", "": ""} {
		if got := NormalisePostcode(in); got != want {
			t.Errorf("NormalisePostcode(%q) = %q; want %q", in, got, want)
		}
	}
}

// FuzzNormaliseName checks normalising is idempotent and never panics.
func FuzzNormaliseName(f *testing.F) {
	for _, s := range []string{"Zoë", "O'Keefe", "Beaumont-Ørsted", "Σωκράτης", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := NormaliseName(s)
		if twice := NormaliseName(once); twice != once {
			t.Fatalf("NormaliseName(%q) = %q, then %q", s, once, twice)
		}
	})
}
