package cache

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"kmcr/record"
)

// tamperFixture is a closed cache with three patients A, B and C, a meta
// value and two outbox entries.
type tamperFixture struct {
	e       *testEnv
	ns      []record.NHSNumber
	ids     []recordID
	slotKey [keySize]byte
}

func newTamperFixture(t *testing.T) *tamperFixture {
	c, e := mustCreate(t)
	f := &tamperFixture{e: e, ns: nhsNumbers(0, 3)}
	mustPut(t, c,
		testEntry(f.ns[0], "Adams", "Ann", "1950-01-01", "ME7 2JH"),
		testEntry(f.ns[1], "Baker", "Bob", "1960-02-02", "ME7 2JH"),
		testEntry(f.ns[2], "Carter", "Cat", "1970-03-03", "CT1 1AA"))
	err := c.Update(func(tx *Tx) error {
		return errors.Join(tx.PutMeta("cursor", []byte("c1")), tx.PutMeta("session", []byte("s1")),
			tx.OutboxAppend(1, epoch, []byte("one")), tx.OutboxAppend(2, epoch, []byte("two")))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range f.ns {
		f.ids = append(f.ids, makeRecordID(&c.sub.id, n))
	}
	f.slotKey = c.sub.slots
	mustClose(t, c)
	return f
}

func swapValues(tx *bolt.Tx, bucket string, k1, k2 []byte) error {
	b := tx.Bucket([]byte(bucket))
	v1, v2 := bytes.Clone(b.Get(k1)), bytes.Clone(b.Get(k2))
	return errors.Join(b.Put(k1, v2), b.Put(k2, v1))
}

func mutate(tx *bolt.Tx, bucket string, k []byte, fn func([]byte) []byte) error {
	b := tx.Bucket([]byte(bucket))
	return b.Put(k, fn(bytes.Clone(b.Get(k))))
}

func flipBit(v []byte) []byte { v[len(v)/2] ^= 0x10; return v }

// docKey returns the records bucket key of a patient's document.
func docKey(tx *bolt.Tx, id recordID) []byte {
	return bytes.Clone(tx.Bucket([]byte(bucketSlots)).Get(id[:]))
}

// mutateDoc edits a patient's stored document in place.
func mutateDoc(tx *bolt.Tx, id recordID, fn func([]byte) []byte) error {
	return mutate(tx, bucketRecords, docKey(tx, id), fn)
}

// Ensure a swapped, bit-flipped, truncated or moved value fails with
// ErrTampered for that record only, and the rest of the cache works.
func TestTx_Get_Tampered(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(f *tamperFixture) func(tx *bolt.Tx) error
		bad       []int // patients whose Get fails with ErrTampered
		unlisted  []int // patients missing from search (damaged index)
		damaged   int   // Stats.Damaged after Open
		badBucket string
	}{
		{"swap records", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error {
				return swapValues(tx, bucketRecords, docKey(tx, f.ids[0]), docKey(tx, f.ids[1]))
			}
		}, []int{0, 1}, nil, 0, bucketRecords},
		{"swap slots", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error { return swapValues(tx, bucketSlots, f.ids[0][:], f.ids[1][:]) }
		}, []int{0, 1}, nil, 0, bucketRecords},
		{"delete a slot", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketSlots)).Delete(f.ids[2][:]) }
		}, []int{2}, nil, 0, bucketRecords},
		{"flip record bit", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error { return mutateDoc(tx, f.ids[0], flipBit) }
		}, []int{0}, nil, 0, bucketRecords},
		{"flip version byte", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error {
				return mutateDoc(tx, f.ids[0], func(v []byte) []byte { v[0] = 2; return v })
			}
		}, []int{0}, nil, 0, bucketRecords},
		{"truncate record by one byte", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error {
				return mutateDoc(tx, f.ids[0], func(v []byte) []byte { return v[:len(v)-1] })
			}
		}, []int{0}, nil, 0, bucketRecords},
		{"truncate record to a nonce", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error {
				return mutateDoc(tx, f.ids[0], func(v []byte) []byte { return v[:20] })
			}
		}, []int{0}, nil, 0, bucketRecords},
		{"move record to another key", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte(bucketRecords))
				k0, k1 := docKey(tx, f.ids[0]), docKey(tx, f.ids[1])
				return errors.Join(b.Put(k1, bytes.Clone(b.Get(k0))), b.Delete(k0))
			}
		}, []int{0, 1}, nil, 0, bucketRecords},
		{"move record into the index bucket", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error {
				v := bytes.Clone(tx.Bucket([]byte(bucketRecords)).Get(docKey(tx, f.ids[0])))
				return tx.Bucket([]byte(bucketIndex)).Put(f.ids[0][:], v)
			}
		}, nil, []int{0}, 1, ""},
		{"swap wrapped keys", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error { return swapValues(tx, bucketKeys, f.ids[0][:], f.ids[1][:]) }
		}, []int{0, 1}, []int{0, 1}, 2, bucketKeys},
		{"flip wrapped key bit", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error { return mutate(tx, bucketKeys, f.ids[2][:], flipBit) }
		}, []int{2}, []int{2}, 1, bucketKeys},
		{"flip index bit", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error { return mutate(tx, bucketIndex, f.ids[1][:], flipBit) }
		}, nil, []int{1}, 1, ""},
		{"swap index entries", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error { return swapValues(tx, bucketIndex, f.ids[0][:], f.ids[2][:]) }
		}, nil, []int{0, 2}, 2, ""},
		{"rewind group generation", func(f *tamperFixture) func(*bolt.Tx) error {
			return func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(bucketGroups)).Put([]byte{f.ids[0].group()}, be64(7))
			}
		}, []int{0}, []int{0}, 1, bucketKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTamperFixture(t)
			editDB(t, f.e, tt.edit(f))
			c := mustOpen(t, f.e)
			if st := c.Stats(); st.Damaged != tt.damaged || st.Patients != 3-len(tt.unlisted) {
				t.Errorf("Stats = %+v, want Damaged %d", st, tt.damaged)
			}
			for i, n := range f.ns {
				bad := containsInt(tt.bad, i)
				rec, err := c.Get(n)
				var re *RecordError
				switch {
				case bad && (!errors.Is(err, ErrTampered) || !errors.As(err, &re) || re.Bucket != tt.badBucket):
					t.Errorf("Get(patient %d) = %v, want *RecordError in %s matching ErrTampered", i, err, tt.badBucket)
				case bad && re.Key != f.ids[i].String():
					t.Errorf("RecordError.Key = %s, want %s", re.Key, f.ids[i])
				case !bad && (err != nil || rec.NHS != n):
					t.Errorf("Get(patient %d) = %v, want it intact", i, err)
				}
				res, err := c.Search(n.Digits(), 5)
				if listed := err == nil && res.Total == 1; listed == containsInt(tt.unlisted, i) {
					t.Errorf("patient %d listed = %v, want %v", i, listed, !containsInt(tt.unlisted, i))
				}
			}
			// The rest of the cache keeps working, and replacing a damaged
			// patient repairs them.
			mustPut(t, c, testEntry(nhs1(50), "New", "Patient", "", ""))
			for _, i := range append(tt.bad, tt.unlisted...) {
				mustPut(t, c, testEntry(f.ns[i], "Repaired", "", "", ""))
				if _, err := c.Get(f.ns[i]); err != nil {
					t.Errorf("patient %d after repair: %v", i, err)
				}
			}
			if st := c.Stats(); st.Damaged != 0 {
				t.Errorf("Damaged after repair = %d", st.Damaged)
			}
		})
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Ensure tampered meta values and outbox entries fail alone.
func TestTx_Meta_Tampered(t *testing.T) {
	f := newTamperFixture(t)
	editDB(t, f.e, func(tx *bolt.Tx) error {
		return errors.Join(swapValues(tx, bucketMeta, []byte("cursor"), []byte("session")),
			swapValues(tx, bucketOutbox, be64(1), be64(2)))
	})
	c := mustOpen(t, f.e)
	_ = c.View(func(tx *Tx) error {
		for _, name := range []string{"cursor", "session"} {
			_, err := tx.Meta(name)
			var re *RecordError
			if !errors.As(err, &re) || re.Bucket != bucketMeta || re.Key != name || !errors.Is(err, ErrTampered) {
				t.Errorf("Meta(%s) = %v", name, err)
			}
		}
		return nil
	})
	_, err := c.Outbox(0, 10)
	var re *RecordError
	if !errors.As(err, &re) || re.Bucket != bucketOutbox || re.Key != "1" {
		t.Errorf("Outbox = %v, want *RecordError for seq 1", err)
	}
	if _, err := c.Get(f.ns[0]); err != nil {
		t.Errorf("records affected: %v", err)
	}
}

