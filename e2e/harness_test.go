package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"kmcr/internal/pgtest"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kmcr/demo"
	"kmcr/server/pki"
)

// The programs under test, built once by TestMain.
var (
	kmcrBin   string
	serverBin string
)

// baseEnv is the environment of every command: Fyne logs a harmless locale
// error under a plain C locale.
var baseEnv = []string{"LANG=en_GB.UTF-8"}

// cmdTimeout bounds any one command, so a hung program fails its test
// instead of the whole run.
const cmdTimeout = 3 * time.Minute

func TestMain(m *testing.M) {
	os.Setenv("LANG", "en_GB.UTF-8")
	dir, err := os.MkdirTemp("", "kmcr-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "kmcr/cmd/kmcr", "kmcr/cmd/kmcr-server")
	build.Env = append(os.Environ(), baseEnv...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the programs: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	kmcrBin, serverBin = filepath.Join(dir, "kmcr"), filepath.Join(dir, "kmcr-server")
	code := pgtest.Main(m) // and stops the PostgreSQL server of the cluster tests, if one started
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is how one command ended.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int  // exit code; -1 when killed by a signal
	killed bool // ended by our SIGKILL
	took   time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("%s: exit %d (killed %v) after %v\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.code, r.killed, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// runOpts are the optional parts of a command.
type runOpts struct {
	env       []string
	stdin     string
	killAfter time.Duration // > 0: SIGKILL the process this long after it starts
	// killWhen, when set, is polled every millisecond while the process
	// runs; the process is SIGKILLed as soon as it returns true.
	killWhen func() bool
}

// run runs bin with args and waits for it.
func run(t testing.TB, bin string, o runOpts, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), baseEnv...), o.env...)
	cmd.Stdin = strings.NewReader(o.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	var timer *time.Timer
	if o.killAfter > 0 {
		timer = time.AfterFunc(o.killAfter, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	}
	exited := make(chan struct{})
	if o.killWhen != nil {
		go func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-exited:
					return
				case <-tick.C:
					if o.killWhen() {
						_ = cmd.Process.Signal(syscall.SIGKILL)
						return
					}
				}
			}
		}()
	}
	err := cmd.Wait()
	close(exited)
	if timer != nil {
		timer.Stop()
	}
	r := result{args: append([]string{filepath.Base(bin)}, args...), stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %v:\n%s", bin, cmdTimeout, r)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = -1
			r.killed = ws.Signal() == syscall.SIGKILL && (o.killAfter > 0 || o.killWhen != nil)
		}
	default:
		t.Fatalf("running %s: %v", bin, err)
	}
	return r
}

// mustRun runs a command that must succeed.
func mustRun(t testing.TB, bin string, o runOpts, args ...string) result {
	t.Helper()
	r := run(t, bin, o, args...)
	if r.code != 0 {
		t.Fatalf("want success:\n%s", r)
	}
	return r
}

// serverData is a kmcr-server data folder made with the real command.
type serverData struct {
	t       testing.TB
	dir     string
	ca      string
	seed    uint64
	nhs     []string // the seeded patients' NHS numbers, in seed order
	seedDir string
	epoch   string // the store's epoch, as init reported it
}

// newServerData runs "kmcr-server init", "seed" and "import" for patients
// synthetic patients (none when 0).
func newServerData(t testing.TB, patients int, seed uint64) *serverData {
	t.Helper()
	root := t.TempDir()
	d := &serverData{t: t, dir: filepath.Join(root, "server"), seed: seed}
	out := mustRun(t, serverBin, runOpts{}, "init", "--data-dir", d.dir)
	if !strings.Contains(out.stdout, "CA certificate: ") {
		t.Fatalf("init did not name its CA file:\n%s", out)
	}
	if _, rest, ok := strings.Cut(out.stdout, "(epoch "); ok {
		d.epoch, _, _ = strings.Cut(rest, ")")
	}
	if d.epoch == "" {
		t.Fatalf("init did not name the store's epoch:\n%s", out)
	}
	d.ca = filepath.Join(d.dir, pki.CAFile)
	if patients > 0 {
		d.seedDir = filepath.Join(root, "seed")
		mustRun(t, serverBin, runOpts{}, "seed", "--patients", fmt.Sprint(patients), "--seed", fmt.Sprint(seed), "--out", d.seedDir)
		mustRun(t, serverBin, runOpts{}, "import", "--data-dir", d.dir, d.seedDir)
		d.nhs = seededNHS(seed, patients)
	}
	return d
}

