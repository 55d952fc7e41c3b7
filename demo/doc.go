// Package demo makes deterministic synthetic patients for a Kent and
// Medway style shared care record and writes them as FHIR R4 Bulk Data
// NDJSON: one resource per line, one file per resource type
// ("Patient.000.ndjson", "Observation.000.ndjson", ...), the shape a
// Bulk Data $export produces and kmcr-server imports.
//
// # What is generated
//
// Each patient has a Patient resource (UK Core profile, NHS number with its
// verification status, an official name, telecom, a home address in a real
// Kent or Medway town with a well-formed postcode, language and
// interpreter needs for some, next of kin for children and many older
// people, and a registered GP practice), and then, referencing it:
//
//   - AllergyIntolerance: real allergies (SNOMED CT substances, reactions
//     with severity, criticality, clinical and verification status) for
//     about a fifth; an explicit "No known allergy" (716186003) for most of
//     the rest; nothing at all for about one in thirteen of the rest, so
//     "none recorded" and "not available" both occur.
//   - Condition: long-term conditions with age- and sex-specific
//     prevalence, resolved acute episodes, and for about 2.5% of adults one
//     sensitive condition (sexual health, HIV, mental health, substance
//     misuse) carrying meta.security labels from v3-ActCode (SEX, HIV, PSY,
//     ETH) and v3-Confidentiality R, as do its medicines.
//   - MedicationStatement for long-term medicines that match the problems
//     (metformin for diabetes, amlodipine for hypertension), active,
//     stopped or completed; MedicationRequest for acute courses.
//   - Encounter: GP appointments (class AMB), A&E attendances (EMER) and
//     community nursing home visits (HH) for frail people, with the
//     vital-sign Observations taken there (LOINC, UCUM units).
//   - Observation and Device: for about a quarter of adults, resting heart
//     rate and weekly step counts from a wearable over recent weeks, with
//     performer = the Patient, a device reference and a meta.tag
//     (PatientEnteredTagSystem) marking them patient-entered.
//   - Flag: DNACPR or ReSPECT decisions (mostly for the old and frail),
//     falls risk, safeguarding concerns, key-safe access.
//   - CarePlan (diabetes, asthma, dementia, end of life) and Immunization
//     (influenza, COVID-19, pneumococcal) for some.
//
// The GP practices, hospitals, community provider (Organization) and GPs
// (Practitioner) are shared by every patient and are the same for every
// seed. A patient's resources average about 8 KB of JSON, from about 1 KB
// for a healthy young adult to 30 KB or more for a frail older person with
// a wearable.
//
// # Determinism
//
// The same Options give the same bytes, on any machine, on any day, with
// any number of CPUs. Patient i draws from its own random stream (math/rand/v2
// PCG) seeded from (Seed, i) only, so patients can be made in any order
// and in parallel; Write puts them in index order. Ids are RFC 9562
// version 8 UUIDs derived from (Seed, patient index, resource kind,
// ordinal) by a keyed bijection, so they are unique by construction. Dates
// are counted back from Options.AsOf (DefaultAsOf when zero), never from
// the clock, and are written in UTC. No map iteration order reaches the
// output.
//
// # NHS numbers
//
// NHSNumber(seed, i) maps i through a seed-keyed permutation of
// [0, MaxPatients) (a Feistel network with cycle walking) onto the valid
// numbers of the 999 range, which the NHS never issues to real people.
// Every number passes the modulus 11 check, and distinct patients always
// have distinct numbers. The range holds 909,091 valid numbers
// (MaxPatients); a data set cannot be larger.
//
// # Nothing is real
//
// Names are drawn from tables, addresses combine real towns and postcode
// districts with invented streets, house numbers and inward codes,
// telephone numbers are in Ofcom's drama ranges (01632 960xxx, 07700
// 900xxx), organisation names are invented and their codes only have the
// ODS shape, and the wearables' makers are made up. Any resemblance to a
// real person, address or practice is chance.
//
// # Caveats
//
// Clinical content is plausible, not epidemiology. Codes were checked
// against public NHS, HL7 and Synthea material; medicines whose dm+d code
// could not be confirmed are written as text only. Do not use the
// catalogue as a terminology reference.
package demo
