package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/policy"
	"kmcr/server/store"
)

// Admin is every admin operation of the central record, with typed
// arguments and results. LocalAdmin runs them on an open store; RemoteAdmin
// reaches a running server through its control socket. Both behave the
// same, errors included: a failure meant for the person at the command line
// is an *AdminError, and errors.Is(err, store.ErrNotFound) (ErrExists,
// ErrInvalidArgument, record.ErrInvalidNHSNumber) holds on both paths. The
// interface knows nothing of bbolt, so a database backend's command line
// uses LocalAdmin over its own store.
//
// Adding an operation (see docs/architecture.md, "Admin operations"):
//  1. a method here, with its argument and result types below;
//  2. its implementation on localAdmin, returning *AdminError (wrapping the
//     sentinel it stands for) for what the user must fix;
//  3. in admin_socket.go: an Op, one line in registerAdmin, and the
//     remoteAdmin method that calls it;
//  4. a row in TestAdmin_LocalAndRemoteAgree;
//  5. the command in cmd/kmcr-server, calling it inside withAdmin.
type Admin interface {
	// UserAdd creates a user who can log in from the client.
	UserAdd(ctx context.Context, a UserAddArgs) error
	// UserList lists every user, by name.
	UserList(ctx context.Context) ([]UserInfo, error)
	// UserDisable stops an account at once: it revokes every device of the
	// user (each wipes itself at its next contact, connected ones at once),
	// ends every session and refresh credential, and refuses new logins
	// and enrolments until UserEnable.
	UserDisable(ctx context.Context, name string) (UserDisableResult, error)
	// UserEnable lets a disabled user log in and enrol again (devices
	// revoked by UserDisable stay revoked).
	UserEnable(ctx context.Context, name string) error
	// UserPassword sets a user's password and ends every credential the
	// old one earned: each device must log in again.
	UserPassword(ctx context.Context, a UserPasswordArgs) error
	// OrgAdd creates an organisation, OrgList lists them in ODS-code
	// order, and OrgSet sets one's toolkit status (not met revokes its
	// users' devices).
	OrgAdd(ctx context.Context, a OrgAddArgs) error
	OrgList(ctx context.Context) ([]store.Org, error)
	OrgSet(ctx context.Context, a OrgSetArgs) (OrgSetResult, error)
	// CaseloadAdd and CaseloadRemove change a user's caseload; invalid
	// NHS numbers are refused one by one in the result, not as an error.
	CaseloadAdd(ctx context.Context, a NHSListArgs) (NHSListResult, error)
	CaseloadRemove(ctx context.Context, a NHSListArgs) (NHSListResult, error)
	// Object records a patient's objection to a purpose and Withdraw
	// withdraws it; each reports whether anything changed.
	Object(ctx context.Context, a ObjectionArgs) (bool, error)
	Withdraw(ctx context.Context, a ObjectionArgs) (bool, error)
	// DeviceList lists enrolled devices, oldest registration first.
	DeviceList(ctx context.Context) ([]DeviceInfo, error)
	// DeviceRevoke revokes a device: it wipes itself at its next contact.
	DeviceRevoke(ctx context.Context, id string) error
	// AccessLog is who viewed a patient's record (nhs in any accepted
	// spelling), oldest first, with the same as a FHIR Bundle.
	AccessLog(ctx context.Context, nhs string) (AccessLogResult, error)
	// Alerts lists every alert, oldest first.
	Alerts(ctx context.Context) ([]store.Alert, error)
	// AuditVerify re-checks every device's stored audit chain.
	AuditVerify(ctx context.Context) (VerifyResult, error)
	// KeysList describes the access-token signing keys, oldest first.
	KeysList(ctx context.Context) ([]TokenKeyInfo, error)
	// KeysRotate makes a new signing key; the previous one is accepted for
	// one token lifetime. It returns the keys as KeysList does.
	KeysRotate(ctx context.Context) ([]TokenKeyInfo, error)
	// Import reads FHIR files or folders, given as absolute paths (the
	// server may run in another working directory).
	Import(ctx context.Context, paths []string) (*ImportReport, error)
	// DispatchAdd makes a dispatch system's credential (shown once, kept
	// hashed); DispatchList lists them by name; DispatchRemove deletes one,
	// and its credential stops working at once.
	DispatchAdd(ctx context.Context, name string) (DispatchAddResult, error)
	DispatchList(ctx context.Context) ([]DispatchInfo, error)
	DispatchRemove(ctx context.Context, name string) error
	// IncidentOpen opens or updates an incident (as the dispatch API
	// does, with source IncidentSourceAdmin), IncidentClose ends one
	// (any source), IncidentList lists the open ones by id.
	IncidentOpen(ctx context.Context, a IncidentArgs) (IncidentInfo, error)
	IncidentClose(ctx context.Context, id string) (IncidentInfo, error)
	IncidentList(ctx context.Context) ([]IncidentInfo, error)
}

