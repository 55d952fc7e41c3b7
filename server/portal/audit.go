package portal

import (
	"time"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/selfaudit"
)

// AuditDevice is the device the portal's own audit chain is kept under on
// a single node (selfaudit.Portal): the citizen's page views, stored like
// any device's events, so they are in the patient's access log and
// "kmcr-server audit verify" checks them. Nodes sharing a database each
// keep theirs under selfaudit.Device(selfaudit.Portal, Config.Node).
const AuditDevice = selfaudit.Portal

// PatientRole is the role the audit trail gives a citizen viewing their
// own record.
const PatientRole = "patient"

// purposeSelf is the HL7 v3 ActReason a patient's own access is made
// under: "patient requested".
const purposeSelf = "PATRQT"

// auditor appends the portal's events to its chain.
type auditor struct {
	chain *selfaudit.Chain
	now   func() time.Time
}

// view records that the citizen viewed a page of their record.
func (a *auditor) view(s *Session, page string) error {
	return a.chain.Record(audit.Event{
		Action:   audit.ActionView,
		Occurred: a.now().UTC(),
		User:     audit.Actor{ID: "citizen:" + s.Subject, Name: "You (the patient)", Role: PatientRole},
		Patient:  record.NHSNumber(s.NHS),
		Sections: []string{"portal:" + page},
		Purpose:  purposeSelf,
		Outcome:  audit.Outcome{Result: audit.ResultSuccess},
	})
}
