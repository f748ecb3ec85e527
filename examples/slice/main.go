// Command slice is the scenario this library came from: a controller that
// connects to every node of a "slice" at once, runs a command on each
// through a node agent and gathers every output with its exit status.
//
//	slice agent [-listen 127.0.0.1:0] [-n 1] [-cc native|bbr] [-rcvbuf BYTES] [-tcp [-tcp-cc NAME]]
//	slice run [-cmd CMD] [-cc native|bbr] [-rcvbuf BYTES] [-tcp [-tcp-cc NAME]] [-timeout 2m] [-json] ADDR...
//	slice demo [-n 200] [-cmd CMD] [-cc native|bbr] [-rcvbuf BYTES] [-agent-rcvbuf BYTES] [-tcp [-tcp-cc NAME]]
//
// agent serves commands on n listeners (printing each address on a line):
// each connection carries one command, run with /bin/sh -c; its output
// streams back as it comes, then its exit status. run is the controller.
// demo starts n agents in a child process on loopback and runs the
// controller against them, then prints how long connecting and gathering
// took, per node and for the slice, and the controller's peak descriptors
// and threads. -tcp runs the same over TCP, for comparison.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/udtgo/udt"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "agent":
		err = agentMain(os.Args[2:])
	case "run":
		err = runMain(os.Args[2:])
	case "demo":
		err = demoMain(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "slice:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: slice agent|run|demo [flags] (slice <command> -h for the flags)")
	os.Exit(2)
}

func network(tcp bool) string {
	if tcp {
		return "tcp"
	}
	return "udt"
}

func agentMain(args []string) error {
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "address to listen on (port 0: any free one)")
	n := fs.Int("n", 1, "how many agents (listeners) to run")
	tcp := fs.Bool("tcp", false, "serve over TCP instead of UDT")
	tcpCC := fs.String("tcp-cc", "", tcpCCUsage)
	rcvbuf := fs.Int("rcvbuf", 0, "UDT receive buffer per connection, bytes (0: UDT's 12 MB); an agent receives only commands")
	ccName := fs.String("cc", "native", "UDT congestion control of the output an agent sends: "+strings.Join(udt.Controllers, ", ")+" (udt.BBR wants it on both ends)")
	fs.Parse(args)
	cc, err := udt.ParseCongestionControl(*ccName)
	if err != nil {
		return err
	}
	lc := udt.ListenConfig{Config: udt.Config{RecvBuffer: *rcvbuf, CongestionControl: cc}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	errc := make(chan error, *n)
	var ls []net.Listener
	for range *n {
		l, err := (&net.ListenConfig{Control: tcpControl(*tcpCC)}).Listen(ctx, "tcp", *addr)
		if !*tcp {
			l, err = lc.Listen(ctx, "udt", *addr)
		}
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr())
		go func() { errc <- agent(l, func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }) }()
	}
	// A line on stdout per listener, then nothing: a parent reading the
	// addresses knows they are all up.
	os.Stdout.Sync()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	for _, l := range ls {
		l.Close()
	}
	return nil
}

type runFlags struct {
	cmd     string
	cc      string
	rcvbuf  int
	tcp     bool
	tcpCC   string
	timeout time.Duration
	json    bool
}

func (f *runFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.cmd, "cmd", "uname -a", "the command each agent runs with /bin/sh -c")
	fs.StringVar(&f.cc, "cc", "native", "UDT congestion control: "+strings.Join(udt.Controllers, ", "))
	fs.IntVar(&f.rcvbuf, "rcvbuf", 0, "UDT receive buffer per connection, bytes (0: UDT's 12 MB): the window each node's output flows in, per round trip (docs/memory.md)")
	fs.BoolVar(&f.tcp, "tcp", false, "connect over TCP instead of UDT")
	fs.StringVar(&f.tcpCC, "tcp-cc", "", tcpCCUsage)
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "bound on the whole run")
	fs.BoolVar(&f.json, "json", false, "print the summary as JSON")
}

