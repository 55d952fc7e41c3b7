package storetest

import (
	"sync"
	"time"

	"kmcr/server/store"
)

// calls counts, across a whole Run, which Store methods the suite called.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func newCalls() *calls { return &calls{n: map[string]int{}} }

func (c *calls) hit(name string) {
	c.mu.Lock()
	c.n[name]++
	c.mu.Unlock()
}

func (c *calls) called(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name] > 0
}

// wrap returns s recording every call. A method added to store.Store is
// promoted from the embedded interface unrecorded, so Run reports it as
// never called until it has a case and a method here.
func (c *calls) wrap(s store.Store) store.Store { return &recorder{Store: s, calls: c} }

// recorder is a Store that counts calls and delegates.
type recorder struct {
	store.Store
	calls *calls
}

func (rec *recorder) Epoch() string {
	rec.calls.hit("Epoch")
	return rec.Store.Epoch()
}

func (rec *recorder) LastSeq() (uint64, error) {
	rec.calls.hit("LastSeq")
	return rec.Store.LastSeq()
}

func (rec *recorder) Secret(name string) ([]byte, error) {
	rec.calls.hit("Secret")
	return rec.Store.Secret(name)
}

func (rec *recorder) Subscribe() (<-chan uint64, func()) {
	rec.calls.hit("Subscribe")
	return rec.Store.Subscribe()
}

func (rec *recorder) Close() error {
	rec.calls.hit("Close")
	return rec.Store.Close()
}

func (rec *recorder) AddUser(u store.User) error {
	rec.calls.hit("AddUser")
	return rec.Store.AddUser(u)
}

func (rec *recorder) User(name string) (store.User, error) {
	rec.calls.hit("User")
	return rec.Store.User(name)
}

func (rec *recorder) Users() ([]store.User, error) {
	rec.calls.hit("Users")
	return rec.Store.Users()
}

func (rec *recorder) UpdateUser(name string, fn func(u *store.User) error) error {
	rec.calls.hit("UpdateUser")
	return rec.Store.UpdateUser(name, fn)
}

func (rec *recorder) AddOrg(o store.Org) error {
	rec.calls.hit("AddOrg")
	return rec.Store.AddOrg(o)
}

func (rec *recorder) Org(ods string) (store.Org, error) {
	rec.calls.hit("Org")
	return rec.Store.Org(ods)
}

func (rec *recorder) Orgs() ([]store.Org, error) {
	rec.calls.hit("Orgs")
	return rec.Store.Orgs()
}

func (rec *recorder) UpdateOrg(ods string, fn func(o *store.Org) error) error {
	rec.calls.hit("UpdateOrg")
	return rec.Store.UpdateOrg(ods, fn)
}

func (rec *recorder) CaseloadAdd(user string, nhs []string) ([]string, error) {
	rec.calls.hit("CaseloadAdd")
	return rec.Store.CaseloadAdd(user, nhs)
}

func (rec *recorder) CaseloadRemove(user string, nhs []string) ([]string, error) {
	rec.calls.hit("CaseloadRemove")
	return rec.Store.CaseloadRemove(user, nhs)
}

func (rec *recorder) InCaseload(user, nhs string) (bool, error) {
	rec.calls.hit("InCaseload")
	return rec.Store.InCaseload(user, nhs)
}

func (rec *recorder) Permitted(user, after string, now time.Time, fn func(nhs, rel string, expires time.Time) error) error {
	rec.calls.hit("Permitted")
	return rec.Store.Permitted(user, after, now, fn)
}

func (rec *recorder) CountPermitted(user, after string, now time.Time) (int, error) {
	rec.calls.hit("CountPermitted")
	return rec.Store.CountPermitted(user, after, now)
}

func (rec *recorder) Object(nhs, purpose string) (bool, error) {
	rec.calls.hit("Object")
	return rec.Store.Object(nhs, purpose)
}

func (rec *recorder) Withdraw(nhs, purpose string) (bool, error) {
	rec.calls.hit("Withdraw")
	return rec.Store.Withdraw(nhs, purpose)
}

func (rec *recorder) Objections(nhs string) ([]string, error) {
	rec.calls.hit("Objections")
	return rec.Store.Objections(nhs)
}

func (rec *recorder) GrantRelationship(r store.Relationship) error {
	rec.calls.hit("GrantRelationship")
	return rec.Store.GrantRelationship(r)
}

