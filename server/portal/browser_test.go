package portal_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/devidp"
	"kmcr/server/policy"
	"kmcr/server/store"
)

// chromiumPath is Debian's chromium (a browser download does not work here).
const chromiumPath = "/usr/bin/chromium"

// axeTags are the rule sets checked: WCAG 2.0, 2.1 and 2.2, levels A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeCheck runs axe-core (npm, web/node_modules) on the page shown and
// fails the test for each violation.
func axeCheck(t *testing.T, ctx context.Context, src, page string) {
	t.Helper()
	for _, v := range axeRun(t, ctx, src, page) {
		t.Errorf("%s: WCAG violation %s (%s): %s at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

func axeRun(t *testing.T, ctx context.Context, src, page string) []axeViolation {
	t.Helper()
	tags, _ := json.Marshal(axeTags)
	script := src + `;axe.run(document, {runOnly: {type: 'tag', values: ` + string(tags) + `}}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))))`
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe on %s: %v", page, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("axe on %s: %v (%s)", page, err, out)
	}
	return vs
}

// shoot saves the page at desktop and phone widths when KMCR_SCREENSHOTS
// names a folder (scripts/screenshots.sh).
func shoot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("KMCR_SCREENSHOTS")
	if dir == "" {
		return
	}
	for _, w := range []struct {
		suffix string
		width  int64
	}{{"", 1280}, {"-375", 375}} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w.width, 900)); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "portal-"+name+w.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900))
}

