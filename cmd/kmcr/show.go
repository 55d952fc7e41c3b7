package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"kmcr/core"
	"kmcr/record"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
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
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if res.Total == 0 {
		return fmt.Errorf("no cached patient matches %q", strings.Join(pos, " "))
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NHS No.\tNAME\tBORN\tPOSTCODE")
	for _, en := range res.Entries {
		born := en.BirthDate
		if t, err := time.Parse("2006-01-02", born); err == nil {
			born = record.FormatDate(t)
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
	code := fs.String("reason", "", "break-glass reason code: "+reasonCodes())
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
		reason := core.BreakGlassReason{Code: *code, Text: *text}
		v, err = breakGlass(e, nhs, reason)
	} else {
		v, err = e.core.OpenPatient(nhs, nil)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	renderView(w, v, time.Now())
	return nil
}

// breakGlass asks the server when it can be reached in a few seconds, and
// otherwise falls back to the offline rule (cached summaries only).
func breakGlass(e *env, nhs string, reason core.BreakGlassReason) (*core.PatientView, error) {
	if err := e.core.StartSync(); err == nil {
		deadline := time.Now().Add(8 * time.Second)
		for time.Now().Before(deadline) {
			st := e.core.Status()
			if strings.HasPrefix(st.Connection, "up to date") {
				break
			}
			// An attempt that failed means the server cannot be reached
			// now: the offline rule applies at once, not after the wait.
			if st.State == syncclient.Error || (st.State == syncclient.Offline && st.Error != "") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		v, err := e.core.BreakGlass(ctx, nhs, reason)
		// While connected, give the uploader a few seconds to deliver the
		// break-glass event; whatever is not delivered stays queued.
		for end := time.Now().Add(5 * time.Second); err == nil && time.Now().Before(end); {
			st := e.core.Status()
			if st.PendingAuditEvents == 0 || !strings.HasPrefix(st.Connection, "up to date") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		e.core.StopSync()
		return v, err
	}
	return e.core.BreakGlass(context.Background(), nhs, reason)
}

func reasonCodes() string {
	codes := make([]string, len(protocol.BreakGlassReasons))
	for i, r := range protocol.BreakGlassReasons {
		codes[i] = r.Code
	}
	return strings.Join(codes, ", ")
}

// renderView prints a summary as a clinician reads it: banner first, then
// alerts, allergies, medicines, problems and the rest, each with its date.
func renderView(w io.Writer, v *core.PatientView, now time.Time) {
	s := v.Summary
	d := &s.Demographics
	rule := strings.Repeat("=", 72)
	fmt.Fprintln(w, rule)
	name := record.FormatName(d.Name.Family, d.Name.Given, d.Name.Prefix)
	born := "date of birth not recorded"
	if !d.BirthDate.IsZero() {
		born = fmt.Sprintf("born %s (%dy)", record.FormatDate(d.BirthDate.Time), record.Age(d.BirthDate.Time, now))
	}
	fmt.Fprintf(w, "%s   %s   %s   NHS No. %s\n", name, born, orDash(d.Gender), d.NHS)
	if d.Address.String() != "" {
		fmt.Fprintf(w, "%s\n", d.Address)
	}
	fmt.Fprintln(w, rule)
	stale := ""
	if v.Stale {
		stale = "   ** STALE: older than the freshness limit; connect to refresh **"
	}
	fmt.Fprintf(w, "As of %s%s\n", v.AsOf.Local().Format("02-Jan-2006 15:04"), stale)
	fmt.Fprintf(w, "Offline copy available until %s\n", v.NotAfter.Local().Format("02-Jan-2006 15:04"))
	if v.BreakGlass {
		fmt.Fprintln(w, "EMERGENCY ACCESS (break-glass): audited and reported")
	}
	if d.NHSAssigned {
		fmt.Fprintln(w, "Note: NHS number assigned from the test range (the source carried none)")
	}
	if v.Objection {
		fmt.Fprintln(w, "RESTRICTED SHARING: the patient has objected; some sections are withheld")
	}
	if v.Sensitive > 0 {
		fmt.Fprintf(w, "SENSITIVE INFORMATION WITHHELD: %d item(s) are never held on this device\n", v.Sensitive)
	}
	section := func(title string) { fmt.Fprintf(w, "\n%s\n%s\n", title, strings.Repeat("-", len(title))) }

	section("Registered GP")
	if s.GP.IsZero() {
		fmt.Fprintln(w, "  not recorded")
	} else {
		fmt.Fprintf(w, "  %s %s %s\n", s.GP.Practice, paren(s.GP.ODSCode), s.GP.Practitioner)
	}
	if len(d.Phones) > 0 {
		var ps []string
		for _, p := range d.Phones {
			ps = append(ps, p.Value+paren(p.Use))
		}
		fmt.Fprintf(w, "  Phone: %s\n", strings.Join(ps, ", "))
	}
	if v.DemographicsOnly {
		fmt.Fprintln(w, "\n(Clinical information is not shown to your role.)")
		return
	}
	section("Alerts")
	// "none recorded" only when the record says so: no alert shared is
	// not the same as no DNACPR, and a paramedic must be able to tell.
	printState(w, s.Alerts.State, s.Alerts.Len())
	for _, a := range s.Alerts.Items {
		state := ""
		if !a.Active {
			state = " (inactive)"
		}
		fmt.Fprintf(w, "  ! %s%s  %s\n", a.Text, state, dateOf(a.Date))
	}
	section("Allergies: " + s.AllergyHeadline())
	for _, a := range s.Allergies.Items {
		var rx []string
		for _, r := range a.Reactions {
			rx = append(rx, strings.Join(r.Manifestations, ", "))
		}
		fmt.Fprintf(w, "  %s  reaction: %s  severity: %s  criticality: %s  %s  %s\n", a.Substance, orDash(strings.Join(rx, "; ")), orDash(a.Severity), orDash(a.Criticality), orDash(a.ClinicalStatus), dateOf(a.Date))
	}
	section("Medications")
	printState(w, s.Medications.State, s.Medications.Len())
	for _, m := range s.Medications.Items {
		mark := " "
		if m.Active {
			mark = "*"
		}
		fmt.Fprintf(w, " %s %s  %s  [%s]  %s\n", mark, m.Name, m.Dosage, m.Status, dateOf(m.Date))
	}
	section("Problems")
	printState(w, s.Problems.State, s.Problems.Len())
	for _, p := range s.Problems.Items {
		fmt.Fprintf(w, "  %s  [%s]  %s\n", p.Name, orDash(p.ClinicalStatus), dateOf(p.Date))
	}
	section("Recent encounters")
	printState(w, s.Encounters.State, s.Encounters.Len())
	for _, en := range s.Encounters.Items {
		fmt.Fprintf(w, "  %s  %s  %s  %s\n", dateOf(en.Date), orDash(en.Type), en.Class, en.ServiceProvider)
	}
	section("Observations")
	printState(w, s.Observations.State, s.Observations.Len())
	for _, o := range s.Observations.Items {
		pe := ""
		if o.PatientEntered {
			pe = "  (patient-entered)"
		}
		fmt.Fprintf(w, "  %s  %s: %s%s\n", dateOf(o.Date), o.Name, o.Value, pe)
	}
	section("Care plans")
	printState(w, s.CarePlans.State, s.CarePlans.Len())
	for _, c := range s.CarePlans.Items {
		fmt.Fprintf(w, "  %s  [%s]  %s\n", orDash(c.Title), c.Status, dateOf(c.Date))
	}
	if len(s.Other) > 0 {
		section("Also in the record")
		for _, o := range s.Other {
			fmt.Fprintf(w, "  %s: %d\n", o.Type, o.Count)
		}
	}
}

func printState(w io.Writer, st record.SectionState, n int) {
	switch {
	case st == record.StateNoneRecorded:
		fmt.Fprintln(w, "  none recorded")
	case n == 0:
		fmt.Fprintln(w, "  information not available")
	}
}

func dateOf(d record.Date) string {
	if d.IsZero() {
		return "(date unknown)"
	}
	return record.FormatDate(d.Time)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}
