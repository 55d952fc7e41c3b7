package audit

import (
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"
)

// DeviceChain is what the server keeps per device between batches. It
// encodes with encoding/json (hashes as hex, times as RFC 3339), which is
// how a store that keeps it as bytes should save it.
type DeviceChain struct {
	DeviceID     string
	LastSeq      uint64    // highest sequence number stored (accepted or malformed)
	LastHash     Hash      // hash of the bytes stored at LastSeq
	LastOccurred time.Time // device time of the event at LastSeq, if it decoded
	SignedSeq    uint64    // highest seq whose stored hash matched a valid signed head
}

// Uploaded is one queued event as the client sent it: the sequence number it
// was queued under and the canonical bytes it hashed.
type Uploaded struct {
	Seq       uint64
	Canonical []byte
}

// StoredHash looks up the hash the server stored for one of the device's
// sequence numbers (accepted or malformed; not conflicting copies). It has
// no error result: a store that fails a lookup must remember the error in
// its closure and discard the BatchResult, acknowledging nothing.
type StoredHash func(seq uint64) (Hash, bool)

// RawEvent is uploaded bytes the server must keep although they are not
// stored as an accepted event. Canonical aliases the uploaded slice.
type RawEvent struct {
	Seq       uint64
	Hash      Hash // HashCanonical of the bytes as sent
	Canonical []byte
	Kind      AlertKind // AlertMalformed, AlertChanged or AlertRollback
	Reason    string
}

// BatchResult is VerifyBatch's verdict on one batch. The server stores
// Accepted, Malformed and Conflicts and saves Next in one transaction, and
// only then sends AckThrough to the client.
type BatchResult struct {
	// Accepted are the new events in sequence order: store each under
	// (device, seq). e.Canonical() reproduces the bytes as sent.
	Accepted []Event
	// Malformed are items at sequence numbers the server did not hold that
	// do not decode: store the raw bytes under (device, seq), so the chain
	// continues through them and nothing the device sent is lost.
	Malformed []RawEvent
	// Conflicts are second versions of sequence numbers already stored:
	// keep them aside under (device, seq, hash); never overwrite.
	Conflicts []RawEvent
	// Duplicates are sequence numbers already stored with the same hash
	// (or repeated within the batch): acknowledge, do not store again.
	Duplicates []uint64
	// Alerts are the findings, in the order found.
	Alerts []Alert
	// Next is the device's chain state after this batch.
	Next DeviceChain
	// AckThrough lets the client delete every queued event with seq ≤
	// AckThrough: the highest seq such that every seq from the batch's
	// lowest up to it was in the batch, and so is now kept in one of the
	// lists above. Zero for an empty batch.
	AckThrough uint64
}

// Errors VerifyBatch returns for a call that cannot be verified at all (a
// server bug, not a device fault; device faults are alerts).
var (
	// ErrNoDeviceID is returned when the chain state names no device.
	ErrNoDeviceID = errors.New("audit batch verification needs the device ID")
	// ErrNoLookup is returned when the stored-hash lookup is nil for a
	// device that has more than one stored event.
	ErrNoLookup = errors.New("audit batch verification needs the stored-hash lookup for a device with stored events")
	// ErrNoReceiveAt is returned when the receive time is zero; the clock
	// checks compare the device's clock with it.
	ErrNoReceiveAt = errors.New("audit batch verification needs the time the batch was received")
)

// VerifyBatch checks one uploaded batch against the device's chain state and
// says what to store, what to acknowledge and what to alert on. It is pure:
// it reads stored hashes through stored and changes nothing.
//
// head is the device's signed current chain head (not necessarily the batch's
// last event: a long queue is sent in several batches under one head).
// received is the server's receive time, for clock-skew checks.
//
// Nothing the device sent is dropped: events after a gap, a break in the
// chain, a bad signature or a skewed clock are still accepted (an audit
// trail with a hole is still evidence; the alert says what is wrong), and
// what cannot be accepted is returned for keeping. So every item in the
// batch is acknowledgeable, and the client never re-sends forever.
func VerifyBatch(state DeviceChain, pub ed25519.PublicKey, batch []Uploaded, head *SignedHead, stored StoredHash, received time.Time) (BatchResult, error) {
	switch {
	case len(pub) != ed25519.PublicKeySize:
		return BatchResult{}, fmt.Errorf("verifying audit batch: %w: %d bytes", ErrBadKey, len(pub))
	case state.DeviceID == "":
		return BatchResult{}, ErrNoDeviceID
	case received.IsZero():
		return BatchResult{}, ErrNoReceiveAt
	case stored == nil && state.LastSeq > 1:
		return BatchResult{}, ErrNoLookup
	}
	v := &verifier{
		st: state, pub: pub, head: head, stored: stored, received: received,
		log:  alertLog{deviceID: state.DeviceID, at: received},
		tail: Head{Seq: state.LastSeq, Hash: state.LastHash}, tailOccurred: state.LastOccurred,
	}
	v.run(batch)
	return v.res, nil
}

