package protocol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/klauspost/compress/zstd"
)

// pairProtos is pair with the subprotocols each side offers chosen.
func pairProtos(t *testing.T, server, client []string, readLimit int64, handle func(ws *websocket.Conn)) *Conn {
	t.Helper()
	up := websocket.Upgrader{Subprotocols: server}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		handle(ws)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	d := websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig, Subprotocols: client, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(ws, fastTimeouts, readLimit)
	t.Cleanup(func() { c.Close(CloseNormal, "") })
	return c
}

// summaryLike is a FHIR-Bundle-shaped document of about n bytes, varied
// enough that compression has work to do.
func summaryLike(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"collection","entry":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"fullUrl":"urn:uuid:%08x-0000-4000-8000-%012x","resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://snomed.info/sct","code":"%d","display":"Heart rate"}]},"effectiveDateTime":"2026-%02d-%02dT10:%02d:00Z","valueQuantity":{"value":%d,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}}`,
			i*7919, i*104729, 364075005+i%3, 1+i%12, 1+i%28, i%60, 60+i%40)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// docBatch is a valid one-document batch.
func docBatch(doc []byte) *Batch {
	return &Batch{ID: 1, Cursor: Cursor{Epoch: "e", Seq: 1, Phase: PhaseLive},
		Upserts: []DocMeta{{NHS: "9990000018", Version: 1, Relationship: RelCaseload, NotAfter: time.Now().Add(time.Hour)}}, Docs: [][]byte{doc}}
}

// TestCompress_Negotiated checks that peers that both offer the compressed
// subprotocol use it, that a batch arrives intact, and that it travels in
// fewer bytes than its frame.
func TestCompress_Negotiated(t *testing.T) {
	if ids := DictionaryIDs(); len(ids) == 0 || ids[0] != 1 {
		t.Fatalf("embedded dictionaries %v, want d1 first", ids)
	}
	doc := summaryLike(200 << 10)
	got := make(chan ConnStats, 1)
	c := pairProtos(t, Subprotocols(), Subprotocols(), MaxServerMessage, func(ws *websocket.Conn) {
		sc := NewConn(ws, fastTimeouts, MaxClientMessage)
		if sc.Compression() != "zstd.d1" {
			t.Errorf("server side compression %q", sc.Compression())
		}
		_ = sc.Send(context.Background(), docBatch(doc))
		if _, err := sc.Receive(); err != nil {
			t.Error(err)
		}
		got <- sc.Stats()
	})
	if c.Compression() != "zstd.d1" {
		t.Fatalf("client side compression %q, subprotocol %q", c.Compression(), c.ws.Subprotocol())
	}
	m, err := c.Receive()
	if err != nil {
		t.Fatal(err)
	}
	b := m.(*Batch)
	if !bytes.Equal(b.Docs[0], doc) {
		t.Fatal("document changed in transit")
	}
	if err := c.Send(context.Background(), &Ack{ID: 1}); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.RawIn < int64(len(doc)) || st.WireIn*4 > st.RawIn {
		t.Fatalf("received %d wire bytes for %d frame bytes; want at least 4x smaller", st.WireIn, st.RawIn)
	}
	sst := <-got
	if sst.WireOut != st.WireIn || sst.RawOut != st.RawIn || sst.MsgsIn != 1 || st.MsgsOut != 1 {
		t.Fatalf("server counted %+v, client %+v", sst, st)
	}
}

// TestCompress_OlderPeer checks that a peer offering only the plain
// subprotocol (a client built before compression) still talks to one that
// prefers compression, uncompressed.
func TestCompress_OlderPeer(t *testing.T) {
	for _, tc := range []struct {
		name           string
		server, client []string
	}{
		{"older client", Subprotocols(), []string{Subprotocol}},
		{"older server", []string{Subprotocol}, Subprotocols()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := summaryLike(20 << 10)
			c := pairProtos(t, tc.server, tc.client, MaxServerMessage, func(ws *websocket.Conn) {
				sc := NewConn(ws, fastTimeouts, MaxClientMessage)
				_ = sc.Send(context.Background(), docBatch(doc))
				_, _ = sc.Receive()
			})
			if c.Compression() != "" || c.ws.Subprotocol() != Subprotocol {
				t.Fatalf("negotiated %q (compression %q), want plain %s", c.ws.Subprotocol(), c.Compression(), Subprotocol)
			}
			m, err := c.Receive()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.(*Batch).Docs[0], doc) {
				t.Fatal("document changed in transit")
			}
			if st := c.Stats(); st.WireIn != st.RawIn {
				t.Fatalf("plain connection counted %d wire bytes for %d frame bytes", st.WireIn, st.RawIn)
			}
		})
	}
}

// TestCompress_Bomb checks that a compressed message expanding past the
// receiver's read limit is refused before it has expanded and closes the
// connection with CloseTooLarge, whether or not the zstd frame declares its
// size, and on both sides' limits; a corrupt frame closes with
// CloseProtocolError.
func TestCompress_Bomb(t *testing.T) {
	frame, err := Encode(docBatch(make([]byte, 5<<20)))
	if err != nil {
		t.Fatal(err)
	}
	big := append(frame, make([]byte, 60<<20)...) // 65 MiB of mostly zeros
	declared, _ := zstd.NewWriter(nil)
	withSize := declared.EncodeAll(big, nil)
	var streamed bytes.Buffer
	w, _ := zstd.NewWriter(&streamed) // a streamed frame carries no content size
	_, _ = w.Write(big)
	_ = w.Close()
	for _, tc := range []struct {
		name  string
		wire  []byte
		limit int64
		code  int
		err   error
	}{
		{"declared size, client limit", withSize, MaxServerMessage, CloseTooLarge, ErrTooLarge},
		{"streamed, client limit", streamed.Bytes(), MaxServerMessage, CloseTooLarge, ErrTooLarge},
		{"just over the server limit", declared.EncodeAll(make([]byte, MaxClientMessage+1), nil), MaxClientMessage, CloseTooLarge, ErrTooLarge},
		{"corrupt", append([]byte{0x28, 0xb5, 0x2f, 0xfd}, bytes.Repeat([]byte{0xff}, 64)...), MaxServerMessage, CloseProtocolError, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.wire) > 1<<20 {
				t.Fatalf("bomb of %d bytes is not small on the wire", len(tc.wire))
			}
			closed := make(chan int, 1)
			c := pairProtos(t, Subprotocols(), Subprotocols(), tc.limit, func(ws *websocket.Conn) {
				_ = ws.WriteMessage(websocket.BinaryMessage, tc.wire)
				_, _, err := ws.ReadMessage()
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					closed <- ce.Code
				} else {
					closed <- -1
				}
			})
			_, err := c.Receive()
			if !errors.Is(err, tc.err) {
				t.Fatalf("Receive: %v, want %v", err, tc.err)
			}
			select {
			case code := <-closed:
				if code != tc.code {
					t.Fatalf("closed with %d, want %d", code, tc.code)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no close frame")
			}
		})
	}
}

// TestDelta_RoundTripAndChecks checks a one-observation change costs a few
// hundred bytes as a delta, rebuilds exactly, and that a wrong base, a
// corrupted delta or a wrong hash are refused.
func TestDelta_RoundTripAndChecks(t *testing.T) {
	base := summaryLike(12 << 10)
	i := bytes.LastIndex(base, []byte(`]}`))
	obs := []byte(`,{"fullUrl":"urn:uuid:0badf00d-0000-4000-8000-000000000001","resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"effectiveDateTime":"2026-12-02T18:00:00Z","valueQuantity":{"value":88,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}}`)
	doc := append(append(append([]byte{}, base[:i]...), obs...), base[i:]...)
	delta, err := EncodeDelta(base, doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(delta) > len(obs) {
		t.Fatalf("delta of %d bytes for a %d-byte observation in a %d-byte document", len(delta), len(obs), len(doc))
	}
	ref := DeltaRef{Format: DeltaZstd, BaseHash: DocHash(base)}
	got, err := ApplyDelta(base, ref, delta, DocHash(doc))
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("ApplyDelta: %v (equal %v)", err, bytes.Equal(got, doc))
	}
	corrupt := bytes.Clone(delta)
	corrupt[len(corrupt)/2] ^= 0x40
	other := bytes.Clone(base)
	other[100] ^= 1
	for name, f := range map[string]func() ([]byte, error){
		"other base":      func() ([]byte, error) { return ApplyDelta(other, ref, delta, DocHash(doc)) },
		"corrupted delta": func() ([]byte, error) { return ApplyDelta(base, ref, corrupt, DocHash(doc)) },
		"wrong hash":      func() ([]byte, error) { return ApplyDelta(base, ref, delta, DocHash(base)) },
		"unknown format": func() ([]byte, error) {
			return ApplyDelta(base, DeltaRef{Format: "x", BaseHash: ref.BaseHash}, delta, DocHash(doc))
		},
	} {
		if _, err := f(); !errors.Is(err, ErrDeltaMismatch) {
			t.Errorf("%s: %v, want ErrDeltaMismatch", name, err)
		}
	}
}

