package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/udtgo/udt/internal/netem"
	"github.com/udtgo/udt/internal/wanlab"
)

// Fidelity is the emulator's check: what was set against what was measured.
type Fidelity struct {
	RTT   []RTTCheck  `json:"rtt"`
	Loss  []LossCheck `json:"loss"`
	Rate  []RateCheck `json:"rate"`
	MaxOK int64       `json:"max_faithful_rate_bps"` // highest rate whose check passed
	Load  string      `json:"host_after"`
	Host  string      `json:"host"`
}

type RTTCheck struct {
	SetMs, MinMs, MedianMs, P99Ms float64
	ErrPct                        float64 // median against the setting
	OK                            bool
}

type LossCheck struct {
	SetPct, MeasuredPct, CI95Pct float64 // CI95: the binomial 95% interval half-width
	Sent, Received               int
	ElsewhereLost                int64 // lost outside the emulator: must be 0
	OK                           bool
}

type RateCheck struct {
	SetMbps, MeasuredMbps, ErrPct float64
	ElsewhereLost                 int64
	OK                            bool
}

func checkMain(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	rtts := fs.String("rtts", "1,50,100,200", "round trips to check, ms")
	losses := fs.String("losses", "0.1,1", "loss rates to check, %")
	rates := fs.String("rates", "50M,100M,200M,400M,600M,800M,1G", "rate caps to check, ascending")
	lossN := fs.Int("loss-probes", 200000, "datagrams per loss check")
	out := fs.String("json", "", "also write the results here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rttList, err := parseFloats(*rtts, "-rtts")
	if err != nil {
		return err
	}
	lossList, err := parseFloats(*losses, "-losses")
	if err != nil {
		return err
	}
	var rateList []int64
	for _, r := range strings.Split(*rates, ",") {
		v, err := parseRate(r)
		if err != nil {
			return fmt.Errorf("-rates: %q: %v", r, err)
		}
		rateList = append(rateList, v)
	}
	lab, done, err := openLab(wanlab.Options{})
	if err != nil {
		return err
	}
	defer done()
	f := Fidelity{Host: hostInfo()}
	fmt.Printf("host: %s\n\n", f.Host)

	fmt.Println("Round trip (100 UDP probes of 64 bytes, 10 ms apart):")
	fmt.Println("| set | min | median | p99 | median error |")
	fmt.Println("|---|---|---|---|---|")
	for _, ms := range rttList {
		one := time.Duration(ms * float64(time.Millisecond) / 2)
		lab.SetConfig(netem.Config{Delay: one}, netem.Config{Delay: one})
		d, err := lab.ProbeRTT(100, 64, 10*time.Millisecond)
		if err != nil {
			return err
		}
		if len(d) < 100 {
			return fmt.Errorf("RTT check at %v ms: %d of 100 probes came back on a path without loss", ms, len(d))
		}
		slices.Sort(d)
		msf := func(x time.Duration) float64 { return x.Seconds() * 1e3 }
		c := RTTCheck{SetMs: ms, MinMs: msf(d[0]), MedianMs: msf(d[len(d)/2]), P99Ms: msf(d[len(d)*99/100])}
		c.ErrPct = (c.MedianMs - ms) / ms * 100
		c.OK = math.Abs(c.ErrPct) <= 5 && c.MinMs >= ms*0.99
		f.RTT = append(f.RTT, c)
		fmt.Printf("| %g ms | %.3f | %.3f | %.3f | %+.1f%% %s |\n", ms, c.MinMs, c.MedianMs, c.P99Ms, c.ErrPct, okText(c.OK))
	}

	fmt.Printf("\nLoss (%d datagrams of 64 bytes at 20 Mbit/s, RTT 50 ms):\n", *lossN)
	fmt.Println("| set | measured | 95% interval | lost elsewhere |")
	fmt.Println("|---|---|---|---|")
	for _, pct := range lossList {
		p := pct / 100
		lab.SetConfig(netem.Config{Delay: 25 * time.Millisecond, Loss: p, Seed: uint64(pct * 1000)}, netem.Config{Delay: 25 * time.Millisecond})
		r, err := lab.ProbeLoss(*lossN, 64, 20_000_000)
		if err != nil {
			return err
		}
		c := LossCheck{SetPct: pct, Sent: r.Sent, Received: r.Received}
		c.MeasuredPct = float64(r.Sent-r.Received) / float64(r.Sent) * 100
		c.CI95Pct = 1.96 * math.Sqrt(p*(1-p)/float64(r.Sent)) * 100
		c.ElsewhereLost = int64(r.Sent-r.Received) - r.EmulatorLost - r.EmulatorQueue
		// Within 5% of the setting, or within the sampling error where
		// that is wider.
		c.OK = c.ElsewhereLost == 0 && math.Abs(c.MeasuredPct-pct) <= max(0.05*pct, c.CI95Pct)
		f.Loss = append(f.Loss, c)
		fmt.Printf("| %g%% | %.4f%% | ±%.4f%% | %d %s |\n", pct, c.MeasuredPct, c.CI95Pct, c.ElsewhereLost, okText(c.OK))
	}

	fmt.Println("\nRate cap (UDP offered at 1.1x the cap, 1500-byte packets, RTT 50 ms, measured over 3 s after 1 s):")
	fmt.Println("| cap | measured | error | lost elsewhere |")
	fmt.Println("|---|---|---|---|")
	for _, rate := range rateList {
		cfg := netem.Config{Delay: 25 * time.Millisecond, Rate: rate}
		lab.SetConfig(cfg, netem.Config{Delay: 25 * time.Millisecond})
		r, err := lab.ProbeRate(rate*11/10, 1472, time.Second, 3*time.Second)
		if err != nil {
			return err
		}
		c := RateCheck{SetMbps: float64(rate) / 1e6, MeasuredMbps: float64(r.Measured) / 1e6}
		c.ErrPct = (c.MeasuredMbps - c.SetMbps) / c.SetMbps * 100
		c.ElsewhereLost = int64(r.Sent-r.Received) - r.EmulatorDropped
		c.OK = math.Abs(c.ErrPct) <= 5 && c.ElsewhereLost == 0
		f.Rate = append(f.Rate, c)
		if c.OK {
			f.MaxOK = rate
		}
		fmt.Printf("| %.0f Mbit/s | %.1f | %+.1f%% | %d %s |\n", c.SetMbps, c.MeasuredMbps, c.ErrPct, c.ElsewhereLost, okText(c.OK))
	}
	var below []string
	for _, c := range f.Rate {
		if !c.OK && c.SetMbps*1e6 < float64(f.MaxOK) {
			below = append(below, fmt.Sprintf("%.0f", c.SetMbps))
		}
	}
	fmt.Printf("\nhighest rate held within 5%% with no loss outside the emulator: %.0f Mbit/s", float64(f.MaxOK)/1e6)
	if len(below) > 0 {
		fmt.Printf(" (but %s Mbit/s failed in this run: see the load above)", strings.Join(below, ", "))
	}
	fmt.Println()
	f.Load = hostInfo()
	fmt.Printf("host after: %s\n", f.Load)
	if *out != "" {
		return writeJSON(*out, f)
	}
	return nil
}

func okText(ok bool) string {
	if ok {
		return "ok"
	}
	return "**off**"
}

// hostInfo says what the machine was doing, for the record.
func hostInfo() string {
	load, _ := os.ReadFile("/proc/loadavg")
	l := strings.Fields(string(load))
	if len(l) > 3 {
		l = l[:3]
	}
	return fmt.Sprintf("%d CPUs, load average %s, net.core.rmem_max %s, wmem_max %s",
		numCPU(), strings.Join(l, " "), hostLimit("net.core.rmem_max"), hostLimit("net.core.wmem_max"))
}