// DispatchAddResult is a new dispatch credential: the only time it is shown.
type DispatchAddResult struct {
	Name       string `json:"name"`
	Credential string `json:"credential"`
}

// DispatchInfo is a dispatch system as listed.
type DispatchInfo struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

func (a *localAdmin) DispatchAdd(_ context.Context, name string) (DispatchAddResult, error) {
	cred, err := a.svc.AddDispatcher(name)
	return DispatchAddResult{Name: name, Credential: cred}, err
}

func (a *localAdmin) DispatchList(context.Context) ([]DispatchInfo, error) {
	ds, err := a.svc.st.Dispatchers()
	var out []DispatchInfo
	for _, d := range ds {
		out = append(out, DispatchInfo{Name: d.Name, Created: d.Created})
	}
	return out, err
}

func (a *localAdmin) DispatchRemove(_ context.Context, name string) error {
	err := a.svc.st.RemoveDispatcher(name)
	if errors.Is(err, store.ErrNotFound) {
		return adminErr(store.ErrNotFound, "no dispatch system %q", name)
	}
	return err
}

func (a *localAdmin) IncidentOpen(_ context.Context, args IncidentArgs) (IncidentInfo, error) {
	args.Source = IncidentSourceAdmin
	in, err := a.svc.OpenIncident(args)
	if err != nil {
		return IncidentInfo{}, err
	}
	return incidentInfo(in), nil
}

func (a *localAdmin) IncidentClose(_ context.Context, id string) (IncidentInfo, error) {
	in, err := a.svc.CloseIncident(id, IncidentSourceAdmin)
	if err != nil {
		return IncidentInfo{}, err
	}
	return incidentInfo(in), nil
}

func (a *localAdmin) IncidentList(context.Context) ([]IncidentInfo, error) {
	ins, err := a.svc.OpenIncidents()
	var out []IncidentInfo
	for _, in := range ins {
		out = append(out, incidentInfo(in))
	}
	return out, err
}

// ErrInvalidArgument is wrapped by the *AdminError of an operation given an
// argument it cannot use (a malformed user name, an unknown role or
// purpose, a short password, a relative import path).
var ErrInvalidArgument = errors.New("invalid admin argument")

// errAdminMessage is matched by every *AdminError, so that the remote side
// knows to rebuild one (see adminCodes).
var errAdminMessage = errors.New("admin message")

// AdminError is an operation's failure as the caller should show it. Err,
// when set, is what it stands for (store.ErrNotFound, ErrInvalidArgument,
// ...), so errors.Is sees through it.
type AdminError struct {
	Message string
	Err     error
}

func (e *AdminError) Error() string { return e.Message }

// Unwrap returns what the error stands for.
func (e *AdminError) Unwrap() error { return e.Err }

// Is reports whether target is the mark every AdminError carries across
// the control socket.
func (e *AdminError) Is(target error) bool { return target == errAdminMessage }

func adminErr(err error, format string, args ...any) *AdminError {
	return &AdminError{Message: fmt.Sprintf(format, args...), Err: err}
}

// UserAddArgs adds a user.
type UserAddArgs struct {
	Name, Role, Password string
	// Org is the ODS code of the user's organisation; empty is DefaultOrg.
	Org string
}

// UserPasswordArgs sets a user's password.
type UserPasswordArgs struct {
	Name, Password string
}

// UserInfo is a user as listed for admins.
type UserInfo struct {
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	Created    time.Time `json:"created"`
	Disabled   bool      `json:"disabled"`
	DisabledAt time.Time `json:"disabled_at,omitzero"`
	// Devices counts the user's enrolled devices; Active those not revoked.
	Devices int `json:"devices"`
	Active  int `json:"active_devices"`
}

// UserDisableResult says what disabling a user ended.
type UserDisableResult struct {
	// AlreadyDisabled is set when the user was disabled before.
	AlreadyDisabled bool `json:"already_disabled"`
	// DevicesRevoked counts the devices this call revoked.
	DevicesRevoked int `json:"devices_revoked"`
	// SessionsEnded counts the sync sessions closed at once.
	SessionsEnded int `json:"sessions_ended"`
}

// NHSListArgs names a user and NHS numbers (caseload add and remove).
type NHSListArgs struct {
	User string
	NHS  []string
}

// NHSListResult says which numbers changed and which were refused.
type NHSListResult struct {
	Changed   []string
	Unchanged []string
	Refused   []string // "123 456 7890: fails the modulus 11 check"
}

// ObjectionArgs records or withdraws an objection.
type ObjectionArgs struct {
	NHS, Purpose string
}

