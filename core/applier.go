package core

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"kmcr/cache"
	"kmcr/internal/storeddoc"
	"kmcr/record"
	"kmcr/sync/protocol"
	"kmcr/sync/syncclient"
)

// syncer is the core's side of a sync session: it implements the sync
// client's Applier, WelcomeApplier, AuditCounter and TokenStore on the
// encrypted cache.
type syncer struct{ c *Core }

var (
	_ syncclient.Applier          = syncer{}
	_ syncclient.Preparer         = syncer{}
	_ syncclient.BatchesApplier   = syncer{}
	_ syncclient.WelcomeApplier   = syncer{}
	_ syncclient.AuditCounter     = syncer{}
	_ syncclient.TokenStore       = syncer{}
	_ syncclient.RollbackReporter = syncer{}
)

// storedTokens are the access token and refresh credential, sealed.
type storedTokens struct {
	Access  string    `json:"access"`
	Refresh string    `json:"refresh"`
	Expires time.Time `json:"expires"`
}

// Cursor returns the stored cursor, or the zero cursor (a full sync) when
// the cache was last confirmed more than half a lease ago: leases are
// renewed only at up-to-date, so some documents may have lapsed and been
// destroyed, and a change-only sync would never send them again. A cache
// that stored a first sync's last batch but was stopped before the
// up-to-date marker counts as confirmed when that batch was stored, so it
// resumes with the changes since instead of starting the first sync again.
func (s syncer) Cursor() (protocol.Cursor, error) {
	cc, sess, err := s.c.open()
	if err != nil {
		return protocol.Cursor{}, err
	}
	var cur protocol.Cursor
	var asOf, liveAt time.Time
	err = cc.View(func(tx *cache.Tx) error {
		if _, err := getJSON(tx, metaCursor, &cur); err != nil {
			return err
		}
		if _, err := getJSON(tx, metaLiveAt, &liveAt); err != nil {
			return err
		}
		_, err := getJSON(tx, metaAsOf, &asOf)
		return err
	})
	if err != nil {
		return cur, err
	}
	if asOf.IsZero() {
		asOf = liveAt
	}
	lease := time.Duration(sess.Policy.LeaseSeconds) * time.Second
	if cur.Phase == protocol.PhaseLive && lease > 0 && s.c.now().Sub(asOf) > lease/2 {
		return protocol.Cursor{}, nil
	}
	return cur, nil
}

// renewLeases extends the lease of every caseload document whose lease
// ends before until less half a lease, so a document is re-sealed at most
// every half lease. Break-glass documents keep their own, shorter end.
func renewLeases(tx *cache.Tx, until time.Time, lease time.Duration) error {
	if until.IsZero() {
		return nil
	}
	ps, err := tx.Patients()
	if err != nil {
		return err
	}
	threshold := until.Add(-lease / 2)
	for _, n := range ps {
		na, err := tx.Lease(n)
		if err != nil || !na.Before(threshold) {
			continue
		}
		rec, err := tx.Get(n)
		if err != nil {
			continue // expired or damaged: a sweep or the next full sync deals with it
		}
		h, _, err := storeddoc.Decode(rec.Data)
		if err != nil || h.Relationship != protocol.RelCaseload {
			continue
		}
		if err := tx.Renew(n, until); err != nil {
			return fmt.Errorf("renewing the lease of %s: %w", n, err)
		}
	}
	return nil
}

// prepared is one upsert checked and laid out before the transaction, or
// the reason it cannot be stored (err), for setting it aside.
type prepared struct {
	nhs     record.NHSNumber
	version uint64
	rec     cache.Record
	idx     cache.IndexEntry
	err     error
}

