package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"kmcr/cache"
	"kmcr/core"
	"kmcr/demo"
	"kmcr/internal/memsecrets"
	"kmcr/record"
	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store"
)

// Test users, all with the same password.
const (
	testPassword   = "correct horse battery"
	testPassphrase = "staple paper clip 42"
	userParamedic  = "para"
	userCommunity  = "comm"
	userFrontDesk  = "desk"
)

// fixture is one real kmcr-server, in process on 127.0.0.1 with TLS and
// synthetic patients, shared by every test in the package.
var fixture struct {
	url, ca string
	// Patients chosen from the demo data for what they show.
	rich     record.NHSNumber // allergies, an active DNACPR or ReSPECT alert, patient-entered readings where possible
	nka      record.NHSNumber // "No known allergies recorded"
	unknown  record.NHSNumber // no allergy information at all
	uncached record.NHSNumber // on the server, in nobody's caseload (for break-glass)
	// uncached's family name and date of birth, for the break-glass trace.
	uncachedFamily string
	uncachedBorn   time.Time
	// uncachedHome is uncached's home address, where a dispatch incident
	// finds them.
	uncachedHome record.Address
	// spare is a caseload patient no other test looks at, and its source
	// Patient key: a test may change their record on the server.
	spare, spareKey string
	richName        string   // rich's family name
	caseload        []string // every patient but uncached
	admin           server.Admin
	users           int // users made by freshUser
	cancel          context.CancelFunc
	serveDone       chan struct{}
}

func TestMain(m *testing.M) {
	time.Local = time.UTC // golden files show times; make them the same everywhere
	dir, err := os.MkdirTemp("", "kmcr-ui-test-")
	if err != nil {
		log.Fatal(err)
	}
	if err := startServer(dir); err != nil {
		log.Fatalf("test server: %v", err)
	}
	code := m.Run()
	fixture.cancel()
	<-fixture.serveDone
	os.RemoveAll(dir)
	os.Exit(code)
}

