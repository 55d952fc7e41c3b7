package main

// The startup suite: from a cold start of the real kmcr binary to a search
// box the user can type in, on an enrolled profile, under Xvfb.
//
// Method. The suite starts an in-process kmcr-server on 127.0.0.1 with
// synthetic patients, enrols a profile through the client core (device
// secret in a file, so no keyring daemon is needed, and the default
// Argon2id parameters, so unlocking costs what it costs in the field), and
// builds kmcr. Each run then starts kmcr on a private Xvfb display with
// KMCR_UI_SCRIPT set to "unlock PASSPHRASE" followed by "mark ready": the
// window types the passphrase as soon as its event loop runs, and prints
// the mark once the main screen is up with the search box focused. The
// time from starting the process to reading the mark is the cold start.
// The deliberate key derivation (Argon2id, measured in this process with
// the same parameters) is reported on its own line and subtracted.
//
// Baselines in the same run: kmcr started on an empty profile until its
// first screen is up (process start, Fyne and OpenGL set-up, one window:
// what any Fyne program pays), and opening the same cache file plainly
// with bbolt and reading every value (what storage alone costs).

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/argon2"

	"kmcr/cache"
	"kmcr/core"
	"kmcr/demo"
	"kmcr/record"
	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store"
)

func init() {
	register(&suite{name: "startup", summary: "cold start of the real kmcr window to a usable search box (Xvfb)", run: runStartup})
}

// startupBudget is the goal: a usable search box within 2 s of a cold
// start, key derivation excluded.
const startupBudget = 2 * time.Second

const (
	startupPassword   = "startup bench password"
	startupPassphrase = "startup bench passphrase 1"
	startupUser       = "bench-paramedic"
)

func runStartup(w io.Writer, opt options) error {
	patients, runs := 2000, 5
	if opt.quick {
		patients, runs = 100, 2
	}
	if _, err := exec.LookPath("Xvfb"); err != nil {
		return errors.New("needs Xvfb (apt-get install xvfb)")
	}
	dir := filepath.Join(opt.dir, "startup")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fmt.Fprintf(w, "Method: the real kmcr binary under Xvfb, driven by KMCR_UI_SCRIPT (unlock, then mark when the\n")
	fmt.Fprintf(w, "search box has the focus); time from process start to the mark; median of %d runs.\n", runs)
	fmt.Fprintf(w, "Profile: %d patients cached, device secret in a file, default Argon2id.\n\n", patients)

	bin, err := startupBuild(dir)
	if err != nil {
		return err
	}
	srv, err := startupServer(filepath.Join(dir, "server"), patients)
	if err != nil {
		return err
	}
	defer srv.stop()
	profile := filepath.Join(dir, "profile")
	if err := startupEnrol(profile, srv); err != nil {
		return err
	}
	display, stopX, err := startupXvfb()
	if err != nil {
		return err
	}
	defer stopX()

	kdf := startupKDF()
	empty := filepath.Join(dir, "empty-profile")
	var cold, first []time.Duration
	for i := 0; i < runs; i++ {
		d, err := startupRun(bin, display, profile, "unlock "+startupPassphrase+"\nmark ready\nquit\n", filepath.Join(dir, "script"))
		if err != nil {
			return fmt.Errorf("cold start run %d: %w", i+1, err)
		}
		cold = append(cold, d)
		os.RemoveAll(empty)
		d, err = startupRun(bin, display, empty, "mark ready\nquit\n", filepath.Join(dir, "script"))
		if err != nil {
			return fmt.Errorf("baseline run %d: %w", i+1, err)
		}
		first = append(first, d)
	}
	plain, err := startupPlainOpen(filepath.Join(profile, "cache.db"))
	if err != nil {
		return err
	}
	med := func(ds []time.Duration) time.Duration {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	total, base := med(cold), med(first)
	excl := total - kdf
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	t := &table{w: w}
	t.row("measurement", "median", "note")
	t.row("key derivation (Argon2id t=3 m=64MiB p=4)", ms(kdf), "deliberate cost, reported on its own")
	t.row("cold start to usable search box, total", ms(total), "includes key derivation")
	t.row("cold start to usable search box, KDF excluded", ms(excl), fmt.Sprintf("budget %s: %s", ms(startupBudget), map[bool]string{true: "MET", false: "MISSED"}[excl < startupBudget]))
	t.row("baseline: kmcr on an empty profile to its first screen", ms(base), "process, Fyne, OpenGL, one window")
	t.row("baseline: plain bbolt open and read of the same cache", ms(plain), "storage alone")
	t.flush()
	fmt.Fprintf(w, "\nRatio (KDF excluded) / first-screen baseline: %.2fx; / plain bbolt read: %.1fx\n",
		float64(excl)/float64(base), float64(excl)/float64(max(plain, time.Microsecond)))
	fmt.Fprintf(w, "Every run, ms: cold %v; first screen %v\n", startupMillis(cold), startupMillis(first))
	return nil
}

func startupMillis(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Milliseconds()
	}
	return out
}

