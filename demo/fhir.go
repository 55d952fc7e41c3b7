package demo

// FHIR building blocks on top of enc. Each writes one member (or one array
// element, for the *Elem forms) in the shape FHIR R4 JSON expects.

// codingElem writes {"system":..,"code":..,"display":..} as an array element.
func (e *enc) codingElem(system, code, display string) {
	e.open()
	e.str("system", system)
	e.str("code", code)
	if display != "" {
		e.str("display", display)
	}
	e.close()
}

// coded writes a CodeableConcept member with one coding and, if text is not
// empty, text. A concept without a code becomes text only.
func (e *enc) coded(k, system string, c concept, text string) {
	e.obj(k)
	e.codedBody(system, c, text)
}

// codedElem is coded as an array element.
func (e *enc) codedElem(system string, c concept, text string) {
	e.open()
	e.codedBody(system, c, text)
}

// codedBody writes a CodeableConcept's members and closes it.
func (e *enc) codedBody(system string, c concept, text string) {
	if c.code != "" {
		e.arr("coding")
		e.codingElem(system, c.code, c.display)
		e.end()
	}
	if text != "" {
		e.str("text", text)
	} else if c.code == "" {
		e.str("text", c.display)
	}
	e.close()
}

// status writes a CodeableConcept holding one code from a FHIR code system
// (clinicalStatus, verificationStatus).
func (e *enc) status(k, system, code string) {
	e.obj(k)
	e.arr("coding")
	e.open()
	e.str("system", system)
	e.str("code", code)
	e.close()
	e.end()
	e.close()
}

// category writes "category":[{"coding":[...]}].
func (e *enc) category(system, code, display string) {
	e.arr("category")
	e.open()
	e.arr("coding")
	e.codingElem(system, code, display)
	e.end()
	e.close()
	e.end()
}

// ref writes a Reference member.
func (e *enc) ref(k, reference, display string) {
	e.obj(k)
	e.str("reference", reference)
	if display != "" {
		e.str("display", display)
	}
	e.close()
}

// period writes a Period; an end of -1 leaves it open.
func (e *enc) period(k string, start, end int) {
	e.obj(k)
	e.date("start", start)
	if end >= 0 {
		e.date("end", end)
	}
	e.close()
}

// quantity writes a UCUM Quantity.
func (e *enc) quantity(k string, v float64, prec int, unit, code string) {
	e.obj(k)
	e.dec("value", v, prec)
	e.str("unit", unit)
	e.str("system", ucumSystem)
	e.str("code", code)
	e.close()
}

// label is a security label for meta.security.
type label struct{ system, code, display string }

var restricted = label{confidentialitySys, "R", "restricted"}

// securityMeta writes meta.security with the given labels.
func (e *enc) securityMeta(labels ...label) {
	e.obj("meta")
	e.arr("security")
	for _, l := range labels {
		e.codingElem(l.system, l.code, l.display)
	}
	e.end()
	e.close()
}
