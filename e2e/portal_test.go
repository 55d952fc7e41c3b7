package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"kmcr/record"
	"kmcr/server/pki"
)

var portalHidden = regexp.MustCompile(`name="([a-zA-Z]+)" value="([^"]*)"`)

// TestPortal_OfflineViewShowsBothTimes checks the offline case
// end to end with the real binaries: a view made by "kmcr show" with no
// server, delivered later by "kmcr sync --once", appears on that
// patient's "who viewed" page in the portal (signed in through the
// development provider of "serve --dev-idp") with both times, the
// clinician's name and their organisation.
func TestPortal_OfflineViewShowsBothTimes(t *testing.T) {
	d := newServerData(t, 3, 7)
	nhs := d.nhs[0]
	d.mustAdmin("org", "add", "--ods", "RKA01", "--name", "Kent and Medway Ambulance Service", "--kind", "ambulance", "--dspt", "met")
	if r := d.admin(runOpts{stdin: userPassword("amy") + "\n"}, "user", "add", "--name", "amy", "--role", "paramedic", "--org", "RKA01", "--password-stdin"); r.code != 0 {
		t.Fatalf("user add:\n%s", r)
	}
	d.mustAdmin("caseload", "add", "--user", "amy", "--nhs", nhs)
	srv := d.serve("127.0.0.1:0", "--dev-idp")
	p := newProfile(t)
	p.enrol(srv.url(), d.ca, "amy")
	p.mustKmcr("sync", "--once")
	srv.stop()

	// Offline: the view is queued on the laptop.
	before := time.Now()
	if r := p.kmcr(runOpts{}, "show", nhs); r.code != 0 || !strings.Contains(r.stdout, banner(nhs)) {
		t.Fatalf("offline show:\n%s", r)
	}
	viewed := time.Now()
	// Reported more than the portal's offline threshold later.
	time.Sleep(31 * time.Second)
	srv = d.serve(srv.addr, "--dev-idp")
	p.mustKmcr("sync", "--once")

	pool, err := pki.LoadCAPool(d.ca)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://" + srv.addr
	get := func(u string) string {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", u, resp.Status, b)
		}
		return string(b)
	}
	form := url.Values{}
	for _, m := range portalHidden.FindAllStringSubmatch(get(base+"/my/signin"), -1) {
		form.Set(m[1], m[2])
	}
	form.Set("nhs", record.NHSNumber(nhs).String())
	form.Set("password", "demo citizen")
	form.Set("level", "P9")
	resp, err := c.PostForm(base+"/dev-idp/login", form)
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(home), "You are signed in") {
		t.Fatalf("sign-in through the development provider:\n%s", home)
	}
	page := get(base + "/my/who-viewed")
	london, _ := time.LoadLocation("Europe/London")
	// The view happened between before and viewed: either minute is right.
	offline := regexp.MustCompile(`Viewed offline on (\d+ \w+ \d{4} at \d\d:\d\d), reported (\d+ \w+ \d{4} at \d\d:\d\d)`).FindStringSubmatch(page)
	if offline == nil {
		t.Fatalf("who viewed shows no offline view with both times:\n%s", page)
	}
	if offline[1] != before.In(london).Format("2 Jan 2006 at 15:04") && offline[1] != viewed.In(london).Format("2 Jan 2006 at 15:04") {
		t.Errorf("viewed offline at %q; the show ran between %s and %s", offline[1], before, viewed)
	}
	for _, s := range []string{"amy, Paramedic, Kent and Medway Ambulance Service"} {
		if !strings.Contains(page, s) {
			t.Errorf("who viewed lacks %q:\n%s", s, page)
		}
	}
}
