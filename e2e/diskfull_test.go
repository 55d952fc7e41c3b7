package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fillDisk writes path until the filesystem is full, down to single bytes.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 64 << 10, 4 << 10, 1} {
		chunk := make([]byte, size)
		for {
			if _, err := f.Write(chunk); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
	}
}

// TestDiskFull_OutboxWrite guards "no view without an event" when the
// event cannot be written: with the profile on a small filesystem that is
// full, opening a patient fails with a clear error and shows nothing (no
// view is returned, kmcr show prints no summary); once space is freed it
// works again, and every view that was shown has its event delivered.
// The profile lives on a tmpfs of its own, so this needs permission to
// mount (root, or CAP_SYS_ADMIN); elsewhere it is skipped.
func TestDiskFull_OutboxWrite(t *testing.T) {
	t.Parallel()
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m,mode=0700"); err != nil {
		t.Skipf("skipped: a full disk is simulated with an 8 MiB tmpfs, and mounting one is not permitted here (%v); run as root to include it", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmounting the test tmpfs: %v", err)
		}
	})

	srv := newInprocServer(t, inprocOpts{patients: 5, seed: 61})
	srv.addUser("para", "paramedic", srv.nhs...)
	p := &profile{t: t, dir: filepath.Join(mnt, "profile"), secret: filepath.Join(mnt, "device.secret"), pass: testPassphrase}
	c := enrolCore(t, p, srv.url(), srv.ca, "para", coreOpts{}, srv.logs.prefixed("client: "))
	device := c.Profile().DeviceID
	nhs := srv.nhs[0]

	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)
	// bbolt reuses pages freed by earlier commits, so the first few opens
	// may still fit; every open either shows the patient with its event
	// committed, or shows nothing.
	shown, failed := 0, 0
	var lastErr error
	for i := 0; i < 5000 && failed < 3; i++ {
		v, err := c.OpenPatient(nhs, nil)
		switch {
		case err == nil && v != nil:
			shown++
		case err == nil:
			t.Fatal("OpenPatient returned neither a view nor an error")
		case v != nil:
			t.Fatalf("a failed open returned a view: %v", err)
		default:
			failed++
			lastErr = err
			if !strings.Contains(err.Error(), "no space left on device") {
				t.Fatalf("a full disk gave an unclear error: %v", err)
			}
		}
	}
	if failed == 0 {
		t.Fatalf("%d opens on a full disk all succeeded", shown)
	}
	t.Logf("full disk: %d opens fitted in free pages, then: %v", shown, lastErr)
	pending := c.Status().PendingAuditEvents
	if err := c.Close(); err != nil {
		t.Logf("closing on a full disk: %v", err)
	}
	r := p.kmcr(runOpts{}, "show", nhs)
	if r.code == 0 || strings.Contains(r.stdout, banner(nhs)) || !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("kmcr show on a full disk: want a non-zero exit, no summary and the reason:\n%s", r)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r = p.mustKmcr("show", nhs)
	if !strings.Contains(r.stdout, banner(nhs)) {
		t.Fatalf("kmcr show once space is free:\n%s", r)
	}
	shown++
	c = openCore(t, p, coreOpts{}, srv.logs.prefixed("client: "))
	if err := c.UnlockForCommand([]byte(p.pass)); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.PendingAuditEvents != pending+1 {
		t.Fatalf("%d events queued, want the %d from before the disk filled and one more", st.PendingAuditEvents, pending)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.SyncOnce(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := viewsFrom(t, srv.serverData, nhs, device); got != shown {
		t.Fatalf("%d view events stored, %d views shown", got, shown)
	}
	if r := srv.admin(runOpts{}, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify after a full disk:\n%s", r)
	}
}
