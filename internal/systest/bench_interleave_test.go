package systest

import (
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/testenv"
	"github.com/udtgo/udt/udt4"
)

// BenchmarkThroughputInterleaved settles whether the binding costs throughput
// or CPU next to the C++ library, on loopback. Sequential runs on a shared
// machine measure the machine: so every pairing of sender and receiver
// runs once per round, the rounds repeat (A B C … A B C …, UDT_BENCH_ROUNDS,
// default 10), and each pairing's figures are the median and spread over
// its rounds. Every end is a process of its own: the C++ ends are the
// upstream appclient and appserver, the Go ends this test binary
// re-executed (benchChild), written like them (100,000-byte sends, a
// perfmon line a second). Throughput is the sender's UDT send rate, as
// appclient prints it; CPU is each process's user and system time, the
// figures getrusage(RUSAGE_SELF) gives, read from /proc/PID/stat at the
// first and the last rate line, per GiB sent in between. One run is the
// whole figure, whatever b.N: run it with -benchtime 1x, as ./build.sh
// bench does. UDT_BENCH_PAIRINGS (names separated by commas, as the
// table prints them) runs only those pairings; the first one run is then
// the base of the ratios.
func BenchmarkThroughputInterleaved(b *testing.B) {
	secs, rounds := 5, 10
	if v, err := strconv.Atoi(os.Getenv("UDT_BENCH_SECONDS")); err == nil && v > 1 {
		secs = v
	}
	if v, err := strconv.Atoi(os.Getenv("UDT_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	pp := peers(b)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	// unguarded: a Go end with the firewall off (cudt.DisableFirewall), to
	// measure what its check costs.
	type end struct{ cpp, conn, unguarded bool }
	pairings := []struct {
		name       string
		send, recv end
	}{
		{"C++ -> C++", end{cpp: true}, end{cpp: true}},
		{"Go -> Go", end{}, end{}},
		{"Go -> C++", end{}, end{cpp: true}},
		{"C++ -> Go", end{cpp: true}, end{}},
		{"Go net.Conn -> Go net.Conn", end{conn: true}, end{conn: true}},
		{"Go -> Go, no firewall", end{unguarded: true}, end{unguarded: true}},
	}
	if only := os.Getenv("UDT_BENCH_PAIRINGS"); only != "" {
		names := strings.Split(only, ",")
		pairings = slices.DeleteFunc(pairings, func(p struct {
			name       string
			send, recv end
		}) bool {
			return !slices.Contains(names, p.name)
		})
		if len(pairings) == 0 {
			b.Fatalf("UDT_BENCH_PAIRINGS=%q names no pairing", only)
		}
	}
	index := func(name string) int {
		for i, p := range pairings {
			if p.name == name {
				return i
			}
		}
		return -1
	}
	startRecv := func(e end) (*benchProc, int) {
		if e.cpp {
			p, port := startServerPeer(b, pp.Dir, pp.AppServer)
			return &benchProc{cmd: p.cmd, lines: p}, port
		}
		mode := "recv"
		if e.conn {
			mode = "connrecv"
		}
		p := startBenchChild(b, self, mode, "", e.unguarded)
		// The child binds port 0 and prints the port it got.
		l := p.waitFor(b, func(l string) bool { return strings.HasPrefix(l, "port ") }, testenv.TimeoutUpperBound)
		port, err := strconv.Atoi(strings.TrimPrefix(l, "port "))
		if err != nil {
			b.Fatalf("receiver printed %q", l)
		}
		return p, port
	}
	startSend := func(e end, port int) *benchProc {
		if e.cpp {
			p := startPeer(b, pp.Dir, pp.AppClient, "127.0.0.1", strconv.Itoa(port))
			return &benchProc{cmd: p.cmd, lines: p}
		}
		mode := "send"
		if e.conn {
			mode = "connsend"
		}
		return startBenchChild(b, self, mode, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String(), e.unguarded)
	}
	type sample struct{ mbps, sendCPU, recvCPU float64 } // CPU: seconds per GiB
	results := make([][]sample, len(pairings))
	for r := range rounds {
		for i, pr := range pairings {
			recv, port := startRecv(pr.recv)
			send := startSend(pr.send, port)
			isRate := func(l string) bool { _, ok := udt4.ParseAppClientRate(l); return ok }
			// The first second is the start; the next secs are measured.
			send.waitFor(b, isRate, testenv.TimeoutUpperBound)
			s0, r0 := procCPU(b, send.cmd), procCPU(b, recv.cmd)
			var mbits float64
			for range secs {
				l := send.waitFor(b, isRate, testenv.TimeoutUpperBound)
				v, _ := udt4.ParseAppClientRate(l)
				mbits += v // one second each
			}
			s1, r1 := procCPU(b, send.cmd), procCPU(b, recv.cmd)
			send.stop()
			recv.stop()
			gib := mbits * 1e6 / 8 / (1 << 30)
			if gib <= 0 {
				b.Fatalf("%s: nothing sent in round %d", pr.name, r+1)
			}
			smp := sample{mbits / float64(secs), (s1 - s0) / gib, (r1 - r0) / gib}
			results[i] = append(results[i], smp)
			b.Logf("round %2d  %-28s %6.0f Mbit/s  CPU-s/GiB sender %.2f receiver %.2f", r+1, pr.name, smp.mbps, smp.sendCPU, smp.recvCPU)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%d rounds of %d s each, interleaved; load average at the end %s", rounds, secs, strings.Join(strings.Fields(string(load))[:3], " "))
	b.Logf("%-28s %22s %22s %22s  vs %s (medians of the per-round ratios)", "pairing", "Mbit/s median [p25-p75]", "sender CPU-s/GiB", "receiver CPU-s/GiB", pairings[0].name)
	base := results[0]
	for i, pr := range pairings {
		col := func(f func(sample) float64) []float64 {
			var v []float64
			for _, s := range results[i] {
				v = append(v, f(s))
			}
			return v
		}
		// Ratios within a round: the pairings of one round ran within
		// seconds of each other, under the same load.
		ratio := func(f func(sample) float64) float64 {
			var v []float64
			for k, s := range results[i] {
				if b := f(base[k]); b > 0 {
					v = append(v, f(s)/b)
				}
			}
			return quantile(v, 0.5)
		}
		mb := col(func(s sample) float64 { return s.mbps })
		sc := col(func(s sample) float64 { return s.sendCPU })
		rc := col(func(s sample) float64 { return s.recvCPU })
		b.Logf("%-28s %6.0f [%4.0f-%4.0f]      %5.2f [%4.2f-%4.2f]      %5.2f [%4.2f-%4.2f]  throughput %3.0f%%, sender CPU %3.0f%%, receiver CPU %3.0f%%",
			pr.name, quantile(mb, 0.5), quantile(mb, 0.25), quantile(mb, 0.75),
			quantile(sc, 0.5), quantile(sc, 0.25), quantile(sc, 0.75),
			quantile(rc, 0.5), quantile(rc, 0.25), quantile(rc, 0.75),
			100*ratio(func(s sample) float64 { return s.mbps }),
			100*ratio(func(s sample) float64 { return s.sendCPU }),
			100*ratio(func(s sample) float64 { return s.recvCPU }))
	}
	// Per-round ratios of one pairing over another: what the firewall
	// costs, and what the net.Conn layer adds to the one-to-one layer.
	compare := func(what, a, over string) {
		i, j := index(a), index(over)
		if i < 0 || j < 0 {
			return
		}
		var tput, scpu, rcpu []float64
		for k := range results[i] {
			tput = append(tput, results[i][k].mbps/results[j][k].mbps)
			scpu = append(scpu, results[i][k].sendCPU/results[j][k].sendCPU)
			rcpu = append(rcpu, results[i][k].recvCPU/results[j][k].recvCPU)
		}
		b.Logf("%s (medians of the per-round ratios): throughput %.0f%% [%.0f-%.0f], sender CPU %.0f%% [%.0f-%.0f], receiver CPU %.0f%% [%.0f-%.0f]", what,
			100*quantile(tput, 0.5), 100*quantile(tput, 0.25), 100*quantile(tput, 0.75),
			100*quantile(scpu, 0.5), 100*quantile(scpu, 0.25), 100*quantile(scpu, 0.75),
			100*quantile(rcpu, 0.5), 100*quantile(rcpu, 0.25), 100*quantile(rcpu, 0.75))
	}
	compare("firewall on / off (Go -> Go)", "Go -> Go", "Go -> Go, no firewall")
	compare("net.Conn / Socket (Go at both ends)", "Go net.Conn -> Go net.Conn", "Go -> Go")
}

// quantile of v by linear interpolation between order statistics; NaN for
// no values.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	pos := q * float64(len(v)-1)
	lo := int(pos)
	if lo+1 >= len(v) {
		return v[len(v)-1]
	}
	return v[lo] + (pos-float64(lo))*(v[lo+1]-v[lo])
}

// procCPU is a running process's user plus system time in seconds, as
// getrusage(RUSAGE_SELF) would report it inside the process: fields 14
// and 15 of /proc/PID/stat, in clock ticks (100 a second on Linux).
func procCPU(t testing.TB, cmd *exec.Cmd) float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "stat"))
	if err != nil {
		t.Fatalf("reading the CPU time of %s: %v", cmd.Path, err)
	}
	v, err := parseStatCPU(string(b))
	if err != nil {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	return v
}

// parseStatCPU reads utime and stime from a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may hold spaces, so the
// fields are counted from its closing parenthesis.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat without a command name: %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat too short: %q", stat)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/PID/stat utime %q, stime %q: not numbers", f[11], f[12])
	}
	const clkTck = 100 // USER_HZ, fixed for user space on Linux
	return float64(u+s) / clkTck, nil
}

