package cache

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/chacha20poly1305"
)

// cache.keys is a fixed-size file overwritten in place. It holds the only
// wrappings of the master key M and of the 256 group keys, so destroying a
// key is a matter of overwriting a few bytes at a known offset (unlike
// bbolt, which never overwrites a live page and never scrubs a freed one).
//
// Every slot has two halves. A change writes the new key into the empty
// half and syncs it before the bbolt commit that records the new
// generation, then zeroes the old half and syncs again. After a crash at
// any point, the generation in cache.db says which half is current and
// Open zeroes the other (reconcileSlots).
const (
	keysMagic      = "KMCRKEYS"
	keysFormat     = 1
	keysHeaderSize = 64

	masterOffset   = 64  // master half h is at masterOffset + h*masterHalfSize
	masterHalfSize = 128 //
	groupOffset    = 512 // group g, half h is at groupOffset + g*groupSlotSize + h*groupHalfSize
	groupHalfSize  = 80
	groupSlotSize  = 2 * groupHalfSize
	keysFileSize   = groupOffset + numGroups*groupSlotSize // 41472

	wrappedKeySize = keySize + tagSize // 48
)

// Offsets inside the header.
const (
	hdrMagic   = 0  // 8 bytes "KMCRKEYS"
	hdrFormat  = 8  // 1 byte
	hdrKind    = 9  // 1 byte SecretStoreKind
	hdrCacheID = 16 // 16 bytes
	hdrCheck   = 32 // 16 bytes device-secret check
)

// Offsets inside a master half.
const (
	mhGen     = 0  // 8: generation, 0 = empty
	mhSalt    = 8  // 16: Argon2 salt
	mhTime    = 24 // 4: Argon2 t
	mhMemory  = 28 // 4: Argon2 m in KiB
	mhThreads = 32 // 1: Argon2 p
	mhAuthEnd = 40 // bytes [0,40) are authenticated as associated data
	mhNonce   = 40 // 24
	mhSealed  = 64 // 48: M sealed under the KEK
)

// Offsets inside a group half.
const (
	ghGen    = 0  // 8: generation, 0 = empty
	ghNonce  = 8  // 24
	ghSealed = 32 // 48: group key sealed under the slot subkey
)

// AD labels for the two kinds of slot.
const (
	adMasterSlot = "cache.keys/master"
	adGroupSlot  = "cache.keys/group"
)

// keysHeader is the plaintext header of cache.keys.
type keysHeader struct {
	kind    SecretStoreKind
	cacheID [cacheIDSize]byte
	check   [deviceCheckSize]byte
}

func (h *keysHeader) encode(b []byte) {
	clear(b[:keysHeaderSize])
	copy(b[hdrMagic:], keysMagic)
	b[hdrFormat] = keysFormat
	b[hdrKind] = byte(h.kind)
	copy(b[hdrCacheID:], h.cacheID[:])
	copy(b[hdrCheck:], h.check[:])
}

// parseKeys validates the size and header of a whole cache.keys image.
func parseKeys(b []byte) (keysHeader, error) {
	var h keysHeader
	if len(b) != keysFileSize {
		return h, fmt.Errorf("%w: cache.keys is %d bytes, expected %d (truncated or not a key file)", ErrCorrupt, len(b), keysFileSize)
	}
	if string(b[hdrMagic:hdrMagic+len(keysMagic)]) != keysMagic {
		return h, fmt.Errorf("%w: cache.keys does not start with the kmcr key-file magic", ErrCorrupt)
	}
	if b[hdrFormat] != keysFormat {
		return h, fmt.Errorf("%w: cache.keys has format %d; this version of kmcr reads format %d", ErrCorrupt, b[hdrFormat], keysFormat)
	}
	h.kind = SecretStoreKind(b[hdrKind])
	copy(h.cacheID[:], b[hdrCacheID:])
	copy(h.check[:], b[hdrCheck:])
	return h, nil
}

func masterHalfOffset(h int) int64 { return int64(masterOffset + h*masterHalfSize) }
func groupHalfOffset(g byte, h int) int64 {
	return int64(groupOffset + int(g)*groupSlotSize + h*groupHalfSize)
}

