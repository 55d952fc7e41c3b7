package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// frameHeaderLen is the type byte plus the 4-byte header length.
const frameHeaderLen = 5

// Decode errors. Each maps to the close code the receiver sends.
var (
	// ErrMalformed is returned when a frame or its header cannot be parsed
	// or a field is out of range (close code CloseProtocolError).
	ErrMalformed = errors.New("malformed message")
	// ErrTooLarge is returned when a header, document, event or item count
	// exceeds its limit (close code CloseTooLarge).
	ErrTooLarge = errors.New("message too large")
	// ErrUnknownType is returned for a type byte this version does not
	// know (close code CloseUnknownType).
	ErrUnknownType = errors.New("unknown message type")
)

// CloseCodeFor maps a decode error to the close code to send.
func CloseCodeFor(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge):
		return CloseTooLarge
	case errors.Is(err, ErrUnknownType):
		return CloseUnknownType
	default:
		return CloseProtocolError
	}
}

// Encode returns the frame for m.
func Encode(m Message) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write encodes m to w without building the whole frame in memory first:
// payload items are written as they are.
func Write(w io.Writer, m Message) error {
	items, err := payloadOf(m)
	if err != nil {
		return err
	}
	hdr, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", m.Type(), err)
	}
	if len(hdr) > MaxHeader {
		return fmt.Errorf("encoding %s: header of %d bytes: %w", m.Type(), len(hdr), ErrTooLarge)
	}
	var fh [frameHeaderLen]byte
	fh[0] = byte(m.Type())
	binary.BigEndian.PutUint32(fh[1:], uint32(len(hdr)))
	if _, err := w.Write(fh[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, it := range items {
		if _, err := w.Write(it); err != nil {
			return err
		}
	}
	return nil
}

// payloadOf checks that a message's payload matches its declared sizes and
// returns the items to write after the header.
func payloadOf(m Message) ([][]byte, error) {
	switch v := m.(type) {
	case *Batch:
		if len(v.Docs) != len(v.Upserts) {
			return nil, fmt.Errorf("encoding batch: %d documents for %d upserts", len(v.Docs), len(v.Upserts))
		}
		for i := range v.Docs {
			v.Upserts[i].Size = len(v.Docs[i])
		}
		return v.Docs, nil
	case *AuditUpload:
		if len(v.Events) != len(v.Seqs) {
			return nil, fmt.Errorf("encoding audit upload: %d events for %d sequence numbers", len(v.Events), len(v.Seqs))
		}
		v.Sizes = v.Sizes[:0]
		for _, e := range v.Events {
			v.Sizes = append(v.Sizes, len(e))
		}
		return v.Events, nil
	}
	return nil, nil
}

// newMessage returns an empty message of type t.
func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeWelcome:
		return &Welcome{}
	case TypeBatch:
		return &Batch{}
	case TypeAck:
		return &Ack{}
	case TypeUpToDate:
		return &UpToDate{}
	case TypeWipe:
		return &Wipe{}
	case TypeAuditUpload:
		return &AuditUpload{}
	case TypeAuditAck:
		return &AuditAck{}
	case TypeBreakGlass:
		return &BreakGlass{}
	case TypeBreakGlassResult:
		return &BreakGlassResult{}
	case TypeError:
		return &ErrorMsg{}
	case TypeIncidents:
		return &Incidents{}
	case TypeTrace:
		return &Trace{}
	case TypeTraceResult:
		return &TraceResult{}
	}
	return nil
}

// Decode parses one frame. Payload items alias frame, which the caller
// must not reuse. Every error wraps ErrMalformed, ErrTooLarge or
// ErrUnknownType; nothing in a message that fails is usable.
func Decode(frame []byte) (Message, error) {
	if len(frame) < frameHeaderLen {
		return nil, fmt.Errorf("%w: frame of %d bytes is shorter than its header", ErrMalformed, len(frame))
	}
	t := Type(frame[0])
	m := newMessage(t)
	if m == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, frame[0])
	}
	hl := binary.BigEndian.Uint32(frame[1:frameHeaderLen])
	if hl > MaxHeader {
		return nil, fmt.Errorf("%s header of %d bytes: %w", t, hl, ErrTooLarge)
	}
	if uint64(hl) > uint64(len(frame)-frameHeaderLen) {
		return nil, fmt.Errorf("%w: %s header length %d exceeds the frame", ErrMalformed, t, hl)
	}
	hdr := frame[frameHeaderLen : frameHeaderLen+int(hl)]
	payload := frame[frameHeaderLen+int(hl):]
	if err := json.Unmarshal(hdr, m); err != nil {
		return nil, fmt.Errorf("%w: %s header: %v", ErrMalformed, t, err)
	}
	if err := splitPayload(m, payload); err != nil {
		return nil, err
	}
	if err := validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

// splitPayload slices payload into the message's items by declared size.
func splitPayload(m Message, payload []byte) error {
	var sizes []int
	var limit int
	switch v := m.(type) {
	case *Batch:
		sizes = make([]int, len(v.Upserts))
		for i, u := range v.Upserts {
			sizes[i] = u.Size
		}
		limit = MaxDocument
	case *AuditUpload:
		if len(v.Sizes) != len(v.Seqs) {
			return fmt.Errorf("%w: audit upload lists %d sizes for %d events", ErrMalformed, len(v.Sizes), len(v.Seqs))
		}
		sizes = v.Sizes
		limit = MaxAuditEvent
	default:
		if len(payload) != 0 {
			return fmt.Errorf("%w: %s carries %d unexpected payload bytes", ErrMalformed, m.Type(), len(payload))
		}
		return nil
	}
	items := make([][]byte, len(sizes))
	off := 0
	for i, n := range sizes {
		if n < 0 {
			return fmt.Errorf("%w: %s item %d has negative size", ErrMalformed, m.Type(), i)
		}
		if n > limit {
			return fmt.Errorf("%s item %d of %d bytes: %w", m.Type(), i, n, ErrTooLarge)
		}
		if n > len(payload)-off {
			return fmt.Errorf("%w: %s item %d runs past the payload", ErrMalformed, m.Type(), i)
		}
		items[i] = payload[off : off+n : off+n]
		off += n
	}
	if off != len(payload) {
		return fmt.Errorf("%w: %s has %d payload bytes not claimed by any item", ErrMalformed, m.Type(), len(payload)-off)
	}
	switch v := m.(type) {
	case *Batch:
		v.Docs = items
	case *AuditUpload:
		v.Events = items
	}
	return nil
}