func TestParseStatCPU(t *testing.T) {
	line := "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 0 0"
	v, err := parseStatCPU(line)
	if err != nil || v != 3.25 {
		t.Errorf("parseStatCPU = %v, %v; want 3.25", v, err)
	}
	for _, bad := range []string{"", "4242 prog S 1", "1 (x) S 1 2 3 4 5 6 7 8 9 x y"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) accepted it", bad)
		}
	}
	if q := quantile([]float64{4, 1, 3, 2}, 0.5); q != 2.5 {
		t.Errorf("median of 1..4 = %v, want 2.5", q)
	}
	if q := quantile([]float64{4, 1, 3, 2}, 0.25); q != 1.75 {
		t.Errorf("p25 of 1..4 = %v, want 1.75", q)
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("the median of nothing is a number")
	}
}

// benchProc is one end of an interleaved run: a reference peer or this
// binary as benchChild.
type benchProc struct {
	cmd   *exec.Cmd
	lines *peerProc
	next  int // lines already looked at
}

func startBenchChild(t testing.TB, self, mode, addr string, unguarded bool) *benchProc {
	t.Helper()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), "UDT_BENCH_CHILD="+mode+" "+addr)
	if unguarded {
		cmd.Env = append(cmd.Env, "UDT_TEST_FIREWALL_OFF=1")
	}
	p := collectLines(t, cmd, false)
	bp := &benchProc{cmd: cmd, lines: p}
	t.Cleanup(bp.stop)
	return bp
}

