package demo

// The clinical catalogue. Codes are SNOMED CT (conditions, allergens,
// reactions, flags, care plans, vaccines), dm+d (medicines; a dm+d VMP code
// is a SNOMED CT UK drug extension code) and LOINC (observations).
//
// Every code here was checked against public NHS, HL7 or Synthea material.
// Where a medicine's dm+d code could not be confirmed the entry has no code
// and carries only its dm+d name as text: FHIR allows that, real feeds do
// it, and it keeps a wrong code out of a demonstration. Do not use this
// table as a terminology reference.

// Code systems.
const (
	sctSystem            = "http://snomed.info/sct"
	loincSystem          = "http://loinc.org"
	ucumSystem           = "http://unitsofmeasure.org"
	actCodeSystem        = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	confidentialitySys   = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	obsCategorySystem    = "http://terminology.hl7.org/CodeSystem/observation-category"
	conditionClinicalSys = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	conditionVerSys      = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	conditionCatSys      = "http://terminology.hl7.org/CodeSystem/condition-category"
	allergyClinicalSys   = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
	allergyVerSys        = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
	flagCategorySystem   = "http://terminology.hl7.org/CodeSystem/flag-category"
	odsSystem            = "https://fhir.nhs.uk/Id/ods-organization-code"
	nhsVerifyExtURL      = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
	nhsVerifySystem      = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus"
	interpreterExtURL    = "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"
	bcp47System          = "urn:ietf:bcp:47"
	v2RelationshipSystem = "http://terminology.hl7.org/CodeSystem/v2-0131"
)

// PatientEnteredTagSystem and PatientEnteredTagCode mark, in meta.tag, an
// Observation the patient supplied (a wearable's reading). FHIR has no
// standard tag for this, so the system is this project's own; the same
// resources also carry performer = the Patient and a device reference,
// which is the standard signal.
const (
	PatientEnteredTagSystem = "https://kmcr.example/fhir/CodeSystem/record-source"
	PatientEnteredTagCode   = "patient-entered"
)

// concept is a coded meaning. An empty code means text only.
type concept struct{ code, display string }

// med is a medicine as a GP system records it: a dm+d VMP and dose text.
type med struct {
	concept
	dose string
	days int // course length for acute prescriptions; 0 for repeats
}

