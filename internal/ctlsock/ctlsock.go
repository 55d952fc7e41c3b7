package ctlsock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors callers tell apart.
var (
	// ErrInUse is returned by Listen when another process answers on the
	// socket.
	ErrInUse = errors.New("another process answers on the control socket")
	// ErrNotAnswering is returned (wrapped, with the cause) by Call when
	// nothing serves the socket, or the server stopped before answering.
	ErrNotAnswering = errors.New("nothing answers on the control socket")
	// ErrUnknownOperation is returned by Call when the server does not
	// know the operation (an older build, say).
	ErrUnknownOperation = errors.New("unknown control operation")
	// ErrBadRequest is returned by Call when the server could not decode
	// the operation's argument.
	ErrBadRequest = errors.New("bad control request")
)

// Limits and timings.
const (
	// MaxRequest bounds an argument's encoded size.
	MaxRequest = 16 << 20
	// maxPath is the longest socket path Linux accepts (sun_path is 108
	// bytes with its terminating NUL; macOS allows 104, so less there).
	maxPath = 107
	// probeTimeout bounds the check whether a socket left in place still
	// answers. A live listener accepts a local connection at once.
	probeTimeout = 2 * time.Second
	// headerTimeout bounds how long a connection may take to send its
	// request headers.
	headerTimeout = 10 * time.Second
	// opPrefix is the URL path under which operations are posted.
	opPrefix = "/op/"
)

// ShutdownGrace is how long Serve waits, after its context ends, for
// operations in flight to return before it closes their connections.
var ShutdownGrace = 5 * time.Second

// Op names an operation with argument type A and result type R. Declare one
// package-level Op per operation and use it on both sides.
type Op[A, R any] struct {
	Name string
}

// None is the argument or result of an operation that has none.
type None struct{}

// NoArgs adapts an operation without an argument to Handle.
func NoArgs[R any](fn func(context.Context) (R, error)) func(context.Context, None) (R, error) {
	return func(ctx context.Context, _ None) (R, error) { return fn(ctx) }
}

// NoResult adapts an operation without a result to Handle.
func NoResult[A any](fn func(context.Context, A) error) func(context.Context, A) (None, error) {
	return func(ctx context.Context, a A) (None, error) { return None{}, fn(ctx, a) }
}

// Codes names the errors whose identity crosses the socket: an error that
// errors.Is one of them is sent with its code and arrives as an *Error that
// errors.Is the same value. The codes "unknown-operation", "bad-request",
// "canceled" and "deadline-exceeded" are built in.
type Codes map[string]error

var builtinCodes = Codes{
	"unknown-operation": ErrUnknownOperation,
	"bad-request":       ErrBadRequest,
	"canceled":          context.Canceled,
	"deadline-exceeded": context.DeadlineExceeded,
}

// lookup returns the sentinel for a code, built-in codes first.
func (c Codes) lookup(code string) (error, bool) {
	if e, ok := builtinCodes[code]; ok {
		return e, true
	}
	e, ok := c[code]
	return e, ok
}

