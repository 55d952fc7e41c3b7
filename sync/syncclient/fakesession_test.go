package syncclient

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"kmcr/sync/protocol"
)

// plan decides the Welcome and the batches for a Hello, as the real
// server does: resume a full sync after its cursor, continue a live
// cursor with the changes since, or start over.
func (fs *fakeServer) plan(h *protocol.Hello) (*protocol.Welcome, []*protocol.Batch, *protocol.UpToDate) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	now := time.Now().UTC()
	w := &protocol.Welcome{Protocol: protocol.Version, Server: "fake", Epoch: fs.epoch, ServerTime: now,
		User: protocol.UserInfo{ID: "u1", Name: "Amy Paramedic", Role: "paramedic"}, Mode: protocol.ModeFull, Total: len(fs.patients)}
	cur := h.Cursor
	var todo []fakePatient
	switch {
	case cur.Epoch == fs.epoch && cur.Phase == protocol.PhaseLive:
		w.Mode = protocol.ModeLive
		for _, p := range fs.patients {
			if p.changed > cur.Seq {
				todo = append(todo, p)
			}
		}
		w.Total = len(todo)
	case cur.Epoch == fs.epoch && cur.Phase == protocol.PhaseFull:
		i := sort.Search(len(fs.patients), func(i int) bool { return fs.patients[i].nhs > cur.After })
		todo, w.Done = fs.patients[i:], i
	default:
		todo = fs.patients
		w.Reset = !cur.IsZero()
	}
	var batches []*protocol.Batch
	done := w.Done
	after := cur.After
	for len(todo) > 0 {
		n := min(fs.batchDocs, len(todo))
		b := &protocol.Batch{Done: done + n, Total: w.Total}
		for _, p := range todo[:n] {
			b.Upserts = append(b.Upserts, fakeMeta(p.nhs, p.version, protocol.RelCaseload))
			b.Docs = append(b.Docs, fakeDoc(p.nhs))
		}
		last := todo[n-1].nhs
		if w.Mode == protocol.ModeFull {
			b.Cursor = protocol.Cursor{Epoch: fs.epoch, Seq: fs.seq, Phase: protocol.PhaseFull, After: last}
			b.Range = &protocol.NHSRange{After: after, Through: last}
		} else {
			b.Cursor = protocol.Cursor{Epoch: fs.epoch, Seq: todo[n-1].changed, Phase: protocol.PhaseLive}
		}
		batches = append(batches, b)
		after, done, todo = last, done+n, todo[n:]
	}
	u := &protocol.UpToDate{Cursor: protocol.Cursor{Epoch: fs.epoch, Seq: fs.seq, Phase: protocol.PhaseLive},
		AsOf: now, LeaseUntil: now.Add(24 * time.Hour), Total: w.Total}
	if w.Mode == protocol.ModeFull {
		u.Range = &protocol.NHSRange{After: after}
	}
	return w, batches, u
}

func fakeMeta(nhs string, version uint64, rel string) protocol.DocMeta {
	now := time.Now().UTC()
	return protocol.DocMeta{NHS: nhs, Version: version, NotAfter: now.Add(24 * time.Hour), AsOf: now, Relationship: rel, Sections: []string{"allergies"}}
}

func fakeDoc(nhs string) []byte {
	doc := fmt.Sprintf(`{"resourceType":"Bundle","id":%q,"pad":"`, nhs)
	return []byte(doc + strings.Repeat("x", max(0, testDocSize-len(doc)-2)) + `"}`)
}

// serve runs the default session: the planned sync within the window,
// then live batches, audit acks and break-glass answers.
func (ss *srvSession) serve() {
	fs := ss.fs
	window := ss.hello.Window
	if window == 0 {
		window = protocol.DefaultWindow
	}
	w, batches, utd := fs.plan(ss.hello)
	if ss.send(w) != nil {
		return
	}
	queue := make([]protocol.Message, 0, len(batches)+1)
	for _, b := range batches {
		queue = append(queue, b)
	}
	queue = append(queue, utd)

	in := make(chan protocol.Message)
	readerDone := make(chan error, 1)
	go func() {
		for {
			m, err := ss.conn.Receive()
			if err != nil {
				readerDone <- err
				return
			}
			in <- m
		}
	}()
	readerEnded := false
	defer func() {
		ss.conn.Close(protocol.CloseNormal, "")
		for !readerEnded { // let the reader finish
			select {
			case <-in:
			case err := <-readerDone:
				ss.closedBy(err)
				readerEnded = true
			}
		}
	}()

	var nextID, acked uint64
	cursors := map[uint64]protocol.Cursor{}
	for {
		for len(queue) > 0 {
			if b, ok := queue[0].(*protocol.Batch); ok {
				if int(nextID-acked) >= window {
					break
				}
				nextID++
				b.ID = nextID
				cursors[b.ID] = b.Cursor
				fs.mu.Lock()
				fs.maxInFlight = max(fs.maxInFlight, int(nextID-acked))
				fs.mu.Unlock()
			}
			if ss.send(queue[0]) != nil {
				return
			}
			queue = queue[1:]
		}
		select {
		case m := <-in:
			switch v := m.(type) {
			case *protocol.Ack:
				if v.ID != acked+1 || v.Cursor != cursors[v.ID] {
					fs.fail("ack %d %+v; want ack %d %+v", v.ID, v.Cursor, acked+1, cursors[acked+1])
					return
				}
				acked = v.ID
			case *protocol.AuditUpload:
				ack, cut := fs.storeAudit(v)
				if cut {
					_ = ss.ws.NetConn().Close() // stored, but the ack is lost
					return
				}
				if ack != nil {
					queue = append(queue, ack)
				}
			case *protocol.BreakGlass:
				queue = append(queue, fs.breakGlass(v)...)
			default:
				fs.fail("unexpected %s from the client", m.Type())
				return
			}
		case m := <-ss.live:
			queue = append(queue, m)
		case err := <-readerDone:
			ss.closedBy(err)
			readerEnded = true
			return
		}
	}
}

