package record

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Limits on what the reader accepts. Each protects memory or the stack from
// a hostile or broken file; each breach rejects only the resource or file
// concerned.
const (
	// MaxResourceSize is the largest single resource accepted, in bytes of
	// JSON. The biggest resources in real exports (a DocumentReference with
	// an inline attachment) are well under this.
	MaxResourceSize = 8 << 20

	// MaxBundleFileSize is the largest .json file read. A Bundle is read
	// whole, because its entries refer to each other in any order; bulk data
	// of any size should come as NDJSON, which is streamed line by line.
	MaxBundleFileSize = 256 << 20

	// MaxDepth is the deepest nesting of objects and arrays accepted within
	// one resource. Real FHIR resources stay under 15; the limit is checked
	// before encoding/json sees the data.
	MaxDepth = 64

	// MaxRejections is how many rejections a Report keeps in detail; the
	// rest are only counted, so a file of a million bad lines cannot
	// exhaust memory.
	MaxRejections = 1000
)

// Item is one accepted resource, as Scan passes it on.
type Item struct {
	Resource Resource

	// PatientKey is the canonical key ("Patient/<id>") of the patient the
	// resource belongs to: its own key for a Patient, "" for a shared
	// resource such as an Organization.
	PatientKey string

	// NHS is set for a Patient only: its NHS number, checked, or assigned
	// by AssignNHSNumber when it carries none (NHSAssigned is then true).
	NHS         NHSNumber
	NHSAssigned bool
}

// Report says what Scan read.
type Report struct {
	Files     int            // files read (including ones rejected whole)
	Resources int            // resources accepted
	ByType    map[string]int // accepted resources per resourceType

	// Rejected holds the first MaxRejections rejections, in the order met;
	// RejectedTotal counts them all.
	Rejected      []Rejection
	RejectedTotal int

	// Warnings are things accepted but worth a person's attention, such as
	// two patients with the same NHS number.
	Warnings []Warning
}

// Rejection is a resource or file that was not imported, and why.
type Rejection struct {
	Source Source
	Reason string
}

// Error returns the source and the reason, for example
// "Condition.000.ndjson line 7: malformed JSON: ...", with control
// characters escaped (a file name is the feed's to choose).
func (r Rejection) Error() string { return escapeControls(r.Source.String() + ": " + r.Reason) }

// Warning is something the reader accepted but a person should know about.
type Warning struct {
	Source  Source
	Message string
}

// String returns the source and the message, control characters escaped.
func (w Warning) String() string { return escapeControls(w.Source.String() + ": " + w.Message) }

func (r *Report) reject(src Source, format string, args ...any) {
	r.RejectedTotal++
	if len(r.Rejected) < MaxRejections {
		r.Rejected = append(r.Rejected, Rejection{src, truncateText(fmt.Sprintf(format, args...), maxReasonText)})
	}
}

// Scan streams every resource in paths to fn, with the key of the patient
// it belongs to. A path may be a file or a directory; directories are
// walked in sorted order for files ending .json (a Bundle or a single
// resource) and .ndjson (FHIR Bulk Data, one resource a line).
//
// NDJSON Patient files (named "Patient.*.ndjson", the Bulk Data convention)
// are read before all other files, so that resources belonging to a
// rejected patient are rejected too. Within a Bundle, references by
// urn:uuid:, relative and absolute URL and by identifier all resolve.
//
// Bad input never stops the scan: each bad resource or file becomes a
// Rejection in the Report. Scan returns an error only when fn does, and
// then stops.
func Scan(paths []string, fn func(Item) error) (*Report, error) {
	s := &scanState{
		fn:       fn,
		rep:      &Report{ByType: map[string]int{}},
		rejected: map[string]string{},
	}
	for _, path := range orderFiles(listFiles(paths, s.rep)) {
		s.rep.Files++
		var err error
		if strings.EqualFold(filepath.Ext(path), ".ndjson") {
			err = s.readNDJSON(path)
		} else {
			err = s.readJSONFile(path)
		}
		if err != nil {
			return s.rep, err
		}
	}
	return s.rep, nil
}

