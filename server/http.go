package server

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"kmcr/server/policy"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// maxBody bounds a login or refresh request.
const maxBody = 64 << 10

// dummyHash is verified against when a user does not exist, so a wrong
// user name costs the same time as a wrong password.
// It is made on first use, not at start-up, because Argon2id is slow on purpose.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("not a password", DefaultPasswordParams)
	return h
})

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, protocol.APIError{Code: code, Message: msg})
}

// handleHealth answers "ok" to anyone, and nothing more: no version,
// store epoch, change count or session count for an unauthenticated
// caller to fingerprint or watch.
func (s *Service) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := s.st.LastSeq(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// validDeviceID accepts the client's random device ids: 16 to 64
// characters of letters, digits and hyphens.
func validDeviceID(id string) bool {
	if len(id) < 16 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req protocol.LoginRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, protocol.ErrCodeBadRequest, "login body is not valid JSON")
		return
	}
	if !validDeviceID(req.DeviceID) || len(req.PublicKey) != ed25519.PublicKeySize || len(req.Host) > 255 {
		apiError(w, http.StatusBadRequest, protocol.ErrCodeBadRequest, "device id and a 32-byte Ed25519 public key are required")
		return
	}
	now := s.now()
	source := sourceOf(r.RemoteAddr)
	if _, ok := s.guard.throttled(req.User, source, now); ok {
		// An attempt during the delay counts as a failure too: hammering
		// reaches the lock sooner instead of waiting the delays out.
		s.loginFailed(req.User, source, req.DeviceID)
		wait, _ := s.guard.throttled(req.User, source, now)
		throttledError(w, wait, "too many failed logins for this user or from this address")
		return
	}
	u, err := s.st.User(req.User)
	hash := u.PasswordHash
	if err != nil {
		hash = dummyHash()
	}
	// Each Argon2id verification takes 64 MiB and about a second of CPU:
	// at most hashSlots run at once (slotsPerSource for one address), and
	// a full queue answers at once.
	if err := s.guard.acquire(r.Context(), source, s.guard.suspect(req.User, source, now)); err != nil {
		if errors.Is(err, errHashBusy) {
			throttledError(w, time.Second, "the server is busy checking other logins; try again in a moment")
		}
		return
	}
	// A queued attempt may have been throttled while it waited.
	if wait, ok := s.guard.throttled(req.User, source, s.now()); ok {
		s.guard.release(source)
		s.loginFailed(req.User, source, req.DeviceID)
		throttledError(w, wait, "too many failed logins for this user or from this address")
		return
	}
	ok, verr := VerifyPassword(hash, req.Password)
	s.guard.release(source)
	if err != nil || verr != nil || !ok {
		s.loginFailed(req.User, source, req.DeviceID)
		apiError(w, http.StatusUnauthorized, protocol.ErrCodeBadLogin, "wrong user name or password")
		return
	}
	s.guard.succeeded(req.User)
	if u.Disabled {
		s.loginByDisabled(w, u, req.DeviceID, source)
		return
	}
	if refused := s.orgRefusal(u); refused != nil {
		s.cfg.Logf("login refused for %q: organisation not compliant", req.User)
		apiError(w, refused.status, refused.code, refused.msg)
		return
	}
	now = s.now()
	d, err := s.st.Device(req.DeviceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		d = store.Device{ID: req.DeviceID, User: u.Name, PublicKey: req.PublicKey, Host: req.Host, Registered: now}
		if err := s.st.RegisterDevice(d); err != nil {
			apiError(w, http.StatusInternalServerError, protocol.ErrCodeInternal, "registering the device failed")
			return
		}
	case err != nil:
		apiError(w, http.StatusInternalServerError, protocol.ErrCodeInternal, "device lookup failed")
		return
	case d.Revoked:
		apiError(w, http.StatusForbidden, protocol.ErrCodeDeviceRevoked, "this device has been revoked; local data must be wiped")
		return
	case d.User != u.Name || subtle.ConstantTimeCompare(d.PublicKey, req.PublicKey) != 1:
		apiError(w, http.StatusConflict, protocol.ErrCodeDeviceKey, "this device id is registered to another user or key; re-enrol with a new profile")
		return
	}
	s.issue(w, u, d.ID, now, nil)
}