// startupBuild builds kmcr next to the scratch data (KMCR_BIN overrides:
// a kmcr built with -tags screenshots).
func startupBuild(dir string) (string, error) {
	if b := os.Getenv("KMCR_BIN"); b != "" {
		return b, nil
	}
	bin := filepath.Join(dir, "kmcr")
	// The screenshots tag adds the KMCR_UI_SCRIPT driver that unlocks and
	// marks the main screen; the rest of the binary is the shipped one.
	cmd := exec.Command("go", "build", "-tags", "screenshots", "-o", bin, "kmcr/cmd/kmcr")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building kmcr (set KMCR_BIN to use a built one): %w", err)
	}
	return bin, nil
}

type startupSrv struct {
	url, ca string
	stop    func()
}

// startupServer serves synthetic patients on 127.0.0.1 with TLS.
func startupServer(dir string, patients int) (*startupSrv, error) {
	fhir := filepath.Join(dir, "fhir")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	st, err := store.OpenBolt(dir, time.Second)
	if err != nil {
		return nil, err
	}
	ca, err := pki.Init(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		return nil, err
	}
	cert, err := pki.LoadServer(dir)
	if err != nil {
		return nil, err
	}
	svc, err := server.New(server.Config{Store: st, Logf: log.New(io.Discard, "", 0).Printf})
	if err != nil {
		return nil, err
	}
	if _, err := demo.Write(fhir, demo.Options{Patients: patients, Seed: 7}); err != nil {
		return nil, err
	}
	if _, err := svc.Import([]string{fhir}, nil); err != nil {
		return nil, err
	}
	imp, err := record.ReadPaths(fhir)
	if err != nil {
		return nil, err
	}
	var nhs []string
	for _, p := range imp.Patients {
		nhs = append(nhs, p.NHS.Digits())
	}
	adm := server.LocalAdmin(svc)
	if err := adm.UserAdd(context.Background(), server.UserAddArgs{Name: startupUser, Role: "paramedic", Password: startupPassword}); err != nil {
		return nil, err
	}
	if _, err := adm.CaseloadAdd(context.Background(), server.NHSListArgs{User: startupUser, NHS: nhs}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Serve(ctx, ln, pki.ServerTLS(cert))
		st.Close()
	}()
	return &startupSrv{url: "wss://" + ln.Addr().String(), ca: ca, stop: func() { cancel(); <-done }}, nil
}

// startupEnrol enrols the profile, first sync included, then closes it.
func startupEnrol(dir string, srv *startupSrv) error {
	kc, err := core.Open(core.Config{DataDir: dir})
	if err != nil {
		return err
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return kc.Enrol(ctx, core.EnrolRequest{Server: srv.url, CAFile: srv.ca, User: startupUser, Password: startupPassword,
		Passphrase: []byte(startupPassphrase), DeviceSecretFile: filepath.Join(filepath.Dir(dir), "device-secret"), Host: "bench"}, nil)
}

// startupXvfb starts a private X display.
func startupXvfb() (string, func(), error) {
	for n := 180; n < 220; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		display := fmt.Sprintf(":%d", n)
		cmd := exec.Command("Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				return display, stop, nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		return "", nil, errors.New("the X server (Xvfb) did not start")
	}
	return "", nil, errors.New("no free X display number")
}

// startupKDF times one Argon2id derivation with the cache's defaults.
func startupKDF() time.Duration {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	p := cache.DefaultKDF
	start := time.Now()
	argon2.IDKey([]byte(startupPassphrase), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	return time.Since(start)
}

// startupRun starts kmcr with a script and returns the time until it
// prints "mark ready".
func startupRun(bin, display, profile, script, scriptPath string) (time.Duration, error) {
	if err := os.WriteFile(scriptPath, []byte(script), 0o600); err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, "--data-dir", profile)
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "LANG=en_GB.UTF-8", "KMCR_UI_SCRIPT="+scriptPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	found := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "kmcr-ui-script: mark ready") {
				found <- time.Since(start)
			}
		}
		close(found)
	}()
	select {
	case d, ok := <-found:
		if !ok {
			return 0, fmt.Errorf("kmcr exited without the mark: %s", stderr.String())
		}
		return d, nil
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("no mark after 2 minutes: %s", stderr.String())
	}
}

// startupPlainOpen opens the cache file with bbolt alone and reads every
// value: the storage part of a start, without keys or a window.
func startupPlainOpen(path string) (time.Duration, error) {
	start := time.Now()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return 0, err
	}
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error { n += len(v); return nil })
		})
	})
	db.Close()
	return time.Since(start), err
}
