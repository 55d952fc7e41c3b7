package server

import (
	"context"
	"errors"
	"fmt"

	"kmcr/internal/ctlsock"
	"kmcr/record"
	"kmcr/server/store"
)

// SocketName is the admin control socket inside the data directory: how
// admin commands reach a running server, which holds the store's lock.
// Only the owner of the data directory can connect (mode 0600).
const SocketName = "admin.sock"

// adminCodes are the errors whose identity crosses the admin socket. Add a
// sentinel here when a caller must tell it apart from a remote answer.
var adminCodes = ctlsock.Codes{
	"admin-message":      errAdminMessage,
	"not-found":          store.ErrNotFound,
	"exists":             store.ErrExists,
	"invalid-argument":   ErrInvalidArgument,
	"invalid-nhs-number": record.ErrInvalidNHSNumber,
}

// The admin operations on the socket: one Op each, used by registerAdmin
// and by remoteAdmin, so the two cannot disagree on a name or a type.
var (
	opUserAdd        = ctlsock.Op[UserAddArgs, ctlsock.None]{Name: "user-add"}
	opUserList       = ctlsock.Op[ctlsock.None, []UserInfo]{Name: "user-list"}
	opUserDisable    = ctlsock.Op[string, UserDisableResult]{Name: "user-disable"}
	opUserEnable     = ctlsock.Op[string, ctlsock.None]{Name: "user-enable"}
	opUserPassword   = ctlsock.Op[UserPasswordArgs, ctlsock.None]{Name: "user-password"}
	opOrgAdd         = ctlsock.Op[OrgAddArgs, ctlsock.None]{Name: "org-add"}
	opOrgList        = ctlsock.Op[ctlsock.None, []store.Org]{Name: "org-list"}
	opOrgSet         = ctlsock.Op[OrgSetArgs, OrgSetResult]{Name: "org-set"}
	opCaseloadAdd    = ctlsock.Op[NHSListArgs, NHSListResult]{Name: "caseload-add"}
	opCaseloadRemove = ctlsock.Op[NHSListArgs, NHSListResult]{Name: "caseload-remove"}
	opObject         = ctlsock.Op[ObjectionArgs, bool]{Name: "object"}
	opWithdraw       = ctlsock.Op[ObjectionArgs, bool]{Name: "withdraw"}
	opDeviceList     = ctlsock.Op[ctlsock.None, []DeviceInfo]{Name: "device-list"}
	opDeviceRevoke   = ctlsock.Op[string, ctlsock.None]{Name: "device-revoke"}
	opAccessLog      = ctlsock.Op[string, AccessLogResult]{Name: "access-log"}
	opAlerts         = ctlsock.Op[ctlsock.None, []store.Alert]{Name: "alerts"}
	opAuditVerify    = ctlsock.Op[ctlsock.None, VerifyResult]{Name: "audit-verify"}
	opKeysList       = ctlsock.Op[ctlsock.None, []TokenKeyInfo]{Name: "keys-list"}
	opKeysRotate     = ctlsock.Op[ctlsock.None, []TokenKeyInfo]{Name: "keys-rotate"}
	opImport         = ctlsock.Op[[]string, *ImportReport]{Name: "import"}
	opDispatchAdd    = ctlsock.Op[string, DispatchAddResult]{Name: "dispatch-add"}
	opDispatchList   = ctlsock.Op[ctlsock.None, []DispatchInfo]{Name: "dispatch-list"}
	opDispatchRemove = ctlsock.Op[string, ctlsock.None]{Name: "dispatch-remove"}
	opIncidentOpen   = ctlsock.Op[IncidentArgs, IncidentInfo]{Name: "incident-open"}
	opIncidentClose  = ctlsock.Op[string, IncidentInfo]{Name: "incident-close"}
	opIncidentList   = ctlsock.Op[ctlsock.None, []IncidentInfo]{Name: "incident-list"}
)

