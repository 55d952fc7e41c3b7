package demo

import "fmt"

// town is a real Kent or Medway town with the postcode districts that
// cover it. Street names, house numbers and the inward half of each postcode
// are invented, so an address may by chance resemble a real one but does
// not describe anyone.
type town struct {
	name      string
	area      string   // Patient.address.district: "Kent" or "Medway"
	districts []string // outward codes
	weight    int      // rough relative population
	practices int      // GP practices in the generated directory
}

var towns = []town{
	{"Rochester", "Medway", []string{"ME1", "ME2"}, 6, 10},
	{"Strood", "Medway", []string{"ME2"}, 3, 4},
	{"Chatham", "Medway", []string{"ME4", "ME5"}, 7, 12},
	{"Gillingham", "Medway", []string{"ME7", "ME8"}, 8, 12},
	{"Rainham", "Medway", []string{"ME8"}, 4, 4},
	{"Hoo St Werburgh", "Medway", []string{"ME3"}, 1, 2},
	{"Maidstone", "Kent", []string{"ME14", "ME15", "ME16", "ME17"}, 12, 20},
	{"Aylesford", "Kent", []string{"ME20"}, 2, 3},
	{"Snodland", "Kent", []string{"ME6"}, 1, 2},
	{"West Malling", "Kent", []string{"ME19"}, 1, 2},
	{"Sittingbourne", "Kent", []string{"ME9", "ME10"}, 5, 9},
	{"Sheerness", "Kent", []string{"ME12"}, 3, 4},
	{"Faversham", "Kent", []string{"ME13"}, 2, 3},
	{"Canterbury", "Kent", []string{"CT1", "CT2", "CT4"}, 5, 10},
	{"Whitstable", "Kent", []string{"CT5"}, 3, 4},
	{"Herne Bay", "Kent", []string{"CT6"}, 3, 4},
	{"Birchington", "Kent", []string{"CT7"}, 1, 2},
	{"Westgate-on-Sea", "Kent", []string{"CT8"}, 1, 1},
	{"Margate", "Kent", []string{"CT9"}, 4, 8},
	{"Broadstairs", "Kent", []string{"CT10"}, 2, 3},
	{"Ramsgate", "Kent", []string{"CT11", "CT12"}, 4, 8},
	{"Sandwich", "Kent", []string{"CT13"}, 1, 2},
	{"Deal", "Kent", []string{"CT14"}, 3, 4},
	{"Dover", "Kent", []string{"CT15", "CT16", "CT17"}, 4, 7},
	{"Folkestone", "Kent", []string{"CT18", "CT19", "CT20"}, 5, 10},
	{"Hythe", "Kent", []string{"CT21"}, 2, 3},
	{"Royal Tunbridge Wells", "Kent", []string{"TN1", "TN2", "TN4"}, 5, 10},
	{"Tonbridge", "Kent", []string{"TN9", "TN10", "TN11"}, 4, 7},
	{"Sevenoaks", "Kent", []string{"TN13", "TN14", "TN15"}, 3, 6},
	{"Edenbridge", "Kent", []string{"TN8"}, 1, 1},
	{"Paddock Wood", "Kent", []string{"TN12"}, 1, 2},
	{"Cranbrook", "Kent", []string{"TN17"}, 1, 2},
	{"Ashford", "Kent", []string{"TN23", "TN24", "TN25", "TN26"}, 7, 12},
	{"Tenterden", "Kent", []string{"TN30"}, 1, 2},
	{"New Romney", "Kent", []string{"TN28", "TN29"}, 1, 2},
	{"Dartford", "Kent", []string{"DA1", "DA2"}, 6, 11},
	{"Greenhithe", "Kent", []string{"DA9"}, 1, 2},
	{"Swanscombe", "Kent", []string{"DA10"}, 1, 1},
	{"Gravesend", "Kent", []string{"DA11", "DA12"}, 6, 12},
	{"Longfield", "Kent", []string{"DA3"}, 1, 2},
}

var townTotal = func() int {
	t := 0
	for _, tw := range towns {
		t += tw.weight
	}
	return t
}()