func (rec *recorder) Relationship(user, nhs string, now time.Time) (store.Relationship, bool, error) {
	rec.calls.hit("Relationship")
	return rec.Store.Relationship(user, nhs, now)
}

func (rec *recorder) ExpireRelationships(now time.Time) (int, error) {
	rec.calls.hit("ExpireRelationships")
	return rec.Store.ExpireRelationships(now)
}

func (rec *recorder) RegisterDevice(d store.Device) error {
	rec.calls.hit("RegisterDevice")
	return rec.Store.RegisterDevice(d)
}

func (rec *recorder) Device(id string) (store.Device, error) {
	rec.calls.hit("Device")
	return rec.Store.Device(id)
}

func (rec *recorder) UpdateDevice(id string, fn func(d *store.Device) error) error {
	rec.calls.hit("UpdateDevice")
	return rec.Store.UpdateDevice(id, fn)
}

func (rec *recorder) Devices() ([]store.Device, error) {
	rec.calls.hit("Devices")
	return rec.Store.Devices()
}

func (rec *recorder) RevokeDevice(id string, now time.Time) error {
	rec.calls.hit("RevokeDevice")
	return rec.Store.RevokeDevice(id, now)
}

func (rec *recorder) StageResources(items []store.StagedResource) ([]string, error) {
	rec.calls.hit("StageResources")
	return rec.Store.StageResources(items)
}

func (rec *recorder) PutShared(items []store.StoredResource) error {
	rec.calls.hit("PutShared")
	return rec.Store.PutShared(items)
}

func (rec *recorder) Shared(key string) (store.StoredResource, bool, error) {
	rec.calls.hit("Shared")
	return rec.Store.Shared(key)
}

func (rec *recorder) PatientResources(patientKey string) ([]store.StoredResource, error) {
	rec.calls.hit("PatientResources")
	return rec.Store.PatientResources(patientKey)
}

func (rec *recorder) PatientKeyNHS(patientKey string) (string, bool, error) {
	rec.calls.hit("PatientKeyNHS")
	return rec.Store.PatientKeyNHS(patientKey)
}

func (rec *recorder) MapPatientKeys(m map[string]string) error {
	rec.calls.hit("MapPatientKeys")
	return rec.Store.MapPatientKeys(m)
}

func (rec *recorder) PatientKeys(nhs string) ([]string, error) {
	rec.calls.hit("PatientKeys")
	return rec.Store.PatientKeys(nhs)
}

func (rec *recorder) PatientSources(nhs []string) (map[string][]store.PatientSource, error) {
	rec.calls.hit("PatientSources")
	return rec.Store.PatientSources(nhs)
}

func (rec *recorder) CommitPatients(ups []store.PatientUpdate, now time.Time) (int, error) {
	rec.calls.hit("CommitPatients")
	return rec.Store.CommitPatients(ups, now)
}

func (rec *recorder) Patient(nhs string) (store.PatientMeta, error) {
	rec.calls.hit("Patient")
	return rec.Store.Patient(nhs)
}

func (rec *recorder) TracePatients(family, birth string, limit int) ([]store.PatientMeta, error) {
	rec.calls.hit("TracePatients")
	return rec.Store.TracePatients(family, birth, limit)
}

func (rec *recorder) Doc(nhs, kind string) ([]byte, error) {
	rec.calls.hit("Doc")
	return rec.Store.Doc(nhs, kind)
}

func (rec *recorder) PatientCount() (int, error) {
	rec.calls.hit("PatientCount")
	return rec.Store.PatientCount()
}

func (rec *recorder) Changes(after uint64, fn func(store.Change) error) error {
	rec.calls.hit("Changes")
	return rec.Store.Changes(after, fn)
}

func (rec *recorder) StoreAudit(device string, events, conflicts []store.StoredEvent, alerts []store.Alert, chain []byte) error {
	rec.calls.hit("StoreAudit")
	return rec.Store.StoreAudit(device, events, conflicts, alerts, chain)
}

func (rec *recorder) Conflicts(device string, fn func(store.StoredEvent) error) error {
	rec.calls.hit("Conflicts")
	return rec.Store.Conflicts(device, fn)
}

func (rec *recorder) AuditHash(device string, seq uint64) ([]byte, bool, error) {
	rec.calls.hit("AuditHash")
	return rec.Store.AuditHash(device, seq)
}

