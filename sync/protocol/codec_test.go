package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleMessages() []Message {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return []Message{
		&Hello{Protocol: Version, Client: "kmcr/test", Cursor: Cursor{Epoch: "e1", Seq: 7, Phase: PhaseFull, After: "9990000018"}, Window: 4,
			AuditHead: &SignedHead{Seq: 3, Hash: bytes.Repeat([]byte{1}, 32), Sig: bytes.Repeat([]byte{2}, 64)}},
		&Welcome{Protocol: Version, Server: "kmcr-server/test", Epoch: "e1", ServerTime: now, User: UserInfo{ID: "u1", Name: "amy", Role: "paramedic"},
			Policy: Policy{LeaseSeconds: 3600, Sections: []string{"demographics"}}, Mode: ModeFull, Total: 10},
		&Batch{ID: 1, Cursor: Cursor{Epoch: "e1", Seq: 9, Phase: PhaseFull, After: "9990000026"}, Range: &NHSRange{Through: "9990000026"},
			Upserts: []DocMeta{{NHS: "9990000018", Version: 3, NotAfter: now, AsOf: now, Relationship: RelCaseload, Sections: []string{"allergies"}},
				{NHS: "9990000026", Version: 4, NotAfter: now, AsOf: now, Relationship: RelBreakGlass, Withheld: []Withheld{{Reason: WithheldSensitive, Count: 1}}}},
			Deletes: []Delete{{NHS: "9990000034", Reason: DelCaseloadRemoved}},
			Docs:    [][]byte{[]byte(`{"resourceType":"Bundle"}`), {}}, Done: 2, Total: 10},
		&Ack{ID: 1, Cursor: Cursor{Epoch: "e1", Seq: 9, Phase: PhaseLive}},
		&UpToDate{Cursor: Cursor{Epoch: "e1", Seq: 9, Phase: PhaseLive}, AsOf: now, LeaseUntil: now, Range: &NHSRange{After: "9990000026"}},
		&Wipe{Reason: "device revoked"},
		&AuditUpload{ID: 2, Seqs: []uint64{1, 2}, Head: SignedHead{Seq: 2, Hash: make([]byte, 32), Sig: make([]byte, 64)}, Events: [][]byte{[]byte("a"), []byte("bc")}},
		&AuditAck{ID: 2, Through: 2, Accepted: 2},
		&BreakGlass{RequestID: "r1", NHS: "9990000018", ReasonCode: "emergency-treatment", ReasonText: "unconscious at scene"},
		&BreakGlassResult{RequestID: "r1", Granted: true, ExpiresAt: now},
		&ErrorMsg{Code: CloseOutOfOrder, Message: "ack before hello"},
		&Trace{RequestID: "t1", Family: "Dąbrowski", BirthDate: "1948-03-12", Postcode: "ct1 1aa"},
		&TraceResult{RequestID: "t1", Candidates: []TraceCandidate{{NHS: "9990000018", Family: "DĄBROWSKI", Given: "Jan", BirthDate: "1948-03-12", Gender: "male", District: "CT1", Town: "Canterbury"}}},
		&TraceResult{RequestID: "t2", TooMany: true},
	}
}

// TestEncode_Decode_RoundTrip checks every message type survives the codec.
func TestEncode_Decode_RoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			frame, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(frame)
			if err != nil {
				t.Fatal(err)
			}
			if b, ok := got.(*Batch); ok {
				for i := range b.Docs { // empty documents decode as empty, non-nil slices
					if len(b.Docs[i]) == 0 {
						b.Docs[i] = []byte{}
					}
				}
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
			}
		})
	}
}

