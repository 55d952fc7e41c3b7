package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"kmcr/core"
	"kmcr/present"
	"kmcr/record"
)

func init() {
	register(&command{name: "search", usage: "search QUERY [--json] [--limit N] [--passphrase-stdin]",
		summary: "find cached patients by NHS number, family name [and date of birth], or postcode", run: runSearch})
	register(&command{name: "show", usage: "show NHS [--json] [--break-glass --reason CODE --reason-text TEXT] [--passphrase-stdin]",
		summary: "show a cached patient's summary (works offline)", run: runShow})
}

func runSearch(e *env, args []string) error {
	fs := newFlags(e, "search")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 50, "most results to list")
	ppStdin := fs.Bool("passphrase-stdin", false, "read the passphrase from standard input")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: give a query: an NHS number, a family name (with a date of birth), or a postcode", errUsage)
	}
	if err := e.unlock(*ppStdin); err != nil {
		return err
	}
	res, err := e.core.Search(strings.Join(pos, " "), *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, res)
	}
	if res.Total == 0 {
		for i, en := range res.Suggestions {
			if i == 0 {
				fmt.Fprintln(e.stderr, "Did you mean:")
			}
			fmt.Fprintf(e.stderr, "  %s  %s  born %s  %s\n", en.NHS, en.Display, record.ParseDate(en.BirthDate).String(), en.Postcode)
		}
		return fmt.Errorf("no cached patient matches %q", strings.Join(pos, " "))
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NHS No.\tNAME\tBORN\tPOSTCODE")
	for _, en := range res.Entries {
		born := en.BirthDate
		if t, err := time.Parse("2006-01-02", born); err == nil {
			born = record.FormatDate(t)
		}
		if d := en.Banner(time.Now()).Deceased; d != "" {
			born += ", " + d
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", en.NHS, en.Display, born, en.Postcode)
	}
	tw.Flush()
	if res.Total > len(res.Entries) {
		fmt.Fprintf(e.stdout, "showing %d of %d matches; narrow the search or raise --limit\n", len(res.Entries), res.Total)
	}
	return nil
}

func runShow(e *env, args []string) error {
	fs := newFlags(e, "show")
	asJSON := fs.Bool("json", false, "print JSON")
	bg := fs.Bool("break-glass", false, "emergency access outside your relationships (audited and reported)")
	code := fs.String("reason", "", "break-glass reason code: "+strings.Join(core.BreakGlassReasonCodes(), ", "))
	text := fs.String("reason-text", "", "break-glass reason in your own words")
	ppStdin := fs.Bool("passphrase-stdin", false, "read the passphrase from standard input")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: give the patient's NHS number", errUsage)
	}
	nhs := strings.Join(pos, "")
	if _, err := record.ParseNHSNumber(nhs); err != nil {
		return err
	}
	if *bg && (*code == "" || strings.TrimSpace(*text) == "") {
		return fmt.Errorf("%w: --break-glass needs --reason CODE and --reason-text TEXT", errUsage)
	}
	if err := e.unlock(*ppStdin); err != nil {
		return err
	}
	var v *core.PatientView
	if *bg {
		fmt.Fprintln(e.stderr, "EMERGENCY ACCESS: this access is audited and reported to the privacy officer.")
		v, err = e.core.BreakGlassConnected(nhs, core.BreakGlassReason{Code: *code, Text: *text})
	} else {
		v, err = e.core.OpenPatient(nhs, nil)
	}
	if err != nil {
		return err
	}
	pv := v.Present(time.Now())
	if *asJSON {
		return writeShowJSON(e.stdout, v, pv)
	}
	w := bufio.NewWriter(e.stdout)
	renderView(w, pv)
	return w.Flush()
}

// showJSON is what "kmcr show --json" prints: the opened view (the typed
// summary and the device's facts about it) and its presentation, the same
// one the window and the text show. Every key is snake_case.
type showJSON struct {
	*core.PatientView
	FreshnessSeconds int64         `json:"freshness_seconds"`
	Presentation     *present.View `json:"presentation"`
}

func writeShowJSON(w io.Writer, v *core.PatientView, pv *present.View) error {
	return writeJSON(w, showJSON{PatientView: v, FreshnessSeconds: int64(v.Freshness / time.Second), Presentation: pv})
}

