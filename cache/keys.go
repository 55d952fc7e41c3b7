package cache

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/hkdf"

	"kmcr/record"
)

// Sizes. Every key is 256 bits: XChaCha20-Poly1305 and HMAC-SHA256 both take
// 32-byte keys, and 256 bits leaves margin against multi-target attacks over
// many patients.
const (
	keySize          = 32
	cacheIDSize      = 16 // random; names the keyring entry and binds cache.keys to cache.db
	saltSize         = 16 // Argon2 salt, fresh on every passphrase change (RFC 9106 recommends 16)
	deviceSecretSize = 32
	deviceCheckSize  = 16 // lets Open tell "wrong device secret" from "wrong passphrase"
	recordIDSize     = 16 // truncated HMAC: 2^-64 birthday bound at 2^32 patients
	numGroups        = 256
)

// Domain-separation labels. Each names exactly one use, so no two uses can
// ever share a key even though they come from the same secret; the version
// in the label lets a future format derive unrelated keys from the same M.
const (
	// labelKEK turns Argon2id(passphrase) and the device secret into the key
	// that wraps M. HKDF-Extract mixes both factors, so each is necessary.
	labelKEK = "kmcr/cache/v1/kek"
	// labelDeviceCheck derives a public check value from the device secret
	// alone, so a wrong or replaced keyring entry is reported as such and not
	// as a wrong passphrase (and is not counted as a failed attempt).
	labelDeviceCheck = "kmcr/cache/v1/device-check"
	// labelRecordID keys the HMAC that maps an NHS number to an opaque bbolt
	// key: stable (so lookups work) but useless without M (so the file holds
	// no NHS number, and the 10^10 numbers cannot be enumerated offline).
	labelRecordID = "kmcr/cache/v1/record-id"
	// labelMeta seals small non-patient values (sync cursor, session, device
	// signing key). Separate from the outbox key so a value of one kind can
	// never be opened as the other even if AD encoding had a flaw.
	labelMeta = "kmcr/cache/v1/meta"
	// labelOutbox seals queued audit events.
	labelOutbox = "kmcr/cache/v1/outbox"
	// labelSlots wraps the 256 group keys in cache.keys. Group keys are
	// random and replaced on rotation; this wrapping key is what lets the
	// slot file hold them without holding them in the clear.
	labelSlots = "kmcr/cache/v1/group-slots"
)

// recordID is the bbolt key of a patient: HMAC-SHA256(idKey, NHS digits)
// truncated to 16 bytes. Its first byte picks the patient's key group.
type recordID [recordIDSize]byte

func (id recordID) group() byte    { return id[0] }
func (id recordID) String() string { return hex.EncodeToString(id[:]) }

// subkeys are the keys derived from the master key M.
type subkeys struct {
	id, meta, outbox, slots [keySize]byte
}

// deriveSubkeys expands M with HKDF-SHA256. M is 32 uniformly random bytes,
// so it is already a pseudorandom key and HKDF-Extract is skipped
// (RFC 5869 section 3.3); each label selects an independent subkey.
func deriveSubkeys(m *[keySize]byte) subkeys {
	var s subkeys
	expand(s.id[:], m[:], labelRecordID)
	expand(s.meta[:], m[:], labelMeta)
	expand(s.outbox[:], m[:], labelOutbox)
	expand(s.slots[:], m[:], labelSlots)
	return s
}

func (s *subkeys) zero() {
	clear(s.id[:])
	clear(s.meta[:])
	clear(s.outbox[:])
	clear(s.slots[:])
}

func expand(out, prk []byte, label string) {
	if _, err := io.ReadFull(hkdf.Expand(sha256.New, prk, []byte(label)), out); err != nil {
		panic("cache: HKDF expand of 32 bytes failed: " + err.Error())
	}
}

// deriveKEK combines the two factors into the key-encryption key for M:
//
//	P   = Argon2id(passphrase, salt, t, m, p, 32)
//	KEK = HKDF-SHA256(ikm = P || deviceSecret, salt = cacheID, info = labelKEK)
//
// Both inputs are fixed-length, so the concatenation is unambiguous. The
// Argon2 step is what makes guessing the passphrase slow; the device secret
// (256 random bits, never in the cache files) is what makes a stolen copy
// of the files alone useless, however weak the passphrase.
func deriveKEK(passphrase, deviceSecret []byte, salt []byte, p KDFParams, cacheID []byte) [keySize]byte {
	pw := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, keySize)
	ikm := make([]byte, 0, keySize+deviceSecretSize)
	ikm = append(append(ikm, pw...), deviceSecret...)
	var kek [keySize]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, ikm, cacheID, []byte(labelKEK)), kek[:]); err != nil {
		panic("cache: HKDF of 32 bytes failed: " + err.Error())
	}
	clear(pw)
	clear(ikm)
	return kek
}

// deviceCheck is a public, one-way fingerprint of the device secret.
func deviceCheck(deviceSecret, cacheID []byte) [deviceCheckSize]byte {
	var c [deviceCheckSize]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, deviceSecret, cacheID, []byte(labelDeviceCheck)), c[:]); err != nil {
		panic("cache: HKDF of 16 bytes failed: " + err.Error())
	}
	return c
}

// makeRecordID maps an NHS number (ten digits) to its bbolt key. It is
// HMAC-SHA256 (RFC 2104) written out over stack buffers, because it runs on
// every Get and crypto/hmac allocates; the known-answer test checks it
// against crypto/hmac.
func makeRecordID(idKey *[keySize]byte, nhs record.NHSNumber) recordID {
	const nhsLen = 10
	d := nhs.Digits()
	if len(d) != nhsLen {
		panic("cache: record id of an unchecked NHS number")
	}
	var inner [sha256.BlockSize + nhsLen]byte
	var outer [sha256.BlockSize + sha256.Size]byte
	for i := range sha256.BlockSize {
		var k byte
		if i < keySize {
			k = idKey[i]
		}
		inner[i], outer[i] = k^0x36, k^0x5c
	}
	copy(inner[sha256.BlockSize:], d)
	ih := sha256.Sum256(inner[:])
	copy(outer[sha256.BlockSize:], ih[:])
	oh := sha256.Sum256(outer[:])
	clear(inner[:])
	clear(outer[:])
	return recordID(oh[:recordIDSize])
}

// validNHS reports whether n is ten ASCII digits. The record package owns
// the check digit; the cache only refuses what could never be a number, so
// that the HMAC input is canonical.
func validNHS(n record.NHSNumber) bool {
	s := n.Digits()
	if len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func randomBytes(b []byte) {
	// crypto/rand.Read never fails on supported platforms (Go 1.24+); it
	// crashes the program rather than return predictable bytes.
	_, _ = rand.Read(b)
}

func newKey() [keySize]byte {
	var k [keySize]byte
	randomBytes(k[:])
	return k
}
