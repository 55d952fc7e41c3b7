package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// headLabel separates head signatures from any other use of a device key.
const headLabel = "kmcr-audit/v1 head\x00"

// SignedHead is a device's statement, under its enrolment key, that its
// audit chain currently ends at Head. The client signs its current head each
// time it uploads; see VerifyBatch for what the server concludes from it.
type SignedHead struct {
	Head
	Signature []byte // Ed25519 over headMessage
}

// Signature errors.
var (
	// ErrBadKey is returned when a public key is not an Ed25519 public key.
	ErrBadKey = errors.New("not an Ed25519 public key")
	// ErrBadSignature is returned when a head's signature does not verify
	// for the device key and device ID given.
	ErrBadSignature = errors.New("audit head signature does not verify")
)

// NewDeviceKey makes the device's audit signing key pair at enrolment. The
// client keeps the private key in its cache (sealed like everything else);
// the server records the public key against the device ID.
func NewDeviceKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("making device audit key: %w", err)
	}
	return pub, priv, nil
}

// headMessage is what a device signs: the label, then the device ID with a
// length prefix (so no ID is a prefix of another's message), the sequence
// number and the hash. Binding the device ID means a head cannot be replayed
// as another device's.
func headMessage(deviceID string, h Head) []byte {
	m := make([]byte, 0, len(headLabel)+4+len(deviceID)+8+HashSize)
	m = append(m, headLabel...)
	m = binary.BigEndian.AppendUint32(m, uint32(len(deviceID)))
	m = append(m, deviceID...)
	m = binary.BigEndian.AppendUint64(m, h.Seq)
	return append(m, h.Hash[:]...)
}

// SignHead signs h for deviceID. It panics if priv is not an Ed25519
// private key, which is a programming error (keys come from NewDeviceKey).
func SignHead(priv ed25519.PrivateKey, deviceID string, h Head) SignedHead {
	return SignedHead{Head: h, Signature: ed25519.Sign(priv, headMessage(deviceID, h))}
}

// VerifyHead checks that sh was signed for deviceID by the key pub.
func VerifyHead(pub ed25519.PublicKey, deviceID string, sh SignedHead) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes", ErrBadKey, len(pub))
	}
	if len(sh.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, headMessage(deviceID, sh.Head), sh.Signature) {
		return fmt.Errorf("%w: device %q head %d", ErrBadSignature, deviceID, sh.Seq)
	}
	return nil
}
