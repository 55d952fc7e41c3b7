/*
Package cache is kmcr's encrypted local store: the summaries a user may see
offline, their search index, small named values (sync cursor, session,
device signing key) and the queue of audit events waiting for upload. Its
promise is that a lost laptop leaks nothing, and that a patient whose
record is deleted, revoked or expired cannot be recovered from the disk
afterwards, even by someone who later learns the passphrase.

The byte-level format, with the reason for each choice, is in
docs/cache-format.md.

# Basics

A profile directory holds two files: cache.db, a bbolt database in which
every key is opaque and every value that names or describes a patient is
sealed, and cache.keys, a small fixed-layout file of key slots that is
overwritten in place.

Create makes a cache protected by a passphrase and a device secret; Open
unlocks it; Close locks it again (keys are overwritten in memory and the
in-memory index is dropped). Only one process may have a cache open: a
second gets ErrAlreadyRunning within Options.LockTimeout.

	c, err := cache.Open(cache.Options{Dir: dir}, passphrase)
	if errors.Is(err, cache.ErrWrongPassphrase) {
		var r *cache.RetryError
		errors.As(err, &r) // r.Wait: how long before the next try is allowed
	}
	defer c.Close()

	err = c.Update(func(tx *cache.Tx) error {
		if err := tx.Put(rec, entry); err != nil {
			return err
		}
		return tx.PutMeta("sync-cursor", cursor)
	})
	rec, err := c.Get(nhs)
	res, err := c.Search("smith 12-Mar-1962", 20)

Update runs one bbolt read-write transaction: all of it commits or none
does, which is how the sync layer applies a server batch and its cursor
together, and how the audit layer writes an event in the same transaction
as the access it records. View runs a read-only transaction. Values are
copied out before a transaction ends. A Cache is safe for concurrent use by
many readers and one writer.

Every record carries a lease (Record.NotAfter). Past it, Get returns
ErrExpired without decrypting, Search hides the patient, and Sweep (run by
Open) destroys the patient's key. Tx.Renew extends a lease that has not yet
ended without changing the record.

A value that fails authentication (bit-flipped, truncated, moved to another
key or bucket, swapped with another) gives a *RecordError matching
ErrTampered for that value only; unlock skips damaged index entries and
counts them in Stats.Damaged.

# Key hierarchy

	passphrase ──Argon2id(salt, t, m, p)──┐
	device secret (OS keyring) ───────────┴─HKDF-SHA256──► KEK
	KEK ──wraps──► master key M                               (cache.keys)
	M ──HKDF──► record-id key   HMAC(NHS number) → 16-byte bbolt key
	          ► meta key        seals named values
	          ► outbox key      seals audit events
	          ► slot key        wraps the 256 group keys       (cache.keys)
	group key[id[0]] ──wraps──► patient key (random, per version)
	patient key ──seals──► index entry, record document

Documents are stored under sequential slot numbers (bucket "slots" maps
record id to slot) so that a sync appends its large values; their
associated data still names the record id.

The device secret is 32 random bytes in the OS keyring (service "kmcr",
user = the cache's random id), or, where there is no keyring, in a file the
user chose explicitly (NewFileSecretStore). A copy of the cache files
without the device secret cannot be attacked by guessing passphrases; the
device secret without the passphrase opens nothing. The kind of store is
recorded at Create: opening with the other kind fails with
ErrSecretStoreMismatch rather than a misleading ErrWrongPassphrase.

The passphrase check is the AEAD open of the wrapped master key, which is
constant-time by construction: there is no separate verifier to compare.
After three wrong passphrases in a row, Open makes the caller wait 1 s, then
2 s, 4 s... up to 5 minutes (a *RetryError says how long); the count
survives restarts.

# Crypto-shredding

Each patient's values are sealed under the patient's own random key, and a
new key is made whenever a patient's record is replaced. The patient keys
are wrapped by one of 256 group keys, chosen by the first byte of the
record id. When a patient is deleted or replaced, their group is rotated in
the same transaction: a fresh group key is made, the group's other patient
keys are re-wrapped under it, and the old group key is overwritten in place
in cache.keys. Every copy of the old patient key that bbolt left behind is
wrapped under a group key that no longer exists anywhere.

Rotation is crash-safe in two phases. Each slot in cache.keys has two
generation-tagged halves. Before the bbolt commit, the new group key is
written to the empty half and synced; after the commit, the old half is
zeroed and synced. On Open, the generation recorded in cache.db says which
half is current, and the other is zeroed: a crash before the commit leaves
the old key in use, a crash after it leaves the new one.

Changing the passphrase re-wraps the master key without re-encrypting
records, with the same two-half scheme for the master slot.

# Caveats

bbolt is copy-on-write and never scrubs freed pages: deleted values remain
in cache.db until their pages are reused. This package relies on
crypto-shredding, not on deletion. Meta values and delivered audit events
are sealed under keys derived from the master key, which lives as long as
the cache: deleting them is ordinary deletion, so no patient data belongs
in meta values, and audit payloads stay recoverable by someone holding both
factors until Wipe.

Overwriting in place destroys the old key on filesystems that update blocks
in place (ext4, XFS, NTFS). Copy-on-write filesystems (APFS, btrfs, ZFS),
snapshots, backups, and SSD wear-levelling can keep old blocks that software
cannot reach. Use full-disk encryption as well (BitLocker, FileVault, LUKS):
it protects those old blocks, while the cache's shredding holds against
anyone who later obtains the passphrase and the device secret. Slot halves assume the disk does not damage bytes
outside a write when power fails ("powersafe overwrite", as SQLite assumes).

The failure counter lives in cache.db in the clear. It slows down someone
at the keyboard; it is no protection against someone with a copy of the
files, who is stopped by Argon2id and the device secret instead. Leases
trust the system clock: setting it back can show an expired record again
until Open or Sweep has destroyed its key.

Go cannot promise that no copy of a key remains in memory (the runtime may
copy values, and the cipher packages keep their own copies); Close
overwrites every copy the package holds. Keyring calls that time out are
abandoned, not cancelled: their goroutines end whenever the keyring
answers.

cache.db is checked for truncation before bbolt maps it; other damage to
bbolt's own structures found during unlock is reported as ErrCorrupt.
*/
package cache