// prepare checks every document of a batch and lays it out for the cache,
// spreading the parsing over the CPUs: it is most of a batch's cost. A
// document that cannot be read is marked to be set aside; only an upsert
// without a valid NHS number fails the whole batch, since nothing could be
// set aside under it.
func prepare(b *protocol.Batch, now time.Time) ([]prepared, error) {
	out := make([]prepared, len(b.Upserts))
	errs := make([]error, len(b.Upserts))
	for i, u := range b.Upserts {
		if out[i].nhs, errs[i] = record.ParseNHSNumber(u.NHS); errs[i] == nil {
			out[i].version = u.Version
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", syncclient.ErrBadBatch, err)
	}
	workers := min(runtime.GOMAXPROCS(0), len(b.Upserts))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(b.Upserts); i += workers {
				p, err := prepareOne(b.Upserts[i], b.Docs[i], now)
				if err != nil {
					out[i].err = err
					continue
				}
				out[i] = p
			}
		}(w)
	}
	wg.Wait()
	return out, nil
}

func prepareOne(u protocol.DocMeta, doc []byte, now time.Time) (prepared, error) {
	nhs, err := record.ParseNHSNumber(u.NHS)
	if err != nil {
		return prepared{}, err
	}
	h := storeddoc.Header{NHS: u.NHS, Version: u.Version, AsOf: u.AsOf, NotAfter: u.NotAfter, Relationship: u.Relationship, Sections: u.Sections, Withheld: u.Withheld, Received: now}
	idx, err := storeddoc.IndexEntry(h, doc)
	if err != nil {
		return prepared{}, fmt.Errorf("document for %s: %w", nhs, err)
	}
	if idx.NHS != nhs {
		return prepared{}, fmt.Errorf("document sent for %s is about %s", nhs, idx.NHS)
	}
	data, err := storeddoc.Encode(h, doc)
	if err != nil {
		return prepared{}, err
	}
	return prepared{nhs: nhs, version: u.Version, rec: cache.Record{NHS: nhs, Version: u.Version, NotAfter: u.NotAfter, Data: data}, idx: idx}, nil
}

// preparedBatch is a batch checked and laid out ahead of its commit.
type preparedBatch struct {
	ups []prepared
	err error
}

// PrepareBatch checks and lays out a batch's documents as soon as it
// arrives, so that parsing overlaps the previous batch's commit.
func (s syncer) PrepareBatch(b *protocol.Batch) {
	ups, err := prepare(b, s.c.now())
	s.c.prepared.Store(b, preparedBatch{ups, err})
}

