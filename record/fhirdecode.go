package record

import "strconv"

// The summary decodes resources with the scanner rather than encoding/json.
// Every resource was checked by the scanner when it was read, so decoding
// need not check syntax again (encoding/json always would), and reading
// only the members the summary shows, without reflection, makes Summarise
// several times faster. It is also more tolerant: a member of an
// unexpected JSON type is skipped on its own, where an error inside
// encoding/json can abandon the rest of the resource.
//
// Each helper below takes a raw JSON value and returns the zero value when
// the value has another type. Member names are matched exactly; FHIR never
// escapes them.

// jstr returns a JSON string's value, or "".
func jstr(v []byte) string {
	s, _ := stringOf(v)
	return s
}

// jstrs returns the strings in a JSON array, skipping anything else.
func jstrs(v []byte) []string {
	var out []string
	eachElement(v, func(_ int, e []byte) bool {
		if s, ok := stringOf(e); ok {
			out = append(out, s)
		}
		return true
	})
	return out
}

// jbool returns a JSON boolean, or nil.
func jbool(v []byte) *bool {
	var b bool
	switch string(v) {
	case "true":
		b = true
	case "false":
	default:
		return nil
	}
	return &b
}

// jint returns a JSON integer, or nil.
func jint(v []byte) *int64 {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

// jnum returns a JSON number as written, or "".
func jnum(v []byte) fhirNumber {
	if len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
		return fhirNumber(v)
	}
	return ""
}

func isObject(v []byte) bool { return len(v) > 0 && v[0] == '{' }

// members calls fn for each member of the object v with its name as a
// string; the conversion in a switch does not allocate.
func members(v []byte, fn func(k string, v []byte)) {
	eachMember(v, func(k, val []byte) bool {
		fn(string(k), val)
		return true
	})
}

// elements calls fn for each element of the array v that is an object.
func elements(v []byte, fn func(e []byte)) {
	eachElement(v, func(_ int, e []byte) bool {
		if isObject(e) {
			fn(e)
		}
		return true
	})
}

func readCC(v []byte) *fhirCC {
	if !isObject(v) {
		return nil
	}
	c := &fhirCC{}
	members(v, func(k string, v []byte) {
		switch k {
		case "coding":
			elements(v, func(e []byte) { c.Coding = append(c.Coding, readCoding(e)) })
		case "text":
			c.Text = jstr(v)
		}
	})
	return c
}

func readCCs(v []byte) []fhirCC {
	var out []fhirCC
	elements(v, func(e []byte) { out = append(out, *readCC(e)) })
	return out
}

// readStatus reads a status that R4 codes as a CodeableConcept and STU3
// (still found in older Synthea exports) as a plain code string.
func readStatus(v []byte) *fhirCC {
	if s, ok := stringOf(v); ok {
		return &fhirCC{Coding: []Coding{{Code: s}}}
	}
	return readCC(v)
}

func readRef(v []byte) *fhirRef {
	if !isObject(v) {
		return nil
	}
	r := &fhirRef{}
	members(v, func(k string, v []byte) {
		switch k {
		case "reference":
			r.Reference = jstr(v)
		case "type":
			r.Type = jstr(v)
		case "display":
			r.Display = jstr(v)
		case "identifier":
			if isObject(v) {
				if ids := appendIdentifiers(nil, v); len(ids) > 0 {
					r.Identifier = &fhirIdentifier{System: ids[0].system, Value: ids[0].value, Use: ids[0].use}
				}
			}
		}
	})
	return r
}

func readRefs(v []byte) []fhirRef {
	var out []fhirRef
	elements(v, func(e []byte) { out = append(out, *readRef(e)) })
	return out
}

func readPeriod(v []byte) *fhirPeriod {
	if !isObject(v) {
		return nil
	}
	p := &fhirPeriod{}
	members(v, func(k string, v []byte) {
		switch k {
		case "start":
			p.Start = jstr(v)
		case "end":
			p.End = jstr(v)
		}
	})
	return p
}

func readQuantity(v []byte) *fhirQuantity {
	if !isObject(v) {
		return nil
	}
	q := &fhirQuantity{}
	members(v, func(k string, v []byte) {
		switch k {
		case "value":
			q.Value = jnum(v)
		case "comparator":
			q.Comparator = jstr(v)
		case "unit":
			q.Unit = jstr(v)
		case "code":
			q.Code = jstr(v)
		}
	})
	return q
}

func readHumanName(v []byte) fhirHumanName {
	var n fhirHumanName
	members(v, func(k string, v []byte) {
		switch k {
		case "use":
			n.Use = jstr(v)
		case "text":
			n.Text = jstr(v)
		case "family":
			n.Family = jstr(v)
		case "given":
			n.Given = jstrs(v)
		case "prefix":
			n.Prefix = jstrs(v)
		case "suffix":
			n.Suffix = jstrs(v)
		case "period":
			n.Period = readPeriod(v)
		}
	})
	return n
}

func readHumanNames(v []byte) []fhirHumanName {
	var out []fhirHumanName
	elements(v, func(e []byte) { out = append(out, readHumanName(e)) })
	return out
}

// readNamed reads the members of a resource that names someone or
// something: name (a string or HumanNames), code, deviceName, type,
// practitioner and organization.
type namedResource struct {
	name         string
	humanNames   []fhirHumanName
	code         *fhirCC
	deviceName   string
	typ          *fhirCC
	practitioner *fhirRef
	organization *fhirRef
}

func readNamed(raw []byte) namedResource {
	var n namedResource
	members(raw, func(k string, v []byte) {
		switch k {
		case "name":
			if s, ok := stringOf(v); ok {
				n.name = s
			} else {
				n.humanNames = readHumanNames(v)
			}
		case "code":
			n.code = readCC(v)
		case "deviceName":
			elements(v, func(e []byte) {
				if n.deviceName == "" {
					members(e, func(k string, v []byte) {
						if k == "name" {
							n.deviceName = jstr(v)
						}
					})
				}
			})
		case "type":
			n.typ = readCC(v)
		case "practitioner":
			n.practitioner = readRef(v)
		case "organization":
			n.organization = readRef(v)
		}
	})
	return n
}