// seededNHS lists the NHS numbers "kmcr-server seed" gives its patients.
func seededNHS(seed uint64, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = demo.NHSNumber(seed, i).Digits()
	}
	return out
}

// admin runs a kmcr-server admin command on this data folder (through the
// control socket when a server is running).
func (d *serverData) admin(o runOpts, args ...string) result {
	d.t.Helper()
	return run(d.t, serverBin, o, append(args, "--data-dir", d.dir)...)
}

func (d *serverData) mustAdmin(args ...string) result {
	d.t.Helper()
	r := d.admin(runOpts{}, args...)
	if r.code != 0 {
		d.t.Fatalf("want success:\n%s", r)
	}
	return r
}

// addUser adds a user whose password is "password-" + name.
func (d *serverData) addUser(name, role string, caseload ...string) {
	d.t.Helper()
	r := d.admin(runOpts{stdin: userPassword(name) + "\n"}, "user", "add", "--name", name, "--role", role, "--password-stdin")
	if r.code != 0 {
		d.t.Fatalf("adding %s:\n%s", name, r)
	}
	if len(caseload) > 0 {
		d.mustAdmin(append([]string{"caseload", "add", "--user", name, "--nhs"}, caseload...)...)
	}
}

func userPassword(name string) string { return "password-" + name }

