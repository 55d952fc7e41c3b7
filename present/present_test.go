package present_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"kmcr/present"
	"kmcr/present/presenttest"
	"kmcr/record"
)

// present runs a shared case through the presentation.
func presentCase(t testing.TB, c presenttest.Case) *present.View {
	t.Helper()
	nhs, s, f := c.Open(t)
	return present.Present(nhs, s, f, presenttest.Options())
}

// viewText is every word of a view, for the cases' Shown and NotShown:
// what a screen that shows everything (the text output) would show.
func viewText(v *present.View) string {
	var b strings.Builder
	add := func(l present.Line) {
		for _, sp := range l.Spans {
			if sp.Struck {
				b.WriteString("~~" + sp.Text + "~~")
			} else {
				b.WriteString(sp.Text)
			}
		}
		b.WriteByte('\n')
	}
	bn := v.Banner
	b.WriteString(strings.Join([]string{bn.Name, bn.Born, bn.Gender, bn.NHS, bn.Address, bn.Deceased}, "\n") + "\n")
	b.WriteString(v.AsOf.Time + " " + v.AsOf.StaleText + " " + v.AsOf.Held + "\n")
	for _, n := range append(append([]present.Notice{}, v.Notices...), v.Alerts...) {
		b.WriteString(n.Head + ": " + n.Text + "\n")
	}
	if v.NoAlerts != nil {
		add(*v.NoAlerts)
	}
	for _, s := range v.Sections {
		b.WriteString(s.Title + "   " + s.Count + "\n" + s.Stale + "\n")
		for _, l := range s.Lines {
			add(l)
		}
		for _, g := range s.Groups {
			add(g.Title)
			for _, it := range g.Items {
				add(it.Head)
				for _, l := range append(append([]present.Line{}, it.Body...), it.More...) {
					add(l)
				}
				if it.Trend != nil {
					b.WriteString(it.Trend.Note + "\n")
				}
			}
		}
	}
	if v.Other != nil {
		add(*v.Other)
	}
	return b.String()
}

// TestPresent_SharedCases runs every shared clinical case: the View's
// structure (what is live, void, counted, in what order) and its words.
// The window and `kmcr show` run the same cases on their own output.
func TestPresent_SharedCases(t *testing.T) {
	for _, c := range presenttest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			v := presentCase(t, c)
			if c.Check != nil {
				c.Check(t, v)
			}
			c.CheckText(t, "presentation", viewText(v))
		})
	}
}

// TestPresent_VoidItemsAreStruckWithTheWord checks, over every case, that
// every void item is in a group of its own, struck through, followed by
// the word, and that no void item is in any other group.
func TestPresent_VoidItemsAreStruckWithTheWord(t *testing.T) {
	voids := 0
	for _, c := range presenttest.Cases() {
		v := presentCase(t, c)
		for _, s := range v.Sections {
			for _, g := range s.Groups {
				for _, it := range g.Items {
					if !it.Void {
						continue
					}
					voids++
					spans := it.Head.Spans
					n := len(spans)
					if g.Key != "void" || n < 2 || !spans[n-2].Struck || strings.TrimSpace(spans[n-1].Text) != it.Word || it.Word == "" {
						t.Errorf("%s/%s: void item %q in group %q drawn %+v", c.Name, s.Key, it.Name, g.Key, spans)
					}
				}
			}
		}
	}
	if voids < 9 {
		t.Errorf("only %d void items across the cases", voids)
	}
}

