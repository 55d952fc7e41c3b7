package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrBadBundle is returned, wrapped with the reason, by ParseBundle when
// data is not a patient Bundle: malformed or too deeply nested JSON, not a
// Bundle, no Patient in it, or a Patient with an invalid NHS number.
var ErrBadBundle = errors.New("not a valid patient bundle")

// BundleMeta is what BuildBundle puts around a record's resources.
type BundleMeta struct {
	ID          string    // Bundle.id; omitted when empty
	LastUpdated time.Time // Bundle.meta.lastUpdated; omitted when zero
}

// OmittedExtensionURL names the Bundle.meta extension that counts the
// patient's resources left out of the Bundle, one per resource type, with
// sub-extensions "type" (valueCode) and "count" (valueUnsignedInt). The
// server's documents carry the summary types only; this is how a screen
// still says "Also in the record: 16 claims".
const OmittedExtensionURL = "https://kmcr.example/fhir/StructureDefinition/omitted-resources"

// BuildBundle returns a FHIR Bundle of type collection holding the record's
// resources in order. Each entry's resource is the original Raw bytes,
// unchanged; each fullUrl is the one read, or "Type/id", or when there is
// no id a urn:uuid: derived from the resource's bytes (the same uuid the
// reader keys such a resource by, so ParseBundle gives the same keys back). This is the
// document the server sends and the client caches.
func BuildBundle(rec *PatientRecord, meta BundleMeta) ([]byte, error) {
	if rec == nil {
		return nil, errors.New("building bundle: nil record")
	}
	size := 128
	for _, r := range rec.Resources {
		size += len(r.Raw) + len(r.FullURL) + 64
	}
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(`{"resourceType":"Bundle"`)
	if meta.ID != "" {
		b.WriteString(`,"id":`)
		writeJSONString(&b, meta.ID)
	}
	omitted := make([]TypeCount, 0, len(rec.Omitted))
	for _, o := range rec.Omitted {
		if o.Count > 0 && o.Type != "" {
			omitted = append(omitted, o)
		}
	}
	if !meta.LastUpdated.IsZero() || len(omitted) > 0 {
		b.WriteString(`,"meta":{`)
		if !meta.LastUpdated.IsZero() {
			b.WriteString(`"lastUpdated":`)
			writeJSONString(&b, meta.LastUpdated.UTC().Format(time.RFC3339Nano))
		}
		if len(omitted) > 0 {
			if !meta.LastUpdated.IsZero() {
				b.WriteByte(',')
			}
			b.WriteString(`"extension":[`)
			for i, o := range omitted {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"url":`)
				writeJSONString(&b, OmittedExtensionURL)
				b.WriteString(`,"extension":[{"url":"type","valueCode":`)
				writeJSONString(&b, o.Type)
				b.WriteString(`},{"url":"count","valueUnsignedInt":` + strconv.Itoa(o.Count) + `}]}`)
			}
			b.WriteByte(']')
		}
		b.WriteByte('}')
	}
	b.WriteString(`,"type":"collection","entry":[`)
	for i, r := range rec.Resources {
		start, end, _, err := checkDocument(r.Raw)
		if err != nil || r.Raw[start] != '{' {
			return nil, fmt.Errorf("building bundle for %s: resource %d (%s/%s) is not a JSON object", rec.Key, i, r.Type, r.ID)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"fullUrl":`)
		writeJSONString(&b, entryURL(r))
		b.WriteString(`,"resource":`)
		b.Write(r.Raw[start:end])
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// readOmitted reads the omitted-resources extensions of a Bundle.meta.
func readOmitted(meta []byte) []TypeCount {
	var out []TypeCount
	members(meta, func(k string, v []byte) {
		if k != "extension" {
			return
		}
		elements(v, func(e []byte) {
			var url string
			var tc TypeCount
			members(e, func(k string, v []byte) {
				switch k {
				case "url":
					url = jstr(v)
				case "extension":
					elements(v, func(sub []byte) {
						var name string
						var val []byte
						members(sub, func(k string, v []byte) {
							switch k {
							case "url":
								name = jstr(v)
							case "valueCode":
								val = v
							case "valueUnsignedInt":
								val = v
							}
						})
						switch name {
						case "type":
							tc.Type = jstr(val)
						case "count":
							if n := jint(val); n != nil && *n > 0 && *n < 1<<31 {
								tc.Count = int(*n)
							}
						}
					})
				}
			})
			if url == OmittedExtensionURL && tc.Type != "" && tc.Count > 0 {
				out = append(out, tc)
			}
		})
	})
	return out
}

func entryURL(r Resource) string {
	switch {
	case r.FullURL != "":
		return r.FullURL
	case r.ID != "":
		return r.Type + "/" + r.ID
	}
	return "urn:uuid:" + contentUUID(r.Raw)
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// CheckDocument reports whether a patient document is one the client can
// store: ParseBundle reads it, as the client does before caching it, and
// it is about the patient nhs. The server runs it before offering a
// document, so a record the client would refuse is refused at import.
func CheckDocument(data []byte, nhs NHSNumber) error {
	rec, err := ParseBundle(data)
	if err != nil {
		return err
	}
	if rec.NHS != nhs {
		return fmt.Errorf("%w: the document is about %s, not %s", ErrBadBundle, rec.NHS, nhs)
	}
	return nil
}

// ParseBundle reads a Bundle made by BuildBundle back into a record. It is
// on the path of opening a cached summary, so it decodes no resource: it
// finds each entry's bytes and reads only type, id and security labels
// (and the Patient's identifiers). The resources' Raw share one copy of
// data, made once, so data may be reused by the caller.
func ParseBundle(data []byte) (*PatientRecord, error) {
	data = bytes.Clone(data)
	start, end, depth, err := checkDocument(data)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %v", ErrBadBundle, err)
	}
	// Bundle, entry array, entry, resource: three levels above a resource.
	if depth > MaxDepth+3 {
		return nil, fmt.Errorf("%w: JSON nested deeper than %d levels", ErrBadBundle, MaxDepth)
	}
	doc := data[start:end]
	var typ string
	var entries, meta []byte
	eachMember(doc, func(key, val []byte) bool {
		switch {
		case keyIs(key, "resourceType"):
			typ, _ = stringOf(val)
		case keyIs(key, "entry"):
			entries = val
		case keyIs(key, "meta"):
			meta = val
		}
		return true
	})
	if typ != "Bundle" {
		return nil, fmt.Errorf("%w: resourceType is %q", ErrBadBundle, typ)
	}
	rec := &PatientRecord{Omitted: readOmitted(meta)}
	var bad error
	eachElement(entries, func(n int, entry []byte) bool {
		r := Resource{Source: Source{Entry: "entry " + strconv.Itoa(n)}}
		var raw []byte
		eachMember(entry, func(key, val []byte) bool {
			switch {
			case keyIs(key, "fullUrl"):
				r.FullURL, _ = stringOf(val)
			case keyIs(key, "resource"):
				raw = val
			}
			return true
		})
		if len(raw) == 0 || raw[0] != '{' {
			bad = fmt.Errorf("%w: entry %d has no resource object", ErrBadBundle, n)
			return false
		}
		r.Raw = raw
		h := readIdentity(raw)
		r.Type, r.ID, r.Security, r.Contained = h.typ, h.id, h.security, h.contained
		if r.Type == "Patient" && rec.Key == "" {
			rec.Key = resourceKey(r.Type, r.ID, r.FullURL, raw)
			if rec.NHS, rec.NHSAssigned, bad = patientNHSNumber(&h, rec.Key); bad != nil {
				bad = fmt.Errorf("%w: %v", ErrBadBundle, bad)
				return false
			}
		}
		rec.Resources = append(rec.Resources, r)
		return true
	})
	if bad != nil {
		return nil, bad
	}
	if rec.Key == "" {
		return nil, fmt.Errorf("%w: no Patient", ErrBadBundle)
	}
	return rec, nil
}
