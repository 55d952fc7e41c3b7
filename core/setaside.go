package core

import (
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"kmcr/cache"
	"kmcr/record"
)

// A record the server sent but this device could not store is set aside:
// the rest of its batch lands, any older copy of the patient is deleted
// (the server has moved on from it), and a note says why, so "kmcr status"
// lists it and opening the patient says "set aside" rather than "not on
// this device". The note holds the NHS number and a reason made by this
// program, never the record's content. A later version that stores, or a
// revocation, clears it.

// metaSetAside is the sealed note of set-aside records.
const metaSetAside = "set-aside"

// maxReason bounds a set-aside reason.
const maxReason = 200

// SetAside is one record this device could not store.
type SetAside struct {
	NHS     string    `json:"nhs"`
	Version uint64    `json:"version"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// setAsideNotes is the note as kept, by NHS number, changed in place
// during one transaction and written back once if changed.
type setAsideNotes struct {
	m       map[string]SetAside
	changed bool
}

func readSetAside(tx *cache.Tx) (*setAsideNotes, error) {
	n := &setAsideNotes{m: map[string]SetAside{}}
	_, err := getJSON(tx, metaSetAside, &n.m)
	return n, err
}

func (n *setAsideNotes) add(s SetAside) {
	s.Reason = cleanReason(s.Reason)
	n.m[s.NHS] = s
	n.changed = true
}

func (n *setAsideNotes) clear(nhs record.NHSNumber) {
	if _, ok := n.m[nhs.Digits()]; ok {
		delete(n.m, nhs.Digits())
		n.changed = true
	}
}

func (n *setAsideNotes) write(tx *cache.Tx) error {
	if !n.changed {
		return nil
	}
	return putJSON(tx, metaSetAside, n.m)
}

// list returns the notes in NHS-number order.
func (n *setAsideNotes) list() []SetAside {
	out := make([]SetAside, 0, len(n.m))
	for _, s := range n.m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NHS < out[j].NHS })
	return out
}

// cleanReason keeps a reason printable on one line and bounded.
func cleanReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, s)
	return truncateUTF8(s, maxReason)
}

// truncateUTF8 cuts s to at most n bytes at a character boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// setAsideNote returns the set-aside note of a patient, if there is one.
func (c *Core) setAsideNote(nhs record.NHSNumber) (SetAside, bool) {
	cc, _, err := c.open()
	if err != nil {
		return SetAside{}, false
	}
	var a SetAside
	ok := false
	_ = cc.View(func(tx *cache.Tx) error {
		notes, err := readSetAside(tx)
		a, ok = notes.m[nhs.Digits()]
		return err
	})
	return a, ok
}
