package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"kmcr/audit"
	"kmcr/demo"
	"kmcr/internal/ctlsock"
	"kmcr/record"
	"kmcr/server/store"
)

// adminClock is the fixed time both fixtures run at, so the two
// implementations' results can be compared byte for byte.
var adminClock = time.Date(2026, 3, 12, 9, 30, 0, 0, time.UTC)

// adminSentinels are the errors whose identity must hold on both paths.
var adminSentinels = []error{store.ErrNotFound, store.ErrExists, ErrInvalidArgument, record.ErrInvalidNHSNumber, ctlsock.ErrUnknownOperation, ctlsock.ErrBadRequest}

// adminFixture is a Service on a fresh store holding a user, two devices
// (one with a whole audit chain, one with a gap) and two alerts, all at
// fixed times; every call makes the same state.
func adminFixture(t *testing.T, dir string, patients []string) *Service {
	t.Helper()
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := New(Config{Store: st, Password: fastPassword, Logf: t.Logf, Now: func() time.Time { return adminClock }})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddUser(store.User{Name: "cara", Role: "paramedic", Created: adminClock}); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"device-admin-00000001", "device-admin-00000002"} {
		at := adminClock.Add(time.Duration(i-10) * time.Hour)
		if err := st.RegisterDevice(store.Device{ID: id, User: "cara", Host: "ambulance-7", Registered: at, LastSeen: at.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		var head audit.Head
		var events []store.StoredEvent
		for seq := range 3 {
			e := audit.Event{Action: audit.ActionView, Occurred: at.Add(time.Duration(seq) * time.Minute),
				User: audit.Actor{ID: "cara", Name: "cara", Role: "paramedic"}, Device: audit.Device{ID: id, Host: "ambulance-7"},
				Patient: record.NHSNumber(patients[seq%len(patients)]), Sections: []string{"allergies", "medications"}, Purpose: "ETREAT",
				Outcome: audit.Outcome{Result: audit.ResultSuccess}}
			e, head = audit.Next(head, e)
			if i == 1 && seq == 1 {
				continue // the second device's chain has a gap at 2
			}
			c := e.Canonical()
			events = append(events, store.StoredEvent{Device: id, Seq: e.Seq, Hash: head.Hash[:], Canonical: c, Recorded: at.Add(time.Hour), NHS: e.Patient.Digits()})
		}
		chain, _ := json.Marshal(audit.DeviceChain{DeviceID: id, LastSeq: head.Seq, LastHash: head.Hash})
		if err := st.StoreAudit(id, events, nil, nil, chain); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddAlerts([]store.Alert{
		{Kind: "break-glass", Device: "device-admin-00000001", User: "cara", NHS: patients[1], Detail: "emergency access granted", At: adminClock.Add(-time.Hour)},
		{Kind: "audit-gap", Device: "device-admin-00000002", User: "cara", Seq: 2, Detail: "gap: sequence 3 follows 1", At: adminClock},
	}); err != nil {
		t.Fatal(err)
	}
	return svc
}

// adminStep is one operation of the shared table.
type adminStep struct {
	name    string
	method  string // the Admin method it exercises
	run     func(ctx context.Context, a Admin) (any, error)
	wantErr error // nil: must succeed; otherwise errors.Is must hold
	wantMsg bool  // the error must be an *AdminError
}

// adminSteps is every admin operation, with its error cases, in an order
// that makes each step's state the same on both paths.
func adminSteps(seedDir string, patients []string) []adminStep {
	caseload := func(add bool, args NHSListArgs) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) {
			if add {
				return a.CaseloadAdd(ctx, args)
			}
			return a.CaseloadRemove(ctx, args)
		}
	}
	userAdd := func(args UserAddArgs) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return nil, a.UserAdd(ctx, args) }
	}
	object := func(on bool, args ObjectionArgs) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) {
			if on {
				return a.Object(ctx, args)
			}
			return a.Withdraw(ctx, args)
		}
	}
	revoke := func(id string) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return nil, a.DeviceRevoke(ctx, id) }
	}
	accessLog := func(nhs string) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return a.AccessLog(ctx, nhs) }
	}
	imp := func(paths ...string) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) {
			rep, err := a.Import(ctx, paths)
			if rep != nil {
				rep.Elapsed = 0 // the one field that depends on the machine
			}
			return rep, err
		}
	}
	userList := func(ctx context.Context, a Admin) (any, error) { return a.UserList(ctx) }
	disable := func(name string) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return a.UserDisable(ctx, name) }
	}
	enable := func(name string) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return nil, a.UserEnable(ctx, name) }
	}
	password := func(args UserPasswordArgs) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return nil, a.UserPassword(ctx, args) }
	}
	// Key ids and times are random per store: compare the keys' shape.
	keys := func(rotate bool) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) {
			var ks []TokenKeyInfo
			var err error
			if rotate {
				ks, err = a.KeysRotate(ctx)
			} else {
				ks, err = a.KeysList(ctx)
			}
			var shape []string
			for _, k := range ks {
				shape = append(shape, fmt.Sprintf("current=%v retired=%v", k.Current, !k.AcceptedUntil.IsZero()))
			}
			return shape, err
		}
	}
	orgAdd := func(args OrgAddArgs) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return nil, a.OrgAdd(ctx, args) }
	}
	orgSet := func(args OrgSetArgs) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return a.OrgSet(ctx, args) }
	}
	orgList := func(ctx context.Context, a Admin) (any, error) { return a.OrgList(ctx) }
	list := func(ctx context.Context, a Admin) (any, error) { return a.DeviceList(ctx) }
	alerts := func(ctx context.Context, a Admin) (any, error) { return a.Alerts(ctx) }
	verify := func(ctx context.Context, a Admin) (any, error) { return a.AuditVerify(ctx) }
	dispatchAdd := func(name string) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) {
			res, err := a.DispatchAdd(ctx, name)
			// The secret is random: compare its shape.
			return fmt.Sprintf("%s %v", res.Name, strings.HasPrefix(res.Credential, name+".") && len(res.Credential) == len(name)+44), err
		}
	}
	dispatchList := func(ctx context.Context, a Admin) (any, error) { return a.DispatchList(ctx) }
	dispatchRemove := func(name string) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return nil, a.DispatchRemove(ctx, name) }
	}
	incidentOpen := func(args IncidentArgs) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return a.IncidentOpen(ctx, args) }
	}
	incidentClose := func(id string) func(ctx context.Context, a Admin) (any, error) {
		return func(ctx context.Context, a Admin) (any, error) { return a.IncidentClose(ctx, id) }
	}
	incidentList := func(ctx context.Context, a Admin) (any, error) { return a.IncidentList(ctx) }
	spaced := record.NHSNumber(patients[0]).String()
	return []adminStep{
		{name: "import relative path", method: "Import", run: imp("seed"), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "import", method: "Import", run: imp(seedDir)},
		{name: "import again changes nothing", method: "Import", run: imp(seedDir)},
		{name: "import a missing file", method: "Import", run: imp(seedDir + "/absent.ndjson")},
		{name: "org list before any organisation", method: "OrgList", run: orgList},
		{name: "org add", method: "OrgAdd", run: orgAdd(OrgAddArgs{ODS: "ryd", Name: "South East Coast Ambulance Service", Kind: "ambulance"})},
		{name: "org add met", method: "OrgAdd", run: orgAdd(OrgAddArgs{ODS: "G82001", Name: "Riverside Surgery", Kind: "gp", DSPT: "met"})},
		{name: "org add twice", method: "OrgAdd", run: orgAdd(OrgAddArgs{ODS: "RYD", Name: "Again", Kind: "ambulance"}), wantErr: store.ErrExists, wantMsg: true},
		{name: "org add bad code", method: "OrgAdd", run: orgAdd(OrgAddArgs{ODS: "R-1", Name: "Bad", Kind: "gp"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "org add bad kind", method: "OrgAdd", run: orgAdd(OrgAddArgs{ODS: "RXX", Name: "Bad", Kind: "pharmacy"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "org add no name", method: "OrgAdd", run: orgAdd(OrgAddArgs{ODS: "RXX", Name: " ", Kind: "gp"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "org add bad dspt", method: "OrgAdd", run: orgAdd(OrgAddArgs{ODS: "RXX", Name: "Bad", Kind: "gp", DSPT: "maybe"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "org set met", method: "OrgSet", run: orgSet(OrgSetArgs{ODS: "RYD", DSPT: "met"})},
		{name: "org set met again", method: "OrgSet", run: orgSet(OrgSetArgs{ODS: "ryd", DSPT: "met"})},
		{name: "org set unknown", method: "OrgSet", run: orgSet(OrgSetArgs{ODS: "RZZ", DSPT: "met"}), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "org set bad status", method: "OrgSet", run: orgSet(OrgSetArgs{ODS: "RYD", DSPT: "yes"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "org list", method: "OrgList", run: orgList},
		{name: "user add to an org", method: "UserAdd", run: userAdd(UserAddArgs{Name: "gina", Role: "community", Password: "password gina", Org: "g82001"})},
		{name: "user add to an unknown org", method: "UserAdd", run: userAdd(UserAddArgs{Name: "hal", Role: "community", Password: "password hal", Org: "RZZ"}), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "user add to a bad org code", method: "UserAdd", run: userAdd(UserAddArgs{Name: "hal", Role: "community", Password: "password hal", Org: "R Z"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "user add", method: "UserAdd", run: userAdd(UserAddArgs{Name: "amy", Role: "paramedic", Password: "password amy"})},
		{name: "user add twice", method: "UserAdd", run: userAdd(UserAddArgs{Name: "amy", Role: "paramedic", Password: "password amy"}), wantErr: store.ErrExists, wantMsg: true},
		{name: "user add bad name", method: "UserAdd", run: userAdd(UserAddArgs{Name: "a b", Role: "paramedic", Password: "password amy"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "user add bad role", method: "UserAdd", run: userAdd(UserAddArgs{Name: "bob", Role: "wizard", Password: "password bob"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "user add short password", method: "UserAdd", run: userAdd(UserAddArgs{Name: "bob", Role: "community", Password: "short"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "user list", method: "UserList", run: userList},
		{name: "user password", method: "UserPassword", run: password(UserPasswordArgs{Name: "amy", Password: "a new password"})},
		{name: "user password short", method: "UserPassword", run: password(UserPasswordArgs{Name: "amy", Password: "short"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "user password unknown", method: "UserPassword", run: password(UserPasswordArgs{Name: "nobody", Password: "long enough"}), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "user disable unknown", method: "UserDisable", run: disable("nobody"), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "user enable unknown", method: "UserEnable", run: enable("nobody"), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "caseload add", method: "CaseloadAdd", run: caseload(true, NHSListArgs{User: "amy", NHS: []string{patients[0], spaced, patients[1], "1234567890", "abc"}})},
		{name: "caseload add again", method: "CaseloadAdd", run: caseload(true, NHSListArgs{User: "amy", NHS: []string{patients[1]}})},
		{name: "caseload add only refused", method: "CaseloadAdd", run: caseload(true, NHSListArgs{User: "nobody", NHS: []string{"123"}})},
		{name: "caseload add unknown user", method: "CaseloadAdd", run: caseload(true, NHSListArgs{User: "nobody", NHS: patients[:1]}), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "caseload remove", method: "CaseloadRemove", run: caseload(false, NHSListArgs{User: "amy", NHS: []string{patients[0], patients[2]}})},
		{name: "caseload remove unknown user", method: "CaseloadRemove", run: caseload(false, NHSListArgs{User: "nobody", NHS: patients[:1]}), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "object", method: "Object", run: object(true, ObjectionArgs{NHS: spaced, Purpose: "research"})},
		{name: "object again", method: "Object", run: object(true, ObjectionArgs{NHS: patients[0], Purpose: "research"})},
		{name: "object bad NHS number", method: "Object", run: object(true, ObjectionArgs{NHS: "1234567890", Purpose: "research"}), wantErr: record.ErrInvalidNHSNumber, wantMsg: true},
		{name: "object bad purpose", method: "Object", run: object(true, ObjectionArgs{NHS: patients[0], Purpose: "fun"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "withdraw", method: "Withdraw", run: object(false, ObjectionArgs{NHS: patients[0], Purpose: "research"})},
		{name: "withdraw again", method: "Withdraw", run: object(false, ObjectionArgs{NHS: patients[0], Purpose: "research"})},
		{name: "withdraw bad NHS number", method: "Withdraw", run: object(false, ObjectionArgs{NHS: "12", Purpose: "research"}), wantErr: record.ErrInvalidNHSNumber, wantMsg: true},
		{name: "device list", method: "DeviceList", run: list},
		{name: "device revoke unknown", method: "DeviceRevoke", run: revoke("device-absent"), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "device revoke", method: "DeviceRevoke", run: revoke("device-admin-00000002")},
		{name: "device revoke again", method: "DeviceRevoke", run: revoke("device-admin-00000002")},
		{name: "device list after revoke", method: "DeviceList", run: list},
		{name: "access log", method: "AccessLog", run: accessLog(patients[0])},
		{name: "access log spaced", method: "AccessLog", run: accessLog(spaced)},
		{name: "access log of nobody's patient", method: "AccessLog", run: accessLog(patients[2])},
		{name: "access log bad NHS number", method: "AccessLog", run: accessLog("123"), wantErr: record.ErrInvalidNHSNumber, wantMsg: true},
		{name: "dispatch add", method: "DispatchAdd", run: dispatchAdd("medway-cad")},
		{name: "dispatch add twice", method: "DispatchAdd", run: dispatchAdd("medway-cad"), wantErr: store.ErrExists, wantMsg: true},
		{name: "dispatch add bad name", method: "DispatchAdd", run: dispatchAdd("Medway CAD"), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "dispatch list", method: "DispatchList", run: dispatchList},
		{name: "dispatch remove unknown", method: "DispatchRemove", run: dispatchRemove("kent-cad"), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "dispatch remove", method: "DispatchRemove", run: dispatchRemove("medway-cad")},
		{name: "incident list before any", method: "IncidentList", run: incidentList},
		{name: "incident open", method: "IncidentOpen", run: incidentOpen(IncidentArgs{ID: "4711", Line: "12 High Street", Postcode: "me11aa", NHS: []string{spaced}, Crew: []string{"cara"}, Expires: "2h"})},
		{name: "incident open again updates", method: "IncidentOpen", run: incidentOpen(IncidentArgs{ID: "4711", Line: "12 High Street", Postcode: "ME1 1AA", NHS: patients[:2], Crew: []string{"cara"}})},
		{name: "incident open unknown crew", method: "IncidentOpen", run: incidentOpen(IncidentArgs{ID: "4712", Line: "12 High Street", Postcode: "ME1 1AA", Crew: []string{"zed"}}), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "incident open bad postcode", method: "IncidentOpen", run: incidentOpen(IncidentArgs{ID: "4712", Line: "12 High Street", Postcode: "ME1", Crew: []string{"cara"}}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "incident open too long", method: "IncidentOpen", run: incidentOpen(IncidentArgs{ID: "4712", Line: "12 High Street", Postcode: "ME1 1AA", Crew: []string{"cara"}, Expires: "13h"}), wantErr: ErrInvalidArgument, wantMsg: true},
		{name: "incident open bad NHS number", method: "IncidentOpen", run: incidentOpen(IncidentArgs{ID: "4712", Line: "12 High Street", Postcode: "ME1 1AA", Crew: []string{"cara"}, NHS: []string{"1234567890"}}), wantErr: record.ErrInvalidNHSNumber, wantMsg: true},
		{name: "incident list", method: "IncidentList", run: incidentList},
		{name: "incident close", method: "IncidentClose", run: incidentClose("4711")},
		{name: "incident close again", method: "IncidentClose", run: incidentClose("4711"), wantErr: store.ErrNotFound, wantMsg: true},
		{name: "user disable", method: "UserDisable", run: disable("cara")},
		{name: "user disable again", method: "UserDisable", run: disable("cara")},
		{name: "user list after disable", method: "UserList", run: userList},
		{name: "device list after disable", method: "DeviceList", run: list},
		{name: "user enable", method: "UserEnable", run: enable("cara")},
		{name: "user list after enable", method: "UserList", run: userList},
		{name: "keys list", method: "KeysList", run: keys(false)},
		{name: "keys rotate", method: "KeysRotate", run: keys(true)},
		{name: "keys list after rotate", method: "KeysList", run: keys(false)},
		{name: "alerts", method: "Alerts", run: alerts},
		{name: "audit verify", method: "AuditVerify", run: verify},
		{name: "org set not met revokes its users' devices", method: "OrgSet", run: orgSet(OrgSetArgs{ODS: "DEFAULT", DSPT: "not-met"})},
		{name: "device list after org set not met", method: "DeviceList", run: list},
	}
}

// TestAdmin_LocalAndRemoteAgree runs every admin operation through
// LocalAdmin on one store and through RemoteAdmin over a real control
// socket on an identical one, and checks each step's result and error
// (message, *AdminError, errors.Is of every sentinel) are the same.
func TestAdmin_LocalAndRemoteAgree(t *testing.T) {
	seedDir := t.TempDir()
	if _, err := demo.Write(seedDir, demo.Options{Patients: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	var patients []string
	for i := range 3 {
		patients = append(patients, demo.NHSNumber(7, i).Digits())
	}
	local := LocalAdmin(adminFixture(t, t.TempDir(), patients))
	remoteDir := shortTempDir(t)
	remoteSvc := adminFixture(t, remoteDir, patients)
	srv, err := ListenAdmin(remoteDir, LocalAdmin(remoteSvc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("admin socket: %v", err)
		}
	})
	remote := RemoteAdmin(remoteDir)

	covered := map[string]bool{}
	for _, st := range adminSteps(seedDir, patients) {
		covered[st.method] = true
		lres, lerr := st.run(context.Background(), local)
		rres, rerr := st.run(context.Background(), remote)
		if st.wantErr == nil && lerr != nil {
			t.Errorf("%s: local: %v", st.name, lerr)
			continue
		}
		if st.wantErr != nil && !errors.Is(lerr, st.wantErr) {
			t.Errorf("%s: local error %v; want %v", st.name, lerr, st.wantErr)
		}
		sameAdminError(t, st, lerr, rerr)
		if lerr != nil || rerr != nil {
			continue
		}
		lj, _ := json.Marshal(lres)
		rj, _ := json.Marshal(rres)
		if string(lj) != string(rj) {
			t.Errorf("%s: results differ\nlocal:  %s\nremote: %s", st.name, lj, rj)
		}
		if reflect.TypeOf(lres) != reflect.TypeOf(rres) {
			t.Errorf("%s: result types %T and %T", st.name, lres, rres)
		}
	}
	at := reflect.TypeFor[Admin]()
	for i := range at.NumMethod() {
		if m := at.Method(i).Name; !covered[m] {
			t.Errorf("Admin.%s is in no step of the table", m)
		}
	}
}

// sameAdminError checks two errors are the same to every caller.
func sameAdminError(t *testing.T, st adminStep, local, remote error) {
	t.Helper()
	if (local == nil) != (remote == nil) {
		t.Errorf("%s: local error %v, remote %v", st.name, local, remote)
		return
	}
	if local == nil {
		return
	}
	if local.Error() != remote.Error() {
		t.Errorf("%s: messages differ\nlocal:  %s\nremote: %s", st.name, local, remote)
	}
	var la, ra *AdminError
	if errors.As(local, &la) != errors.As(remote, &ra) || (la != nil && ra != nil && la.Message != ra.Message) {
		t.Errorf("%s: *AdminError local %v, remote %v", st.name, la, ra)
	}
	if st.wantMsg && la == nil {
		t.Errorf("%s: %v is not an *AdminError", st.name, local)
	}
	for _, s := range adminSentinels {
		if errors.Is(local, s) != errors.Is(remote, s) {
			t.Errorf("%s: errors.Is(%v): local %v, remote %v", st.name, s, errors.Is(local, s), errors.Is(remote, s))
		}
	}
}

// TestRemoteAdmin_NotServing checks a data directory without a serving
// process says so, naming the socket.
func TestRemoteAdmin_NotServing(t *testing.T) {
	dir := shortTempDir(t)
	_, err := RemoteAdmin(dir).Alerts(context.Background())
	if !errors.Is(err, ctlsock.ErrNotAnswering) || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), SocketName) {
		t.Fatalf("error %v; want one saying the admin socket does not answer", err)
	}
}

// TestListenAdmin_RefusesSecondServer checks a second admin socket in the
// same directory is refused while the first answers.
func TestListenAdmin_RefusesSecondServer(t *testing.T) {
	dir := shortTempDir(t)
	svc := adminFixture(t, dir, []string{"9990000018", "9990000026"})
	first, err := ListenAdmin(dir, LocalAdmin(svc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := ListenAdmin(dir, LocalAdmin(svc)); !errors.Is(err, ctlsock.ErrInUse) {
		t.Fatalf("second ListenAdmin = %v; want ErrInUse", err)
	}
	if as, err := RemoteAdmin(dir).Alerts(context.Background()); err != nil || len(as) != 2 {
		t.Fatalf("the first server after a refused second: %d alerts, %v", len(as), err)
	}
}

// shortTempDir is a private folder with a path short enough for a unix
// socket whatever the test's name.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "kmcr-admin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
