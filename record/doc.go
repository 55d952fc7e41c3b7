// Package record owns the patient record: reading HL7 FHIR R4 JSON, grouping
// resources by patient, the NHS number, and the typed Summary of one patient
// that every screen shows. It depends on no other kmcr package; the cache,
// the audit log, the server and the client all depend on it.
//
// # Reading
//
// Scan streams the resources of FHIR Bundles (transaction, collection,
// searchset, document, one per .json file), single resources (.json files
// such as the PDS Patient responses) and FHIR Bulk Data NDJSON (.ndjson,
// one resource a line) to a callback, each with the key of the patient it
// belongs to. ReadPaths does the same into memory, grouped by patient, for
// tests and small imports.
//
// Each resource's Raw is the exact bytes of the source, never re-encoded:
// what the server stores and sends is what the source said, including every
// element this package does not understand.
//
// Memory is bounded where the format allows. NDJSON is read a line at a
// time, and a line longer than MaxResourceSize is skipped without being
// held whole. A Bundle is read whole (up to MaxBundleFileSize) because its
// entries refer to each other in any order. Every resource is checked by a
// small scanner of its own (no recursion, so a 100,000-level document costs
// no stack) for syntax, for size, and for nesting deeper than MaxDepth,
// before anything decodes it.
//
// Bad input never stops an import. A malformed NDJSON line, a Bundle entry
// with no resource, a resource over the limits, a clinical resource with no
// patient, or a Patient with an invalid NHS number each becomes a Rejection
// naming the file and entry ("Condition.000.ndjson line 7: malformed JSON:
// ..."); a malformed Bundle is one rejection for its file. Everything else
// is imported, and the Report says what was read and what was not.
//
// # Patients and NHS numbers
//
// A patient's key is "Patient/<id>". A resource belongs to the patient its
// subject, patient, beneficiary, individual or for element points at (the
// first of them, as written, that names a Patient). These are the names
// FHIR R4 uses for "the patient this is about" across resource types, so
// types this package does not know are placed correctly too. Inside a
// Bundle, references by urn:uuid:, relative or absolute URL, or patient
// identifier all resolve to the key. A Bundle whose clinical entries name
// no patient (the NHS Summary Care Record's Conditions and Encounters carry
// no subject) gives them the patient of its document Composition, or its
// only Patient.
//
// Organizations, Practitioners, Medications, Locations and Devices without
// a patient are shared: ReadPaths keeps them once and copies into each
// patient's record the ones its resources refer to, directly or in turn,
// so that every PatientRecord is self-contained. Clinical types (Condition,
// Observation, ...) that name no patient are rejected rather than shared,
// since sharing would show one person's data in everyone's record. A type
// this package does not know belongs to the patient it names, or is shared.
//
// A Patient's NHS number is its first identifier with system
// NHSNumberSystem that is not marked "old". If that fails the modulus 11
// check, the Patient is rejected and so is every resource that belongs to
// it ("patient rejected"). A Patient with no NHS number (Synthea and other
// non-UK data) is given one by AssignNHSNumber: SHA-256 of the patient's
// key gives six digits after "999", completed with the check digit,
// stepping to the next six digits when a prefix has none. The 999 range is
// never issued to real people, the rule is fixed, and so the same patient
// gets the same number on every server and every import.
// PatientRecord.NHSAssigned and Demographics.NHSAssigned say when a number
// was assigned, so a screen can say so.
//
// # Summary
//
// BuildBundle turns a PatientRecord into the document the server sends and
// the client caches: a collection Bundle of the original resources.
// ParseBundle reads it back without decoding any resource, and Summarise
// builds the typed Summary from it, decoding only the elements it shows.
// Together they take tens of microseconds for a typical record.
//
// The Summary has demographics, GP, and a Section per clinical list: alerts
// (Flags, with DNACPR, ReSPECT, safeguarding and falls recognised by SNOMED
// CT code or by text), allergies, medications, problems, encounters,
// observations, care plans and immunizations, plus document narratives and
// a count per type of everything else. Lists are never truncated; each item
// carries its date (parsed, with the text as written) and the resource it
// came from. Section names are constants (SectionAllergies, ...) shared by
// access policy, audit and screens; SectionOf maps a resource type to one.
//
// A Section's State keeps apart "none recorded" (a source positively says
// so: an AllergyIntolerance coded SNOMED CT 716186003 "No known allergy",
// 409137002, 428607008 or 429625007; a MedicationStatement or
// MedicationRequest coded 787481004 "No known medications"; a Condition coded 160245001; an Immunization
// coded 787482006; the International Patient Summary's equivalents; or a
// List with emptyReason "nilknown") from "not available" (no source says
// anything). AllergyHeadline gives the words a screen must show.
//
// Every item carries its Verification. For AllergyIntolerance and
// Condition it is the verification status; for the types with only a
// status (Flag, MedicationRequest, MedicationStatement, Observation,
// Immunization, Encounter, CarePlan, Composition) it is "entered in error"
// when the status is. A void item (entered in error or refuted) is kept in
// its list, last, for a screen to show struck through with the word, but
// it is never Active, never counted and never decides a section's state;
// a void or no longer current "none known" statement (an inactive or
// resolved "No known allergy", a retired List) says nothing either.
//
// A deceased patient takes no medicine: every Medication's Active is
// false, whatever status the source left, and Status keeps the source's
// word.
//
// Demographics come from every Patient of the record that carries its NHS
// number (the server puts all of one person's sources in the document),
// merged by one rule (MergePatients): the Personal Demographics Service
// first, then the most complete, then the most recently updated source,
// each part taken from the best source that gives it, so the banner has a
// name whenever any source has one. Conflicts between the sources are
// kept in Demographics.Conflicts.
//
// Compositions are Documents, beside the sections, and are not counted in
// Other; PatientRecord.Omitted (carried in the Bundle by BuildBundle and
// ParseBundle) adds the types the server left out of the document, such
// as claims, to Other.
//
// An Observation is PatientEntered when its performer is the Patient or a
// RelatedPerson, when it names a device (a wearable or home monitor), or
// when a meta.tag code or an extension says "patient-entered" or
// "patient-reported" (see PatientEnteredTag).
//
// # Caveats
//
// Every function is safe for concurrent use. A PatientRecord's resources
// and a Summary belong to the caller; nothing in the package keeps them.
//
// ReadPaths groups patients by resource id, not by NHS number: the same
// person read from two systems (a PDS Patient and a Summary Care Record,
// say) is two records, and ReadPaths warns that they share a number. The
// server groups by NHS number and merges the demographics of the sources
// by MergePatients; it never merges two NHS numbers. Two patients can be
// assigned the same 999 number (there are about 909,000), which ReadPaths
// also reports.
//
// Scan rejects a patient's resources only if it has already read the
// Patient and rejected it. It reads NDJSON Patient files first for this
// reason, but a resource read from one call to Scan cannot be recalled by a
// Patient rejected in a later call.
//
// A reference by identifier ("Patient?identifier=...") to a patient is
// resolved within a Bundle only; in NDJSON, resources must name their
// patient as "Patient/<id>", as Bulk Data export does.
//
// The summary reads the FHIR R4 shape of each element, with a few STU3
// forms still found in older exports (a clinical status given as a plain
// code). An element of an unexpected shape is left out of the typed view;
// the resource itself is kept and counted. Over-precise decimals (Synthea
// writes temperatures to 15 places) are shown rounded to two; Quantity.Text
// keeps the number as written.
package record
