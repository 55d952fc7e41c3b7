package audit

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// FuzzDecode checks Decode never panics, that whatever it accepts is
// canonical (it re-encodes to the same bytes and validates), and that the
// fast path and the encoding/json path agree on what to accept.
func FuzzDecode(f *testing.F) {
	for _, a := range Actions() {
		f.Add(chained(a).Canonical())
	}
	f.Add(knownEvent().Canonical())
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"seq":1,"prev":"` + Hash{}.String() + `"}`))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		slow, errSlow := decodeSlow(b)
		if (err == nil) != (errSlow == nil) {
			t.Fatalf("fast path says %v, encoding/json path says %v, for %q", err, errSlow, b)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(e, slow) {
			t.Fatalf("paths disagree:\n%+v\n%+v", e, slow)
		}
		if c := e.Canonical(); !bytes.Equal(c, b) {
			t.Fatalf("accepted non-canonical input:\n in %q\nout %q", b, c)
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
	})
}

// FuzzVerifyBatch checks VerifyBatch never panics and keeps every item, on
// batches built from fuzz input: each record is a seq byte, a length byte and
// that many bytes, where a length of 255 means "the device's real event".
func FuzzVerifyBatch(f *testing.F) {
	m := mustChain(f, 12)
	f.Add([]byte{1, 255, 2, 255, 3, 255}, uint8(0), uint8(3))
	f.Add([]byte{3, 255, 2, 255, 5, 4, 'j', 'u', 'n', 'k'}, uint8(2), uint8(5))
	f.Add([]byte{7, 255, 7, 1, 'x', 200, 255}, uint8(6), uint8(12))
	f.Add([]byte{0, 0}, uint8(12), uint8(1))
	pub := mustPub()
	f.Fuzz(func(t *testing.T, spec []byte, have, headSeq uint8) {
		stored := uint64(have % 13)
		s := newServer()
		if stored > 0 {
			s.verify(t, m.uploads(1, stored), m.headAt(stored), receivedAfter(int(stored)))
		}
		var batch []Uploaded
		for len(spec) >= 2 {
			seq, n := uint64(spec[0]), int(spec[1])
			spec = spec[2:]
			var c []byte
			switch {
			case n == 255 && seq >= 1 && seq <= 12:
				c = m.bytes[seq-1]
			case n <= len(spec):
				c, spec = spec[:n], spec[n:]
			default:
				c, spec = spec, nil
			}
			batch = append(batch, Uploaded{Seq: seq, Canonical: c})
		}
		var head *SignedHead
		if headSeq%13 > 0 {
			head = sign(m.headAt(uint64(headSeq % 13)))
		} else if headSeq != 0 {
			sh := SignedHead{Head: Head{Seq: binary.BigEndian.Uint64(append(make([]byte, 7), headSeq))}}
			head = &sh
		}
		r, err := VerifyBatch(s.chain, pub, batch, head, s.lookup, receivedAfter(13))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(r.Accepted) + len(r.Duplicates) + len(r.Malformed) + len(r.Conflicts); n != len(batch) {
			t.Fatalf("%d items kept of %d", n, len(batch))
		}
		if r.Next.LastSeq < s.chain.LastSeq {
			t.Fatalf("chain went back from %d to %d", s.chain.LastSeq, r.Next.LastSeq)
		}
	})
}
