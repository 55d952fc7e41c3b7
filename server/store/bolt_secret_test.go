package store

import (
	"testing"
	"time"
)

// TestBolt_DropSecret checks a secret kept by an older version is
// deleted, reported once, and made afresh (different) if asked for again.
func TestBolt_DropSecret(t *testing.T) {
	st, err := OpenBolt(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	old, err := st.Secret("access-token")
	if err != nil {
		t.Fatal(err)
	}
	if found, err := st.DropSecret("access-token"); err != nil || !found {
		t.Fatalf("DropSecret = %v, %v; want true", found, err)
	}
	if found, err := st.DropSecret("access-token"); err != nil || found {
		t.Fatalf("second DropSecret = %v, %v; want false", found, err)
	}
	again, _ := st.Secret("access-token")
	if string(again) == string(old) {
		t.Fatal("the dropped secret came back")
	}
}
