package cache

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Ensure the outbox keeps order, pages, deletes through a sequence, keeps
// its statistics, and refuses sequence numbers that go backwards.
func TestTx_OutboxAppend(t *testing.T) {
	c, e := mustCreate(t)
	for i := uint64(1); i <= 10; i++ {
		err := c.Update(func(tx *Tx) error {
			return tx.OutboxAppend(i, epoch.Add(time.Duration(i)*time.Second), []byte(fmt.Sprintf("event %d", i)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 3, []uint64{1, 2, 3}},
		{3, 2, []uint64{4, 5}},
		{8, 0, []uint64{9, 10}},
		{10, 5, nil},
		{^uint64(0), 5, nil},
	}
	for _, tt := range tests {
		got, err := c.Outbox(tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, o := range got {
			seqs = append(seqs, o.Seq)
			if string(o.Payload) != fmt.Sprintf("event %d", o.Seq) || !o.Occurred.Equal(epoch.Add(time.Duration(o.Seq)*time.Second)) {
				t.Errorf("entry %d = %+v", o.Seq, o)
			}
		}
		if fmt.Sprint(seqs) != fmt.Sprint(tt.want) {
			t.Errorf("Outbox(%d, %d) = %v, want %v", tt.after, tt.limit, seqs, tt.want)
		}
	}
	wantErr(t, c.Update(func(tx *Tx) error { return tx.OutboxAppend(10, epoch, nil) }), ErrInvalid)
	wantErr(t, c.Update(func(tx *Tx) error { return tx.OutboxAppend(0, epoch, nil) }), ErrInvalid)
	if err := c.Update(func(tx *Tx) error { return tx.OutboxDeleteThrough(4) }); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.OutboxCount != 6 || !st.OldestOutbox.Equal(epoch.Add(5*time.Second)) {
		t.Errorf("Stats after delete = %+v", st)
	}
	mustClose(t, c)
	c = mustOpen(t, e)
	if st := c.Stats(); st.OutboxCount != 6 || !st.OldestOutbox.Equal(epoch.Add(5*time.Second)) {
		t.Errorf("Stats after reopen = %+v", st)
	}
	if err := c.Update(func(tx *Tx) error {
		return errors.Join(tx.OutboxDeleteThrough(100), tx.OutboxAppend(11, epoch.Add(time.Minute), nil))
	}); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.OutboxCount != 1 || !st.OldestOutbox.Equal(epoch.Add(time.Minute)) {
		t.Errorf("Stats after drain and append = %+v", st)
	}
}

// Ensure meta values can be replaced and deleted, and names are checked.
func TestTx_PutMeta(t *testing.T) {
	c, _ := mustCreate(t)
	err := c.Update(func(tx *Tx) error {
		if err := tx.PutMeta("session", []byte("one")); err != nil {
			return err
		}
		if err := tx.PutMeta("session", []byte("two")); err != nil {
			return err
		}
		wantErr(t, tx.PutMeta("", nil), ErrInvalid)
		wantErr(t, tx.PutMeta(string(make([]byte, 256)), nil), ErrInvalid)
		return tx.PutMeta("empty", nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.View(func(tx *Tx) error {
		if v, err := tx.Meta("session"); err != nil || string(v) != "two" {
			t.Errorf("Meta = %q, %v", v, err)
		}
		if v, err := tx.Meta("empty"); err != nil || len(v) != 0 {
			t.Errorf("Meta(empty) = %q, %v", v, err)
		}
		return nil
	})
	if err := c.Update(func(tx *Tx) error { return tx.DeleteMeta("session") }); err != nil {
		t.Fatal(err)
	}
	_ = c.View(func(tx *Tx) error {
		_, err := tx.Meta("session")
		wantErr(t, err, ErrNotFound)
		return nil
	})
}
