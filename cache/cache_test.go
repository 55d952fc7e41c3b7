package cache

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"testing"
	"time"

	"kmcr/record"
)

// Ensure records, index entries and meta values survive close and reopen.
func TestCache_Open_RoundTrip(t *testing.T) {
	c, e := mustCreate(t)
	ns := nhsNumbers(0, 3)
	mustPut(t, c,
		testEntry(ns[0], "Smith", "John", "1962-03-12", "ME7 2JH"),
		testEntry(ns[1], "Ó Briain", "Siobhán", "1980-01-31", "CT1 1AA"),
		testEntry(ns[2], "Jones", "Zoë", "", ""))
	if err := c.Update(func(tx *Tx) error { return tx.PutMeta("sync-cursor", []byte("epoch-7:42")) }); err != nil {
		t.Fatal(err)
	}
	mustClose(t, c)

	c = mustOpen(t, e)
	for _, n := range ns {
		rec, err := c.Get(n)
		if err != nil {
			t.Fatalf("Get(%v): %v", n, err)
		}
		want := testRecord(n, 1, lease)
		if rec.NHS != n || rec.Version != 1 || !rec.NotAfter.Equal(lease) || !bytes.Equal(rec.Data, want.Data) {
			t.Errorf("Get(%v) = %+v, want %+v", n, rec, want)
		}
	}
	err := c.View(func(tx *Tx) error {
		v, err := tx.Meta("sync-cursor")
		if err != nil || string(v) != "epoch-7:42" {
			t.Errorf("Meta = %q, %v", v, err)
		}
		if _, err := tx.Meta("session"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Meta(missing) error = %v, want ErrNotFound", err)
		}
		ps, err := tx.Patients()
		if err != nil || len(ps) != 3 {
			t.Errorf("Patients = %v, %v", ps, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Search("obriain", 10)
	if err != nil || res.Total != 1 || res.Entries[0].Given != "Siobhán" {
		t.Errorf("Search after reopen = %+v, %v", res, err)
	}
	if _, err := c.Get(nhs1(10)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(absent) error = %v, want ErrNotFound", err)
	}
}

// Ensure the default Argon2 parameters (64 MiB) work end to end.
func TestCache_Open_DefaultKDF(t *testing.T) {
	e := newEnv(t)
	e.opts.KDF = KDFParams{}
	c, err := Create(e.opts, []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if c.kdf != DefaultKDF {
		t.Fatalf("kdf = %+v, want DefaultKDF", c.kdf)
	}
	mustPut(t, c, testEntry(nhs1(0), "Smith", "Ann", "1950-05-05", ""))
	mustClose(t, c)
	c = mustOpen(t, e)
	if _, err := c.Get(nhs1(0)); err != nil {
		t.Fatal(err)
	}
}

// Ensure values of many sizes, including empty and large, round-trip.
func TestTx_Put_Sizes(t *testing.T) {
	c, _ := mustCreate(t)
	for i, size := range []int{0, 1, 251, 252, 253, 256, 8 << 10, 1 << 20} {
		n := nhs1(i)
		data := bytes.Repeat([]byte{byte(i + 1)}, size)
		err := c.Update(func(tx *Tx) error {
			return tx.Put(Record{NHS: n, Version: 3, NotAfter: lease, Data: data}, IndexEntry{Family: "Size"})
		})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		rec, err := c.Get(n)
		if err != nil || !bytes.Equal(rec.Data, data) {
			t.Fatalf("size %d: got %d bytes, %v", size, len(rec.Data), err)
		}
	}
}

// Ensure Create refuses a profile that already holds a cache.
func TestCreate_Exists(t *testing.T) {
	c, e := mustCreate(t)
	mustClose(t, c)
	_, err := Create(e.opts, []byte(testPass))
	wantErr(t, err, ErrExist)
	wantErr(t, err, fs.ErrExist)
	if !Exists(e.opts.Dir) || Exists(t.TempDir()) {
		t.Error("Exists is wrong")
	}
}

// Ensure Open of an empty profile says there is no cache.
func TestOpen_NotExist(t *testing.T) {
	e := newEnv(t)
	_, err := Open(e.opts, []byte(testPass))
	wantErr(t, err, ErrNotExist)
	wantErr(t, err, fs.ErrNotExist)
	if _, err := os.Stat(e.opts.dbPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Open created cache.db")
	}
}

// Ensure invalid arguments are refused with ErrInvalid, before anything
// changes: an existing patient survives even if the caller ignores the error.
func TestTx_Put_Invalid(t *testing.T) {
	c, _ := mustCreate(t)
	n := nhs1(0)
	mustPut(t, c, testEntry(n, "Existing", "Patient", "", ""))
	tests := []struct {
		name string
		rec  Record
		idx  IndexEntry
	}{
		{"short NHS number", Record{NHS: "123", NotAfter: lease}, IndexEntry{}},
		{"non-digit NHS number", Record{NHS: "94347659x9", NotAfter: lease}, IndexEntry{}},
		{"index for another patient", Record{NHS: n, NotAfter: lease}, IndexEntry{NHS: nhs1(1)}},
		{"no lease", Record{NHS: n}, IndexEntry{}},
		{"bad birth date", Record{NHS: n, NotAfter: lease}, IndexEntry{BirthDate: "12/03/1962"}},
		{"impossible birth date", Record{NHS: n, NotAfter: lease}, IndexEntry{BirthDate: "1962-02-30"}},
		{"huge name", Record{NHS: n, NotAfter: lease}, IndexEntry{Family: string(make([]byte, 2000))}},
		{"huge display", Record{NHS: n, NotAfter: lease}, IndexEntry{Display: string(make([]byte, 2000))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var putErr error
			if err := c.Update(func(tx *Tx) error { putErr = tx.Put(tt.rec, tt.idx); return nil }); err != nil {
				t.Fatal(err)
			}
			wantErr(t, putErr, ErrInvalid)
			if rec, err := c.Get(n); err != nil || rec.Version != 1 {
				t.Errorf("existing patient after a failed Put: %v, %v", rec, err)
			}
		})
	}
	if _, err := c.Get("12"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get(bad) = %v", err)
	}
	if st := c.Stats(); st.Patients != 1 {
		t.Errorf("failed Puts changed the patient count to %d", st.Patients)
	}
}

// Ensure a failed Update changes nothing: values, index, keys or slots.
func TestCache_Update_Rollback(t *testing.T) {
	c, e := mustCreate(t)
	ns := nhsNumbers(0, 2)
	mustPut(t, c, testEntry(ns[0], "Keep", "Me", "", ""))
	keysBefore := readFile(t, e.opts.keysPath())
	groupsBefore := c.groups
	boom := errors.New("boom")
	err := c.Update(func(tx *Tx) error {
		if err := tx.Put(testRecord(ns[1], 1, lease), testEntry(ns[1], "Gone", "Soon", "", "")); err != nil {
			return err
		}
		if err := tx.Delete(ns[0]); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)
	if _, err := c.Get(ns[1]); !errors.Is(err, ErrNotFound) {
		t.Errorf("rolled-back Put visible: %v", err)
	}
	if _, err := c.Get(ns[0]); err != nil {
		t.Errorf("rolled-back Delete took effect: %v", err)
	}
	if res, _ := c.Search("gone", 5); res.Total != 0 {
		t.Error("rolled-back Put is searchable")
	}
	if !bytes.Equal(keysBefore, readFile(t, e.opts.keysPath())) || groupsBefore != c.groups {
		t.Error("rolled-back rotation changed cache.keys or group keys")
	}
}

// Ensure a panicking Update function rolls back and releases the writer.
func TestCache_Update_Panic(t *testing.T) {
	c, _ := mustCreate(t)
	func() {
		defer func() { recover() }()
		_ = c.Update(func(tx *Tx) error {
			_ = tx.Put(testRecord(nhs1(0), 1, lease), IndexEntry{Family: "Panic"})
			panic("boom")
		})
	}()
	if _, err := c.Get(nhs1(0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("panicked Put visible: %v", err)
	}
	mustPut(t, c, testEntry(nhs1(1), "After", "Panic", "", "")) // the writer lock was released
}

// Ensure replacing a patient gives a new version, a new key and a rotated group.
func TestTx_Put_Replace(t *testing.T) {
	c, _ := mustCreate(t)
	n := nhs1(0)
	mustPut(t, c, testEntry(n, "Smith", "John", "1962-03-12", ""))
	g := makeRecordID(&c.sub.id, n).group()
	gen := c.groups[g].gen
	err := c.Update(func(tx *Tx) error {
		return tx.Put(testRecord(n, 2, lease), testEntry(n, "Smyth", "John", "1962-03-12", ""))
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := c.Get(n)
	if err != nil || rec.Version != 2 {
		t.Fatalf("Get = %+v, %v", rec, err)
	}
	if c.groups[g].gen != gen+1 {
		t.Errorf("group generation = %d, want %d", c.groups[g].gen, gen+1)
	}
	if res, _ := c.Search("smith", 5); res.Total != 0 {
		t.Error("old index entry still searchable")
	}
	if res, _ := c.Search("smyth", 5); res.Total != 1 {
		t.Error("new index entry not searchable")
	}
	if st := c.Stats(); st.Patients != 1 {
		t.Errorf("Patients = %d", st.Patients)
	}
}

// Ensure Delete and DeleteAll remove patients and rotate their groups.
func TestTx_Delete(t *testing.T) {
	c, _ := mustCreate(t)
	ns := nhsNumbers(0, 20)
	var entries []IndexEntry
	for i, n := range ns {
		entries = append(entries, testEntry(n, "Family", string(rune('A'+i)), "", ""))
	}
	mustPut(t, c, entries...)
	if err := c.Update(func(tx *Tx) error { return tx.Delete(ns[0]) }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ns[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted patient: %v", err)
	}
	if err := c.Update(func(tx *Tx) error { return tx.Delete(nhs1(500)) }); err != nil {
		t.Errorf("Delete(absent) = %v", err)
	}
	gens := c.groups
	if err := c.Update(func(tx *Tx) error {
		if err := tx.DeleteAll(); err != nil {
			return err
		}
		ps, _ := tx.Patients()
		if len(ps) != 0 {
			t.Errorf("Patients inside DeleteAll tx = %d", len(ps))
		}
		return tx.Put(testRecord(ns[5], 9, lease), testEntry(ns[5], "Back", "Again", "", ""))
	}); err != nil {
		t.Fatal(err)
	}
	for g := range numGroups {
		if c.groups[g].gen != gens[g].gen+1 {
			t.Fatalf("group %d not rotated by DeleteAll", g)
		}
	}
	res, _ := c.Search("family", 50)
	if res.Total != 0 {
		t.Errorf("Search after DeleteAll = %d", res.Total)
	}
	if rec, err := c.Get(ns[5]); err != nil || rec.Version != 9 {
		t.Errorf("Put after DeleteAll = %v, %v", rec, err)
	}
	if st := c.Stats(); st.Patients != 1 {
		t.Errorf("Stats.Patients = %d", st.Patients)
	}
}

// Ensure Patients inside an Update sees the transaction's own changes.
func TestTx_Patients_Overlay(t *testing.T) {
	c, _ := mustCreate(t)
	ns := nhsNumbers(0, 3)
	mustPut(t, c, testEntry(ns[0], "Adams", "A", "", ""), testEntry(ns[1], "Baker", "B", "", ""))
	err := c.Update(func(tx *Tx) error {
		if err := tx.Delete(ns[0]); err != nil {
			return err
		}
		if err := tx.Put(testRecord(ns[2], 1, lease), testEntry(ns[2], "Carter", "C", "", "")); err != nil {
			return err
		}
		got, _ := tx.Patients()
		if want := []record.NHSNumber{ns[1], ns[2]}; !slices.Equal(got, want) {
			t.Errorf("Patients = %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Ensure a Tx cannot be used after its function returns, nor written in View.
func TestTx_Done(t *testing.T) {
	c, _ := mustCreate(t)
	var kept *Tx
	_ = c.View(func(tx *Tx) error {
		kept = tx
		wantErr(t, tx.Put(testRecord(nhs1(0), 1, lease), IndexEntry{}), ErrTxDone)
		wantErr(t, tx.PutMeta("x", nil), ErrTxDone)
		wantErr(t, tx.OutboxAppend(1, epoch, nil), ErrTxDone)
		return nil
	})
	_, err := kept.Get(nhs1(0))
	wantErr(t, err, ErrTxDone)
}

// Ensure Close forgets keys and later calls fail with ErrClosed.
func TestCache_Close(t *testing.T) {
	c, _ := mustCreate(t)
	mustPut(t, c, testEntry(nhs1(0), "Smith", "J", "", ""))
	mustClose(t, c)
	if c.master != [keySize]byte{} || c.sub.id != [keySize]byte{} || c.groups[7].key != [keySize]byte{} || c.idx != nil {
		t.Error("Close left key material or the index in memory")
	}
	_, err := c.Get(nhs1(0))
	wantErr(t, err, ErrClosed)
	_, err = c.Search("smith", 1)
	wantErr(t, err, ErrClosed)
	wantErr(t, c.Update(func(*Tx) error { return nil }), ErrClosed)
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if st := c.Stats(); st != (Stats{}) {
		t.Errorf("Stats after Close = %+v", st)
	}
}

// Ensure Stats reports counts, expiry and file size.
func TestCache_Stats(t *testing.T) {
	c, e := mustCreate(t)
	ns := nhsNumbers(0, 3)
	err := c.Update(func(tx *Tx) error {
		for i, n := range ns {
			if err := tx.Put(testRecord(n, 1, epoch.Add(time.Duration(i+1)*time.Hour)), IndexEntry{Family: "S"}); err != nil {
				return err
			}
		}
		if err := tx.OutboxAppend(1, epoch.Add(-time.Minute), []byte("a")); err != nil {
			return err
		}
		return tx.OutboxAppend(2, epoch, []byte("b"))
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(90 * time.Minute)
	st := c.Stats()
	if st.Patients != 2 || st.Expired != 1 || !st.SoonestExpiry.Equal(epoch.Add(2*time.Hour)) ||
		st.OutboxCount != 2 || !st.OldestOutbox.Equal(epoch.Add(-time.Minute)) || st.FileBytes < keysFileSize || st.Damaged != 0 {
		t.Errorf("Stats = %+v", st)
	}
}
