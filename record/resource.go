package record

import (
	"encoding/json"
	"strconv"
)

// Resource is one FHIR resource as read, kept byte-for-byte so that what the
// server stores and sends is exactly what its source said.
type Resource struct {
	Type     string          // resourceType
	ID       string          // resource.id (may be empty)
	FullURL  string          // the bundle entry's fullUrl, if any
	Raw      json.RawMessage // the original resource JSON, byte-for-byte unchanged
	Security []Coding        // meta.security labels, for policy
	// Contained are the meta.security labels of the resources inside
	// this one's contained array: a label there speaks for what the
	// container shows of it, so policy reads both.
	Contained []Coding
	Source    Source // where it was read from
}

// Key returns the resource's canonical key: "Type/id", or for a resource
// without an id one derived from its fullUrl or, failing that, its bytes,
// so that the same resource always has the same key.
func (r Resource) Key() string { return resourceKey(r.Type, r.ID, r.FullURL, r.Raw) }

// Source says where a resource (or a rejection) came from: a file, and an
// entry within it. Entry is "entry N" for Bundle.entry[N] (counting from 0,
// as FHIRPath does), "line N" for an NDJSON line (counting from 1, as
// editors do), or empty for a file holding a single resource.
type Source struct {
	File  string
	Entry string
}

// String returns "file entry", for example "Patient.000.ndjson line 4".
func (s Source) String() string {
	switch {
	case s.File == "":
		return s.Entry
	case s.Entry == "":
		return s.File
	}
	return s.File + " " + s.Entry
}

func entrySource(file string, n int) Source { return Source{file, "entry " + strconv.Itoa(n)} }
func lineSource(file string, n int) Source  { return Source{file, "line " + strconv.Itoa(n)} }

// Coding is a FHIR Coding: a code from a code system, with its display text.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// header is what the reader needs from a resource without decoding it:
// identity, security labels, identifiers and the references that may link
// it to a patient.
type header struct {
	typ       string
	id        string
	security  []Coding
	contained []Coding // labels of contained resources
	ids       []identifier
	links     []link
}

// identifier is a FHIR Identifier reduced to what matching needs.
type identifier struct {
	system, value, use string
}

// link is a top-level reference that may name the resource's patient.
type link struct {
	field string // subject, patient, ...
	ref   string // the reference, or "Type?identifier=system|value" for a logical one
}

// patientLinkFields are the top-level elements that point at the patient a
// resource is about; the first, in the resource's own order, that resolves
// to a Patient decides. Every FHIR R4 resource
// about one patient uses one of these names (AllergyIntolerance.patient,
// Condition.subject, Coverage.beneficiary, ResearchSubject.individual,
// Task.for, ...), so reading them generically also covers types this
// package has never heard of.
var patientLinkFields = [...]string{"subject", "patient", "beneficiary", "individual", "for"}

func linkField(key []byte) (string, bool) {
	for _, f := range patientLinkFields {
		if keyIs(key, f) {
			return f, true
		}
	}
	return "", false
}

// readHeader extracts the header from a resource already checked to be a
// valid JSON object.
func readHeader(raw []byte) header { return readHeaderOpt(raw, true) }

// readIdentity is readHeader without the links, and with identifiers only
// for a Patient: what ParseBundle needs, at less cost.
func readIdentity(raw []byte) header { return readHeaderOpt(raw, false) }

func readHeaderOpt(raw []byte, full bool) header {
	var h header
	var ids []byte
	eachMember(raw, func(key, val []byte) bool {
		switch {
		case keyIs(key, "resourceType"):
			h.typ, _ = stringOf(val)
		case keyIs(key, "id"):
			h.id, _ = stringOf(val)
		case keyIs(key, "meta"):
			h.security = appendSecurity(h.security, val)
		case keyIs(key, "confidentiality"), keyIs(key, "securityLabel"):
			h.security = appendElementLabels(h.security, key, val)
		case keyIs(key, "contained"):
			h.contained = appendContainedLabels(h.contained, val)
		case keyIs(key, "identifier"):
			ids = val
		case full:
			if f, ok := linkField(key); ok {
				h.links = appendLinks(h.links, f, val)
			}
		}
		return true
	})
	if ids != nil && (full || h.typ == "Patient") {
		h.ids = appendIdentifiers(nil, ids)
	}
	return h
}

