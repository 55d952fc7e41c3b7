package portal_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"kmcr/server/devidp"
	"kmcr/server/policy"
	"kmcr/server/store"
)

func sharingForm(csrf string, no ...string) url.Values {
	v := url.Values{"csrf": {csrf}}
	for _, p := range policy.Purposes {
		v.Set(p, "yes")
		if slices.Contains(no, p) {
			v.Set(p, "no")
		}
	}
	return v
}

// TestPortal_Sharing_ConsentHistoryAndObjectionPath checks a sharing
// choice is stored as a FHIR R4 Consent with a deny provision per purpose
// (purpose-of-use codes), the one it replaces made inactive and listed in
// the history, and that it takes effect through the objection path: the
// store's objections and the change log every device syncs from.
func TestPortal_Sharing_ConsentHistoryAndObjectionPath(t *testing.T) {
	r := newRig(t)
	nhs := r.nhs[0]
	b := r.browser()
	b.signIn(nhs, devidp.DemoPassword, devidp.LevelP9)
	st, page := b.get("/my/sharing")
	if st != http.StatusOK || strings.Count(page, `value="no"`) != len(policy.Purposes) || !strings.Contains(page, "Social care") || !strings.Contains(page, "You have not made a choice here yet") {
		t.Fatalf("sharing page: %d\n%s", st, page)
	}
	csrf := hidden(page).Get("csrf")
	before, _ := r.st.LastSeq()
	// Without the CSRF token nothing is stored.
	if st, _ := b.post("/my/sharing", sharingForm("forged", policy.PurposeResearch)); st != http.StatusForbidden {
		t.Fatalf("forged CSRF: %d", st)
	}
	if obj, _ := r.st.Objections(nhs); len(obj) != 0 {
		t.Fatalf("a refused form recorded objections %v", obj)
	}
	st, page = b.post("/my/sharing", sharingForm(csrf, policy.PurposeResearch, policy.PurposeSocialCare))
	if st != http.StatusOK || !strings.Contains(page, "Your choice has been saved") {
		t.Fatalf("after saving: %d\n%s", st, page)
	}
	obj, _ := r.st.Objections(nhs)
	slices.Sort(obj)
	if !slices.Equal(obj, []string{policy.PurposeResearch, policy.PurposeSocialCare}) {
		t.Fatalf("objections %v", obj)
	}
	var objectionChanges int
	_ = r.st.Changes(before, func(c store.Change) error {
		if c.Kind == store.ChangeObjection && c.NHS == nhs {
			objectionChanges++
		}
		return nil
	})
	if objectionChanges != 2 {
		t.Fatalf("%d objection changes logged; want 2", objectionChanges)
	}
	// Change the mind: emergency care no, research yes.
	st, page = b.post("/my/sharing", sharingForm(csrf, policy.PurposeEmergency))
	if st != http.StatusOK || !strings.Contains(page, "Do not share for: Emergency care") || !strings.Contains(page, "Do not share for: Social care, Research") {
		t.Fatalf("history: %d\n%s", st, page)
	}
	if strings.Count(page, "In force") != 1 {
		t.Fatal("more than one choice shown in force")
	}
	obj, _ = r.st.Objections(nhs)
	if !slices.Equal(obj, []string{policy.PurposeEmergency}) {
		t.Fatalf("objections after the change %v", obj)
	}
	rs, err := r.svc.PatientResourcesOf(nhs, "Consent")
	if err != nil || len(rs) != 2 {
		t.Fatalf("consents stored: %d %v", len(rs), err)
	}
	var active, inactive int
	for _, res := range rs {
		var c struct {
			ResourceType, Status string
			Patient              struct{ Reference string }
			Provision            struct {
				Type      string
				Provision []struct {
					Type    string
					Purpose []struct{ System, Code string }
				}
			}
		}
		if err := json.Unmarshal(res.Raw, &c); err != nil || c.ResourceType != "Consent" || !strings.HasPrefix(c.Patient.Reference, "Patient/") || c.Provision.Type != "permit" {
			t.Fatalf("consent %s: %v %+v", res.Key, err, c)
		}
		switch c.Status {
		case "active":
			active++
			if len(c.Provision.Provision) != 1 || c.Provision.Provision[0].Type != "deny" || c.Provision.Provision[0].Purpose[0].Code != "ETREAT" ||
				c.Provision.Provision[0].Purpose[0].System != "http://terminology.hl7.org/CodeSystem/v3-ActReason" {
				t.Fatalf("active consent provisions: %+v", c.Provision)
			}
		case "inactive":
			inactive++
		}
	}
	if active != 1 || inactive != 1 {
		t.Fatalf("%d active and %d inactive consents", active, inactive)
	}
	// The same choice again changes nothing.
	seq, _ := r.st.LastSeq()
	if st, page := b.post("/my/sharing", sharingForm(csrf, policy.PurposeEmergency)); st != http.StatusOK || !strings.Contains(page, "Nothing changed") {
		t.Fatalf("same choice: %d", st)
	}
	if now, _ := r.st.LastSeq(); now != seq {
		t.Fatal("the same choice appended changes")
	}
	// An answer missing for a purpose is refused, nothing stored.
	bad := sharingForm(csrf)
	bad.Del(policy.PurposePlanning)
	if st, _ := b.post("/my/sharing", bad); st != http.StatusBadRequest {
		t.Fatalf("missing answer: %d", st)
	}
}
