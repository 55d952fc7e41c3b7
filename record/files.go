package record

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// What an import reads: regular files only, never a FIFO, device or socket
// (reading one could block forever or never end), and within a folder it
// was given never a file that a symbolic link places outside that folder.

// errNotRegular is returned for a path that is not a regular file.
var errNotRegular = errors.New("not a regular file (a FIFO, device, socket or folder); not read")

// errOutside is returned for a symbolic link leading out of the folder.
var errOutside = errors.New("a symbolic link leading outside the folder given; not followed")

// openRegular opens path for reading if it is a regular file.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, errNotRegular
	}
	return f, info, nil
}

// within reports whether path lies inside dir (both resolved, absolute).
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// importable decides whether an entry met while walking root (resolved)
// is read: it returns the path to open (a link's resolved target, inside
// root) or the reason it is not.
func importable(root, path string, d fs.DirEntry) (string, error) {
	if d.Type()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return "", fmt.Errorf("a symbolic link that does not resolve; not followed")
		}
		if abs, err := filepath.Abs(target); err != nil || !within(root, abs) {
			return "", errOutside
		}
		info, err := os.Stat(target)
		if err != nil {
			return "", unwrapPathError(err)
		}
		if !info.Mode().IsRegular() {
			return "", errNotRegular
		}
		return target, nil
	}
	if !d.Type().IsRegular() {
		return "", errNotRegular
	}
	return path, nil
}

// resolveDir returns the absolute, link-free form of a folder given to
// import, which links inside it must not leave.
func resolveDir(p string) (string, error) {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	return filepath.Abs(r)
}