// serverProc is a running "kmcr-server serve".
type serverProc struct {
	d      *serverData
	addr   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve starts "kmcr-server serve" on addr ("127.0.0.1:0" for a free
// port), reads the address it prints, and waits for /healthz. The server
// is stopped when the test ends. extra are more serve flags.
func (d *serverData) serve(addr string, extra ...string) *serverProc {
	t := d.t
	t.Helper()
	cmd := exec.Command(serverBin, append([]string{"serve", "--data-dir", d.dir, "--addr", addr}, extra...)...)
	cmd.Env = append(os.Environ(), baseEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProc{d: d, cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		close(lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(p.stop)
	select {
	case line, ok := <-lines:
		const prefix = "listening on https://"
		if !ok || !strings.HasPrefix(line, prefix) {
			t.Fatalf("kmcr-server serve printed %q, want %q...; stderr:\n%s", line, prefix, p.stderr)
		}
		p.addr = strings.Fields(strings.TrimPrefix(line, prefix))[0]
	case <-time.After(30 * time.Second):
		t.Fatalf("kmcr-server serve printed no address within 30 s; stderr:\n%s", p.stderr)
	}
	p.waitHealthy()
	return p
}

// url is the server's websocket address for kmcr enrol.
func (p *serverProc) url() string { return "wss://" + p.addr }

func (p *serverProc) waitHealthy() {
	t := p.d.t
	t.Helper()
	pool, err := pki.LoadCAPool(p.d.ca)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	eventually(t, 30*time.Second, "kmcr-server /healthz", func() error {
		resp, err := hc.Get("https://" + p.addr + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
}

// epoch is the store's epoch (/healthz reveals nothing: init reports it).
func (p *serverProc) epoch() string { return p.d.epoch }

// stop sends SIGTERM and waits for the server to drain and exit.
func (p *serverProc) stop() {
	if p.cmd.ProcessState != nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			p.d.t.Errorf("kmcr-server serve exited with %v after SIGTERM; stderr:\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.d.t.Errorf("kmcr-server serve did not stop within 30 s of SIGTERM; stderr:\n%s", p.stderr)
	}
}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	wait := 10 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// profile is a kmcr client profile folder whose device secret is in a file.
type profile struct {
	t      testing.TB
	dir    string
	secret string
	pass   string
}

const testPassphrase = "correct horse battery staple"

func newProfile(t testing.TB) *profile {
	root := t.TempDir()
	return &profile{t: t, dir: filepath.Join(root, "profile"), secret: filepath.Join(root, "device.secret"), pass: testPassphrase}
}

// kmcr runs the kmcr command line on this profile, with the passphrase in
// KMCR_PASSPHRASE.
func (p *profile) kmcr(o runOpts, args ...string) result {
	p.t.Helper()
	o.env = append([]string{"KMCR_PASSPHRASE=" + p.pass}, o.env...)
	return run(p.t, kmcrBin, o, append([]string{"--data-dir", p.dir}, args...)...)
}

func (p *profile) mustKmcr(args ...string) result {
	p.t.Helper()
	r := p.kmcr(runOpts{}, args...)
	if r.code != 0 {
		p.t.Fatalf("want success:\n%s", r)
	}
	return r
}

// enrolArgs are the arguments of kmcr enrol for user on server.
func (p *profile) enrolArgs(serverURL, ca, user string) []string {
	return []string{"enrol", "--server", serverURL, "--ca", ca, "--user", user, "--password-stdin", "--device-secret-file", p.secret}
}

// enrol runs kmcr enrol, which must succeed.
func (p *profile) enrol(serverURL, ca, user string) result {
	p.t.Helper()
	r := p.kmcr(runOpts{stdin: userPassword(user) + "\n"}, p.enrolArgs(serverURL, ca, user)...)
	if r.code != 0 {
		p.t.Fatalf("enrol:\n%s", r)
	}
	return r
}

// cliStatus is the part of "kmcr status --json" the tests read.
type cliStatus struct {
	Enrolled           bool   `json:"enrolled"`
	User               string `json:"user"`
	Role               string `json:"role"`
	DeviceID           string `json:"device_id"`
	Connection         string `json:"connection"`
	FirstSyncComplete  bool   `json:"first_sync_complete"`
	CachedPatients     int    `json:"cached_patients"`
	PendingAuditEvents int    `json:"pending_audit_events"`
	Damaged            int    `json:"damaged_records"`
}

func (p *profile) status() cliStatus {
	p.t.Helper()
	r := p.mustKmcr("status", "--json")
	var st cliStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		p.t.Fatalf("status --json: %v\n%s", err, r)
	}
	return st
}

// banner is how "kmcr show" prints a patient's NHS number in the banner.
func banner(nhs string) string {
	return "NHS No. " + nhs[:3] + " " + nhs[3:6] + " " + nhs[6:]
}

// accessEvent is one AuditEvent of "kmcr-server access-log --json", reduced
// to what the tests compare.
type accessEvent struct {
	ID       string
	Action   string // FHIR action: R for a read
	Type     string // type.code: "rest" for a view or search
	Outcome  string
	Seq      string
	Device   string
	User     string
	Purposes []string // purposeOfEvent codes
	Reasons  []string // purposeOfEvent texts (a break-glass reason)
	Patient  string
}

// parseAccessLog reads the FHIR Bundle of AuditEvents.
func parseAccessLog(t testing.TB, b []byte) []accessEvent {
	t.Helper()
	type coding struct{ System, Code string }
	var bundle struct {
		ResourceType string
		Total        int
		Entry        []struct {
			FullURL  string
			Resource struct {
				ID        string
				Action    string
				Type      coding
				Outcome   string
				Extension []struct {
					URL         string
					ValueString string
				}
				PurposeOfEvent []struct {
					Coding []coding
					Text   string
				}
				Agent []struct {
					Requestor bool
					Who       struct{ Identifier struct{ Value string } }
				}
				Source struct {
					Observer struct{ Identifier struct{ Value string } }
				}
				Entity []struct {
					What *struct {
						Type       string
						Identifier *struct{ Value string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatalf("access-log --json is not a Bundle: %v\n%s", err, b)
	}
	if bundle.ResourceType != "Bundle" || bundle.Total != len(bundle.Entry) {
		t.Fatalf("access-log --json: resourceType %q, total %d, %d entries", bundle.ResourceType, bundle.Total, len(bundle.Entry))
	}
	out := make([]accessEvent, 0, len(bundle.Entry))
	for _, e := range bundle.Entry {
		r := e.Resource
		ev := accessEvent{ID: r.ID, Action: r.Action, Type: r.Type.Code, Outcome: r.Outcome, Device: r.Source.Observer.Identifier.Value}
		for _, x := range r.Extension {
			if strings.HasSuffix(x.URL, "/audit-device-sequence") {
				ev.Seq = x.ValueString
			}
		}
		for _, a := range r.Agent {
			if a.Requestor {
				ev.User = a.Who.Identifier.Value
			}
		}
		for _, p := range r.PurposeOfEvent {
			for _, c := range p.Coding {
				ev.Purposes = append(ev.Purposes, c.Code)
			}
			if p.Text != "" {
				ev.Reasons = append(ev.Reasons, p.Text)
			}
		}
		for _, en := range r.Entity {
			if en.What != nil && en.What.Type == "Patient" && en.What.Identifier != nil {
				ev.Patient = en.What.Identifier.Value
			}
		}
		out = append(out, ev)
	}
	return out
}

// isView reports whether an access-log entry is a successful read of a
// summary: a view (BALP patient read). A break-glass event is not one; it
// maps to an emergency-override security event.
func (e accessEvent) isView() bool { return e.Action == "R" && e.Type == "rest" && e.Outcome == "0" }

// accessLog runs "kmcr-server access-log --nhs N --json".
func (d *serverData) accessLog(nhs string) []accessEvent {
	d.t.Helper()
	r := d.mustAdmin("access-log", "--nhs", nhs, "--json")
	return parseAccessLog(d.t, []byte(r.stdout))
}

// serverAlert is one entry of "kmcr-server alerts --json".
type serverAlert struct {
	Kind   string `json:"kind"`
	Device string `json:"device"`
	User   string `json:"user"`
	NHS    string `json:"nhs"`
	Seq    uint64 `json:"seq"`
	Detail string `json:"detail"`
}

func (d *serverData) alerts() []serverAlert {
	d.t.Helper()
	r := d.mustAdmin("alerts", "--json")
	var out []serverAlert
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		d.t.Fatalf("alerts --json: %v\n%s", err, r)
	}
	return out
}

// alertsOf keeps the alerts of one kind for one device.
func alertsOf(as []serverAlert, kind, device string) []serverAlert {
	var out []serverAlert
	for _, a := range as {
		if a.Kind == kind && (device == "" || a.Device == device) {
			out = append(out, a)
		}
	}
	return out
}

// logSink keeps the diagnostics of in-process servers and clients and
// prints them only if the test fails: goroutines may log after the test
// has returned, when t.Logf would panic.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

const maxLogLines = 400

func newLogSink(t testing.TB) *logSink {
	s := &logSink{}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Logf("last %d diagnostic lines:\n%s", len(s.lines), strings.Join(s.lines, "\n"))
	})
	return s
}

func (s *logSink) logf(format string, args ...any) {
	line := time.Now().Format("15:04:05.000 ") + fmt.Sprintf(format, args...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lines) >= maxLogLines {
		s.lines = s.lines[1:]
	}
	s.lines = append(s.lines, line)
}

// prefixed returns a logf that tags its lines.
func (s *logSink) prefixed(p string) func(string, ...any) {
	return func(format string, args ...any) { s.logf(p+format, args...) }
}

var _ io.Writer = (*syncBuffer)(nil)