var (
	medMetformin     = med{concept{"325278007", "Metformin 500mg tablets"}, "One tablet twice a day with meals", 0}
	medGliclazide    = med{concept{"", "Gliclazide 80mg tablets"}, "One tablet twice a day with meals", 0}
	medInsulin       = med{concept{"", "Insulin glargine 100units/ml solution for injection 3ml pre-filled pens"}, "Inject 18 units at bedtime", 0}
	medAmlodipine    = med{concept{"319283006", "Amlodipine 5mg tablets"}, "One tablet once a day", 0}
	medRamipril      = med{concept{"", "Ramipril 5mg capsules"}, "One capsule once a day", 0}
	medSalbutamol    = med{concept{"39113611000001102", "Salbutamol 100micrograms/dose inhaler CFC free"}, "Two puffs when required for breathlessness", 0}
	medBeclometasone = med{concept{"", "Beclometasone 100micrograms/dose inhaler CFC free"}, "Two puffs twice a day", 0}
	medTiotropium    = med{concept{"", "Tiotropium 18microgram inhalation powder capsules"}, "Inhale the contents of one capsule once a day", 0}
	medApixaban      = med{concept{"", "Apixaban 5mg tablets"}, "One tablet twice a day", 0}
	medBisoprolol    = med{concept{"", "Bisoprolol 2.5mg tablets"}, "One tablet once a day", 0}
	medFurosemide    = med{concept{"317972000", "Furosemide 40mg tablets"}, "One tablet in the morning", 0}
	medAspirin       = med{concept{"", "Aspirin 75mg dispersible tablets"}, "One tablet once a day", 0}
	medAtorvastatin  = med{concept{"", "Atorvastatin 20mg tablets"}, "One tablet at night", 0}
	medClopidogrel   = med{concept{"", "Clopidogrel 75mg tablets"}, "One tablet once a day", 0}
	medRivastigmine  = med{concept{"323372008", "Rivastigmine 6mg capsules"}, "One capsule twice a day with food", 0}
	medParacetamol   = med{concept{"322236009", "Paracetamol 500mg tablets"}, "Two tablets up to four times a day when required for pain", 0}
	medSertraline    = med{concept{"", "Sertraline 50mg tablets"}, "One tablet once a day", 0}
	medDiazepam      = med{concept{"321196004", "Diazepam 2mg tablets"}, "One tablet up to three times a day when required", 0}
	medLevothyroxine = med{concept{"", "Levothyroxine sodium 100microgram tablets"}, "One tablet each morning", 0}
	medLevetiracetam = med{concept{"", "Levetiracetam 500mg tablets"}, "One tablet twice a day", 0}
	medCoCareldopa   = med{concept{"", "Co-careldopa 25mg/100mg tablets"}, "One tablet three times a day", 0}
	medAlendronic    = med{concept{"", "Alendronic acid 70mg tablets"}, "One tablet once a week, 30 minutes before breakfast, with a full glass of water", 0}
	medOmeprazole    = med{concept{"", "Omeprazole 20mg gastro-resistant capsules"}, "One capsule once a day", 0}
	medFerrous       = med{concept{"", "Ferrous fumarate 210mg tablets"}, "One tablet twice a day", 0}
	medMorphineMR    = med{concept{"36126511000001106", "Morphine 10mg modified-release tablets"}, "One tablet twice a day", 0}

	medAmoxicillin    = med{concept{"323509004", "Amoxicillin 250mg capsules"}, "Two capsules three times a day for 5 days", 5}
	medNitrofurantoin = med{concept{"", "Nitrofurantoin 100mg modified-release capsules"}, "One capsule twice a day for 3 days", 3}
	medFlucloxacillin = med{concept{"", "Flucloxacillin 500mg capsules"}, "One capsule four times a day for 7 days", 7}
	medDoxycycline    = med{concept{"", "Doxycycline 100mg capsules"}, "One capsule twice a day for 7 days", 7}
	medAciclovir      = med{concept{"", "Aciclovir 400mg tablets"}, "One tablet three times a day for 5 days", 5}

	medOlanzapine = med{concept{"", "Olanzapine 10mg tablets"}, "One tablet at night", 0}
	medLithium    = med{concept{"", "Priadel 400mg modified-release tablets"}, "One tablet at night; prescribe by brand", 0}
	medMethadone  = med{concept{"", "Methadone 1mg/ml oral solution sugar free"}, "60ml once a day, supervised consumption", 0}
	medBiktarvy   = med{concept{"", "Biktarvy 50mg/200mg/25mg tablets"}, "One tablet once a day", 0}
)

// Age bands for prevalence tables: 0-17, 18-39, 40-59, 60-74, 75 and over.
const bands = 5

func bandOf(age int) int {
	switch {
	case age < 18:
		return 0
	case age < 40:
		return 1
	case age < 60:
		return 2
	case age < 75:
		return 3
	}
	return 4
}

// chronic is a long-term condition with its prevalence by age band and the
// medicines usually prescribed for it (each with its own probability).
type chronic struct {
	concept
	prev     [bands]float64
	sex      string // "female", "male" or "" for either
	meds     []med
	medShare []float64
	status   string // clinicalStatus; "" means active
	carePlan int    // index into carePlans, or -1
	traits   trait
}

// trait marks how a condition shapes the rest of a record.
type trait uint8

const (
	startsYoung trait = 1 << iota // can begin in childhood
	frail                         // a marker of frailty: more home visits, falls, advance decisions
)