// TestConn_LinkMeasured checks a connection measures the heartbeat's round
// trip, the last contact, and the rate of a stream of messages.
func TestConn_LinkMeasured(t *testing.T) {
	c := pairProtos(t, Subprotocols(), Subprotocols(), MaxServerMessage, func(ws *websocket.Conn) {
		sc := NewConn(ws, fastTimeouts, MaxClientMessage)
		go func() { // the reader answers the client's pings meanwhile
			for {
				if _, err := sc.Receive(); err != nil {
					return
				}
			}
		}()
		for i := range 20 {
			b := docBatch(summaryLike(30 << 10))
			b.ID = uint64(i + 1)
			if sc.Send(context.Background(), b) != nil {
				return
			}
			time.Sleep(40 * time.Millisecond) // a transfer of about 0.8 s
		}
		<-sc.Done()
	})
	for range 20 {
		if _, err := c.Receive(); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _, _ = c.Receive() }() // pongs are read by the reader, as in a session
	time.Sleep(4 * fastTimeouts.Ping)
	l := c.Link()
	if l.RTT <= 0 || l.RTT > time.Second {
		t.Fatalf("round trip %v", l.RTT)
	}
	if time.Since(l.LastContact) > 2*fastTimeouts.Ping+100*time.Millisecond {
		t.Fatalf("last contact %v ago", time.Since(l.LastContact))
	}
	// About 30 KiB of summary every 40 ms, compressed: far above 0 and
	// below what loopback could carry unpaced.
	if l.RateIn <= 0 || l.RateIn > 50e6 || l.Compression != "zstd.d1" {
		t.Fatalf("link %+v", l)
	}
}
