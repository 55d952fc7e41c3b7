package cache

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Ensure readers running alongside a writer that rotates key groups never
// see a damaged value or a torn index (run with -race).
func TestCache_Concurrent_ReadersAndWriter(t *testing.T) {
	c, _ := mustCreate(t)
	ns := nhsNumbers(0, 300)
	var entries []IndexEntry
	for i, n := range ns {
		entries = append(entries, testEntry(n, "Family", string(rune('a'+i%26)), "1970-01-01", "ME7 2JH"))
	}
	mustPut(t, c, entries...)

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; !stop.Load(); i++ {
				n := ns[i%len(ns)]
				if _, err := c.Get(n); err != nil && !errors.Is(err, ErrNotFound) {
					errs <- err
					return
				}
				res, err := c.Search("family", 10)
				if err != nil || len(res.Entries) > 10 {
					errs <- err
					return
				}
				_ = c.Stats()
				if _, err := c.Outbox(0, 5); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 100; i++ {
		n := ns[i%len(ns)]
		err := c.Update(func(tx *Tx) error {
			if i%3 == 0 {
				return tx.Delete(n)
			}
			if err := tx.OutboxAppend(uint64(i+1), epoch, []byte("viewed")); err != nil {
				return err
			}
			return tx.Put(testRecord(n, uint64(i+2), lease), entries[i%len(ns)])
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reader: %v", err)
	}
}