// DeviceInfo is a device as listed for admins. JSON keys are part of the
// command line's interface ("device list --json").
type DeviceInfo struct {
	ID         string    `json:"id"`
	User       string    `json:"user"`
	Host       string    `json:"host"`
	Registered time.Time `json:"registered"`
	LastSeen   time.Time `json:"last_seen"`
	Revoked    bool      `json:"revoked"`
	AuditSeq   uint64    `json:"audit_seq"`
}

// AccessLogResult carries the access log for the command line: the events
// and the same report as a FHIR Bundle.
type AccessLogResult struct {
	Entries []audit.Stored
	FHIR    json.RawMessage
	// Grants are the accesses the server granted to the patient's record
	// (break-glass and dispatch incident grants), oldest first.
	Grants []store.Alert `json:",omitempty"`
}

// VerifyResult is the outcome of "audit verify".
type VerifyResult struct {
	Devices []ChainReport
	Broken  bool
}

// LocalAdmin runs operations directly on the service's store (and so
// notifies its subscribers: a serving process's sessions see the changes).
func LocalAdmin(svc *Service) Admin { return &localAdmin{svc: svc} }

type localAdmin struct{ svc *Service }

var _ Admin = (*localAdmin)(nil)

func (a *localAdmin) UserAdd(_ context.Context, args UserAddArgs) error {
	if strings.TrimSpace(args.Name) == "" || strings.ContainsAny(args.Name, "\x00/ ") {
		return adminErr(ErrInvalidArgument, "a user name is required (no spaces or slashes)")
	}
	if _, err := policy.ParseRole(args.Role); err != nil {
		return adminErr(ErrInvalidArgument, "%v", err)
	}
	if err := checkPassword(args.Password); err != nil {
		return err
	}
	org := DefaultOrg.ODS
	if args.Org != "" {
		ods, err := normODS(args.Org)
		if err != nil {
			return err
		}
		org = ods
	}
	if _, err := a.svc.st.Org(org); errors.Is(err, store.ErrNotFound) && org == DefaultOrg.ODS {
		if err := a.svc.ensureDefaultOrg(); err != nil {
			return err
		}
	} else if errors.Is(err, store.ErrNotFound) {
		return adminErr(store.ErrNotFound, "no organisation %s (add it with kmcr-server org add)", org)
	} else if err != nil {
		return err
	}
	h, err := HashPassword(args.Password, a.svc.cfg.Password)
	if err != nil {
		return err
	}
	err = a.svc.st.AddUser(store.User{Name: args.Name, Role: args.Role, PasswordHash: h, Created: a.svc.now(), Org: org})
	if errors.Is(err, store.ErrExists) {
		return adminErr(store.ErrExists, "user %q already exists", args.Name)
	}
	return err
}

// minPassword is the shortest password an admin may set.
const minPassword = 8

func checkPassword(pw string) error {
	if len(pw) < minPassword {
		return adminErr(ErrInvalidArgument, "the password must be at least %d characters", minPassword)
	}
	return nil
}