// TestBannerOf_CommonUserInterface pins the banner's formats: family name
// in capitals, dates as 12-Mar-1962, NHS number in 3-3-4 groups, age on
// today's date or at death, and the words for what is missing.
func TestBannerOf_CommonUserInterface(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	name := record.HumanName{Family: "Smith", Given: []string{"Jane", "Ann"}, Prefix: []string{"Mrs."}}
	base := record.Demographics{Name: name, BirthDate: record.ParseDate("1962-03-12"), Gender: "female",
		Address: record.Address{Lines: []string{"12 High Street"}, City: "Gillingham", Postcode: "ME7 2JH"}}
	tests := []struct {
		name string
		edit func(*record.Demographics)
		want present.Banner
	}{
		{"alive", func(*record.Demographics) {},
			present.Banner{Name: "SMITH, Jane Ann (Mrs)", Born: "12-Mar-1962 (64y)", Gender: "Female", NHS: "943 476 5919", Address: "12 High Street, Gillingham, ME7 2JH"}},
		{"birthday tomorrow", func(d *record.Demographics) { d.BirthDate = record.ParseDate("1962-11-26") },
			present.Banner{Name: "SMITH, Jane Ann (Mrs)", Born: "26-Nov-1962 (63y)", Gender: "Female", NHS: "943 476 5919", Address: "12 High Street, Gillingham, ME7 2JH"}},
		{"died", func(d *record.Demographics) {
			d.Deceased, d.DeceasedOn = true, record.ParseDate("2026-01-02T23:30:00Z")
		},
			present.Banner{Name: "SMITH, Jane Ann (Mrs)", Born: "12-Mar-1962 (63y)", Gender: "Female", NHS: "943 476 5919", Address: "12 High Street, Gillingham, ME7 2JH", Deceased: "DECEASED 02-Jan-2026"}},
		{"died, date unknown", func(d *record.Demographics) { d.Deceased = true },
			present.Banner{Name: "SMITH, Jane Ann (Mrs)", Born: "12-Mar-1962", Gender: "Female", NHS: "943 476 5919", Address: "12 High Street, Gillingham, ME7 2JH", Deceased: "DECEASED (date not recorded)"}},
		{"restricted", func(d *record.Demographics) { d.Restricted = true },
			present.Banner{Name: "SMITH, Jane Ann (Mrs)", Born: "12-Mar-1962 (64y)", Gender: "Female", NHS: "943 476 5919", Address: "Withheld: restricted record"}},
		{"nothing recorded", func(d *record.Demographics) { *d = record.Demographics{} },
			present.Banner{Name: "(no name recorded)", Born: "Not recorded", Gender: "Not recorded", NHS: "943 476 5919", Address: "No address recorded"}},
		{"unreadable birth date", func(d *record.Demographics) { d.BirthDate = record.ParseDate("sometime in 1962") },
			present.Banner{Name: "SMITH, Jane Ann (Mrs)", Born: "sometime in 1962", Gender: "Female", NHS: "943 476 5919", Address: "12 High Street, Gillingham, ME7 2JH"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := base
			tt.edit(&d)
			if got := present.BannerOf(&d, "9434765919", now); got != tt.want {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestPresent_AsOfAndStale checks the summary's "as of" line and every
// section's, in the screen's time zone, and the stale wording.
func TestPresent_AsOfAndStale(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	asOf := time.Date(2026, 7, 1, 8, 15, 0, 0, time.UTC) // 09:15 in London, summer time
	f := present.Facts{AsOf: asOf, Stale: true, Freshness: 24 * time.Hour, NotAfter: asOf.Add(72 * time.Hour), Sections: record.AllSections()}
	v := present.Present("9434765919", &record.Summary{}, f, present.Options{Now: asOf.Add(48 * time.Hour), Location: london})
	if v.AsOf.Time != "01-Jul-2026 09:15" || v.AsOf.StaleText != "older than the 24 h freshness limit" ||
		v.AsOf.Held != "Held offline until 04-Jul-2026 09:15 (caseload)" {
		t.Errorf("as of %+v", v.AsOf)
	}
	for _, s := range v.Sections {
		if s.AsOf != "as of 01-Jul-2026 09:15" || s.Stale != "STALE: older than the 24 h freshness limit" {
			t.Errorf("section %s: %q %q", s.Key, s.AsOf, s.Stale)
		}
	}
	if v.Notices[0].Key != "stale" {
		t.Errorf("notices %+v", v.Notices)
	}
}

// TestPresent_CriticalAllergiesWorstFirst checks the critical line puts
// the allergies that may kill first, then by severity, and leaves out
// inactive and void ones.
func TestPresent_CriticalAllergiesWorstFirst(t *testing.T) {
	s := &record.Summary{}
	s.Allergies = record.Section[record.Allergy]{State: record.StatePresent, Items: []record.Allergy{
		{Substance: "Latex", Severity: "mild", Active: true},
		{Substance: "Aspirin", Severity: "moderate", Active: true},
		{Substance: "Peanut", Severity: "moderate", Active: true, Reactions: []record.Reaction{{Manifestations: []string{"Anaphylactic reaction"}}}},
		{Substance: "Penicillin", Severity: "severe", Criticality: "high", Active: true},
		{Substance: "Elastoplast", Severity: "severe"}, // resolved
		{Substance: "Egg", Severity: "severe", Verification: record.VerificationRefuted},
	}}
	v := present.Present("9434765919", s, present.Facts{Sections: record.AllSections()}, present.Options{})
	var got string
	for _, f := range v.Critical {
		if f.Label == "Allergies" {
			got = f.Text
		}
	}
	if want := "Penicillin (severe, high criticality); Peanut (moderate); Aspirin (moderate); Latex (mild)"; got != want {
		t.Errorf("allergies fact %q; want %q", got, want)
	}
}

// TestPresent_SectionOrderAndWithheldWords checks the sections' order and
// that a withheld section says "not available" with the reason, for each
// reason, never "none".
func TestPresent_SectionOrderAndWithheldWords(t *testing.T) {
	s := &record.Summary{}
	f := present.Facts{Sections: []string{record.SectionDemographics, record.SectionGP, record.SectionMedications},
		Withheld: []present.Withheld{{Reason: present.WithheldObjection, Sections: []string{record.SectionAllergies}},
			{Reason: present.WithheldTooLarge, Sections: []string{record.SectionProblems}}}}
	v := present.Present("9434765919", s, f, present.Options{})
	var keys []string
	for _, sec := range v.Sections {
		keys = append(keys, sec.Key)
	}
	if got := strings.Join(keys, " "); got != "allergies medications problems care_plans observations encounters immunizations past_alerts demographics gp" {
		t.Errorf("order %s", got)
	}
	want := map[string]string{
		present.KeyAllergies:    "Withheld: the patient has objected to sharing it for this purpose (restricted sharing).",
		present.KeyProblems:     "Withheld: the record is too large to hold offline; view it online in the full record.",
		present.KeyCarePlans:    "Not shared with this device for your role.",
		present.KeyMedications:  "",
		present.KeyDemographics: "",
	}
	for key, why := range want {
		sec := v.Section(key)
		if sec.Withheld != why {
			t.Errorf("%s withheld %q; want %q", key, sec.Withheld, why)
		}
		if why != "" && !strings.HasSuffix(sec.Lines[0].Text(), "information not available") {
			t.Errorf("%s says %q", key, sec.Lines[0].Text())
		}
	}
	if v.NoAlerts == nil || v.NoAlerts.Text() != "Alerts: Not shared with this device for your role." {
		t.Errorf("no alerts line %+v", v.NoAlerts)
	}
}

// TestTypeNouns checks the words of "Also in the record".
func TestTypeNouns(t *testing.T) {
	s := &record.Summary{Other: []record.TypeCount{{Type: "Claim", Count: 16}, {Type: "DiagnosticReport", Count: 1}, {Type: "ExplanationOfBenefit", Count: 2},
		{Type: "ImagingStudy", Count: 3}, {Type: "MedicationAdministration", Count: 1}, {Type: "Goal", Count: 5}, {Type: "RelatedPerson", Count: 2}, {Type: "Basic", Count: 1}}}
	v := present.Present("", s, present.Facts{}, present.Options{})
	want := "Also in the record, not shown on this summary: 16 claims, 1 diagnostic report, 2 explanations of benefit, 3 imaging studies, 1 medication administration, 5 goals, 2 related people, 1 other record (Basic)."
	if v.Other == nil || v.Other.Text() != want {
		t.Errorf("other %+v", v.Other)
	}
}

// TestHumanDuration checks durations in words.
func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0 seconds", time.Second: "1 second", 45 * time.Second: "45 seconds", time.Minute: "1 minute",
		5 * time.Minute: "5 minutes", 2*time.Hour + 5*time.Minute: "2 h 5 min", 24 * time.Hour: "24 h", 72 * time.Hour: "3 days",
	} {
		if got := present.HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q; want %q", d, got, want)
		}
	}
}

// TestView_JSONKeysAreSnakeCase checks every key of a whole view's JSON
// is snake_case, and levels are written by name.
func TestView_JSONKeysAreSnakeCase(t *testing.T) {
	for _, c := range presenttest.Cases() {
		b, err := json.Marshal(presentCase(t, c))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		var walk func(v any, path string)
		walk = func(v any, path string) {
			switch x := v.(type) {
			case map[string]any:
				for k, e := range x {
					if k != strings.ToLower(k) || strings.ContainsAny(k, " -") {
						t.Errorf("%s: key %q at %s", c.Name, k, path)
					}
					walk(e, path+"."+k)
				}
			case []any:
				for _, e := range x {
					walk(e, path+"[]")
				}
			}
		}
		walk(v, "")
		if c.Name == "live-dnacpr" && !strings.Contains(string(b), `"level":"danger"`) {
			t.Errorf("levels not written by name: %s", b)
		}
	}
}

// TestPresent_MildAndHighCriticalityAllergiesLookDifferent checks that an
// allergy that may kill (high criticality or anaphylaxis) gets the filled
// HIGH RISK badge before its substance and a red detail, a severe one an
// amber detail and a mild one neither, in the section and in the
// critical line's parts, and that an entered-in-error allergy never
// reaches the critical line.
func TestPresent_MildAndHighCriticalityAllergiesLookDifferent(t *testing.T) {
	cases := []struct {
		a          record.Allergy
		badge      bool
		detail     present.Level
		inCritical bool
	}{
		{record.Allergy{Substance: "Latex", Severity: "mild", Active: true, Reactions: []record.Reaction{{Manifestations: []string{"Itching"}}}}, false, present.Normal, true},
		{record.Allergy{Substance: "Aspirin", Severity: "moderate", Active: true}, false, present.Normal, true},
		{record.Allergy{Substance: "Codeine", Severity: "severe", Active: true}, false, present.Caution, true},
		{record.Allergy{Substance: "Penicillin", Severity: "severe", Criticality: "high", Active: true, Reactions: []record.Reaction{{Manifestations: []string{"Allergic angioedema"}}}}, true, present.Danger, true},
		{record.Allergy{Substance: "Peanut", Severity: "mild", Active: true, Reactions: []record.Reaction{{Manifestations: []string{"Anaphylaxis"}}}}, true, present.Danger, true},
		{record.Allergy{Substance: "Egg", Severity: "severe", Criticality: "high", Active: true, Verification: record.VerificationEnteredInError}, false, present.Normal, false},
	}
	for _, c := range cases {
		t.Run(c.a.Substance, func(t *testing.T) {
			s := &record.Summary{}
			s.Allergies = record.Section[record.Allergy]{State: record.StatePresent, Items: []record.Allergy{c.a}}
			v := present.Present("9434765919", s, present.Facts{Sections: record.AllSections()}, present.Options{})
			var parts []present.FactPart
			for _, f := range v.Critical {
				if f.Label == "Allergies" {
					parts = f.Parts
				}
			}
			if !c.inCritical {
				if len(parts) != 0 {
					t.Fatalf("a void allergy is on the critical line: %+v", parts)
				}
				return
			}
			if len(parts) != 1 || parts[0].Alarm != c.badge || parts[0].Level != c.detail {
				t.Errorf("critical parts %+v; want alarm %v level %v", parts, c.badge, c.detail)
			}
			var item *present.Item
			for _, g := range v.Section(present.KeyAllergies).Groups {
				if g.Key == "current" {
					item = &g.Items[0]
				}
			}
			if item == nil {
				t.Fatal("no current allergy item")
			}
			head := item.Head.Spans
			gotBadge := head[0].Badge && head[0].Text == present.AlarmBadge && head[0].Level == present.Danger
			if gotBadge != c.badge || item.Alarm != c.badge {
				t.Errorf("badge %v (item alarm %v); want %v: %+v", gotBadge, item.Alarm, c.badge, head)
			}
			for _, sp := range head {
				if sp.Badge != (sp.Text == present.AlarmBadge) {
					t.Errorf("span %+v", sp)
				}
			}
			if last := head[len(head)-1]; last.Text == c.a.Substance || last.Level != c.detail {
				t.Errorf("detail span %+v; want level %v", last, c.detail)
			}
		})
	}
}