// startServer makes the store, CA and demo data, and serves them.
func startServer(dir string) error {
	sdir, fhir := filepath.Join(dir, "server"), filepath.Join(dir, "fhir")
	if err := os.MkdirAll(sdir, 0o700); err != nil {
		return err
	}
	st, err := store.OpenBolt(sdir, time.Second)
	if err != nil {
		return err
	}
	ca, err := pki.Init(sdir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		return err
	}
	cert, err := pki.LoadServer(sdir)
	if err != nil {
		return err
	}
	svc, err := server.New(server.Config{Store: st, Password: server.PasswordParams{Time: 1, Memory: 64, Threads: 1},
		Logf: log.New(io.Discard, "", 0).Printf})
	if err != nil {
		return err
	}
	if _, err := demo.Write(fhir, demo.Options{Patients: 60, Seed: 7}); err != nil {
		return err
	}
	if _, err := svc.Import([]string{fhir}, nil); err != nil {
		return err
	}
	if err := choosePatients(fhir); err != nil {
		return err
	}
	imp, err := record.ReadPaths(fhir)
	if err != nil {
		return err
	}
	var caseload []string
	for _, p := range imp.Patients {
		if p.NHS != fixture.uncached {
			caseload = append(caseload, p.NHS.Digits())
		}
	}
	adm := server.LocalAdmin(svc)
	fixture.admin, fixture.caseload = adm, caseload
	for _, u := range []struct{ name, role string }{{userParamedic, "paramedic"}, {userCommunity, "community"}, {userFrontDesk, "frontdesk"}} {
		if err := adm.UserAdd(context.Background(), server.UserAddArgs{Name: u.name, Role: u.role, Password: testPassword}); err != nil {
			return err
		}
		if _, err := adm.CaseloadAdd(context.Background(), server.NHSListArgs{User: u.name, NHS: caseload}); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	fixture.url, fixture.ca, fixture.cancel = "wss://"+ln.Addr().String(), ca, cancel
	fixture.serveDone = make(chan struct{})
	go func() {
		defer close(fixture.serveDone)
		defer st.Close()
		_ = svc.Serve(ctx, ln, pki.ServerTLS(cert))
	}()
	return nil
}

// freshUser adds a user with the standard caseload, for a test whose
// actions (emergency access) would change what later tests see.
func freshUser(t *testing.T, role string) string {
	t.Helper()
	fixture.users++
	name := fmt.Sprintf("%s-%d", role, fixture.users)
	if err := fixture.admin.UserAdd(context.Background(), server.UserAddArgs{Name: name, Role: role, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.admin.CaseloadAdd(context.Background(), server.NHSListArgs{User: name, NHS: fixture.caseload}); err != nil {
		t.Fatal(err)
	}
	return name
}

// choosePatients picks the patients the tests need from the demo data.
func choosePatients(fhir string) error {
	imp, err := record.ReadPaths(fhir)
	if err != nil {
		return err
	}
	best := -1
	for _, p := range imp.Patients {
		s := record.Summarise(p, time.Now())
		score := 0
		if s.Allergies.State == record.StatePresent {
			score += 4
		}
		for _, a := range s.Alerts.Items {
			if a.Active && (a.Kind == record.AlertDNACPR || a.Kind == record.AlertReSPECT) {
				score += 2
				break
			}
		}
		for _, o := range s.Observations.Items {
			if o.PatientEntered {
				score++
				break
			}
		}
		switch {
		case score > best:
			best, fixture.rich, fixture.richName = score, p.NHS, s.Demographics.Name.Family
		case s.Allergies.State == record.StateNoneRecorded && fixture.nka == "":
			fixture.nka = p.NHS
		case s.Allergies.State == record.StateNotAvailable && fixture.unknown == "":
			fixture.unknown = p.NHS
		case score == 0 && fixture.uncached == "":
			fixture.uncached = p.NHS
			fixture.uncachedFamily, fixture.uncachedBorn = s.Demographics.Name.Family, s.Demographics.BirthDate.Time
			fixture.uncachedHome = s.Demographics.Address
		}
	}
	for _, p := range imp.Patients {
		if n := p.NHS; n != fixture.rich && n != fixture.nka && n != fixture.unknown && n != fixture.uncached && fixture.spare == "" {
			fixture.spare, fixture.spareKey = n.Digits(), p.Key
		}
	}
	if fixture.rich == "" || fixture.nka == "" || fixture.unknown == "" || fixture.uncached == "" || fixture.spare == "" {
		return fmt.Errorf("the demo data lacks a patient the tests need: %+v", fixture)
	}
	return nil
}

// fastKDF keeps key derivation cheap in tests.
var fastKDF = cache.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// profile is a client profile folder and its secret store.
type profile struct {
	dir     string
	secrets *memsecrets.Store
}

func newProfile(t *testing.T) *profile {
	return &profile{dir: t.TempDir(), secrets: memsecrets.New()}
}

// openCore opens the profile's core (locked, or not enrolled).
func (p *profile) openCore(t *testing.T) *core.Core {
	t.Helper()
	kc, err := core.Open(core.Config{DataDir: p.dir, Secrets: p.secrets, KDF: fastKDF})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kc.Close() })
	return kc
}

// enrol enrols the profile as user, first sync included, and closes the
// core so the next one starts locked.
func (p *profile) enrol(t *testing.T, user string) {
	t.Helper()
	kc := p.openCore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := kc.Enrol(ctx, core.EnrolRequest{Server: fixture.url, CAFile: fixture.ca, User: user, Password: testPassword,
		Passphrase: []byte(testPassphrase), Host: "test-host"}, nil)
	if err != nil {
		t.Fatalf("enrolling %s: %v", user, err)
	}
	if err := kc.Close(); err != nil {
		t.Fatal(err)
	}
}

// enrolIncomplete enrols user but stops the first sync before its first
// batch: the profile is enrolled and its first sync incomplete.
func (p *profile) enrolIncomplete(t *testing.T, user string) {
	t.Helper()
	kc := p.openCore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := kc.Enrol(ctx, core.EnrolRequest{Server: fixture.url, CAFile: fixture.ca, User: user, Password: testPassword,
		Passphrase: []byte(testPassphrase), Host: "test-host"}, func(st core.SyncState) {
		if st.Kind == core.SyncConnecting {
			cancel()
		}
	})
	if !errors.Is(err, core.ErrFirstSync) {
		t.Fatalf("enrolling with a cancelled first sync: %v", err)
	}
	if err := kc.Close(); err != nil {
		t.Fatal(err)
	}
}

// harness is a UI on the Fyne test driver with a real core. Background
// work reaches widgets through do, which takes mu; the test takes mu too
// whenever it touches widgets, so there is one UI thread as in the real
// driver, and the race detector agrees.
type harness struct {
	t    *testing.T
	core *core.Core
	u    *UI
	a    fyne.App

	mu      sync.Mutex
	closed  bool
	afterDo func() // runs after each hand-over to the UI thread, under mu

	clockMu sync.Mutex
	now     time.Time
}

// newHarness starts the UI on core.
func newHarness(t *testing.T, kc *core.Core) *harness {
	t.Helper()
	h := &harness{t: t, core: kc, a: test.NewTempApp(t), now: time.Now()}
	h.mu.Lock()
	h.u = newUI(h.a, kc, options{now: h.clock, do: h.do})
	h.u.win.Resize(fyne.NewSize(1180, 900))
	h.mu.Unlock()
	t.Cleanup(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
	})
	return h
}

