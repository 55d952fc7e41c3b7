package core

import (
	"errors"
	"fmt"

	"kmcr/cache"
	"kmcr/internal/storeddoc"
)

// indexKeysVersion numbers what storeddoc.SearchKeys puts in an index
// entry. An older cache is brought up to date at unlock by reading every
// patient's document again (refreshIndexKeys). Version 2: entries carry
// the date of death, so every list of patients stops the age at death.
// Version 3: entries carry the gender and the relationship the patient is
// held by, so lists show the gender and mark emergency access.
const indexKeysVersion = 3

// refreshIndexKeys rewrites the index entries of a cache made with older
// search keys from the documents it holds, once: it reads every document,
// so it costs about what opening each patient costs, and then records the
// version. A document that cannot be read (lease ended, damaged) keeps its
// entry; the next sync of that patient writes a new one.
func refreshIndexKeys(cc *cache.Cache) error {
	var v int
	if err := cc.View(func(tx *cache.Tx) error { _, err := getJSON(tx, metaIndexKeys, &v); return err }); err != nil {
		return err
	}
	if v >= indexKeysVersion {
		return nil
	}
	entries := cc.Entries()
	return cc.Update(func(tx *cache.Tx) error {
		for _, old := range entries {
			rec, err := tx.Get(old.NHS)
			if errors.Is(err, cache.ErrExpired) || errors.Is(err, cache.ErrNotFound) || errors.Is(err, cache.ErrTampered) {
				continue
			}
			if err != nil {
				return err
			}
			h, bundle, err := storeddoc.Decode(rec.Data)
			if err != nil {
				continue
			}
			idx, err := storeddoc.IndexEntry(h, bundle)
			if err != nil || idx == old {
				continue
			}
			if err := tx.Put(*rec, idx); err != nil {
				return fmt.Errorf("refreshing the search index of %s: %w", old.NHS, err)
			}
		}
		return putJSON(tx, metaIndexKeys, indexKeysVersion)
	})
}
