package demo

// Encounters and the vital signs taken at them, and wearable readings the
// patient supplied.

// encounters writes GP appointments (class AMB), A&E attendances (EMER)
// and, for frail people, community nursing home visits (HH), each with the
// observations a clinician would record there.
func (g *gen) encounters() {
	active := 0
	for _, c := range g.conds {
		if c.chronic >= 0 {
			active++
		}
	}
	// GP appointments in the last year: more for people with more problems.
	nGP := g.between(0, 1) + min(active/2, 2)
	for ; nGP > 0; nGP-- {
		day, sec := g.daysAgo(1, 365), g.clockTime(false)
		typ := gpTypes[g.r.IntN(len(gpTypes))]
		reason := g.reason(true)
		ref, name := g.gp()
		enc := g.encounter("AMB", "ambulatory", typ, "", day, sec, sec+g.between(8, 20)*60, reason, ref, name,
			"Organization/"+g.prac.id, g.prac.name)
		g.vitals(enc, day, sec, false)
	}

	// At most two attendances in three years; a second is rarer.
	aeRate := [bands]float64{.1, .08, .1, .15, .3}[bandOf(g.age)]
	for tries := 0; tries < 2; tries++ {
		if !g.chance(aeRate / float64(1+2*tries)) {
			break
		}
		// From two days back, so a long night in A&E still ends before the
		// reference date.
		day, sec := g.daysAgo(2, 1095), g.clockTime(true)
		reason := aeReasons[g.r.IntN(len(aeReasons))]
		if g.age >= 75 && g.chance(.4) {
			reason = aeReasons[1] // falls dominate older people's attendances
		}
		h := hospitals[g.hospital]
		enc := g.encounter("EMER", "emergency", aeType, reason.display, day, sec, sec+g.between(90, 420)*60, "", "", "",
			"Organization/"+hospitalID(g.hospital), h.name)
		g.vitals(enc, day, sec, true)
	}

	if g.frailty >= 2 || (g.frailty == 1 && g.chance(.2)) {
		for n := g.between(1, 3); n > 0; n-- {
			day, sec := g.daysAgo(1, 90), g.clockTime(false)
			enc := g.encounter("HH", "home health", homeType, "", day, sec, sec+g.between(20, 45)*60, g.reason(true), "", "",
				"Organization/"+communityID(), communityProvider.name)
			g.homeVitals(enc, day, sec)
		}
	}
}

// reason returns a reference to one of the patient's conditions (chronic
// ones when chronicOnly), or "" if there is none.
func (g *gen) reason(chronicOnly bool) string {
	if len(g.conds) == 0 {
		return ""
	}
	c := g.conds[g.r.IntN(len(g.conds))]
	if c.labelled || (chronicOnly && c.chronic < 0) {
		return ""
	}
	return c.ref
}

// encounter writes an Encounter and returns its reference. end is in
// seconds from the start of day and may run past midnight.
func (g *gen) encounter(class, classDisplay string, typ concept, reasonText string, day, start, end int,
	reasonRef, practitioner, practitionerName, provider, providerName string) string {
	id, begin := g.begin(kindEncounter, "Encounter")
	e := &g.e
	e.str("status", "finished")
	e.obj("class")
	e.str("system", actCodeSystem)
	e.str("code", class)
	e.str("display", classDisplay)
	e.close()
	e.arr("type")
	e.codedElem(sctSystem, typ, "")
	e.end()
	e.ref("subject", g.pref, "")
	if practitioner != "" {
		e.arr("participant")
		e.open()
		e.ref("individual", practitioner, practitionerName)
		e.close()
		e.end()
	}
	e.obj("period")
	e.dateTime("start", day, start)
	e.dateTime("end", day+end/86400, end%86400)
	e.close()
	if reasonText != "" {
		e.arr("reasonCode")
		e.open()
		e.str("text", reasonText)
		e.close()
		e.end()
	}
	if reasonRef != "" {
		e.arr("reasonReference")
		e.open()
		e.str("reference", reasonRef)
		e.close()
		e.end()
	}
	e.ref("serviceProvider", provider, providerName)
	g.finish("Encounter", id, begin)
	g.t.encounters++
	return "Encounter/" + id
}

