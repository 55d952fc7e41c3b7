package shareddata

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// plural says "1 record" or "3 records", as every screen counts.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// CheckText checks that a screen's text shows everything the source has
// for the patient: the banner (NHS number in groups, family name in
// capitals, given name, postcode, GP, death and the age at death), every
// item of every section as often as the source has it, the counts in the
// section headings, and the documents.
func (p *Patient) CheckText(tb testing.TB, screen, text string) {
	tb.Helper()
	fail := func(format string, args ...any) {
		tb.Helper()
		tb.Errorf("%s, NHS %s: %s", screen, p.NHS, fmt.Sprintf(format, args...))
	}
	want := []string{"NHS No. " + p.NHS.String()}
	for _, s := range []string{p.Family, p.Given, p.Postcode, p.GP, p.AgeAtDeath} {
		if s != "" {
			want = append(want, s)
		}
	}
	if p.Deceased {
		want = append(want, "DECEASED")
	}
	if p.Family == "" {
		want = append(want, "(no name recorded)")
	}
	want = append(want, p.Documents...)
	for _, w := range want {
		if !strings.Contains(text, w) {
			fail("does not show %q", w)
		}
	}
	for section, names := range p.Items {
		n := map[string]int{}
		for _, name := range names {
			n[name]++
		}
		for name, count := range n {
			if got := strings.Count(text, name); got < count {
				fail("%s: shows %q %d times; the source has it %d times", section, name, got, count)
			}
		}
	}
	counts := map[string]string{
		immunizations: plural(len(p.Items[immunizations]), "record", "records"),
		encounters:    plural(len(p.Items[encounters]), "encounter", "encounters"),
		observations:  plural(len(p.Items[observations]), "kind", "kinds"),
		carePlans:     plural(len(p.Items[carePlans]), "plan", "plans"),
	}
	for section, c := range counts {
		if len(p.Items[section]) > 0 && !strings.Contains(text, c) {
			fail("%s: no heading says %q", section, c)
		}
	}
	if got := strings.Count(text, "NOT GIVEN"); got != p.NotGiven {
		fail("%d immunisations marked not given; the source has %d", got, p.NotGiven)
	}
	if len(p.Other) > 0 && !strings.Contains(text, "Also in the record") {
		fail("does not count what it does not show (%v)", p.Other)
	}
}

// CheckJSON checks "kmcr show --json": the presentation lists exactly the
// source's items, section by section (void and document groups aside),
// its banner names the patient, and the summary counts every type it does
// not show at least as often as the patient's own resources of that type.
func (p *Patient) CheckJSON(tb testing.TB, doc []byte) {
	tb.Helper()
	var v struct {
		Summary struct {
			Other []struct {
				Type  string `json:"type"`
				Count int    `json:"count"`
			} `json:"other"`
		} `json:"summary"`
		Presentation struct {
			Banner struct {
				Name, NHS, Deceased, Born string
			} `json:"banner"`
			Sections []struct {
				Key    string `json:"key"`
				Groups []struct {
					Key   string `json:"key"`
					Items []struct {
						Name string `json:"name"`
						Void bool   `json:"void"`
					} `json:"items"`
				} `json:"groups"`
			} `json:"sections"`
		} `json:"presentation"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		tb.Fatalf("NHS %s: --json: %v", p.NHS, err)
	}
	b := v.Presentation.Banner
	if b.NHS != p.NHS.String() || !strings.Contains(b.Name, p.Family) || !strings.Contains(b.Name, p.Given) ||
		(b.Deceased != "") != p.Deceased || !strings.HasSuffix(b.Born, p.AgeAtDeath) {
		tb.Errorf("NHS %s: --json banner %+v; want %s, %s, deceased %v %s", p.NHS, b, p.Family, p.Given, p.Deceased, p.AgeAtDeath)
	}
	got := map[string][]string{}
	for _, s := range v.Presentation.Sections {
		for _, g := range s.Groups {
			if g.Key == "void" || g.Key == "document" {
				continue
			}
			for _, it := range g.Items {
				got[s.Key] = append(got[s.Key], it.Name)
			}
		}
	}
	for _, section := range []string{allergies, medications, problems, carePlans, observations, encounters, immunizations} {
		w, g := append([]string{}, p.Items[section]...), append([]string{}, got[section]...)
		sort.Strings(w)
		sort.Strings(g)
		if strings.Join(w, "\n") != strings.Join(g, "\n") {
			tb.Errorf("NHS %s: --json %s lists %d items, the source has %d:\n got %q\nwant %q", p.NHS, section, len(g), len(w), g, w)
		}
	}
	other := map[string]int{}
	for _, o := range v.Summary.Other {
		other[o.Type] = o.Count
	}
	for typ, n := range p.Other {
		if other[typ] < n {
			tb.Errorf("NHS %s: --json counts %d %s; the patient has %d", p.NHS, other[typ], typ, n)
		}
	}
}