// TestBrowser_CitizenFlow drives Debian's chromium through the whole
// citizen flow: the start page, the development provider's sign-in, home,
// the record, finding a break-glass by the clinician's name, changing a
// sharing choice (and it reaching the objections every device syncs
// from), adding a reading; axe-core finds no WCAG 2.2 A or AA violation on
// any page.
func TestBrowser_CitizenFlow(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("chromium is not installed (scripts/ensure-deps.sh test installs it)")
	}
	axeSrc, err := os.ReadFile("../../web/node_modules/axe-core/axe.min.js")
	if err != nil {
		t.Skip("web/node_modules is missing: run npm ci in web/")
	}
	r := newRig(t)
	nhs := r.nhs[0]
	// A break-glass by a named paramedic of a named trust, reported late.
	if err := r.st.AddOrg(store.Org{ODS: "RKA01", Name: "Kent and Medway Ambulance Service", Kind: "ambulance", DSPT: "met"}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.AddUser(store.User{Name: "priya.medic", Role: "paramedic", Org: "RKA01"}); err != nil {
		t.Fatal(err)
	}
	at := r.clk.Now().Add(-3 * time.Hour).UTC().Truncate(time.Minute)
	bg := audit.Event{Action: audit.ActionBreakGlass, Occurred: at, User: audit.Actor{ID: "priya.medic", Name: "Priya Raman", Role: "paramedic"},
		Device: audit.Device{ID: "device-priya", Host: "ambulance-12"}, Patient: record.NHSNumber(nhs), Purpose: "ETREAT",
		BreakGlass: &audit.BreakGlass{ReasonCode: "unconscious", ReasonText: "collapsed in the street"}, Outcome: audit.Outcome{Result: audit.ResultSuccess}}
	storeAccesses(t, r.st, "device-priya", []audit.Event{bg}, []time.Time{at.Add(2 * time.Hour)})

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	base := r.srv.URL
	// The checker itself finds a violation where there is one: an image
	// without a text alternative and a form field without a label.
	if err := chromedp.Do(ctx, chromedp.Navigate(`data:text/html,<html lang="en"><title>bad</title><main><img src="x.png"><input type="text"></main></html>`)); err != nil {
		t.Fatal(err)
	}
	if vs := axeRun(t, ctx, string(axeSrc), "known-bad"); len(vs) < 2 {
		t.Fatalf("axe-core found %v on a page with two violations", vs)
	}
	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("start page", chromedp.Navigate(base+"/my/"), chromedp.WaitVisible(chromedp.CSS("a.nhsuk-button")))
	axeCheck(t, ctx, string(axeSrc), "start")
	shoot(t, ctx, "start")
	run("continue to sign in", chromedp.Click(chromedp.CSS("a.nhsuk-button")), chromedp.WaitVisible(chromedp.ID("nhs")))
	axeCheck(t, ctx, string(axeSrc), "sign-in")
	shoot(t, ctx, "signin")
	run("sign in", chromedp.SendKeys(chromedp.ID("nhs"), record.NHSNumber(nhs).String()),
		chromedp.SendKeys(chromedp.ID("password"), devidp.DemoPassword),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("nav.nhsuk-header__navigation")))
	if !strings.Contains(text("main"), record.NHSNumber(nhs).String()) {
		t.Fatal("home does not name the signed-in NHS number")
	}
	axeCheck(t, ctx, string(axeSrc), "home")
	shoot(t, ctx, "home")

	run("my record", chromedp.Navigate(base+"/my/record"), chromedp.WaitVisible(chromedp.CSS("dl.nhsuk-summary-list")))
	if !strings.Contains(text("main"), "Allergies") {
		t.Fatal("the record page shows no allergies section")
	}
	axeCheck(t, ctx, string(axeSrc), "record")
	shoot(t, ctx, "record")

	run("who viewed", chromedp.Navigate(base+"/my/who-viewed"), chromedp.WaitVisible(chromedp.CSS("main")))
	body := text("main")
	if !strings.Contains(body, "Priya Raman, Paramedic, Kent and Medway Ambulance Service") || !strings.Contains(body, "collapsed in the street") || !strings.Contains(body, "Viewed offline on") {
		t.Fatalf("who viewed does not show the break-glass by name:\n%s", body)
	}
	axeCheck(t, ctx, string(axeSrc), "who-viewed")
	shoot(t, ctx, "who-viewed")

	// A paramedic of another trust, which has never accessed the record:
	// their desktop client holds the patient, connected.
	if err := r.st.AddOrg(store.Org{ODS: "RYC", Name: "East of England Ambulance Service", Kind: "ambulance", DSPT: "met"}); err != nil {
		t.Fatal(err)
	}
	desk := r.desktop("sam.medic", "RYC", nhs)
	before := desk.open(nhs)
	if before.Objection || clinicalItems(before) == 0 {
		t.Fatalf("the desktop cache before any choice: objection %v, %d clinical items", before.Objection, clinicalItems(before))
	}
	desk.serve()

	run("readings", chromedp.Navigate(base+"/my/readings"), chromedp.WaitVisible(chromedp.ID("value")))
	axeCheck(t, ctx, string(axeSrc), "readings")
	shoot(t, ctx, "readings")
	run("add a heart rate", chromedp.SendKeys(chromedp.ID("value"), "72"), chromedp.Submit(chromedp.ID("value")),
		chromedp.WaitVisible(chromedp.CSS(".nhsuk-inset-text")))
	if !strings.Contains(text("main"), "Heart rate 72 beats per minute") {
		t.Fatal("the added reading is not listed")
	}
	if n := r.added(nhs); n != 1 {
		t.Fatalf("%d readings stored; want 1", n)
	}
	// The reading reaches the connected desktop client, marked patient-entered.
	took := waitFor(t, 10*time.Second, "the reading in the desktop cache", func() bool {
		v, err := desk.c.OpenPatient(nhs, nil)
		return err == nil && slices.ContainsFunc(patientEntered(v), func(s string) bool { return strings.Contains(s, "72") })
	})
	t.Logf("the browser's reading reached the desktop cache %v after the page answered", took)

	run("sharing", chromedp.Navigate(base+"/my/sharing"), chromedp.WaitVisible(chromedp.ID("research-no")))
	axeCheck(t, ctx, string(axeSrc), "sharing")
	shoot(t, ctx, "sharing")
	run("say no to emergency care and research", chromedp.Click(chromedp.ID("emergency-care-no")), chromedp.Click(chromedp.ID("research-no")),
		chromedp.Submit(chromedp.ID("research-no")), chromedp.WaitVisible(chromedp.CSS(".nhsuk-inset-text")))
	if !strings.Contains(text("main"), "Your choice has been saved") {
		t.Fatal("no confirmation after saving a sharing choice")
	}
	if obj, _ := r.st.Objections(nhs); !slices.Contains(obj, policy.PurposeResearch) || !slices.Contains(obj, policy.PurposeEmergency) {
		t.Fatalf("objections after the browser's choice: %v", obj)
	}
	// After the desktop client's next sync its cache holds no clinical
	// section of the patient, and says why.
	desk.c.StopSync()
	desk.syncOnce()
	after := desk.open(nhs)
	withheld := false
	for _, w := range after.Withheld {
		withheld = withheld || (w.Reason == "objection" && w.Purpose == policy.PurposeEmergency)
	}
	if !after.Objection || clinicalItems(after) != 0 || !withheld {
		t.Fatalf("the desktop cache after the choice and one sync: objection %v, %d clinical items, withheld %+v; want restricted sharing, none, the objection named",
			after.Objection, clinicalItems(after), after.Withheld)
	}
	// The home page lists the other trust's first look at the record (the
	// desktop's views reached the record with its syncs), not the first
	// trust's: it had accessed the record before.
	run("home again", chromedp.Navigate(base+"/my/"), chromedp.WaitVisible(chromedp.ID("notices")))
	if home := text("#notices"); !strings.Contains(home, "Staff at East of England Ambulance Service looked at your record for the first time") ||
		strings.Contains(home, "Staff at Kent and Medway") {
		t.Fatalf("the home page does not list the trust's first look:\n%s", home)
	}
	axeCheck(t, ctx, string(axeSrc), "home-notices")
}