// unlocked enrols user in a new profile and unlocks it through the UI.
func unlocked(t *testing.T, user string) *harness {
	t.Helper()
	p := newProfile(t)
	p.enrol(t, user)
	h := newHarness(t, p.openCore(t))
	h.unlock(testPassphrase)
	h.waitScreen(screenMain)
	return h
}

func (h *harness) clock() time.Time {
	h.clockMu.Lock()
	defer h.clockMu.Unlock()
	return h.now
}

// advance moves the UI's clock on.
func (h *harness) advance(d time.Duration) {
	h.clockMu.Lock()
	h.now = h.now.Add(d)
	h.clockMu.Unlock()
}

func (h *harness) do(fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	fn()
	if h.afterDo != nil {
		h.afterDo()
	}
}

// ui runs fn as the UI thread.
func (h *harness) ui(fn func()) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	fn()
}

// waitFor waits until cond holds on the UI thread.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var ok bool
		h.ui(func() { ok = cond() })
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s; screen %q shows:\n%s", what, h.screen(), h.text())
}

func (h *harness) screen() string {
	var s string
	h.ui(func() { s = h.u.screen })
	return s
}

func (h *harness) waitScreen(name string) {
	h.t.Helper()
	h.waitFor("the "+name+" screen", func() bool { return h.u.screen == name })
}

// unlock types the passphrase on the unlock screen and presses Enter.
func (h *harness) unlock(pass string) {
	h.t.Helper()
	h.waitScreen(screenUnlock)
	h.ui(func() {
		e := h.u.unlockShown.pass
		test.Type(e, pass)
		e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
}

// text is every piece of text the window shows, dialogs included, one
// widget a line (wrapped text is not split).
func (h *harness) text() string {
	var out []string
	h.ui(func() {
		c := h.u.win.Canvas()
		objs := []fyne.CanvasObject{c.Content()}
		objs = append(objs, c.Overlays().List()...)
		for _, o := range objs {
			out = append(out, texts(o)...)
		}
	})
	return strings.Join(out, "\n")
}

// texts collects the text of o and everything drawn inside it.
func texts(o fyne.CanvasObject) []string {
	var out []string
	for _, x := range test.LaidOutObjects(o) {
		if !x.Visible() {
			continue
		}
		switch w := x.(type) {
		case *widget.RichText:
			out = append(out, w.String())
		case *struckText:
			out = append(out, "~~"+w.text+"~~") // struck through, as kmcr show writes it
		case *widget.Label:
			out = append(out, w.Text)
		case *widget.Button:
			out = append(out, w.Text)
		case *entry:
			out = append(out, w.Text)
		case *widget.Check:
			out = append(out, w.Text)
		}
	}
	return out
}

// sectionNames lists the summary sections the window built.
func (h *harness) sectionNames() []string {
	var names []string
	h.ui(func() {
		for _, x := range test.LaidOutObjects(h.u.win.Canvas().Content()) {
			if c, ok := x.(*sectionCard); ok {
				names = append(names, c.name)
			}
		}
	})
	return names
}

// search types q in the search box and presses Enter, and waits for the
// results.
func (h *harness) search(q string) {
	h.t.Helper()
	h.ui(func() {
		h.u.goSearch()
		m := h.u.main
		m.query.SetText("")
		test.Type(m.query, q)
		m.results.clear()
		m.query.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	h.waitFor("search results", func() bool {
		return !h.u.main.busy.Visible() && len(h.u.main.results.note.Segments) > 0
	})
}

// openNHS searches for an NHS number and opens the result with Enter.
func (h *harness) openNHS(nhs record.NHSNumber) {
	h.t.Helper()
	h.search(nhs.String())
	h.ui(func() {
		rows := h.u.main.results.rows
		if len(rows) != 1 {
			h.t.Fatalf("searching %s found %d rows", nhs, len(rows))
		}
		h.u.main.query.TypedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
		if h.u.win.Canvas().Focused() != rows[0] {
			h.t.Fatalf("Down from the search box does not select the first result")
		}
		rows[0].TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	h.waitScreen(screenSummary)
}

// pendingAudit is the core's audit queue length.
func (h *harness) pendingAudit() int { return h.core.Status().PendingAuditEvents }