// issue writes a TokenResponse with a new access token and a new refresh
// credential, whose hash replaces the device's current one. check, for a
// refresh, runs inside the same store update (so it cannot act on a stale
// read) and may refuse; a login clears any replaced credential.
func (s *Service) issue(w http.ResponseWriter, u store.User, deviceID string, now time.Time, check func(d *store.Device) *refusal) {
	refresh, hash, err := newRefresh()
	if err != nil {
		apiError(w, http.StatusInternalServerError, protocol.ErrCodeInternal, "making a credential failed")
		return
	}
	exp := now.Add(protocol.AccessTokenTTL)
	var refused *refusal
	var gen uint64
	err = s.st.UpdateDevice(deviceID, func(d *store.Device) error {
		if check == nil { // a login: no earlier credential stays valid, a new family starts
			d.PrevRefreshHash, d.PrevRefreshUntil, d.SpentRefresh = nil, time.Time{}, nil
		} else if refused = check(d); refused != nil {
			return refused
		}
		d.RefreshHash, d.RefreshExpires, d.LastSeen = hash, now.Add(protocol.RefreshTTL), now
		d.TokenGen++
		gen = d.TokenGen
		return nil
	})
	if refused != nil {
		if refused.after != nil {
			refused.after()
		}
		apiError(w, refused.status, refused.code, refused.msg)
		return
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, protocol.ErrCodeInternal, "storing the credential failed")
		return
	}
	role, _ := policy.ParseRole(u.Role)
	writeJSON(w, http.StatusOK, protocol.TokenResponse{
		AccessToken:  s.tok.issue(claims{User: u.Name, Device: deviceID, Expiry: exp.Unix(), Issued: now.Unix(), Gen: gen}),
		ExpiresAt:    exp,
		RefreshToken: refresh,
		User:         protocol.UserInfo{ID: u.Name, Name: u.Name, Role: u.Role},
		DeviceID:     deviceID,
		Epoch:        s.st.Epoch(),
		Policy:       s.rulesFor(u, role).Wire(),
	})
}

// endRefreshGrace retires the credential the last refresh exchanged, once
// a session opened with the access token issued beside its replacement
// shows the answer arrived.
func (s *Service) endRefreshGrace(deviceID string, gen uint64) {
	err := s.st.UpdateDevice(deviceID, func(d *store.Device) error {
		if d.TokenGen == gen {
			d.PrevRefreshHash, d.PrevRefreshUntil = nil, time.Time{}
		}
		return nil
	})
	if err != nil {
		s.cfg.Logf("device %s: ending the refresh grace: %v", deviceID, err)
	}
}

// refusal is an API error decided inside a store update.
type refusal struct {
	status    int
	code, msg string
	// after, when set, runs once the refused update has ended (to store
	// what the refusal decided, such as a family's end).
	after func()
}

func (r *refusal) Error() string { return r.msg }

// storeFailed answers a request the store could not serve (a database
// restarting, say) with 503, so the client retries with backoff rather than
// asking its user to log in again; a store's "not found" is not a failure.
func storeFailed(w http.ResponseWriter, err error) bool {
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return false
	}
	apiError(w, http.StatusServiceUnavailable, protocol.ErrCodeInternal, store.ErrUnavailable.Error()+"; try again shortly")
	return true
}

// storeDown reports whether err is the store failing to answer (a
// database restarting, say) rather than its "not found".
func storeDown(err error) bool {
	return err != nil && !errors.Is(err, store.ErrNotFound)
}

func (s *Service) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req protocol.RefreshRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil || req.DeviceID == "" {
		apiError(w, http.StatusBadRequest, protocol.ErrCodeBadRequest, "refresh body is not valid JSON")
		return
	}
	d, err := s.st.Device(req.DeviceID)
	if storeFailed(w, err) {
		return
	}
	if err != nil {
		apiError(w, http.StatusUnauthorized, protocol.ErrCodeExpired, "unknown device; log in again")
		return
	}
	u, err := s.st.User(d.User)
	if storeFailed(w, err) {
		return
	}
	if err != nil {
		apiError(w, http.StatusUnauthorized, protocol.ErrCodeExpired, "user no longer exists")
		return
	}
	if u.Disabled && !d.Revoked {
		// Disabling revokes every device; one registered in a race with it
		// is revoked here.
		_ = s.st.RevokeDevice(d.ID, s.now())
	}
	if refused := s.orgRefusal(u); refused != nil {
		s.revokeNonCompliant(w, d.ID, refused)
		return
	}
	now := s.now()
	presented := hashRefresh(req.RefreshToken)
	s.issue(w, u, d.ID, now, func(d *store.Device) *refusal {
		current := d.RefreshHash != nil && subtle.ConstantTimeCompare(d.RefreshHash, presented) == 1
		// The credential the last refresh replaced, within its grace:
		// that refresh's answer was probably lost on the way.
		replaced := d.PrevRefreshHash != nil && now.Before(d.PrevRefreshUntil) &&
			subtle.ConstantTimeCompare(d.PrevRefreshHash, presented) == 1
		switch {
		case d.Revoked || u.Disabled:
			return &refusal{status: http.StatusForbidden, code: protocol.ErrCodeDeviceRevoked, msg: "this device has been revoked; local data must be wiped"}
		case !current && !replaced && spent(d.SpentRefresh, presented):
			// A credential this login already exchanged, past its grace:
			// two holders exist, so one of them stole it. End the whole
			// family (every refresh credential and access token of the
			// device) and tell the privacy officer.
			dev, user := d.ID, d.User
			return &refusal{status: http.StatusUnauthorized, code: protocol.ErrCodeExpired,
				msg:   "refresh credential already used: every credential of this device has been ended; log in again",
				after: func() { s.endFamily(dev, user) }}
		case !current && !replaced:
			return &refusal{status: http.StatusUnauthorized, code: protocol.ErrCodeExpired, msg: "refresh credential not recognised; log in again"}
		case current && !now.Before(d.RefreshExpires):
			return &refusal{status: http.StatusUnauthorized, code: protocol.ErrCodeExpired, msg: "refresh credential expired; log in again"}
		case current:
			d.SpentRefresh = append(d.SpentRefresh, d.RefreshHash)
			if len(d.SpentRefresh) > maxSpentRefresh {
				d.SpentRefresh = d.SpentRefresh[len(d.SpentRefresh)-maxSpentRefresh:]
			}
			// Keep the exchanged credential working until the new answer
			// is seen in use (endRefreshGrace), RefreshGrace at most. A
			// retry with the replaced one leaves that deadline alone, so
			// lost answers cannot stretch it.
			d.PrevRefreshHash, d.PrevRefreshUntil = d.RefreshHash, now.Add(protocol.RefreshGrace)
		}
		return nil
	})
}