var chronics = []chronic{
	{concept{"38341003", "Hypertensive disorder, systemic arterial"}, [bands]float64{0, .03, .15, .35, .55}, "", []med{medAmlodipine, medRamipril}, []float64{.7, .4}, "", -1, 0},
	{concept{"44054006", "Diabetes mellitus type 2"}, [bands]float64{0, .01, .06, .14, .18}, "", []med{medMetformin, medGliclazide, medAtorvastatin}, []float64{.85, .3, .6}, "", 0, 0},
	{concept{"46635009", "Diabetes mellitus type 1"}, [bands]float64{.003, .005, .004, .003, .002}, "", []med{medInsulin}, []float64{1}, "", 0, startsYoung},
	{concept{"195967001", "Asthma"}, [bands]float64{.09, .08, .07, .07, .06}, "", []med{medSalbutamol, medBeclometasone}, []float64{.95, .6}, "", 2, startsYoung},
	{concept{"13645005", "Chronic obstructive lung disease"}, [bands]float64{0, 0, .02, .06, .09}, "", []med{medSalbutamol, medTiotropium}, []float64{.95, .7}, "", -1, frail},
	{concept{"49436004", "Atrial fibrillation"}, [bands]float64{0, 0, .01, .05, .12}, "", []med{medApixaban, medBisoprolol}, []float64{.8, .6}, "", -1, 0},
	{concept{"84114007", "Heart failure"}, [bands]float64{0, 0, .005, .02, .07}, "", []med{medFurosemide, medBisoprolol, medRamipril}, []float64{.9, .7, .5}, "", -1, frail},
	{concept{"414545008", "Ischaemic heart disease"}, [bands]float64{0, 0, .02, .07, .12}, "", []med{medAspirin, medAtorvastatin}, []float64{.8, .85}, "", -1, 0},
	{concept{"433144002", "Chronic kidney disease stage 3"}, [bands]float64{0, 0, .02, .07, .2}, "", nil, nil, "", -1, 0},
	{concept{"52448006", "Dementia"}, [bands]float64{0, 0, 0, .015, .08}, "", []med{medRivastigmine}, []float64{.4}, "", 3, frail},
	{concept{"396275006", "Osteoarthritis"}, [bands]float64{0, .01, .08, .2, .3}, "", []med{medParacetamol}, []float64{.6}, "", -1, 0},
	{concept{"35489007", "Depressive disorder"}, [bands]float64{.01, .08, .09, .07, .06}, "", []med{medSertraline}, []float64{.6}, "", -1, 0},
	{concept{"197480006", "Anxiety disorder"}, [bands]float64{.02, .07, .06, .04, .03}, "", []med{medDiazepam}, []float64{.1}, "", -1, 0},
	{concept{"40930008", "Hypothyroidism"}, [bands]float64{.001, .01, .03, .05, .07}, "", []med{medLevothyroxine}, []float64{.95}, "", -1, 0},
	{concept{"84757009", "Epilepsy"}, [bands]float64{.005, .008, .008, .008, .008}, "", []med{medLevetiracetam}, []float64{.9}, "", -1, startsYoung},
	{concept{"49049000", "Parkinson's disease"}, [bands]float64{0, 0, .001, .005, .015}, "", []med{medCoCareldopa}, []float64{.9}, "", -1, frail},
	{concept{"64859006", "Osteoporosis"}, [bands]float64{0, 0, .01, .05, .12}, "", []med{medAlendronic}, []float64{.6}, "", -1, 0},
	{concept{"230690007", "Cerebrovascular accident"}, [bands]float64{0, .001, .01, .03, .07}, "", []med{medClopidogrel, medAtorvastatin}, []float64{.8, .8}, "", -1, 0},
	{concept{"55822004", "Hyperlipidaemia"}, [bands]float64{0, .02, .1, .2, .2}, "", []med{medAtorvastatin}, []float64{.8}, "", -1, 0},
	{concept{"235595009", "Gastro-oesophageal reflux disease"}, [bands]float64{.01, .04, .07, .09, .1}, "", []med{medOmeprazole}, []float64{.8}, "", -1, 0},
	{concept{"271737000", "Anaemia"}, [bands]float64{.01, .02, .02, .03, .06}, "", []med{medFerrous}, []float64{.5}, "", -1, 0},
	{concept{"254837009", "Malignant neoplasm of breast"}, [bands]float64{0, .001, .01, .025, .035}, "female", nil, nil, "remission", -1, 0},
	{concept{"78275009", "Obstructive sleep apnoea syndrome"}, [bands]float64{0, .01, .03, .04, .03}, "", nil, nil, "", -1, 0},
}

// episode is a past acute problem, now resolved, sometimes with a course of
// treatment.
type episode struct {
	concept
	med    med
	hasMed bool
	child  bool // mostly in children
}

