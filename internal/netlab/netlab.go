// Package netlab makes a rate-limited link on this machine for the
// impaired-link tests and benchmark: a network namespace joined to the
// current one by a veth pair, with a tbf qdisc shaping each direction.
// A listener opened in the namespace (Listen) is reached from the
// current namespace only across that link. It needs root and iproute2;
// Available says why not otherwise. Nothing leaves the machine: the
// addresses are private (10.0.0.0/8) and routed only over the veth.
package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Link is one namespace and its shaped veth pair.
type Link struct {
	NS       string // namespace name
	HostIP   string // the current namespace's end
	NSIP     string // the namespace's end
	RateBits int    // tbf rate in each direction
	hostDev  string
}

var counter atomic.Int32

// Available returns nil when links can be made here, or the reason not.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces and tc)")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs %s from iproute2 (scripts/ensure-deps.sh test installs it)", tool)
		}
	}
	return nil
}

func run(args ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %v: %s", args, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// New makes a namespace and a veth pair whose both directions tbf limits
// to rateBits per second. Close removes them.
func New(rateBits int) (*Link, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	n := int(counter.Add(1))
	pid := os.Getpid()
	l := &Link{
		NS:       fmt.Sprintf("kmcrlab-%d-%d", pid, n),
		HostIP:   fmt.Sprintf("10.%d.%d.1", 200+pid%50, (pid/50%50)*5+n%5),
		NSIP:     fmt.Sprintf("10.%d.%d.2", 200+pid%50, (pid/50%50)*5+n%5),
		RateBits: rateBits,
		hostDev:  fmt.Sprintf("kl%d-%dh", pid%100000, n%100),
	}
	nsDev := l.hostDev[:len(l.hostDev)-1] + "n"
	// Burst: at least one full-size frame plus a 10 ms refill; the queue
	// holds 300 ms at the rate before tbf drops (real loss for TCP).
	burst := max(rateBits/8/100, 4<<10)
	shape := func(prefix []string, dev string) []string {
		return append(prefix, "tc", "qdisc", "add", "dev", dev, "root", "tbf",
			"rate", fmt.Sprintf("%dbit", rateBits), "burst", fmt.Sprint(burst), "latency", "300ms")
	}
	inNS := []string{"ip", "netns", "exec", l.NS}
	steps := [][]string{
		{"ip", "netns", "add", l.NS},
		{"ip", "link", "add", l.hostDev, "type", "veth", "peer", "name", nsDev},
		{"ip", "link", "set", nsDev, "netns", l.NS},
		{"ip", "addr", "add", l.HostIP + "/30", "dev", l.hostDev},
		{"ip", "link", "set", l.hostDev, "up"},
		append(inNS, "ip", "addr", "add", l.NSIP+"/30", "dev", nsDev),
		append(inNS, "ip", "link", "set", nsDev, "up"),
		append(inNS, "ip", "link", "set", "lo", "up"),
		shape(nil, l.hostDev),
		shape(inNS, nsDev),
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			l.Close()
			return nil, fmt.Errorf("netlab: %w", err)
		}
	}
	return l, nil
}

// Listen opens a TCP listener inside the namespace on port (0: any), so
// the current namespace reaches it only across the shaped link, at
// NSIP:port. The socket is made on a thread switched into the namespace
// for the call; it stays in the namespace afterwards.
func (l *Link) Listen(port int) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is left locked, and so discarded when the goroutine
		// ends, if it could not be switched back.
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer self.Close()
		target, err := os.Open("/var/run/netns/" + l.NS)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("netlab: entering %s: %w", l.NS, err)}
			return
		}
		ln, lerr := net.Listen("tcp", net.JoinHostPort(l.NSIP, fmt.Sprint(port)))
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			if ln != nil {
				ln.Close()
			}
			ch <- result{nil, fmt.Errorf("netlab: leaving %s: %w", l.NS, err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{ln, lerr}
	}()
	r := <-ch
	return r.ln, r.err
}

// Close removes the namespace and with it the veth pair.
func (l *Link) Close() error {
	err := run("ip", "netns", "del", l.NS)
	_ = run("ip", "link", "del", l.hostDev) // gone with the namespace, normally
	return err
}
