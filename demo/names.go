package demo

// Name tables. The mix aims at what a Kent and Medway list would plausibly
// show: mostly English names whose fashions follow the decade of birth, and
// the Irish, Scottish and Welsh, Polish and Baltic, Romanian, Nepali (the
// Gurkha community around Folkestone and Ashford), Punjabi Sikh (Gravesend),
// wider South Asian, West African and Caribbean, Chinese and Vietnamese,
// Turkish and Kurdish, and western European families that live there.
//
// Accents, apostrophes and hyphens are deliberate ("Zoë", "Ó Briain",
// "O'Neill", "Lily-Mae"): they are what search normalisation gets wrong.

// era splits birth years so given names follow fashion.
type era int

const (
	eraBefore1960 era = iota
	era1960to1989
	era1990on
	eraCount
)

func eraOf(birthYear int) era {
	switch {
	case birthYear < 1960:
		return eraBefore1960
	case birthYear < 1990:
		return era1960to1989
	}
	return era1990on
}

// nameGroup is one naming tradition.
type nameGroup struct {
	weight int // share of patients, in tenths of a percent
	female [eraCount][]string
	male   [eraCount][]string
	family []string
	// familyFemale, when set, holds the feminine form of family[i]
	// (Polish Kowalski / Kowalska), used for women.
	familyFemale []string
	// language is a BCP 47 code and name for Patient.communication, given to
	// langShare of the group's patients (with an interpreter flag for some).
	language, languageName string
	langShare              float64
}

func allEras(names ...string) [eraCount][]string {
	return [eraCount][]string{names, names, names}
}

