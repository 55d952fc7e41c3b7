package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"kmcr/audit"
	"kmcr/record"
	"kmcr/server/policy"
	"kmcr/server/store"
)

// SocketName is the admin control socket inside the data directory: how
// admin commands reach a running server, which holds the store's lock.
// Only the owner of the data directory can connect (mode 0600).
const SocketName = "admin.sock"

// Admin runs admin operations by name: in-process on an open store, or in
// a running server through its control socket. One table serves both, so
// a command behaves the same whether or not the server is running.
type Admin interface {
	Call(op string, args, result any) error
}

// AdminError is an operation's failure as the caller should show it.
type AdminError struct{ Message string }

func (e *AdminError) Error() string { return e.Message }

// adminOp is one operation: it decodes its arguments and returns a result.
type adminOp func(a *localAdmin, args json.RawMessage) (any, error)

var adminOps = map[string]adminOp{}

// LocalAdmin runs operations directly on a store (and notifies its
// subscribers, so a serving process's sessions see the changes).
func LocalAdmin(svc *Service) Admin { return &localAdmin{svc: svc} }

type localAdmin struct{ svc *Service }

func (a *localAdmin) Call(op string, args, result any) error {
	f, ok := adminOps[op]
	if !ok {
		return fmt.Errorf("unknown admin operation %q", op)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	out, err := f(a, raw)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, result)
}

// UserAddArgs adds a user.
type UserAddArgs struct {
	Name, Role, Password string
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

// DeviceInfo is a device as listed for admins.
type DeviceInfo struct {
	ID, User, Host       string
	Registered, LastSeen time.Time
	Revoked              bool
	AuditSeq             uint64
}

func init() {
	adminOps["user-add"] = func(a *localAdmin, raw json.RawMessage) (any, error) {
		var args UserAddArgs
		if err := json.Unmarshal(raw, &args); err != nil {
			return nil, err
		}
		if strings.TrimSpace(args.Name) == "" || strings.ContainsAny(args.Name, "\x00/ ") {
			return nil, &AdminError{"a user name is required (no spaces or slashes)"}
		}
		if _, err := policy.ParseRole(args.Role); err != nil {
			return nil, &AdminError{err.Error()}
		}
		if len(args.Password) < 8 {
			return nil, &AdminError{"the password must be at least 8 characters"}
		}
		h, err := HashPassword(args.Password, a.svc.cfg.Password)
		if err != nil {
			return nil, err
		}
		err = a.svc.st.AddUser(store.User{Name: args.Name, Role: args.Role, PasswordHash: h, Created: a.svc.now()})
		if errors.Is(err, store.ErrExists) {
			return nil, &AdminError{fmt.Sprintf("user %q already exists", args.Name)}
		}
		return nil, err
	}
	caseload := func(add bool) adminOp {
		return func(a *localAdmin, raw json.RawMessage) (any, error) {
			var args NHSListArgs
			if err := json.Unmarshal(raw, &args); err != nil {
				return nil, err
			}
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
			var changed []string
			var err error
			if add {
				changed, err = a.svc.st.CaseloadAdd(args.User, valid)
			} else {
				changed, err = a.svc.st.CaseloadRemove(args.User, valid)
			}
			if errors.Is(err, store.ErrNotFound) {
				return nil, &AdminError{fmt.Sprintf("no user %q", args.User)}
			}
			if err != nil {
				return nil, err
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
	}
	adminOps["caseload-add"] = caseload(true)
	adminOps["caseload-remove"] = caseload(false)
	objection := func(on bool) adminOp {
		return func(a *localAdmin, raw json.RawMessage) (any, error) {
			var args ObjectionArgs
			if err := json.Unmarshal(raw, &args); err != nil {
				return nil, err
			}
			n, err := record.ParseNHSNumber(args.NHS)
			if err != nil {
				return nil, &AdminError{err.Error()}
			}
			if _, err := policy.ParsePurpose(args.Purpose); err != nil {
				return nil, &AdminError{err.Error()}
			}
			if on {
				return a.svc.st.Object(n.Digits(), args.Purpose)
			}
			return a.svc.st.Withdraw(n.Digits(), args.Purpose)
		}
	}
	adminOps["object"] = objection(true)
	adminOps["withdraw"] = objection(false)
	adminOps["device-list"] = func(a *localAdmin, raw json.RawMessage) (any, error) {
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
	adminOps["device-revoke"] = func(a *localAdmin, raw json.RawMessage) (any, error) {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, err
		}
		err := a.svc.st.RevokeDevice(id, a.svc.now())
		if errors.Is(err, store.ErrNotFound) {
			return nil, &AdminError{fmt.Sprintf("no device %q (see kmcr-server device list)", id)}
		}
		return nil, err
	}
	adminOps["alerts"] = func(a *localAdmin, raw json.RawMessage) (any, error) {
		var out []store.Alert
		err := a.svc.st.Alerts(func(al store.Alert) error { out = append(out, al); return nil })
		return out, err
	}
}

// ServeAdmin answers admin operations on a unix socket in dataDir until
// ctx ends. It removes a stale socket first: the caller holds the store's
// lock, so no other server can be using it.
func ServeAdmin(ctx context.Context, svc *Service, dataDir string) error {
	path := filepath.Join(dataDir, SocketName)
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	local := &localAdmin{svc: svc}
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.URL.Path, "/admin/")
		f, ok := adminOps[op]
		if !ok || r.Method != http.MethodPost {
			writeJSON(w, http.StatusNotFound, adminReply{Error: "unknown admin operation " + op})
			return
		}
		raw, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, adminReply{Error: err.Error()})
			return
		}
		out, err := f(local, raw)
		if err != nil {
			writeJSON(w, http.StatusOK, adminReply{Error: err.Error()})
			return
		}
		b, err := json.Marshal(out)
		if err != nil {
			writeJSON(w, http.StatusOK, adminReply{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, adminReply{Result: b})
	})}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	err = hs.Serve(ln)
	_ = os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

