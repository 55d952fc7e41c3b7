package netlab

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestLink_RateIsReal checks a listener in the namespace is reached across
// the veth and that tbf holds a bulk transfer to its rate.
func TestLink_RateIsReal(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("impaired-link test skipped: %v", err)
	}
	l, err := New(2_000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ln, err := l.Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 500 << 10
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(make([]byte, size))
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	want := time.Duration(float64(size*8) / 2e6 * float64(time.Second)) // about 2.0 s
	t.Logf("%d KiB over %s at 2 Mbit/s: %v", size>>10, ln.Addr(), d)
	if d < want*8/10 || d > want*2 {
		t.Fatalf("took %v; tbf at 2 Mbit/s should take about %v", d, want)
	}
}
