package demo

import (
	"strconv"
	"strings"

	"kmcr/record"
)

// Age bands (lower bound, upper bound inclusive, weight). Weighted towards
// older people: they are most of the people a shared care record is opened
// for, and most of its data.
var ageBands = []struct{ lo, hi, weight int }{ // weights per thousand
	{0, 17, 120}, {18, 39, 180}, {40, 59, 220}, {60, 74, 240}, {75, 89, 190}, {90, 97, 47}, {98, 104, 3},
}

// patient generates everything for patient i into g.res.
func (g *gen) patient(i int) {
	g.reset(i)
	g.pid = makeID(g.key, i, kindPatient, 0)
	g.pref = "Patient/" + g.pid
	g.nhs = NHSNumber(g.seed, i)
	g.demographics()
	g.writePatient()
	g.conditions()
	g.allergies()
	g.encounters()
	g.wearable()
	g.flags()
	g.carePlans()
	g.immunizations()
}

func (g *gen) demographics() {
	w := g.r.IntN(1000)
	for _, b := range ageBands {
		if w < b.weight {
			g.age = g.between(b.lo, b.hi)
			break
		}
		w -= b.weight
	}
	g.birth = g.asOf - g.age*365 - g.age/4 - g.r.IntN(365)

	switch p := g.r.IntN(1000); {
	case p < 510:
		g.sex = "female"
	case p < 998:
		g.sex = "male"
	case p < 999:
		g.sex = "other"
	default:
		g.sex = "unknown"
	}

	w = g.r.IntN(nameGroupTotal)
	for k := range nameGroups {
		if w < nameGroups[k].weight {
			g.group = &nameGroups[k]
			break
		}
		w -= nameGroups[k].weight
	}
	grp := g.group
	era := eraOf(yearOf(g.birth))
	givens := grp.male[era]
	female := g.sex == "female" || (g.sex != "male" && g.chance(.5))
	if female {
		givens = grp.female[era]
	}
	g.given = g.pick(givens)
	fi := g.r.IntN(len(grp.family))
	g.family = grp.family[fi]
	if female && grp.familyFemale != nil {
		g.family = grp.familyFemale[fi]
	}
	if grp == &nameGroups[0] && g.chance(.03) {
		other := g.pick(grp.family)
		if other != g.family && !strings.Contains(other, "-") && !strings.Contains(g.family, "-") {
			g.family += "-" + other
		}
	}

	w = g.r.IntN(townTotal)
	ti := 0
	for ti = range towns {
		if w < towns[ti].weight {
			break
		}
		w -= towns[ti].weight
	}
	g.town = &towns[ti]
	local := practicesByTown[ti]
	if len(local) > 0 && g.chance(.9) {
		g.prac = &practices[local[g.r.IntN(len(local))]]
	} else {
		g.prac = &practices[g.r.IntN(len(practices))]
	}
}

// title returns a courtesy title for adults.
func (g *gen) title() string {
	if g.age < 16 {
		return ""
	}
	switch {
	case g.chance(.015):
		return "Dr"
	case g.sex == "female" && g.age < 25:
		return "Miss"
	case g.sex == "female":
		return g.pick(femaleTitles)
	case g.sex == "male":
		return "Mr"
	}
	return "Mx"
}

func (g *gen) postcode(outward string) string {
	b := make([]byte, 0, 8)
	b = append(b, outward...)
	b = append(b, ' ', byte('0'+g.r.IntN(10)),
		postcodeUnitLetters[g.r.IntN(len(postcodeUnitLetters))],
		postcodeUnitLetters[g.r.IntN(len(postcodeUnitLetters))])
	return string(b)
}

// landline and mobile are in Ofcom's ranges reserved for drama
// (01632 960000-960999 and 07700 900000-900999), so no real line is dialled.
func (g *gen) landline() string { return "01632 960" + pad3(g.r.IntN(1000)) }
func (g *gen) mobile() string   { return "07700 900" + pad3(g.r.IntN(1000)) }

func pad3(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", 3-len(s)) + s
}

// writePatient writes the Patient resource, section by section in the
// order of its JSON. Each step draws from the generator in turn, so their
// order is part of the data set: moving one changes every patient after it.
func (g *gen) writePatient() {
	id, start := g.pid, len(g.e.buf)
	g.count[kindPatient]++
	e := &g.e
	e.comma = false
	e.open()
	e.str("resourceType", "Patient")
	e.str("id", id)
	g.patientMeta()
	g.patientIdentifier()
	e.bool("active", true)
	g.patientName()
	g.patientTelecom()
	e.str("gender", g.sex)
	e.date("birthDate", g.birth)
	g.patientAddress()
	g.patientLanguage()
	if g.age < 16 || (g.age >= 65 && g.chance(.6)) {
		g.contact()
	}
	g.patientPractice()
	g.finish("Patient", id, start)
}

// patientMeta writes the version, last update and UK Core profile.
func (g *gen) patientMeta() {
	e := &g.e
	e.obj("meta")
	e.str("versionId", "1")
	e.dateTime("lastUpdated", g.daysAgo(1, 400), g.clockTime(false))
	e.arr("profile")
	e.strElem("https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient")
	e.end()
	e.close()
}