var episodes = []episode{
	{concept{"10509002", "Acute bronchitis"}, medAmoxicillin, true, false},
	{concept{"68566005", "Urinary tract infectious disease"}, medNitrofurantoin, true, false},
	{concept{"128045006", "Cellulitis"}, medFlucloxacillin, true, false},
	{concept{"444814009", "Viral sinusitis"}, med{}, false, false},
	{concept{"43878008", "Streptococcal sore throat"}, medAmoxicillin, true, false},
	{concept{"44465007", "Sprain of ankle"}, med{}, false, false},
	{concept{"65966004", "Fracture of forearm"}, med{}, false, false},
	{concept{"65363002", "Otitis media"}, medAmoxicillin, true, true},
	{concept{"195662009", "Acute viral pharyngitis"}, med{}, false, true},
	{concept{"840539006", "COVID-19"}, med{}, false, false},
	{concept{"284549007", "Laceration of hand"}, med{}, false, false},
}

// sensitive is a condition whose records carry security labels: the
// policy never caches them offline and shows them only with a reason.
type sensitive struct {
	concept
	label, labelDisplay string // v3-ActCode sensitivity
	med                 med
	hasMed              bool
	minAge              int
}

var sensitives = []sensitive{
	{concept{"105629000", "Chlamydial infection"}, "SEX", "sexuality and reproductive health information sensitivity", medDoxycycline, true, 16},
	{concept{"33839006", "Genital herpes simplex"}, "SEX", "sexuality and reproductive health information sensitivity", medAciclovir, true, 16},
	{concept{"86406008", "Human immunodeficiency virus infection"}, "HIV", "HIV/AIDS information sensitivity", medBiktarvy, true, 18},
	{concept{"58214004", "Schizophrenia"}, "PSY", "psychiatry information sensitivity", medOlanzapine, true, 18},
	{concept{"13746004", "Bipolar disorder"}, "PSY", "psychiatry information sensitivity", medLithium, true, 18},
	{concept{"66590003", "Alcohol dependence"}, "ETH", "substance abuse information sensitivity", med{}, false, 18},
	{concept{"75544000", "Opioid dependence"}, "ETH", "substance abuse information sensitivity", medMethadone, true, 18},
}

// allergen is a substance people react to, with how common it is among
// recorded allergies and the reactions it usually causes.
type allergen struct {
	concept
	category    string // medication, food, environment
	weight      int
	reactions   []int // indexes into reactions
	intolerance bool  // usually recorded as an intolerance, not an allergy
}

var allergens = []allergen{
	{concept{"764146007", "Penicillin"}, "medication", 40, []int{0, 1, 2, 5}, false},
	{concept{"372687004", "Amoxicillin"}, "medication", 10, []int{0, 1, 4}, false},
	{concept{"387494007", "Codeine"}, "medication", 8, []int{7, 6}, true},
	{concept{"387458008", "Aspirin"}, "medication", 5, []int{3, 1, 5}, false},
	{concept{"387207008", "Ibuprofen"}, "medication", 6, []int{3, 1, 9}, false},
	{concept{"373529000", "Morphine"}, "medication", 3, []int{4, 7, 6}, true},
	{concept{"762952008", "Peanut"}, "food", 6, []int{2, 5, 1}, false},
	{concept{"102263004", "Eggs (edible)"}, "food", 3, []int{1, 6, 0}, false},
	{concept{"111088007", "Latex"}, "environment", 4, []int{1, 4, 2}, false},
	{concept{"288328004", "Bee venom"}, "environment", 3, []int{2, 5, 1}, false},
	{concept{"260147004", "House dust mite"}, "environment", 4, []int{8, 3}, false},
	{concept{"782576004", "Tree pollen"}, "environment", 3, []int{8}, false},
	{concept{"264287008", "Animal dander"}, "environment", 2, []int{8, 3}, false},
	{concept{"84489001", "Mould"}, "environment", 1, []int{8, 3}, false},
}

var allergenTotal = func() int {
	t := 0
	for _, a := range allergens {
		t += a.weight
	}
	return t
}()

// reaction is a manifestation with the severity it usually has.
type reaction struct {
	concept
	severity string
}

