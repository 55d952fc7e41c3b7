package demo

import (
	"errors"
	"fmt"
	"time"
)

// DefaultAsOf is the reference date ("today" for the data) used when
// Options.AsOf is zero: recent events cluster in the weeks before it.
// It is fixed, not the wall clock, so the same options give the same bytes
// on any day.
const DefaultAsOf = "2026-11-01"

// Options says what to generate.
type Options struct {
	// Patients is how many patients to make, 1 to MaxPatients.
	Patients int
	// Seed selects the data set; the same seed and options give the same
	// bytes.
	Seed uint64
	// AsOf is the reference date: every event happens before it, and ages
	// are computed at it. Only its UTC date is used. Zero means DefaultAsOf.
	AsOf time.Time
	// Progress, when set, is called by Write from one goroutine after each
	// batch of patients is written, with the number done so far.
	Progress func(done, total int)
}

// ErrPatients is returned (wrapped) when Options.Patients is not between 1
// and MaxPatients.
var ErrPatients = errors.New("patient count out of range")

// ErrAsOf is returned (wrapped) when Options.AsOf is outside the years this
// generator can write (2000 to 2999).
var ErrAsOf = errors.New("reference date out of range")

// check validates o and returns the reference day.
func (o *Options) check() (int, error) {
	if o.Patients < 1 || o.Patients > MaxPatients {
		return 0, fmt.Errorf("%w: %d; need 1 to %d (the 999 test range holds %d valid NHS numbers)",
			ErrPatients, o.Patients, MaxPatients, MaxPatients)
	}
	return o.asOfDay()
}

func (o *Options) asOfDay() (int, error) {
	t := o.AsOf
	if t.IsZero() {
		d, err := time.Parse(time.DateOnly, DefaultAsOf)
		if err != nil {
			panic(err) // a constant that parses
		}
		t = d
	}
	if y := t.UTC().Year(); y < 2000 || y > 2999 {
		return 0, fmt.Errorf("%w: %s; need a date from 2000 to 2999", ErrAsOf, t.UTC().Format(time.DateOnly))
	}
	return dayOf(t), nil
}

// Resource is one generated FHIR resource.
type Resource struct {
	// Type is the FHIR resourceType; it names the NDJSON file.
	Type string
	// ID is the resource's id, unique within a data set.
	ID string
	// JSON is the resource as one line of JSON, without a newline.
	JSON []byte
}

// Stats describes what Write produced.
type Stats struct {
	Patients int
	// Resources counts resources by FHIR resourceType, shared ones
	// (Organization, Practitioner) included.
	Resources map[string]int
	// Files lists the files written, by name, in sorted order.
	Files []string
	// Bytes is the total size of the files.
	Bytes int64
	// PatientBytes is the size of the patients' own resources (the Patient
	// and everything that references it), newlines excluded: what a
	// per-patient summary is made from.
	PatientBytes int64
	// SmallestPatient and LargestPatient are the extremes of that size.
	SmallestPatient, LargestPatient int

	Allergies        int // AllergyIntolerance records of a real allergy or intolerance
	NoKnownAllergy   int // patients with an explicit "no known allergy" record
	AllergyUnknown   int // patients with no allergy record at all
	Conditions       int
	Medications      int // MedicationStatement and MedicationRequest
	Encounters       int
	Observations     int
	PatientEntered   int // Observations a patient supplied from a wearable
	WearableUsers    int // patients with such observations
	SecurityLabelled int // resources carrying meta.security labels
	Flags            int
	AdvanceDecisions int // DNACPR and ReSPECT flags
	CarePlans        int
	Immunizations    int
}

// AvgBytesPerPatient is PatientBytes divided by Patients.
func (s *Stats) AvgBytesPerPatient() float64 {
	if s.Patients == 0 {
		return 0
	}
	return float64(s.PatientBytes) / float64(s.Patients)
}

// tally is one patient's contribution to Stats.
type tally struct {
	bytes                                                int
	allergies, nka, allergyUnknown                       int
	conditions, meds, encounters, observations           int
	patientEntered, wearable, labelled, flags, decisions int
	carePlans, immunizations                             int
}

func (s *Stats) add(t *tally) {
	s.PatientBytes += int64(t.bytes)
	if s.SmallestPatient == 0 || t.bytes < s.SmallestPatient {
		s.SmallestPatient = t.bytes
	}
	if t.bytes > s.LargestPatient {
		s.LargestPatient = t.bytes
	}
	s.Allergies += t.allergies
	s.NoKnownAllergy += t.nka
	s.AllergyUnknown += t.allergyUnknown
	s.Conditions += t.conditions
	s.Medications += t.meds
	s.Encounters += t.encounters
	s.Observations += t.observations
	s.PatientEntered += t.patientEntered
	s.WearableUsers += t.wearable
	s.SecurityLabelled += t.labelled
	s.Flags += t.flags
	s.AdvanceDecisions += t.decisions
	s.CarePlans += t.carePlans
	s.Immunizations += t.immunizations
}

// Patient returns patient i's resources: the Patient first, then
// everything that references it. It is the in-memory form of what Write
// puts on disk, for benchmarks that need patients without files. It
// panics if opts is invalid or i is outside [0, opts.Patients).
func Patient(opts Options, i int) []Resource {
	asOf, err := opts.check()
	if err != nil {
		panic(err)
	}
	if i < 0 || i >= opts.Patients {
		panic(fmt.Sprintf("demo: patient index %d outside [0, %d)", i, opts.Patients))
	}
	g := newGen(opts.Seed, asOf)
	g.patient(i)
	return g.res
}

// Shared returns the resources every data set has in common, whatever its
// seed: the GP practices, hospitals and community provider (Organization)
// and the GPs (Practitioner).
func Shared() []Resource {
	return sharedResources()
}
