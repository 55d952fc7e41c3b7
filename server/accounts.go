package server

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// maxSpentRefresh bounds how many exchanged refresh credentials a device
// remembers for replay detection. A client exchanges one each 15 minutes
// at most while in use, so this covers days of a stolen copy's age.
const maxSpentRefresh = 64

// DisableUser stops an account: the user is marked disabled (logins,
// enrolments, refreshes and sessions refused), every device of theirs is
// revoked (so it wipes itself at its next contact), and every open sync
// session of the user is sent a wipe and closed at once.
func (s *Service) DisableUser(name string) (UserDisableResult, error) {
	var res UserDisableResult
	now := s.now()
	err := s.st.UpdateUser(name, func(u *store.User) error {
		res.AlreadyDisabled = u.Disabled
		if !u.Disabled {
			u.Disabled, u.DisabledAt = true, now
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	// The sessions open now: revoking the devices already makes each one
	// wipe and close as it sees the change, so count them first.
	victims := s.sessionsOf(func(ss *session) bool { return ss.user.Name == name })
	n, err := s.revokeUserDevices(name, now)
	res.DevicesRevoked = n
	if err != nil {
		return res, err
	}
	s.closeSessions(victims, true, "this account has been disabled")
	res.SessionsEnded = len(victims)
	s.cfg.Logf("user %s disabled: %d device(s) revoked, %d session(s) ended", name, res.DevicesRevoked, res.SessionsEnded)
	return res, nil
}

// revokeUserDevices revokes every device of user not yet revoked.
func (s *Service) revokeUserDevices(user string, now time.Time) (int, error) {
	ds, err := s.st.Devices()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range ds {
		if d.User != user || d.Revoked {
			continue
		}
		if err := s.st.RevokeDevice(d.ID, now); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// SetPassword stores a new password hash for user and ends every
// credential of their devices: refresh credentials are dropped, the token
// generation moves on (so issued access tokens stop working), and open
// sessions close; each device must log in again with the new password.
func (s *Service) SetPassword(user, hash string) error {
	now := s.now()
	if err := s.st.UpdateUser(user, func(u *store.User) error {
		u.PasswordHash, u.PasswordChanged = hash, now
		return nil
	}); err != nil {
		return err
	}
	ds, err := s.st.Devices()
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.User != user || d.Revoked {
			continue
		}
		if err := s.st.UpdateDevice(d.ID, endCredentials); err != nil {
			return err
		}
	}
	s.endSessions(func(ss *session) bool { return ss.user.Name == user }, false, "the password was changed; log in again")
	return nil
}

// endCredentials ends every credential of a device: its refresh
// credentials (current, within grace, and the remembered spent ones) and,
// by moving the generation on, every access token issued so far.
func endCredentials(d *store.Device) error {
	d.RefreshHash, d.RefreshExpires = nil, time.Time{}
	d.PrevRefreshHash, d.PrevRefreshUntil = nil, time.Time{}
	d.SpentRefresh = nil
	d.TokenGen++
	return nil
}

// endSessions closes every open session match selects: with wipe, after
// sending a wipe (the device was revoked); otherwise as unauthorised, so
// the client asks its user to log in. It returns how many it closed.
func (s *Service) endSessions(match func(*session) bool, wipe bool, reason string) int {
	victims := s.sessionsOf(match)
	s.closeSessions(victims, wipe, reason)
	return len(victims)
}

// sessionsOf returns the open sessions match selects.
func (s *Service) sessionsOf(match func(*session) bool) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	for ss := range s.sessions {
		if match(ss) {
			out = append(out, ss)
		}
	}
	return out
}

// closeSessions closes sessions as endSessions does.
func (s *Service) closeSessions(victims []*session, wipe bool, reason string) {
	for _, ss := range victims {
		if wipe {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = ss.conn.Send(ctx, &protocol.Wipe{Reason: reason})
			cancel()
			ss.conn.Close(protocol.CloseDeviceRevoked, reason)
		} else {
			ss.conn.Close(protocol.CloseUnauthorized, reason)
		}
	}
}

// Alert kinds raised by account protection.
const (
	AlertLoginLocked   = "login-locked"   // a user name or address reached lockFailures failed logins
	AlertDisabledLogin = "disabled-login" // a disabled user gave the right password
	AlertRefreshReplay = "refresh-replay" // an exchanged refresh credential came back
)

// throttledError answers 429 with a Retry-After of wait, rounded up.
func throttledError(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	apiError(w, http.StatusTooManyRequests, protocol.ErrCodeThrottled, fmt.Sprintf("%s; try again in %d s", msg, max(secs, 1)))
}

// loginFailed counts a failed login and raises one alert per lock.
func (s *Service) loginFailed(user, source, device string) {
	now := s.now()
	locks := s.guard.failed(user, source, now)
	// The name tried is not logged: it is whatever the caller typed (a
	// patient's name or number, a password in the wrong field).
	if len(locks) == 0 {
		return
	}
	// One alert for what this failure locked (the name, the address or
	// both).
	a := store.Alert{Kind: AlertLoginLocked, Device: device, At: now}
	var parts []string
	for _, l := range locks {
		if l.what == "user" {
			a.User = l.key
			parts = append(parts, fmt.Sprintf("%d failed logins for this user", l.n))
		} else {
			parts = append(parts, fmt.Sprintf("%d failed logins from address %s", l.n, l.key))
		}
	}
	a.Detail = strings.Join(parts, " and ") + fmt.Sprintf(": locked for %v", lockFor)
	if err := s.st.AddAlerts([]store.Alert{a}); err != nil {
		s.cfg.Logf("storing a login lock alert: %v", err)
	}
	s.cfg.Logf("failed logins from %s: %s", source, a.Detail)
}

// loginByDisabled answers a correct password of a disabled user: a device
// of theirs is told to wipe (and revoked if a race left it active); any
// other device is refused enrolment.
func (s *Service) loginByDisabled(w http.ResponseWriter, u store.User, deviceID, source string) {
	now := s.now()
	if err := s.st.AddAlerts([]store.Alert{{Kind: AlertDisabledLogin, User: u.Name, Device: deviceID, At: now,
		Detail: "the right password for a disabled account, from address " + source}}); err != nil {
		s.cfg.Logf("storing an alert: %v", err)
	}
	if d, err := s.st.Device(deviceID); err == nil && d.User == u.Name {
		if !d.Revoked {
			_ = s.st.RevokeDevice(d.ID, now)
		}
		apiError(w, http.StatusForbidden, protocol.ErrCodeDeviceRevoked, "this account has been disabled; local data must be wiped")
		return
	}
	apiError(w, http.StatusForbidden, protocol.ErrCodeForbidden, "this account has been disabled; ask your administrator")
}

// spent says whether hash is one of the exchanged credentials.
func spent(list [][]byte, hash []byte) bool {
	found := 0
	for _, h := range list {
		found |= subtle.ConstantTimeCompare(h, hash)
	}
	return found == 1
}

// endFamily ends every credential of a device after a refresh replay,
// closes its sessions and raises an alert naming the device's user.
func (s *Service) endFamily(deviceID, user string) {
	now := s.now()
	if err := s.st.UpdateDevice(deviceID, endCredentials); err != nil {
		s.cfg.Logf("device %s: ending its credentials after a replay: %v", deviceID, err)
	}
	n := s.endSessions(func(ss *session) bool { return ss.device.ID == deviceID }, false, "this device's credentials were ended; log in again")
	if err := s.st.AddAlerts([]store.Alert{{Kind: AlertRefreshReplay, User: user, Device: deviceID, At: now,
		Detail: fmt.Sprintf("an already exchanged refresh credential was presented again: every credential of the device was ended and %d session(s) closed", n)}}); err != nil {
		s.cfg.Logf("storing a replay alert: %v", err)
	}
	s.cfg.Logf("device %s: refresh credential replayed; its credentials were ended", deviceID)
}