// storeAudit stores an upload's events once each, deduplicating by
// sequence number, and returns the ack to send (nil for none) and whether
// to cut the connection instead.
func (fs *fakeServer) storeAudit(up *protocol.AuditUpload) (*protocol.AuditAck, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	total := 0
	ack := &protocol.AuditAck{ID: up.ID}
	for i, seq := range up.Seqs {
		total += len(up.Events[i])
		if _, dup := fs.audit[seq]; dup {
			fs.auditDupes++
			ack.Duplicates++
			continue
		}
		fs.audit[seq] = bytes.Clone(up.Events[i])
		ack.Accepted++
	}
	fs.uploads = append(fs.uploads, [2]int{len(up.Seqs), total})
	if up.Head.Seq != up.Seqs[len(up.Seqs)-1] {
		fs.errs = append(fs.errs, fmt.Sprintf("upload head %d does not match its last event %d", up.Head.Seq, up.Seqs[len(up.Seqs)-1]))
	}
	if fs.cutAudit > 0 {
		fs.cutAudit--
		return nil, true
	}
	switch fs.auditAck {
	case auditAckNone:
		return nil, false
	case auditAckZero:
		return ack, false
	}
	ack.Through = up.Seqs[len(up.Seqs)-1]
	return ack, false
}

// breakGlass grants access to fs.bgNHS only; the document follows the
// answer as an ordinary batch.
func (fs *fakeServer) breakGlass(r *protocol.BreakGlass) []protocol.Message {
	if r.NHS != fs.bgNHS {
		return []protocol.Message{&protocol.BreakGlassResult{RequestID: r.RequestID, Error: "no such patient"}}
	}
	exp := time.Now().Add(2 * time.Hour).UTC()
	fs.mu.Lock()
	fs.seq++
	cur := protocol.Cursor{Epoch: fs.epoch, Seq: fs.seq, Phase: protocol.PhaseLive}
	fs.mu.Unlock()
	return []protocol.Message{
		&protocol.BreakGlassResult{RequestID: r.RequestID, Granted: true, ExpiresAt: exp},
		&protocol.Batch{Cursor: cur, Upserts: []protocol.DocMeta{fakeMeta(r.NHS, 1, protocol.RelBreakGlass)}, Docs: [][]byte{fakeDoc(r.NHS)}},
	}
}

// push sends m to every open session (a live batch, a wipe).
func (fs *fakeServer) push(m protocol.Message) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for ss := range fs.sessions {
		ss.live <- m
	}
}

// closeAll closes every session with code, as the server does when a
// token expires or a device is revoked.
func (fs *fakeServer) closeAll(code int, reason string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for ss := range fs.sessions {
		ss.conn.Close(code, reason)
	}
}

// snapshot returns a copy of the counters a test checks, under the lock.
func (fs *fakeServer) snapshot() fakeServer {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fakeServer{
		logins: fs.logins, refreshes: fs.refreshes, maxInFlight: fs.maxInFlight, auditDupes: fs.auditDupes,
		hellos: append([]protocol.Hello(nil), fs.hellos...), tokensSeen: append([]string(nil), fs.tokensSeen...),
		clientClose: append([]int(nil), fs.clientClose...), uploads: append([][2]int(nil), fs.uploads...),
		audit: func() map[uint64][]byte {
			m := make(map[uint64][]byte, len(fs.audit))
			for k, v := range fs.audit {
				m[k] = v
			}
			return m
		}(),
	}
}

// nhsNumbers returns n valid NHS numbers in ascending order (999 prefix,
// the range reserved for test data).
func nhsNumbers(n int) []string {
	var out []string
	for body := 999000000; len(out) < n; body++ {
		s := fmt.Sprintf("%09d", body)
		if c := checkDigit(s); c >= 0 {
			out = append(out, fmt.Sprintf("%s%d", s, c))
		}
	}
	return out
}

// checkDigit is the NHS modulus 11 check digit of nine digits, or -1 where
// no valid number exists.
func checkDigit(nine string) int {
	sum := 0
	for i := range 9 {
		sum += int(nine[i]-'0') * (10 - i)
	}
	c := 11 - sum%11
	switch c {
	case 11:
		return 0
	case 10:
		return -1
	}
	return c
}

func validNHS(s string) bool {
	return len(s) == 10 && tenDigits(s) && checkDigit(s[:9]) == int(s[9]-'0')
}
