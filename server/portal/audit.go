package portal

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/store"
)

// AuditDevice is the device the portal's own audit chain is kept under:
// the citizen's page views, stored like any device's events, so they are
// in the patient's access log and "kmcr-server audit verify" checks them.
const AuditDevice = "kmcr-patient-portal"

// PatientRole is the role the audit trail gives a citizen viewing their
// own record.
const PatientRole = "patient"

// purposeSelf is the HL7 v3 ActReason a patient's own access is made
// under: "patient requested".
const purposeSelf = "PATRQT"

// auditor appends the portal's events to its chain, one at a time.
type auditor struct {
	st  store.Store
	now func() time.Time
	mu  sync.Mutex
}

// view records that the citizen viewed a page of their record.
func (a *auditor) view(s *Session, page string) error {
	return a.append(audit.Event{
		Action:   audit.ActionView,
		Occurred: a.now().UTC(),
		User:     audit.Actor{ID: "citizen:" + s.Subject, Name: "You (the patient)", Role: PatientRole},
		Device:   audit.Device{ID: AuditDevice, Host: "patient portal"},
		Patient:  record.NHSNumber(s.NHS),
		Sections: []string{"portal:" + page},
		Purpose:  purposeSelf,
		Outcome:  audit.Outcome{Result: audit.ResultSuccess},
	})
}

func (a *auditor) append(e audit.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d, err := a.st.Device(AuditDevice)
	if errors.Is(err, store.ErrNotFound) {
		d = store.Device{ID: AuditDevice, User: "kmcr-portal", Host: "patient portal", Registered: e.Occurred}
		if err := a.st.RegisterDevice(d); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
		d, err = a.st.Device(AuditDevice)
	}
	if err != nil {
		return err
	}
	var chain audit.DeviceChain
	if len(d.Chain) > 0 {
		if err := json.Unmarshal(d.Chain, &chain); err != nil {
			return err
		}
	}
	e, head := audit.Next(audit.Head{Seq: chain.LastSeq, Hash: chain.LastHash}, e)
	chain = audit.DeviceChain{DeviceID: AuditDevice, LastSeq: head.Seq, LastHash: head.Hash, LastOccurred: e.Occurred, SignedSeq: chain.SignedSeq}
	cb, err := json.Marshal(chain)
	if err != nil {
		return err
	}
	se := store.StoredEvent{Device: AuditDevice, Seq: e.Seq, Hash: head.Hash[:], Canonical: e.Canonical(), Recorded: e.Occurred, NHS: e.Patient.Digits()}
	return a.st.StoreAudit(AuditDevice, []store.StoredEvent{se}, nil, nil, cb)
}
