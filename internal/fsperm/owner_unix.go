//go:build unix

package fsperm

import (
	"io/fs"
	"syscall"
)

// ownerOf returns the user id that owns fi's file.
func ownerOf(fi fs.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
