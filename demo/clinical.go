package demo

// Problems, medicines and allergies.

// conditions writes the patient's problem list: long-term conditions by age
// and sex, a few resolved acute episodes, and for a small share one
// sensitive condition with security labels. Medicines follow the problems
// they treat.
func (g *gen) conditions() {
	band := bandOf(g.age)
	for ci := range chronics {
		c := &chronics[ci]
		if c.sex != "" && c.sex != g.sex {
			continue
		}
		if !g.chance(c.prev[band]) {
			continue
		}
		// Diagnosed some time in adult life (or childhood for children).
		earliest := 18
		if g.age < 18 || c.traits&startsYoung != 0 {
			earliest = 1
		}
		onsetAge := g.between(min(earliest, g.age), g.age)
		onset := g.birth + onsetAge*365 + g.r.IntN(365)
		if onset >= g.asOf {
			onset = g.asOf - g.between(1, 60)
		}
		status := c.status
		if status == "" {
			status = "active"
		}
		ref := g.condition(c.concept, status, onset, -1, nil)
		g.conds = append(g.conds, condRef{ref: ref, c: c.concept, chronic: ci, onset: onset, active: true})
		if c.traits&frail != 0 {
			g.frailty++
		}
		for k, m := range c.meds {
			if g.chance(c.medShare[k]) {
				g.statement(m, onset, ref, nil)
			}
		}
	}
	if g.age >= 80 {
		g.frailty++
	}

	for n := g.r.IntN(5) / 2; n > 0; n-- { // none for two in five, two for one in five
		ep := &episodes[g.r.IntN(len(episodes))]
		if ep.child && g.age > 16 && g.chance(.8) {
			continue
		}
		onset := g.daysAgo(20, min(365*12, max(20, g.age*365)))
		ref := g.condition(ep.concept, "resolved", onset, onset+g.between(5, 30), nil)
		g.conds = append(g.conds, condRef{ref: ref, c: ep.concept, chronic: -1, onset: onset})
		if ep.hasMed {
			g.request(ep.med, onset, ref, nil)
		}
	}

	// About 2.5% of adults have one item a clinician would not want shown
	// without a reason.
	if g.age >= 16 && g.chance(.025) {
		s := &sensitives[g.r.IntN(len(sensitives))]
		if g.age >= s.minAge {
			labels := []label{{actCodeSystem, s.label, s.labelDisplay}, restricted}
			onset := g.daysAgo(30, min(365*20, (g.age-s.minAge+1)*365))
			status, abate := "active", -1
			if s.label == "SEX" {
				status, abate = "resolved", onset+g.between(7, 21)
			}
			ref := g.condition(s.concept, status, onset, abate, labels)
			g.conds = append(g.conds, condRef{ref: ref, c: s.concept, chronic: -1, onset: onset, active: status == "active", labelled: true})
			if s.hasMed {
				if status == "active" {
					g.statement(s.med, onset, ref, labels)
				} else {
					g.request(s.med, onset, ref, labels)
				}
			}
		}
	}
}

// condition writes a Condition and returns its reference.
func (g *gen) condition(c concept, status string, onset, abatement int, labels []label) string {
	id, start := g.begin(kindCondition, "Condition")
	e := &g.e
	if labels != nil {
		e.securityMeta(labels...)
		g.t.labelled++
	}
	e.status("clinicalStatus", conditionClinicalSys, status)
	e.status("verificationStatus", conditionVerSys, "confirmed")
	e.category(conditionCatSys, "problem-list-item", "Problem List Item")
	e.coded("code", sctSystem, c, "")
	e.ref("subject", g.pref, "")
	e.date("onsetDateTime", onset)
	if abatement >= 0 {
		if abatement >= g.asOf {
			abatement = g.asOf - 1
		}
		e.date("abatementDateTime", abatement)
	}
	e.date("recordedDate", min(onset+g.r.IntN(14), g.asOf-1))
	g.finish("Condition", id, start)
	g.t.conditions++
	return "Condition/" + id
}

// statement writes a MedicationStatement for a long-term medicine.
func (g *gen) statement(m med, from int, reason string, labels []label) {
	id, start := g.begin(kindMedStatement, "MedicationStatement")
	e := &g.e
	if labels != nil {
		e.securityMeta(labels...)
		g.t.labelled++
	}
	started := min(from+g.r.IntN(60), g.asOf-1)
	status, end := "active", -1
	if p := g.r.IntN(100); p < 8 && started < g.asOf-90 {
		status, end = "stopped", g.between(started+30, g.asOf-1)
	} else if p < 12 && started < g.asOf-90 {
		status, end = "completed", g.between(started+30, g.asOf-1)
	}
	e.str("status", status)
	e.coded("medicationCodeableConcept", sctSystem, m.concept, "")
	e.ref("subject", g.pref, "")
	e.period("effectivePeriod", started, end)
	e.date("dateAsserted", max(started, g.asOf-g.between(1, 365)))
	if reason != "" {
		e.arr("reasonReference")
		e.open()
		e.str("reference", reason)
		e.close()
		e.end()
	}
	e.arr("dosage")
	e.open()
	e.str("text", m.dose)
	e.close()
	e.end()
	g.finish("MedicationStatement", id, start)
	g.t.meds++
}

