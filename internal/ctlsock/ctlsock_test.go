package ctlsock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	errMissing = errors.New("missing")
	errTaken   = errors.New("taken")
	testCodes  = Codes{"missing": errMissing, "taken": errTaken}
)

type echoArg struct {
	Name  string
	Items []string
	At    time.Time
	N     int
}

type echoResult struct {
	Greeting string
	Items    []string
	At       time.Time
	Double   int
}

var (
	opEcho   = Op[echoArg, echoResult]{Name: "echo"}
	opFail   = Op[string, None]{Name: "fail"}
	opCount  = Op[None, int]{Name: "count"}
	opBlock  = Op[None, None]{Name: "block"}
	opEchoV2 = Op[struct{ Name, Extra string }, echoResult]{Name: "echo"}
	opAbsent = Op[None, None]{Name: "absent"}
)

// failures are the errors opFail returns, by argument.
var failures = map[string]error{
	"plain":    errors.New("a plain failure"),
	"sentinel": errMissing,
	"wrapped":  fmt.Errorf("user %q: %w", "amy", errMissing),
	"both":     fmt.Errorf("%w and %w", errMissing, errTaken),
	"typed":    &typedErr{msg: "typed and missing"},
	"canceled": fmt.Errorf("stopped: %w", context.Canceled),
}

// typedErr matches errMissing through an Is method, not by wrapping.
type typedErr struct{ msg string }

func (e *typedErr) Error() string        { return e.msg }
func (e *typedErr) Is(target error) bool { return target == errMissing }

// shortDir is a private folder with a short path: t.TempDir() paths can
// pass the unix socket limit when test names are long.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// serve starts a server with the test operations in dir and stops it at
// cleanup. It returns the server's cancel and the channel Serve's result
// arrives on.
func serve(t *testing.T, dir string, tweak ...func(*Server)) (*Server, context.CancelFunc, <-chan error) {
	t.Helper()
	s, err := Listen(dir, "t.sock", testCodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tweak {
		f(s)
	}
	var mu sync.Mutex
	count := 0
	Handle(s, opEcho, func(_ context.Context, a echoArg) (echoResult, error) {
		return echoResult{Greeting: "hello " + a.Name, Items: a.Items, At: a.At, Double: 2 * a.N}, nil
	})
	Handle(s, opFail, NoResult(func(_ context.Context, which string) error { return failures[which] }))
	Handle(s, opCount, NoArgs(func(context.Context) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		count++
		return count, nil
	}))
	Handle(s, opBlock, NoResult(func(ctx context.Context, _ None) error {
		<-ctx.Done()
		return ctx.Err()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done, finished := make(chan error, 1), make(chan struct{})
	go func() { done <- s.Serve(ctx); close(finished) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return within 30 s of its context ending")
		}
	})
	return s, cancel, done
}

func client(dir string) *Client { return NewClient(dir, "t.sock", testCodes) }

// TestListen_SocketIsPrivate checks the socket is a socket, mode 0600.
func TestListen_SocketIsPrivate(t *testing.T) {
	dir := shortDir(t)
	s, _, _ := serve(t, dir)
	fi, err := os.Lstat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v; want a socket, 0600", fi.Mode())
	}
}

// TestListen_RefusesWhileAnswered checks a second server on the same socket
// gets ErrInUse and the first keeps answering.
func TestListen_RefusesWhileAnswered(t *testing.T) {
	dir := shortDir(t)
	serve(t, dir)
	if _, err := Listen(dir, "t.sock", nil); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen = %v; want ErrInUse", err)
	}
	if n, err := Call(context.Background(), client(dir), opCount, None{}); err != nil || n != 1 {
		t.Fatalf("the first server after a refused second: %d, %v", n, err)
	}
	if !Answers(dir, "t.sock") || Answers(dir, "other.sock") {
		t.Fatal("Answers does not tell the served socket from an absent one")
	}
}

// TestListen_ReplacesStaleSocket checks a socket left by a dead process is
// replaced.
func TestListen_ReplacesStaleSocket(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "t.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the stale socket is not in place: %v", err)
	}
	serve(t, dir)
	if _, err := Call(context.Background(), client(dir), opCount, None{}); err != nil {
		t.Fatalf("after replacing a stale socket: %v", err)
	}
}

