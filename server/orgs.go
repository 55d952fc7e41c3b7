package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"kmcr/server/policy"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// Organisation kinds (org add --kind) and Data Security and Protection
// Toolkit statuses (org set --dspt).
const (
	DSPTMet    = "met"
	DSPTNotMet = "not-met"
)

// OrgKinds are the kinds of organisation whose staff use the record.
var OrgKinds = []string{"ambulance", "gp", "acute", "community", "social-care"}

// DefaultOrg is the organisation of users stored before organisations
// existed (User.Org empty) and of users added without --org. It is made on
// first need with its toolkit status met, so an upgrade locks nobody out;
// an administrator moves its users to their real organisations.
var DefaultOrg = store.Org{ODS: "DEFAULT", Name: "Organisation not recorded (users from before organisations)", Kind: "unassigned", DSPT: DSPTMet}

// ErrOrgNotCompliant is wrapped when an organisation whose toolkit status
// is not met is asked to do what only compliant organisations may.
var ErrOrgNotCompliant = errors.New("organisation does not meet the Data Security and Protection Toolkit")

// OrgAddArgs adds an organisation.
type OrgAddArgs struct {
	ODS, Name, Kind string
	// DSPT is the toolkit status it starts with; empty is not met, since
	// a new organisation has not shown its toolkit yet.
	DSPT string
}

// OrgSetArgs sets an organisation's toolkit status.
type OrgSetArgs struct {
	ODS, DSPT string
}

// OrgSetResult says what setting the status changed: the devices of the
// organisation's users revoked because it is not met (each wipes its cache
// at its next sync).
type OrgSetResult struct {
	Org     store.Org
	Changed bool
	Revoked []string
}

// normODS upper-cases an ODS code and checks its shape: 3 to 10 letters
// and digits.
func normODS(code string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if len(c) < 3 || len(c) > 10 {
		return "", adminErr(ErrInvalidArgument, "ODS code %q must be 3 to 10 letters and digits", code)
	}
	for _, r := range c {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "", adminErr(ErrInvalidArgument, "ODS code %q must be 3 to 10 letters and digits", code)
		}
	}
	return c, nil
}

// userOrg is the ODS code of the user's organisation.
func userOrg(u store.User) string {
	if u.Org == "" {
		return DefaultOrg.ODS
	}
	return u.Org
}

// ensureDefaultOrg makes DefaultOrg when it is missing: on the first start
// after an upgrade (users without an organisation) or when a user is added
// without one.
func (s *Service) ensureDefaultOrg() error {
	if _, err := s.st.Org(DefaultOrg.ODS); !errors.Is(err, store.ErrNotFound) {
		return err
	}
	o := DefaultOrg
	o.Created, o.Updated = s.now(), s.now()
	if err := s.st.AddOrg(o); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	return nil
}

// upgradeOrgs gives a store made before organisations its default one.
func (s *Service) upgradeOrgs() error {
	us, err := s.st.Users()
	if err != nil {
		return err
	}
	for _, u := range us {
		if u.Org == "" {
			return s.ensureDefaultOrg()
		}
	}
	return nil
}

// orgCompliant reports whether the user's organisation meets the toolkit.
// An organisation that cannot be found is not compliant, but for the
// default one, made here for a user stored without an organisation after
// the process started.
func (s *Service) orgCompliant(u store.User) (store.Org, bool, error) {
	o, err := s.st.Org(userOrg(u))
	if errors.Is(err, store.ErrNotFound) && userOrg(u) == DefaultOrg.ODS {
		if err := s.ensureDefaultOrg(); err != nil {
			return o, false, err
		}
		o, err = s.st.Org(DefaultOrg.ODS)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Org{ODS: userOrg(u)}, false, nil
	}
	if err != nil {
		return o, false, err
	}
	return o, o.DSPT == DSPTMet, nil
}

// orgRefusal is the login, enrolment and refresh answer for a user whose
// organisation is not compliant, or nil.
func (s *Service) orgRefusal(u store.User) *refusal {
	o, ok, err := s.orgCompliant(u)
	if err != nil {
		return &refusal{status: http.StatusInternalServerError, code: protocol.ErrCodeInternal, msg: "organisation lookup failed"}
	}
	if !ok {
		return &refusal{status: http.StatusForbidden, code: protocol.ErrCodeOrgNotCompliant,
			msg: "your organisation (" + o.ODS + ") does not currently meet the Data Security and Protection Toolkit, so its staff cannot use the record"}
	}
	return nil
}

