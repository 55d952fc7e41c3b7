package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"kmcr/demo"
	"kmcr/internal/pgtest"
	"kmcr/server"
	"kmcr/server/store"
	"kmcr/server/store/postgres"
)

// boltWithEverything is a bbolt store with imported demo patients, users,
// caseloads, an objection, a break-glass relationship, a device with
// audit events in two months, a conflict and alerts.
func boltWithEverything(t *testing.T) (*store.Bolt, []string) {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seed := t.TempDir()
	if _, err := demo.Write(seed, demo.Options{Patients: 12, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	svc, err := server.New(server.Config{Store: st, Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Import([]string{seed}, nil); err != nil {
		t.Fatal(err)
	}
	var nhs []string
	for i := range 12 {
		nhs = append(nhs, demo.NHSNumber(7, i).Digits())
	}
	at := time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)
	must(t, st.AddUser(store.User{Name: "amy", Role: "paramedic", PasswordHash: "h", Created: at, Org: "RKA01"}))
	must(t, st.AddUser(store.User{Name: "bob", Role: "community", PasswordHash: "h2", Created: at}))
	must(t, st.AddOrg(store.Org{ODS: "RKA01", Name: "Kent and Medway Ambulance Service", Kind: "ambulance", DSPT: "not-met", Created: at, Updated: at.Add(time.Hour)}))
	if _, err := st.CaseloadAdd("amy", nhs[:5]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CaseloadAdd("bob", nhs[3:8]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CaseloadRemove("bob", nhs[4:5]); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"research", "planning"} {
		if _, err := st.Object(nhs[2], p); err != nil {
			t.Fatal(err)
		}
	}
	must(t, st.GrantRelationship(store.Relationship{User: "amy", NHS: nhs[9], Granted: at, Expires: at.Add(24 * 365 * time.Hour), ReasonCode: "emergency-treatment", ReasonText: "why", Device: "device-1"}))
	must(t, st.AddDispatcher(store.Dispatcher{Name: "medway-cad", SecretHash: []byte{1, 2, 3}, Created: at}))
	if _, _, err := st.PutIncident(store.Incident{ID: "4711", Source: "medway-cad", Address: "12 High Street", Postcode: "ME1 1AA",
		Opened: at, Updated: at, Expires: at.Add(24 * 365 * time.Hour), Crew: []string{"amy", "bob"}, NHS: nhs[10:12], Named: nhs[11:12]}); err != nil {
		t.Fatal(err)
	}
	must(t, st.RegisterDevice(store.Device{ID: "device-1", User: "amy", PublicKey: []byte{1, 2}, Host: "h", Registered: at, LastSeen: at, RefreshHash: []byte{3}, RefreshExpires: at.Add(time.Hour), TokenGen: 2}))
	var evs []store.StoredEvent
	for seq := 1; seq <= 6; seq++ {
		evs = append(evs, store.StoredEvent{Device: "device-1", Seq: uint64(seq), Hash: []byte{byte(seq)}, Canonical: []byte(fmt.Sprintf(`{"seq":%d}`, seq)),
			Recorded: at.Add(time.Duration(seq) * 30 * time.Minute), NHS: nhs[seq%3]})
	}
	conflict := evs[0]
	conflict.Hash, conflict.Reason = []byte{0xee}, "second version"
	must(t, st.StoreAudit("device-1", evs, []store.StoredEvent{conflict}, []store.Alert{{Kind: "audit-conflict", Device: "device-1", Seq: 1, Detail: "d", At: at}}, []byte("chain")))
	must(t, st.AddAlerts([]store.Alert{{Kind: "break-glass", User: "amy", NHS: nhs[9], Detail: "d", At: at}}))
	// The notification outbox: one sent, one pending under a claim, one
	// quiet; an address.
	if _, err := st.AddNotifications([]store.Notification{
		{ID: "break-glass/device-1/3", NHS: nhs[0], Kind: store.NotifyBreakGlass, Org: "RKA01", Who: "Amy", At: at, Created: at},
		{ID: "first-view/" + nhs[0] + "/RKA01", NHS: nhs[0], Kind: store.NotifyFirstView, Org: "RKA01", At: at, Created: at.Add(time.Second)},
		{ID: "first-view/" + nhs[1] + "/RKA01", NHS: nhs[1], Kind: store.NotifyFirstView, Org: "RKA01", At: at, Created: at, Quiet: true},
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.ClaimNotification("node-1", at, time.Minute); err != nil {
		t.Fatal(err)
	}
	must(t, st.NotificationSent("break-glass/device-1/3", "node-1", at.Add(time.Minute), "p@example.org"))
	if _, _, err := st.ClaimNotification("node-1", at.Add(2*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	must(t, st.SetContact(nhs[0], "p@example.org"))
	if _, err := st.Secret("access-token"); err != nil {
		t.Fatal(err)
	}
	return st, nhs
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// view is everything a store answers, as text, for comparing two stores.
// Times are compared to the microsecond, the finest PostgreSQL keeps.
func view(t *testing.T, s store.Store, nhs []string) []string {
	t.Helper()
	var out []string
	add := func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) }
	seq, err := s.LastSeq()
	must(t, err)
	add("epoch %s seq %d", s.Epoch(), seq)
	key, err := s.Secret("access-token")
	must(t, err)
	add("secret %x", key)
	must(t, s.Changes(0, func(c store.Change) error {
		add("change %d %s %s %s %s %s %s", c.Seq, c.Kind, c.NHS, c.User, c.Device, c.Reason, c.At.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
		return nil
	}))
	us, err := s.Users()
	must(t, err)
	slices.SortFunc(us, func(a, b store.User) int { return cmpStr(a.Name, b.Name) })
	for _, u := range us {
		add("user %s %s %s %s org %q", u.Name, u.Role, u.PasswordHash, u.Created.UTC().Truncate(time.Microsecond), u.Org)
		must(t, s.Permitted(u.Name, "", time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), func(n, rel string, exp time.Time) error {
			add("  permitted %s %s %s", n, rel, exp.UTC().Truncate(time.Microsecond))
			return nil
		}))
	}
	os, err := s.Orgs()
	must(t, err)
	for _, o := range os {
		add("org %s %s %s %s %s %s", o.ODS, o.Name, o.Kind, o.DSPT, o.Created.UTC().Truncate(time.Microsecond), o.Updated.UTC().Truncate(time.Microsecond))
	}
	ds, err := s.Devices()
	must(t, err)
	for _, d := range ds {
		add("device %s %s %x %s %s %s %v %x %s %d %s", d.ID, d.User, d.PublicKey, d.Host, d.Registered.UTC().Truncate(time.Microsecond), d.LastSeen.UTC().Truncate(time.Microsecond), d.Revoked, d.RefreshHash, d.RefreshExpires.UTC().Truncate(time.Microsecond), d.TokenGen, d.Chain)
		must(t, s.AuditEvents(d.ID, func(e store.StoredEvent) error {
			add("  event %d %x %s %s %s", e.Seq, e.Hash, e.Canonical, e.Recorded.UTC().Truncate(time.Microsecond), e.NHS)
			return nil
		}))
		must(t, s.Conflicts(d.ID, func(e store.StoredEvent) error {
			add("  conflict %d %x %s", e.Seq, e.Hash, e.Reason)
			return nil
		}))
	}
	for _, n := range nhs {
		m, err := s.Patient(n)
		must(t, err)
		add("patient %s v%d %x %v %d %v %v %s %s %v %v", m.NHS, m.Version, m.DocHash, m.Sections, m.Sensitive, m.Omitted, m.TooLarge, m.Updated.UTC().Truncate(time.Microsecond), m.FamilyIndex, m.Keys, m.Addresses)
		for _, kind := range []string{store.DocFull, store.DocDemographics} {
			d, err := s.Doc(n, kind)
			if errors.Is(err, store.ErrNotFound) {
				add("  no %s", kind)
				continue
			}
			must(t, err)
			add("  doc %s %d bytes %x", kind, len(d), d[:min(len(d), 64)])
		}
		keys, err := s.PatientKeys(n)
		must(t, err)
		for _, k := range keys {
			rs, err := s.PatientResources(k)
			must(t, err)
			for _, r := range rs {
				add("  resource %s %s %s %d", k, r.Key, r.FullURL, len(r.Raw))
			}
		}
		os, err := s.Objections(n)
		must(t, err)
		add("  objections %v", os)
		ns, err := s.PatientNotifications(n)
		must(t, err)
		for _, x := range ns {
			add("  notification %s %s %s %s %s %s %s %d %s sent %s to %s", x.ID, x.Kind, x.Org, x.Who, x.At.UTC(), x.Created.UTC(), x.ClaimedBy, x.Attempts, x.ClaimedAt.UTC(), x.Sent.UTC(), x.To)
		}
		for _, id := range []string{"first-view/" + n + "/RKA01"} {
			if x, err := s.Notification(id); err == nil {
				add("  notification %s quiet %v", x.ID, x.Quiet)
			}
		}
		email, err := s.Contact(n)
		must(t, err)
		add("  contact %q", email)
		must(t, s.AccessLog(n, func(e store.StoredEvent) error { add("  viewed %s/%d", e.Device, e.Seq); return nil }))
	}
	must(t, s.Alerts(func(a store.Alert) error {
		add("alert %d %s %s %s %s %d %s %s", a.ID, a.Kind, a.Device, a.User, a.NHS, a.Seq, a.Detail, a.At.UTC().Truncate(time.Microsecond))
		return nil
	}))
	c, err := s.PatientCount()
	must(t, err)
	add("patients %d", c)
	dis, err := s.Dispatchers()
	must(t, err)
	for _, d := range dis {
		add("dispatcher %s %x %s", d.Name, d.SecretHash, d.Created.UTC())
	}
	must(t, s.Incidents(func(in store.Incident) error {
		add("incident %+v", in)
		return nil
	}))
	for _, u := range []string{"amy", "bob"} {
		for _, n := range nhs {
			if exp, ok, err := s.IncidentGrant(u, n, time.Now()); err != nil || ok {
				add("incident grant %s %s %v %v", u, n, exp, err)
			}
		}
	}
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestImport_CopiesABoltStoreWhole: a bbolt store copied into PostgreSQL
// answers every question the same, keeps its epoch and change sequence
// (so a client's cursor means the same), and numbering carries on.
func TestImport_CopiesABoltStoreWhole(t *testing.T) {
	src, nhs := boltWithEverything(t)
	url := pgtest.NewDB(t, "")
	rep, err := postgres.Import(context.Background(), url, src.Export)
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := src.LastSeq()
	if rep.Epoch != src.Epoch() || rep.LastSeq != seq || rep.Rows["patient"] != len(nhs) || rep.Rows["audit_event"] != 6 {
		t.Fatalf("copy report %+v", rep)
	}
	dst := open(t, url)
	want, got := view(t, src, nhs), view(t, dst, nhs)
	if !slices.Equal(want, got) {
		for i := range max(len(want), len(got)) {
			var w, g string
			if i < len(want) {
				w = want[i]
			}
			if i < len(got) {
				g = got[i]
			}
			if w != g {
				t.Errorf("line %d:\nbbolt:      %s\npostgresql: %s", i, w, g)
			}
		}
		t.FailNow()
	}
	// A cursor from the bbolt store reads the same changes after it.
	var a, b []uint64
	must(t, src.Changes(seq-3, func(c store.Change) error { a = append(a, c.Seq); return nil }))
	must(t, dst.Changes(seq-3, func(c store.Change) error { b = append(b, c.Seq); return nil }))
	if !slices.Equal(a, b) || len(a) != 3 {
		t.Fatalf("changes after a cursor: bbolt %v, postgresql %v", a, b)
	}
	// New changes and alerts carry on the numbering.
	if _, err := dst.CaseloadAdd("bob", nhs[10:11]); err != nil {
		t.Fatal(err)
	}
	if n, _ := dst.LastSeq(); n != seq+1 {
		t.Fatalf("the first change after the copy is %d; want %d", n, seq+1)
	}
	must(t, dst.AddAlerts([]store.Alert{{Kind: "k", Detail: "d", At: time.Now().UTC()}}))
	var ids []uint64
	must(t, dst.Alerts(func(a store.Alert) error { ids = append(ids, a.ID); return nil }))
	if !slices.Equal(ids, []uint64{1, 2, 3}) {
		t.Fatalf("alert numbers after the copy: %v", ids)
	}
	// A second copy into the same database is refused, changing nothing.
	if _, err := postgres.Import(context.Background(), url, src.Export); !errors.Is(err, postgres.ErrNotEmpty) {
		t.Fatalf("a copy into a store in use: %v; want ErrNotEmpty", err)
	}
	if n, _ := dst.LastSeq(); n != seq+1 {
		t.Fatalf("a refused copy moved the sequence to %d", n)
	}
}