// registerAdmin serves every operation of a on s.
func registerAdmin(s *ctlsock.Server, a Admin) {
	ctlsock.Handle(s, opUserAdd, ctlsock.NoResult(a.UserAdd))
	ctlsock.Handle(s, opUserList, ctlsock.NoArgs(a.UserList))
	ctlsock.Handle(s, opUserDisable, a.UserDisable)
	ctlsock.Handle(s, opUserEnable, ctlsock.NoResult(a.UserEnable))
	ctlsock.Handle(s, opUserPassword, ctlsock.NoResult(a.UserPassword))
	ctlsock.Handle(s, opOrgAdd, ctlsock.NoResult(a.OrgAdd))
	ctlsock.Handle(s, opOrgList, ctlsock.NoArgs(a.OrgList))
	ctlsock.Handle(s, opOrgSet, a.OrgSet)
	ctlsock.Handle(s, opCaseloadAdd, a.CaseloadAdd)
	ctlsock.Handle(s, opCaseloadRemove, a.CaseloadRemove)
	ctlsock.Handle(s, opObject, a.Object)
	ctlsock.Handle(s, opWithdraw, a.Withdraw)
	ctlsock.Handle(s, opDeviceList, ctlsock.NoArgs(a.DeviceList))
	ctlsock.Handle(s, opDeviceRevoke, ctlsock.NoResult(a.DeviceRevoke))
	ctlsock.Handle(s, opAccessLog, a.AccessLog)
	ctlsock.Handle(s, opAlerts, ctlsock.NoArgs(a.Alerts))
	ctlsock.Handle(s, opAuditVerify, ctlsock.NoArgs(a.AuditVerify))
	ctlsock.Handle(s, opKeysList, ctlsock.NoArgs(a.KeysList))
	ctlsock.Handle(s, opKeysRotate, ctlsock.NoArgs(a.KeysRotate))
	ctlsock.Handle(s, opImport, a.Import)
	ctlsock.Handle(s, opDispatchAdd, a.DispatchAdd)
	ctlsock.Handle(s, opDispatchList, ctlsock.NoArgs(a.DispatchList))
	ctlsock.Handle(s, opDispatchRemove, ctlsock.NoResult(a.DispatchRemove))
	ctlsock.Handle(s, opIncidentOpen, a.IncidentOpen)
	ctlsock.Handle(s, opIncidentClose, a.IncidentClose)
	ctlsock.Handle(s, opIncidentList, ctlsock.NoArgs(a.IncidentList))
}

// AdminServer answers admin operations on the control socket of a data
// directory; it is a service run with Serve.
type AdminServer struct{ srv *ctlsock.Server }

// ListenAdmin binds the admin socket in dataDir for a (LocalAdmin of the
// serving Service). The caller holds the store's lock, so a socket left
// there is stale and is replaced.
func ListenAdmin(dataDir string, a Admin) (*AdminServer, error) {
	srv, err := ctlsock.Listen(dataDir, SocketName, adminCodes)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	registerAdmin(srv, a)
	return &AdminServer{srv: srv}, nil
}

// Serve answers admin operations until ctx ends, then removes the socket.
func (s *AdminServer) Serve(ctx context.Context) error { return s.srv.Serve(ctx) }

// Close releases the socket of an AdminServer that will not be served.
func (s *AdminServer) Close() error { return s.srv.Close() }

// Serving reports whether a server answers on dataDir's admin socket.
func Serving(dataDir string) bool { return ctlsock.Answers(dataDir, SocketName) }

// RemoteAdmin reaches a running server's control socket in dataDir.
func RemoteAdmin(dataDir string) Admin {
	return &remoteAdmin{c: ctlsock.NewClient(dataDir, SocketName, adminCodes)}
}

type remoteAdmin struct{ c *ctlsock.Client }

var _ Admin = (*remoteAdmin)(nil)

// call runs one operation on the running server and gives its error the
// shape the local path gives it.
func call[A, R any](ctx context.Context, r *remoteAdmin, op ctlsock.Op[A, R], a A) (R, error) {
	res, err := ctlsock.Call(ctx, r.c, op, a)
	if err == nil {
		return res, nil
	}
	var ce *ctlsock.Error
	switch {
	case errors.Is(err, ctlsock.ErrNotAnswering):
		return res, fmt.Errorf("the store is in use but the running server's admin socket does not answer: %w", err)
	case errors.Is(err, ctlsock.ErrUnknownOperation):
		return res, fmt.Errorf("the running server does not know %q (it is an older kmcr-server: restart it with this version): %w", op.Name, err)
	case errors.As(err, &ce) && errors.Is(err, errAdminMessage):
		return res, &AdminError{Message: ce.Message, Err: ce}
	}
	return res, err
}

func (r *remoteAdmin) UserAdd(ctx context.Context, a UserAddArgs) error {
	_, err := call(ctx, r, opUserAdd, a)
	return err
}