func (g *gen) has(code string) bool {
	for _, c := range g.conds {
		if c.c.code == code && c.active {
			return true
		}
	}
	return false
}

// vitals writes what is measured at an encounter: at A&E a NEWS2-style set; at the GP's, blood pressure at about half of visits and
// weight now and then.
func (g *gen) vitals(enc string, day, sec int, full bool) {
	sec += 5 * 60
	if !full {
		if g.chance(.4) {
			g.bloodPressure(enc, day, sec)
		}
		if g.chance(.15) {
			g.observation(vitalWeight, g.weight(), 1, enc, day, sec)
		}
		return
	}
	g.bloodPressure(enc, day, sec)
	g.observation(vitalHR, g.heartRate(), 0, enc, day, sec)
	g.observation(vitalRR, g.normal(16, 2.5, 10, 32), 0, enc, day, sec)
	g.observation(vitalSpO2, g.spO2(), 0, enc, day, sec)
	g.observation(vitalTemp, g.normal(36.8, 0.45, 35.2, 39.8), 1, enc, day, sec)
}

// homeVitals is what a community nurse records on a routine visit.
func (g *gen) homeVitals(enc string, day, sec int) {
	sec += 5 * 60
	g.bloodPressure(enc, day, sec)
	g.observation(vitalHR, g.heartRate(), 0, enc, day, sec)
	g.observation(vitalSpO2, g.spO2(), 0, enc, day, sec)
}

func (g *gen) heartRate() float64 {
	if g.has("49436004") { // atrial fibrillation
		return g.normal(92, 18, 50, 160)
	}
	return g.normal(78, 12, 42, 150)
}

func (g *gen) spO2() float64 {
	if g.has("13645005") { // COPD
		return g.normal(93, 1.5, 86, 97)
	}
	return g.normal(97, 1.2, 91, 100)
}

// weight is the patient's body weight, derived from stable traits so
// repeated readings agree to within normal variation.
func (g *gen) weight() float64 {
	base := 72.0
	if g.sex == "male" {
		base = 84
	}
	if g.age < 18 {
		base = 3.5 + float64(g.age)*3.4
	}
	if g.has("414916001") {
		base *= 1.3
	}
	return g.normal(base, base*0.12, 2.5, 220)
}

func (g *gen) observationHead(category, categoryDisplay string, v vital) {
	e := &g.e
	e.str("status", "final")
	e.category(obsCategorySystem, category, categoryDisplay)
	e.obj("code")
	e.arr("coding")
	e.codingElem(loincSystem, v.code, v.display)
	e.end()
	if v == vitalBP {
		// LOINC's display for the panel is long; clinicians say this.
		e.str("text", "Blood pressure")
	}
	e.close()
	e.ref("subject", g.pref, "")
}

// observation writes a clinician-measured vital sign.
func (g *gen) observation(v vital, value float64, prec int, enc string, day, sec int) {
	id, start := g.begin(kindObservation, "Observation")
	e := &g.e
	g.observationHead("vital-signs", "Vital Signs", v)
	e.ref("encounter", enc, "")
	e.dateTime("effectiveDateTime", day, sec)
	e.quantity("valueQuantity", value, prec, v.unit, v.ucum)
	g.finish("Observation", id, start)
	g.t.observations++
}

// bloodPressure writes a blood pressure panel, higher for people with
// hypertension and rising with age.
func (g *gen) bloodPressure(enc string, day, sec int) {
	sys, dia := 118+float64(g.age)*0.35, 76.0
	if g.has("38341003") {
		sys, dia = sys+18, dia+8
	}
	sys = g.normal(sys, 12, 85, 210)
	dia = g.normal(dia, 8, 45, min(sys-20, 125))
	id, start := g.begin(kindObservation, "Observation")
	e := &g.e
	g.observationHead("vital-signs", "Vital Signs", vitalBP)
	e.ref("encounter", enc, "")
	e.dateTime("effectiveDateTime", day, sec)
	e.arr("component")
	for _, c := range []struct {
		v   vital
		val float64
	}{{vitalSys, sys}, {vitalDia, dia}} {
		e.open()
		e.obj("code")
		e.arr("coding")
		e.codingElem(loincSystem, c.v.code, c.v.display)
		e.end()
		e.close()
		e.quantity("valueQuantity", c.val, 0, c.v.unit, c.v.ucum)
		e.close()
	}
	e.end()
	g.finish("Observation", id, start)
	g.t.observations++
}

