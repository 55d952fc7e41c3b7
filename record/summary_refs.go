package record

import (
	"strings"
)

// sumContext resolves references between the resources of one record while
// a Summary is built, and remembers the names of what it resolved.
type sumContext struct {
	rec    *PatientRecord
	byKey  map[string]*Resource // canonical key and fullUrl
	byCond map[string]*Resource // "Type?identifier=system|value", built on first use
	names  map[*Resource]string
}

func newSumContext(rec *PatientRecord) *sumContext {
	c := &sumContext{rec: rec, byKey: make(map[string]*Resource, 2*len(rec.Resources))}
	for i := range rec.Resources {
		r := &rec.Resources[i]
		if r.ID != "" {
			k := r.Type + "/" + r.ID
			if _, dup := c.byKey[k]; !dup {
				c.byKey[k] = r
			}
		}
		if r.FullURL != "" {
			c.byKey[r.FullURL] = r
		}
	}
	return c
}

// resolve finds the resource a reference names within the record.
func (c *sumContext) resolve(ref string) *Resource {
	if ref == "" {
		return nil
	}
	if r, ok := c.byKey[ref]; ok {
		return r
	}
	if strings.Contains(ref, "?identifier=") {
		if c.byCond == nil {
			c.byCond = map[string]*Resource{}
			for i := range c.rec.Resources {
				r := &c.rec.Resources[i]
				for _, id := range readHeader(r.Raw).ids {
					cond := r.Type + "?identifier=" + id.system + "|" + id.value
					if _, dup := c.byCond[cond]; !dup {
						c.byCond[cond] = r
					}
				}
			}
		}
		return c.byCond[ref]
	}
	if k, ok := canonicalRef(ref); ok {
		return c.byKey[k]
	}
	return nil
}

// refTarget resolves a Reference element, including one given only by
// identifier.
func (c *sumContext) refTarget(ref *fhirRef) *Resource {
	if ref == nil {
		return nil
	}
	if ref.Reference != "" {
		return c.resolve(ref.Reference)
	}
	if ref.Identifier != nil && ref.Type != "" {
		return c.resolve(ref.Type + "?identifier=" + ref.Identifier.System + "|" + ref.Identifier.Value)
	}
	return nil
}

// typeOf returns the type of the resource a Reference points at: from the
// resolved resource, the reference's type element, or the reference text.
func (c *sumContext) typeOf(ref *fhirRef) string {
	if ref == nil {
		return ""
	}
	if r := c.refTarget(ref); r != nil {
		return r.Type
	}
	if ref.Type != "" {
		return ref.Type
	}
	if k, ok := canonicalRef(ref.Reference); ok {
		return refType(k)
	}
	return refType(ref.Reference)
}

// name returns a person's or organisation's name for a Reference: from the
// resource it resolves to, else the reference's display text.
func (c *sumContext) name(ref *fhirRef) string {
	if ref == nil {
		return ""
	}
	if r := c.refTarget(ref); r != nil {
		if n := c.nameOf(r); n != "" {
			return n
		}
	}
	return ref.Display
}

// nameOf returns the display name of a resource that names someone or
// something: an Organization's name, a Practitioner's formatted name, a
// Medication's code text, a Device's name.
func (c *sumContext) nameOf(r *Resource) string {
	if n, ok := c.names[r]; ok {
		return n
	}
	if c.names == nil {
		c.names = map[*Resource]string{}
	}
	c.names[r] = "" // a reference cycle resolves to no name, not a stack overflow
	var n string
	v := readNamed(r.Raw)
	switch r.Type {
	case "Organization", "Location", "HealthcareService":
		n = v.name
	case "Practitioner", "RelatedPerson", "Patient":
		if len(v.humanNames) > 0 {
			n = humanName(&v.humanNames[0]).String()
		}
	case "PractitionerRole":
		who, where := c.name(v.practitioner), c.name(v.organization)
		switch {
		case who != "" && where != "":
			n = who + ", " + where
		case who != "":
			n = who
		default:
			n = where
		}
	case "Medication":
		n = v.code.display()
	case "Device":
		if n = v.deviceName; n == "" {
			n = v.typ.display()
		}
	}
	c.names[r] = n
	return n
}

// odsCode returns an Organization's ODS code, if it has one.
func odsCode(r *Resource) string {
	for _, id := range readHeader(r.Raw).ids {
		if id.system == systemODS {
			return id.value
		}
	}
	return ""
}
