package server

import (
	"bytes"
	"container/list"
	"slices"
	"sync"
	"time"

	"kmcr/sync/protocol"
)

// Deltas (docs/protocol.md, "Deltas"): a changed document goes to a
// client that applies deltas as a zstd delta against the version that
// device last acknowledged, when the server still has that version; the
// whole document otherwise. What each device holds and the recent bases
// are kept in memory: after a restart the first change of each patient
// goes whole again, which is always correct.

// deltaBaseBytes bounds the documents kept as delta bases.
const deltaBaseBytes = 64 << 20

// deltaBook is the Service's memory of what each device holds (the hash
// of each patient's document it acknowledged) and of recent documents by
// hash, least recently used dropped first.
type deltaBook struct {
	mu    sync.Mutex
	held  map[string]map[string][]byte // device → NHS number → document hash
	bases map[string]*list.Element     // hash → element of lru (a *baseDoc)
	lru   *list.List
	size  int
	max   int
}

type baseDoc struct {
	hash string
	doc  []byte
}

func newDeltaBook(max int) *deltaBook {
	return &deltaBook{held: map[string]map[string][]byte{}, bases: map[string]*list.Element{}, lru: list.New(), max: max}
}

// base returns the document device holds for nhs, if it is known and
// still kept.
func (d *deltaBook) base(device, nhs string) (hash, doc []byte, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	hash = d.held[device][nhs]
	if hash == nil {
		return nil, nil, false
	}
	e, ok := d.bases[string(hash)]
	if !ok {
		return nil, nil, false
	}
	d.lru.MoveToFront(e)
	return hash, e.Value.(*baseDoc).doc, true
}

// keep remembers doc as a possible base.
func (d *deltaBook) keep(hash, doc []byte) {
	if len(doc) > d.max/8 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.bases[string(hash)]; ok {
		d.lru.MoveToFront(e)
		return
	}
	d.bases[string(hash)] = d.lru.PushFront(&baseDoc{hash: string(hash), doc: doc})
	d.size += len(doc)
	for d.size > d.max {
		e := d.lru.Back()
		b := e.Value.(*baseDoc)
		d.lru.Remove(e)
		delete(d.bases, b.hash)
		d.size -= len(b.doc)
	}
}

// setHeld records that device stores the document with hash for nhs;
// a nil hash forgets it.
func (d *deltaBook) setHeld(device, nhs string, hash []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.held[device]
	if hash == nil {
		delete(m, nhs)
		return
	}
	if m == nil {
		m = map[string][]byte{}
		d.held[device] = m
	}
	m[nhs] = hash
}

// deltaSession is one session's part: whether the client applies deltas,
// the documents of unacknowledged batches, and the patients the client
// asked to get whole.
type deltaSession struct {
	on       bool
	unacked  map[uint64][]sentDoc // batch id → documents it carried
	wantFull map[string]bool
	stats    deltaStats
}

type sentDoc struct {
	nhs  string
	hash []byte
}

// deltaStats count what a session sent, for logs and benchmarks.
type deltaStats struct {
	Deltas, Whole          int
	DeltaBytes, WholeBytes int
}

func (ds *deltaSession) init(h *protocol.Hello) {
	ds.on = slices.Contains(h.Deltas, protocol.DeltaZstd)
	ds.unacked = map[uint64][]sentDoc{}
	ds.wantFull = map[string]bool{}
}

// addDoc appends a document to b, as a delta when allowed (live batches
// only) and smaller, and returns the bytes it adds to the batch.
func (ss *session) addDoc(b *protocol.Batch, m protocol.DocMeta, doc []byte, deltaOK bool) int {
	ds := &ss.delta
	book := ss.svc.deltas
	hash := protocol.DocHash(doc)
	m.Hash = hash
	book.keep(hash, doc)
	payload := doc
	if ds.on && deltaOK && !ds.wantFull[m.NHS] {
		if baseHash, base, ok := book.base(ss.device.ID, m.NHS); ok {
			if d, err := protocol.EncodeDelta(base, doc); err == nil && len(d) < len(doc)*3/4 {
				m.Delta = &protocol.DeltaRef{Format: protocol.DeltaZstd, BaseHash: bytes.Clone(baseHash)}
				payload = d
			}
		}
	}
	delete(ds.wantFull, m.NHS)
	if m.Delta != nil {
		ds.stats.Deltas++
		ds.stats.DeltaBytes += len(payload)
	} else {
		ds.stats.Whole++
		ds.stats.WholeBytes += len(payload)
	}
	b.Upserts = append(b.Upserts, m)
	b.Docs = append(b.Docs, payload)
	ds.unacked[b.ID] = append(ds.unacked[b.ID], sentDoc{m.NHS, hash})
	return len(payload)
}

// forgetDoc is called when a batch revokes a patient: no base is known
// for them any more.
func (ss *session) forgetDoc(nhs string) {
	ss.svc.deltas.setHeld(ss.device.ID, nhs, nil)
}

// ackedDocs records what an acknowledged batch stored, and queues the
// whole document of every patient whose delta the client could not apply.
func (ss *session) ackedDocs(a *protocol.Ack) {
	ss.sizer.acked(a.ID, time.Now())
	ds := &ss.delta
	carried := map[string]bool{}
	for _, d := range ds.unacked[a.ID] {
		carried[d.nhs] = true
	}
	// Only a patient this batch carried can be asked for again.
	a.Full = slices.DeleteFunc(a.Full, func(n string) bool { return !carried[n] })
	// Oldest batch first, so a patient carried twice ends at the newer.
	var ids []uint64
	for id := range ds.unacked {
		if id <= a.ID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, d := range ds.unacked[id] {
			if id != a.ID || !slices.Contains(a.Full, d.nhs) {
				ss.svc.deltas.setHeld(ss.device.ID, d.nhs, d.hash)
			}
		}
		delete(ds.unacked, id)
	}
	for _, nhs := range a.Full {
		ss.svc.deltas.setHeld(ss.device.ID, nhs, nil)
		ds.wantFull[nhs] = true
		ss.queue(nhs, "")
	}
	if len(a.Full) > 0 {
		ss.svc.cfg.Logf("session %s/%s: resending %d whole documents whose delta did not apply", ss.user.Name, ss.device.ID, len(a.Full))
	}
}

// logDeltas says, at the end of a session that sent documents, how many
// went as deltas and how many whole, with their payload bytes.
func (ss *session) logDeltas() {
	st := ss.delta.stats
	if st.Deltas+st.Whole == 0 {
		return
	}
	ss.svc.cfg.Logf("session %s/%s: sent %d deltas (%d bytes) and %d whole documents (%d bytes); compression %q",
		ss.user.Name, ss.device.ID, st.Deltas, st.DeltaBytes, st.Whole, st.WholeBytes, ss.conn.Compression())
}