// rulesFor is the user's rules: their role's, serving the social-care
// purpose when their organisation is a social care one (so a patient's
// objection to social-care sharing reaches exactly those users).
func (s *Service) rulesFor(u store.User, role policy.Role) policy.Rules {
	r := policy.For(role)
	if o, err := s.st.Org(userOrg(u)); err == nil && o.Kind == "social-care" && r.Purpose == policy.PurposeDirect {
		r.Purpose = policy.PurposeSocialCare
	}
	return r
}

// revokeNonCompliant answers a refresh from a device of a non-compliant
// organisation: the device is revoked, so its client wipes its cache now.
func (s *Service) revokeNonCompliant(w http.ResponseWriter, device string, refused *refusal) {
	if refused.code != protocol.ErrCodeOrgNotCompliant {
		apiError(w, refused.status, refused.code, refused.msg)
		return
	}
	if err := s.st.RevokeDevice(device, s.now()); err != nil {
		apiError(w, http.StatusInternalServerError, protocol.ErrCodeInternal, "revoking the device failed")
		return
	}
	apiError(w, http.StatusForbidden, protocol.ErrCodeDeviceRevoked, refused.msg+"; this device's local data must be wiped")
}

// revokeOrgDevices revokes every device of the organisation's users.
func (s *Service) revokeOrgDevices(ods string) ([]string, error) {
	us, err := s.st.Users()
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	for _, u := range us {
		if userOrg(u) == ods {
			in[u.Name] = true
		}
	}
	ds, err := s.st.Devices()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range ds {
		if d.Revoked || !in[d.User] {
			continue
		}
		if err := s.st.RevokeDevice(d.ID, s.now()); err != nil {
			return out, err
		}
		out = append(out, d.ID)
	}
	return out, nil
}

func (a *localAdmin) OrgAdd(_ context.Context, args OrgAddArgs) error {
	ods, err := normODS(args.ODS)
	if err != nil {
		return err
	}
	if strings.TrimSpace(args.Name) == "" {
		return adminErr(ErrInvalidArgument, "an organisation name is required")
	}
	kind := ""
	for _, k := range OrgKinds {
		if args.Kind == k {
			kind = k
		}
	}
	if kind == "" {
		return adminErr(ErrInvalidArgument, "unknown organisation kind %q (want %s)", args.Kind, strings.Join(OrgKinds, ", "))
	}
	dspt := args.DSPT
	if dspt == "" {
		dspt = DSPTNotMet
	}
	if dspt != DSPTMet && dspt != DSPTNotMet {
		return adminErr(ErrInvalidArgument, "--dspt must be %s or %s, not %q", DSPTMet, DSPTNotMet, dspt)
	}
	now := a.svc.now()
	err = a.svc.st.AddOrg(store.Org{ODS: ods, Name: strings.TrimSpace(args.Name), Kind: kind, DSPT: dspt, Created: now, Updated: now})
	if errors.Is(err, store.ErrExists) {
		return adminErr(store.ErrExists, "organisation %s already exists", ods)
	}
	return err
}

func (a *localAdmin) OrgList(context.Context) ([]store.Org, error) {
	return a.svc.st.Orgs()
}

func (a *localAdmin) OrgSet(_ context.Context, args OrgSetArgs) (OrgSetResult, error) {
	ods, err := normODS(args.ODS)
	if err != nil {
		return OrgSetResult{}, err
	}
	if args.DSPT != DSPTMet && args.DSPT != DSPTNotMet {
		return OrgSetResult{}, adminErr(ErrInvalidArgument, "--dspt must be %s or %s, not %q", DSPTMet, DSPTNotMet, args.DSPT)
	}
	var res OrgSetResult
	err = a.svc.st.UpdateOrg(ods, func(o *store.Org) error {
		res.Changed = o.DSPT != args.DSPT
		if res.Changed {
			o.DSPT, o.Updated = args.DSPT, a.svc.now()
		}
		res.Org = *o
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return OrgSetResult{}, adminErr(store.ErrNotFound, "no organisation %s (see kmcr-server org list)", ods)
	}
	if err != nil {
		return OrgSetResult{}, err
	}
	if args.DSPT == DSPTNotMet {
		// Also when unchanged: a revocation interrupted last time is
		// finished now.
		res.Revoked, err = a.svc.revokeOrgDevices(ods)
	}
	return res, err
}
