// Package storeddoc is the layout of a patient document as the client
// keeps it in its cache: a header of what the server said about it, then
// the FHIR Bundle; and the search keys the cache indexes it by. The client
// core writes and reads it; tools that read a cache directly (the
// benchmark's unaudited baseline) use it too.
package storeddoc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"kmcr/cache"
	"kmcr/record"
	"kmcr/sync/protocol"
)

// docMagic starts every stored document, so a value written by another
// format version is recognised rather than misread.
var docMagic = [4]byte{'K', 'D', 'O', '1'}

// Header is what the client keeps beside each FHIR document: what
// the server said about it when it was sent.
type Header struct {
	NHS          string              `json:"nhs"`
	Version      uint64              `json:"version"`
	AsOf         time.Time           `json:"as_of"`
	NotAfter     time.Time           `json:"not_after"`
	Relationship string              `json:"relationship"`
	Sections     []string            `json:"sections"`
	Withheld     []protocol.Withheld `json:"withheld,omitempty"`
	Received     time.Time           `json:"received"`
}

// ErrBad is returned when a stored document cannot be read.
var ErrBad = errors.New("stored document is unreadable")

// Encode lays out magic, header length, header JSON, then the bundle.
func Encode(h Header, bundle []byte) ([]byte, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 8+len(hb)+len(bundle))
	out = append(out, docMagic[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(hb)))
	out = append(out, hb...)
	return append(out, bundle...), nil
}

// Decode splits a stored document into its header and its FHIR Bundle.
func Decode(data []byte) (Header, []byte, error) {
	var h Header
	if len(data) < 8 || [4]byte(data[:4]) != docMagic {
		return h, nil, fmt.Errorf("%w: unknown format", ErrBad)
	}
	n := binary.BigEndian.Uint32(data[4:8])
	if uint64(n) > uint64(len(data)-8) {
		return h, nil, fmt.Errorf("%w: header runs past the end", ErrBad)
	}
	if err := json.Unmarshal(data[8:8+n], &h); err != nil {
		return h, nil, fmt.Errorf("%w: %v", ErrBad, err)
	}
	return h, data[8+n:], nil
}

// DiedDateUnknown is the index entry's Died for a patient known to have
// died on a date the record does not give; otherwise Died is the date of
// death as the record gives it (YYYY, YYYY-MM or YYYY-MM-DD).
const DiedDateUnknown = "deceased"

// SearchKeys reads the search keys of a document's patient, as the cache
// indexes them (Held, the relationship, is in the header, not the
// document: IndexEntry sets it): the Patients (every source's, merged by the demographics
// rule, as the banner shows them) are summarised alone, which is cheap,
// because only their demographics are needed. A birth date known only to
// the year or month is left out (the index matches whole dates).
func SearchKeys(bundle []byte) (cache.IndexEntry, error) {
	rec, err := record.ParseBundle(bundle)
	if err != nil {
		return cache.IndexEntry{}, err
	}
	var patientOnly []record.Resource
	for _, r := range rec.Resources {
		if r.Type == "Patient" {
			patientOnly = append(patientOnly, r)
		}
	}
	s := record.Summarise(&record.PatientRecord{Key: rec.Key, NHS: rec.NHS, NHSAssigned: rec.NHSAssigned, Resources: patientOnly}, time.Time{})
	d := &s.Demographics
	e := cache.IndexEntry{
		NHS:       rec.NHS,
		Family:    d.Name.Family,
		Given:     strings.Join(d.Name.Given, " "),
		BirthDate: d.BirthDate.DateOnly(),
		Postcode:  d.Address.Postcode,
		Display:   record.FormatName(d.Name.Family, d.Name.Given, d.Name.Prefix),
		Gender:    d.Gender,
	}
	if d.Deceased {
		e.Died = d.DeceasedOn.DateOnly()
		if e.Died == "" {
			e.Died = DiedDateUnknown
		}
	}
	if _, err := time.Parse(time.DateOnly, e.BirthDate); err != nil {
		e.BirthDate = "" // partial, or not a date at all: the index matches whole dates
	}
	// A field longer than the index holds is cut at a character boundary:
	// search matches its start, and the document keeps it whole.
	for _, f := range []*string{&e.Family, &e.Given, &e.Postcode, &e.Display, &e.Died, &e.Gender} {
		*f = truncateUTF8(*f, cache.MaxIndexField)
	}
	return e, nil
}

// IndexEntry is the index entry of a stored document: its patient's search
// keys, and why the device holds them (the header's relationship).
func IndexEntry(h Header, bundle []byte) (cache.IndexEntry, error) {
	e, err := SearchKeys(bundle)
	if err != nil {
		return e, err
	}
	e.Held = truncateUTF8(h.Relationship, cache.MaxIndexField)
	return e, nil
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