// writeJSON prints v as indented JSON. On the terminal-safe stdout
// (internal/safetext) the control characters encoding/json leaves raw
// become \u escapes, so the output stays JSON with the same strings.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// renderView prints a presentation as a clinician reads it at a terminal:
// the banner, when it was current, the notices and alerts, then every
// section in the presentation's order. It decides nothing: the words,
// the order and what is struck through are the presentation's; this only
// lays them out as text (struck text as ~~text~~).
func renderView(w io.Writer, pv *present.View) {
	writeBanner(w, pv.Banner)
	writeCritical(w, pv.Critical)
	writeAsOf(w, pv.AsOf)
	for _, n := range pv.Notices {
		if n.Head == "" {
			fmt.Fprintln(w, n.Text)
			continue
		}
		fmt.Fprintf(w, "%s: %s\n", n.Head, n.Text)
	}
	if !pv.DemographicsOnly {
		writeAlerts(w, pv)
	}
	for i := range pv.Sections {
		writeSection(w, &pv.Sections[i])
	}
	if pv.Other != nil {
		fmt.Fprintf(w, "\n%s\n", lineText(*pv.Other))
	}
}

const rule = "========================================================================"

func writeBanner(w io.Writer, b present.Banner) {
	fmt.Fprintln(w, rule)
	born := "born " + b.Born
	if b.Born == "Not recorded" {
		born = "date of birth not recorded"
	}
	fmt.Fprintf(w, "%s   %s   %s   NHS No. %s\n", b.Name, born, b.Gender, b.NHS)
	fmt.Fprintln(w, b.Address)
	if b.Deceased != "" {
		fmt.Fprintln(w, b.Deceased)
	}
	fmt.Fprintln(w, rule)
}

// writeCritical prints the critical line the window keeps under the
// banner: resuscitation status, allergies (the worst first, one that may
// kill marked [HIGH RISK]) and safeguarding, one fact a line.
func writeCritical(w io.Writer, facts []present.Fact) {
	for _, f := range facts {
		text := f.Text
		if len(f.Parts) > 0 {
			parts := make([]string, len(f.Parts))
			for i, p := range f.Parts {
				parts[i] = p.Text
				if p.Alarm {
					parts[i] = "[" + present.AlarmBadge + "] " + p.Text
				}
			}
			text = strings.Join(parts, "; ")
		}
		fmt.Fprintf(w, "%s: %s\n", f.Label, text)
	}
	if len(facts) > 0 {
		fmt.Fprintln(w, rule)
	}
}

func writeAsOf(w io.Writer, a present.AsOf) {
	stale := ""
	if a.Stale {
		stale = "   ** STALE: " + a.StaleText + "; connect to refresh **"
	}
	fmt.Fprintf(w, "As of %s%s\n", a.Time, stale)
	if a.Held != "" {
		fmt.Fprintln(w, a.Held)
	}
}

func heading(w io.Writer, title string) {
	fmt.Fprintf(w, "\n%s\n%s\n", title, strings.Repeat("-", len([]rune(title))))
}

func writeAlerts(w io.Writer, pv *present.View) {
	heading(w, "Alerts")
	for _, a := range pv.Alerts {
		fmt.Fprintf(w, "  %s: %s\n", a.Head, a.Text)
	}
	if pv.NoAlerts != nil {
		fmt.Fprintf(w, "  %s\n", lineText(*pv.NoAlerts))
	}
}

// writeSection prints a section: its title and count, its lines, then
// every item of every group (text never pages), with what a window keeps
// behind a button.
func writeSection(w io.Writer, s *present.Section) {
	if s.Key == present.KeyPastAlerts && len(s.Groups) == 0 {
		return
	}
	title := s.Title
	if s.Count != "" && !strings.HasPrefix(s.Count, "0 ") {
		title += "   " + s.Count
	}
	heading(w, title)
	for _, l := range s.Lines {
		fmt.Fprintf(w, "  %s\n", lineText(l))
	}
	for _, g := range s.Groups {
		if len(g.Title.Spans) > 0 {
			fmt.Fprintf(w, "  %s\n", lineText(g.Title))
		}
		for i := range g.Items {
			writeItem(w, &g.Items[i])
		}
	}
}

func writeItem(w io.Writer, it *present.Item) {
	fmt.Fprintf(w, "  %s\n", lineText(it.Head))
	for _, l := range it.Body {
		fmt.Fprintf(w, "      %s\n", lineText(l))
	}
	if it.Trend != nil {
		fmt.Fprintf(w, "      %s\n", it.Trend.Note)
	}
	for _, l := range it.More {
		fmt.Fprintf(w, "      %s\n", lineText(l))
	}
}

// lineText is a line as text: struck spans between ~~, and a line on a
// warning panel marked with "!".
func lineText(l present.Line) string {
	var b strings.Builder
	if l.Block == present.Caution || l.Block == present.Danger {
		b.WriteString("! ")
	}
	for _, sp := range l.Spans {
		if sp.Struck {
			b.WriteString("~~" + sp.Text + "~~")
			continue
		}
		if sp.Badge {
			b.WriteString("[" + sp.Text + "] ")
			continue
		}
		b.WriteString(sp.Text)
	}
	return strings.TrimRight(b.String(), " ")
}
