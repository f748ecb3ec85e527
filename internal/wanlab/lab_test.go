package wanlab

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/netem"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// UDT's poller lives as long as the process, by design.
		goleak.IgnoreTopFunction("github.com/udtgo/udt.(*poller).run"),
		goleak.IgnoreTopFunction("github.com/udtgo/udt/cudt._Cfunc_cudt_epoll_wait2"))
}

func newLab(t *testing.T, o Options) *Lab {
	t.Helper()
	if err := CanRun(); err != nil {
		t.Skip(err)
	}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		for _, ns := range l.NS {
			if _, err := os.Stat(stateDir + "/" + ns); err == nil {
				t.Errorf("namespace %s is still there after Close", ns)
			}
		}
	})
	return l
}

func TestOptionsAreChecked(t *testing.T) {
	if err := CanRun(); err != nil {
		t.Skip(err)
	}
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Prefix: "a/b"}, "Prefix"},
		{Options{Subnet: netip.MustParsePrefix("fd00::/64")}, "Subnet"},
		{Options{Subnet: netip.MustParsePrefix("10.1.1.1/32")}, "Subnet"},
		{Options{MTU: 100}, "MTU"},
		{Options{Up: netem.Config{Loss: 3}}, "Options.Up: netem: Config.Loss"},
		{Options{Down: netem.Config{Rate: -1}}, "Options.Down: netem: Config.Rate"},
		{Options{Sysctls: map[string]string{"net.x": "1\n2"}}, "Sysctls"},
	} {
		l, err := New(c.o)
		if err == nil {
			l.Close()
			t.Errorf("New(%+v) worked", c.o)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want it to name %s", c.o, err, c.want)
		}
	}
}

// TestSmoke builds the lab, checks the emulator's delay and loss at one
// setting, and sends a file over UDT through it.
func TestSmoke(t *testing.T) {
	const delay, loss = 10 * time.Millisecond, 0.02
	const rate = 50_000_000
	path := netem.Config{Delay: delay, Loss: loss, Rate: rate, Seed: 1}
	back := netem.Config{Delay: delay, Rate: rate, Seed: 2}
	l := newLab(t, Options{Up: path, Down: back})

	// Round trips: no probe may beat the setting, and the median sits
	// within 5% of it (the stacks add tens of microseconds). A loaded
	// machine's scheduler adds milliseconds, which is more than 5% of a
	// short delay but not of a long one: as Go's net/timeout_test.go
	// retries with a longer timeout, a longer delay is tried before the
	// check fails.
	for i, oneWay := range []time.Duration{delay, 4 * delay, 16 * delay} {
		l.SetConfig(netem.Config{Delay: oneWay, Rate: rate}, netem.Config{Delay: oneWay, Rate: rate, Seed: 2})
		rtts, err := l.ProbeRTT(50, 64, 5*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(rtts) != 50 {
			t.Fatalf("%d of 50 probes came back on a path without loss", len(rtts))
		}
		want := 2 * oneWay
		slices.Sort(rtts)
		if rtts[0] < want-100*time.Microsecond {
			t.Errorf("fastest round trip %v, below the %v set", rtts[0], want)
		}
		m := rtts[len(rtts)/2]
		if m <= want+want/20 {
			t.Logf("round trip: min %v, median %v (set: %v)", rtts[0], m, want)
			break
		}
		if i == 2 {
			t.Errorf("median round trip %v, want within 5%% of %v, at every delay tried", m, want)
			break
		}
		t.Logf("median round trip %v, want within 5%% of %v: trying a longer delay", m, want)
	}

	// Loss: everything the emulator did not drop arrives, and it drops at
	// the rate set.
	l.SetConfig(path, back)
	const n = 5000
	res, err := l.ProbeLoss(n, 1000, 20_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if res.EmulatorQueue != 0 || int64(res.Sent-res.Received) != res.EmulatorLost {
		t.Errorf("sent %d, received %d, but the emulator lost %d and queue-dropped %d: packets vanished elsewhere", res.Sent, res.Received, res.EmulatorLost, res.EmulatorQueue)
	}
	if exp := n * loss; math.Abs(float64(res.EmulatorLost)-exp) > 5*math.Sqrt(exp) {
		t.Errorf("lost %d of %d, want about %.0f", res.EmulatorLost, n, exp)
	}

	// One UDT transfer through a lossy path, checked end to end. UDT's
	// native control reads random loss as congestion, so 1% keeps it short.
	l.SetConfig(netem.Config{Delay: delay, Loss: 0.01, Rate: rate, Seed: 3}, back)
	before, _ := l.Stats()
	data := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{6}).Read(data)
	var ln net.Listener
	if err := l.Do(B, func() (err error) {
		ln, err = udt.Listen("udt4", netip.AddrPortFrom(l.Addr[B], 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sum := make(chan [32]byte, 1)
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		h := sha256.New()
		// Exactly the bytes sent, not up to EOF: UDT sends its shutdown
		// packet once, and when the path loses it the receiver sees the
		// connection time out (ECONNLOST) instead of an EOF.
		if _, err := io.CopyN(h, c, int64(len(data))); err != nil {
			errc <- err
			return
		}
		sum <- [32]byte(h.Sum(nil))
	}()
	var c net.Conn
	if err := l.Do(A, func() (err error) {
		// Its own port, bound here: the dialer's shared port lives in the
		// namespace of whoever dialed first.
		d := udt.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.Addr[A], 0))}
		c, err = d.Dial("udt4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := io.Copy(c, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-sum:
		if got != sha256.Sum256(data) {
			t.Fatal("the data arrived changed")
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(3 * time.Minute):
		t.Fatal("the transfer did not finish in 3 minutes")
	}
	up, _ := l.Stats()
	lost, pkts := up.Lost-before.Lost, up.PacketsIn-before.PacketsIn
	t.Logf("%d MiB over UDT in %v; the path lost %d of %d packets", len(data)>>20, time.Since(start).Round(time.Millisecond), lost, pkts)
	if lost == 0 {
		t.Error("the transfer saw no loss: the path is not the one set")
	}
}