// TestListen_RefusesNonSocket checks a file or folder in the way is left
// alone.
func TestListen_RefusesNonSocket(t *testing.T) {
	for _, kind := range []string{"file", "folder"} {
		t.Run(kind, func(t *testing.T) {
			dir := shortDir(t)
			path := filepath.Join(dir, "t.sock")
			var err error
			if kind == "file" {
				err = os.WriteFile(path, []byte("keep me"), 0o600)
			} else {
				err = os.Mkdir(path, 0o700)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Listen(dir, "t.sock", nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
				t.Fatalf("Listen over a %s = %v; want a refusal", kind, err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("the %s was removed: %v", kind, err)
			}
		})
	}
}

// TestListen_PathTooLong checks a path past the unix limit is refused with
// a message naming the cause.
func TestListen_PathTooLong(t *testing.T) {
	dir := filepath.Join(shortDir(t), strings.Repeat("d", 120))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(dir, "t.sock", nil)
	if err == nil || !strings.Contains(err.Error(), "longer than a unix socket allows") {
		t.Fatalf("Listen = %v; want a too-long refusal", err)
	}
}

// TestCall_TypedRoundTrip checks arguments and results cross intact,
// including operations without an argument or a result.
func TestCall_TypedRoundTrip(t *testing.T) {
	dir := shortDir(t)
	serve(t, dir)
	c := client(dir)
	at := time.Date(2026, 3, 12, 8, 30, 1, 123456789, time.UTC)
	got, err := Call(context.Background(), c, opEcho, echoArg{Name: "amy", Items: []string{"a", "b"}, At: at, N: 21})
	if err != nil {
		t.Fatal(err)
	}
	want := echoResult{Greeting: "hello amy", Items: []string{"a", "b"}, At: at, Double: 42}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("echo = %+v; want %+v", got, want)
	}
	for i := 1; i <= 3; i++ {
		if n, err := Call(context.Background(), c, opCount, None{}); err != nil || n != i {
			t.Fatalf("count call %d = %d, %v", i, n, err)
		}
	}
	if _, err := Call(context.Background(), c, opFail, "nothing"); err != nil {
		t.Fatalf("an operation returning nil error: %v", err)
	}
}

// TestCall_ErrorIdentity checks each kind of error arrives with the same
// message and matching the same sentinels as in process.
func TestCall_ErrorIdentity(t *testing.T) {
	dir := shortDir(t)
	serve(t, dir)
	c := client(dir)
	sentinels := []error{errMissing, errTaken, context.Canceled, context.DeadlineExceeded, ErrUnknownOperation}
	for which, local := range failures {
		t.Run(which, func(t *testing.T) {
			_, remote := Call(context.Background(), c, opFail, which)
			if remote == nil || remote.Error() != local.Error() {
				t.Fatalf("message %v; want %q", remote, local.Error())
			}
			var e *Error
			if !errors.As(remote, &e) {
				t.Fatalf("remote error is %T; want *Error", remote)
			}
			for _, s := range sentinels {
				if errors.Is(remote, s) != errors.Is(local, s) {
					t.Errorf("errors.Is(%v) remote %v, in process %v", s, errors.Is(remote, s), errors.Is(local, s))
				}
			}
		})
	}
}

// TestCall_UnknownCodeKept checks a code the client's table lacks (an
// older client) keeps the message and the code name.
func TestCall_UnknownCodeKept(t *testing.T) {
	dir := shortDir(t)
	serve(t, dir)
	_, err := Call(context.Background(), NewClient(dir, "t.sock", nil), opFail, "sentinel")
	var e *Error
	if !errors.As(err, &e) || e.Message != "missing" || !reflect.DeepEqual(e.Codes, []string{"missing"}) || errors.Is(err, errMissing) {
		t.Fatalf("error %#v", err)
	}
}

// TestCall_UnknownOperation checks an operation the server lacks is told
// apart from the operation's own failures.
func TestCall_UnknownOperation(t *testing.T) {
	dir := shortDir(t)
	serve(t, dir)
	_, err := Call(context.Background(), client(dir), opAbsent, None{})
	if !errors.Is(err, ErrUnknownOperation) || !strings.Contains(err.Error(), `"absent"`) {
		t.Fatalf("error %v; want ErrUnknownOperation naming the operation", err)
	}
}

// TestCall_BadRequest checks an argument the server cannot decode
// exactly (an unknown field, too large) is refused, not half understood.
func TestCall_BadRequest(t *testing.T) {
	dir := shortDir(t)
	// A small limit, so the whole request fits in the socket's buffers and
	// the answer cannot race a failing write.
	serve(t, dir, func(s *Server) { s.maxRequest = 1024 })
	c := client(dir)
	if _, err := Call(context.Background(), c, opEchoV2, struct{ Name, Extra string }{"amy", "x"}); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "Extra") {
		t.Fatalf("unknown field: %v; want ErrBadRequest naming it", err)
	}
	big := echoArg{Name: strings.Repeat("x", 1025)}
	if _, err := Call(context.Background(), c, opEcho, big); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("argument over the limit: %v; want ErrBadRequest", err)
	}
}