var nameGroups = []nameGroup{
	{ // English
		weight: 700,
		female: [eraCount][]string{
			{"Margaret", "Joan", "Dorothy", "Jean", "Patricia", "Barbara", "Brenda", "Sheila", "Doreen", "Maureen", "Eileen", "Irene", "Sylvia", "Joyce", "Pamela", "Valerie", "June", "Audrey", "Beryl", "Rosemary", "Gillian", "Ann", "Christine", "Shirley"},
			{"Susan", "Karen", "Julie", "Tracey", "Sarah", "Claire", "Emma", "Nicola", "Lisa", "Joanne", "Helen", "Amanda", "Michelle", "Kelly", "Dawn", "Louise", "Rachel", "Anne-Marie", "Deborah", "Zoë", "Kerry", "Samantha", "Victoria", "Gemma"},
			{"Olivia", "Amelia", "Isla", "Ava", "Mia", "Chloé", "Chloe", "Zoe", "Freya", "Poppy", "Evie", "Lily-Mae", "Ellie", "Grace", "Sophie", "Jessica", "Ruby", "Daisy", "Phoebe", "Maisie", "Hannah", "Lauren", "Megan", "Renée"},
		},
		male: [eraCount][]string{
			{"John", "David", "Peter", "Michael", "Brian", "Alan", "Keith", "Ronald", "Kenneth", "Derek", "Roy", "Colin", "Terence", "Graham", "Malcolm", "Dennis", "Raymond", "Bernard", "Geoffrey", "Trevor", "Anthony", "Robert", "William", "Stanley"},
			{"Paul", "Mark", "Andrew", "Stephen", "Darren", "Lee", "Gary", "Richard", "Simon", "Neil", "Jason", "Craig", "Wayne", "Matthew", "Christopher", "Daniel", "James", "Martin", "Ian", "Kevin", "Jamie", "Carl", "Dean", "Stuart"},
			{"Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Alfie", "Charlie", "Freddie", "Archie", "Theo", "Oscar", "Jacob", "Thomas", "Joshua", "Callum", "Ethan", "Kieran", "Liam", "Tyler", "Ryan", "Connor", "Louis", "Jean-Luc"},
		},
		family: []string{
			"Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
			"Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
			"Lewis", "Harris", "Clarke", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward",
			"Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "James",
			"Scott", "Phillips", "Watson", "Parker", "Price", "Bennett", "Young", "Mitchell", "Cook", "Carter",
			"Richardson", "Bailey", "Collins", "Bell", "Shaw", "Miller", "Cox", "Richards", "Marshall", "Simpson",
			"Ellis", "Adams", "Wilkinson", "Foster", "Chapman", "Powell", "Webb", "Rogers", "Gray", "Mason",
			"Hunt", "Matthews", "Palmer", "Holmes", "Mills", "Barnes", "Knight", "Butler", "Russell", "Fisher",
			"Stevens", "Jenkins", "Dixon", "Harvey", "Godden", "Quested", "Hoad", "Elvey", "Pilcher", "Stickells",
			"Kemsley", "Fagg", "Iggulden", "Usherwood", "Sharp", "Tickner", "Pettman", "Boorman", "Kingsnorth", "Wraight",
			"D'Arcy", "Ashton-Reed", "Harding-Lowe", "Smith-Jones", "Lloyd-Evans", "Fox-Hamilton",
		},
	},
	{ // Irish
		weight: 30,
		female: [eraCount][]string{
			{"Bridget", "Mary", "Kathleen", "Nora", "Eileen", "Teresa"},
			{"Siobhán", "Mairéad", "Sinéad", "Orla", "Fiona", "Deirdre"},
			{"Aoife", "Niamh", "Saoirse", "Caoimhe", "Róisín", "Clodagh"},
		},
		male: [eraCount][]string{
			{"Patrick", "Michael", "Seamus", "Brendan", "Dermot", "Liam"},
			{"Seán", "Ciarán", "Declan", "Pádraig", "Colm", "Éamon"},
			{"Oisín", "Cian", "Darragh", "Conor", "Tadhg", "Rónán"},
		},
		family: []string{"O'Neill", "O'Connor", "O'Sullivan", "Ó Briain", "Murphy", "Kelly", "Byrne", "Ryan", "Walsh", "Doyle", "McCarthy", "Ní Bhriain", "Mac Giolla Phádraig", "Fitzgerald", "Ó Súilleabháin"},
	},
	{ // Scottish and Welsh
		weight: 40,
		female: allEras("Eilidh", "Siân", "Morag", "Catriona", "Rhiannon", "Ffion", "Carys", "Isla", "Kirsty", "Bethan"),
		male:   allEras("Iain", "Rhys", "Dafydd", "Hamish", "Gareth", "Alasdair", "Owain", "Callum", "Gruffydd", "Euan"),
		family: []string{"MacLeod", "McDonald", "Campbell", "Stewart", "MacKenzie", "Llewellyn", "Pritchard", "Griffiths", "ap Rhys", "Morgan", "Vaughan", "McIntyre"},
	},
	{ // Polish
		weight: 35,
		female: allEras("Agnieszka", "Małgorzata", "Katarzyna", "Zofia", "Joanna", "Ewa", "Magdalena", "Łucja"),
		male:   allEras("Łukasz", "Piotr", "Krzysztof", "Tomasz", "Paweł", "Michał", "Wojciech", "Jakub"),
		family: []string{
			"Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski", "Zieliński", "Szymański", "Woźniak", "Dąbrowski",
		},
		familyFemale: []string{
			"Nowak", "Kowalska", "Wiśniewska", "Wójcik", "Kamińska", "Lewandowska", "Zielińska", "Szymańska", "Woźniak", "Dąbrowska",
		},
		language: "pl", languageName: "Polish", langShare: 0.3,
	},
	{ // Lithuanian and Romanian
		weight: 15,
		female: allEras("Rūta", "Eglė", "Ioana", "Andreea", "Elena", "Jurgita"),
		male:   allEras("Jonas", "Mindaugas", "Andrei", "Ștefan", "Mihai", "Darius"),
		family: []string{"Kazlauskas", "Petrauskas", "Jankauskas", "Popescu", "Ionescu", "Dumitrescu"},
		// Romanian surnames do not change; Lithuanian married forms do.
		familyFemale: []string{"Kazlauskienė", "Petrauskienė", "Jankauskienė", "Popescu", "Ionescu", "Dumitrescu"},
		language:     "ro", languageName: "Romanian", langShare: 0.2,
	},
	{ // Nepali
		weight:   20,
		female:   allEras("Kamala", "Sita", "Laxmi", "Bishnu", "Sunita", "Manisha", "Sarita", "Pabitra"),
		male:     allEras("Ram", "Hari", "Dil", "Bhim", "Kiran", "Prakash", "Tek", "Dhan"),
		family:   []string{"Gurung", "Rai", "Limbu", "Thapa", "Tamang", "Magar", "Pun", "Shrestha", "Ghale"},
		language: "ne", languageName: "Nepali", langShare: 0.4,
	},
	{ // Punjabi Sikh
		weight: 30,
		female: allEras("Harjit", "Gurpreet", "Manpreet", "Jaswinder", "Balbir", "Amrit", "Simran", "Navdeep"),
		male:   allEras("Harjit", "Gurpreet", "Manjit", "Jaswinder", "Kuldip", "Amarjit", "Harpal", "Sukhdev"),
		// Given names are unisex; Kaur and Singh mark sex and are written as
		// the family name, as many registrations do.
		family:       []string{"Singh", "Sandhu", "Gill", "Dhillon", "Bains", "Johal", "Sidhu", "Singh"},
		familyFemale: []string{"Kaur", "Sandhu", "Gill", "Dhillon", "Bains", "Johal", "Sidhu", "Kaur"},
		language:     "pa", languageName: "Punjabi", langShare: 0.25,
	},
	{ // Wider South Asian
		weight: 25,
		female: allEras("Priya", "Anjali", "Aisha", "Fatima", "Nusrat", "Shabnam", "Rukhsana", "Meera"),
		male:   allEras("Arjun", "Rajesh", "Mohammed", "Imran", "Tariq", "Sanjay", "Abdul", "Vikram"),
		family: []string{"Patel", "Shah", "Khan", "Ahmed", "Begum", "Hussain", "Rahman", "Chowdhury", "D'Souza", "Sharma", "Iqbal"},
	},
	{ // West African and Caribbean
		weight: 40,
		female: allEras("Adaeze", "Folake", "Ama", "Abena", "Chiamaka", "Shanice", "Precious", "Oluwaseun", "Marcia", "Yewande"),
		male:   allEras("Chinedu", "Kwame", "Tunde", "Kofi", "Emeka", "Marcus", "Delroy", "Oluwaseun", "Femi", "Nana"),
		family: []string{"Okafor", "Adeyemi", "Mensah", "Boateng", "Osei", "Campbell", "Thompson", "Okonkwo", "Adebayo", "Asante", "Oyelaran-Smith", "Francis"},
	},
	{ // Chinese and Vietnamese
		weight:   10,
		female:   allEras("Mei", "Ling", "Xiu", "Thảo", "Lan", "Hui"),
		male:     allEras("Wei", "Jun", "Hao", "Minh", "Duc", "Jian"),
		family:   []string{"Chen", "Wang", "Li", "Wong", "Nguyễn", "Trần", "Lam", "Zhang"},
		language: "zh", languageName: "Chinese", langShare: 0.15,
	},
	{ // Turkish and Kurdish
		weight:   10,
		female:   allEras("Ayşe", "Elif", "Zeynep", "Gülşen", "Rojda", "Berfin"),
		male:     allEras("Mehmet", "Mustafa", "Emre", "Çağlar", "Rênas", "Serhat"),
		family:   []string{"Yılmaz", "Kaya", "Demir", "Çelik", "Şahin", "Aydın", "Doğan"},
		language: "tr", languageName: "Turkish", langShare: 0.2,
	},
	{ // Western European
		weight: 25,
		female: allEras("Léa", "Noémie", "Chloé", "Zoë", "Inès", "Anaïs", "Maëlle", "Sofía", "Marta", "Hélène"),
		male:   allEras("Mathéo", "François", "Jérôme", "Jean-Paul", "João", "Andrés", "Björn", "Stefan", "Luís", "Rafael"),
		family: []string{"Dubois", "Lefèvre", "Müller", "Schäfer", "García", "Muñoz", "Gonçalves", "Van der Berg", "De Luca", "Østergaard", "Lévesque"},
	},
}

// nameGroupTotal is the sum of the weights, computed once.
var nameGroupTotal = func() int {
	t := 0
	for _, g := range nameGroups {
		t += g.weight
	}
	return t
}()

// femaleTitles are for adult women; men are "Mr", a few of either "Dr",
// children nothing.
var femaleTitles = []string{"Mrs", "Mrs", "Ms", "Ms", "Miss"}
