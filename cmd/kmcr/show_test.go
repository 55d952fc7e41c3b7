package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kmcr/core"
	"kmcr/internal/safetext"
	"kmcr/internal/shareddata"
	"kmcr/present"
	"kmcr/present/presenttest"
	"kmcr/record"
)

var update = flag.Bool("update", false, "rewrite the golden files of kmcr show")

func TestMain(m *testing.M) {
	time.Local = time.UTC // golden files show times; make them the same everywhere
	flag.Parse()
	os.Exit(m.Run())
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/kmcr -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file; got:\n%s", path, got)
	}
}

// TestShow_SharedCases prints every shared clinical case
// (present/presenttest) as "kmcr show" does, in text and JSON: the text is
// compared with its golden file (cmd/kmcr/testdata/cases) and must show,
// and not show, the case's words, as the window's tests check of the
// window; the JSON must carry the same presentation.
func TestShow_SharedCases(t *testing.T) {
	for _, c := range presenttest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			nhs, s, f := c.Open(t)
			v := &core.PatientView{NHS: nhs, Summary: s, Facts: f}
			pv := v.Present(presenttest.Now)
			var text bytes.Buffer
			renderView(&text, pv)
			golden(t, "cases/"+c.Name+".txt", text.Bytes())
			c.CheckText(t, "kmcr show text", text.String())

			var js bytes.Buffer
			if err := writeShowJSON(&js, v, pv); err != nil {
				t.Fatal(err)
			}
			var back showJSON
			back.PatientView = &core.PatientView{}
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatalf("show --json does not read back: %v\n%s", err, js.String())
			}
			again, _ := json.Marshal(back.Presentation)
			first, _ := json.Marshal(pv)
			if !bytes.Equal(first, again) {
				t.Errorf("the JSON's presentation is not the one the text shows")
			}
			if c.Check != nil {
				c.Check(t, back.Presentation)
			}
		})
	}
}

// TestShow_JSONKeysAreSnakeCase checks every key "kmcr show --json"
// prints, over every shared case, and that the keys scripts and the
// README rely on are there.
func TestShow_JSONKeysAreSnakeCase(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range presenttest.Cases() {
		nhs, s, f := c.Open(t)
		v := &core.PatientView{NHS: nhs, Summary: s, Facts: f}
		var js bytes.Buffer
		if err := writeShowJSON(&js, v, v.Present(presenttest.Now)); err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
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
					if path == "" {
						seen[k] = true
					}
					walk(e, path+"."+k)
				}
			case []any:
				for _, e := range x {
					walk(e, path+"[]")
				}
			}
		}
		walk(doc, "")
	}
	for _, k := range []string{"nhs", "summary", "as_of", "stale", "freshness_seconds", "not_after", "relationship", "sections",
		"withheld", "objection", "sensitive", "break_glass", "demographics_only", "presentation"} {
		if !seen[k] {
			t.Errorf("top-level key %q never printed", k)
		}
	}
}

