package cache

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// childDirEnv makes the test binary act as a second kmcr process.
const childDirEnv = "KMCR_TEST_SECOND_PROCESS_DIR"

// Ensure a second process gets "kmcr is already running" within about a
// second, while the first holds the cache open.
func TestOpen_SecondProcess(t *testing.T) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		start := time.Now()
		_, err := Open(Options{Dir: dir, Secrets: NewFileSecretStore(filepath.Join(dir, "device.secret"))}, []byte(testPass))
		fmt.Printf("took=%s err=%v\n", time.Since(start).Round(time.Millisecond), err)
		os.Exit(0)
	}
	e := newEnv(t)
	e.opts.Secrets = NewFileSecretStore(filepath.Join(e.opts.Dir, "device.secret"))
	c, err := Create(e.opts, []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestOpen_SecondProcess$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+e.opts.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	var took time.Duration
	var msg string
	line := strings.TrimSpace(string(out))
	if i := strings.Index(line, "took="); i >= 0 {
		fields := strings.SplitN(line[i+len("took="):], " err=", 2)
		took, _ = time.ParseDuration(fields[0])
		if len(fields) == 2 {
			msg = fields[1]
		}
	}
	if !strings.Contains(msg, "kmcr is already running") {
		t.Fatalf("second process said %q, want \"kmcr is already running\"", line)
	}
	// About the 1 s lock timeout; the upper bound leaves room for a busy
	// CI machine.
	if took < 900*time.Millisecond || took > 2500*time.Millisecond {
		t.Errorf("second process gave up after %v, want about 1s", took)
	}
}
