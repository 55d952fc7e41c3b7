//go:build unix

package record

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScan_ImportEdges checks what a folder given to import cannot make it
// read: a link to a file outside the folder, a link to a folder, a FIFO
// (which would block), a link to a device, and that no error repeats what
// a file holds.
func TestScan_ImportEdges(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"resourceType":"Patient","id":"SECRET-CONTENT","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "good.ndjson"), []byte(`{"resourceType":"Patient","id":"good","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000026"}]}`+"\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "inside-target.json"), []byte(`{"resourceType":"Organization","id":"o1"}`), 0o600))
	must(os.Symlink(secret, filepath.Join(dir, "escape.json")))
	must(os.Symlink("../"+filepath.Base(outside)+"/secret.json", filepath.Join(dir, "escape-relative.ndjson")))
	must(os.Symlink(filepath.Join(dir, "inside-target.json"), filepath.Join(dir, "inside-link.json")))
	must(os.Symlink("/dev/zero", filepath.Join(dir, "zero.ndjson")))
	must(os.Symlink(outside, filepath.Join(dir, "outside-folder.json")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo.ndjson"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "garbage.json"), []byte("root:SECRET-CONTENT:19000:0:99999:7:::\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "ref.ndjson"), []byte(`{"resourceType":"Condition","id":"c","subject":{"reference":"Group/SECRET-CONTENT"}}`+"\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "nhs.ndjson"), []byte(`{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"SECRET-CONTENT"}]}`+"\n"), 0o600))

	done := make(chan struct{})
	var rep *Report
	var ids []string
	go func() {
		defer close(done)
		rep, _ = Scan([]string{dir}, func(it Item) error { ids = append(ids, it.Resource.ID); return nil })
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the scan did not finish: a FIFO or device was read")
	}
	for _, id := range ids {
		if id == "SECRET-CONTENT" {
			t.Fatal("a file outside the folder was read through a link")
		}
	}
	if strings.Join(ids, ",") != "good,o1,o1" {
		t.Errorf("read %v; want the good patient and the organisation (directly and through the inside link)", ids)
	}
	all := ""
	for _, r := range rep.Rejected {
		all += r.Error() + "\n"
	}
	for _, want := range []string{"escape.json: a symbolic link leading outside", "escape-relative.ndjson: a symbolic link leading outside", "outside-folder.json: a symbolic link leading outside", "zero.ndjson: a symbolic link leading outside", "fifo.ndjson: not a regular file"} {
		if !strings.Contains(all, want) {
			t.Errorf("no rejection %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "SECRET") || strings.Contains(all, "root") {
		t.Errorf("a rejection repeats file contents:\n%s", all)
	}
}

// TestScan_ExplicitFIFORefused checks that a FIFO named explicitly is
// refused rather than read.
func TestScan_ExplicitFIFORefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "feed.ndjson")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Scan([]string{p}, func(Item) error { return nil })
	if err != nil || rep.RejectedTotal != 1 || !strings.Contains(rep.Rejected[0].Error(), "not a regular file") {
		t.Fatalf("%+v %v", rep, err)
	}
}

// TestRejection_EscapesControlCharacters checks that a file name or reason
// with terminal escapes or bidirectional overrides prints as one plain
// line.
func TestRejection_EscapesControlCharacters(t *testing.T) {
	r := Rejection{Source: Source{File: "a\x1b[2Jb\u202e.json"}, Reason: "bad\nline"}
	if got := r.Error(); strings.ContainsAny(got, "\x1b\n\u202e") {
		t.Fatalf("%q", got)
	}
}

// endless is a reader of one line that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestScanNDJSON_EndlessLineStops checks that a line that never ends is
// given up after a bounded read, with the file, instead of being read
// forever.
func TestScanNDJSON_EndlessLineStops(t *testing.T) {
	s := &scanState{fn: func(Item) error { return nil }, rep: &Report{ByType: map[string]int{}}, rejected: map[string]string{}}
	done := make(chan error, 1)
	go func() { done <- s.scanNDJSON("endless.ndjson", endless{}) }()
	select {
	case err := <-done:
		if err != nil || s.rep.RejectedTotal != 1 || !strings.Contains(s.rep.Rejected[0].Error(), "the rest of the file are not read") {
			t.Fatalf("%v %+v", err, s.rep.Rejected)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("an endless line is still being read after 60 s")
	}
}
