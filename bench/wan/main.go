// Command wanbench measures UDT against TCP, QUIC and the C++ reference
// through the WAN lab: two network namespaces joined by the user-space path
// emulator of internal/netem (see internal/wanlab). It needs root.
//
//	wanbench check   the emulator's fidelity and the highest rate it holds
//	wanbench run     the matrix of paths and contenders, a table, JSON and a PNG
//	wanbench fair    two flows through one bottleneck: shares over time, Jain's index
//	wanbench smoke   one short UDT transfer through one path
//	wanbench services  gRPC over UDT and over TCP on one path (docs/services.md)
//	wanbench slice   a controller gathering command output from 200 agents (examples/slice)
//
// It lives in its own module so the library's users never pull quic-go,
// gRPC and the plotting packages.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/netem"
	"github.com/udtgo/udt/internal/wanlab"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage: wanbench check|run|fair|services|slice|smoke [flags]   (as root)
  check   emulator fidelity (RTT, loss, rate) and the highest faithful rate
  run     the bench matrix: -h for its flags
  fair    flows sharing one bottleneck: shares over time, Jain's index (-h)
  smoke   one path, one short UDT transfer through it
  services  gRPC over UDT (native, BBR) vs over TCP (BBR, CUBIC): -h for its flags
  slice   a controller connects 200 agents at once and gathers their output (-h)
`)
}

func main() {
	if os.Getenv("UDT_FIREWALL_OFF") != "" {
		// Only to measure what the firewall in front of UDT costs on these
		// paths (docs/security.md): every role process inherits it.
		cudt.DisableFirewallForTesting()
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	if os.Args[1] == "role" {
		var err error
		if len(os.Args) > 2 && strings.HasPrefix(os.Args[2], "grpc-") {
			err = grpcRole(os.Args[2], os.Args[3:])
		} else {
			err = roleMain(os.Args[2:])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "wanbench role:", err)
			os.Exit(1)
		}
		return
	}
	if err := wanlab.CanRun(); err != nil {
		fmt.Fprintf(os.Stderr, "wanbench: cannot run here: %v\n", err)
		os.Exit(3)
	}
	var err error
	switch os.Args[1] {
	case "check":
		err = checkMain(os.Args[2:])
	case "run":
		err = runMain(os.Args[2:])
	case "smoke":
		err = smokeMain(os.Args[2:])
	case "fair":
		err = fairMain(os.Args[2:])
	case "services":
		err = servicesMain(os.Args[2:])
	case "slice":
		err = sliceMain(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wanbench:", err)
		os.Exit(1)
	}
}

// labSysctls give TCP buffers past the largest bandwidth-delay product of
// the matrix (per namespace; the UDP limits net.core.rmem_max/wmem_max are
// the host's and are reported, not changed).
var labSysctls = map[string]string{
	"net.ipv4.tcp_rmem": "4096 131072 67108864",
	"net.ipv4.tcp_wmem": "4096 16384 67108864",
}

// openLab builds a lab and tears it down on SIGINT/SIGTERM too, so an
// interrupted run leaves no namespace behind.
func openLab(o wanlab.Options) (*wanlab.Lab, func(), error) {
	if o.Sysctls == nil {
		o.Sysctls = labSysctls
	}
	lab, err := wanlab.New(o)
	if err != nil {
		return nil, nil, err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	stop := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "wanbench: %v: removing the lab\n", s)
			killChildren()
			lab.Close()
			os.Exit(130)
		case <-stop:
		}
	}()
	return lab, func() {
		signal.Stop(sig)
		close(stop)
		killChildren()
		if err := lab.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "wanbench:", err)
		}
	}, nil
}

// benchPath is the path the scenarios measure through: rate each way, a
// one-way delay of half rttMs, random loss each way, and a tail-drop queue
// of one bandwidth-delay product (at least 100 packets of 1,500 bytes).
func benchPath(rate int64, rttMs, lossPct float64) netem.Config {
	bdp := int(float64(rate) / 8 * rttMs / 1000)
	return netem.Config{Delay: time.Duration(rttMs * float64(time.Millisecond) / 2), Loss: lossPct / 100, Rate: rate, QueueBytes: max(bdp, 100*1500)}
}

// setPath gives the lab cfg both ways with the same seeds every time: every
// contender meets the same sequence of random losses, packet by packet.
func setPath(lab *wanlab.Lab, cfg netem.Config) error {
	up, down := cfg, cfg
	up.Seed, down.Seed = 1, 2
	return lab.SetConfig(up, down)
}

// hostLimit reads a host sysctl for the report.
func hostLimit(key string) string {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// parseRate reads 100M, 1.5G, 800k or a plain number of bits per second.
func parseRate(s string) (int64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, errors.New("a rate is a positive number of bits per second, with k, M or G, e.g. 100M")
	}
	return int64(f * mult), nil
}

func parseFloats(s, what string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s: %q is not a number of 0 or more", what, f)
		}
		out = append(out, v)
	}
	return out, nil
}
