package cli

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestTermSafe_EscapesControlsKeepsText checks that escapes, carriage
// returns, bidirectional overrides and zero-width characters are written
// as escapes, that ordinary text (right-to-left letters included) and
// newlines pass, that a character split across writes survives, and that
// JSON stays valid and means the same.
func TestTermSafe_EscapesControlsKeepsText(t *testing.T) {
	var b bytes.Buffer
	w := TermSafe(&b)
	in := "SMITH\x1b[2J\r, Ann\u202e\u200bعبدالله\tok\n"
	for i := 0; i < len(in); i++ { // one byte at a time: runes split across writes
		if _, err := w.Write([]byte{in[i]}); err != nil {
			t.Fatal(err)
		}
	}
	want := `SMITH\u001b[2J\u000d, Ann\u202e\u200bعبدالله` + "\tok\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	doc, _ := json.Marshal(map[string]string{"name": "Ann\u202eX"})
	if _, err := w.Write(doc); err != nil {
		t.Fatal(err)
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["name"] != "Ann\u202eX" {
		t.Fatalf("JSON through TermSafe: %s, %v, %q", b.Bytes(), err, back["name"])
	}
}
