package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"kmcr/cache"
	"kmcr/internal/memsecrets"
	"kmcr/internal/storeddoc"
	"kmcr/record"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// syncBreakdown is a first sync's client-side work done again without
// the network or the protocol, each part on its own, to show where the
// client's time goes.
type syncBreakdown struct {
	batches   int
	parse     time.Duration // the index entry of every document, on every CPU
	cached    time.Duration // encrypted cache: Puts and a commit per batch
	plainNHS  time.Duration // plain bbolt: a commit per batch, keys in NHS order
	plainRand time.Duration // plain bbolt: the same, keys in random order
}

// breakDown measures the parts of applying the documents of nhs (in the
// order the server sends them) in the server's batches.
func breakDown(s *benchServer, dir string, nhs []string) (syncBreakdown, error) {
	var b syncBreakdown
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return b, err
	}
	defer os.RemoveAll(dir)
	var batches [][]patientDoc
	var cur []patientDoc
	size := 0
	for _, n := range nhs {
		doc, err := s.st.Doc(n, store.DocFull)
		if err != nil {
			return b, err
		}
		cur = append(cur, patientDoc{nhs: record.NHSNumber(n), doc: doc})
		size += len(doc)
		if len(cur) >= protocol.BatchCount || size >= protocol.BatchBytes {
			batches, cur, size = append(batches, cur), nil, 0
		}
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	b.batches = len(batches)

	// Parse as the client core does before storing a batch: every document
	// checked and its Patient summarised for the index, spread over the
	// CPUs one batch at a time.
	var err error
	b.parse, err = timed(func() error {
		for _, batch := range batches {
			if err := indexBatch(batch); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return b, err
	}

	c, err := cache.Create(cache.Options{Dir: filepath.Join(dir, "cache"), Secrets: memsecrets.New()}, []byte(benchPassphrase))
	if err != nil {
		return b, err
	}
	lease := time.Now().Add(72 * time.Hour)
	b.cached, err = timed(func() error {
		for _, batch := range batches {
			err := c.Update(func(tx *cache.Tx) error {
				for _, p := range batch {
					if err := tx.Put(cache.Record{NHS: p.nhs, Version: 1, NotAfter: lease, Data: p.doc}, p.idx); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return b, err
	}
	for _, random := range []bool{false, true} {
		d, err := plainCommits(filepath.Join(dir, fmt.Sprintf("plain-%v.db", random)), batches, random)
		if err != nil {
			return b, err
		}
		if random {
			b.plainRand = d
		} else {
			b.plainNHS = d
		}
	}
	return b, nil
}

// indexBatch fills in the index entries of a batch on every CPU.
func indexBatch(batch []patientDoc) error {
	workers := min(runtime.GOMAXPROCS(0), len(batch))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(batch); i += workers {
				idx, err := storeddoc.SearchKeys(batch[i].doc)
				if err == nil && idx.NHS != batch[i].nhs {
					err = fmt.Errorf("document for %s is about %s", batch[i].nhs, idx.NHS)
				}
				if err != nil {
					errs[w] = err
					return
				}
				batch[i].idx = idx
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// plainCommits writes the batches to a new plain bbolt file, a commit per
// batch, keyed by NHS number or by a hash of it (as random as the record
// ids that keyed documents in cache format 1).
func plainCommits(file string, batches [][]patientDoc, random bool) (time.Duration, error) {
	db, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return timed(func() error {
		for _, batch := range batches {
			err := db.Update(func(tx *bolt.Tx) error {
				bk, err := tx.CreateBucketIfNotExists(plainRecords)
				if err != nil {
					return err
				}
				for _, p := range batch {
					key := []byte(p.nhs)
					if random {
						h := sha256.Sum256(key)
						key = h[:16]
					}
					if err := bk.Put(key, p.doc); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
