package syncclient

import (
	"errors"
	"fmt"
	"net/http"

	"kmcr/sync/protocol"
)

// Errors a caller tells apart with errors.Is. Messages are written for the
// person at the screen; wrapping adds the detail.
var (
	// ErrBadLogin is returned by Login when the user name or password is
	// wrong.
	ErrBadLogin = errors.New("wrong user name or password")
	// ErrDeviceRevoked is returned when the server says this device has
	// been revoked (close code 4003, or API error device_revoked). Serve
	// and SyncOnce (and Login, when given an Applier) have called
	// Applier.Wipe before returning it.
	ErrDeviceRevoked = errors.New("this device has been revoked by the service")
	// ErrDeviceKey is returned by Login when the device ID is registered
	// with another signing key: the device must enrol afresh.
	ErrDeviceKey = errors.New("this device is registered with a different key; enrol it again")
	// ErrLoginRequired is returned by Serve and SyncOnce when the refresh
	// credential is missing, expired or refused: the user must log in
	// again. Nothing local is lost.
	ErrLoginRequired = errors.New("login required: your session has expired, log in again")
	// ErrWiped is returned by Serve and SyncOnce when the server ordered
	// the cache destroyed (a Wipe message). Applier.Wipe has been called.
	ErrWiped = errors.New("the service ordered this device's cache wiped")
	// ErrOffline is returned by BreakGlass when there is no live session
	// with the server.
	ErrOffline = errors.New("not connected to the server")
	// ErrBadBatch is what an Applier wraps when a batch's content is
	// malformed (an NHS number with a bad check digit, a document that does
	// not parse): the client closes with protocol.CloseProtocolError and
	// the Applier must have stored nothing of that batch.
	ErrBadBatch = errors.New("malformed batch")
	// ErrUnreachable wraps a failure to reach the server at all: no route,
	// connection refused, reset or timed out before the websocket opened.
	ErrUnreachable = errors.New("server unreachable")
	// ErrCertificate marks a server certificate the client does not
	// trust. The user (or their IT team) must act: the CA file is wrong,
	// or something is intercepting the connection.
	ErrCertificate = errors.New("server certificate not trusted")
	// ErrIncompatible is returned when the server does not speak this
	// client's protocol version: the client must be updated.
	ErrIncompatible = errors.New("the server does not speak this version of the sync protocol; update kmcr")
	// ErrBusy is returned by Serve or SyncOnce while the other (or another
	// call of the same) is running on the same Client.
	ErrBusy = errors.New("a sync is already running")
)

// APIError is an error answer from the server's HTTPS API (login and token
// refresh). errors.Is maps its code to ErrBadLogin, ErrDeviceRevoked and
// ErrDeviceKey where they apply.
type APIError struct {
	Status  int    // HTTP status code
	Code    string // one of the protocol.ErrCode* values, or "" if the body was not an API error
	Message string // the server's explanation
}

// Error says what the server answered, in its own words where it gave
// them.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	switch {
	case e.Code == "":
		return fmt.Sprintf("server answered %d: %s", e.Status, msg)
	case e.Status >= 500:
		return fmt.Sprintf("server error: %s (%s)", msg, e.Code)
	}
	return fmt.Sprintf("server refused: %s (%s)", msg, e.Code)
}

// Is lets errors.Is match an APIError against the sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadLogin:
		return e.Code == protocol.ErrCodeBadLogin
	case ErrDeviceRevoked:
		return e.Code == protocol.ErrCodeDeviceRevoked
	case ErrDeviceKey:
		return e.Code == protocol.ErrCodeDeviceKey
	}
	return false
}

// localError marks a failure on this device (the Applier or the token
// store), which the user may have to act on, as opposed to the network.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

func local(format string, args ...any) error {
	return &localError{fmt.Errorf(format, args...)}
}
