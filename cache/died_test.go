package cache

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestIndexEntry_Died_RoundTripAndOlderEntries checks an entry's Died
// survives sealing and a reopened cache, that an entry without it is laid
// out byte for byte as before the field existed, and that such an older
// entry reads with Died empty.
func TestIndexEntry_Died_RoundTripAndOlderEntries(t *testing.T) {
	alive := testEntry(nhs1(1), "Smith", "Jane", "1923-12-16", "ME7 2JH")
	dead := testEntry(nhs1(2), "Jones", "Ann", "1930-01-02", "ME14 1XX")
	dead.Died = "2013-10-05"

	// The layout before Died: NHS digits, five uvarint-prefixed fields,
	// zeros to a multiple of the pad block.
	var legacy []byte
	legacy = append(legacy, alive.NHS.Digits()...)
	for _, f := range []string{alive.Family, alive.Given, alive.BirthDate, alive.Postcode, alive.Display} {
		legacy = binary.AppendUvarint(legacy, uint64(len(f)))
		legacy = append(legacy, f...)
	}
	legacy = append(legacy, make([]byte, (len(legacy)+indexPadBlock-1)/indexPadBlock*indexPadBlock-len(legacy))...)
	got, err := encodeIndex(&alive)
	if err != nil || !bytes.Equal(got, legacy) {
		t.Fatalf("an entry without Died encodes as %x, %v; want the older layout %x", got, err, legacy)
	}
	var back IndexEntry
	if err := decodeIndex(legacy, &back); err != nil || back != alive {
		t.Fatalf("older entry reads as %+v, %v", back, err)
	}
	enc, err := encodeIndex(&dead)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeIndex(enc, &back); err != nil || back != dead {
		t.Fatalf("entry with Died reads as %+v, %v", back, err)
	}

	c, e := mustCreate(t)
	mustPut(t, c, alive, dead)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = mustOpen(t, e)
	if got, ok := c.Entry(dead.NHS); !ok || got.Died != "2013-10-05" {
		t.Errorf("after reopening, %+v %v", got, ok)
	}
	if got, ok := c.Entry(alive.NHS); !ok || got.Died != "" {
		t.Errorf("after reopening, %+v %v", got, ok)
	}
}
