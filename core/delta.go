package core

import (
	"errors"
	"fmt"

	"kmcr/cache"
	"kmcr/internal/storeddoc"
	"kmcr/record"
	"kmcr/sync/syncclient"
)

var _ syncclient.DocumentReader = syncer{}

// HeldDocument returns the FHIR Bundle the cache holds for nhs, as it was
// received, so the sync client can apply a delta to it; nil when the
// patient is not cached or the lease has ended.
func (s syncer) HeldDocument(nhs string) ([]byte, error) {
	n, err := record.ParseNHSNumber(nhs)
	if err != nil {
		return nil, err
	}
	cc, _, err := s.c.open()
	if err != nil {
		return nil, err
	}
	rec, err := cc.Get(n)
	if errors.Is(err, cache.ErrNotFound) || errors.Is(err, cache.ErrExpired) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	_, doc, err := storeddoc.Decode(rec.Data)
	if err != nil {
		return nil, fmt.Errorf("cached document for %s: %w", nhs, err)
	}
	return doc, nil
}
