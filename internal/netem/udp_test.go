package netem

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoServer answers every datagram with the same bytes.
func echoServer(t *testing.T, network, addr string) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	c.(*net.UDPConn).SetReadBuffer(8 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func dialRelay(t *testing.T, r *UDPRelay) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadBuffer(8 << 20)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPRelayRoundTrip(t *testing.T) {
	for _, v := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}} {
		t.Run(v.network, func(t *testing.T) {
			target := echoServer(t, v.network, v.addr)
			for _, delay := range scaledDelays(10 * time.Millisecond) {
				if relayRoundTrips(t, v.network, target, delay) {
					return
				}
			}
			t.Errorf("the median round trip was more than 10%% above twice the delay at every delay tried")
		})
	}
}

// relayRoundTrips sends 30 probes through a relay with the given one-way
// delay each way, fails the test if one comes back changed or too soon,
// and reports whether their median round trip is within 10% of twice the
// delay.
func relayRoundTrips(t *testing.T, network string, target netip.AddrPort, delay time.Duration) bool {
	r, err := NewUDPRelay(target, Config{Delay: delay}, Config{Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Addr().Addr().Is4() != target.Addr().Is4() || !r.Addr().Addr().IsLoopback() {
		t.Errorf("relay listens on %v for target %v", r.Addr(), target)
	}
	c := dialRelay(t, r)
	defer c.Close()
	var rtts []time.Duration
	buf := make([]byte, 2048)
	for i := range 30 {
		p := seqPacket(i, 1200)
		start := time.Now()
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2*delay + timeoutUpperBound))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
		rtts = append(rtts, time.Since(start))
		if !slices.Equal(buf[:n], p) {
			t.Fatalf("probe %d came back changed", i)
		}
	}
	if lo := slices.Min(rtts); lo < 2*delay-2*earlyBy {
		t.Errorf("fastest round trip %v, below twice the one-way delay %v", lo, delay)
	}
	up, down := r.Stats()
	if up.Delivered != 30 || down.Delivered != 30 {
		t.Errorf("stats up %+v down %+v, want 30 each way", up, down)
	}
	// The scheduler on a shared machine adds to the median, never takes away.
	if m := median(rtts); m > 2*delay+2*delay/10 {
		t.Logf("%s: median round trip %v, want within 10%% of %v: trying a longer delay", network, m, 2*delay)
		return false
	}
	return true
}

func TestUDPRelayLoss(t *testing.T) {
	const n, loss = 4000, 0.1
	target := echoServer(t, "udp4", "127.0.0.1:0")
	r, err := NewUDPRelay(target, Config{Loss: loss, Seed: 5}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := dialRelay(t, r)
	var echoes atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := c.Read(buf); err != nil {
				return // the cleanup closed c
			}
			echoes.Add(1)
		}
	}()
	for i := range n {
		if _, err := c.Write(seqPacket(i, 200)); err != nil {
			t.Fatal(err)
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // stay well inside the sockets' buffers
		}
	}
	// Done when the relay has dealt with every datagram it got each way
	// and every echo it passed on has been read; a datagram the kernel
	// dropped leaves a count short, which the checks below report.
	settled := func() bool {
		up, down := r.Stats()
		return up.PacketsIn == n && up.Delivered+up.Lost == n && down.PacketsIn == up.Delivered &&
			down.Delivered+down.Lost == down.PacketsIn && echoes.Load() == down.Delivered
	}
	for deadline := time.Now().Add(timeoutUpperBound); !settled() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	echoed := echoes.Load()
	up, down := r.Stats()
	if up.PacketsIn != n {
		t.Fatalf("relay saw %d of %d datagrams: the kernel dropped some", up.PacketsIn, n)
	}
	want := n * loss
	if math.Abs(float64(up.Lost)-want) > 5*math.Sqrt(want*(1-loss)) {
		t.Errorf("lost %d of %d, want about %.0f", up.Lost, n, want)
	}
	if echoed != up.Delivered || down.Delivered != up.Delivered {
		t.Errorf("%d echoes came back, relay delivered %d up and %d down", echoed, up.Delivered, down.Delivered)
	}
}

func TestUDPRelaySetConfig(t *testing.T) {
	target := echoServer(t, "udp4", "127.0.0.1:0")
	r, err := NewUDPRelay(target, Config{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.SetConfig(Config{}, Config{Loss: -1}); err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("SetConfig with a bad down config: %v, want an error naming down", err)
	}
	if err := r.SetConfig(Config{Loss: 1}, Config{}); err != nil {
		t.Fatal(err)
	}
	c := dialRelay(t, r)
	c.Write([]byte("dropped"))
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Read(make([]byte, 64)); !isTimeout(err) {
		t.Errorf("read through a link losing everything: %v, want a timeout", err)
	}
	if up, _ := r.Stats(); up.Lost != 1 {
		t.Errorf("up lost %d, want 1", up.Lost)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestNewUDPRelayRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		target   netip.AddrPort
		up, down Config
		want     string
	}{
		{netip.AddrPort{}, Config{}, Config{}, "target"},
		{netip.MustParseAddrPort("127.0.0.1:0"), Config{}, Config{}, "target"},
		{netip.MustParseAddrPort("127.0.0.1:9"), Config{Rate: -1}, Config{}, "up: netem: Config.Rate"},
		{netip.MustParseAddrPort("127.0.0.1:9"), Config{}, Config{Delay: -1}, "down: netem: Config.Delay"},
	} {
		r, err := NewUDPRelay(c.target, c.up, c.down)
		if err == nil {
			r.Close()
			t.Errorf("NewUDPRelay(%v, %+v, %+v) worked", c.target, c.up, c.down)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewUDPRelay(%v): %v, want it to name %q", c.target, err, c.want)
		}
	}
}

func TestUDTData(t *testing.T) {
	if !UDTData([]byte{0x00, 0, 0, 1}) || UDTData([]byte{0x80, 0, 0, 2}) || UDTData(nil) {
		t.Error("UDTData misreads the control bit")
	}
}
