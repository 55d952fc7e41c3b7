// Package e2e holds the end-to-end and failure tests of kmcr and
// kmcr-server. It has no code of its own outside its tests: everything it
// checks is reached the way a user or an operator reaches it.
//
// # Basics
//
// TestMain builds the two programs once, with "go build", into a temporary
// folder; the tests run them as subprocesses on real profile folders, real
// bbolt files and real TLS websockets on 127.0.0.1. Where a test needs a
// fault that a subprocess cannot be made to have (a shortened heartbeat, a
// moved device clock, a connection cut at one exact moment), it runs the
// server or the client core in-process instead: server.New on a real store
// and a real TLS listener, app.Open on a real profile folder.
//
// The tests are grouped by concern: the command line end to end
// (cli_test.go), network faults through a fault-injecting proxy
// (faults_test.go), SIGKILL during a first sync (firstsync_test.go),
// revocation and purges (purge_test.go), many clients at once
// (concurrent_test.go), the audit trail under kills and tampering
// (auditkill_test.go, audittamper_test.go, diskfull_test.go) and the OS
// keyring (keyring_test.go).
//
// # Running
//
//	go test -race ./e2e/           # the full counts the issues name
//	go test -race -short ./e2e/    # smaller loops for a quick check
//
// Client profiles keep their device secret in a file (kmcr enrol
// --device-secret-file), the documented alternative to the OS keyring, so
// the tests do not depend on one. TestKeyring_EnrolShowWipe uses the real
// OS keyring and runs only with KMCR_TEST_KEYRING=1, inside a D-Bus session
// with an unlocked Secret Service (the Makefile's test target arranges it).
// TestDiskFull_OutboxWrite mounts a small tmpfs and is skipped where
// mounting is not permitted.
//
// The tests run in parallel with each other (go test's -parallel, two on a
// two-core machine); each has its own servers, profiles and ports.
//
// # Caveats
//
// The built programs are not race-instrumented even under -race: the kill
// loops start hundreds of processes and must stay fast. The in-process
// tests are where the race detector looks. Network tests use loopback only,
// and every wait polls a condition under a generous deadline.
package e2e