// TestDecode_Rejects checks each kind of bad frame gets its typed error.
func TestDecode_Rejects(t *testing.T) {
	frame := func(typ byte, hdr string, payload string) []byte {
		b := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], uint32(len(hdr)))
		return append(append(b, hdr...), payload...)
	}
	huge := make([]byte, 5)
	huge[0] = byte(TypeHello)
	binary.BigEndian.PutUint32(huge[1:], MaxHeader+1)
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrMalformed},
		{"short", []byte{1, 0}, ErrMalformed},
		{"unknown type", frame(99, `{}`, ""), ErrUnknownType},
		{"type zero", frame(0, `{}`, ""), ErrUnknownType},
		{"header past frame", []byte{1, 0, 0, 1, 0, '{'}, ErrMalformed},
		{"header over limit", huge, ErrTooLarge},
		{"bad json", frame(byte(TypeHello), `{"protocol":`, ""), ErrMalformed},
		{"wrong json type", frame(byte(TypeHello), `{"protocol":"one"}`, ""), ErrMalformed},
		{"hello without version", frame(byte(TypeHello), `{}`, ""), ErrMalformed},
		{"hello window too big", frame(byte(TypeHello), `{"protocol":1,"window":99}`, ""), ErrMalformed},
		{"bad cursor phase", frame(byte(TypeHello), `{"protocol":1,"cursor":{"phase":"x"}}`, ""), ErrMalformed},
		{"unexpected payload", frame(byte(TypeAck), `{"id":1}`, "x"), ErrMalformed},
		{"ack zero", frame(byte(TypeAck), `{"id":0}`, ""), ErrMalformed},
		{"doc past payload", frame(byte(TypeBatch), `{"id":1,"upserts":[{"nhs":"9990000018","relationship":"caseload","not_after":"2026-01-01T00:00:00Z","size":5}]}`, "abc"), ErrMalformed},
		{"unclaimed payload", frame(byte(TypeBatch), `{"id":1,"upserts":[{"nhs":"9990000018","relationship":"caseload","not_after":"2026-01-01T00:00:00Z","size":1}]}`, "abc"), ErrMalformed},
		{"negative size", frame(byte(TypeBatch), `{"id":1,"upserts":[{"nhs":"9990000018","relationship":"caseload","not_after":"2026-01-01T00:00:00Z","size":-1}]}`, ""), ErrMalformed},
		{"doc over limit", frame(byte(TypeBatch), `{"id":1,"upserts":[{"nhs":"9990000018","relationship":"caseload","not_after":"2026-01-01T00:00:00Z","size":99999999}]}`, ""), ErrTooLarge},
		{"bad nhs", frame(byte(TypeBatch), `{"id":1,"deletes":[{"nhs":"12345"}]}`, ""), ErrMalformed},
		{"no lease", frame(byte(TypeBatch), `{"id":1,"upserts":[{"nhs":"9990000018","relationship":"caseload","size":0}]}`, ""), ErrMalformed},
		{"unknown relationship", frame(byte(TypeBatch), `{"id":1,"upserts":[{"nhs":"9990000018","relationship":"friend","not_after":"2026-01-01T00:00:00Z","size":0}]}`, ""), ErrMalformed},
		{"audit sizes mismatch", frame(byte(TypeAuditUpload), `{"id":1,"seqs":[1],"sizes":[]}`, ""), ErrMalformed},
		{"audit seq zero", frame(byte(TypeAuditUpload), `{"id":1,"seqs":[0],"sizes":[0]}`, ""), ErrMalformed},
		{"break glass long text", frame(byte(TypeBreakGlass), `{"request_id":"r","nhs":"9990000018","reason_code":"x","reason_text":"`+strings.Repeat("a", MaxText+1)+`"}`, ""), ErrTooLarge},
		{"trace without family", frame(byte(TypeTrace), `{"request_id":"r","family":"  ","birth_date":"1948-03-12"}`, ""), ErrMalformed},
		{"trace bad birth date", frame(byte(TypeTrace), `{"request_id":"r","family":"smith","birth_date":"12/03/1948"}`, ""), ErrMalformed},
		{"trace without request id", frame(byte(TypeTrace), `{"family":"smith","birth_date":"1948-03-12"}`, ""), ErrMalformed},
		{"trace long family", frame(byte(TypeTrace), `{"request_id":"r","family":"`+strings.Repeat("a", MaxName+1)+`","birth_date":"1948-03-12"}`, ""), ErrMalformed},
		{"trace result too many candidates", frame(byte(TypeTraceResult), `{"request_id":"r","candidates":[`+strings.Repeat(`{"nhs":"9990000018"},`, MaxTraceCandidates)+`{"nhs":"9990000018"}]}`, ""), ErrTooLarge},
		{"trace result too many with candidates", frame(byte(TypeTraceResult), `{"request_id":"r","too_many":true,"candidates":[{"nhs":"9990000018"}]}`, ""), ErrMalformed},
		{"trace result bad nhs", frame(byte(TypeTraceResult), `{"request_id":"r","candidates":[{"nhs":"123"}]}`, ""), ErrMalformed},
		{"welcome bad mode", frame(byte(TypeWelcome), `{"epoch":"e","mode":"x"}`, ""), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.frame)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v; want %v", err, tt.want)
			}
		})
	}
}

// TestCloseCodeFor checks decode errors map to their documented codes.
func TestCloseCodeFor(t *testing.T) {
	if CloseCodeFor(ErrTooLarge) != CloseTooLarge || CloseCodeFor(ErrUnknownType) != CloseUnknownType || CloseCodeFor(ErrMalformed) != CloseProtocolError {
		t.Fatal("close codes do not match docs/protocol.md")
	}
}

// TestNHSRange_Contains checks the half-open range used by full syncs.
func TestNHSRange_Contains(t *testing.T) {
	r := NHSRange{After: "9990000018", Through: "9990000034"}
	for nhs, want := range map[string]bool{"9990000018": false, "9990000026": true, "9990000034": true, "9990000042": false} {
		if r.Contains(nhs) != want {
			t.Errorf("Contains(%s) = %v", nhs, !want)
		}
	}
	if !(NHSRange{}).Contains("0000000000") {
		t.Error("empty range should contain everything after the empty string")
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{3, 0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(frame)
		if err != nil {
			if m != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		// Whatever decodes must encode again and decode to the same thing.
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("re-encoding a decoded %s: %v", m.Type(), err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("re-decoding a %s: %v", m.Type(), err)
		}
	})
}

func BenchmarkEncodeDecode_Batch256x8KB(b *testing.B) {
	now := time.Now().UTC()
	batch := &Batch{ID: 1, Cursor: Cursor{Epoch: "e", Seq: 1, Phase: PhaseFull}}
	doc := bytes.Repeat([]byte("x"), 8<<10)
	for i := 0; i < 128; i++ {
		batch.Upserts = append(batch.Upserts, DocMeta{NHS: "9990000018", Version: 1, NotAfter: now, AsOf: now, Relationship: RelCaseload, Sections: []string{"demographics", "allergies"}})
		batch.Docs = append(batch.Docs, doc)
	}
	b.SetBytes(int64(128 * len(doc)))
	for i := 0; i < b.N; i++ {
		f, err := Encode(batch)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(f); err != nil {
			b.Fatal(err)
		}
	}
}