type adminReply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// RemoteAdmin reaches a running server's control socket in dataDir.
func RemoteAdmin(dataDir string) Admin {
	path := filepath.Join(dataDir, SocketName)
	return &remoteAdmin{path: path, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

type remoteAdmin struct {
	path string
	hc   *http.Client
}

func (r *remoteAdmin) Call(op string, args, result any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	resp, err := r.hc.Post("http://kmcr-server/admin/"+op, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("the store is in use but the running server's admin socket %s does not answer: %w", r.path, err)
	}
	defer resp.Body.Close()
	var rep adminReply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return fmt.Errorf("admin socket answer: %w", err)
	}
	if rep.Error != "" {
		return &AdminError{rep.Error}
	}
	if result != nil && rep.Result != nil {
		return json.Unmarshal(rep.Result, result)
	}
	return nil
}

// AccessLogResult carries the access log for the command line: the events
// and the same report as a FHIR Bundle.
type AccessLogResult struct {
	Entries []audit.Stored
	FHIR    json.RawMessage
}

// VerifyResult is the outcome of "audit verify".
type VerifyResult struct {
	Devices []ChainReport
	Broken  bool
}

func init() {
	adminOps["access-log"] = func(a *localAdmin, raw json.RawMessage) (any, error) {
		var nhs string
		if err := json.Unmarshal(raw, &nhs); err != nil {
			return nil, err
		}
		entries, err := a.svc.AccessLog(nhs)
		if err != nil {
			return nil, &AdminError{err.Error()}
		}
		b, err := audit.Bundle(entries)
		if err != nil {
			return nil, err
		}
		return AccessLogResult{Entries: entries, FHIR: b}, nil
	}
	adminOps["audit-verify"] = func(a *localAdmin, raw json.RawMessage) (any, error) {
		reps, err := a.svc.VerifyChains()
		if err != nil && !errors.Is(err, ErrChainBroken) {
			return nil, err
		}
		return VerifyResult{Devices: reps, Broken: err != nil}, nil
	}
}

func init() {
	adminOps["import"] = func(a *localAdmin, raw json.RawMessage) (any, error) {
		var paths []string
		if err := json.Unmarshal(raw, &paths); err != nil {
			return nil, err
		}
		for _, p := range paths {
			if !filepath.IsAbs(p) {
				return nil, &AdminError{fmt.Sprintf("import path %q must be absolute", p)}
			}
		}
		return a.svc.Import(paths, nil)
	}
}