func (a *localAdmin) UserList(context.Context) ([]UserInfo, error) {
	us, err := a.svc.st.Users()
	if err != nil {
		return nil, err
	}
	ds, err := a.svc.st.Devices()
	if err != nil {
		return nil, err
	}
	out := make([]UserInfo, 0, len(us))
	idx := map[string]int{}
	for _, u := range us {
		idx[u.Name] = len(out)
		out = append(out, UserInfo{Name: u.Name, Role: u.Role, Created: u.Created, Disabled: u.Disabled, DisabledAt: u.DisabledAt})
	}
	for _, d := range ds {
		if i, ok := idx[d.User]; ok {
			out[i].Devices++
			if !d.Revoked {
				out[i].Active++
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (a *localAdmin) UserDisable(_ context.Context, name string) (UserDisableResult, error) {
	res, err := a.svc.DisableUser(name)
	if errors.Is(err, store.ErrNotFound) {
		return res, adminErr(store.ErrNotFound, "no user %q (see kmcr-server user list)", name)
	}
	return res, err
}

func (a *localAdmin) UserEnable(_ context.Context, name string) error {
	err := a.svc.st.UpdateUser(name, func(u *store.User) error {
		u.Disabled, u.DisabledAt = false, time.Time{}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return adminErr(store.ErrNotFound, "no user %q (see kmcr-server user list)", name)
	}
	return err
}

func (a *localAdmin) UserPassword(_ context.Context, args UserPasswordArgs) error {
	if err := checkPassword(args.Password); err != nil {
		return err
	}
	if _, err := a.svc.st.User(args.Name); errors.Is(err, store.ErrNotFound) {
		return adminErr(store.ErrNotFound, "no user %q (see kmcr-server user list)", args.Name)
	} else if err != nil {
		return err
	}
	h, err := HashPassword(args.Password, a.svc.cfg.Password)
	if err != nil {
		return err
	}
	return a.svc.SetPassword(args.Name, h)
}

func (a *localAdmin) CaseloadAdd(_ context.Context, args NHSListArgs) (NHSListResult, error) {
	return a.caseload(args, a.svc.st.CaseloadAdd)
}

func (a *localAdmin) CaseloadRemove(_ context.Context, args NHSListArgs) (NHSListResult, error) {
	return a.caseload(args, a.svc.st.CaseloadRemove)
}

// caseload validates the numbers, applies change to the valid ones and
// sorts them into changed and unchanged.
func (a *localAdmin) caseload(args NHSListArgs, change func(user string, nhs []string) ([]string, error)) (NHSListResult, error) {
	var res NHSListResult
	var valid []string
	for _, s := range args.NHS {
		n, err := record.ParseNHSNumber(s)
		if err != nil {
			res.Refused = append(res.Refused, err.Error())
			continue
		}
		valid = append(valid, n.Digits())
	}
	if len(valid) == 0 {
		return res, nil
	}
	changed, err := change(args.User, valid)
	if errors.Is(err, store.ErrNotFound) {
		return NHSListResult{}, adminErr(store.ErrNotFound, "no user %q", args.User)
	}
	if err != nil {
		return NHSListResult{}, err
	}
	res.Changed = changed
	in := map[string]bool{}
	for _, c := range changed {
		in[c] = true
	}
	for _, v := range valid {
		if !in[v] {
			res.Unchanged = append(res.Unchanged, v)
		}
	}
	return res, nil
}

func (a *localAdmin) Object(_ context.Context, args ObjectionArgs) (bool, error) {
	return a.objection(args, a.svc.st.Object)
}

func (a *localAdmin) Withdraw(_ context.Context, args ObjectionArgs) (bool, error) {
	return a.objection(args, a.svc.st.Withdraw)
}

func (a *localAdmin) objection(args ObjectionArgs, change func(nhs, purpose string) (bool, error)) (bool, error) {
	n, err := record.ParseNHSNumber(args.NHS)
	if err != nil {
		return false, adminErr(err, "%v", err)
	}
	if _, err := policy.ParsePurpose(args.Purpose); err != nil {
		return false, adminErr(ErrInvalidArgument, "%v", err)
	}
	return change(n.Digits(), args.Purpose)
}

func (a *localAdmin) DeviceList(context.Context) ([]DeviceInfo, error) {
	ds, err := a.svc.st.Devices()
	if err != nil {
		return nil, err
	}
	out := make([]DeviceInfo, 0, len(ds))
	for _, d := range ds {
		out = append(out, DeviceInfo{ID: d.ID, User: d.User, Host: d.Host, Registered: d.Registered, LastSeen: d.LastSeen, Revoked: d.Revoked, AuditSeq: chainSeq(d.Chain)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Registered.Before(out[j].Registered) })
	return out, nil
}

func (a *localAdmin) DeviceRevoke(_ context.Context, id string) error {
	err := a.svc.st.RevokeDevice(id, a.svc.now())
	if errors.Is(err, store.ErrNotFound) {
		return adminErr(store.ErrNotFound, "no device %q (see kmcr-server device list)", id)
	}
	return err
}

func (a *localAdmin) AccessLog(_ context.Context, nhs string) (AccessLogResult, error) {
	entries, err := a.svc.AccessLog(nhs)
	if err != nil {
		return AccessLogResult{}, adminErr(err, "%v", err)
	}
	b, err := audit.Bundle(entries)
	if err != nil {
		return AccessLogResult{}, err
	}
	grants, err := a.svc.Grants(nhs)
	if err != nil {
		return AccessLogResult{}, err
	}
	return AccessLogResult{Entries: entries, FHIR: b, Grants: grants}, nil
}

func (a *localAdmin) Alerts(context.Context) ([]store.Alert, error) {
	var out []store.Alert
	err := a.svc.st.Alerts(func(al store.Alert) error { out = append(out, al); return nil })
	return out, err
}

func (a *localAdmin) AuditVerify(context.Context) (VerifyResult, error) {
	reps, err := a.svc.VerifyChains()
	if err != nil && !errors.Is(err, ErrChainBroken) {
		return VerifyResult{}, err
	}
	return VerifyResult{Devices: reps, Broken: err != nil}, nil
}

func (a *localAdmin) KeysList(context.Context) ([]TokenKeyInfo, error) {
	return a.svc.cfg.TokenKeys.Info(), nil
}

func (a *localAdmin) KeysRotate(context.Context) ([]TokenKeyInfo, error) {
	return a.svc.cfg.TokenKeys.Rotate(a.svc.now())
}

func (a *localAdmin) Import(ctx context.Context, paths []string) (*ImportReport, error) {
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return nil, adminErr(ErrInvalidArgument, "import path %q must be absolute", p)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return a.svc.Import(paths, nil)
}
