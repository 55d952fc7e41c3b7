package syncclient

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"kmcr/sync/protocol"
)

// docApplier is a fakeApplier that also keeps each document's bytes and
// hands them out as delta bases.
type docApplier struct {
	*fakeApplier
	mu   sync.Mutex
	held map[string][]byte
}

func (a *docApplier) HeldDocument(nhs string) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held[nhs], nil
}

func (a *docApplier) ApplyBatch(b *protocol.Batch) error {
	if err := a.fakeApplier.ApplyBatch(b); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, u := range b.Upserts {
		if u.Delta != nil {
			panic("the Applier was handed a delta")
		}
		a.held[u.NHS] = bytes.Clone(b.Docs[i])
	}
	return nil
}

// TestClient_Delta_CorruptedAsksForWhole checks the client rebuilds a
// delta from the document it holds, checks it against the hash before the
// Applier stores it, and when a delta is corrupted keeps the version it
// has and asks for the whole document in its ack.
func TestClient_Delta_CorruptedAsksForWhole(t *testing.T) {
	nhs := nhsNumbers(2)
	bases := map[string][]byte{nhs[0]: fakeDoc(nhs[0]), nhs[1]: fakeDoc(nhs[1])}
	newer := func(n string) []byte { return bytes.Replace(bases[n], []byte("xxxx"), []byte("NEW!"), 1) }
	fs := newFakeServer(t, 0)
	acks := make(chan *protocol.Ack, 4)
	fs.script = func(ss *srvSession) {
		if !slices.Contains(ss.hello.Deltas, protocol.DeltaZstd) {
			t.Errorf("hello offers deltas %v", ss.hello.Deltas)
		}
		w := scriptedWelcome(fs)
		w.Mode = protocol.ModeLive
		b := &protocol.Batch{ID: 1, Cursor: protocol.Cursor{Epoch: fs.epoch, Seq: 2, Phase: protocol.PhaseLive}}
		for i, n := range nhs {
			d, err := protocol.EncodeDelta(bases[n], newer(n))
			if err != nil {
				t.Error(err)
				return
			}
			if i == 0 {
				d[len(d)-1] ^= 0x5a // corrupted in transit, or by the server
			}
			m := fakeMeta(n, 2, protocol.RelCaseload)
			m.Hash = protocol.DocHash(newer(n))
			m.Delta = &protocol.DeltaRef{Format: protocol.DeltaZstd, BaseHash: protocol.DocHash(bases[n])}
			b.Upserts = append(b.Upserts, m)
			b.Docs = append(b.Docs, d)
		}
		for _, m := range []protocol.Message{w, b} {
			if ss.send(m) != nil {
				return
			}
		}
		m, err := ss.conn.Receive()
		if err != nil {
			t.Error(err)
			return
		}
		acks <- m.(*protocol.Ack)
		_ = ss.send(&protocol.UpToDate{Cursor: b.Cursor, AsOf: time.Now(), LeaseUntil: time.Now().Add(time.Hour)})
		ss.drain()
	}
	app := &docApplier{fakeApplier: newFakeApplier(), held: map[string][]byte{}}
	for n, d := range bases {
		app.held[n] = d
	}
	tc := newTestClient(t, fs, "", func(c *Config) { c.Applier = app })
	tc.app = app.fakeApplier
	if err := tc.SyncOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	ack := <-acks
	if len(ack.Full) != 1 || ack.Full[0] != nhs[0] {
		t.Fatalf("ack asks for whole documents %v, want [%s]", ack.Full, nhs[0])
	}
	if !bytes.Equal(app.held[nhs[0]], bases[nhs[0]]) {
		t.Fatal("the patient whose delta failed did not keep the version it had")
	}
	if !bytes.Equal(app.held[nhs[1]], newer(nhs[1])) {
		t.Fatal("the good delta was not rebuilt and stored")
	}
}

// TestClient_Delta_WholeDocumentHashMismatchRefused checks a whole
// document that does not match its hash is never stored: the batch is
// refused and the connection closed with CloseProtocolError.
func TestClient_Delta_WholeDocumentHashMismatchRefused(t *testing.T) {
	nhs := nhsNumbers(1)
	fs := newFakeServer(t, 0)
	fs.script = func(ss *srvSession) {
		b := scriptedBatch(fs, 1, nhs[0])
		b.Upserts[0].Hash = protocol.DocHash([]byte("another document"))
		for _, m := range []protocol.Message{scriptedWelcome(fs), b} {
			if ss.send(m) != nil {
				return
			}
		}
		ss.drain()
	}
	app := &docApplier{fakeApplier: newFakeApplier(), held: map[string][]byte{}}
	tc := newTestClient(t, fs, "", func(c *Config) { c.Applier = app })
	err := tc.SyncOnce(t.Context())
	if !errors.Is(err, ErrBadBatch) {
		t.Fatalf("SyncOnce = %v, want ErrBadBatch", err)
	}
	waitFor(t, 10*time.Second, "the client's close", func() bool { return len(fs.snapshot().clientClose) > 0 })
	if got := fs.snapshot().clientClose[0]; got != protocol.CloseProtocolError {
		t.Fatalf("closed with %d", got)
	}
	if len(app.held) != 0 {
		t.Fatal("a document that fails its hash was stored")
	}
}