var streets = []string{
	"High Street", "Church Road", "Station Road", "London Road", "Victoria Road", "Park Road", "Mill Lane",
	"Canterbury Street", "Queen Street", "King Street", "Orchard Way", "Hop Garden Close", "Oast View",
	"Maidstone Road", "Pilgrims Way", "Marine Parade", "Chalk Hill", "Cherry Tree Avenue", "Apple Close",
	"St Mary's Road", "St John's Close", "Castle View", "Watling Street", "Cobbles Lane", "Medway Gardens",
	"Bramley Crescent", "Cowdrey Close", "Darnley Road", "Harbour Street", "Dane Road", "Wealden Way",
	"Cinque Ports Avenue", "Romney Way", "Downs Road", "Valley Drive", "Sandgate Road", "Tollgate Close",
	"Oakwood Rise", "Kingfisher Walk", "Nelson Terrace", "Shipwrights Avenue", "Lower Rainham Road",
	"The Ridgeway", "Hawthorn Drive", "Beech Grove", "Lime Tree Walk", "Ship's Hill", "Smugglers Way",
}

// Buildings some addresses are flats in.
var buildings = []string{
	"Medway Court", "Riverside House", "Kingsway Mansions", "Oast House", "Harbour View", "Beacon Court",
	"Priory Lodge", "Bishop's Court", "Anchor Wharf", "Cedar House",
}

// postcodeUnitLetters are the letters allowed in the inward code (Royal Mail
// never uses C, I, K, M, O or V there).
const postcodeUnitLetters = "ABDEFGHJLNPQRSTUWXYZ"

// Practice name styles. Combined with a town or a local-sounding word they
// give names like "Rochester Health Centre" or "The Limes Surgery".
var (
	practiceTownStyles = []string{"%s Health Centre", "%s Medical Practice", "%s Medical Centre", "%s Family Practice", "%s Surgery"}
	practiceWords      = []string{
		"Limes", "Elms", "Grove", "Orchard", "Old Vicarage", "Old School", "Oaks", "Willows", "Beeches", "Priory",
		"Abbey", "Castle", "Harbour", "Station", "Market", "Riverside", "Parkside", "Hillside", "Meadows", "Oast",
		"Weald", "Downs", "Cedars", "Maples", "Mill", "Quay", "Chestnuts", "Hollies", "Poplars", "Bay",
	}
	practiceWordStyles = []string{"The %s Surgery", "The %s Practice", "The %s Medical Centre", "%s Surgery"}
)

// practice is one GP practice in the generated directory.
type practice struct {
	index   int
	ods     string // ODS-shaped code, e.g. "G82001"
	name    string
	town    *town
	line    string
	post    string
	phone   string
	id      string // FHIR id
	gps     []int  // indexes into gpNames
	hospIdx int    // nearest acute hospital
}

// practiceCount is the size of the directory: Kent and Medway has about
// 225 practices, and so does this.
var practiceCount = func() int {
	n := 0
	for _, t := range towns {
		n += t.practices
	}
	return n
}()

// acute and community providers. The names are invented (no real trust is
// named) and the codes only have the ODS shape.
type provider struct {
	ods, name, town string
	districts       []string // the patients it mostly serves, by outward code prefix
}

var hospitals = []provider{
	{"RK101", "Medway Valley Hospital", "Gillingham", []string{"ME1", "ME2", "ME3", "ME4", "ME5", "ME7", "ME8", "ME9", "ME10", "ME12"}},
	{"RK201", "Maidstone and Weald General Hospital", "Maidstone", []string{"ME6", "ME13", "ME14", "ME15", "ME16", "ME17", "ME18", "ME19", "ME20", "TN"}},
	{"RK301", "East Kent General Hospital", "Canterbury", []string{"CT"}},
	{"RK401", "North Kent Riverside Hospital", "Dartford", []string{"DA"}},
}

var communityProvider = provider{"RK901", "Kent and Medway Community Care", "Maidstone", nil}

// hospitalFor picks the acute hospital that serves an outward code.
func hospitalFor(outward string) int {
	best, bestLen := 0, 0
	for i, h := range hospitals {
		for _, d := range h.districts {
			if len(d) > bestLen && (outward == d || (len(d) == 2 && outward[:2] == d)) {
				best, bestLen = i, len(d)
			}
		}
	}
	return best
}

