package demo

// Alerts, care plans and immunisations.

// flags writes the alerts a paramedic looks for first: advance decisions
// about resuscitation (mostly for the old and frail), falls risk,
// safeguarding concerns, and key-safe access.
func (g *gen) flags() {
	decision := 0.0
	switch {
	case g.age >= 85:
		decision = .25
	case g.age >= 75:
		decision = .08
	case g.age >= 65:
		decision = .02
	case g.age >= 18:
		decision = .002
	}
	decision += .12 * float64(g.frailty)
	if g.chance(decision) {
		start := g.daysAgo(7, 3*365)
		if g.chance(.6) {
			g.flag("advance-directive", "Advance Directive", flagDNACPR,
				"DNACPR: do not attempt cardiopulmonary resuscitation", start)
		} else {
			text := "ReSPECT form completed: recommended for CPR; for full escalation of treatment"
			if g.age >= 75 || g.frailty > 0 {
				text = "ReSPECT form completed: not for CPR; ward-based care, not for intensive care"
			}
			g.flag("advance-directive", "Advance Directive", concept{"", text}, "", start)
		}
		g.t.decisions++
		g.terminal = g.age >= 75 && g.chance(.3)
	}
	falls := 0.0
	if g.age >= 75 {
		falls = .2
	} else if g.age >= 65 {
		falls = .05
	}
	if g.chance(falls + .15*float64(g.frailty)) {
		g.flag("safety", "Safety", flagFalls, "", g.daysAgo(7, 2*365))
	}
	if g.chance(map2(g.age < 18, .02, .01)) {
		text := "Safeguarding concern: adult at risk. Contact the safeguarding team before sharing address details."
		if g.age < 18 {
			text = "Safeguarding: child subject to a child protection plan. Inform the named social worker of any attendance."
		}
		g.flag("safety", "Safety", concept{"", text}, "", g.daysAgo(7, 2*365))
	}
	if g.age >= 80 && g.chance(.25) {
		g.flag("admin", "Administrative", concept{"", "Key safe at property; code held by the care agency"}, "", g.daysAgo(7, 3*365))
	}
}

func (g *gen) flag(cat, catDisplay string, c concept, text string, start int) {
	id, begin := g.begin(kindFlag, "Flag")
	e := &g.e
	e.str("status", "active")
	e.category(flagCategorySystem, cat, catDisplay)
	e.coded("code", sctSystem, c, text)
	e.ref("subject", g.pref, "")
	e.period("period", start, -1)
	e.ref("author", "Organization/"+g.prac.id, g.prac.name)
	g.finish("Flag", id, begin)
	g.t.flags++
}

// carePlans writes plans for some of those whose conditions call for one,
// and an end-of-life plan for some people with an advance decision.
func (g *gen) carePlans() {
	for _, c := range g.conds {
		if c.chronic < 0 {
			continue
		}
		cp := chronics[c.chronic].carePlan
		if cp < 0 || !g.chance(.5) {
			continue
		}
		g.carePlan(&carePlans[cp], c.ref, max(c.onset, g.asOf-3*365)+g.r.IntN(60))
	}
	if g.terminal {
		g.carePlan(&carePlans[1], "", g.daysAgo(7, 180))
		g.statement(medMorphineMR, g.daysAgo(7, 90), "", nil)
	}
}

func (g *gen) carePlan(def *carePlanDef, addresses string, start int) {
	if start >= g.asOf {
		start = g.asOf - 1
	}
	id, begin := g.begin(kindCarePlan, "CarePlan")
	e := &g.e
	status, end := "active", -1
	if def != &carePlans[1] && start < g.asOf-400 && g.chance(.15) {
		status, end = "completed", g.between(start+180, g.asOf-1)
	}
	e.str("status", status)
	e.str("intent", "plan")
	e.arr("category")
	e.codedElem(sctSystem, def.category, "")
	e.end()
	e.str("title", def.title)
	e.str("description", def.detail)
	e.ref("subject", g.pref, "")
	e.period("period", start, end)
	e.date("created", start)
	e.ref("author", "Organization/"+g.prac.id, g.prac.name)
	if addresses != "" {
		e.arr("addresses")
		e.open()
		e.str("reference", addresses)
		e.close()
		e.end()
	}
	e.arr("activity")
	e.open()
	e.obj("detail")
	e.coded("code", sctSystem, def.activity, "")
	e.str("status", "in-progress")
	e.close()
	e.close()
	e.end()
	g.finish("CarePlan", id, begin)
	g.t.carePlans++
}

// immunizations writes the seasonal and once-only vaccines an older
// person is offered.
func (g *gen) immunizations() {
	if g.age < 65 {
		return
	}
	// The most recent autumn campaign that had started by the reference date.
	y, _, _ := civilFromDays(g.asOf)
	inSeason := func(fromDay, span int) int {
		d := daysFromCivil(y, 9, fromDay) + g.r.IntN(span)
		if d >= g.asOf {
			d = daysFromCivil(y-1, 9, fromDay) + g.r.IntN(span)
		}
		return d
	}
	if g.chance(.7) {
		g.immunization(vaccineFlu, inSeason(15, 60))
	}
	if g.age >= 75 && g.chance(.5) {
		g.immunization(vaccineCovid, inSeason(20, 50))
	}
	if g.chance(.35) {
		g.immunization(vaccinePneumo, g.birth+65*365+g.r.IntN(max(1, (g.age-64)*365)))
	}
}

func (g *gen) immunization(v concept, day int) {
	if day >= g.asOf {
		day = g.asOf - 1
	}
	id, begin := g.begin(kindImmunization, "Immunization")
	e := &g.e
	e.str("status", "completed")
	e.coded("vaccineCode", sctSystem, v, "")
	e.ref("patient", g.pref, "")
	e.dateTime("occurrenceDateTime", day, g.clockTime(false))
	e.bool("primarySource", true)
	lot := []byte{byte('A' + g.r.IntN(26)), byte('A' + g.r.IntN(26))}
	for k := 0; k < 4; k++ {
		lot = append(lot, byte('0'+g.r.IntN(10)))
	}
	e.str("lotNumber", string(lot))
	e.arr("performer")
	e.open()
	e.ref("actor", "Organization/"+g.prac.id, g.prac.name)
	e.close()
	e.end()
	g.finish("Immunization", id, begin)
	g.t.immunizations++
}
