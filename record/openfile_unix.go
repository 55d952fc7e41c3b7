//go:build unix

package record

import (
	"os"
	"syscall"
)

// openFlags open without following a final symbolic link (one swapped in
// after the folder was listed) and without waiting for a writer (a FIFO
// swapped in would otherwise block the open).
const openFlags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
