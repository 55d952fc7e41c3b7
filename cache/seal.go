package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"kmcr/record"
)

// Sealed values. Every value in cache.db that names or describes a patient,
// and every secret, is stored as
//
//	version (1) || nonce (24) || XChaCha20-Poly1305 ciphertext || tag (16)
//
// The 24-byte nonce is random: with XChaCha20 a random nonce never needs
// bookkeeping and the chance of a repeat stays below 2^-32 even after 2^80
// seals under one key, which removes a whole class of crash-recovery bugs
// (a counter that rolled back with the file would repeat nonces).
const (
	sealedVersion  byte = 1
	nonceSize           = chacha20poly1305.NonceSizeX
	tagSize             = chacha20poly1305.Overhead
	sealedOverhead      = 1 + nonceSize + tagSize
)

// Bucket names. They are part of the associated data of every sealed value,
// so a value copied into another bucket does not open.
const (
	bucketHeader  = "header"  // plaintext: format, cache id, master generation, unlock failures
	bucketGroups  = "groups"  // plaintext: generation of each of the 256 group keys
	bucketKeys    = "keys"    // patient keys wrapped by group keys
	bucketIndex   = "index"   // search index entries sealed by patient keys
	bucketRecords = "records" // record documents sealed by patient keys, under slot numbers
	bucketSlots   = "slots"   // plaintext: record id -> the records key of that patient's document
	bucketMeta    = "meta"    // small named values sealed by the meta key
	bucketOutbox  = "outbox"  // audit events sealed by the outbox key
)

// Padding hides exact lengths: a name's length or a summary's size can hint
// at who or what it is. Blocks are small enough to cost under 5% on an 8 KB
// summary.
const (
	indexPadBlock  = 64
	recordPadBlock = 256
)

// Plaintext sizes of a wrapped patient key: the key, then the record
// version and lease, so that both are authenticated before use and neither
// is stored in the clear.
const keyWrapPlainSize = keySize + 8 + 8

// errOpen is the one failure of openSealed; callers turn it into a
// *RecordError naming the value. Not distinguishing causes (short value,
// unknown version, failed tag) gives an attacker nothing to probe.
var errOpen = errors.New("cannot open sealed value")

// appendAD appends the associated data common to all sealed values:
//
//	version (1) || len(bucket) (1) || bucket || len(key) (1) || key
//
// Callers append fixed-width fields (record version, lease) after it.
// Length prefixes make the encoding injective.
func appendAD(dst []byte, bucket string, key []byte) []byte {
	if len(bucket) > 255 || len(key) > 255 {
		panic("cache: associated data field longer than 255 bytes")
	}
	dst = append(dst, sealedVersion, byte(len(bucket)))
	dst = append(dst, bucket...)
	dst = append(dst, byte(len(key)))
	return append(dst, key...)
}

// sealTo appends the sealed form of plaintext to dst. A nil nonce means a
// fresh random one; tests pass a fixed nonce to pin known answers.
func sealTo(dst []byte, key *[keySize]byte, nonce []byte, ad, plaintext []byte) []byte {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("cache: XChaCha20-Poly1305 rejected a 32-byte key: " + err.Error())
	}
	dst = append(dst, sealedVersion)
	n := len(dst)
	if nonce == nil {
		dst = append(dst, make([]byte, nonceSize)...)
		randomBytes(dst[n:])
	} else {
		if len(nonce) != nonceSize {
			panic("cache: nonce must be 24 bytes")
		}
		dst = append(dst, nonce...)
	}
	return aead.Seal(dst, dst[n:n+nonceSize], plaintext, ad)
}

// openSealed checks the length and version of a sealed value and opens it,
// appending the plaintext to dst.
func openSealed(dst []byte, key *[keySize]byte, ad, value []byte) ([]byte, error) {
	if len(value) < sealedOverhead || value[0] != sealedVersion {
		return nil, errOpen
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("cache: XChaCha20-Poly1305 rejected a 32-byte key: " + err.Error())
	}
	out, err := aead.Open(dst, value[1:1+nonceSize], value[1+nonceSize:], ad)
	if err != nil {
		return nil, errOpen
	}
	return out, nil
}

func appendUint64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// keyWrapAD binds a wrapped patient key to its record id and to the
// generation of the group key that wraps it.
func keyWrapAD(buf []byte, id recordID, gen uint64) []byte {
	return appendUint64(appendAD(buf, bucketKeys, id[:]), gen)
}

// indexAD binds an index entry to its record id and record version.
func indexAD(buf []byte, id recordID, version uint64) []byte {
	return appendUint64(appendAD(buf, bucketIndex, id[:]), version)
}

// recordAD binds a record document to its record id, version and lease, so
// that an old version or a value with a longer lease cannot be substituted.
func recordAD(buf []byte, id recordID, version uint64, notAfter int64) []byte {
	return appendUint64(appendUint64(appendAD(buf, bucketRecords, id[:]), version), uint64(notAfter))
}