// bearer returns the checked claims of the request's access token. A
// token is valid only while it is the newest its device was issued (a
// later login, refresh, password change or a replay's family end retires
// it) and its user is not disabled. A revoked device's token passes, so
// the caller can tell the device to wipe.
//
// A store that could not answer is store.ErrUnavailable, not an invalid
// token, so a client retries with backoff rather than being sent to log in.
func (s *Service) bearer(r *http.Request) (claims, error) {
	h := r.Header.Get(protocol.AuthHeader)
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return claims{}, ErrTokenInvalid
	}
	c, err := s.tok.check(tok, s.now())
	if err != nil {
		return c, err
	}
	d, err := s.st.Device(c.Device)
	if storeDown(err) {
		return claims{}, store.ErrUnavailable // the token may be good: try again, not log in again
	}
	if err != nil || d.User != c.User {
		return claims{}, ErrTokenInvalid
	}
	if d.Revoked {
		return c, nil
	}
	if c.Gen != d.TokenGen {
		return claims{}, ErrTokenInvalid
	}
	u, err := s.st.User(c.User)
	if storeDown(err) {
		return claims{}, store.ErrUnavailable
	}
	if err != nil || u.Disabled {
		return claims{}, ErrTokenInvalid
	}
	return c, nil
}

// privacyOfficer authenticates a report request: a valid token of a
// privacy officer on a device that is not revoked.
func (s *Service) privacyOfficer(w http.ResponseWriter, r *http.Request) bool {
	c, err := s.bearer(r)
	if errors.Is(err, store.ErrUnavailable) {
		storeFailed(w, err)
		return false
	}
	if err != nil {
		code := protocol.ErrCodeBadLogin
		if errors.Is(err, ErrTokenExpired) {
			code = protocol.ErrCodeExpired
		}
		apiError(w, http.StatusUnauthorized, code, err.Error())
		return false
	}
	u, err := s.st.User(c.User)
	if d, derr := s.st.Device(c.Device); err != nil || derr != nil || d.Revoked || u.Disabled {
		apiError(w, http.StatusUnauthorized, protocol.ErrCodeBadLogin, "not authorised")
		return false
	}
	if u.Role != string(policy.PrivacyOfficer) {
		apiError(w, http.StatusForbidden, protocol.ErrCodeForbidden, "only a privacy officer may read access reports")
		return false
	}
	return true
}

func (s *Service) handleAccessLog(w http.ResponseWriter, r *http.Request) {
	if !s.privacyOfficer(w, r) {
		return
	}
	nhs := r.URL.Query().Get("nhs")
	body, err := s.AccessLogJSON(nhs)
	if err != nil {
		apiError(w, http.StatusBadRequest, protocol.ErrCodeBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

func (s *Service) handleAlerts(w http.ResponseWriter, r *http.Request) {
	if !s.privacyOfficer(w, r) {
		return
	}
	var out []store.Alert
	if err := s.st.Alerts(func(a store.Alert) error { out = append(out, a); return nil }); err != nil {
		apiError(w, http.StatusInternalServerError, protocol.ErrCodeInternal, fmt.Sprint(err))
		return
	}
	writeJSON(w, http.StatusOK, out)
}