func (f *runFlags) dialer() (dialFunc, error) {
	if f.tcp {
		d := net.Dialer{Control: tcpControl(f.tcpCC)}
		return func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }, nil
	}
	cc, err := udt.ParseCongestionControl(f.cc)
	if err != nil {
		return nil, err
	}
	d := &udt.Dialer{Config: udt.Config{CongestionControl: cc, RecvBuffer: f.rcvbuf}}
	return func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "udt", addr) }, nil
}

func runMain(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var f runFlags
	f.add(fs)
	fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("run: no agent addresses")
	}
	return runAndReport(f, fs.Args())
}

func runAndReport(f runFlags, addrs []string) error {
	dial, err := f.dialer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	peak := watchResources()
	res := run(ctx, dial, addrs, f.cmd)
	s := summarize(res, peak(), network(f.tcp), f.cc)
	if f.json {
		return json.NewEncoder(os.Stdout).Encode(s)
	}
	fmt.Println(s)
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("%d of %d nodes failed; the first: %v", s.Failed, len(res), r.Err)
		}
	}
	return nil
}

func demoMain(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	n := fs.Int("n", 200, "agents (nodes of the slice)")
	agentBuf := fs.Int("agent-rcvbuf", 0, "the agents' -rcvbuf")
	var f runFlags
	f.add(fs)
	fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	agentArgs := []string{"agent", "-n", fmt.Sprint(*n), "-rcvbuf", fmt.Sprint(*agentBuf), "-cc", f.cc}
	if f.tcp {
		agentArgs = append(agentArgs, "-tcp", "-tcp-cc", f.tcpCC)
	}
	child := exec.Command(self, agentArgs...)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() {
		child.Process.Signal(os.Interrupt)
		child.Wait()
	}()
	var addrs []string
	sc := bufio.NewScanner(out)
	for len(addrs) < *n && sc.Scan() {
		addrs = append(addrs, sc.Text())
	}
	if len(addrs) < *n {
		if err := sc.Err(); err != nil {
			return fmt.Errorf("the agents' process gave %d addresses of %d: %v", len(addrs), *n, err)
		}
		return fmt.Errorf("the agents' process ended after %d addresses of %d (its error is above)", len(addrs), *n)
	}
	return runAndReport(f, addrs)
}

// summary is a run's figures.
type summary struct {
	Network      string        `json:"network"`
	CC           string        `json:"cc,omitempty"`
	Nodes        int           `json:"nodes"`
	Failed       int           `json:"failed"`
	FirstError   string        `json:"first_error,omitempty"` // of the node that failed first
	AllConnected time.Duration `json:"all_connected_ns"`
	ConnectedP50 time.Duration `json:"connected_p50_ns"`
	AllDone      time.Duration `json:"all_done_ns"`
	DoneP50      time.Duration `json:"done_p50_ns"`
	DoneP99      time.Duration `json:"done_p99_ns"`
	DoneMax      time.Duration `json:"done_max_ns"`
	OutputBytes  int64         `json:"output_bytes"`
	NonZeroExit  int           `json:"nonzero_exit"`
	PeakFDs      int           `json:"peak_fds"`
	PeakThreads  int           `json:"peak_threads"`
	// UDT only: handshake requests UDT sent again after waiting 250 ms
	// for an answer (udt.PollerStats.DialResendWaits).
	DialResends uint64 `json:"dial_resends"`
	// Where the time of the median node and of the slowest three went.
	Traces []nodeTrace `json:"traces,omitempty"`
}

// nodeTrace is one node's timeline, from the start of the run, and what
// its UDT connection counted on the controller's side.
type nodeTrace struct {
	Which     string        `json:"which"` // "median", "slowest", ...
	Addr      string        `json:"addr"`
	Connected time.Duration `json:"connected_ns"`
	First     time.Duration `json:"first_frame_ns"`
	Last      time.Duration `json:"last_frame_ns"`
	Done      time.Duration `json:"done_ns"`
	RTT       time.Duration `json:"rtt_ns,omitempty"`
	Received  int64         `json:"pkts_received,omitempty"`
	RecvLoss  int64         `json:"pkts_recv_loss,omitempty"`
	NAKsSent  int64         `json:"naks_sent,omitempty"`
	ACKsSent  int64         `json:"acks_sent,omitempty"`
}

