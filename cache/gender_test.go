package cache

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestIndexEntry_GenderAndHeld_RoundTrip checks format 3's fields: an
// entry with gender and held (with and without a death) reads back whole,
// survives a reopen, and one without them keeps the earlier layout.
func TestIndexEntry_GenderAndHeld_RoundTrip(t *testing.T) {
	a := testEntry(nhs1(1), "Smith", "Shirley", "1930-05-19", "TN23 1AA")
	a.Gender, a.Held = "female", "break-glass"
	b := testEntry(nhs1(2), "Smith", "Valerie", "1930-05-20", "TN23 2BB")
	b.Gender, b.Held, b.Died = "female", "caseload", "2020-01-02"
	c0 := testEntry(nhs1(3), "Jones", "Ann", "1930-01-02", "ME14 1XX")
	c0.Held = "incident"
	for _, e := range []IndexEntry{a, b, c0} {
		enc, err := encodeIndex(&e)
		if err != nil {
			t.Fatal(err)
		}
		var back IndexEntry
		if err := decodeIndex(enc, &back); err != nil || back != e {
			t.Fatalf("%+v reads back as %+v, %v", e, back, err)
		}
		if len(enc)%indexPadBlock != 0 {
			t.Fatalf("entry of %d bytes is not padded", len(enc))
		}
	}
	plain := testEntry(nhs1(4), "Brown", "Ed", "1950-01-01", "CT1 1AA")
	enc, _ := encodeIndex(&plain)
	if i := strings.Index(string(enc), string(indexExtMarker[:])); i >= 0 {
		t.Fatalf("an entry without gender or held carries the format-3 marker at %d", i)
	}
	// A damaged extension is refused, not misread.
	enc, _ = encodeIndex(&a)
	cut := append([]byte(nil), enc...)
	for i := len(cut) - 1; i >= 0 && cut[i] == 0; i-- {
		cut[i] = 0xff
	}
	var back IndexEntry
	if err := decodeIndex(cut, &back); err == nil {
		t.Fatal("an entry with garbage after its fields was read")
	}

	c, e := mustCreate(t)
	mustPut(t, c, a, b)
	mustClose(t, c)
	c = mustOpen(t, e)
	if got, ok := c.Entry(a.NHS); !ok || got.Gender != "female" || got.Held != "break-glass" {
		t.Errorf("after reopening, %+v %v", got, ok)
	}
	if got, ok := c.Entry(b.NHS); !ok || got != b {
		t.Errorf("after reopening, %+v %v; want %+v", got, ok, b)
	}
}

// setFormat writes cache.db's format number, as another version would.
func setFormat(t *testing.T, e *testEnv, f uint16) {
	t.Helper()
	db, err := bolt.Open(e.opts.dbPath(), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketHeader)).Put([]byte(hkFormat), binary.BigEndian.AppendUint16(nil, f))
	}); err != nil {
		t.Fatal(err)
	}
}

func formatOf(t *testing.T, e *testEnv) uint16 {
	t.Helper()
	db, err := bolt.Open(e.opts.dbPath(), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var f uint16
	db.View(func(tx *bolt.Tx) error {
		f = binary.BigEndian.Uint16(tx.Bucket([]byte(bucketHeader)).Get([]byte(hkFormat)))
		return nil
	})
	return f
}

// TestOpen_UpgradesFormat2AndRefusesNewer checks a format-2 cache (entries
// without gender or held) opens, keeps its entries and is marked format 3
// only once the passphrase was right; a format this version does not know
// is refused with a message that says what to do.
func TestOpen_UpgradesFormat2AndRefusesNewer(t *testing.T) {
	c, e := mustCreate(t)
	old := testEntry(nhs1(5), "Dabrowski", "Jan", "1948-03-12", "CT2 7NZ")
	mustPut(t, c, old)
	mustClose(t, c)
	setFormat(t, e, 2)
	if _, err := Open(e.opts, []byte("not the passphrase")); err == nil {
		t.Fatal("a wrong passphrase opened the cache")
	}
	if f := formatOf(t, e); f != 2 {
		t.Fatalf("a wrong passphrase changed the format to %d", f)
	}
	e.clock.Advance(time.Hour) // past the wait a failure starts
	c = mustOpen(t, e)
	if got, ok := c.Entry(old.NHS); !ok || got != old {
		t.Fatalf("a format-2 entry reads as %+v %v", got, ok)
	}
	mustClose(t, c)
	if f := formatOf(t, e); f != dbFormat {
		t.Fatalf("format %d after unlocking a format-2 cache; want %d", f, dbFormat)
	}
	setFormat(t, e, dbFormat+1)
	_, err := Open(e.opts, []byte(testPass))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "enrol again") {
		t.Fatalf("a newer format opened as %v; want ErrCorrupt saying what to do", err)
	}
}