// TestCall_NotAnswering checks a missing socket and a stopped server give
// ErrNotAnswering, and a stopped server removes its socket.
func TestCall_NotAnswering(t *testing.T) {
	dir := shortDir(t)
	c := client(dir)
	if _, err := Call(context.Background(), c, opCount, None{}); !errors.Is(err, ErrNotAnswering) {
		t.Fatalf("no server: %v; want ErrNotAnswering", err)
	}
	s, cancel, done := serve(t, dir)
	if _, err := Call(context.Background(), c, opCount, None{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after its context ended = %v; want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket still there after Serve returned: %v", err)
	}
	if _, err := Call(context.Background(), c, opCount, None{}); !errors.Is(err, ErrNotAnswering) {
		t.Fatalf("stopped server: %v; want ErrNotAnswering", err)
	}
}

// TestCall_ContextBoundsTheCall checks a caller's deadline ends a call the
// server is still working on.
func TestCall_ContextBoundsTheCall(t *testing.T) {
	dir := shortDir(t)
	serve(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Call(ctx, client(dir), opBlock, None{})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNotAnswering) {
		t.Fatalf("error %v; want DeadlineExceeded, not ErrNotAnswering", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the call took %v past its deadline", d)
	}
}

// TestServe_EndsOperationsInFlight checks stopping the server ends the
// context of an operation in flight, so Serve returns without waiting for
// ShutdownGrace.
func TestServe_EndsOperationsInFlight(t *testing.T) {
	dir := shortDir(t)
	_, cancel, done := serve(t, dir)
	callErr := make(chan error, 1)
	go func() {
		_, err := Call(context.Background(), client(dir), opBlock, None{})
		callErr <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the call arrive; if it has not, it meets a closed socket, also an error
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	select {
	case err := <-callErr:
		if err == nil {
			t.Fatal("the blocked call succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the blocked call did not end")
	}
}

// TestServe_ConcurrentCalls checks many callers at once each get their own
// answer.
func TestServe_ConcurrentCalls(t *testing.T) {
	dir := shortDir(t)
	serve(t, dir)
	c := client(dir)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				name := fmt.Sprintf("g%d-%d", g, i)
				r, err := Call(context.Background(), c, opEcho, echoArg{Name: name, N: i})
				if err != nil || r.Greeting != "hello "+name || r.Double != 2*i {
					errs <- fmt.Errorf("%s: %+v, %v", name, r, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestHandle_DuplicatePanics checks one name cannot be registered twice.
func TestHandle_DuplicatePanics(t *testing.T) {
	s, err := Listen(shortDir(t), "t.sock", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	Handle(s, opCount, NoArgs(func(context.Context) (int, error) { return 0, nil }))
	defer func() {
		if recover() == nil {
			t.Fatal("a second registration of one name did not panic")
		}
	}()
	Handle(s, opCount, NoArgs(func(context.Context) (int, error) { return 1, nil }))
}
