package audit

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// knownEvent is the fixed event pinned by the known-answer test: seq 2 of a
// chain, with text that exercises escaping and non-ASCII.
func knownEvent() Event {
	e := validEvent(ActionBreakGlass)
	e.Seq = 2
	e.Prev = HashCanonical([]byte("seq 1"))
	e.User.Name = "Zoë \"Sam\" O'Brien"
	e.BreakGlass.ReasonText = "Unresponsive at roadside.\nNo relationship\ton record <GP closed> & no family\\carer"
	e.Sections = []string{"allergies", "alerts"}
	return e
}

// TestEvent_Canonical_KnownAnswer pins the canonical bytes and the chain hash
// of a fixed event. If this fails, stored chains would no longer verify:
// change the encoding only with a new version label.
func TestEvent_Canonical_KnownAnswer(t *testing.T) {
	e := knownEvent()
	c := e.Canonical()
	golden(t, "event-v1.json", c)
	golden(t, "event-v1.sha256", []byte(HashCanonical(c).String()+"\n"))
	d, err := Decode(c)
	if err != nil {
		t.Fatalf("Decode(golden) = %v", err)
	}
	if !reflect.DeepEqual(d, e.normalized()) {
		t.Errorf("Decode(golden) = %+v, want %+v", d, e)
	}
}

// TestEvent_Canonical_RoundTrip checks Decode(Canonical(e)) gives back e and
// the same bytes, for every action, at several times and text sizes.
func TestEvent_Canonical_RoundTrip(t *testing.T) {
	times := []time.Time{t0, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), t0.In(time.FixedZone("X", -5*3600))}
	texts := []string{"x", "multi\nline\ttext \"quoted\" \\ back", "ünïcödé ✓ 日本", strings.Repeat("long ", 800)}
	for _, a := range Actions() {
		for i, tm := range times {
			text := texts[i%len(texts)]
			t.Run(string(a), func(t *testing.T) {
				e := validEvent(a)
				e.Occurred = tm
				e.Outcome.Detail = text
				e, _ = Next(Head{Seq: 41, Hash: HashCanonical([]byte("x"))}, e)
				c := e.Canonical()
				d, err := Decode(c)
				if err != nil {
					t.Fatalf("Decode(Canonical) = %v\n%s", err, c)
				}
				if !reflect.DeepEqual(d, e) {
					t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", d, e)
				}
				if c2 := d.Canonical(); !bytes.Equal(c, c2) {
					t.Fatalf("re-encoding changed the bytes:\n%s\n%s", c, c2)
				}
			})
		}
	}
}

// TestDecode_Rejects checks each way input can fail to be a canonical event,
// and the error it gives.
func TestDecode_Rejects(t *testing.T) {
	good := string(knownEvent().Canonical())
	swap := func(old, new string) []byte {
		if !strings.Contains(good, old) {
			t.Fatalf("golden event lacks %q", old)
		}
		return []byte(strings.Replace(good, old, new, 1))
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"not JSON", []byte("hello"), ErrMalformed},
		{"array", []byte("[]"), ErrMalformed},
		{"unknown top-level field", swap(`{"v":1,`, `{"v":1,"extra":true,`), ErrMalformed},
		{"unknown nested field", swap(`"role":"paramedic"`, `"role":"paramedic","grade":"B"`), ErrMalformed},
		{"wrong type", swap(`"results":0`, `"results":"0"`), ErrMalformed},
		{"version 2", swap(`{"v":1,`, `{"v":2,`), ErrMalformed},
		{"seq 0", swap(`"seq":2,`, `"seq":0,`), ErrMalformed},
		{"seq 1 with prev", swap(`"seq":2,`, `"seq":1,`), ErrMalformed},
		{"uppercase prev", []byte(strings.Replace(good, knownEvent().Prev.String(), strings.ToUpper(knownEvent().Prev.String()), 1)), ErrMalformed},
		{"invalid event", swap(`"reasonCode":"unconscious"`, `"reasonCode":""`), ErrMalformed},
		{"trailing data", []byte(good + `{}`), ErrMalformed},
		{"space after colon", swap(`"v":1`, `"v": 1`), ErrNonCanonical},
		{"trailing newline", []byte(good + "\n"), ErrNonCanonical},
		{"leading space", []byte(" " + good), ErrNonCanonical},
		{"keys reordered", swap(`"query":"","results":0`, `"results":0,"query":""`), ErrNonCanonical},
		{"key case changed", swap(`"query":`, `"Query":`), ErrNonCanonical},
		{"field omitted", swap(`"query":"",`, ``), ErrNonCanonical},
		{"duplicate key", swap(`"query":"",`, `"query":"a","query":"",`), ErrNonCanonical},
		{"escaped letter", swap(`"action":"break-glass"`, `"action":"\u0062reak-glass"`), ErrNonCanonical},
		{"offset time zone", swap(`.123456789Z"`, `.123456789+00:00"`), ErrNonCanonical},
		{"fraction trimmed", swap(`.123456789Z"`, `.12345678900Z"`), ErrNonCanonical},
		{"sections null", swap(`"sections":["allergies","alerts"]`, `"sections":null`), ErrNonCanonical},
		{"results leading zero", swap(`"results":0`, `"results":00`), ErrMalformed},
		{"oversized", bytes.Repeat([]byte(" "), MaxEventSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDecode_Truncated checks that every proper prefix of a canonical event
// is rejected: a half-written outbox value must never decode.
func TestDecode_Truncated(t *testing.T) {
	c := knownEvent().Canonical()
	for n := range len(c) {
		if _, err := Decode(c[:n]); err == nil {
			t.Fatalf("Decode(first %d of %d bytes) succeeded", n, len(c))
		}
	}
}

// TestAppendString_Escapes checks the canonical string escaping rules.
func TestAppendString_Escapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"<&>\u2028\x7f", "\"<&>\u2028\x7f\""},
		{"bad \xff byte", "\"bad \ufffd byte\""},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := string(appendString(nil, tt.in)); got != tt.want {
				t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestAppendTime_MatchesLayout checks the hand-written time formatting
// against time.AppendFormat across the range of valid years.
func TestAppendTime_MatchesLayout(t *testing.T) {
	times := []time.Time{
		time.Unix(0, 0).UTC(),
		t0,
		time.Date(2000, 2, 29, 23, 59, 59, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, tm := range times {
		if got, want := string(appendTime(nil, tm)), tm.Format(timeLayout); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
