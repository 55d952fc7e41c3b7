package cache

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/hkdf"

	"kmcr/record"
)

var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors.json from the current code")

const vectorsPath = "testdata/vectors.json"

// vectorFile pins the format: if any of these bytes change, caches written
// by earlier versions can no longer be read.
type vectorFile struct {
	Comment   string         `json:"comment"`
	KEK       kekVector      `json:"kek"`
	Subkeys   subkeyVector   `json:"subkeys"`
	RecordIDs []idVector     `json:"record_ids"`
	Sealed    []sealedVector `json:"sealed"`
}

type kekVector struct {
	Passphrase   string `json:"passphrase"`
	DeviceSecret string `json:"device_secret"`
	CacheID      string `json:"cache_id"`
	Salt         string `json:"salt"`
	Time         uint32 `json:"time"`
	MemoryKiB    uint32 `json:"memory_kib"`
	Threads      uint8  `json:"threads"`
	KEK          string `json:"kek"`
	DeviceCheck  string `json:"device_check"`
}

type subkeyVector struct {
	Master   string `json:"master"`
	RecordID string `json:"record_id"`
	Meta     string `json:"meta"`
	Outbox   string `json:"outbox"`
	Slots    string `json:"slots"`
}

type idVector struct {
	NHS string `json:"nhs"`
	ID  string `json:"id"`
}

type sealedVector struct {
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	Nonce     string `json:"nonce"`
	AD        string `json:"ad"`
	Plaintext string `json:"plaintext"`
	Sealed    string `json:"sealed"`
}

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func key32(start byte) *[keySize]byte { return (*[keySize]byte)(seq(start, keySize)) }

// Fixed inputs of the vectors.
var (
	vecMaster    = key32(0x00)
	vecGroupKey  = key32(0x40)
	vecPatient   = key32(0x80)
	vecNonce     = seq(0xa0, nonceSize)
	vecCacheID   = seq(0xc0, cacheIDSize)
	vecDevice    = seq(0xe0, deviceSecretSize)
	vecSalt      = seq(0x10, saltSize)
	vecNHS       = record.NHSNumber("9434765919")
	vecVersion   = uint64(7)
	vecNotAfter  = time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	vecOccurred  = time.Date(2025, 11, 20, 14, 30, 0, 0, time.UTC)
	vecKDF       = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	vecPassword  = "correct horse battery staple"
	vecGroupGen  = uint64(3)
	vecMasterGen = uint64(2)
)