func traceOf(which string, r result) nodeTrace {
	t := nodeTrace{Which: which, Addr: r.Addr, Connected: r.Connected, First: r.First, Last: r.Last, Done: r.Done}
	if st := r.Stats; st != nil {
		t.RTT, t.Received, t.RecvLoss = st.RTT, st.Total.PacketsReceived, st.Total.RecvLoss
		t.NAKsSent, t.ACKsSent = st.Total.NAKsSent, st.Total.ACKsSent
	}
	return t
}

func summarize(res []result, peak resources, netw, cc string) summary {
	s := summary{Network: netw, Nodes: len(res), PeakFDs: peak.fds, PeakThreads: peak.threads}
	if netw == "udt" {
		s.CC = cc
		s.DialResends = udt.ReadPollerStats().DialResendWaits
	}
	var done, conn []time.Duration
	var firstAt time.Duration
	var ok []result
	for _, r := range res {
		if r.Err != nil {
			if s.Failed++; s.FirstError == "" || r.Done < firstAt {
				s.FirstError, firstAt = fmt.Sprintf("%s after %v: %v", r.Addr, r.Done.Round(time.Millisecond), r.Err), r.Done
			}
			continue
		}
		s.AllConnected = max(s.AllConnected, r.Connected)
		s.AllDone = max(s.AllDone, r.Done)
		s.OutputBytes += int64(len(r.Output))
		if r.Status != 0 {
			s.NonZeroExit++
		}
		done = append(done, r.Done)
		conn = append(conn, r.Connected)
		ok = append(ok, r)
	}
	slices.SortFunc(ok, func(a, b result) int { return cmp.Compare(a.Done, b.Done) })
	if len(ok) > 0 {
		s.Traces = append(s.Traces, traceOf("median", ok[len(ok)/2]))
	}
	for i := len(ok) - 1; i >= max(len(ok)-3, 0); i-- {
		s.Traces = append(s.Traces, traceOf(fmt.Sprintf("slowest %d", len(ok)-i), ok[i]))
	}
	if len(done) > 0 {
		slices.Sort(done)
		s.DoneP50 = done[len(done)/2]
		s.DoneP99 = done[min(len(done)-1, len(done)*99/100)]
		s.DoneMax = done[len(done)-1]
		slices.Sort(conn)
		s.ConnectedP50 = conn[len(conn)/2]
	}
	return s
}

func (s summary) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	name := s.Network
	if s.CC != "" {
		name += " (" + s.CC + ")"
	}
	out := fmt.Sprintf("%s: %d nodes, %d failed, %d exited non-zero, %d output bytes\n"+
		"connected: half after %v, all after %v; all gathered after %v; per node p50 %v, p99 %v, max %v\n"+
		"controller's peak: %d descriptors, %d threads",
		name, s.Nodes, s.Failed, s.NonZeroExit, s.OutputBytes,
		r(s.ConnectedP50), r(s.AllConnected), r(s.AllDone), r(s.DoneP50), r(s.DoneP99), r(s.DoneMax), s.PeakFDs, s.PeakThreads)
	if s.Network == "udt" {
		out += fmt.Sprintf("; %d handshake requests resent after 250 ms", s.DialResends)
	}
	return out
}

const tcpCCUsage = "with -tcp: the sockets' Linux congestion control (cubic, bbr, ...; empty: the system's default)"

// tcpControl sets a TCP socket's congestion control before it connects or
// listens (a listener's passes to the connections it accepts).
func tcpControl(name string) func(network, address string, c syscall.RawConn) error {
	if name == "" {
		return nil
	}
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("TCP congestion control %q: %w", name, serr)
		}
		return nil
	}
}