// waitFor returns the next line, past those already returned, that ok
// accepts.
func (p *benchProc) waitFor(t testing.TB, ok func(string) bool, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		out := p.lines.output()
		for ; p.next < len(out); p.next++ {
			if ok(out[p.next]) {
				p.next++
				return out[p.next-1]
			}
		}
		select {
		case <-p.lines.seen:
		case <-p.lines.done:
			if len(p.lines.output()) == len(out) {
				t.Fatalf("%s exited; output:\n%s", p.cmd.Path, strings.Join(out, "\n"))
			}
		case <-deadline:
			t.Fatalf("%s printed nothing expected within %v; output:\n%s", p.cmd.Path, within, strings.Join(out, "\n"))
		}
	}
}

var stopMu sync.Mutex

// stop kills the process and waits for it; it may be called again.
func (p *benchProc) stop() {
	stopMu.Lock()
	defer stopMu.Unlock()
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.lines.done
	p.cmd.Wait()
}

// benchChild is the test binary re-executed as one Go end of
// BenchmarkThroughputInterleaved (UDT_BENCH_CHILD="MODE ADDR"): "recv" and
// "connrecv" bind 127.0.0.1:0, print "port N" and discard what one
// connection sends; "send" and "connsend" connect to ADDR, send
// 100,000-byte blocks and print appclient's perfmon line each second.
// "conn" modes use net.Conn (Dial, Listen), the others Socket, as
// appclient and appserver use UDT's socket calls; "connecho" echoes
// 64-byte messages on one net.Conn (BenchmarkEchoLatencyVsReference). It
// never returns: the parent kills it.
func benchChild(spec string) {
	mode, addr, _ := strings.Cut(spec, " ")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		os.Exit(3)
	}
	switch mode {
	case "recv":
		l, err := udt.NewSocket(udt.IPv4, udt.Stream)
		if err != nil {
			fail(err)
		}
		if err := l.Bind(netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
			fail(err)
		}
		if err := l.Listen(1); err != nil {
			fail(err)
		}
		la, err := l.SockName()
		if err != nil {
			fail(err)
		}
		fmt.Printf("port %d\n", la.Port())
		s, _, err := l.Accept()
		if err != nil {
			fail(err)
		}
		buf := make([]byte, 100000)
		for {
			if _, err := s.Recv(buf); err != nil {
				fail(err)
			}
		}
	case "connrecv", "connecho":
		l, err := udt.Listen("udt", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		fmt.Printf("port %d\n", l.Addr().(*udt.Addr).Port())
		c, err := l.Accept()
		if err != nil {
			fail(err)
		}
		if mode == "connecho" {
			// BenchmarkEchoLatencyVsReference's server in a process of its own.
			err = echo64(c)
		} else {
			_, err = io.Copy(io.Discard, c)
		}
		fail(fmt.Errorf("connection ended: %v", err))
	case "send", "connsend":
		var sock udt.Socket
		var write func([]byte) (int, error)
		if mode == "send" {
			s, err := udt.NewSocket(udt.IPv4, udt.Stream)
			if err != nil {
				fail(err)
			}
			if err := s.Connect(netip.MustParseAddrPort(addr)); err != nil {
				fail(err)
			}
			sock, write = s, s.Send
		} else {
			nc, err := udt.Dial("udt", addr)
			if err != nil {
				fail(err)
			}
			c := nc.(*udt.Conn)
			sock, write = c.Socket(), c.Write
		}
		writeBlocks(write)
		sock.Perfmon(true)
		for {
			time.Sleep(time.Second)
			p, err := sock.Perfmon(true)
			if err != nil {
				fail(err)
			}
			// appclient's columns: rate, RTT, window, period, ACKs, NAKs.
			fmt.Printf("%g\t\t%g\t%d\t%g\t\t\t%d\t%d\n", p.MbpsSendRate, p.RTT.Seconds()*1e3, p.PktCongestionWindow, float64(p.PktSndPeriod.Microseconds()), p.PktRecvACK, p.PktRecvNAK)
		}
	}
	fail(fmt.Errorf("unknown mode %q", mode))
}
