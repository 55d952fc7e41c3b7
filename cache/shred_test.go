package cache

import (
	"bytes"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"kmcr/record"
)

// shredTarget is what an attacker would need to read one patient: the
// patient key, and the group key that wrapped it.
type shredTarget struct {
	id       recordID
	nhs      record.NHSNumber
	pk       [keySize]byte
	group    byte
	groupKey [keySize]byte
	groupGen uint64
	version  uint64
	notAfter int64
	data     []byte
	wrapped  []byte // the wrapped key as stored
}

func captureTarget(t *testing.T, c *Cache, n record.NHSNumber) shredTarget {
	t.Helper()
	st := shredTarget{nhs: n, id: makeRecordID(&c.sub.id, n)}
	st.group = st.id.group()
	gs := c.groups[st.group]
	st.groupKey, st.groupGen = gs.key, gs.gen
	err := c.View(func(tx *Tx) error {
		st.wrapped = bytes.Clone(tx.bucket(bucketKeys).Get(st.id[:]))
		var err error
		st.version, st.notAfter, err = openKeyWrap(&st.groupKey, st.groupGen, st.id, st.wrapped, &st.pk)
		if err != nil {
			return err
		}
		rec, err := tx.Get(n)
		if err != nil {
			return err
		}
		st.data = rec.Data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// attacker holds the master key and whatever is in the files now, and
// tries every byte offset of both files to recover the target patient.
type attacker struct {
	master  [keySize]byte
	targets []shredTarget
}

// recover returns what it could open: patient keys unwrapped for a
// target's record id, and any document or index entry of a target that
// opens under those keys or under extra (keys the caller already holds).
func (a *attacker) recover(t *testing.T, extra [][keySize]byte, files ...[]byte) (keys [][keySize]byte, docs [][]byte) {
	t.Helper()
	sub := deriveSubkeys(&a.master)
	keysImg := files[len(files)-1]
	hdr, err := parseKeys(keysImg)
	if err != nil {
		t.Fatal(err)
	}
	// Every group key that any half of cache.keys yields, at any generation.
	type gk struct {
		key [keySize]byte
		gen uint64
	}
	var groupKeys [numGroups][]gk
	for g := range numGroups {
		for h := range 2 {
			b := keysImg[groupHalfOffset(byte(g), h):][:groupHalfSize]
			if k, ok := openGroupHalf(&hdr, &sub.slots, byte(g), b); ok {
				groupKeys[g] = append(groupKeys[g], gk{k, halfGen(b)})
			}
		}
	}
	for _, tg := range a.targets {
		candidates := extra
		for _, f := range files {
			for o := 0; o+sealedOverhead <= len(f); o++ {
				if f[o] != sealedVersion {
					continue
				}
				// Try as a wrapped key under every group key, every generation seen.
				if w := f[o:min(len(f), o+sealedOverhead+keyWrapPlainSize)]; len(w) == sealedOverhead+keyWrapPlainSize {
					for _, g := range groupKeys[tg.group] {
						for gen := uint64(1); gen <= g.gen+1; gen++ {
							var pk [keySize]byte
							if _, _, err := openKeyWrap(&g.key, gen, tg.id, w, &pk); err == nil {
								keys = append(keys, pk)
								candidates = append(candidates, pk)
							}
						}
					}
				}
			}
		}
		docLen := sealedOverhead + (4+len(tg.data)+recordPadBlock-1)/recordPadBlock*recordPadBlock
		for _, f := range files {
			for o := 0; o+sealedOverhead <= len(f); o++ {
				if f[o] != sealedVersion {
					continue
				}
				for _, pk := range candidates {
					if o+docLen <= len(f) {
						if d, err := openRecord(&pk, tg.id, tg.version, tg.notAfter, f[o:o+docLen]); err == nil {
							docs = append(docs, d)
						}
					}
					for l := sealedOverhead + indexPadBlock; l <= sealedOverhead+4*indexPadBlock && o+l <= len(f); l += indexPadBlock {
						var ie IndexEntry
						if openIndex(&pk, tg.id, tg.version, f[o:o+l], &ie) == nil {
							docs = append(docs, []byte(ie.Family))
						}
					}
				}
			}
		}
	}
	return keys, docs
}

// sameGroup finds n NHS numbers whose record ids share a key group.
func sameGroup(c *Cache, n int) []record.NHSNumber {
	byGroup := map[byte][]record.NHSNumber{}
	for _, nhs := range nhsNumbers(0, 4000) {
		g := makeRecordID(&c.sub.id, nhs).group()
		byGroup[g] = append(byGroup[g], nhs)
		if len(byGroup[g]) == n {
			return byGroup[g]
		}
	}
	panic("no group with enough patients")
}

// Ensure that after a patient is deleted or replaced, nothing in either
// file opens to their key or data, even for someone holding the master key:
// neither the patient key nor the old group key is in the files, no wrapped
// key for them can be unwrapped, and no sealed value opens to their data.
func TestTx_Delete_CryptoShred(t *testing.T) {
	tests := []struct {
		name   string
		before func(tx *Tx, target record.NHSNumber) error // committed on its own first
		op     func(tx *Tx, target record.NHSNumber) error
	}{
		{"delete", nil, func(tx *Tx, n record.NHSNumber) error { return tx.Delete(n) }},
		{"replace", nil, func(tx *Tx, n record.NHSNumber) error {
			return tx.Put(testRecord(n, 2, lease), testEntry(n, "Replacement", "", "", ""))
		}},
		{"delete all", nil, func(tx *Tx, n record.NHSNumber) error { return tx.DeleteAll() }},
		{"renew, then delete", func(tx *Tx, n record.NHSNumber) error { return tx.Renew(n, lease.Add(24*time.Hour)) },
			func(tx *Tx, n record.NHSNumber) error { return tx.Delete(n) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, e := mustCreate(t)
			mates := sameGroup(c, 4)
			target := mates[0]
			entries := []IndexEntry{testEntry(target, "Shredme", "Target", "1933-03-03", "ME7 2JH")}
			for i, n := range append(mates[1:], nhsNumbers(5000, 20)...) {
				entries = append(entries, testEntry(n, "Other", string(rune('a'+i)), "", ""))
			}
			mustPut(t, c, entries...)
			tg := captureTarget(t, c, target)
			a := &attacker{master: c.master, targets: []shredTarget{tg}}

			// The scanner works: before deletion it recovers the patient.
			mustClose(t, c)
			db, keys := readFile(t, e.opts.dbPath()), readFile(t, e.opts.keysPath())
			if ks, docs := a.recover(t, nil, db, keys); len(ks) == 0 || len(docs) < 2 {
				t.Fatalf("scanner found %d keys and %d values before deletion; it cannot see what it should", len(ks), len(docs))
			}
			c = mustOpen(t, e)

			if tt.before != nil {
				if err := c.Update(func(tx *Tx) error { return tt.before(tx, target) }); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Update(func(tx *Tx) error { return tt.op(tx, target) }); err != nil {
				t.Fatal(err)
			}
			for _, n := range mates[1:] {
				if _, err := c.Get(n); err != nil && tt.name != "delete all" {
					t.Fatalf("group mate lost: %v", err)
				}
			}
			mustClose(t, c)

			db, keys = readFile(t, e.opts.dbPath()), readFile(t, e.opts.keysPath())
			for name, f := range map[string][]byte{"cache.db": db, "cache.keys": keys} {
				if bytes.Contains(f, tg.pk[:]) {
					t.Errorf("%s contains the patient key", name)
				}
				if bytes.Contains(f, tg.groupKey[:]) {
					t.Errorf("%s contains the old group key", name)
				}
			}
			// bbolt kept the old values in freed pages: with the patient key
			// they would still open. That key is what must be unrecoverable.
			_, leftover := a.recover(t, [][keySize]byte{tg.pk}, db, keys)
			t.Logf("old wrapped key still in freed pages: %v; values that would open with the destroyed key: %d",
				bytes.Contains(db, tg.wrapped), len(leftover))
			ks, docs := a.recover(t, nil, db, keys)
			for _, k := range ks {
				if k == tg.pk {
					t.Error("the patient key was unwrapped from the files")
				}
			}
			for _, d := range docs {
				if bytes.Equal(d, tg.data) || bytes.Equal(d, []byte("Shredme")) {
					t.Errorf("a sealed value opened to the patient's data: %q", d)
				}
			}
		})
	}
}

// Ensure the raw bbolt file still holds old ciphertext after a delete,
// which is why shredding is needed (documents the bbolt caveat).
func TestBolt_FreedPagesKeepData(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(dir+"/x.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte("SECRET-VALUE-"), 40)
	_ = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		return b.Put([]byte("k"), secret)
	})
	_ = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Delete([]byte("k")) })
	db.Close()
	if !bytes.Contains(readFile(t, dir+"/x.db"), secret) {
		t.Skip("this bbolt happened to overwrite the freed page")
	}
}