// appendSecurity reads a meta element's security labels, and those of its
// tags that name a code system (a feed may file a confidentiality code as
// a tag; a tag without a system is only a tag).
func appendSecurity(labels []Coding, meta []byte) []Coding {
	eachMember(meta, func(k, v []byte) bool {
		switch {
		case keyIs(k, "security"):
			eachElement(v, func(_ int, c []byte) bool {
				labels = append(labels, readCoding(c))
				return true
			})
		case keyIs(k, "tag"):
			eachElement(v, func(_ int, c []byte) bool {
				if t := readCoding(c); t.System != "" {
					labels = append(labels, t)
				}
				return true
			})
		}
		return true
	})
	return labels
}

// appendElementLabels reads the labels resources carry outside meta:
// Composition.confidentiality (a bare code of v3 Confidentiality) and
// securityLabel (DocumentReference and others: CodeableConcepts, or
// Codings).
func appendElementLabels(labels []Coding, key, val []byte) []Coding {
	if keyIs(key, "confidentiality") {
		if code, ok := stringOf(val); ok {
			labels = append(labels, Coding{System: confidentialitySystem, Code: code})
		}
		return labels
	}
	eachElement(val, func(_ int, e []byte) bool {
		concept := false
		eachMember(e, func(k, v []byte) bool {
			if keyIs(k, "coding") {
				concept = true
				eachElement(v, func(_ int, c []byte) bool {
					labels = append(labels, readCoding(c))
					return true
				})
			}
			return true
		})
		if !concept {
			labels = append(labels, readCoding(e))
		}
		return true
	})
	return labels
}

// appendContainedLabels reads the labels of every contained resource, and
// of resources contained in those (FHIR forbids nesting, but a feed may
// send it; the depth is bounded by the reader's MaxDepth check).
func appendContainedLabels(labels []Coding, val []byte) []Coding {
	eachElement(val, func(_ int, c []byte) bool {
		eachMember(c, func(k, v []byte) bool {
			switch {
			case keyIs(k, "meta"):
				labels = appendSecurity(labels, v)
			case keyIs(k, "contained"):
				labels = appendContainedLabels(labels, v)
			}
			return true
		})
		return true
	})
	return labels
}

func readCoding(val []byte) Coding {
	var c Coding
	eachMember(val, func(k, v []byte) bool {
		switch {
		case keyIs(k, "system"):
			c.System, _ = stringOf(v)
		case keyIs(k, "code"):
			c.Code, _ = stringOf(v)
		case keyIs(k, "display"):
			c.Display, _ = stringOf(v)
		}
		return true
	})
	return c
}

// appendIdentifiers reads an Identifier or an array of them (most resources
// have an array; Composition and Bundle have one).
func appendIdentifiers(ids []identifier, val []byte) []identifier {
	one := func(v []byte) {
		var id identifier
		eachMember(v, func(k, x []byte) bool {
			switch {
			case keyIs(k, "system"):
				id.system, _ = stringOf(x)
			case keyIs(k, "value"):
				id.value, _ = stringOf(x)
			case keyIs(k, "use"):
				id.use, _ = stringOf(x)
			}
			return true
		})
		if id.value != "" {
			ids = append(ids, id)
		}
	}
	v := val[skipSpace(val, 0):]
	if len(v) > 0 && v[0] == '[' {
		eachElement(v, func(_ int, e []byte) bool { one(e); return true })
	} else {
		one(v)
	}
	return ids
}

// appendLinks reads a Reference, or an array of them, from a link field.
// A reference given only as an identifier (a "logical" reference, common
// with NHS numbers) becomes "Type?identifier=system|value", the form of a
// FHIR conditional reference, so that both resolve the same way.
func appendLinks(links []link, field string, val []byte) []link {
	one := func(v []byte) {
		var ref, typ string
		var ids []identifier
		eachMember(v, func(k, x []byte) bool {
			switch {
			case keyIs(k, "reference"):
				ref, _ = stringOf(x)
			case keyIs(k, "type"):
				typ, _ = stringOf(x)
			case keyIs(k, "identifier"):
				ids = appendIdentifiers(ids, x)
			}
			return true
		})
		if ref == "" && len(ids) > 0 {
			if typ == "" {
				typ = "Patient"
			}
			ref = typ + "?identifier=" + ids[0].system + "|" + ids[0].value
		}
		links = append(links, link{field, ref})
	}
	v := val[skipSpace(val, 0):]
	if len(v) > 0 && v[0] == '[' {
		eachElement(v, func(_ int, e []byte) bool { one(e); return true })
	} else {
		one(v)
	}
	return links
}

// nhsIdentifier returns the first NHS number identifier that is not marked
// old, and whether there was one.
func (h *header) nhsIdentifier() (string, bool) {
	for _, id := range h.ids {
		if id.system == NHSNumberSystem && id.use != "old" {
			return id.value, true
		}
	}
	return "", false
}