var reactions = []reaction{
	{concept{"271807003", "Eruption of skin"}, "mild"},      // 0
	{concept{"247472004", "Weal"}, "moderate"},              // 1
	{concept{"39579001", "Anaphylaxis"}, "severe"},          // 2
	{concept{"267036007", "Dyspnoea"}, "moderate"},          // 3
	{concept{"418290006", "Itching"}, "mild"},               // 4
	{concept{"402387002", "Allergic angioedema"}, "severe"}, // 5
	{concept{"300359004", "Vomiting"}, "moderate"},          // 6
	{concept{"422587007", "Nausea"}, "mild"},                // 7
	{concept{"878820003", "Rhinoconjunctivitis"}, "mild"},   // 8
	{concept{"62315008", "Diarrhoea"}, "mild"},              // 9
}

// noKnownAllergy is the explicit "none" record. Its presence is what lets a
// screen say "No known allergies recorded" rather than "not available".
var noKnownAllergy = concept{"716186003", "No known allergy"}

// Care plans: category codes from SNOMED CT, with one planned activity.
type carePlanDef struct {
	title    string
	category concept
	activity concept
	detail   string
}

var carePlans = []carePlanDef{
	{"Diabetes care plan", concept{"698360004", "Diabetes self management plan"}, concept{"160670007", "Diabetic diet"}, "Annual review with HbA1c, foot check and retinal screening; diet and activity goals agreed."},
	{"End of life care plan", concept{"734163000", "Care plan"}, concept{"182964004", "Terminal care"}, "Preferred place of care and death: home. Anticipatory medicines prescribed and held at home. Family aware of wishes."},
	{"Asthma action plan", concept{"699728000", "Asthma self management"}, concept{"710818004", "Inhaled steroid therapy"}, "Personal asthma action plan given; inhaler technique checked; review every 12 months."},
	{"Dementia care plan", concept{"734163000", "Care plan"}, concept{"326051000000105", "Self care"}, "Lives with spouse; daily carer visits; lasting power of attorney for health and welfare registered."},
}

// Encounter kinds.
var (
	aeReasons = []concept{
		{"29857009", "Chest pain"}, {"1912002", "Fall"}, {"267036007", "Dyspnoea"}, {"21522001", "Abdominal pain"},
		{"65966004", "Fracture of forearm"}, {"284549007", "Laceration of hand"}, {"44465007", "Sprain of ankle"},
	}
	gpTypes = []concept{
		{"185347001", "Encounter for problem"}, {"185349003", "Encounter for check up"}, {"390906007", "Follow-up encounter"},
	}
	aeType   = concept{"50849002", "Emergency room admission"}
	homeType = concept{"439708006", "Home visit"}
)

// Vital signs (LOINC), with UCUM units.
type vital struct {
	code, display, unit, ucum string
}

var (
	vitalHR     = vital{"8867-4", "Heart rate", "beats/minute", "/min"}
	vitalBP     = vital{"85354-9", "Blood pressure panel with all children optional", "", ""}
	vitalSys    = vital{"8480-6", "Systolic blood pressure", "mmHg", "mm[Hg]"}
	vitalDia    = vital{"8462-4", "Diastolic blood pressure", "mmHg", "mm[Hg]"}
	vitalRR     = vital{"9279-1", "Respiratory rate", "breaths/minute", "/min"}
	vitalSpO2   = vital{"59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%"}
	vitalTemp   = vital{"8310-5", "Body temperature", "°C", "Cel"}
	vitalWeight = vital{"29463-7", "Body weight", "kg", "kg"}
	// vitalWeeklySteps is a pedometer total over a stated period.
	vitalWeeklySteps = vital{"55423-8", "Number of steps in unspecified time Pedometer", "steps", "{steps}"}
)

// Vaccines (SNOMED CT vaccine products).
var (
	vaccineFlu    = concept{"1181000221105", "Influenza virus antigen only vaccine product"}
	vaccineCovid  = concept{"1119349007", "SARS-CoV-2 mRNA vaccine"}
	vaccinePneumo = concept{"836398006", "Streptococcus pneumoniae antigen-containing vaccine product"}
)

// Flags.
var (
	flagDNACPR = concept{"304253006", "Not for resuscitation"}
	flagFalls  = concept{"129839007", "At risk for falls"}
)