// Wearables, all invented.
var wearables = []struct{ maker, model string }{
	{"Kestrel Wearables", "Kestrel Pulse 3"},
	{"Orbit Health", "Orbit Band 2"},
	{"Brightstep", "Brightstep Fit"},
	{"Medway Micro", "Wristwise HR"},
}

// wearable gives some patients a wrist-worn tracker whose resting heart
// rate and step counts they have shared over recent weeks. Each reading is
// an Observation with performer = the Patient, a device reference, and a
// patient-entered tag, so the product can show it apart from clinical data.
func (g *gen) wearable() {
	if g.age < 18 || g.age > 90 {
		return
	}
	share := [bands]float64{0, .36, .33, .27, .14}[bandOf(g.age)]
	if !g.chance(share) {
		return
	}
	w := wearables[g.r.IntN(len(wearables))]
	devID, start := g.begin(kindDevice, "Device")
	e := &g.e
	e.str("status", "active")
	e.str("manufacturer", w.maker)
	e.arr("deviceName")
	e.open()
	e.str("name", w.model)
	e.str("type", "user-friendly-name")
	e.close()
	e.end()
	e.obj("type")
	e.str("text", "Wrist-worn activity tracker")
	e.close()
	e.ref("patient", g.pref, "")
	g.finish("Device", devID, start)
	dev := "Device/" + devID

	weeks := g.between(2, 5)
	first := g.asOf - weeks*7
	rest := g.normal(66, 8, 48, 95)
	steps := g.normal(max(9000-float64(g.age)*60, 2500), 1800, 800, 16000)
	trend := g.normal(0, 0.25, -0.8, 0.8) // beats per minute per week: some improve, some drift up
	for day := first + g.r.IntN(3); day < g.asOf; day += g.between(4, 7) {
		wk := float64(day-first) / 7
		g.patientObservation(vitalHR, g.normal(rest+trend*wk, 2.5, 40, 120), dev, day, day, 6*3600+g.r.IntN(3*3600))
	}
	for day := first; day+7 <= g.asOf; day += 7 {
		g.patientObservation(vitalWeeklySteps, g.normal(steps*7, steps*0.9, 0, 140000), dev, day, day+6, 23*3600+59*60)
	}
	g.t.wearable++
}

// patientObservation writes one patient-entered reading. A reading over a
// period (steps) has effectivePeriod; a spot reading has effectiveDateTime.
func (g *gen) patientObservation(v vital, value float64, dev string, day, endDay, sec int) {
	id, start := g.begin(kindObservation, "Observation")
	e := &g.e
	e.obj("meta")
	e.arr("tag")
	e.codingElem(PatientEnteredTagSystem, PatientEnteredTagCode, "Patient entered")
	e.end()
	e.close()
	cat, catDisplay := "vital-signs", "Vital Signs"
	if v.code != vitalHR.code {
		cat, catDisplay = "activity", "Activity"
	}
	g.observationHead(cat, catDisplay, v)
	if endDay > day {
		e.obj("effectivePeriod")
		e.dateTime("start", day, 0)
		e.dateTime("end", endDay, sec)
		e.close()
	} else {
		e.dateTime("effectiveDateTime", day, sec)
	}
	e.arr("performer")
	e.open()
	e.str("reference", g.pref)
	e.close()
	e.end()
	e.quantity("valueQuantity", value, 0, v.unit, v.ucum)
	e.ref("device", dev, "")
	g.finish("Observation", id, start)
	g.t.observations++
	g.t.patientEntered++
}