// Ensure a damaged group slot in cache.keys damages only that group's
// patients, and the group recovers on its next write.
func TestOpen_DamagedGroupSlot(t *testing.T) {
	f := newTamperFixture(t)
	g := f.ids[0].group()
	kf, err := os.OpenFile(f.e.opts.keysPath(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := groupHalfOffset(g, 0) + ghSealed + 3
	b := make([]byte, 1)
	kf.ReadAt(b, off)
	kf.WriteAt([]byte{b[0] ^ 1}, off)
	kf.Close()

	c := mustOpen(t, f.e)
	want := 0
	for _, id := range f.ids {
		if id.group() == g {
			want++
		}
	}
	if st := c.Stats(); st.Damaged != want {
		t.Errorf("Damaged = %d, want %d", st.Damaged, want)
	}
	_, err = c.Get(f.ns[0])
	wantErr(t, err, ErrTampered)
	mustPut(t, c, testEntry(f.ns[0], "Adams", "Again", "", ""))
	if _, err := c.Get(f.ns[0]); err != nil {
		t.Errorf("after rewrite: %v", err)
	}
	mustClose(t, c)
	c = mustOpen(t, f.e)
	if _, err := c.Get(f.ns[0]); err != nil || c.Stats().Damaged != 0 {
		t.Errorf("after reopen: %v, %+v", err, c.Stats())
	}
}

// Ensure truncated or damaged files give clear errors and never panic.
func TestOpen_DamagedFiles(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, e *testEnv)
		want error
	}{
		{"cache.db empty", truncateTo(dbFileName, 0), ErrCorrupt},
		{"cache.db 100 bytes", truncateTo(dbFileName, 100), ErrCorrupt},
		{"cache.db one page", truncateTo(dbFileName, 4096), ErrCorrupt},
		{"cache.db half", truncateBy(dbFileName, 0.5), ErrCorrupt},
		{"cache.keys empty", truncateTo(keysFileName, 0), ErrCorrupt},
		{"cache.keys header only", truncateTo(keysFileName, keysHeaderSize), ErrCorrupt},
		{"cache.keys minus a byte", truncateTo(keysFileName, keysFileSize-1), ErrCorrupt},
		{"cache.keys plus a byte", truncateTo(keysFileName, keysFileSize+1), ErrCorrupt},
		{"cache.keys missing", func(t *testing.T, e *testEnv) { os.Remove(e.opts.keysPath()) }, ErrCorrupt},
		{"cache.db missing", func(t *testing.T, e *testEnv) { os.Remove(e.opts.dbPath()) }, ErrCorrupt},
		{"bad magic", patchKeys(hdrMagic, 'X'), ErrCorrupt},
		{"newer format", patchKeys(hdrFormat, 9), ErrCorrupt},
		{"other cache's id", patchKeys(hdrCacheID, 0xFF), ErrCorrupt},
		{"other store kind", patchKeys(hdrKind, byte(KindFile)), ErrSecretStoreMismatch},
		{"device check", patchKeys(hdrCheck, 0xFF), ErrWrongDeviceSecret},
		{"master generation", patchKeys(masterOffset+mhGen+7, 9), ErrCorrupt},
		{"master KDF memory", patchKeys(masterOffset+mhMemory, 0xFF), ErrCorrupt},
		{"master KDF time", patchKeys(masterOffset+mhTime+3, 2), ErrWrongPassphrase},
		{"master sealed key", patchKeys(masterOffset+mhSealed, 0xFF), ErrWrongPassphrase},
		{"no header bucket", func(t *testing.T, e *testEnv) {
			editDB(t, e, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte(bucketHeader)) })
		}, ErrCorrupt},
		{"no groups bucket", func(t *testing.T, e *testEnv) {
			editDB(t, e, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte(bucketGroups)) })
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, e := mustCreate(t)
			var entries []IndexEntry
			for i, n := range nhsNumbers(0, 60) {
				entries = append(entries, testEntry(n, "Family", string(rune('a'+i%26)), "", ""))
			}
			mustPut(t, c, entries...)
			mustClose(t, c)
			tt.edit(t, e)
			c, err := Open(e.opts, []byte(testPass))
			if err == nil {
				c.Close()
			}
			wantErr(t, err, tt.want)
		})
	}
}