func (r *remoteAdmin) UserList(ctx context.Context) ([]UserInfo, error) {
	return call(ctx, r, opUserList, ctlsock.None{})
}

func (r *remoteAdmin) UserDisable(ctx context.Context, name string) (UserDisableResult, error) {
	return call(ctx, r, opUserDisable, name)
}

func (r *remoteAdmin) UserEnable(ctx context.Context, name string) error {
	_, err := call(ctx, r, opUserEnable, name)
	return err
}

func (r *remoteAdmin) UserPassword(ctx context.Context, a UserPasswordArgs) error {
	_, err := call(ctx, r, opUserPassword, a)
	return err
}

func (r *remoteAdmin) OrgAdd(ctx context.Context, a OrgAddArgs) error {
	_, err := call(ctx, r, opOrgAdd, a)
	return err
}

func (r *remoteAdmin) OrgList(ctx context.Context) ([]store.Org, error) {
	return call(ctx, r, opOrgList, ctlsock.None{})
}

func (r *remoteAdmin) OrgSet(ctx context.Context, a OrgSetArgs) (OrgSetResult, error) {
	return call(ctx, r, opOrgSet, a)
}

func (r *remoteAdmin) CaseloadAdd(ctx context.Context, a NHSListArgs) (NHSListResult, error) {
	return call(ctx, r, opCaseloadAdd, a)
}

func (r *remoteAdmin) CaseloadRemove(ctx context.Context, a NHSListArgs) (NHSListResult, error) {
	return call(ctx, r, opCaseloadRemove, a)
}

func (r *remoteAdmin) Object(ctx context.Context, a ObjectionArgs) (bool, error) {
	return call(ctx, r, opObject, a)
}

func (r *remoteAdmin) Withdraw(ctx context.Context, a ObjectionArgs) (bool, error) {
	return call(ctx, r, opWithdraw, a)
}

func (r *remoteAdmin) DeviceList(ctx context.Context) ([]DeviceInfo, error) {
	return call(ctx, r, opDeviceList, ctlsock.None{})
}

func (r *remoteAdmin) DeviceRevoke(ctx context.Context, id string) error {
	_, err := call(ctx, r, opDeviceRevoke, id)
	return err
}

func (r *remoteAdmin) AccessLog(ctx context.Context, nhs string) (AccessLogResult, error) {
	return call(ctx, r, opAccessLog, nhs)
}

func (r *remoteAdmin) Alerts(ctx context.Context) ([]store.Alert, error) {
	return call(ctx, r, opAlerts, ctlsock.None{})
}

func (r *remoteAdmin) AuditVerify(ctx context.Context) (VerifyResult, error) {
	return call(ctx, r, opAuditVerify, ctlsock.None{})
}

func (r *remoteAdmin) Import(ctx context.Context, paths []string) (*ImportReport, error) {
	return call(ctx, r, opImport, paths)
}

func (r *remoteAdmin) KeysList(ctx context.Context) ([]TokenKeyInfo, error) {
	return call(ctx, r, opKeysList, ctlsock.None{})
}

func (r *remoteAdmin) KeysRotate(ctx context.Context) ([]TokenKeyInfo, error) {
	return call(ctx, r, opKeysRotate, ctlsock.None{})
}

func (r *remoteAdmin) DispatchAdd(ctx context.Context, name string) (DispatchAddResult, error) {
	return call(ctx, r, opDispatchAdd, name)
}

func (r *remoteAdmin) DispatchList(ctx context.Context) ([]DispatchInfo, error) {
	return call(ctx, r, opDispatchList, ctlsock.None{})
}

func (r *remoteAdmin) DispatchRemove(ctx context.Context, name string) error {
	_, err := call(ctx, r, opDispatchRemove, name)
	return err
}

func (r *remoteAdmin) IncidentOpen(ctx context.Context, a IncidentArgs) (IncidentInfo, error) {
	return call(ctx, r, opIncidentOpen, a)
}

func (r *remoteAdmin) IncidentClose(ctx context.Context, id string) (IncidentInfo, error) {
	return call(ctx, r, opIncidentClose, id)
}

func (r *remoteAdmin) IncidentList(ctx context.Context) ([]IncidentInfo, error) {
	return call(ctx, r, opIncidentList, ctlsock.None{})
}
