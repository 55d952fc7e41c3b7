package server

import (
	"fmt"
	"strings"
	"sync"

	"kmcr/server/store"
)

// patientWrites serialises the rebuilds of patients' own additions, so
// two additions at once cannot commit a document built before the other.
var patientWrites sync.Mutex

// AddPatientResources stores resources the patient adds to their own
// record (readings, sharing choices as FHIR Consent) beside their first
// source's resources, and rebuilds the patient's documents, so connected
// clients holding the patient receive them as any change. A resource
// whose key is already stored with the same bytes changes nothing. It
// returns whether the documents changed, and store.ErrNotFound for an NHS
// number with no record.
func (s *Service) AddPatientResources(nhs string, rs []store.StoredResource) (bool, error) {
	patientWrites.Lock()
	defer patientWrites.Unlock()
	keys, err := s.st.PatientKeys(nhs)
	if err != nil {
		return false, err
	}
	if len(keys) == 0 {
		return false, fmt.Errorf("patient %s: %w", nhs, store.ErrNotFound)
	}
	staged := make([]store.StagedResource, 0, len(rs))
	for _, r := range rs {
		staged = append(staged, store.StagedResource{PatientKey: keys[0], Key: r.Key, FullURL: r.FullURL, Raw: r.Raw})
	}
	changed, err := s.st.StageResources(staged)
	if err != nil || len(changed) == 0 {
		return false, err
	}
	b, err := s.buildPatient(nhs)
	if err != nil {
		return false, err
	}
	n, err := s.st.CommitPatients([]store.PatientUpdate{b.up}, s.now())
	return n > 0, err
}

// PatientResourcesOf returns the patient's stored resources of one type
// (every source's), in key order per source.
func (s *Service) PatientResourcesOf(nhs, typ string) ([]store.StoredResource, error) {
	keys, err := s.st.PatientKeys(nhs)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("patient %s: %w", nhs, store.ErrNotFound)
	}
	var out []store.StoredResource
	for _, k := range keys {
		rs, err := s.st.PatientResources(k)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if strings.HasPrefix(r.Key, typ+"/") {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// PatientReference is the reference ("Patient/<id>") the patient's own
// additions point at: their first source's Patient.
func (s *Service) PatientReference(nhs string) (string, error) {
	keys, err := s.st.PatientKeys(nhs)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", fmt.Errorf("patient %s: %w", nhs, store.ErrNotFound)
	}
	return keys[0], nil
}
