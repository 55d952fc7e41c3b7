package cache

import (
	"errors"
	"testing"
	"time"
)

// Ensure an expired record is never returned or listed, and Sweep destroys
// its key by rotating its group.
func TestTx_Get_LeaseExpiry(t *testing.T) {
	c, e := mustCreate(t)
	ns := nhsNumbers(0, 2)
	err := c.Update(func(tx *Tx) error {
		return errors.Join(
			tx.Put(testRecord(ns[0], 1, epoch.Add(time.Hour)), testEntry(ns[0], "Short", "Lease", "1950-01-01", "ME7 2JH")),
			tx.Put(testRecord(ns[1], 1, epoch.Add(48*time.Hour)), testEntry(ns[1], "Long", "Lease", "1950-01-01", "ME7 2JH")))
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at      time.Duration
		expired bool
	}{
		{0, false},
		{59 * time.Minute, false},
		{time.Hour - time.Nanosecond, false},
		{time.Hour, true},
		{2 * time.Hour, true},
	}
	for _, tt := range tests {
		e.clock.t = epoch.Add(tt.at)
		rec, err := c.Get(ns[0])
		if tt.expired {
			if !errors.Is(err, ErrExpired) || rec != nil {
				t.Errorf("at +%v: Get = %v, %v; want ErrExpired and no data", tt.at, rec, err)
			}
		} else if err != nil {
			t.Errorf("at +%v: Get = %v", tt.at, err)
		}
		for _, q := range []string{ns[0].String(), "short", "1950-01-01", "ME7 2JH", "ME7"} {
			res, _ := c.Search(q, 10)
			for _, ie := range res.Entries {
				if ie.NHS == ns[0] && tt.expired {
					t.Errorf("at +%v: Search(%q) shows the expired patient", tt.at, q)
				}
			}
		}
		var ps int
		_ = c.View(func(tx *Tx) error { p, _ := tx.Patients(); ps = len(p); return nil })
		if want := map[bool]int{false: 2, true: 1}[tt.expired]; ps != want {
			t.Errorf("at +%v: %d patients listed, want %d", tt.at, ps, want)
		}
	}
	if st := c.Stats(); st.Expired != 1 || st.Patients != 1 || !st.SoonestExpiry.Equal(epoch.Add(48*time.Hour)) {
		t.Errorf("Stats = %+v", st)
	}
	g := makeRecordID(&c.sub.id, ns[0]).group()
	gen := c.groups[g].gen
	n, err := c.Sweep()
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	if c.groups[g].gen != gen+1 {
		t.Error("Sweep did not rotate the expired patient's group")
	}
	if _, err := c.Get(ns[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Sweep: %v", err)
	}
	e.clock.t = epoch // setting the clock back does not bring it back
	if _, err := c.Get(ns[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Sweep and clock rollback: %v", err)
	}
	if n, _ := c.Sweep(); n != 0 {
		t.Errorf("second Sweep = %d", n)
	}
}

// Ensure Open sweeps expired records.
func TestOpen_Sweeps(t *testing.T) {
	c, e := mustCreate(t)
	err := c.Update(func(tx *Tx) error {
		return tx.Put(testRecord(nhs1(0), 1, epoch.Add(time.Hour)), testEntry(nhs1(0), "Gone", "", "", ""))
	})
	if err != nil {
		t.Fatal(err)
	}
	mustClose(t, c)
	e.clock.Advance(2 * time.Hour)
	c = mustOpen(t, e)
	e.clock.t = epoch
	if _, err := c.Get(nhs1(0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired record survived Open: %v", err)
	}
}
