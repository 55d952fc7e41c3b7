package portal_test

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"kmcr/server/devidp"
	"kmcr/server/portal"
)

// TestPortal_SessionHonouredByEveryNode checks a session is the sealed
// cookie: another portal on the same store (a second node, or this one
// restarted) honours it, a cookie altered by one byte or sealed by
// another store is refused, and signing out ends it.
func TestPortal_SessionHonouredByEveryNode(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	b.signIn(r.nhs[0], devidp.DemoPassword, devidp.LevelP9)
	u, _ := url.Parse(r.srv.URL)
	var cookie *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "__Host-kmcr-portal") && !strings.HasSuffix(c.Name, "signin") {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	if strings.Contains(cookie.Value, r.nhs[0]) {
		t.Fatal("the session cookie shows the NHS number")
	}
	// A second node: another Portal on the same store.
	node2, err := portal.New(portal.Config{Store: r.st, Record: r.svc, Issuer: r.srv.URL + devidp.PathPrefix, ClientID: "kmcr-portal",
		ClientSecret: hex.EncodeToString([]byte("portal secret")), BaseURL: r.srv.URL, HTTPClient: r.srv.Client(), Now: r.clk.Now, Node: "node-2"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(value string) (int, string) {
		req := httptest.NewRequest("GET", "https://node2.test/my/record", nil)
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: value})
		rec := httptest.NewRecorder()
		node2.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if st, body := get(cookie.Value); st != http.StatusOK || !strings.Contains(body, "Allergies") {
		t.Fatalf("the second node refused the first's session: %d\n%s", st, body)
	}
	tampered := []byte(cookie.Value)
	i := len(tampered) / 2
	if tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	if st, _ := get(string(tampered)); st != http.StatusUnauthorized {
		t.Fatalf("an altered cookie: %d; want 401", st)
	}
	other := newRig(t)
	ob := other.browser()
	ob.signIn(other.nhs[0], devidp.DemoPassword, devidp.LevelP9)
	ou, _ := url.Parse(other.srv.URL)
	for _, c := range ob.c.Jar.Cookies(ou) {
		if c.Name == cookie.Name {
			if st, _ := get(c.Value); st != http.StatusUnauthorized {
				t.Fatalf("a cookie sealed by another store: %d; want 401", st)
			}
		}
	}
	// Signing out on the first node ends the session there.
	_, home := b.get("/my/")
	if st, _ := b.post("/my/signout", hidden(home)); st != http.StatusOK {
		t.Fatalf("sign-out: %d", st)
	}
	req, _ := http.NewRequest("GET", r.srv.URL+"/my/record", nil)
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	if st, _, _ := b.do(req); st != http.StatusUnauthorized {
		t.Fatalf("the signed-out cookie replayed on the node that signed it out: %d", st)
	}
}