// match returns, sorted, the codes of every sentinel err matches.
func (c Codes) match(err error) []string {
	var out []string
	for _, table := range []Codes{builtinCodes, c} {
		for code, sentinel := range table {
			if errors.Is(err, sentinel) && !slices.Contains(out, code) {
				out = append(out, code)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Error is an operation's failure as it arrived from the server: its
// message, and the codes it matched there, with the sentinels they stand
// for here (see Codes).
type Error struct {
	Message string
	Codes   []string
	errs    []error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinels of the error's codes, for errors.Is.
func (e *Error) Unwrap() []error { return e.errs }

// wireError is an error as it crosses the socket.
type wireError struct {
	Message string   `json:"message"`
	Codes   []string `json:"codes,omitempty"`
}

// reply is the body of every answer.
type reply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
}

// handler decodes an argument and runs an operation.
type handler func(ctx context.Context, arg []byte) (any, error)

// Server answers operations on a control socket. Register every operation
// with Handle before calling Serve.
type Server struct {
	path       string
	ln         net.Listener
	codes      Codes
	maxRequest int64

	mu  sync.RWMutex
	ops map[string]handler
}

// Listen binds the control socket name in dir, mode 0600. When a socket is
// already there it asks whether anything answers: if so it returns
// ErrInUse and leaves it alone, otherwise the socket is stale (its process
// died) and is replaced. It refuses to replace anything that is not a
// socket. codes is the error table both ends share; nil for none.
func Listen(dir, name string, codes Codes) (*Server, error) {
	path := filepath.Join(dir, name)
	if len(path) > maxPath {
		return nil, fmt.Errorf("control socket %s: the path is %d bytes, longer than a unix socket allows (%d); use a shorter folder", path, len(path), maxPath)
	}
	if err := clearStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &Server{path: path, ln: ln, codes: codes, maxRequest: MaxRequest, ops: map[string]handler{}}, nil
}

// clearStale removes a socket at path that nothing answers on.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode().IsRegular() || fi.IsDir() {
		return fmt.Errorf("control socket %s: something that is not a socket is in the way; not replacing it", path)
	}
	conn, err := net.DialTimeout("unix", path, probeTimeout)
	if err == nil {
		conn.Close()
		return fmt.Errorf("%w (%s)", ErrInUse, path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing a stale control socket: %w", err)
	}
	return nil
}

// Answers reports whether a server answers on the socket name in dir now.
func Answers(dir, name string) bool {
	conn, err := net.DialTimeout("unix", filepath.Join(dir, name), probeTimeout)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Path is the socket file's path.
func (s *Server) Path() string { return s.path }

// Handle registers fn as the operation op. Registering a name twice is a
// programming error and panics.
func Handle[A, R any](s *Server, op Op[A, R], fn func(context.Context, A) (R, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.ops[op.Name]; dup || op.Name == "" {
		panic(fmt.Sprintf("ctlsock: operation %q registered twice or unnamed", op.Name))
	}
	s.ops[op.Name] = func(ctx context.Context, arg []byte) (any, error) {
		var a A
		dec := json.NewDecoder(bytes.NewReader(arg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			return nil, fmt.Errorf("%w: operation %q: %v", ErrBadRequest, op.Name, err)
		}
		return fn(ctx, a)
	}
}

// Serve answers operations until ctx ends, then stops taking connections,
// waits up to ShutdownGrace for operations in flight (their contexts have
// ended too) and removes the socket. It returns nil after a clean stop.
func (s *Server) Serve(ctx context.Context) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: headerTimeout,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("control socket: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}

// Close releases a socket that will not be served.
func (s *Server) Close() error { return s.ln.Close() }

// ServeHTTP answers one operation: POST /op/NAME with the argument as the
// body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, opPrefix)
	s.mu.RLock()
	fn := s.ops[name]
	s.mu.RUnlock()
	if !ok || fn == nil || r.Method != http.MethodPost {
		s.answer(w, http.StatusNotFound, nil, fmt.Errorf("%w %q", ErrUnknownOperation, name))
		return
	}
	arg, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxRequest))
	if err != nil {
		s.answer(w, http.StatusBadRequest, nil, fmt.Errorf("%w: operation %q: %v", ErrBadRequest, name, err))
		return
	}
	res, err := fn(r.Context(), arg)
	if err != nil {
		s.answer(w, http.StatusOK, nil, err)
		return
	}
	b, err := json.Marshal(res)
	if err != nil {
		s.answer(w, http.StatusOK, nil, fmt.Errorf("operation %q: encoding its result: %w", name, err))
		return
	}
	s.answer(w, http.StatusOK, b, nil)
}

func (s *Server) answer(w http.ResponseWriter, status int, result []byte, err error) {
	rep := reply{Result: result}
	if err != nil {
		rep.Error = &wireError{Message: err.Error(), Codes: s.codes.match(err)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rep)
}

// Client calls operations on a control socket. It holds no connection
// between calls, so it needs no closing and a zero-cost one can be made per
// call.
type Client struct {
	path  string
	codes Codes
	hc    *http.Client
}

// NewClient returns a client of the socket name in dir; codes must be the
// table the server uses. It does not connect until a call.
func NewClient(dir, name string, codes Codes) *Client {
	path := filepath.Join(dir, name)
	return &Client{path: path, codes: codes, hc: &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Path is the socket file's path.
func (c *Client) Path() string { return c.path }

// Call runs op with argument a on the server and returns its result, or
// its error rebuilt as an *Error (see Codes). ctx bounds the whole call.
func Call[A, R any](ctx context.Context, c *Client, op Op[A, R], a A) (R, error) {
	var zero R
	body, err := json.Marshal(a)
	if err != nil {
		return zero, fmt.Errorf("operation %q: encoding its argument: %w", op.Name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://ctlsock"+opPrefix+op.Name, bytes.NewReader(body))
	if err != nil {
		return zero, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return zero, fmt.Errorf("operation %q: %w", op.Name, ctx.Err())
		}
		return zero, fmt.Errorf("%w (%s): %w", ErrNotAnswering, c.path, unwrapURL(err))
	}
	defer resp.Body.Close()
	var rep reply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		if ctx.Err() != nil {
			return zero, fmt.Errorf("operation %q: %w", op.Name, ctx.Err())
		}
		return zero, fmt.Errorf("%w (%s): the answer to %q is unreadable (%s): %w", ErrNotAnswering, c.path, op.Name, resp.Status, err)
	}
	if rep.Error != nil {
		return zero, c.rebuild(rep.Error)
	}
	if err := json.Unmarshal(rep.Result, &zero); err != nil {
		return zero, fmt.Errorf("operation %q: decoding its result: %w", op.Name, err)
	}
	return zero, nil
}

// rebuild turns a wire error back into an error matching its sentinels.
func (c *Client) rebuild(w *wireError) error {
	e := &Error{Message: w.Message, Codes: w.Codes}
	for _, code := range w.Codes {
		if s, ok := c.codes.lookup(code); ok {
			e.errs = append(e.errs, s)
		}
	}
	return e
}

// unwrapURL drops net/http's `Post "http://ctlsock/op/x":` prefix, which
// names a URL nobody typed.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