type itemKind uint8

const (
	itemAccepted itemKind = iota
	itemDuplicate
	itemMalformed
	itemConflict
)

type item struct {
	Uploaded
	hash    Hash
	kind    itemKind
	ev      Event // the decoded event, when decoded is set
	decoded bool
	stored  Hash // for a conflict: the hash the server holds at Seq
	fork    bool // for a conflict: a later event in the batch chains onto it
}

type verifier struct {
	st           DeviceChain
	pub          ed25519.PublicKey
	head         *SignedHead
	headOK       bool
	stored       StoredHash
	received     time.Time
	log          alertLog
	res          BatchResult
	tail         Head // end of the chain as stored plus this batch so far
	tailOccurred time.Time
	conflicts    []*item
	signedSeq    uint64 // seq covered by this batch's signed head, if it matched
}

func (v *verifier) run(batch []Uploaded) {
	v.checkSignature(len(batch))
	items := make([]item, len(batch))
	v.res.Accepted = make([]Event, 0, len(batch))
	reordered := false
	for i, u := range batch {
		items[i].Uploaded = u
		if i > 0 && u.Seq <= batch[i-1].Seq && !reordered {
			reordered = true
			v.log.add(AlertReorder, "", u.Seq, fmt.Sprintf(
				"seq %d arrived after seq %d: the batch was not in strictly increasing order; events were put back in sequence order",
				u.Seq, batch[i-1].Seq))
		}
	}
	if reordered {
		// Stable, so that of two items with one seq the first sent stays first.
		slices.SortStableFunc(items, bySeq)
	}
	var last *item // the previous item in sequence order (first of its seq)
	for i := range items {
		it := &items[i]
		it.hash = HashCanonical(it.Canonical)
		if last != nil && it.Seq == last.Seq {
			v.repeat(it, last)
			continue
		}
		v.classify(it, last)
		last = it
	}
	v.checkHead(items)
	v.reportConflicts()
	v.res.Alerts = v.log.finish()
	v.res.Next = DeviceChain{
		DeviceID: v.st.DeviceID, LastSeq: v.tail.Seq, LastHash: v.tail.Hash,
		LastOccurred: v.tailOccurred, SignedSeq: max(v.st.SignedSeq, v.signedSeq),
	}
	v.res.AckThrough = ackThrough(items)
}

func bySeq(a, b item) int { return cmp.Compare(a.Seq, b.Seq) }

func (v *verifier) checkSignature(n int) {
	switch {
	case v.head == nil && n > 0:
		v.log.add(AlertBadSignature, "", 0, fmt.Sprintf("%d events arrived without a signed chain head", n))
	case v.head == nil:
	default:
		if err := VerifyHead(v.pub, v.st.DeviceID, *v.head); err != nil {
			v.log.add(AlertBadSignature, "", v.head.Seq, fmt.Sprintf(
				"the signed chain head (seq %d) does not verify with the device's enrolled key; events are kept but not signature-covered", v.head.Seq))
			return
		}
		v.headOK = true
	}
}

// repeat handles a second item with the sequence number of the one before it.
func (v *verifier) repeat(it, first *item) {
	if it.hash == first.hash || (first.kind == itemConflict && it.hash == first.stored) {
		it.kind = itemDuplicate
		v.res.Duplicates = append(v.res.Duplicates, it.Seq)
		return
	}
	it.kind = itemConflict
	reason := fmt.Sprintf("two different events with seq %d in one batch; the first is kept as seq %d, the other aside", it.Seq, it.Seq)
	v.res.Conflicts = append(v.res.Conflicts, RawEvent{Seq: it.Seq, Hash: it.hash, Canonical: it.Canonical, Kind: AlertChanged, Reason: reason})
	v.log.add(AlertChanged, "repeat", it.Seq, reason)
}

