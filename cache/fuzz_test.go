package cache

import (
	"bytes"
	"testing"
)

// FuzzOpenSealed feeds arbitrary bytes to every sealed-value parser: none
// may panic, and only the exact sealed bytes may open (no malleability).
// Seeds are the valid values of each kind and their tampered variants.
func FuzzOpenSealed(f *testing.F) {
	sub := deriveSubkeys(vecMaster)
	id := makeRecordID(&sub.id, vecNHS)
	notAfter := vecNotAfter.UnixNano()
	ie := IndexEntry{NHS: vecNHS, Family: "Smith", Given: "Ann", BirthDate: "1962-03-12"}
	// Fixed nonces: fuzz workers are separate processes and must agree on
	// which values are the valid ones.
	wrap := sealKeyWrap(vecGroupKey, vecGroupGen, id, vecPatient, vecVersion, notAfter, vecNonce)
	idx, _ := sealIndex(vecPatient, id, vecVersion, &ie, vecNonce)
	rec := sealRecord(vecPatient, id, vecVersion, notAfter, []byte("summary"), vecNonce)
	meta := sealMeta(&sub.meta, "cursor", []byte("c"), vecNonce)
	out := sealOutbox(&sub.outbox, 9, vecOccurred, []byte("event"), vecNonce)
	valid := [][]byte{wrap, idx, rec, meta, out}
	for _, v := range valid {
		f.Add(v)
		f.Add(v[:len(v)-1])
		f.Add(v[:sealedOverhead-1])
		f.Add(flipBit(bytes.Clone(v)))
		f.Add(append(bytes.Clone(v), 0))
	}
	f.Add([]byte{})
	f.Add([]byte{sealedVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		isValid := func(want []byte) {
			if !bytes.Equal(b, want) {
				t.Fatalf("a value other than the sealed one opened: %x", b)
			}
		}
		var pk [keySize]byte
		if _, _, err := openKeyWrap(vecGroupKey, vecGroupGen, id, b, &pk); err == nil {
			isValid(wrap)
		}
		var got IndexEntry
		if openIndex(vecPatient, id, vecVersion, b, &got) == nil {
			isValid(idx)
		}
		if _, err := openRecord(vecPatient, id, vecVersion, notAfter, b); err == nil {
			isValid(rec)
		}
		if _, err := openMeta(&sub.meta, "cursor", b); err == nil {
			isValid(meta)
		}
		if _, _, err := openOutbox(&sub.outbox, 9, b); err == nil {
			isValid(out)
		}
		// The plaintext parsers behind the AEAD must cope with anything too.
		_ = decodeIndex(b, &got)
		if _, err := parseKeys(b); err == nil && len(b) != keysFileSize {
			t.Fatalf("parseKeys accepted %d bytes", len(b))
		}
		if len(b) >= masterHalfSize {
			if mh := parseMasterHalf(b); mh.gen != halfGen(b) {
				t.Fatal("parseMasterHalf misread the generation")
			}
		}
	})
}
