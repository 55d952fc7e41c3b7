package protocol

import "time"

// LoginRequest is the body of POST /v1/login. The first login from a
// device registers it: DeviceID is random and made by the client, and
// PublicKey is the Ed25519 key that signs its audit chain.
type LoginRequest struct {
	User      string `json:"user"`
	Password  string `json:"password"`
	DeviceID  string `json:"device_id"`
	PublicKey []byte `json:"public_key"`
	Host      string `json:"host"`   // the device's host name, for audit "where"
	Client    string `json:"client"` // product and version
}

// TokenResponse answers a login or a refresh.
type TokenResponse struct {
	AccessToken  string    `json:"access_token"`
	ExpiresAt    time.Time `json:"expires_at"`
	RefreshToken string    `json:"refresh_token"`
	User         UserInfo  `json:"user"`
	DeviceID     string    `json:"device_id"`
	Epoch        string    `json:"epoch"`
	Policy       Policy    `json:"policy"`
}

// RefreshRequest is the body of POST /v1/token. A refresh credential is
// exchanged once: the answer carries its replacement, and the exchanged
// one keeps working only for RefreshGrace, in case that answer was lost.
type RefreshRequest struct {
	DeviceID     string `json:"device_id"`
	RefreshToken string `json:"refresh_token"`
}

// APIError is the JSON body of every non-2xx HTTP answer.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// API error codes.
const (
	ErrCodeBadRequest    = "bad_request"
	ErrCodeBadLogin      = "bad_login"      // wrong user or password
	ErrCodeDeviceRevoked = "device_revoked" // the client wipes its cache
	ErrCodeDeviceKey     = "device_key"     // device id registered with another key
	ErrCodeExpired       = "expired"        // refresh credential expired or used
	ErrCodeForbidden     = "forbidden"      // role may not do this
	ErrCodeNotFound      = "not_found"
	ErrCodeInternal      = "internal"
	ErrCodeThrottled     = "throttled" // too many failed logins, or the server is busy checking logins: retry later (Retry-After)
	// ErrCodeOrgNotCompliant: the user's organisation does not meet the
	// Data Security and Protection Toolkit; no login until it does.
	ErrCodeOrgNotCompliant = "org_not_compliant"
)

// AuthHeader is where the access token travels: the upgrade request's
// Authorization header as "Bearer TOKEN", never the URL.
const AuthHeader = "Authorization"

// BreakGlassReason is one coded reason for emergency access.
type BreakGlassReason struct {
	Code    string `json:"code"`
	Display string `json:"display"`
}

// BreakGlassReasons are the coded reasons a user chooses from. A coded
// reason is enough; free text is required only for BreakGlassReasonOther.
var BreakGlassReasons = []BreakGlassReason{
	{"emergency-treatment", "Emergency treatment: patient cannot give consent"},
	{"unplanned-care", "Unplanned care: patient present, no existing relationship"},
	{"safeguarding", "Safeguarding concern"},
	{"handover", "Clinical handover from another service"},
	{"other", "Other (explain in the free text)"},
}

// BreakGlassReasonOther is the coded reason that needs the user's own words.
const BreakGlassReasonOther = "other"

// BreakGlassReasonDisplay is a code's display, or the code itself when
// unknown.
func BreakGlassReasonDisplay(code string) string {
	for _, r := range BreakGlassReasons {
		if r.Code == code {
			return r.Display
		}
	}
	return code
}

// ValidBreakGlassReason reports whether code is one of BreakGlassReasons.
func ValidBreakGlassReason(code string) bool {
	for _, r := range BreakGlassReasons {
		if r.Code == code {
			return true
		}
	}
	return false
}
