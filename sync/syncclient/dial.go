package syncclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"

	"github.com/gorilla/websocket"

	"kmcr/sync/protocol"
)

// refusedError is an upgrade the server refused with an HTTP error
// before any websocket existed. code is the close code that means the same
// thing, so one classification handles both ways of saying it.
type refusedError struct {
	code int
	api  *APIError
}

func (e *refusedError) Error() string { return "server refused the sync connection: " + e.api.Error() }
func (e *refusedError) Unwrap() error { return e.api }

// closeCodeOf returns the close code behind err, whether the server sent
// it in a close frame or as an HTTP refusal of the upgrade; 0 if none.
func closeCodeOf(err error) int {
	var re *refusedError
	if errors.As(err, &re) {
		return re.code
	}
	return protocol.CloseCode(err)
}

// remoteCloseCode is like closeCodeOf but only for codes the server sent.
func remoteCloseCode(err error) int {
	var re *refusedError
	if errors.As(err, &re) {
		return re.code
	}
	var ce *protocol.CloseError
	if errors.As(err, &ce) && ce.Remote {
		return ce.Code
	}
	return 0
}

// dial opens the sync websocket with token in the Authorization header
// (never the URL, which proxies and logs record).
func (c *Client) dial(ctx context.Context, token string) (*protocol.Conn, error) {
	tlsc := c.cfg.TLS.Clone()
	// HTTP/2 cannot carry a websocket upgrade: offer only HTTP/1.1.
	tlsc.NextProtos = nil
	d := websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: c.cfg.DialTimeout}).DialContext,
		Proxy:            http.ProxyFromEnvironment,
		TLSClientConfig:  tlsc,
		HandshakeTimeout: c.cfg.DialTimeout,
		Subprotocols:     protocol.Subprotocols(),
	}
	if c.cfg.Plain {
		d.Subprotocols = []string{protocol.Subprotocol}
	}
	h := http.Header{}
	h.Set(protocol.AuthHeader, "Bearer "+token)
	ep := c.node()
	ws, resp, err := d.DialContext(ctx, ep.sync, h)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			return nil, refused(resp)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("connection to %s closed during the handshake (%w)", ep.display, err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			err = fmt.Errorf("no answer from %s within %v (%w)", ep.display, c.cfg.DialTimeout, err)
		}
		var rhe tls.RecordHeaderError
		if errors.As(err, &rhe) {
			err = fmt.Errorf("%s does not answer with TLS; is the address right? (%w)", ep.display, err)
		}
		return nil, transportError(ctx, c.cfg, err)
	}
	if got := ws.Subprotocol(); !slices.Contains(d.Subprotocols, got) {
		msg := websocket.FormatCloseMessage(protocol.CloseBadVersion, "client speaks "+protocol.Subprotocol)
		_ = ws.WriteControl(websocket.CloseMessage, msg, deadline(c.cfg.Timeouts.Write))
		_ = ws.Close()
		return nil, fmt.Errorf("%w (server offered subprotocol %q, this client speaks %q)", ErrIncompatible, got, protocol.Subprotocol)
	}
	return protocol.NewConn(ws, c.cfg.Timeouts, protocol.MaxServerMessage), nil
}

// refused turns a refused upgrade into the close code it stands for.
func refused(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	ae := apiError(resp.StatusCode, body)
	code := 0
	switch {
	case ae.Code == protocol.ErrCodeDeviceRevoked:
		code = protocol.CloseDeviceRevoked
	case resp.StatusCode == http.StatusUnauthorized && ae.Code == protocol.ErrCodeExpired:
		code = protocol.CloseTokenExpired
	case resp.StatusCode == http.StatusUnauthorized:
		code = protocol.CloseUnauthorized
	case resp.StatusCode == http.StatusUpgradeRequired:
		code = protocol.CloseBadVersion
	}
	return &refusedError{code: code, api: ae}
}
