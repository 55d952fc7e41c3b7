package cache

import (
	"errors"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"kmcr/record"
)

// Ensure Renew moves a lease without changing the record or destroying its
// key, survives reopening, and refuses leases that have ended.
func TestTx_Renew(t *testing.T) {
	c, e := mustCreate(t)
	ns := nhsNumbers(0, 2)
	short := epoch.Add(time.Hour)
	err := c.Update(func(tx *Tx) error {
		return errors.Join(
			tx.Put(testRecord(ns[0], 4, short), testEntry(ns[0], "Renewed", "", "1950-01-01", "")),
			tx.Put(testRecord(ns[1], 1, short), testEntry(ns[1], "Lapsed", "", "", "")))
	})
	if err != nil {
		t.Fatal(err)
	}
	g := makeRecordID(&c.sub.id, ns[0]).group()
	gen := c.groups[g].gen
	longer := epoch.Add(48 * time.Hour)
	if err := c.Update(func(tx *Tx) error { return tx.Renew(ns[0], longer) }); err != nil {
		t.Fatal(err)
	}
	if c.groups[g].gen != gen {
		t.Error("Renew rotated the group; the content did not change")
	}
	e.clock.Advance(2 * time.Hour)
	wantErr(t, c.Update(func(tx *Tx) error { return tx.Renew(ns[1], longer) }), ErrExpired)
	wantErr(t, c.Update(func(tx *Tx) error { return tx.Renew(nhs1(30), longer) }), ErrNotFound)
	wantErr(t, c.Update(func(tx *Tx) error { return tx.Renew(ns[0], time.Time{}) }), ErrInvalid)
	mustClose(t, c)

	c = mustOpen(t, e) // Open sweeps the lapsed patient
	rec, err := c.Get(ns[0])
	if err != nil || rec.Version != 4 || !rec.NotAfter.Equal(longer) || string(rec.Data) != string(testRecord(ns[0], 4, short).Data) {
		t.Fatalf("renewed record = %+v, %v", rec, err)
	}
	if res, _ := c.Search("renewed 1950-01-01", 5); res.Total != 1 {
		t.Error("renewed patient not searchable")
	}
	if _, err := c.Get(ns[1]); !errors.Is(err, ErrNotFound) {
		t.Errorf("lapsed patient: %v", err)
	}
}

// Ensure an old record value, sealed with the old lease, does not open once
// the lease has been renewed: the lease is bound into its associated data.
func TestTx_Renew_OldValueRejected(t *testing.T) {
	c, e := mustCreate(t)
	n := nhs1(0)
	mustPut(t, c, testEntry(n, "Smith", "", "", ""))
	id := makeRecordID(&c.sub.id, n)
	var oldRecord []byte
	_ = c.View(func(tx *Tx) error {
		oldRecord, _ = tx.document(id)
		oldRecord = slices.Clone(oldRecord)
		return nil
	})
	if err := c.Update(func(tx *Tx) error { return tx.Renew(n, lease.Add(time.Hour)) }); err != nil {
		t.Fatal(err)
	}
	mustClose(t, c)
	editDB(t, e, func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketRecords)).Put(docKey(tx, id), oldRecord) })
	c = mustOpen(t, e)
	_, err := c.Get(n)
	wantErr(t, err, ErrTampered)
}

// Ensure Lease sees committed leases and a transaction's own changes.
func TestTx_Lease(t *testing.T) {
	c, _ := mustCreate(t)
	ns := nhsNumbers(0, 3)
	mustPut(t, c, testEntry(ns[0], "A", "", "", ""), testEntry(ns[1], "B", "", "", ""))
	later := lease.Add(time.Hour)
	err := c.Update(func(tx *Tx) error {
		if got, err := tx.Lease(ns[0]); err != nil || !got.Equal(lease) {
			t.Errorf("committed lease = %v, %v", got, err)
		}
		if err := tx.Renew(ns[0], later); err != nil {
			return err
		}
		if got, err := tx.Lease(ns[0]); err != nil || !got.Equal(later) {
			t.Errorf("renewed lease in tx = %v, %v", got, err)
		}
		if err := tx.Delete(ns[1]); err != nil {
			return err
		}
		if _, err := tx.Lease(ns[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted in tx: %v", err)
		}
		if _, err := tx.Lease(ns[2]); !errors.Is(err, ErrNotFound) {
			t.Errorf("never cached: %v", err)
		}
		if err := tx.DeleteAll(); err != nil {
			return err
		}
		if _, err := tx.Lease(ns[0]); !errors.Is(err, ErrNotFound) {
			t.Errorf("after DeleteAll in tx: %v", err)
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("expected the rollback")
	}
	_ = c.View(func(tx *Tx) error {
		if got, err := tx.Lease(ns[0]); err != nil || !got.Equal(lease) {
			t.Errorf("lease after rollback = %v, %v", got, err)
		}
		return nil
	})
}

// Ensure Entries and Entry list live patients only, in result order.
func TestCache_Entries(t *testing.T) {
	c, e := mustCreate(t)
	ns := nhsNumbers(0, 3)
	err := c.Update(func(tx *Tx) error {
		return errors.Join(
			tx.Put(testRecord(ns[0], 1, lease), testEntry(ns[0], "Young", "Z", "", "")),
			tx.Put(testRecord(ns[1], 1, lease), testEntry(ns[1], "Adams", "A", "", "")),
			tx.Put(testRecord(ns[2], 1, epoch.Add(time.Minute)), testEntry(ns[2], "Brief", "B", "", "")))
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	var got []record.NHSNumber
	for _, ie := range c.Entries() {
		got = append(got, ie.NHS)
	}
	if want := []record.NHSNumber{ns[1], ns[0]}; !slices.Equal(got, want) {
		t.Errorf("Entries = %v, want %v", got, want)
	}
	if ie, ok := c.Entry(ns[0]); !ok || ie.Family != "Young" {
		t.Errorf("Entry = %+v, %v", ie, ok)
	}
	if _, ok := c.Entry(ns[2]); ok {
		t.Error("Entry returned an expired patient")
	}
	mustClose(t, c)
	if c.Entries() != nil {
		t.Error("Entries after Close")
	}
}

// Ensure FailedUnlocks reports the failures Open found before resetting them.
func TestCache_FailedUnlocks(t *testing.T) {
	c, e := mustCreate(t)
	if n, _ := c.FailedUnlocks(); n != 0 {
		t.Errorf("new cache reports %d failures", n)
	}
	mustClose(t, c)
	for range 2 {
		_, err := Open(e.opts, []byte("wrong"))
		wantErr(t, err, ErrWrongPassphrase)
		e.clock.Advance(time.Second)
	}
	c = mustOpen(t, e)
	n, at := c.FailedUnlocks()
	if n != 2 || !at.Equal(epoch.Add(time.Second)) {
		t.Errorf("FailedUnlocks = %d, %v", n, at)
	}
	mustClose(t, c)
	c = mustOpen(t, e)
	if n, _ := c.FailedUnlocks(); n != 0 {
		t.Errorf("after a clean unlock: %d", n)
	}
}
