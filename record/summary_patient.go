package record

import "sort"

type fhirPatient struct {
	Security            []Coding
	Name                []fhirHumanName
	Telecom             []fhirContactPoint
	Gender              string
	BirthDate           string
	DeceasedBoolean     *bool
	DeceasedDateTime    string
	Address             []fhirAddress
	GeneralPractitioner []fhirRef
}

func readPatient(raw []byte) (p fhirPatient) {
	members(raw, func(k string, v []byte) {
		switch k {
		case "meta":
			members(v, func(k string, v []byte) {
				if k == "security" {
					elements(v, func(e []byte) { p.Security = append(p.Security, readCoding(e)) })
				}
			})
		case "name":
			p.Name = readHumanNames(v)
		case "telecom":
			elements(v, func(e []byte) {
				var t fhirContactPoint
				members(e, func(k string, v []byte) {
					switch k {
					case "system":
						t.System = jstr(v)
					case "value":
						t.Value = jstr(v)
					case "use":
						t.Use = jstr(v)
					}
				})
				p.Telecom = append(p.Telecom, t)
			})
		case "gender":
			p.Gender = jstr(v)
		case "birthDate":
			p.BirthDate = jstr(v)
		case "deceasedBoolean":
			p.DeceasedBoolean = jbool(v)
		case "deceasedDateTime":
			p.DeceasedDateTime = jstr(v)
		case "address":
			elements(v, func(e []byte) {
				var a fhirAddress
				members(e, func(k string, v []byte) {
					switch k {
					case "use":
						a.Use = jstr(v)
					case "type":
						a.Type = jstr(v)
					case "text":
						a.Text = jstr(v)
					case "line":
						a.Line = jstrs(v)
					case "city":
						a.City = jstr(v)
					case "district":
						a.District = jstr(v)
					case "postalCode":
						a.PostalCode = jstr(v)
					case "country":
						a.Country = jstr(v)
					case "period":
						a.Period = readPeriod(v)
					}
				})
				p.Address = append(p.Address, a)
			})
		case "generalPractitioner":
			p.GeneralPractitioner = readRefs(v)
		}
	})
	return p
}

// confidentialitySystem is the code system of FHIR confidentiality labels.
const confidentialitySystem = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

func humanName(n *fhirHumanName) HumanName {
	return HumanName{Use: n.Use, Text: n.Text, Family: n.Family, Given: n.Given,
		Prefix: n.Prefix, Suffix: n.Suffix, Period: n.Period.period()}
}

// nameRank orders names for display: official, then usual, then unmarked,
// then the rest (nickname, maiden, temp, anonymous, old).
func nameRank(use string) int {
	switch use {
	case "official":
		return 0
	case "usual":
		return 1
	case "":
		return 2
	case "old":
		return 4
	}
	return 3
}

func addressRank(use string) int {
	switch use {
	case "home":
		return 0
	case "":
		return 1
	case "temp":
		return 2
	case "old":
		return 4
	}
	return 3
}

func (s *Summary) demographics(c *sumContext, r *Resource, rec *PatientRecord) {
	p := readPatient(r.Raw)
	d := &s.Demographics
	d.Source = refOf(r)
	d.NHS, d.NHSAssigned = rec.NHS, rec.NHSAssigned
	d.Gender = p.Gender
	d.BirthDate = ParseDate(p.BirthDate)
	if p.DeceasedDateTime != "" {
		d.Deceased, d.DeceasedOn = true, ParseDate(p.DeceasedDateTime)
	} else if p.DeceasedBoolean != nil {
		d.Deceased = *p.DeceasedBoolean
	}
	for _, l := range p.Security {
		if l.System == confidentialitySystem && (l.Code == "R" || l.Code == "V") {
			d.Restricted = true
		}
	}
	for i := range p.Name {
		d.Names = append(d.Names, humanName(&p.Name[i]))
	}
	if i := best(len(d.Names), func(i int) (bool, int) {
		return d.Names[i].Period.current(s.AsOf), nameRank(d.Names[i].Use)
	}); i >= 0 {
		d.Name = d.Names[i]
	}
	for _, a := range p.Address {
		d.Addresses = append(d.Addresses, Address{Use: a.Use, Type: a.Type, Text: a.Text, Lines: a.Line,
			City: a.City, District: a.District, Postcode: a.PostalCode, Country: a.Country, Period: a.Period.period()})
	}
	if i := best(len(d.Addresses), func(i int) (bool, int) {
		return d.Addresses[i].Period.current(s.AsOf), addressRank(d.Addresses[i].Use)
	}); i >= 0 {
		d.Address = d.Addresses[i]
	}
	for _, t := range p.Telecom {
		cp := ContactPoint{Value: t.Value, Use: t.Use}
		switch t.System {
		case "phone", "sms":
			d.Phones = append(d.Phones, cp)
		case "email":
			d.Emails = append(d.Emails, cp)
		}
	}
	s.gp(c, p.GeneralPractitioner)
}

// best returns the index of the preferred of n things: current ones before
// ended ones, then lowest rank, then first recorded; -1 when n is 0.
func best(n int, key func(i int) (current bool, rank int)) int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ca, ra := key(idx[a])
		cb, rb := key(idx[b])
		if ca != cb {
			return ca
		}
		return ra < rb
	})
	if n == 0 {
		return -1
	}
	return idx[0]
}

// gp fills the GP section from Patient.generalPractitioner: a practice
// (Organization) and perhaps a named GP (Practitioner or PractitionerRole).
// A reference that does not resolve still gives its display text and any
// ODS code in its identifier, as PDS records do.
func (s *Summary) gp(c *sumContext, refs []fhirRef) {
	g := &s.GP
	for i := range refs {
		ref := &refs[i]
		target := c.refTarget(ref)
		typ := c.typeOf(ref)
		switch {
		case target != nil && target.Type == "Organization":
			if !g.Resolved {
				g.Practice, g.ODSCode, g.Resolved = c.nameOf(target), odsCode(target), true
				g.Source = refOf(target)
			}
		case target != nil && (target.Type == "Practitioner" || target.Type == "PractitionerRole"):
			if g.Practitioner == "" {
				g.Practitioner = c.nameOf(target)
			}
		case typ == "Practitioner" || typ == "PractitionerRole":
			if g.Practitioner == "" {
				g.Practitioner = ref.Display
			}
		default: // an Organization not in the record, or a reference of unknown type
			if g.Resolved {
				continue
			}
			if g.Practice == "" {
				g.Practice = ref.Display
			}
			if g.ODSCode == "" && ref.Identifier != nil && ref.Identifier.System == systemODS {
				g.ODSCode = ref.Identifier.Value
			}
		}
	}
}
