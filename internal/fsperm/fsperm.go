// Package fsperm keeps folders and files that hold patient data or secrets
// private to the user who runs the program: an existing folder with loose
// permissions is tightened (and the change reported), and one owned by
// another user is refused, since tightening it would not take away what
// that user can already do.
package fsperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotOwner is returned for a folder or file owned by another user.
var ErrNotOwner = errors.New("owned by another user")

// privateBits are the permission bits group and others must not hold.
const privateBits fs.FileMode = 0o077

// TightenDir makes dir private (mode 0700 at most) when it exists with
// group or other permissions. It returns a sentence describing a change it
// made ("" when none was needed); it refuses a folder another user owns,
// and a path that is a symbolic link or not a folder.
func TightenDir(dir string) (string, error) {
	return tighten(dir, true)
}

// TightenFile makes path private (mode 0600 at most) like TightenDir.
func TightenFile(path string) (string, error) {
	return tighten(path, false)
}

func tighten(path string, dir bool) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", fmt.Errorf("%s is a symbolic link: give the real folder", path)
	case dir && !fi.IsDir():
		return "", fmt.Errorf("%s is not a folder", path)
	case !dir && !fi.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if uid, ok := ownerOf(fi); ok && uid != os.Geteuid() {
		return "", fmt.Errorf("%s: %w (uid %d): it must belong to the user running this program, with mode 0700", path, ErrNotOwner, uid)
	}
	perm := fi.Mode().Perm()
	if perm&privateBits == 0 {
		return "", nil
	}
	want := perm &^ privateBits
	if err := os.Chmod(path, want); err != nil {
		return "", fmt.Errorf("%s is readable by other users (mode %04o) and could not be tightened: %w", path, perm, err)
	}
	return fmt.Sprintf("tightened the permissions of %s from %04o to %04o: it holds patient data or secrets", path, perm, want), nil
}
