package demo

import (
	"math/rand/v2"

	"kmcr/record"
)

// gen generates one patient at a time. A worker keeps one and reuses its
// buffers; nothing in it outlives the patient except through res.
type gen struct {
	seed  uint64
	key   uint64 // id key
	asOf  int    // reference day
	pcg   *rand.PCG
	r     *rand.Rand
	e     enc
	res   []Resource
	count [kindPractitioner + 1]int
	t     tally

	// The patient being generated.
	index    int
	pid      string
	pref     string // "Patient/<id>"
	nhs      record.NHSNumber
	sex      string
	age      int
	birth    int
	given    string
	family   string
	prac     *practice
	hospital int
	town     *town
	group    *nameGroup

	// What has been generated so far, for later resources to refer to.
	conds    []condRef
	frailty  int  // rough count of frailty markers: drives community visits, falls, DNACPR
	terminal bool // in the last months of life: gets an end-of-life care plan
}

type condRef struct {
	ref      string
	c        concept
	chronic  int // index into chronics, or -1
	onset    int
	active   bool
	labelled bool
}

func newGen(seed uint64, asOf int) *gen {
	pcg := rand.NewPCG(0, 0)
	return &gen{
		seed: seed,
		key:  idKey(seed),
		asOf: asOf,
		pcg:  pcg,
		r:    rand.New(pcg),
		e:    enc{buf: make([]byte, 0, 16<<10)},
	}
}

// reset prepares for patient i: a fresh random stream seeded from (seed, i)
// only, so patients can be made in any order on any goroutine and come out
// the same, and empty buffers. Resources from the previous patient must
// have been copied out by then.
func (g *gen) reset(i int) {
	g.pcg.Seed(mix(g.seed^domainRand), mix(mix(uint64(i))^g.seed))
	g.e.buf = g.e.buf[:0]
	g.e.comma = false
	g.res = g.res[:0]
	g.count = [len(g.count)]int{}
	g.t = tally{}
	g.index = i
	g.conds = g.conds[:0]
	g.frailty = 0
	g.terminal = false
}

// begin starts a resource of kind k and returns its id.
func (g *gen) begin(k kind, typ string) (id string, start int) {
	id = makeID(g.key, g.index, k, g.count[k])
	g.count[k]++
	start = len(g.e.buf)
	g.e.comma = false
	g.e.open()
	g.e.str("resourceType", typ)
	g.e.str("id", id)
	return id, start
}

// finish ends the resource begun at start.
func (g *gen) finish(typ, id string, start int) {
	g.e.close()
	end := len(g.e.buf)
	g.res = append(g.res, Resource{Type: typ, ID: id, JSON: g.e.buf[start:end:end]})
	g.t.bytes += end - start
}

// Random helpers.

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

// between returns an int in [lo, hi].
func (g *gen) between(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + g.r.IntN(hi-lo+1)
}

// normal returns a normally distributed value, clamped to [lo, hi].
func (g *gen) normal(mean, sd, lo, hi float64) float64 {
	v := mean + sd*g.r.NormFloat64()
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// daysAgo returns a day in [asOf-hi, asOf-lo], never before birth.
func (g *gen) daysAgo(lo, hi int) int {
	if hi > g.asOf-g.birth {
		hi = g.asOf - g.birth
	}
	if lo > hi {
		lo = hi
	}
	return g.asOf - g.between(lo, hi)
}

// clockTime returns seconds into a day in working hours or, for
// emergencies, at any hour.
func (g *gen) clockTime(anyHour bool) int {
	if anyHour {
		return g.r.IntN(86400)
	}
	return 8*3600 + g.r.IntN(10*3600)
}

// gp picks one of the patient's practice's GPs and returns a reference to
// them and their name as displayed.
func (g *gen) gp() (ref, display string) {
	i := g.prac.gps[g.r.IntN(len(g.prac.gps))]
	return "Practitioner/" + practitionerID(i), "Dr " + gpNames[i].given + " " + gpNames[i].family
}