// classify decides what one item is: a duplicate or conflicting copy of a
// stored event, a malformed item, or a new event to accept.
func (v *verifier) classify(it, last *item) {
	if it.Seq != 0 && it.Seq <= v.st.LastSeq {
		if h, ok := v.storedAt(it.Seq); ok {
			if h == it.hash {
				it.kind = itemDuplicate
				v.res.Duplicates = append(v.res.Duplicates, it.Seq)
				return
			}
			it.kind, it.stored = itemConflict, h
			if ev, err := v.decode(it); err == nil {
				it.ev, it.decoded = ev, true
				v.link(it, last)
			}
			v.conflicts = append(v.conflicts, it)
			return
		}
	}
	ev, err := v.decode(it)
	if err != nil {
		it.kind = itemMalformed
		v.res.Malformed = append(v.res.Malformed, RawEvent{Seq: it.Seq, Hash: it.hash, Canonical: it.Canonical, Kind: AlertMalformed, Reason: err.Error()})
		v.log.add(AlertMalformed, "", it.Seq, fmt.Sprintf("seq %d cannot be read (%v); its bytes are kept as sent", it.Seq, err))
		// An unreadable item's seq is only the label it was sent under, so it
		// moves the chain on only when it continues it: a corrupt label must
		// not push the device's chain state to an absurd sequence number.
		if it.Seq == v.tail.Seq+1 {
			v.advance(it)
		}
		return
	}
	if it.Seq > v.tail.Seq+1 {
		v.log.add(AlertGap, "", it.Seq, gapDetail(v.tail.Seq+1, it.Seq-1))
	}
	it.ev, it.decoded = ev, true
	v.link(it, last)
	v.checkClock(it, last)
	it.kind = itemAccepted
	v.res.Accepted = append(v.res.Accepted, ev)
	v.log.addAlerts(AlertsFor(ev))
	v.advance(it)
}

func gapDetail(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("event %d is missing: it was deleted from the device's queue before upload; later events are kept", from)
	}
	return fmt.Sprintf("events %d to %d are missing: they were deleted from the device's queue before upload; later events are kept", from, to)
}

func (v *verifier) storedAt(seq uint64) (Hash, bool) {
	if seq == v.st.LastSeq {
		return v.st.LastHash, true
	}
	if v.stored == nil {
		return Hash{}, false
	}
	return v.stored(seq)
}

// decode decodes an item and checks it belongs where it was sent.
func (v *verifier) decode(it *item) (Event, error) {
	ev, err := Decode(it.Canonical)
	switch {
	case err != nil:
		return Event{}, err
	case ev.Seq != it.Seq:
		return Event{}, fmt.Errorf("%w: sent as seq %d but encodes seq %d", ErrMalformed, it.Seq, ev.Seq)
	case ev.Device.ID != v.st.DeviceID:
		return Event{}, fmt.Errorf("%w: names device %q, uploaded by %q", ErrMalformed, ev.Device.ID, v.st.DeviceID)
	}
	return ev, nil
}

// link checks that a decoded item's Prev is the hash of the event before it.
// The predecessor is the previous item in the batch if it has seq-1, else the
// stored event seq-1; when neither is known (a gap) there is nothing to check.
// A conflicting predecessor has two acceptable hashes: the stored one (the
// chain carries on) and its own (the device kept writing on top of it).
func (v *verifier) link(it, last *item) {
	if !it.decoded {
		return
	}
	var want, alt Hash
	hasAlt := false
	switch {
	case it.Seq == 1:
	case last != nil && last.Seq == it.Seq-1:
		want = last.hash
		if last.kind == itemConflict {
			alt, hasAlt = last.stored, true
		}
	case it.Seq-1 <= v.st.LastSeq:
		h, ok := v.storedAt(it.Seq - 1)
		if !ok {
			return
		}
		want = h
	default:
		return
	}
	switch {
	case it.ev.Prev == want:
		if last != nil && last.Seq == it.Seq-1 && last.kind == itemConflict {
			last.fork = true
		}
	case hasAlt && it.ev.Prev == alt:
	case it.kind == itemConflict:
		// Already reported as a conflict; a second alert would say no more.
	default:
		v.log.add(AlertChanged, "link", it.Seq, fmt.Sprintf(
			"event %d does not chain to event %d (prev %.12s…, expected %.12s…): an earlier event was changed or replaced",
			it.Seq, it.Seq-1, it.ev.Prev, want))
	}
}

func (v *verifier) checkClock(it, last *item) {
	t := it.ev.Occurred
	if ahead := t.Sub(v.received); ahead > ClockSkewTolerance {
		v.log.add(AlertClockSkew, "ahead", it.Seq, fmt.Sprintf(
			"event %d occurred at %s by the device clock, %s after the server received it; the device clock is ahead",
			it.Seq, t.Format(time.RFC3339), ahead.Round(time.Second)))
	}
	var prev time.Time
	switch {
	case it.Seq-1 == v.st.LastSeq && it.Seq > 1:
		prev = v.st.LastOccurred
	case last != nil && last.Seq == it.Seq-1 && last.decoded:
		prev = last.ev.Occurred
	}
	if back := prev.Sub(t); !prev.IsZero() && back > ClockSkewTolerance {
		v.log.add(AlertClockSkew, "back", it.Seq, fmt.Sprintf(
			"event %d occurred %s before event %d by the device clock; the device clock went back",
			it.Seq, back.Round(time.Second), it.Seq-1))
	}
}

