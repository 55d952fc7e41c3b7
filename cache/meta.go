package cache

import "fmt"

// maxMetaName bounds a meta name; names are bbolt keys and are stored in
// the clear, so they must never identify a patient.
const maxMetaName = 255

func checkMetaName(name string) error {
	if name == "" || len(name) > maxMetaName {
		return fmt.Errorf("%w: meta name must be 1 to %d bytes", ErrInvalid, maxMetaName)
	}
	return nil
}

// PutMeta stores a small sealed value under name: the sync cursor, the
// device signing key, the session, the audit chain head. Values are sealed
// under the meta key, which lives as long as the cache: an overwritten or
// deleted meta value is not crypto-shredded, so patient data does not
// belong here.
func (tx *Tx) PutMeta(name string, value []byte) error {
	if err := tx.check(true); err != nil {
		return err
	}
	if err := checkMetaName(name); err != nil {
		return err
	}
	return tx.bucket(bucketMeta).Put([]byte(name), sealMeta(&tx.c.sub.meta, name, value, nil))
}

// Meta returns the value stored under name, ErrNotFound if there is none,
// or a *RecordError matching ErrTampered if it fails authentication.
func (tx *Tx) Meta(name string) ([]byte, error) {
	if err := tx.check(false); err != nil {
		return nil, err
	}
	if err := checkMetaName(name); err != nil {
		return nil, err
	}
	v := tx.bucket(bucketMeta).Get([]byte(name))
	if v == nil {
		return nil, ErrNotFound
	}
	pt, err := openMeta(&tx.c.sub.meta, name, v)
	if err != nil {
		return nil, &RecordError{Bucket: bucketMeta, Key: name, Err: ErrTampered}
	}
	return pt, nil
}

// DeleteMeta removes the value stored under name, if any.
func (tx *Tx) DeleteMeta(name string) error {
	if err := tx.check(true); err != nil {
		return err
	}
	if err := checkMetaName(name); err != nil {
		return err
	}
	return tx.bucket(bucketMeta).Delete([]byte(name))
}
