package protocol

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

// Deltas. When a client says in Hello that it applies DeltaZstd, the server
// may send a changed document as a delta against the version the client
// last acknowledged: a zstd frame compressed with the old document as a raw
// dictionary, so only what changed costs bytes. DocMeta.Delta names the base
// by its SHA-256; DocMeta.Hash is the SHA-256 of the whole new document,
// which the client checks before storing anything. A client that cannot
// apply a delta (it holds another base, or the result does not match the
// hash) keeps the version it has and lists the patient in its Ack's Full:
// the server then sends the whole document.

// DeltaZstd is the delta format: zstd with the base document as a raw
// dictionary.
const DeltaZstd = "zstd-base"

// deltaDictID is the dictionary id a delta frame carries.
const deltaDictID = 0x6b6d6372 // "kmcr"

// DeltaRef says a payload item is a delta and against what.
type DeltaRef struct {
	Format   string `json:"format"`    // DeltaZstd
	BaseHash []byte `json:"base_hash"` // SHA-256 of the document it applies to
}

// DocHash is the hash DocMeta.Hash and DeltaRef.BaseHash carry.
func DocHash(doc []byte) []byte {
	h := sha256.Sum256(doc)
	return h[:]
}

// windowFor is a zstd window that reaches from anywhere in doc back to the
// start of base.
func windowFor(base, doc []byte) int {
	n := len(base) + len(doc)
	if n < zstd.MinWindowSize {
		return zstd.MinWindowSize
	}
	w := 1 << bits.Len(uint(n-1))
	return min(w, zstd.MaxWindowSize)
}

// EncodeDelta returns doc as a delta against base. The fastest level
// with lower memory: an encoder is built per delta (its dictionary is the
// base), and this level costs about 0.5 ms and 0.7 MB for a 12 KB summary
// against 5 ms and 9 MB for SpeedBetterCompression, for deltas a few bytes
// longer.
func EncodeDelta(base, doc []byte) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDictRaw(deltaDictID, base), zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(windowFor(base, doc)), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	return enc.EncodeAll(doc, nil), nil
}

// ErrDeltaMismatch is returned by ApplyDelta when the delta does not apply
// to the base given or its result does not match the document hash.
var ErrDeltaMismatch = errors.New("delta does not reproduce the document")

// ApplyDelta rebuilds a document from base and delta and checks it against
// ref and hash. The result is at most MaxDocument bytes.
func ApplyDelta(base []byte, ref DeltaRef, delta, hash []byte) ([]byte, error) {
	if ref.Format != DeltaZstd {
		return nil, fmt.Errorf("%w: unknown delta format %q", ErrDeltaMismatch, ref.Format)
	}
	if !bytes.Equal(DocHash(base), ref.BaseHash) {
		return nil, fmt.Errorf("%w: the base held is not the one the delta was made against", ErrDeltaMismatch)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDictRaw(deltaDictID, base), zstd.WithDecoderMaxMemory(MaxDocument),
		zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	doc, err := dec.DecodeAll(delta, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDeltaMismatch, err)
	}
	if !bytes.Equal(DocHash(doc), hash) {
		return nil, fmt.Errorf("%w: the result's hash differs", ErrDeltaMismatch)
	}
	return doc, nil
}