// listFiles expands directories into the .json and .ndjson files beneath
// them, in sorted order. A path given explicitly is read whatever its name.
func listFiles(paths []string, rep *Report) []string {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			rep.Files++
			rep.reject(Source{File: p}, "cannot read: %v", unwrapPathError(err))
			continue
		}
		if !info.IsDir() {
			// A file named explicitly is read wherever a link to it
			// leads: the person importing chose it.
			if !info.Mode().IsRegular() {
				rep.Files++
				rep.reject(Source{File: p}, "%v", errNotRegular)
				continue
			}
			if r, err := filepath.EvalSymlinks(p); err == nil {
				p = r
			}
			files = append(files, p)
			continue
		}
		root, err := resolveDir(p)
		if err != nil {
			rep.Files++
			rep.reject(Source{File: p}, "cannot read: %v", unwrapPathError(err))
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				rep.Files++
				rep.reject(Source{File: path}, "cannot read: %v", unwrapPathError(err))
				return nil
			}
			if d.IsDir() {
				if path != root && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".json", ".ndjson":
				open, err := importable(root, path, d)
				if err != nil {
					rep.Files++
					rep.reject(Source{File: path}, "%v", err)
					return nil
				}
				files = append(files, open)
			}
			return nil
		})
		if err != nil {
			rep.reject(Source{File: p}, "cannot list: %v", err)
		}
	}
	return files
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// orderFiles moves NDJSON Patient files to the front, keeping the order of
// everything else.
func orderFiles(files []string) []string {
	isPatients := func(p string) bool {
		b := filepath.Base(p)
		return strings.HasPrefix(b, "Patient.") && strings.EqualFold(filepath.Ext(b), ".ndjson")
	}
	sort.SliceStable(files, func(i, j int) bool { return isPatients(files[i]) && !isPatients(files[j]) })
	return files
}

// scanState carries what Scan learns across files.
type scanState struct {
	fn  func(Item) error
	rep *Report
	// rejected maps the key of every rejected Patient to the reason.
	rejected map[string]string
}

// resolver turns a reference into a canonical key. Bundles supply one that
// knows their entries; NDJSON lines only have canonicalRef.
type resolver interface {
	resolve(ref string) (string, bool)
}

type plainResolver struct{}

func (plainResolver) resolve(ref string) (string, bool) { return canonicalRef(ref) }

// patientOf finds the patient a resource belongs to. It returns the key,
// or "" with a reason when a patient type has none, or "" and no reason
// for a shared resource.
func patientOf(h *header, res resolver, context string) (key, reason string) {
	for _, l := range h.links {
		k, ok := res.resolve(l.ref)
		if ok && refType(k) == "Patient" {
			return k, ""
		}
	}
	if !patientTypes[h.typ] {
		return "", ""
	}
	if len(h.links) == 0 {
		if context != "" {
			return context, ""
		}
		return "", "no patient reference"
	}
	l := h.links[0]
	if l.ref == "" {
		return "", fmt.Sprintf("no patient reference (%s has no reference)", l.field)
	}
	if _, ok := res.resolve(l.ref); !ok {
		return "", fmt.Sprintf("no patient reference (%s does not resolve to a Patient in this import)", l.field)
	}
	return "", fmt.Sprintf("no patient reference (%s refers to a resource that is not a Patient)", l.field)
}

// accept checks one resource whose JSON is valid and within the limits,
// decides its patient, and passes it to fn or rejects it.
func (s *scanState) accept(r Resource, h *header, res resolver, context string) error {
	if h.typ == "" {
		s.rep.reject(r.Source, "no resourceType")
		return nil
	}
	it := Item{Resource: r}
	if h.typ == "Patient" {
		it.PatientKey = resourceKey(h.typ, h.id, r.FullURL, r.Raw)
		nhs, assigned, err := patientNHSNumber(h, it.PatientKey)
		if err != nil {
			reason := "invalid NHS number: " + withoutQuoted(err.Error())
			s.rejected[it.PatientKey] = reason
			s.rep.reject(r.Source, "%s", reason)
			return nil
		}
		it.NHS, it.NHSAssigned = nhs, assigned
	} else {
		key, reason := patientOf(h, res, context)
		if reason != "" {
			s.rep.reject(r.Source, "%s", reason)
			return nil
		}
		if why, bad := s.rejected[key]; bad && key != "" {
			s.rep.reject(r.Source, "patient rejected: %s (%s)", key, why)
			return nil
		}
		it.PatientKey = key
	}
	s.rep.Resources++
	s.rep.ByType[h.typ]++
	return s.fn(it)
}

// checkResource applies the size, syntax and depth limits to one resource's
// bytes, returning a rejection reason or "".
func checkResource(raw []byte) string {
	if len(raw) > MaxResourceSize {
		return fmt.Sprintf("resource is %s, over the %s limit", byteSize(len(raw)), byteSize(MaxResourceSize))
	}
	start, _, depth, err := checkDocument(raw)
	if err != nil {
		return "malformed JSON: " + err.Error()
	}
	return checkParsed(raw[start:], depth)
}

// checkParsed applies the depth limit and the object check to a resource
// already known to be valid JSON.
func checkParsed(raw []byte, depth int) string {
	if depth > MaxDepth {
		return fmt.Sprintf("JSON nested deeper than %d levels", MaxDepth)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return "not a JSON object"
	}
	return ""
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