// advance moves the chain tail onto an item stored under its own seq.
func (v *verifier) advance(it *item) {
	if it.Seq <= v.tail.Seq {
		return
	}
	v.tail = Head{Seq: it.Seq, Hash: it.hash}
	if it.decoded {
		v.tailOccurred = it.ev.Occurred
	}
}

// checkHead compares a valid signed head with what the server now holds.
func (v *verifier) checkHead(items []item) {
	if !v.headOK {
		return
	}
	h := v.head.Head
	if h.Seq < v.st.LastSeq {
		v.log.add(AlertRollback, "head", h.Seq, fmt.Sprintf(
			"the device says its audit chain ends at seq %d, but the server holds events through %d: an older copy of the device's cache is in use",
			h.Seq, v.st.LastSeq))
	}
	if n := len(items); n > 0 && items[n-1].Seq > h.Seq {
		v.log.add(AlertBadSignature, "beyond", h.Seq+1, fmt.Sprintf(
			"events after seq %d (through %d) are beyond the signed head and not covered by a signature", h.Seq, items[n-1].Seq))
	}
	got, known, conflict := v.hashAt(items, h.Seq)
	switch {
	case !known:
		// The head is ahead of what has arrived, or falls in a gap.
	case conflict != nil:
		if conflict.hash == h.Hash {
			conflict.fork = true // the device's current chain runs through the conflicting copy
		}
	case got == h.Hash:
		v.signedSeq = h.Seq
	case h.Seq < v.st.LastSeq:
		// Already reported: the head is behind the server.
	case h.Seq == v.st.LastSeq:
		v.log.add(AlertRollback, "head", h.Seq, fmt.Sprintf(
			"the device's signed head for seq %d differs from the event the server holds: its chain was rewritten", h.Seq))
	default:
		v.log.add(AlertChanged, "head", h.Seq, fmt.Sprintf(
			"the device's signed head for seq %d does not match the event received: it changed after it was chained", h.Seq))
	}
}

// hashAt finds the hash at seq: from the batch if it is there (reporting a
// conflicting copy separately), else from the chain tail or the store.
func (v *verifier) hashAt(items []item, seq uint64) (h Hash, known bool, conflict *item) {
	if i, ok := slices.BinarySearchFunc(items, seq, func(it item, s uint64) int { return cmp.Compare(it.Seq, s) }); ok {
		it := &items[i]
		if it.kind == itemConflict {
			return it.stored, true, it
		}
		return it.hash, true, nil
	}
	if seq == v.tail.Seq {
		return v.tail.Hash, true, nil
	}
	if seq != 0 && seq <= v.st.LastSeq {
		h, ok := v.storedAt(seq)
		return h, ok, nil
	}
	return Hash{}, false, nil
}

// reportConflicts raises one alert per run of conflicting copies. They are a
// rollback when the device shows it is writing from an older state (its head
// is behind, or it chained new events onto a conflicting copy); otherwise a
// stored event was changed and sent again.
func (v *verifier) reportConflicts() {
	rollback := v.headOK && v.head.Seq < v.st.LastSeq
	for _, it := range v.conflicts {
		rollback = rollback || it.fork
	}
	for _, it := range v.conflicts {
		kind, reason := AlertChanged, fmt.Sprintf(
			"seq %d was already stored with other content (stored %.12s…, received %.12s…); the new copy is kept aside",
			it.Seq, it.stored, it.hash)
		if rollback {
			kind, reason = AlertRollback, fmt.Sprintf(
				"the device wrote a new event as seq %d, which the server already holds: it is writing from an older copy of its cache; the new event is kept aside",
				it.Seq)
		}
		v.res.Conflicts = append(v.res.Conflicts, RawEvent{Seq: it.Seq, Hash: it.hash, Canonical: it.Canonical, Kind: kind, Reason: reason})
		v.log.add(kind, "conflict", it.Seq, reason)
	}
}

// ackThrough is the end of the run of consecutive sequence numbers that
// starts at the batch's lowest (items are sorted).
func ackThrough(items []item) uint64 {
	if len(items) == 0 {
		return 0
	}
	ack := items[0].Seq
	for _, it := range items[1:] {
		switch it.Seq {
		case ack:
		case ack + 1:
			ack++
		default:
			return ack
		}
	}
	return ack
}
