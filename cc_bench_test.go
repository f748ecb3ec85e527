package udt

import (
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
)

// goFixed is a Go controller that does what the shim's CCFixedRate does:
// a set pace, the window at the flow window. Against CCFixedRate it
// measures the Go plumbing alone; with hooks, the per-packet callbacks.
type goFixed struct {
	ControllerBase
	mbps  float64
	calls *atomic.Int64
}

func (g *goFixed) Init(cc *CC) {
	cc.SetCWnd(cc.MaxCWnd())
	cc.SetPktSndPeriod(float64(cc.MSS()) * 8 / g.mbps)
}
func (g *goFixed) OnPktSent(*CC, *Packet)     { g.calls.Add(1) }
func (g *goFixed) OnPktReceived(*CC, *Packet) { g.calls.Add(1) }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopbackTransfer sends n bytes over one loopback connection with cfg on
// both ends and returns the wall and process CPU time it took.
func loopbackTransfer(tb testing.TB, cfg Config, n int64) (wall, cpu time.Duration) {
	l := listenT(tb, "udt", "127.0.0.1:0", cfg)
	defer l.Close()
	got := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		_, err = io.CopyN(io.Discard, c, n)
		got <- err
	}()
	d := Dialer{Config: cfg}
	c, err := d.Dial("udt", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 1<<20)
	start, cpu0 := time.Now(), cpuNow()
	for left := n; left > 0; {
		k, err := c.Write(buf[:min(int64(len(buf)), left)])
		if err != nil {
			tb.Fatal(err)
		}
		left -= int64(k)
	}
	if err := <-got; err != nil {
		tb.Fatal(err)
	}
	return time.Since(start), cpuNow() - cpu0
}

// BenchmarkControllerCost compares, on loopback and interleaved (A B C ...
// A B C ...), UDT's native control, the shim's CCFixedRate, the same pace
// from a Go controller, that controller with both per-packet callbacks,
// and BBR. Reported per kind: median Mbit/s, median CPU seconds per GiB
// (both ends, this process), and for the hooks the CPU cost per callback
// over the Go controller without them.
//
//	go test -run '^$' -bench ControllerCost -benchtime 1x .   (UDT_CC_ROUNDS, UDT_CC_MIB)
func BenchmarkControllerCost(b *testing.B) {
	rounds := testenv.EnvInt("UDT_CC_ROUNDS", 5)
	n := int64(testenv.EnvInt("UDT_CC_MIB", 256)) << 20
	const mbps = 20000 // far above loopback: the pace never binds
	var calls atomic.Int64
	kinds := []struct {
		name string
		cc   CongestionControl
	}{
		{"native", CongestionControl{Kind: CCNative}},
		{"shim-fixed", CongestionControl{Kind: CCFixedRate, Mbps: mbps}},
		{"go-fixed", CongestionControl{Kind: CCGo, Go: &GoController{New: func() Controller { return &goFixed{mbps: mbps, calls: &calls} }}}},
		{"go-fixed+hooks", CongestionControl{Kind: CCGo, Go: &GoController{New: func() Controller { return &goFixed{mbps: mbps, calls: &calls} }, Hooks: HookPktSent | HookPktReceived}}},
		{"bbr", BBR(BBRConfig{})},
	}
	type res struct{ mbit, cpuPerGiB []float64 }
	out := make([]res, len(kinds))
	var hookCalls int64
	for range b.N {
		for r := 0; r < rounds; r++ {
			for i, k := range kinds {
				calls.Store(0)
				wall, cpu := loopbackTransfer(b, Config{CongestionControl: k.cc}, n)
				if k.name == "go-fixed+hooks" {
					hookCalls += calls.Load()
				}
				out[i].mbit = append(out[i].mbit, float64(n)*8/wall.Seconds()/1e6)
				out[i].cpuPerGiB = append(out[i].cpuPerGiB, cpu.Seconds()/(float64(n)/(1<<30)))
			}
		}
	}
	med := func(v []float64) (m, lo, hi float64) {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2], s[0], s[len(s)-1]
	}
	for i, k := range kinds {
		m, lo, hi := med(out[i].mbit)
		c, clo, chi := med(out[i].cpuPerGiB)
		b.Logf("%-15s %7.0f Mbit/s (%.0f-%.0f)   %.2f CPU-s/GiB (%.2f-%.2f)", k.name, m, lo, hi, c, clo, chi)
		b.ReportMetric(m, k.name+"-Mbit/s")
		b.ReportMetric(c, k.name+"-CPUs/GiB")
	}
	cNo, _, _ := med(out[2].cpuPerGiB)
	cHooks, _, _ := med(out[3].cpuPerGiB)
	perGiB := float64(hookCalls) / float64(rounds*b.N) / (float64(n) / (1 << 30))
	if perGiB > 0 {
		ns := (cHooks - cNo) / perGiB * 1e9
		b.Logf("per-packet hooks: %.0f callbacks per GiB, %s CPU each (median CPU with hooks minus without, over the callbacks)", perGiB, fmt.Sprintf("%.0f ns", ns))
		b.ReportMetric(ns, "ns/callback")
	}
}
