package cache

import (
	"errors"
	"testing"

	"kmcr/record"
)

var errCrash = errors.New("simulated power cut")

// crash abandons an open cache the way a power cut would: file handles
// closed, nothing flushed or zeroed.
func crash(c *Cache) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.db.Close()
	c.keys.f.Close()
	c.forget()
}

// liveHalves counts the non-zero halves of a slot in cache.keys.
func liveHalves(img []byte, off0, off1 int64, size int) int {
	n := 0
	for _, off := range []int64{off0, off1} {
		if !isZero(img[off:][:size]) {
			n++
		}
	}
	return n
}

// Ensure a crash after phase 1 (new key written, not committed) or after
// the commit (old key not yet zeroed) leaves a consistent cache: the change
// is wholly absent or wholly present, every other patient is readable, and
// Open leaves exactly one live half in each slot.
func TestCache_Update_CrashBetweenPhases(t *testing.T) {
	ops := []struct {
		name    string
		op      func(c *Cache, target record.NHSNumber) error
		applied func(t *testing.T, c *Cache, target record.NHSNumber)
		absent  func(t *testing.T, c *Cache, target record.NHSNumber)
	}{
		{
			name: "delete",
			op: func(c *Cache, n record.NHSNumber) error {
				return c.Update(func(tx *Tx) error { return tx.Delete(n) })
			},
			applied: func(t *testing.T, c *Cache, n record.NHSNumber) {
				if _, err := c.Get(n); !errors.Is(err, ErrNotFound) {
					t.Errorf("deleted patient: %v", err)
				}
			},
			absent: func(t *testing.T, c *Cache, n record.NHSNumber) {
				if rec, err := c.Get(n); err != nil || rec.Version != 1 {
					t.Errorf("patient after undone delete: %v, %v", rec, err)
				}
			},
		},
		{
			name: "replace",
			op: func(c *Cache, n record.NHSNumber) error {
				return c.Update(func(tx *Tx) error { return tx.Put(testRecord(n, 2, lease), testEntry(n, "New", "", "", "")) })
			},
			applied: func(t *testing.T, c *Cache, n record.NHSNumber) {
				if rec, err := c.Get(n); err != nil || rec.Version != 2 {
					t.Errorf("replaced patient: %v, %v", rec, err)
				}
			},
			absent: func(t *testing.T, c *Cache, n record.NHSNumber) {
				if rec, err := c.Get(n); err != nil || rec.Version != 1 {
					t.Errorf("patient after undone replace: %v, %v", rec, err)
				}
			},
		},
	}
	for _, op := range ops {
		for _, point := range []string{"afterPhase1", "afterCommit"} {
			t.Run(op.name+"/"+point, func(t *testing.T) {
				c, e := mustCreate(t)
				mates := sameGroup(c, 3)
				target, g := mates[0], makeRecordID(&c.sub.id, mates[0]).group()
				others := append(mates[1:], nhsNumbers(5000, 10)...)
				mustPut(t, c, testEntry(target, "Target", "", "", ""))
				for _, n := range others {
					mustPut(t, c, testEntry(n, "Other", "", "", ""))
				}
				gen := c.groups[g].gen
				hook := func() error { return errCrash }
				if point == "afterPhase1" {
					c.hooks.afterPhase1 = hook
				} else {
					c.hooks.afterCommit = hook
				}
				wantErr(t, op.op(c, target), errCrash)
				crash(c)
				if img := readFile(t, e.opts.keysPath()); liveHalves(img, groupHalfOffset(g, 0), groupHalfOffset(g, 1), groupHalfSize) != 2 {
					t.Fatal("the crash did not leave both halves of the slot written")
				}

				c = mustOpen(t, e)
				if point == "afterPhase1" {
					op.absent(t, c, target)
					if c.groups[g].gen != gen {
						t.Errorf("generation = %d, want %d (uncommitted)", c.groups[g].gen, gen)
					}
				} else {
					op.applied(t, c, target)
					if c.groups[g].gen != gen+1 {
						t.Errorf("generation = %d, want %d (committed)", c.groups[g].gen, gen+1)
					}
				}
				for _, n := range others {
					if _, err := c.Get(n); err != nil {
						t.Errorf("other patient %v: %v", n, err)
					}
				}
				if st := c.Stats(); st.Damaged != 0 {
					t.Errorf("Damaged = %d", st.Damaged)
				}
				img := readFile(t, e.opts.keysPath())
				for g := range numGroups {
					if n := liveHalves(img, groupHalfOffset(byte(g), 0), groupHalfOffset(byte(g), 1), groupHalfSize); n != 1 {
						t.Errorf("group %d has %d live halves after Open", g, n)
					}
				}
				// The cache keeps working: the same group rotates again.
				if err := c.Update(func(tx *Tx) error { return tx.Delete(others[0]) }); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Get(mates[2]); err != nil {
					t.Errorf("group mate after a further rotation: %v", err)
				}
			})
		}
	}
}

// Ensure a crash in the middle of a passphrase change leaves exactly one of
// the two passphrases working, and one live master half.
func TestCache_ChangePassphrase_CrashBetweenPhases(t *testing.T) {
	for _, point := range []string{"afterPhase1", "afterCommit"} {
		t.Run(point, func(t *testing.T) {
			c, e := mustCreate(t)
			mustPut(t, c, testEntry(nhs1(0), "Smith", "", "", ""))
			hook := func() error { return errCrash }
			if point == "afterPhase1" {
				c.hooks.afterPhase1 = hook
			} else {
				c.hooks.afterCommit = hook
			}
			wantErr(t, c.ChangePassphrase([]byte(testPass), []byte("new one")), errCrash)
			crash(c)

			works, fails := testPass, "new one"
			if point == "afterCommit" {
				works, fails = fails, works
			}
			_, err := Open(e.opts, []byte(fails))
			wantErr(t, err, ErrWrongPassphrase)
			c, err = Open(e.opts, []byte(works))
			if err != nil {
				t.Fatalf("Open(%q): %v", works, err)
			}
			defer c.Close()
			if _, err := c.Get(nhs1(0)); err != nil {
				t.Error(err)
			}
			img := readFile(t, e.opts.keysPath())
			if n := liveHalves(img, masterHalfOffset(0), masterHalfOffset(1), masterHalfSize); n != 1 {
				t.Errorf("%d live master halves after Open", n)
			}
		})
	}
}