// patientIdentifier writes the NHS number with its verification status
// (almost always verified, as PDS-traced numbers are).
func (g *gen) patientIdentifier() {
	e := &g.e
	e.arr("identifier")
	e.open()
	e.arr("extension")
	e.open()
	e.str("url", nhsVerifyExtURL)
	e.obj("valueCodeableConcept")
	e.arr("coding")
	if g.chance(.99) {
		e.codingElem(nhsVerifySystem, "01", "Number present and verified")
	} else {
		e.codingElem(nhsVerifySystem, "02", "Number present but not traced")
	}
	e.end()
	e.close()
	e.close()
	e.end()
	e.str("system", record.NHSNumberSystem)
	e.str("value", g.nhs.Digits())
	e.close()
	e.end()
}

// patientName writes the official name: family, given (sometimes a middle
// name of the same era and sex) and a title.
func (g *gen) patientName() {
	e := &g.e
	e.arr("name")
	e.open()
	e.str("use", "official")
	e.str("family", g.family)
	e.arr("given")
	e.strElem(g.given)
	if g.chance(.45) {
		givens := g.group.female[eraOf(yearOf(g.birth))]
		if g.sex == "male" {
			givens = g.group.male[eraOf(yearOf(g.birth))]
		}
		if m := g.pick(givens); m != g.given {
			e.strElem(m)
		}
	}
	e.end()
	if t := g.title(); t != "" {
		e.arr("prefix")
		e.strElem(t)
		e.end()
	}
	e.close()
	e.end()
}

// patientTelecom writes a landline (more likely for older people), a
// mobile (less likely for the very old), and a landline when neither.
func (g *gen) patientTelecom() {
	e := &g.e
	e.arr("telecom")
	n := 0
	if g.age >= 18 && g.chance(map2(g.age >= 50, .7, .3)) {
		g.telecom("phone", g.landline(), "home", n)
		n++
	}
	if g.age >= 12 && g.chance(map2(g.age < 85, .88, .5)) {
		g.telecom("phone", g.mobile(), "mobile", n)
		n++
	}
	if n == 0 {
		g.telecom("phone", g.landline(), "home", n)
	}
	e.end()
}

// patientAddress writes the home address in the patient's town, and picks
// the hospital that serves its postcode district.
func (g *gen) patientAddress() {
	e := &g.e
	outward := g.pick(g.town.districts)
	g.hospital = hospitalFor(outward)
	e.arr("address")
	e.open()
	e.str("use", "home")
	e.arr("line")
	street := strconv.Itoa(g.between(1, 220)) + " " + g.pick(streets)
	if g.chance(.1) {
		e.strElem("Flat " + strconv.Itoa(g.between(1, 40)))
		e.strElem(g.pick(buildings) + ", " + g.pick(streets))
	} else {
		e.strElem(street)
	}
	e.end()
	e.str("city", g.town.name)
	e.str("district", g.town.area)
	e.str("postalCode", g.postcode(outward))
	e.close()
	e.end()
}

// patientLanguage writes, for some of a community with a first language
// other than English, that language as preferred and sometimes that an
// interpreter is needed.
func (g *gen) patientLanguage() {
	if g.group.language == "" || !g.chance(g.group.langShare) {
		return
	}
	e := &g.e
	if g.chance(.4) {
		e.arr("extension")
		e.open()
		e.str("url", interpreterExtURL)
		e.bool("valueBoolean", true)
		e.close()
		e.end()
	}
	e.arr("communication")
	e.open()
	e.obj("language")
	e.arr("coding")
	e.codingElem(bcp47System, g.group.language, g.group.languageName)
	e.end()
	e.close()
	e.bool("preferred", true)
	e.close()
	e.end()
}

// patientPractice writes the registered GP practice, which also manages
// the record.
func (g *gen) patientPractice() {
	e := &g.e
	e.arr("generalPractitioner")
	g.practiceRefElem()
	e.end()
	e.obj("managingOrganization")
	e.str("reference", "Organization/"+g.prac.id)
	e.str("display", g.prac.name)
	e.close()
}

func map2(cond bool, a, b float64) float64 {
	if cond {
		return a
	}
	return b
}

func (g *gen) telecom(system, value, use string, rank int) {
	e := &g.e
	e.open()
	e.str("system", system)
	e.str("value", value)
	e.str("use", use)
	e.int("rank", rank+1)
	e.close()
}

// contact writes a next of kin: a parent for children, a spouse, child or
// friend for older people.
func (g *gen) contact() {
	e := &g.e
	grp := g.group
	era := eraOf(yearOf(g.birth))
	if g.age < 16 {
		era = era1960to1989
	}
	var given string
	if g.chance(.6) {
		given = g.pick(grp.female[era])
	} else {
		given = g.pick(grp.male[era])
	}
	e.arr("contact")
	e.open()
	e.arr("relationship")
	e.open()
	e.arr("coding")
	e.codingElem(v2RelationshipSystem, "N", "Next-of-Kin")
	e.end()
	switch {
	case g.age < 16:
		e.str("text", "Parent")
	case g.chance(.5):
		e.str("text", "Daughter")
	case g.chance(.5):
		e.str("text", "Son")
	default:
		e.str("text", "Spouse")
	}
	e.close()
	e.end()
	e.obj("name")
	e.str("family", g.family)
	e.arr("given")
	e.strElem(given)
	e.end()
	e.close()
	e.arr("telecom")
	g.telecom("phone", g.mobile(), "mobile", 0)
	e.end()
	e.close()
	e.end()
}

func (g *gen) practiceRefElem() {
	e := &g.e
	e.open()
	e.str("reference", "Organization/"+g.prac.id)
	e.obj("identifier")
	e.str("system", odsSystem)
	e.str("value", g.prac.ods)
	e.close()
	e.str("display", g.prac.name)
	e.close()
}
