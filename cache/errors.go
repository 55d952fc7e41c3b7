package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// ErrNotExist is returned by Open and Wipe when the profile directory holds
// no cache. It also matches fs.ErrNotExist.
var ErrNotExist = fmt.Errorf("no kmcr cache in this profile: %w", fs.ErrNotExist)

// ErrExist is returned by Create when the profile directory already holds a
// cache (or the remains of one). It also matches fs.ErrExist.
var ErrExist = fmt.Errorf("a kmcr cache already exists in this profile: %w", fs.ErrExist)

// ErrAlreadyRunning is returned by Create, Open and Wipe when another process
// holds the cache open. bbolt allows one writer process per file; the lock is
// waited for Options.LockTimeout at most.
var ErrAlreadyRunning = errors.New("kmcr is already running: another kmcr window or command has this profile open; close it and try again")

// ErrWrongPassphrase is returned (inside a *RetryError) by Open and
// ChangePassphrase when the passphrase does not unlock the master key.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrTooSoon is returned (inside a *RetryError) by Open and ChangePassphrase
// when the delay imposed after repeated wrong passphrases has not yet passed;
// the passphrase was not tried.
var ErrTooSoon = errors.New("too many wrong passphrases")

// ErrNoKeyring is returned when the OS keyring (Secret Service on Linux,
// Keychain on macOS, Credential Manager on Windows) cannot be reached.
var ErrNoKeyring = errors.New("the OS keyring is not available: install and unlock gnome-keyring (Secret Service), or re-enrol choosing a device secret file")

// ErrKeyringTimeout is returned when the OS keyring does not answer within
// its timeout (a hung or prompting Secret Service).
var ErrKeyringTimeout = errors.New("the OS keyring did not answer in time: install and unlock gnome-keyring (Secret Service), or re-enrol choosing a device secret file")

// ErrSecretNotFound is returned (wrapped) by a SecretStore's Get when it
// holds no secret for the id. Custom SecretStore implementations must wrap
// it too, so that Open can say the device secret is missing.
var ErrSecretNotFound = errors.New("no device secret stored")

// ErrNoDeviceSecret is returned by Open when the device secret for this cache
// is missing from its store: the keyring entry or secret file was deleted, or
// the profile was copied from another computer. The cache cannot be unlocked
// on this device; wipe it and sync again.
var ErrNoDeviceSecret = errors.New("the device secret for this cache is missing, so it cannot be unlocked on this device (was the profile copied from another computer, or the keyring entry deleted?); wipe the cache and sync again")

// ErrWrongDeviceSecret is returned by Open when the store holds a device
// secret for this cache's id that is not the one the cache was created with.
var ErrWrongDeviceSecret = errors.New("the device secret in the store does not belong to this cache; wipe the cache and sync again")

// ErrSecretStoreMismatch is returned by Open when the cache was created with
// one kind of SecretStore (say, the OS keyring) and is opened with the other
// (say, a device secret file).
var ErrSecretStoreMismatch = errors.New("the cache was enrolled with a different kind of device secret store")

// ErrCorrupt is returned when cache.db or cache.keys is damaged as a whole
// (truncated, wrong magic, an unfinished enrolment, files from two
// different profiles). Damage to a single value gives *RecordError instead.
var ErrCorrupt = errors.New("the cache files are damaged")

// ErrTampered is returned (inside a *RecordError) when a sealed value fails
// authentication: it was modified, truncated, moved to another key or
// bucket, or swapped with another value.
var ErrTampered = errors.New("sealed value failed authentication (tampered, truncated or moved)")

// ErrNotFound is returned by Get, Meta and Tx.Get when nothing is stored
// under the name or NHS number.
var ErrNotFound = errors.New("not in the cache")

// ErrExpired is returned by Get when the record's lease (its NotAfter time)
// has passed. The data is never returned; reconnect to refresh it.
var ErrExpired = errors.New("the offline lease for this record has ended; reconnect to refresh it")

// ErrClosed is returned by methods of a Cache after Close or Wipe.
var ErrClosed = errors.New("the cache is locked")

// ErrTxDone is returned by methods of a Tx used after its Update or View
// function returned, and by write methods of a read-only Tx.
var ErrTxDone = errors.New("transaction is closed or read-only")

// ErrInvalid is returned (wrapped, with the reason) when an argument is
// malformed: a bad NHS number, a missing lease, an empty passphrase, an
// out-of-range KDF parameter.
var ErrInvalid = errors.New("invalid argument")

// ErrBadQuery is returned (wrapped, with the reason) by Search when part of
// the query looks like a date or number but is not a valid one.
var ErrBadQuery = errors.New("search not understood")

// RecordError reports a problem with one stored value. Only that value is
// affected; the rest of the cache keeps working.
type RecordError struct {
	Bucket string // bbolt bucket: "keys", "index", "records", "meta" or "outbox" (a missing or misdirected slot reports "records")
	Key    string // the bbolt key: hex record id, meta name or outbox sequence
	Err    error  // ErrTampered, usually
}

// Error names the bucket and key of the value.
func (e *RecordError) Error() string {
	return fmt.Sprintf("cache value %s/%s: %v", e.Bucket, e.Key, e.Err)
}

// Unwrap returns the underlying error, so errors.Is(err, ErrTampered) works.
func (e *RecordError) Unwrap() error { return e.Err }

// RetryError is returned by Open and ChangePassphrase after a wrong
// passphrase (Err is ErrWrongPassphrase) or when an attempt comes too soon
// after earlier failures (Err is ErrTooSoon). Wait is how long the caller
// must wait before the next attempt will be tried; it is zero for the first
// few failures.
type RetryError struct {
	Wait time.Duration
	// Failures counts the wrong passphrases in a row so far, and NextWait
	// is the wait one more would impose, so a screen can say when the
	// waits begin.
	Failures int
	FreeLeft int // wrong passphrases still without a wait
	NextWait time.Duration
	Err      error
}

// Error says what happened and, if the caller must wait, for how long.
func (e *RetryError) Error() string {
	if e.Wait <= 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v; try again in %s", e.Err, e.Wait.Round(time.Second))
}

// Unwrap returns ErrWrongPassphrase or ErrTooSoon.
func (e *RetryError) Unwrap() error { return e.Err }
