package demo

// Shared resources: the organisations and GPs every patient's record points
// at. They do not depend on the seed, so data sets made with different seeds
// can be loaded side by side.

func sharedResources() []Resource {
	g := &gen{e: enc{buf: make([]byte, 0, 256<<10)}}
	var out []Resource
	emit := func(typ, id string, body func(e *enc)) {
		start := len(g.e.buf)
		g.e.comma = false
		g.e.open()
		g.e.str("resourceType", typ)
		g.e.str("id", id)
		body(&g.e)
		g.e.close()
		end := len(g.e.buf)
		out = append(out, Resource{Type: typ, ID: id, JSON: g.e.buf[start:end:end]})
	}
	org := func(id, ods, name, line, city, post, phone, orgType string) {
		emit("Organization", id, func(e *enc) {
			e.arr("identifier")
			e.open()
			e.str("system", odsSystem)
			e.str("value", ods)
			e.close()
			e.end()
			e.bool("active", true)
			e.arr("type")
			e.open()
			e.str("text", orgType)
			e.close()
			e.end()
			e.str("name", name)
			e.arr("telecom")
			e.open()
			e.str("system", "phone")
			e.str("value", phone)
			e.str("use", "work")
			e.close()
			e.end()
			e.arr("address")
			e.open()
			e.arr("line")
			e.strElem(line)
			e.end()
			e.str("city", city)
			e.str("postalCode", post)
			e.close()
			e.end()
		})
	}
	for i := range practices {
		p := &practices[i]
		org(p.id, p.ods, p.name, p.line, p.town.name, p.post, p.phone, "GP practice")
	}
	for i, h := range hospitals {
		org(hospitalID(i), h.ods, h.name, "Hospital Road", h.town, hospitalPostcode(h), "01632 960"+pad3(100+i), "Acute hospital")
	}
	org(communityID(), communityProvider.ods, communityProvider.name, "Community House", communityProvider.town, "ME14 5ZZ", "01632 960199", "Community health services")
	for i, gp := range gpNames {
		emit("Practitioner", practitionerID(i), func(e *enc) {
			e.bool("active", true)
			e.arr("name")
			e.open()
			e.str("family", gp.family)
			e.arr("given")
			e.strElem(gp.given)
			e.end()
			e.arr("prefix")
			e.strElem("Dr")
			e.end()
			e.close()
			e.end()
			e.arr("telecom")
			e.open()
			e.str("system", "phone")
			e.str("value", "01632 960"+pad3(300+i))
			e.str("use", "work")
			e.close()
			e.end()
			e.str("gender", gp.gender)
		})
	}
	return out
}

func hospitalPostcode(h provider) string {
	for _, t := range towns {
		if t.name == h.town {
			return t.districts[0] + " 4ZZ"
		}
	}
	return ""
}