func metaAD(buf []byte, name string) []byte { return appendAD(buf, bucketMeta, []byte(name)) }

func outboxAD(buf []byte, seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return appendAD(buf, bucketOutbox, k[:])
}

// sealKeyWrap wraps a patient key, with its record version and lease, under
// a group key.
func sealKeyWrap(groupKey *[keySize]byte, gen uint64, id recordID, pk *[keySize]byte, version uint64, notAfter int64, nonce []byte) []byte {
	var pt [keyWrapPlainSize]byte
	copy(pt[:], pk[:])
	binary.BigEndian.PutUint64(pt[keySize:], version)
	binary.BigEndian.PutUint64(pt[keySize+8:], uint64(notAfter))
	var adBuf [64]byte
	out := sealTo(make([]byte, 0, sealedOverhead+keyWrapPlainSize), groupKey, nonce, keyWrapAD(adBuf[:0], id, gen), pt[:])
	clear(pt[:])
	return out
}

// openKeyWrap unwraps a patient key into pk, returning the record version
// and lease.
func openKeyWrap(groupKey *[keySize]byte, gen uint64, id recordID, value []byte, pk *[keySize]byte) (version uint64, notAfter int64, err error) {
	if len(value) != sealedOverhead+keyWrapPlainSize {
		return 0, 0, errOpen
	}
	var adBuf [64]byte
	var pt [keyWrapPlainSize]byte
	if _, err := openSealed(pt[:0], groupKey, keyWrapAD(adBuf[:0], id, gen), value); err != nil {
		return 0, 0, err
	}
	copy(pk[:], pt[:keySize])
	version = binary.BigEndian.Uint64(pt[keySize:])
	notAfter = int64(binary.BigEndian.Uint64(pt[keySize+8:]))
	clear(pt[:])
	return version, notAfter, nil
}

// sealRecord seals a record document:
//
//	plaintext = len(data) (4, big-endian) || data || zeros to a multiple of 256
func sealRecord(pk *[keySize]byte, id recordID, version uint64, notAfter int64, data []byte, nonce []byte) []byte {
	n := 4 + len(data)
	padded := (n + recordPadBlock - 1) / recordPadBlock * recordPadBlock
	pt := make([]byte, padded)
	binary.BigEndian.PutUint32(pt, uint32(len(data)))
	copy(pt[4:], data)
	var adBuf [80]byte
	out := sealTo(make([]byte, 0, sealedOverhead+padded), pk, nonce, recordAD(adBuf[:0], id, version, notAfter), pt)
	clear(pt)
	return out
}

// openRecord opens a record document into a fresh buffer and returns the
// data inside it. The buffer is the only allocation proportional to size.
func openRecord(pk *[keySize]byte, id recordID, version uint64, notAfter int64, value []byte) ([]byte, error) {
	if len(value) < sealedOverhead+4 {
		return nil, errOpen
	}
	var adBuf [80]byte
	pt, err := openSealed(make([]byte, 0, len(value)-sealedOverhead), pk, recordAD(adBuf[:0], id, version, notAfter), value)
	if err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(pt)
	if uint64(n) > uint64(len(pt)-4) {
		// Authentic but malformed: only a bug or a leaked key could do this.
		return nil, errOpen
	}
	return pt[4 : 4+n : 4+n], nil
}

// Index entry plaintext:
//
//	NHS digits (10) || uvarint-prefixed family, given, birth date, postcode,
//	display [, died | 0x80 0x00, died, gender, held] || zeros to a multiple of 64
//
// Died alone is written only when not empty: its length is then not zero,
// so an entry written before the field existed (or without it) reads as
// one whose Died is empty, and those entries are byte-for-byte as before.
// Format 3 adds gender and held behind the marker 0x80 0x00 (a non-minimal
// uvarint zero, which no earlier writer produced), written only when one
// of them is set, with died, gender and held each uvarint-prefixed.
const maxIndexField = MaxIndexField

// MaxIndexField bounds each index field (family, given, birth date,
// postcode, display, died) in bytes; Put refuses a longer one with ErrInvalid.
// Callers cut longer values (the full value stays in the record).
const MaxIndexField = 1024

// indexExtMarker starts the format-3 extension of an index entry.
var indexExtMarker = [2]byte{0x80, 0x00}

