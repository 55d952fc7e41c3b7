package fsperm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTightenDir_LooseFolder checks a group- and world-readable folder is
// made private and the change reported, and a private one left alone.
func TestTightenDir_LooseFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	msg, err := TightenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "0777") || !strings.Contains(msg, "0700") {
		t.Fatalf("message %q does not say what changed", msg)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode after tightening %04o", fi.Mode().Perm())
	}
	if msg, err := TightenDir(dir); err != nil || msg != "" {
		t.Fatalf("a private folder: %q, %v", msg, err)
	}
	if msg, err := TightenDir(filepath.Join(dir, "absent")); err != nil || msg != "" {
		t.Fatalf("an absent folder: %q, %v", msg, err)
	}
}

// TestTightenFile_LooseFileAndSymlink checks a 0644 file becomes 0600 and
// a symbolic link is refused rather than followed.
func TestTightenFile_LooseFileAndSymlink(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "key")
	if err := os.WriteFile(f, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := TightenFile(f); err != nil || msg == "" {
		t.Fatalf("TightenFile: %q, %v", msg, err)
	}
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o", fi.Mode().Perm())
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(f, link); err != nil {
		t.Fatal(err)
	}
	if _, err := TightenFile(link); err == nil {
		t.Fatal("a symbolic link was accepted")
	}
	if _, err := TightenDir(f); err == nil {
		t.Fatal("a file was accepted as a folder")
	}
}