func halfGen(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func masterAD(hdr *keysHeader, half []byte) []byte {
	ad := appendAD(make([]byte, 0, 96), adMasterSlot, hdr.cacheID[:])
	ad = append(ad, byte(hdr.kind))
	return append(ad, half[:mhAuthEnd]...)
}

func groupAD(hdr *keysHeader, g byte, gen uint64) []byte {
	ad := appendAD(make([]byte, 0, 64), adGroupSlot, hdr.cacheID[:])
	ad = append(ad, g)
	return appendUint64(ad, gen)
}

// masterHalf holds the parsed form of a master half.
type masterHalf struct {
	gen  uint64
	salt [saltSize]byte
	kdf  KDFParams
}

func parseMasterHalf(b []byte) masterHalf {
	var m masterHalf
	m.gen = halfGen(b[mhGen:])
	copy(m.salt[:], b[mhSalt:])
	m.kdf.Time = binary.BigEndian.Uint32(b[mhTime:])
	m.kdf.MemoryKiB = binary.BigEndian.Uint32(b[mhMemory:])
	m.kdf.Threads = b[mhThreads]
	return m
}

// encodeMasterHalf wraps M under kek into a 128-byte half. A nil nonce
// means a random one.
func encodeMasterHalf(hdr *keysHeader, mh masterHalf, kek, m *[keySize]byte, nonce []byte) []byte {
	b := make([]byte, masterHalfSize)
	binary.BigEndian.PutUint64(b[mhGen:], mh.gen)
	copy(b[mhSalt:], mh.salt[:])
	binary.BigEndian.PutUint32(b[mhTime:], mh.kdf.Time)
	binary.BigEndian.PutUint32(b[mhMemory:], mh.kdf.MemoryKiB)
	b[mhThreads] = mh.kdf.Threads
	fillNonce(b[mhNonce:mhNonce+nonceSize], nonce)
	sealRaw(b[mhSealed:mhSealed], kek, b[mhNonce:mhNonce+nonceSize], masterAD(hdr, b), m[:])
	return b
}

// openMasterHalf unwraps M. This AEAD open is the passphrase check: Poly1305
// verification is constant-time, so its timing says nothing about how close
// a guess was, and there is no separate verifier to attack.
func openMasterHalf(hdr *keysHeader, b []byte, kek *[keySize]byte) ([keySize]byte, bool) {
	var m [keySize]byte
	if halfGen(b) == 0 {
		return m, false
	}
	ok := openRaw(m[:0], kek, b[mhNonce:mhNonce+nonceSize], b[mhSealed:mhSealed+wrappedKeySize], masterAD(hdr, b))
	return m, ok
}

func encodeGroupHalf(hdr *keysHeader, slotKey *[keySize]byte, g byte, gen uint64, gk *[keySize]byte, nonce []byte) []byte {
	b := make([]byte, groupHalfSize)
	binary.BigEndian.PutUint64(b[ghGen:], gen)
	fillNonce(b[ghNonce:ghNonce+nonceSize], nonce)
	sealRaw(b[ghSealed:ghSealed], slotKey, b[ghNonce:ghNonce+nonceSize], groupAD(hdr, g, gen), gk[:])
	return b
}

func openGroupHalf(hdr *keysHeader, slotKey *[keySize]byte, g byte, b []byte) ([keySize]byte, bool) {
	var k [keySize]byte
	gen := halfGen(b)
	if gen == 0 {
		return k, false
	}
	ok := openRaw(k[:0], slotKey, b[ghNonce:ghNonce+nonceSize], b[ghSealed:ghSealed+wrappedKeySize], groupAD(hdr, g, gen))
	return k, ok
}

func fillNonce(dst, nonce []byte) {
	if nonce == nil {
		randomBytes(dst)
		return
	}
	if len(nonce) != nonceSize {
		panic("cache: nonce must be 24 bytes")
	}
	copy(dst, nonce)
}

// sealRaw and openRaw are XChaCha20-Poly1305 without the sealed-value
// framing; slots have fixed offsets and need no version byte.
func sealRaw(dst []byte, key *[keySize]byte, nonce, ad, pt []byte) []byte {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("cache: XChaCha20-Poly1305 rejected a 32-byte key: " + err.Error())
	}
	return aead.Seal(dst, nonce, pt, ad)
}

func openRaw(dst []byte, key *[keySize]byte, nonce, ct, ad []byte) bool {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("cache: XChaCha20-Poly1305 rejected a 32-byte key: " + err.Error())
	}
	_, err = aead.Open(dst, nonce, ct, ad)
	return err == nil
}

// keysFile is cache.keys opened for in-place writes.
type keysFile struct {
	f *os.File
}

func (k *keysFile) readAll() ([]byte, error) {
	st, err := k.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading cache.keys: %w", err)
	}
	if st.Size() != keysFileSize {
		return nil, fmt.Errorf("%w: cache.keys is %d bytes, expected %d (truncated or not a key file)", ErrCorrupt, st.Size(), keysFileSize)
	}
	b := make([]byte, keysFileSize)
	if _, err := k.f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading cache.keys: %w", err)
	}
	return b, nil
}

// writeAt overwrites bytes in place. The caller syncs.
func (k *keysFile) writeAt(b []byte, off int64) error {
	if _, err := k.f.WriteAt(b, off); err != nil {
		return fmt.Errorf("writing cache.keys: %w", err)
	}
	return nil
}

func (k *keysFile) sync() error {
	if err := k.f.Sync(); err != nil {
		return fmt.Errorf("syncing cache.keys: %w", err)
	}
	return nil
}

var zeroGroupHalf [groupHalfSize]byte
var zeroMasterHalf [masterHalfSize]byte

// halfRef names one half of one slot; group -1 is the master slot.
type halfRef struct {
	group int
	half  int
}

func (r halfRef) offset() int64 {
	if r.group < 0 {
		return masterHalfOffset(r.half)
	}
	return groupHalfOffset(byte(r.group), r.half)
}

func (r halfRef) zeroBytes() []byte {
	if r.group < 0 {
		return zeroMasterHalf[:]
	}
	return zeroGroupHalf[:]
}

// zeroHalves overwrites halves with zeros and syncs once.
func (k *keysFile) zeroHalves(refs []halfRef) error {
	for _, r := range refs {
		if err := k.writeAt(r.zeroBytes(), r.offset()); err != nil {
			return err
		}
	}
	if len(refs) == 0 {
		return nil
	}
	return k.sync()
}

// pickHalf returns which half of a slot carries generation gen, or -1.
func pickHalf(img []byte, off0, off1 int64, gen uint64) int {
	if gen == 0 {
		return -1
	}
	if halfGen(img[off0:]) == gen {
		return 0
	}
	if halfGen(img[off1:]) == gen {
		return 1
	}
	return -1
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
