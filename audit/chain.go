package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// hashLabel separates event hashes from every other SHA-256 use in the
// product, so that no other structure can be passed off as an event.
// The NUL after it ends the label; the canonical bytes follow.
const hashLabel = "kmcr-audit/v1 event\x00"

// HashSize is the length of a Hash in bytes.
const HashSize = sha256.Size

// Hash is the SHA-256 of an event's canonical encoding under hashLabel.
// The zero Hash is the "previous hash" of the first event.
type Hash [HashSize]byte

// HashCanonical returns the chain hash of canonical bytes as sent. The server
// uses it on uploaded bytes directly, so a chain can be followed even across
// an event too damaged to decode.
func HashCanonical(canonical []byte) Hash {
	var buf [1024]byte
	if len(hashLabel)+len(canonical) <= len(buf) {
		// One call on a stack buffer: no allocation for an ordinary event.
		return sha256.Sum256(append(append(buf[:0], hashLabel...), canonical...))
	}
	h := sha256.New()
	h.Write([]byte(hashLabel))
	h.Write(canonical)
	var out Hash
	h.Sum(out[:0])
	return out
}

// Hash returns the chain hash of e: HashCanonical(e.Canonical()).
func (e Event) Hash() Hash { return HashCanonical(e.Canonical()) }

// IsZero reports whether h is the zero hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// String returns h as 64 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes h as 64 lowercase hex digits.
func (h Hash) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h[:]), nil }

// UnmarshalText is the inverse of MarshalText; it accepts lowercase only,
// so that one hash has one spelling.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ErrBadHash is returned by ParseHash for anything but 64 lowercase hex digits.
var ErrBadHash = errors.New("not a hash (want 64 lowercase hex digits)")

// ParseHash parses 64 lowercase hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("%w: %d characters", ErrBadHash, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return h, fmt.Errorf("%w: %q at %d", ErrBadHash, c, i)
		}
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: %w", ErrBadHash, err)
	}
	return h, nil
}

// Head is the end of a device's chain: the last sequence number written and
// that event's hash. The zero Head means nothing was ever written.
type Head struct {
	Seq  uint64
	Hash Hash
}

// Next chains e after head: it sets e.Seq to head.Seq+1 and e.Prev to
// head.Hash, normalizes e as Decode would (UTC time, nil empty sections),
// and returns the event with the new head. It does not validate.
func Next(head Head, e Event) (Event, Head) {
	e, _, h := next(head, e)
	return e, h
}

func next(head Head, e Event) (Event, []byte, Head) {
	e = e.normalized()
	e.Seq = head.Seq + 1
	e.Prev = head.Hash
	c := e.Canonical()
	return e, c, Head{Seq: e.Seq, Hash: HashCanonical(c)}
}

// ChainStore is the device's audit outbox as Append sees it. The client core
// implements it on top of the cache transaction that also performs the
// access being audited, so the event and the access commit together or not
// at all (no view without an audit event).
type ChainStore interface {
	// ChainHead returns the current head; the zero Head when nothing was
	// ever written on this device.
	ChainHead() (Head, error)
	// AppendEvent stores the event, its canonical bytes (what is uploaded
	// and hashed) and the new head, atomically with the caller's access.
	AppendEvent(e Event, canonical []byte, newHead Head) error
}

// ErrCorruptHead is returned by Append when the store's head cannot be a
// real chain head (a sequence without a hash, or a hash without one).
var ErrCorruptHead = errors.New("audit chain head is corrupt")

// Append validates e, chains it after the store's head and hands it to the
// store with its canonical bytes. It returns the chained event. When it
// returns an error the caller must abandon the access being audited.
// Append is as safe for concurrent use as the store's transactions are:
// two appends must not read the same head.
func Append(s ChainStore, e Event) (Event, error) {
	if err := e.Validate(); err != nil {
		return Event{}, fmt.Errorf("appending audit event: %w", err)
	}
	head, err := s.ChainHead()
	if err != nil {
		return Event{}, fmt.Errorf("reading audit chain head: %w", err)
	}
	if (head.Seq == 0) != head.Hash.IsZero() {
		return Event{}, fmt.Errorf("%w: seq %d, hash %s", ErrCorruptHead, head.Seq, head.Hash)
	}
	e, c, nh := next(head, e)
	if len(c) > MaxEventSize {
		return Event{}, fmt.Errorf("appending audit event: %w: %d bytes", ErrTooLarge, len(c))
	}
	if err := s.AppendEvent(e, c, nh); err != nil {
		return Event{}, fmt.Errorf("storing audit event %d: %w", nh.Seq, err)
	}
	return e, nil
}