// buildVectors computes every vector from the fixed inputs with the
// package's own functions.
func buildVectors(t *testing.T) vectorFile {
	v := vectorFile{Comment: "Known answers for the kmcr cache format v1; see docs/cache-format.md. " +
		"Regenerate only for a deliberate format change: go test ./cache -run TestVectors -update-vectors"}
	kek := deriveKEK([]byte(vecPassword), vecDevice, vecSalt, vecKDF, vecCacheID)
	check := deviceCheck(vecDevice, vecCacheID)
	v.KEK = kekVector{vecPassword, hex.EncodeToString(vecDevice), hex.EncodeToString(vecCacheID), hex.EncodeToString(vecSalt),
		vecKDF.Time, vecKDF.MemoryKiB, vecKDF.Threads, hex.EncodeToString(kek[:]), hex.EncodeToString(check[:])}
	sub := deriveSubkeys(vecMaster)
	v.Subkeys = subkeyVector{hex.EncodeToString(vecMaster[:]), hex.EncodeToString(sub.id[:]), hex.EncodeToString(sub.meta[:]),
		hex.EncodeToString(sub.outbox[:]), hex.EncodeToString(sub.slots[:])}
	for _, n := range []record.NHSNumber{vecNHS, "9990000018", "0000000000"} {
		id := makeRecordID(&sub.id, n)
		v.RecordIDs = append(v.RecordIDs, idVector{n.Digits(), hex.EncodeToString(id[:])})
	}
	id := makeRecordID(&sub.id, vecNHS)
	notAfter := vecNotAfter.UnixNano()
	ie := IndexEntry{NHS: vecNHS, Family: "Ó Briain", Given: "Siobhán", BirthDate: "1962-03-12", Postcode: "ME7 2JH", Display: "Ó BRIAIN, Siobhán"}
	idxPlain, err := encodeIndex(&ie)
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"resourceType":"Bundle","type":"document"}`)
	recPlain := append(binary.BigEndian.AppendUint32(nil, uint32(len(doc))), doc...)
	recPlain = append(recPlain, make([]byte, recordPadBlock-len(recPlain))...)
	wrapPlain := append(append(bytes.Clone(vecPatient[:]), be64(vecVersion)...), be64(uint64(notAfter))...)
	outPlain := append(be64(uint64(vecOccurred.UnixNano())), []byte(`{"action":"R"}`)...)
	idxSealed, err := sealIndex(vecPatient, id, vecVersion, &ie, vecNonce)
	if err != nil {
		t.Fatal(err)
	}
	hdr := keysHeader{kind: KindOSKeyring, cacheID: [cacheIDSize]byte(vecCacheID), check: check}
	mh := masterHalf{gen: vecMasterGen, salt: [saltSize]byte(vecSalt), kdf: vecKDF}
	masterHalfBytes := encodeMasterHalf(&hdr, mh, &kek, vecMaster, vecNonce)
	groupHalfBytes := encodeGroupHalf(&hdr, &sub.slots, id.group(), vecGroupGen, vecGroupKey, vecNonce)

	add := func(kind string, key *[keySize]byte, ad, pt, sealed []byte) {
		v.Sealed = append(v.Sealed, sealedVector{kind, hex.EncodeToString(key[:]), hex.EncodeToString(vecNonce),
			hex.EncodeToString(ad), hex.EncodeToString(pt), hex.EncodeToString(sealed)})
	}
	add("key-wrap", vecGroupKey, keyWrapAD(nil, id, vecGroupGen), wrapPlain,
		sealKeyWrap(vecGroupKey, vecGroupGen, id, vecPatient, vecVersion, notAfter, vecNonce))
	add("index", vecPatient, indexAD(nil, id, vecVersion), idxPlain, idxSealed)
	add("record", vecPatient, recordAD(nil, id, vecVersion, notAfter), recPlain,
		sealRecord(vecPatient, id, vecVersion, notAfter, doc, vecNonce))
	add("meta", &sub.meta, metaAD(nil, "sync-cursor"), []byte("epoch-1:42"),
		sealMeta(&sub.meta, "sync-cursor", []byte("epoch-1:42"), vecNonce))
	add("outbox", &sub.outbox, outboxAD(nil, 42), outPlain,
		sealOutbox(&sub.outbox, 42, vecOccurred, []byte(`{"action":"R"}`), vecNonce))
	add("master-half", &kek, masterAD(&hdr, masterHalfBytes), vecMaster[:], masterHalfBytes)
	add("group-half", &sub.slots, groupAD(&hdr, id.group(), vecGroupGen), vecGroupKey[:], groupHalfBytes)
	return v
}

// Ensure the format matches testdata/vectors.json, and that the vectors
// agree with an independent reading of docs/cache-format.md.
func TestVectors(t *testing.T) {
	got := buildVectors(t)
	if *updateVectors {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var want vectorFile
	if err := json.Unmarshal(readFile(t, vectorsPath), &want); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("format changed: computed vectors differ from %s\n got %s\nwant %s", vectorsPath, gb, wb)
	}

	// Independent derivations, straight from the documented formulas.
	h := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	pw := argon2.IDKey([]byte(want.KEK.Passphrase), h(want.KEK.Salt), want.KEK.Time, want.KEK.MemoryKiB, want.KEK.Threads, 32)
	kek := make([]byte, 32)
	io.ReadFull(hkdf.New(sha256.New, append(pw, h(want.KEK.DeviceSecret)...), h(want.KEK.CacheID), []byte("kmcr/cache/v1/kek")), kek)
	if hex.EncodeToString(kek) != want.KEK.KEK {
		t.Error("KEK does not follow the documented derivation")
	}
	for label, wantHex := range map[string]string{"record-id": want.Subkeys.RecordID, "meta": want.Subkeys.Meta,
		"outbox": want.Subkeys.Outbox, "group-slots": want.Subkeys.Slots} {
		k := make([]byte, 32)
		io.ReadFull(hkdf.Expand(sha256.New, h(want.Subkeys.Master), []byte("kmcr/cache/v1/"+label)), k)
		if hex.EncodeToString(k) != wantHex {
			t.Errorf("subkey %s does not follow the documented derivation", label)
		}
	}
	mac := hmac.New(sha256.New, h(want.Subkeys.RecordID))
	mac.Write([]byte(want.RecordIDs[0].NHS))
	if hex.EncodeToString(mac.Sum(nil)[:16]) != want.RecordIDs[0].ID {
		t.Error("record id does not follow the documented derivation")
	}
	// The record AD, byte by byte as documented.
	id := h(want.RecordIDs[0].ID)
	ad := append([]byte{1, 7}, "records"...)
	ad = append(append(ad, 16), id...)
	ad = append(append(ad, be64(vecVersion)...), be64(uint64(vecNotAfter.UnixNano()))...)
	for _, s := range want.Sealed {
		if s.Kind == "record" && s.AD != hex.EncodeToString(ad) {
			t.Errorf("record AD = %s, documented layout gives %x", s.AD, ad)
		}
	}
	// Every sealed vector opens with its key, nonce and AD.
	for _, s := range want.Sealed {
		sealed := h(s.Sealed)
		var nonce, ct []byte
		switch s.Kind {
		case "master-half":
			nonce, ct = sealed[mhNonce:mhNonce+nonceSize], sealed[mhSealed:mhSealed+wrappedKeySize]
		case "group-half":
			nonce, ct = sealed[ghNonce:ghNonce+nonceSize], sealed[ghSealed:ghSealed+wrappedKeySize]
		default:
			if sealed[0] != sealedVersion {
				t.Errorf("%s: version byte %d", s.Kind, sealed[0])
			}
			nonce, ct = sealed[1:1+nonceSize], sealed[1+nonceSize:]
		}
		pt := make([]byte, 0, len(ct))
		if !openRaw(pt, (*[keySize]byte)(h(s.Key)), nonce, ct, h(s.AD)) {
			t.Errorf("%s: does not open with its key, nonce and AD", s.Kind)
		}
		if hex.EncodeToString(nonce) != s.Nonce {
			t.Errorf("%s: nonce not at the documented offset", s.Kind)
		}
	}
}
