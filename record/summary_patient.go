package record

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

type fhirPatient struct {
	Security            []Coding
	LastUpdated         string
	MetaSource          string
	Profiles            []string
	ExtensionURLs       []string
	IDExtensionURLs     []string // of the NHS number identifier
	NHS                 string
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
				switch k {
				case "security":
					elements(v, func(e []byte) { p.Security = append(p.Security, readCoding(e)) })
				case "lastUpdated":
					p.LastUpdated = jstr(v)
				case "source":
					p.MetaSource = jstr(v)
				case "profile":
					p.Profiles = jstrs(v)
				}
			})
		case "extension":
			p.ExtensionURLs = extensionURLs(v)
		case "identifier":
			elements(v, func(e []byte) {
				var system, value string
				var exts []string
				members(e, func(k string, v []byte) {
					switch k {
					case "system":
						system = jstr(v)
					case "value":
						value = jstr(v)
					case "extension":
						exts = extensionURLs(v)
					}
				})
				if system == NHSNumberSystem && p.NHS == "" {
					p.NHS, p.IDExtensionURLs = value, exts
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

// extensionURLs returns the url of every extension in an extension array,
// nested ones included.
func extensionURLs(v []byte) []string {
	var out []string
	elements(v, func(e []byte) {
		members(e, func(k string, v []byte) {
			switch k {
			case "url":
				out = append(out, jstr(v))
			case "extension":
				out = append(out, extensionURLs(v)...)
			}
		})
	})
	return out
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

// demographics fills the demographics and GP from the person's Patient
// resources, merged by the rule of MergePatients.
func (s *Summary) demographics(c *sumContext, patients []*Resource, rec *PatientRecord) {
	d := &s.Demographics
	d.NHS, d.NHSAssigned = rec.NHS, rec.NHSAssigned
	if len(patients) == 0 {
		return
	}
	srcs := rankSources(patients, rec.Key)
	for _, src := range srcs {
		d.Sources = append(d.Sources, src.ref)
	}
	d.FromPDS = srcs[0].pds
	d.Source = srcs[0].ref
	first := func(has func(*patientSource) bool) *patientSource {
		for _, src := range srcs {
			if has(src) {
				return src
			}
		}
		return nil
	}
	var conflicts []DemographicConflict
	differBy := func(field string, chosen *patientSource, value func(*patientSource) string, same func(a, b string) bool) {
		if chosen == nil {
			return
		}
		shown := value(chosen)
		for _, src := range srcs {
			if src == chosen {
				continue
			}
			if v := value(src); v != "" && !same(v, shown) {
				conflicts = append(conflicts, DemographicConflict{Field: field, Shown: shown, ShownFrom: chosen.ref, Other: v, OtherFrom: src.ref})
			}
		}
	}

	differ := func(field string, chosen *patientSource, value func(*patientSource) string) {
		differBy(field, chosen, value, strings.EqualFold)
	}
	// Two spellings of a name that searching treats as one (accents, case,
	// apostrophes, spacing) are not a conflict.
	sameName := func(a, b string) bool { return FoldName(a) == FoldName(b) }

	// Names: every name from the best source that has one.
	if src := first(func(p *patientSource) bool { return p.bannerName(s.AsOf) != "" }); src != nil {
		d.Source = src.ref
		d.Names = src.names
		if i := best(len(d.Names), func(i int) (bool, int) {
			rank := nameRank(d.Names[i].Use)
			if d.Names[i].String() == "" {
				rank += 10 // a name with nothing to show comes after any with text
			}
			return d.Names[i].Period.current(s.AsOf), rank
		}); i >= 0 {
			d.Name = d.Names[i]
		}
		differBy("name", src, func(p *patientSource) string { return p.bannerName(s.AsOf) }, sameName)
	}
	if src := first(func(p *patientSource) bool { return p.p.BirthDate != "" }); src != nil {
		d.BirthDate = ParseDate(src.p.BirthDate)
		differ("date of birth", src, func(p *patientSource) string { return ParseDate(p.p.BirthDate).String() })
	}
	if src := first(func(p *patientSource) bool { return p.p.Gender != "" }); src != nil {
		d.Gender = src.p.Gender
		differ("gender", src, func(p *patientSource) string { return p.p.Gender })
	}
	if src := first(func(p *patientSource) bool { return p.deceasedKnown() }); src != nil {
		d.Deceased, d.DeceasedOn = src.deceased()
		differ("deceased", src, func(p *patientSource) string { return p.deceasedText() })
	}
	if src := first(func(p *patientSource) bool { return len(p.p.Address) > 0 }); src != nil {
		for _, a := range src.p.Address {
			d.Addresses = append(d.Addresses, Address{Use: a.Use, Type: a.Type, Text: a.Text, Lines: a.Line,
				City: a.City, District: a.District, Postcode: a.PostalCode, Country: a.Country, Period: a.Period.period()})
		}
		if i := best(len(d.Addresses), func(i int) (bool, int) {
			return d.Addresses[i].Period.current(s.AsOf), addressRank(d.Addresses[i].Use)
		}); i >= 0 {
			d.Address = d.Addresses[i]
		}
		differ("postcode", src, func(p *patientSource) string { return p.postcode(s.AsOf) })
	}
	if src := first(func(p *patientSource) bool { return len(p.p.Telecom) > 0 }); src != nil {
		for _, t := range src.p.Telecom {
			cp := ContactPoint{Value: t.Value, Use: t.Use}
			switch t.System {
			case "phone", "sms":
				d.Phones = append(d.Phones, cp)
			case "email":
				d.Emails = append(d.Emails, cp)
			}
		}
	}
	for _, src := range srcs {
		for _, l := range src.p.Security {
			if l.System == confidentialitySystem && (l.Code == "R" || l.Code == "V") {
				d.Restricted = true
			}
		}
	}
	if src := first(func(p *patientSource) bool { return len(p.p.GeneralPractitioner) > 0 }); src != nil {
		s.gp(c, src.p.GeneralPractitioner)
		gpOf := func(p *patientSource) string {
			var g Summary
			g.gp(c, p.p.GeneralPractitioner)
			if g.GP.ODSCode != "" {
				return g.GP.ODSCode
			}
			return g.GP.Practice
		}
		differ("registered GP", src, gpOf)
	}
	d.Conflicts = conflicts
}

// DemographicConflict is a place where two sources of one person's
// demographics disagree: the value shown, and the other.
type DemographicConflict struct {
	Field     string      `json:"field"` // "name", "date of birth", "gender", "deceased", "postcode", "registered GP"
	Shown     string      `json:"shown"`
	ShownFrom ResourceRef `json:"shown_from"`
	Other     string      `json:"other"`
	OtherFrom ResourceRef `json:"other_from"`
}

// String says it in one line: `date of birth: "22-Oct-2010" from
// Patient/9000000009 is shown; Patient/x says "23-Oct-2010"`.
func (c DemographicConflict) String() string {
	return fmt.Sprintf("%s: %q from %s is shown; %s says %q", c.Field, c.Shown, c.ShownFrom, c.OtherFrom, c.Other)
}

// Merge is the demographics rule applied to one person's Patient
// resources (see MergePatients).
type Merge struct {
	Patients  []Resource // best first
	FromPDS   bool       // the first is from the Personal Demographics Service
	Conflicts []DemographicConflict
}

// Report returns what an importer should tell a person about the merge:
// nothing for a single source; otherwise which source is shown first,
// then every conflict.
func (m Merge) Report() []string {
	if len(m.Patients) < 2 {
		return nil
	}
	first := m.Patients[0].Key()
	if m.FromPDS {
		first += " (PDS)"
	}
	out := []string{fmt.Sprintf("demographics of %d sources merged, %s first", len(m.Patients), first)}
	for _, c := range m.Conflicts {
		out = append(out, "sources disagree on "+c.String())
	}
	return out
}

// MergePatients applies the demographics rule to the Patient resources
// that several sources give for one person (one NHS number): it returns
// them best first, and every conflict between them, for an importer to
// report. The rule, which Summarise applies to every Patient of a record
// that carries the record's NHS number:
//
//  1. Sources are ranked: the Personal Demographics Service (PDS, the
//     national authority; see isPDSPatient for how it is recognised)
//     first; then the source giving more of name, date of birth, gender,
//     address, telecom, registered GP and death; then the most recently
//     updated (meta.lastUpdated); then by resource key.
//  2. Each part of the demographics (names, date of birth, gender, death,
//     addresses, telecom, registered GP) is taken whole from the
//     best-ranked source that gives it, so the banner is never empty
//     while any source has a name.
//  3. A restricted label (confidentiality R or V) on any source restricts
//     the whole record.
//  4. Where a lower-ranked source gives a different value for a part
//     (name, date of birth, gender, death, postcode, GP), that is a
//     conflict.
func MergePatients(patients []Resource, asOf time.Time) Merge {
	if len(patients) == 0 {
		return Merge{}
	}
	ptrs := make([]*Resource, len(patients))
	for i := range patients {
		ptrs[i] = &patients[i]
	}
	srcs := rankSources(ptrs, "")
	m := Merge{Patients: make([]Resource, len(srcs)), FromPDS: srcs[0].pds}
	for i, src := range srcs {
		m.Patients[i] = *src.r
	}
	rec := &PatientRecord{Key: m.Patients[0].Key(), Resources: m.Patients}
	s := &Summary{AsOf: asOf}
	s.demographics(newSumContext(rec), ptrs, rec)
	m.Conflicts = s.Demographics.Conflicts
	return m
}

// patientSource is one Patient resource of a person, read.
type patientSource struct {
	r       *Resource
	ref     ResourceRef
	p       fhirPatient
	pds     bool
	score   int // how many groups of demographics it gives
	updated Date
	names   []HumanName
}

func newPatientSource(r *Resource) *patientSource {
	src := &patientSource{r: r, ref: refOf(r), p: readPatient(r.Raw)}
	p := &src.p
	src.pds = isPDSPatient(r.ID, p)
	src.updated = ParseDate(p.LastUpdated)
	for i := range p.Name {
		src.names = append(src.names, humanName(&p.Name[i]))
	}
	for _, has := range []bool{src.bannerName(time.Time{}) != "", p.BirthDate != "", p.Gender != "", len(p.Address) > 0,
		len(p.Telecom) > 0, len(p.GeneralPractitioner) > 0, src.deceasedKnown()} {
		if has {
			src.score++
		}
	}
	return src
}

// bannerName is the name the banner would show from this source alone.
func (p *patientSource) bannerName(asOf time.Time) string {
	i := best(len(p.names), func(i int) (bool, int) {
		rank := nameRank(p.names[i].Use)
		if p.names[i].String() == "" {
			rank += 10
		}
		return p.names[i].Period.current(asOf), rank
	})
	if i < 0 {
		return ""
	}
	return p.names[i].String()
}

func (p *patientSource) postcode(asOf time.Time) string {
	i := best(len(p.p.Address), func(i int) (bool, int) {
		return p.p.Address[i].Period.period().current(asOf), addressRank(p.p.Address[i].Use)
	})
	if i < 0 {
		return ""
	}
	return NormalisePostcode(p.p.Address[i].PostalCode)
}

func (p *patientSource) deceasedKnown() bool {
	return p.p.DeceasedDateTime != "" || p.p.DeceasedBoolean != nil
}

func (p *patientSource) deceased() (bool, Date) {
	if p.p.DeceasedDateTime != "" {
		return true, ParseDate(p.p.DeceasedDateTime)
	}
	return p.p.DeceasedBoolean != nil && *p.p.DeceasedBoolean, Date{}
}

func (p *patientSource) deceasedText() string {
	if !p.deceasedKnown() {
		return ""
	}
	switch dead, on := p.deceased(); {
	case !dead:
		return "not deceased"
	case on.IsZero() && on.Text == "":
		return "deceased"
	default:
		return "deceased " + on.DateOnly()
	}
}

// rankSources orders a person's Patient resources by the demographics
// rule: the national demographics service (PDS) first, then the one that
// gives more of the demographics, then the most recently updated, then
// the record's own Patient, then by key, so the order is the same on
// every run.
func rankSources(patients []*Resource, ownKey string) []*patientSource {
	srcs := make([]*patientSource, len(patients))
	for i, r := range patients {
		srcs[i] = newPatientSource(r)
	}
	sort.SliceStable(srcs, func(i, j int) bool {
		a, b := srcs[i], srcs[j]
		switch {
		case a.pds != b.pds:
			return a.pds
		case a.score != b.score:
			return a.score > b.score
		case !a.updated.Time.Equal(b.updated.Time):
			return newer(a.updated, b.updated)
		case (a.r.Key() == ownKey) != (b.r.Key() == ownKey):
			return a.r.Key() == ownKey
		}
		return a.r.Key() < b.r.Key()
	})
	return srcs
}

// PDS is recognised by what its responses carry (see isPDSPatient).
const (
	pdsSourceWord   = "personal-demographics"
	pdsExtensionURL = "https://fhir.nhs.uk/StructureDefinition/Extension-PDS-"
	nhsVerifiedURL  = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)

// isPDSPatient reports whether a Patient came from the Personal
// Demographics Service, the national authority for demographics. PDS
// responses carry no meta.source or profile saying so, so it is told by
// any of:
//   - meta.source naming the service ("personal-demographics", as in the
//     API's address https://api.service.nhs.uk/personal-demographics/...),
//     or a meta.profile on fhir.nhs.uk naming PDS;
//   - an extension defined by PDS (https://fhir.nhs.uk/StructureDefinition/Extension-PDS-...);
//   - the shape every PDS response has: the resource id is the NHS number
//     itself, and that identifier carries the UK Core NHS number
//     verification status extension.
func isPDSPatient(id string, p *fhirPatient) bool {
	if strings.Contains(strings.ToLower(p.MetaSource), pdsSourceWord) {
		return true
	}
	for _, u := range p.Profiles {
		if strings.HasPrefix(u, "https://fhir.nhs.uk/") && strings.Contains(u, "PDS") {
			return true
		}
	}
	for _, u := range p.ExtensionURLs {
		if strings.HasPrefix(u, pdsExtensionURL) {
			return true
		}
	}
	if p.NHS == "" || id != p.NHS {
		return false
	}
	for _, u := range p.IDExtensionURLs {
		if u == nhsVerifiedURL {
			return true
		}
	}
	return false
}

// isSourceOf reports whether a Patient resource in rec describes rec's
// patient: it is the record's own Patient, or it carries the record's
// (real, not assigned) NHS number, as a second source of the same person
// does in the documents the server builds.
func isSourceOf(r *Resource, rec *PatientRecord) bool {
	if r.Key() == rec.Key {
		return true
	}
	if rec.NHS.IsZero() || rec.NHSAssigned {
		return false
	}
	h := readIdentity(r.Raw)
	v, ok := h.nhsIdentifier()
	if !ok {
		return false
	}
	n, err := ParseNHSNumber(v)
	return err == nil && n == rec.NHS
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
