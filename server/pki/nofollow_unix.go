//go:build unix

package pki

import "syscall"

// noFollow makes an open refuse a symbolic link as the last element.
const noFollow = syscall.O_NOFOLLOW