// TestRenderView_AlertStates checks "kmcr show" keeps "none recorded" and
// "information not available" apart for alerts, as for every section.
func TestRenderView_AlertStates(t *testing.T) {
	alertsBlock := func(st record.SectionState) string {
		s := &record.Summary{}
		s.Alerts.State = st
		var b strings.Builder
		v := &core.PatientView{Summary: s, Facts: present.Facts{Sections: record.AllSections()}}
		renderView(&b, v.Present(time.Now()))
		out := b.String()
		i := strings.Index(out, "Alerts\n")
		if i < 0 {
			t.Fatalf("no Alerts section in:\n%s", out)
		}
		rest := out[i:]
		if j := strings.Index(rest, "\n\n"); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	if got := alertsBlock(record.StateNotAvailable); !strings.Contains(got, "information not available") || strings.Contains(got, "No active alerts recorded") {
		t.Errorf("no alerts shared renders as:\n%s", got)
	}
	if got := alertsBlock(record.StateNoneRecorded); !strings.Contains(got, "No active alerts recorded") {
		t.Errorf("alerts recorded as none render as:\n%s", got)
	}
}

// TestSharedData_ShowAndJSONShowEveryItem syncs every patient of
// ../shared/fhir from a real server and checks "kmcr show" and
// "kmcr show --json" against what a decoder of its own reads from the
// source files (internal/shareddata): every item of every section, the
// banner (900 000 0009 is SMITH, Jane with her address and GP, from PDS),
// death and the age at death, documents, and what is counted but not
// shown. The window's tests check the window against the same reading.
func TestSharedData_ShowAndJSONShowEveryItem(t *testing.T) {
	dir := shareddata.Dir(t)
	srv := shareddata.Serve(t, dir)
	exp := shareddata.Expect(t, dir)
	prof := srv.Enrol(t, shareddata.Paramedic)
	show := func(args ...string) (string, error) {
		kc := prof.Open(t)
		defer kc.Close()
		var out, errs bytes.Buffer
		e := &env{stdout: &out, stderr: &errs, core: kc, input: &lineReader{r: strings.NewReader("")},
			getenv: func(k string) string {
				if k == "KMCR_PASSPHRASE" {
					return shareddata.Passphrase
				}
				return ""
			}}
		err := commands["show"].run(e, args)
		return out.String(), err
	}
	shown := 0
	for nhs, p := range exp {
		text, err := show(nhs)
		if p.Restricted {
			if err == nil || !errors.Is(err, core.ErrNotCached) {
				t.Errorf("restricted %s: show gave %v:\n%s", nhs, err, text)
			}
			continue
		}
		if err != nil {
			t.Errorf("show %s: %v", nhs, err)
			continue
		}
		p.CheckText(t, "kmcr show", text)
		js, err := show(nhs, "--json")
		if err != nil {
			t.Fatalf("show %s --json: %v", nhs, err)
		}
		p.CheckJSON(t, []byte(js))
		shown++
	}
	if shown != 21 {
		t.Errorf("%d patients shown; the shared data has 21 that may be held offline", shown)
	}
}

// TestSearch_JSONKeysAreSnakeCase runs "kmcr search --json" on the shared
// data: the keys are snake_case (never Go field names), 900 000 0009 is
// found as SMITH, Jane, every deceased patient is found as deceased, and a
// search that finds nothing prints an empty list rather than null.
func TestSearch_JSONKeysAreSnakeCase(t *testing.T) {
	dir := shareddata.Dir(t)
	srv := shareddata.Serve(t, dir)
	prof := srv.Enrol(t, shareddata.Paramedic)
	search := func(args ...string) map[string]any {
		t.Helper()
		kc := prof.Open(t)
		defer kc.Close()
		var out, errs bytes.Buffer
		e := &env{stdout: &out, stderr: &errs, core: kc, input: &lineReader{r: strings.NewReader("")},
			getenv: func(k string) string {
				if k == "KMCR_PASSPHRASE" {
					return shareddata.Passphrase
				}
				return ""
			}}
		if err := commands["search"].run(e, append([]string{"--json"}, args...)); err != nil {
			t.Fatalf("search %v: %v", args, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("search %v printed %q: %v", args, out.String(), err)
		}
		return doc
	}
	doc := search("smith")
	if got := keysOf(doc); got != "entries suggestions total" {
		t.Errorf("search --json keys = %s; want entries suggestions total", got)
	}
	entries, _ := doc["entries"].([]any)
	found := false
	for _, x := range entries {
		e, _ := x.(map[string]any)
		if got := keysOf(e); got != "birth_date death_date deceased display family gender given held nhs postcode similar_on_device" {
			t.Errorf("entry keys = %s", got)
		}
		if e["nhs"] == "9000000009" {
			found = true
			if e["family"] != "SMITH" && e["family"] != "Smith" || e["given"] != "Jane" {
				t.Errorf("900 000 0009 found as %v", e)
			}
		}
	}
	if !found {
		t.Errorf("search smith did not find 900 000 0009: %v", doc)
	}
	// Every patient's death travels to the search results, as the record
	// gives it (a decoder of its own reads the source).
	dead := 0
	for nhs, p := range shareddata.Expect(t, dir) {
		if p.Restricted {
			continue
		}
		l, _ := search(nhs)["entries"].([]any)
		if len(l) != 1 {
			t.Errorf("search %s --json found %d", nhs, len(l))
			continue
		}
		e := l[0].(map[string]any)
		if e["deceased"] != p.Deceased || p.AgeAtDeath != "" && e["death_date"] == "" {
			t.Errorf("search %s --json: deceased %v, death_date %q; want deceased %v (age at death %q)", nhs, e["deceased"], e["death_date"], p.Deceased, p.AgeAtDeath)
		}
		if p.Deceased {
			dead++
		}
	}
	if dead == 0 {
		t.Error("the shared data has no deceased patient to check")
	}
	none := search("9999999999")
	if l, ok := none["entries"].([]any); !ok || len(l) != 0 || none["total"] != float64(0) {
		t.Errorf("a search that finds nothing prints %v; want entries [] and total 0", none)
	}
}

// keysOf lists a JSON object's keys, sorted, space-separated.
func keysOf(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, " ")
}

// TestWriteJSON_ControlCharactersStayValidJSON checks that JSON printed
// through the terminal-safe stdout is still JSON with the same strings,
// whatever control and format characters a record holds.
func TestWriteJSON_ControlCharactersStayValidJSON(t *testing.T) {
	in := map[string]string{"name": "A\x1b[2J\x7f\u202e\u200b\u2028B\x00"}
	var b bytes.Buffer
	w := safetext.NewWriter(&b)
	if err := writeJSON(w, in); err != nil {
		t.Fatal(err)
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["name"] != in["name"] {
		t.Fatalf("%v %q\n%s", err, back["name"], b.Bytes())
	}
	if bytes.ContainsAny(b.Bytes(), "\x1b\x7f\u202e\u200b") {
		t.Fatalf("raw control characters printed: %q", b.Bytes())
	}
}