// purgeRange deletes cached patients inside r that keep does not hold: in a
// full sync, a range the server has covered completely. Notes of set-aside
// records in the range that keep does not name go with them.
func purgeRange(tx *cache.Tx, r *protocol.NHSRange, keep map[record.NHSNumber]bool, notes *setAsideNotes) error {
	if r == nil {
		return nil
	}
	for _, s := range notes.list() {
		if n := record.NHSNumber(s.NHS); r.Contains(s.NHS) && !keep[n] {
			notes.clear(n)
		}
	}
	ps, err := tx.Patients()
	if err != nil {
		return err
	}
	for _, n := range ps {
		if r.Contains(n.Digits()) && !keep[n] {
			if err := tx.Delete(n); err != nil && !errors.Is(err, cache.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// storeOne stores one prepared upsert, or sets it aside: a document that
// could not be read, or that the cache refuses as invalid (Put checks
// everything before it changes anything), is noted with its reason and
// any older copy of the patient deleted, and the batch goes on.
func storeOne(tx *cache.Tx, p prepared, notes *setAsideNotes, now time.Time) error {
	err := p.err
	if err == nil {
		err = tx.Put(p.rec, p.idx)
		if err == nil {
			notes.clear(p.nhs)
			return nil
		}
		if !errors.Is(err, cache.ErrInvalid) {
			return fmt.Errorf("storing %s: %w", p.nhs, err)
		}
	}
	if err := tx.Delete(p.nhs); err != nil && !errors.Is(err, cache.ErrNotFound) {
		return err
	}
	notes.add(SetAside{NHS: p.nhs.Digits(), Version: p.version, Reason: err.Error(), At: now})
	return nil
}

func (s syncer) ApplyBatch(b *protocol.Batch) error {
	return s.ApplyBatches([]*protocol.Batch{b})
}

// ApplyBatches stores consecutive batches in one cache transaction: each
// batch's deletes, upserts and range purge in order, then the last cursor.
func (s syncer) ApplyBatches(bs []*protocol.Batch) error {
	cc, _, err := s.c.open()
	if err != nil {
		return err
	}
	type checked struct {
		b    *protocol.Batch
		dels []record.NHSNumber
		ups  []prepared
	}
	all := make([]checked, len(bs))
	for i, b := range bs {
		all[i].b = b
		all[i].dels = make([]record.NHSNumber, len(b.Deletes))
		for j, d := range b.Deletes {
			if all[i].dels[j], err = record.ParseNHSNumber(d.NHS); err != nil {
				return fmt.Errorf("%w: delete: %w", syncclient.ErrBadBatch, err)
			}
		}
		if v, ok := s.c.prepared.LoadAndDelete(b); ok {
			r := v.(preparedBatch)
			all[i].ups, err = r.ups, r.err
		} else {
			all[i].ups, err = prepare(b, s.c.now())
		}
		if err != nil {
			return err
		}
	}
	now := s.c.now()
	err = cc.Update(func(tx *cache.Tx) error {
		notes, err := readSetAside(tx)
		if err != nil {
			return err
		}
		for _, c := range all {
			for _, n := range c.dels {
				if err := tx.Delete(n); err != nil && !errors.Is(err, cache.ErrNotFound) {
					return err
				}
				notes.clear(n)
			}
			keep := make(map[record.NHSNumber]bool, len(c.ups))
			for _, p := range c.ups {
				if err := storeOne(tx, p, notes, now); err != nil {
					return err
				}
				keep[p.nhs] = true
			}
			if err := purgeRange(tx, c.b.Range, keep, notes); err != nil {
				return err
			}
		}
		if err := notes.write(tx); err != nil {
			return err
		}
		cur := bs[len(bs)-1].Cursor
		if cur.Phase == protocol.PhaseLive {
			var was protocol.Cursor
			if _, err := getJSON(tx, metaCursor, &was); err != nil {
				return err
			}
			if was.Phase != protocol.PhaseLive {
				// The end of a full sync: remember when, in case the
				// up-to-date marker never arrives (see Cursor).
				if err := putJSON(tx, metaLiveAt, s.c.now()); err != nil {
					return err
				}
			}
		}
		return putJSON(tx, metaCursor, cur)
	})
	if err != nil {
		return err
	}
	s.c.notify()
	return nil
}

func (s syncer) ApplyUpToDate(u *protocol.UpToDate) error {
	cc, sess, err := s.c.open()
	if err != nil {
		return err
	}
	lease := time.Duration(sess.Policy.LeaseSeconds) * time.Second
	err = cc.Update(func(tx *cache.Tx) error {
		notes, err := readSetAside(tx)
		if err != nil {
			return err
		}
		if err := purgeRange(tx, u.Range, nil, notes); err != nil {
			return err
		}
		if err := notes.write(tx); err != nil {
			return err
		}
		if err := renewLeases(tx, u.LeaseUntil, lease); err != nil {
			return err
		}
		if err := putJSON(tx, metaAsOf, u.AsOf); err != nil {
			return err
		}
		return putJSON(tx, metaCursor, u.Cursor)
	})
	if err != nil {
		return err
	}
	s.c.mu.Lock()
	if s.c.profile != nil && !s.c.profile.FirstSync {
		s.c.profile.FirstSync = true
		_ = saveProfile(s.c.cfg.DataDir, s.c.profile)
	}
	s.c.mu.Unlock()
	s.c.notify()
	return nil
}

func (s syncer) Wipe(reason string) error {
	s.c.cfg.Logf("wiping local data: %s", reason)
	s.c.mu.Lock()
	s.c.wipeReason = reason
	s.c.mu.Unlock()
	return s.c.wipeLocal(false)
}

func (s syncer) AuditHead() (*protocol.SignedHead, error) {
	cc, sess, err := s.c.open()
	if err != nil {
		return nil, err
	}
	var h *protocol.SignedHead
	err = cc.View(func(tx *cache.Tx) error {
		h, err = signedHead(tx, sess.DeviceID)
		return err
	})
	return h, err
}

// PendingRollback is the profile rollback found at unlock, if not yet
// reported.
func (s syncer) PendingRollback() *protocol.RollbackReport { return s.c.marks.pending() }

// RollbackReported forgets a rollback the server has answered.
func (s syncer) RollbackReported(r protocol.RollbackReport) error { return s.c.marks.reported(r) }

func (s syncer) PendingAudit(max, maxBytes int) (*protocol.AuditUpload, error) {
	cc, sess, err := s.c.open()
	if err != nil {
		return nil, err
	}
	entries, err := cc.Outbox(0, max)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	up := &protocol.AuditUpload{}
	size := 0
	for _, e := range entries {
		if size+len(e.Payload) > maxBytes && len(up.Seqs) > 0 {
			break
		}
		up.Seqs = append(up.Seqs, e.Seq)
		up.Events = append(up.Events, e.Payload)
		size += len(e.Payload)
	}
	err = cc.View(func(tx *cache.Tx) error {
		h, err := signedHead(tx, sess.DeviceID)
		if err != nil {
			return err
		}
		if h == nil {
			return errors.New("queued audit events but no chain head")
		}
		up.Head = *h
		return nil
	})
	if err != nil {
		return nil, err
	}
	return up, nil
}

func (s syncer) AckAudit(through uint64) error {
	cc, _, err := s.c.open()
	if err != nil {
		return err
	}
	if err := cc.Update(func(tx *cache.Tx) error { return tx.OutboxDeleteThrough(through) }); err != nil {
		return err
	}
	s.c.notify()
	return nil
}

func (s syncer) QueuedAudit() int {
	cc, _, err := s.c.open()
	if err != nil {
		return -1
	}
	return cc.Stats().OutboxCount
}

func (s syncer) ApplyWelcome(w *protocol.Welcome) error {
	// Batches prepared on an earlier connection will never be applied.
	s.c.prepared.Clear()
	cc, sess, err := s.c.open()
	if err != nil {
		return err
	}
	sess.User, sess.Policy, sess.Epoch = w.User, w.Policy, w.Epoch
	if err := cc.Update(func(tx *cache.Tx) error { return putJSON(tx, metaSession, sess) }); err != nil {
		return err
	}
	s.c.mu.Lock()
	s.c.sess = sess
	if s.c.profile != nil {
		s.c.profile.Role = w.User.Role
		if s.c.sync != nil {
			// The node that welcomed this device is where the next
			// connection starts.
			s.c.profile.Server = s.c.sync.Server()
		}
		applyPolicy(s.c.profile, w.Policy)
		_ = saveProfile(s.c.cfg.DataDir, s.c.profile)
	}
	s.c.mu.Unlock()
	return nil
}

func (s syncer) Tokens() (access, refresh string, expires time.Time, err error) {
	cc, _, err := s.c.open()
	if err != nil {
		return "", "", time.Time{}, err
	}
	var t storedTokens
	err = cc.View(func(tx *cache.Tx) error {
		_, err := getJSON(tx, metaTokens, &t)
		return err
	})
	return t.Access, t.Refresh, t.Expires, err
}

func (s syncer) SaveTokens(r *protocol.TokenResponse) error {
	cc, _, err := s.c.open()
	if err != nil {
		return err
	}
	return cc.Update(func(tx *cache.Tx) error {
		return putJSON(tx, metaTokens, storedTokens{Access: r.AccessToken, Refresh: r.RefreshToken, Expires: r.ExpiresAt})
	})
}