// Practitioners: a few GPs per practice, with invented names.
var gpNames = []struct{ given, family, gender string }{
	{"Helen", "Ashworth", "female"}, {"Rajiv", "Menon", "male"}, {"Catherine", "O'Dowd", "female"},
	{"Oluwaseun", "Adebayo", "male"}, {"Sarah", "Pennington", "female"}, {"Tomasz", "Wróbel", "male"},
	{"Priya", "Raman", "female"}, {"James", "Whitcombe", "male"}, {"Anika", "Gurung", "female"},
	{"Daniel", "Fairbrother", "male"}, {"Ngozi", "Eze", "female"}, {"Mark", "Kingsnorth", "male"},
	{"Fiona", "MacAulay", "female"}, {"Imran", "Qureshi", "male"}, {"Zoë", "Lambert-Hughes", "female"},
	{"Chukwuemeka", "Obi", "male"}, {"Eleanor", "Sage", "female"}, {"Harpreet", "Dhillon", "male"},
	{"Rebecca", "Stanhope", "female"}, {"Gareth", "Prosser", "male"}, {"Mei", "Lin", "female"},
	{"Andrew", "Fenwick", "male"}, {"Siobhán", "Kearney", "female"}, {"Kwabena", "Owusu", "male"},
	{"Lucy", "Tranter", "female"}, {"Stephen", "Ogilvie", "male"}, {"Aisha", "Malik", "female"},
	{"Richard", "Hollingsworth", "male"}, {"Joanna", "Nowicka", "female"}, {"Matthew", "Ellery", "male"},
	{"Hannah", "Brightwell", "female"}, {"Vikram", "Sethi", "male"}, {"Claire", "Dunmore", "female"},
	{"Peter", "Okonjo", "male"}, {"Laura", "Finch", "female"}, {"Edward", "Marchant", "male"},
}

// practices is the generated directory, the same for every seed so that data
// sets made with different seeds share their organisations.
var practices = buildPractices()

func buildPractices() []practice {
	ps := make([]practice, 0, practiceCount)
	used := map[string]bool{}
	h := uint64(domainShared)
	next := func(n int) int { h = mix(h); return int(h % uint64(n)) }
	for ti := range towns {
		t := &towns[ti]
		for k := 0; k < t.practices; k++ {
			var name string
			for attempt := 0; ; attempt++ {
				if k < len(practiceTownStyles) && attempt == 0 && next(3) > 0 {
					name = fmt.Sprintf(practiceTownStyles[k], t.name)
				} else {
					name = fmt.Sprintf(practiceWordStyles[next(len(practiceWordStyles))], practiceWords[next(len(practiceWords))])
				}
				if attempt >= 4 {
					// Common names recur across the county; the town tells them apart.
					name += ", " + t.name
				}
				if !used[name] {
					break
				}
			}
			used[name] = true
			i := len(ps)
			d := t.districts[next(len(t.districts))]
			p := practice{
				index: i,
				ods:   fmt.Sprintf("G82%03d", i+1),
				name:  name,
				town:  t,
				line:  fmt.Sprintf("%d %s", 1+next(180), streets[next(len(streets))]),
				post:  fmt.Sprintf("%s %d%c%c", d, next(10), postcodeUnitLetters[next(len(postcodeUnitLetters))], postcodeUnitLetters[next(len(postcodeUnitLetters))]),
				phone: fmt.Sprintf("01632 960%03d", next(1000)),
				id:    makeID(mix(domainShared), i, kindOrganization, 0),
			}
			p.hospIdx = hospitalFor(d)
			for g := 0; g < 2; g++ {
				p.gps = append(p.gps, (i*2+g)%len(gpNames))
			}
			ps = append(ps, p)
		}
	}
	return ps
}

// practicesByTown lists practice indexes per town, for registering patients
// near home.
var practicesByTown = func() [][]int {
	out := make([][]int, len(towns))
	for i := range practices {
		for ti := range towns {
			if practices[i].town == &towns[ti] {
				out[ti] = append(out[ti], i)
			}
		}
	}
	return out
}()

func hospitalID(i int) string { return makeID(mix(domainShared), i, kindOrganization, 1) }

func communityID() string { return makeID(mix(domainShared), 0, kindOrganization, 2) }

func practitionerID(i int) string { return makeID(mix(domainShared), i, kindPractitioner, 0) }