// request writes a completed MedicationRequest for an acute course.
func (g *gen) request(m med, day int, reason string, labels []label) {
	id, start := g.begin(kindMedRequest, "MedicationRequest")
	e := &g.e
	if labels != nil {
		e.securityMeta(labels...)
		g.t.labelled++
	}
	e.str("status", "completed")
	e.str("intent", "order")
	e.coded("medicationCodeableConcept", sctSystem, m.concept, "")
	e.ref("subject", g.pref, "")
	e.dateTime("authoredOn", day, g.clockTime(false))
	ref, name := g.gp()
	e.ref("requester", ref, name)
	e.arr("reasonReference")
	e.open()
	e.str("reference", reason)
	e.close()
	e.end()
	e.arr("dosageInstruction")
	e.open()
	e.str("text", m.dose)
	e.close()
	e.end()
	if m.days > 0 {
		e.obj("dispenseRequest")
		e.obj("expectedSupplyDuration")
		e.dec("value", float64(m.days), 0)
		e.str("unit", "days")
		e.str("system", ucumSystem)
		e.str("code", "d")
		e.close()
		e.close()
	}
	g.finish("MedicationRequest", id, start)
	g.t.meds++
}

// allergies writes real allergies for about a fifth of patients, an
// explicit "no known allergy" for most of the rest, and nothing at all for
// the remaining few, so a screen meets all three cases.
func (g *gen) allergies() {
	if !g.chance(.2) {
		if g.chance(.92) {
			g.noKnownAllergy()
		} else {
			g.t.allergyUnknown++
		}
		return
	}
	n := 1
	if p := g.r.IntN(100); p < 8 {
		n = 3
	} else if p < 30 {
		n = 2
	}
	seen := 0
	for ; n > 0; n-- {
		w := g.r.IntN(allergenTotal)
		ai := 0
		for ai = range allergens {
			if w < allergens[ai].weight {
				break
			}
			w -= allergens[ai].weight
		}
		if seen&(1<<ai) != 0 {
			continue
		}
		seen |= 1 << ai
		g.allergy(&allergens[ai])
	}
}

func (g *gen) allergy(a *allergen) {
	id, start := g.begin(kindAllergy, "AllergyIntolerance")
	e := &g.e
	rx := &reactions[a.reactions[g.r.IntN(len(a.reactions))]]
	e.status("clinicalStatus", allergyClinicalSys, "active")
	verification := "confirmed"
	if g.chance(.15) {
		verification = "unconfirmed"
	}
	e.status("verificationStatus", allergyVerSys, verification)
	typ := "allergy"
	if a.intolerance && rx.severity != "severe" {
		typ = "intolerance"
	}
	e.str("type", typ)
	e.arr("category")
	e.strElem(a.category)
	e.end()
	crit := "low"
	switch {
	case rx.severity == "severe":
		crit = "high"
	case verification == "unconfirmed":
		crit = "unable-to-assess"
	}
	e.str("criticality", crit)
	e.coded("code", sctSystem, a.concept, "")
	e.ref("patient", g.pref, "")
	onset := g.daysAgo(60, max(60, g.age*365))
	e.date("onsetDateTime", onset)
	e.date("recordedDate", min(onset+g.r.IntN(30), g.asOf-1))
	e.arr("reaction")
	e.open()
	e.arr("manifestation")
	e.codedElem(sctSystem, rx.concept, "")
	e.end()
	e.str("severity", rx.severity)
	e.close()
	e.end()
	g.finish("AllergyIntolerance", id, start)
	g.t.allergies++
}

func (g *gen) noKnownAllergy() {
	id, start := g.begin(kindAllergy, "AllergyIntolerance")
	e := &g.e
	e.status("clinicalStatus", allergyClinicalSys, "active")
	e.status("verificationStatus", allergyVerSys, "confirmed")
	e.coded("code", sctSystem, noKnownAllergy, "")
	e.ref("patient", g.pref, "")
	e.date("recordedDate", g.daysAgo(30, max(30, min(g.age, 20)*365)))
	g.finish("AllergyIntolerance", id, start)
	g.t.nka++
}