func encodeIndex(e *IndexEntry) ([]byte, error) {
	fields := []string{e.Family, e.Given, e.BirthDate, e.Postcode, e.Display}
	ext := e.Gender != "" || e.Held != ""
	switch {
	case ext:
		fields = append(fields, e.Died, e.Gender, e.Held)
	case e.Died != "":
		fields = append(fields, e.Died)
	}
	n := 10 + len(indexExtMarker)
	for _, f := range fields {
		if len(f) > maxIndexField {
			return nil, fmt.Errorf("%w: index field longer than %d bytes", ErrInvalid, maxIndexField)
		}
		n += binary.MaxVarintLen16 + len(f)
	}
	buf := make([]byte, 0, (n+indexPadBlock-1)/indexPadBlock*indexPadBlock)
	buf = append(buf, e.NHS.Digits()...)
	for i, f := range fields {
		if i == 5 && ext {
			buf = append(buf, indexExtMarker[:]...)
		}
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	padded := (len(buf) + indexPadBlock - 1) / indexPadBlock * indexPadBlock
	return append(buf, make([]byte, padded-len(buf))...), nil
}

func decodeIndex(pt []byte, e *IndexEntry) error {
	if len(pt) < 10 {
		return errOpen
	}
	nhs := string(pt[:10])
	pt = pt[10:]
	var fields [5]string
	for i := range fields {
		l, n := binary.Uvarint(pt)
		if n <= 0 || l > uint64(len(pt)-n) {
			return errOpen
		}
		fields[i] = string(pt[n : n+int(l)])
		pt = pt[n+int(l):]
	}
	var died, gender, held string
	field := func() (string, bool) {
		l, n := binary.Uvarint(pt)
		if n <= 0 || l > uint64(len(pt)-n) {
			return "", false
		}
		f := string(pt[n : n+int(l)])
		pt = pt[n+int(l):]
		return f, true
	}
	switch {
	case len(pt) >= 2 && pt[0] == indexExtMarker[0] && pt[1] == indexExtMarker[1]:
		pt = pt[2:]
		var ok1, ok2, ok3 bool
		died, ok1 = field()
		gender, ok2 = field()
		held, ok3 = field()
		if !ok1 || !ok2 || !ok3 {
			return errOpen
		}
	case len(pt) > 0 && pt[0] != 0:
		var ok bool
		if died, ok = field(); !ok {
			return errOpen
		}
	}
	for _, b := range pt {
		if b != 0 {
			return errOpen
		}
	}
	e.NHS = record.NHSNumber(nhs)
	e.Family, e.Given, e.BirthDate, e.Postcode, e.Display, e.Died = fields[0], fields[1], fields[2], fields[3], fields[4], died
	e.Gender, e.Held = gender, held
	return nil
}

func sealIndex(pk *[keySize]byte, id recordID, version uint64, e *IndexEntry, nonce []byte) ([]byte, error) {
	pt, err := encodeIndex(e)
	if err != nil {
		return nil, err
	}
	var adBuf [64]byte
	out := sealTo(make([]byte, 0, sealedOverhead+len(pt)), pk, nonce, indexAD(adBuf[:0], id, version), pt)
	clear(pt)
	return out, nil
}

func openIndex(pk *[keySize]byte, id recordID, version uint64, value []byte, e *IndexEntry) error {
	if len(value) < sealedOverhead {
		return errOpen
	}
	var adBuf [64]byte
	pt, err := openSealed(make([]byte, 0, len(value)-sealedOverhead), pk, indexAD(adBuf[:0], id, version), value)
	if err != nil {
		return err
	}
	err = decodeIndex(pt, e)
	clear(pt)
	return err
}

func sealMeta(key *[keySize]byte, name string, value []byte, nonce []byte) []byte {
	var adBuf [300]byte
	return sealTo(make([]byte, 0, sealedOverhead+len(value)), key, nonce, metaAD(adBuf[:0], name), value)
}

func openMeta(key *[keySize]byte, name string, value []byte) ([]byte, error) {
	var adBuf [300]byte
	return openSealed(nil, key, metaAD(adBuf[:0], name), value)
}

// Outbox plaintext: occurred (8, Unix nanoseconds, big-endian) || payload.
// The occurred time is sealed rather than stored beside the value, so the
// file does not show when the user looked at records.
func sealOutbox(key *[keySize]byte, seq uint64, occurred time.Time, payload []byte, nonce []byte) []byte {
	pt := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint64(pt, uint64(occurred.UnixNano()))
	copy(pt[8:], payload)
	var adBuf [32]byte
	out := sealTo(make([]byte, 0, sealedOverhead+len(pt)), key, nonce, outboxAD(adBuf[:0], seq), pt)
	clear(pt)
	return out
}

func openOutbox(key *[keySize]byte, seq uint64, value []byte) (occurred time.Time, payload []byte, err error) {
	var adBuf [32]byte
	pt, err := openSealed(nil, key, outboxAD(adBuf[:0], seq), value)
	if err != nil {
		return time.Time{}, nil, err
	}
	if len(pt) < 8 {
		return time.Time{}, nil, errOpen
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(pt))).UTC(), pt[8:], nil
}
