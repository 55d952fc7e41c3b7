// Package faultproxy is a TCP proxy for tests that injects the network
// faults a laptop in an ambulance meets: latency, refused connections,
// connections cut in the middle of a frame, and half-open connections that
// stay up but carry nothing.
//
// # Basics
//
// New listens on 127.0.0.1 and forwards every accepted connection to one
// target address. The fault mode can be switched at any time and applies
// to existing and new connections alike:
//
//   - Pass forwards bytes unchanged.
//   - Delay holds every chunk for a fixed time before forwarding it.
//   - Drop resets every open connection and every new one.
//   - CutAfter lets n more bytes through from the server to the client on
//     each connection, then closes both sides: a cut in mid-frame.
//   - HalfOpen keeps every TCP connection open but forwards nothing, in
//     either direction, and does not pass on a close from either side: only
//     a heartbeat notices.
//
// # Caveats
//
// The proxy is for loopback tests only: it refuses a target that is not a
// loopback address. It is bounded: at most MaxConns connections at a time,
// and it closes itself after MaxLifetime so a test that forgets Close does
// not leave goroutines behind for long. Close ends every goroutine it
// started before it returns.
package faultproxy
