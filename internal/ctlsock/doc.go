// Package ctlsock is the local control socket of both programs: the
// kmcr-server admin commands reach a running server through it, and
// "kmcr status" and "kmcr lock" reach the kmcr window or "kmcr sync" that
// holds a profile open. It carries typed operations as JSON over HTTP on a
// unix socket that only the owner of the folder can use.
//
// # Basics
//
// An Op names an operation together with its argument and result types, so
// the handler and every caller agree on them at compile time:
//
//	var opStatus = ctlsock.Op[ctlsock.None, Status]{Name: "status"}
//
// The serving side binds the socket with Listen (which refuses when another
// process answers there and clears a stale socket left by a crash),
// registers each operation once with Handle, and runs Serve(ctx) until ctx
// ends:
//
//	srv, err := ctlsock.Listen(dir, "kmcr.sock", nil)
//	ctlsock.Handle(srv, opStatus, ctlsock.NoArgs(func(ctx context.Context) (Status, error) { ... }))
//	err = srv.Serve(ctx)
//
// The calling side names the same socket and calls the operation:
//
//	st, err := ctlsock.Call(ctx, ctlsock.NewClient(dir, "kmcr.sock", nil), opStatus, ctlsock.None{})
//
// # Errors
//
// An operation's error crosses the socket as its message and a list of
// codes: one for every entry of the Codes table the error matches with
// errors.Is. It arrives as an *Error with the same message that matches the
// same table entries again, so errors.Is(err, store.ErrNotFound) holds for
// a remote caller as it does in process. Both ends pass the same table.
// Failures of the socket itself are told apart from the operation's own:
// ErrNotAnswering when nothing serves the socket (or it stopped before
// answering), ErrUnknownOperation when the server does not know the
// operation, ErrBadRequest when it could not decode the argument.
//
// # Caveats
//
// The socket file is made mode 0600 just after it is bound, so the folder
// it lives in should itself be private to its owner (kmcr and kmcr-server
// make theirs 0700); that is also what keeps another user from replacing
// it. A unix socket path is limited to about 107 bytes; Listen refuses a
// longer one with a message saying so.
//
// Arguments and results travel as JSON, so only their exported fields
// cross and a time.Time keeps its instant but not its monotonic reading.
// Both ends are meant to come from the same build; an older server answers
// a newer operation with ErrUnknownOperation, and an argument with a field
// the server does not know is refused (ErrBadRequest) rather than half
// understood.
//
// At shutdown (ctx ends) the contexts of operations in flight end too, and
// Serve waits up to ShutdownGrace for them to return.
package ctlsock