func (rec *recorder) AccessLogSince(nhs string, since time.Time, fn func(store.StoredEvent) error) error {
	rec.calls.hit("AccessLogSince")
	return rec.Store.AccessLogSince(nhs, since, fn)
}

func (rec *recorder) AccessLog(nhs string, fn func(store.StoredEvent) error) error {
	rec.calls.hit("AccessLog")
	return rec.Store.AccessLog(nhs, fn)
}

func (rec *recorder) AuditEvents(device string, fn func(store.StoredEvent) error) error {
	rec.calls.hit("AuditEvents")
	return rec.Store.AuditEvents(device, fn)
}

func (rec *recorder) AddAlerts(alerts []store.Alert) error {
	rec.calls.hit("AddAlerts")
	return rec.Store.AddAlerts(alerts)
}

func (rec *recorder) Alerts(fn func(store.Alert) error) error {
	rec.calls.hit("Alerts")
	return rec.Store.Alerts(fn)
}

func (rec *recorder) AddNotifications(ns []store.Notification) (int, error) {
	rec.calls.hit("AddNotifications")
	return rec.Store.AddNotifications(ns)
}

func (rec *recorder) Notification(id string) (store.Notification, error) {
	rec.calls.hit("Notification")
	return rec.Store.Notification(id)
}

func (rec *recorder) PatientNotifications(nhs string) ([]store.Notification, error) {
	rec.calls.hit("PatientNotifications")
	return rec.Store.PatientNotifications(nhs)
}

func (rec *recorder) ClaimNotification(node string, now time.Time, stale time.Duration) (store.Notification, bool, error) {
	rec.calls.hit("ClaimNotification")
	return rec.Store.ClaimNotification(node, now, stale)
}

func (rec *recorder) NotificationSent(id, node string, at time.Time, to string) error {
	rec.calls.hit("NotificationSent")
	return rec.Store.NotificationSent(id, node, at, to)
}

func (rec *recorder) NotificationRetry(id, node string, next time.Time, reason string) error {
	rec.calls.hit("NotificationRetry")
	return rec.Store.NotificationRetry(id, node, next, reason)
}

func (rec *recorder) SetContact(nhs, email string) error {
	rec.calls.hit("SetContact")
	return rec.Store.SetContact(nhs, email)
}

func (rec *recorder) Contact(nhs string) (string, error) {
	rec.calls.hit("Contact")
	return rec.Store.Contact(nhs)
}

func (rec *recorder) PutIncident(in store.Incident) (store.Incident, bool, error) {
	rec.calls.hit("PutIncident")
	return rec.Store.PutIncident(in)
}

func (rec *recorder) EndIncident(id string, now time.Time) (store.Incident, error) {
	rec.calls.hit("EndIncident")
	return rec.Store.EndIncident(id, now)
}

func (rec *recorder) Incident(id string) (store.Incident, error) {
	rec.calls.hit("Incident")
	return rec.Store.Incident(id)
}

func (rec *recorder) Incidents(fn func(store.Incident) error) error {
	rec.calls.hit("Incidents")
	return rec.Store.Incidents(fn)
}

func (rec *recorder) ExpireIncidents(now time.Time) ([]store.Incident, error) {
	rec.calls.hit("ExpireIncidents")
	return rec.Store.ExpireIncidents(now)
}

func (rec *recorder) IncidentGrant(user, nhs string, now time.Time) (time.Time, bool, error) {
	rec.calls.hit("IncidentGrant")
	return rec.Store.IncidentGrant(user, nhs, now)
}

func (rec *recorder) PatientsAtPostcode(postcode string) ([]store.PatientMeta, error) {
	rec.calls.hit("PatientsAtPostcode")
	return rec.Store.PatientsAtPostcode(postcode)
}

func (rec *recorder) AddDispatcher(d store.Dispatcher) error {
	rec.calls.hit("AddDispatcher")
	return rec.Store.AddDispatcher(d)
}

func (rec *recorder) Dispatcher(name string) (store.Dispatcher, error) {
	rec.calls.hit("Dispatcher")
	return rec.Store.Dispatcher(name)
}

func (rec *recorder) Dispatchers() ([]store.Dispatcher, error) {
	rec.calls.hit("Dispatchers")
	return rec.Store.Dispatchers()
}

func (rec *recorder) RemoveDispatcher(name string) error {
	rec.calls.hit("RemoveDispatcher")
	return rec.Store.RemoveDispatcher(name)
}
