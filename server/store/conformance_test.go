package store_test

import (
	"testing"
	"time"

	"kmcr/server/store"
	"kmcr/server/store/storetest"
)

// TestBolt_Conformance runs the store conformance suite on bbolt files.
func TestBolt_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, storetest.Reopen) {
		dir := t.TempDir()
		cur, err := store.OpenBolt(dir, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cur.Close() })
		return cur, func(t *testing.T) store.Store {
			s, err := store.OpenBolt(dir, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			cur = s
			return s
		}
	})
}
