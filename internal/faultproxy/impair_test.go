package faultproxy

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestImpair_LatencyKeepsThroughput checks a round trip takes the added
// RTT, and that latency alone does not slow a stream: 2 MiB still crosses
// in far less than one RTT per chunk.
func TestImpair_LatencyKeepsThroughput(t *testing.T) {
	p := mustProxy(t, startTarget(t, echo))
	const rtt = 200 * time.Millisecond
	p.Impair(Impairment{RTT: rtt})
	c := dial(t, p)
	start := time.Now()
	if got, err := roundTrip(c, "ping"); err != nil || got != "ping" {
		t.Fatal(got, err)
	}
	if d := time.Since(start); d < rtt || d > rtt+300*time.Millisecond {
		t.Fatalf("round trip took %v, want about %v", d, rtt)
	}
	msg := strings.Repeat("x", 2<<20)
	start = time.Now()
	go func() { _, _ = c.Write([]byte(msg)) }()
	buf := make([]byte, len(msg))
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*rtt {
		t.Fatalf("2 MiB echoed in %v: latency is throttling throughput (64 chunks x RTT would be %v)", d, 64*rtt)
	}
}

// TestImpair_RateAndLoss checks the userspace rate limits a stream to
// about its bits per second, and that losses add stalls.
func TestImpair_RateAndLoss(t *testing.T) {
	target := startTarget(t, func(c net.Conn) { _, _ = c.Write(make([]byte, 256<<10)) })
	measure := func(im Impairment) time.Duration {
		p := mustProxy(t, target)
		p.Impair(im)
		c := dial(t, p)
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 256<<10)); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	// 256 KiB at 2 Mbit/s is about 1.05 s.
	plain := measure(Impairment{Rate: 2e6, Seed: 1})
	if plain < 900*time.Millisecond || plain > 2*time.Second {
		t.Fatalf("256 KiB at 2 Mbit/s took %v, want about 1.05 s", plain)
	}
	// 5% of 180 segments lost: about 9 stalls of 200 ms.
	lossy := measure(Impairment{Rate: 2e6, LossRate: 0.05, Seed: 1})
	if lossy < plain+800*time.Millisecond {
		t.Fatalf("with 5%% loss %v, without %v: losses did not stall", lossy, plain)
	}
}

// TestImpair_DropCycle checks the link drops for DropFor every DropEvery:
// an open connection is reset, and new ones work again once it is back.
func TestImpair_DropCycle(t *testing.T) {
	p := mustProxy(t, startTarget(t, echo))
	p.Impair(Impairment{DropEvery: 600 * time.Millisecond, DropFor: 300 * time.Millisecond})
	c := dial(t, p)
	if _, err := roundTrip(c, "before"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // inside the first drop
	if _, err := roundTrip(c, "during"); err == nil {
		t.Fatal("a connection survived the drop")
	}
	time.Sleep(300 * time.Millisecond) // back up
	c2 := dial(t, p)
	if got, err := roundTrip(c2, "after"); err != nil || got != "after" {
		t.Fatalf("after the drop: %q %v", got, err)
	}
	if p.Drops() < 1 {
		t.Fatalf("Drops = %d", p.Drops())
	}
	p.Impair(Impairment{})
}

// TestNewToNamespace_OnlyPrivate checks the namespace variant still refuses
// anything but loopback and 10.0.0.0/8.
func TestNewToNamespace_OnlyPrivate(t *testing.T) {
	for _, target := range []string{"192.0.2.1:80", "example.org:443", "8.8.8.8:53"} {
		if p, err := NewToNamespace(target); err == nil {
			p.Close()
			t.Errorf("NewToNamespace(%q) accepted", target)
		}
	}
	p, err := NewToNamespace("10.99.0.2:443")
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}
