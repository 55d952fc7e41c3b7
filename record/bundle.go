package record

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// readJSONFile reads a .json file: a Bundle of any type, or one resource
// (the PDS Patient files are single resources). The file is read whole,
// up to MaxBundleFileSize, because a Bundle's entries refer to each other
// in any order.
func (s *scanState) readJSONFile(path string) error {
	f, info, err := openRegular(path)
	if err != nil {
		s.rep.reject(Source{File: path}, "cannot read: %v", unwrapPathError(err))
		return nil
	}
	if info.Size() > MaxBundleFileSize {
		s.rep.reject(Source{File: path}, "file is over the %s limit for a .json file; export large data as NDJSON", byteSize(MaxBundleFileSize))
		return nil
	}
	// One allocation of the file's size: io.ReadAll would grow a buffer by
	// copying, costing several times the file in garbage.
	data := make([]byte, info.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		s.rep.reject(Source{File: path}, "cannot read: %v", unwrapPathError(err))
		return nil
	}
	return s.scanJSON(path, data)
}

// bundleEntry is one entry of a Bundle between the two passes over it.
type bundleEntry struct {
	res    Resource
	h      header
	reason string // why the entry is rejected, or ""
}

// bundleIndex resolves references between the entries of one Bundle.
type bundleIndex struct {
	byURL   map[string]string // fullUrl -> canonical key
	patient map[string]string // "Patient?identifier=system|value" -> key
}

func (b *bundleIndex) resolve(ref string) (string, bool) {
	if k, ok := b.byURL[ref]; ok {
		return k, true
	}
	if k, ok := b.patient[ref]; ok {
		return k, true
	}
	return canonicalRef(ref)
}

func (s *scanState) scanJSON(path string, data []byte) error {
	start, end, _, err := checkDocument(data)
	if err != nil {
		if start == len(data) {
			s.rep.reject(Source{File: path}, "empty file")
		} else {
			s.rep.reject(Source{File: path}, "malformed JSON: %v", err)
		}
		return nil
	}
	doc := data[start:end]
	if doc[0] != '{' {
		s.rep.reject(Source{File: path}, "not a JSON object")
		return nil
	}
	isBundle, hasEntries := false, false
	var entries []byte
	var bundleLabels []Coding
	eachMember(doc, func(key, val []byte) bool {
		switch {
		case keyIs(key, "resourceType"):
			t, _ := stringOf(val)
			isBundle = t == "Bundle"
		case keyIs(key, "entry"):
			entries, hasEntries = val, true
		case keyIs(key, "meta"):
			bundleLabels = appendSecurity(bundleLabels, val)
		}
		return true
	})
	if !isBundle {
		src := Source{File: path}
		if reason := checkResource(doc); reason != "" {
			s.rep.reject(src, "%s", reason)
			return nil
		}
		raw := bytes.Clone(doc)
		h := readHeader(raw)
		return s.accept(Resource{Type: h.typ, ID: h.id, Raw: raw, Security: h.security, Contained: h.contained, Source: src}, &h, plainResolver{}, "")
	}
	if hasEntries && entries[0] != '[' {
		s.rep.reject(Source{File: path}, "Bundle.entry is not an array")
		return nil
	}
	list, idx := readEntries(path, entries)
	if len(list) == 0 {
		s.rep.Warnings = append(s.rep.Warnings, Warning{Source{File: path}, "Bundle has no entries"})
		return nil
	}
	context := bundlePatient(list, idx)
	for i := range list {
		e := &list[i]
		if e.reason != "" {
			s.rep.reject(e.res.Source, "%s", e.reason)
			continue
		}
		if isBundle && len(bundleLabels) > 0 {
			// The Bundle's labels speak for every entry; only entries are
			// kept, so they carry the labels from here on.
			e.res.Raw = withSecurity(e.res.Raw, bundleLabels)
			e.h.security = append(e.h.security, bundleLabels...)
			e.res.Security = e.h.security
		}
		if err := s.accept(e.res, &e.h, idx, context); err != nil {
			return err
		}
	}
	return nil
}

// readEntries is the first pass over a Bundle's entries: it checks each
// one, reads its header, and indexes fullUrls and patient identifiers.
func readEntries(path string, entries []byte) ([]bundleEntry, *bundleIndex) {
	idx := &bundleIndex{byURL: map[string]string{}, patient: map[string]string{}}
	var list []bundleEntry
	eachElement(entries, func(n int, entry []byte) bool {
		e := bundleEntry{res: Resource{Source: entrySource(path, n)}}
		var resource []byte
		var method string
		eachMember(entry, func(key, val []byte) bool {
			switch {
			case keyIs(key, "fullUrl"):
				e.res.FullURL, _ = stringOf(val)
			case keyIs(key, "resource"):
				resource = val
			case keyIs(key, "request"):
				eachMember(val, func(k, v []byte) bool {
					if keyIs(k, "method") {
						method, _ = stringOf(v)
					}
					return true
				})
			}
			return true
		})
		switch {
		case len(entry) == 0 || entry[0] != '{':
			e.reason = "entry is not a JSON object"
		case resource == nil && method != "":
			e.reason = fmt.Sprintf("entry has no resource (a %s request)", method)
		case resource == nil:
			e.reason = "entry has no resource"
		default:
			e.reason = checkResource(resource)
		}
		if e.reason == "" {
			e.res.Raw = bytes.Clone(resource)
			e.h = readHeader(e.res.Raw)
			e.res.Type, e.res.ID, e.res.Security, e.res.Contained = e.h.typ, e.h.id, e.h.security, e.h.contained
			key := resourceKey(e.h.typ, e.h.id, e.res.FullURL, e.res.Raw)
			if e.res.FullURL != "" {
				idx.byURL[e.res.FullURL] = key
			}
			if e.h.typ == "Patient" {
				for _, id := range e.h.ids {
					cond := "Patient?identifier=" + id.system + "|" + id.value
					if _, dup := idx.patient[cond]; !dup {
						idx.patient[cond] = key
					}
				}
			}
		}
		list = append(list, e)
		return true
	})
	return list, idx
}

// bundlePatient returns the patient a Bundle is about, for entries that
// name none: the subject of a document's Composition, or else the Bundle's
// only Patient. The NHS Summary Care Record's bundles rely on this: their
// Conditions and Encounters carry no subject of their own.
func bundlePatient(list []bundleEntry, idx *bundleIndex) string {
	var patients []string
	for i := range list {
		e := &list[i]
		if e.reason != "" {
			continue
		}
		switch e.h.typ {
		case "Composition":
			for _, l := range e.h.links {
				if k, ok := idx.resolve(l.ref); ok && l.field == "subject" && strings.HasPrefix(k, "Patient/") {
					return k
				}
			}
		case "Patient":
			patients = append(patients, resourceKey(e.h.typ, e.h.id, e.res.FullURL, e.res.Raw))
		}
	}
	if len(patients) == 1 {
		return patients[0]
	}
	return ""
}
