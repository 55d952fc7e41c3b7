//go:build !unix

package pki

// noFollow is nothing where the system has no O_NOFOLLOW.
const noFollow = 0
