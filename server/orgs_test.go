package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// loginStatus posts a login and returns the status and API error code.
func (ts *testServer) loginStatus(user, device string) (int, string) {
	ts.t.Helper()
	_, priv, _ := ed25519.GenerateKey(nil)
	body, _ := json.Marshal(protocol.LoginRequest{User: user, Password: "password " + user, DeviceID: device, PublicKey: priv.Public().(ed25519.PublicKey), Host: "test-host"})
	resp, err := ts.srv.Client().Post(ts.srv.URL+protocol.PathLogin, "application/json", bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var e protocol.APIError
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}

// TestOrgs_DSPTNotMet_BlocksLoginAndRevokesCaches checks that while an
// organisation does not meet the toolkit its users cannot log in or enrol,
// a connected device is told to wipe, a disconnected one wipes at its next
// sync and cannot refresh, and users of other organisations are untouched;
// once met again, a new enrolment works.
func TestOrgs_DSPTNotMet_BlocksLoginAndRevokesCaches(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t, 3)
	for _, o := range []OrgAddArgs{{ODS: "RYD", Name: "South East Coast Ambulance Service", Kind: "ambulance", DSPT: DSPTMet}, {ODS: "G82001", Name: "Riverside Surgery", Kind: "gp", DSPT: DSPTMet}} {
		if err := ts.admin.OrgAdd(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []UserAddArgs{{Name: "amy", Role: "paramedic", Org: "ryd"}, {Name: "ben", Role: "paramedic", Org: "RYD"}, {Name: "gus", Role: "community", Org: "G82001"}} {
		u.Password = "password " + u.Name
		if err := ts.admin.UserAdd(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.admin.CaseloadAdd(ctx, NHSListArgs{User: u.Name, NHS: ts.nhs}); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := ts.st.User("amy"); u.Org != "RYD" {
		t.Fatalf("user added with --org ryd has org %q", u.Org)
	}
	amyTok, _ := ts.login("amy", devID(1))
	benTok, _ := ts.login("ben", devID(2))
	gusTok, _ := ts.login("gus", devID(3))
	connected := newClient(t, ts.dial(amyTok.AccessToken))
	connected.hello(4)
	connected.untilUpToDate(0)

	res, err := ts.admin.OrgSet(ctx, OrgSetArgs{ODS: "RYD", DSPT: DSPTNotMet})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Org.DSPT != DSPTNotMet || len(res.Revoked) != 2 {
		t.Fatalf("org set not-met = %+v; want changed, two devices revoked", res)
	}
	// The connected device is told at once.
	if m, err := connected.recv(); err != nil {
		t.Fatalf("connected device: %v", err)
	} else if _, ok := m.(*protocol.Wipe); !ok {
		t.Fatalf("connected device got %T; want Wipe", m)
	}
	// The disconnected one at its next sync, and it cannot refresh.
	if m, _ := ts.dial(benTok.AccessToken).Receive(); m == nil {
		t.Fatal("next sync of a device of a non-compliant organisation received nothing")
	} else if _, ok := m.(*protocol.Wipe); !ok {
		t.Fatalf("next sync got %T; want Wipe", m)
	}
	if _, e := ts.refresh(devID(2), benTok.RefreshToken); e == nil || e.Code != protocol.ErrCodeDeviceRevoked {
		t.Fatalf("refresh of a non-compliant organisation's user: %+v", e)
	}
	// No login, no enrolment of a new device.
	for _, dev := range []string{devID(1), devID(4)} {
		if st, code := ts.loginStatus("amy", dev); st != http.StatusForbidden || code != protocol.ErrCodeOrgNotCompliant {
			t.Fatalf("login from %s while not met: %d %s", dev, st, code)
		}
	}
	if _, err := ts.st.Device(devID(4)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused enrolment registered its device: %v", err)
	}
	// The other organisation is untouched.
	if d, _ := ts.st.Device(devID(3)); d.Revoked {
		t.Fatal("a device of a compliant organisation was revoked")
	}
	other := newClient(t, ts.dial(gusTok.AccessToken))
	other.hello(4)
	other.untilUpToDate(0)

	// Met again: a new profile enrols; the revoked device stays revoked.
	if res, err := ts.admin.OrgSet(ctx, OrgSetArgs{ODS: "RYD", DSPT: DSPTMet}); err != nil || !res.Changed || len(res.Revoked) != 0 {
		t.Fatalf("org set met = %+v, %v", res, err)
	}
	if st, _ := ts.loginStatus("amy", devID(5)); st != http.StatusOK {
		t.Fatalf("enrolment after the toolkit is met again: %d", st)
	}
	if st, code := ts.loginStatus("amy", devID(1)); st != http.StatusForbidden || code != protocol.ErrCodeDeviceRevoked {
		t.Fatalf("login from the revoked device: %d %s", st, code)
	}
}

// TestOrgs_SessionOfNonCompliantOrg_Revoked checks a device whose
// organisation was made non-compliant without its devices being revoked
// (its status written to the store by another node, say) is revoked and
// wiped at its next sync.
func TestOrgs_SessionOfNonCompliantOrg_Revoked(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t, 2)
	if err := ts.admin.OrgAdd(ctx, OrgAddArgs{ODS: "RYY", Name: "Kent Community Health", Kind: "community", DSPT: DSPTMet}); err != nil {
		t.Fatal(err)
	}
	if err := ts.admin.UserAdd(ctx, UserAddArgs{Name: "cat", Role: "community", Password: "password cat", Org: "RYY"}); err != nil {
		t.Fatal(err)
	}
	tok, _ := ts.login("cat", devID(1))
	tok2, _ := ts.login("cat", devID(2))
	if err := ts.st.UpdateOrg("RYY", func(o *store.Org) error { o.DSPT = DSPTNotMet; return nil }); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(tok.AccessToken)
	if m, _ := c.Receive(); m == nil {
		t.Fatal("no message")
	} else if _, ok := m.(*protocol.Wipe); !ok {
		t.Fatalf("got %T; want Wipe", m)
	}
	if _, err := c.Receive(); protocol.CloseCode(err) != protocol.CloseDeviceRevoked {
		t.Fatalf("close %v; want device revoked", err)
	}
	if d, _ := ts.st.Device(devID(1)); !d.Revoked {
		t.Fatal("the device was not revoked")
	}
	// A refresh is the other way a device meets the server: it is revoked
	// there too, so its client wipes.
	if _, e := ts.refresh(devID(2), tok2.RefreshToken); e == nil || e.Code != protocol.ErrCodeDeviceRevoked {
		t.Fatalf("refresh: %+v; want device_revoked", e)
	}
	if d, _ := ts.st.Device(devID(2)); !d.Revoked {
		t.Fatal("the refreshing device was not revoked")
	}
}

// TestOrgs_UpgradeGivesDefaultOrg checks a store whose users predate
// organisations gains the default organisation (met) when the service
// starts, and its users still log in.
func TestOrgs_UpgradeGivesDefaultOrg(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := HashPassword("password old", fastPassword)
	if err := st.AddUser(store.User{Name: "old", Role: "paramedic", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	if os, _ := st.Orgs(); len(os) != 0 {
		t.Fatalf("orgs before the upgrade: %v", os)
	}
	svc, err := New(Config{Store: st, Password: fastPassword, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	os, err := LocalAdmin(svc).OrgList(context.Background())
	if err != nil || len(os) != 1 || os[0].ODS != DefaultOrg.ODS || os[0].DSPT != DSPTMet {
		t.Fatalf("orgs after the upgrade: %+v, %v", os, err)
	}
	u, _ := st.User("old")
	if o, ok, err := svc.orgCompliant(u); err != nil || !ok || o.ODS != DefaultOrg.ODS {
		t.Fatalf("the upgraded user's organisation: %+v %v %v", o, ok, err)
	}
	st.Close()
}