func truncateTo(name string, size int64) func(*testing.T, *testEnv) {
	return func(t *testing.T, e *testEnv) {
		if err := os.Truncate(e.opts.Dir+"/"+name, size); err != nil {
			t.Fatal(err)
		}
	}
}

func truncateBy(name string, by float64) func(*testing.T, *testEnv) {
	return func(t *testing.T, e *testEnv) {
		p := e.opts.Dir + "/" + name
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		size := int64(by)
		if by > 0 && by < 1 {
			size = int64(float64(st.Size()) * by)
		} else {
			size = st.Size() + size
		}
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
	}
}

func patchKeys(off int, x byte) func(*testing.T, *testEnv) {
	return func(t *testing.T, e *testEnv) {
		f, err := os.OpenFile(e.opts.keysPath(), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		f.ReadAt(b, int64(off))
		if _, err := f.WriteAt([]byte{b[0] ^ x}, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
}

// Ensure a second Open in the same process waits at most the lock timeout.
func TestOpen_Locked(t *testing.T) {
	_, e := mustCreate(t)
	e.opts.LockTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err := Open(e.opts, []byte(testPass))
	wantErr(t, err, ErrAlreadyRunning)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waited %v with a 200ms lock timeout", d)
	}
}

// Ensure a crafted nested bucket where a value belongs is survived: Open
// counts it as damage, and a Put that bbolt refuses half-way makes the whole
// Update fail even when the function ignores the error.
func TestTx_Put_NestedBucket(t *testing.T) {
	f := newTamperFixture(t)
	c := mustOpen(t, f.e)
	x := nhs1(40)
	xid := makeRecordID(&c.sub.id, x)
	mustClose(t, c)
	editDB(t, f.e, func(tx *bolt.Tx) error {
		_, err := tx.Bucket([]byte(bucketSlots)).CreateBucket(xid[:])
		return err
	})
	c = mustOpen(t, f.e)
	var putErr error
	err := c.Update(func(tx *Tx) error {
		if err := tx.Put(testRecord(f.ns[0], 2, lease), testEntry(f.ns[0], "Changed", "", "", "")); err != nil {
			return err
		}
		putErr = tx.Put(testRecord(x, 1, lease), testEntry(x, "Crafted", "", "", ""))
		return nil // ignores putErr
	})
	if putErr == nil || err == nil {
		t.Fatalf("Put = %v, Update = %v; want both to fail", putErr, err)
	}
	if rec, err := c.Get(f.ns[0]); err != nil || rec.Version != 1 {
		t.Errorf("the earlier Put of the failed transaction was committed: %v, %v", rec, err)
	}
	for _, n := range f.ns {
		if _, err := c.Get(n); err != nil {
			t.Errorf("patient %v: %v", n, err)
		}
	}
}

// Ensure a cache.db of another format (format 1 kept documents under
// record ids) is refused with an error that says what to do, not misread.
func TestOpen_OtherFormatRefused(t *testing.T) {
	c, e := mustCreate(t)
	mustClose(t, c)
	editDB(t, e, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketHeader)).Put([]byte(hkFormat), []byte{0, 1})
	})
	_, err := Open(e.opts, []byte(testPass))
	wantErr(t, err, ErrCorrupt)
	if !strings.Contains(err.Error(), "format 1") || !strings.Contains(err.Error(), "enrol again") {
		t.Fatalf("error does not say what is wrong and what to do: %v", err)
	}
}
