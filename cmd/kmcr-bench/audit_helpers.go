package main

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	bolt "go.etcd.io/bbolt"

	"kmcr/internal/storeddoc"
	"kmcr/record"
	"kmcr/server/pki"
	"kmcr/sync/protocol"
)

// decodeStored decodes a document as the client core stores it, with the
// core's own decoder, so the unaudited baseline pays the same decode the
// core does.
func decodeStored(data []byte, asOf time.Time) (*record.Summary, error) {
	h, bundle, err := storeddoc.Decode(data)
	if err != nil {
		return nil, err
	}
	if h.AsOf.After(asOf) {
		asOf = h.AsOf
	}
	return decodeSummary(bundle, asOf)
}

// storedEvent is one delivered audit event as the server holds it.
type storedEvent struct {
	seq       uint64
	canonical []byte
}

// rawEventBatch is how many events the raw baseline sends per message:
// the protocol's upload limit.
const rawEventBatch = protocol.MaxAuditBatch

// rawDelivery sends events over a TLS websocket on loopback to a handler
// that writes each message to a plain bbolt file in one transaction, and
// answers once the last is committed. It returns the time from dial to
// that answer.
func rawDelivery(s *benchServer, dbFile string, events []storedEvent) (time.Duration, error) {
	db, err := bolt.Open(dbFile, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	stored := 0
	handlerErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /raw-audit", func(w http.ResponseWriter, r *http.Request) {
		ws, err := baselineUpgrader.Upgrade(w, r, nil)
		if err != nil {
			handlerErr <- err
			return
		}
		defer ws.Close()
		ws.SetReadLimit(protocol.MaxClientMessage)
		handlerErr <- func() error {
			for {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					return err
				}
				if len(msg) == 0 {
					return ws.WriteMessage(websocket.BinaryMessage, []byte("stored"))
				}
				err = db.Update(func(tx *bolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists([]byte("events"))
					if err != nil {
						return err
					}
					for len(msg) > 0 {
						if len(msg) < 12 {
							return errors.New("raw events: short record")
						}
						n := binary.BigEndian.Uint32(msg[8:12])
						if uint64(len(msg)-12) < uint64(n) {
							return errors.New("raw events: short event")
						}
						if err := bk.Put(msg[:8], msg[12:12+n]); err != nil {
							return err
						}
						stored++
						msg = msg[12+n:]
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}()
	})
	hs := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
	go hs.Serve(tls.NewListener(ln, pki.ServerTLS(s.cert)))
	defer hs.Close()

	pool, err := pki.LoadCAPool(s.caFile)
	if err != nil {
		return 0, err
	}
	// The messages are laid out before the clock starts: the real client
	// reads its queue from the cache inside the timed interval, so this
	// favours the baseline.
	var msgs [][]byte
	for i := 0; i < len(events); i += rawEventBatch {
		var b bytes.Buffer
		for _, e := range events[i:min(i+rawEventBatch, len(events))] {
			var h [12]byte
			binary.BigEndian.PutUint64(h[:8], e.seq)
			binary.BigEndian.PutUint32(h[8:], uint32(len(e.canonical)))
			b.Write(h[:])
			b.Write(e.canonical)
		}
		msgs = append(msgs, b.Bytes())
	}
	start := time.Now()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("wss://"+ln.Addr().String()+"/raw-audit", nil)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	for _, m := range msgs {
		if err := ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
			return 0, err
		}
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, nil); err != nil {
		return 0, err
	}
	if _, _, err := ws.ReadMessage(); err != nil {
		return 0, fmt.Errorf("raw delivery: %w (handler: %v)", err, <-handlerErr)
	}
	elapsed := time.Since(start)
	if stored != len(events) {
		return 0, fmt.Errorf("raw delivery stored %d events, want %d", stored, len(events))
	}
	return elapsed, nil
}
