package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/udtgo/udt/internal/wanlab"
	"github.com/udtgo/udt/udt4"
)

func numCPU() int { return runtime.NumCPU() }

// children are the processes started in the namespaces, killed on the way
// out whatever happens.
var children struct {
	mu    sync.Mutex
	procs map[*exec.Cmd]bool
}

func track(c *exec.Cmd) {
	children.mu.Lock()
	defer children.mu.Unlock()
	if children.procs == nil {
		children.procs = map[*exec.Cmd]bool{}
	}
	children.procs[c] = true
}

func untrack(c *exec.Cmd) {
	children.mu.Lock()
	defer children.mu.Unlock()
	delete(children.procs, c)
}

func killChildren() {
	children.mu.Lock()
	defer children.mu.Unlock()
	for c := range children.procs {
		if c.Process != nil {
			c.Process.Kill()
		}
	}
}

// proc is a started child with its output.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line, closed at EOF
	stderr bytes.Buffer
	done   chan error
}

func start(lab *wanlab.Lab, side wanlab.Side, name string, args ...string) (*proc, error) {
	p := &proc{cmd: lab.Command(side, name, args...), lines: make(chan string, 1024), done: make(chan error, 1)}
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	track(p.cmd)
	if err := p.cmd.Start(); err != nil {
		untrack(p.cmd)
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads a chatty child's every line
			}
		}
		close(p.lines)
		p.done <- p.cmd.Wait()
		untrack(p.cmd)
	}()
	return p, nil
}

// waitLine waits for a line that starts with prefix.
func (p *proc) waitLine(prefix string, d time.Duration) (string, error) {
	t := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return "", fmt.Errorf("exited before printing %q: %s", prefix, strings.TrimSpace(p.stderr.String()))
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-t:
			return "", fmt.Errorf("no %q line within %v", prefix, d)
		}
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Cell is one path of the matrix.
type Cell struct {
	RTTms   float64            `json:"rtt_ms"`
	LossPct float64            `json:"loss_pct"`
	Results map[string]*Result `json:"results"` // by contender
}

// Result is one contender's goodput on one path.
type Result struct {
	Mbps    float64 `json:"mbps"`
	LinkPct float64 `json:"link_pct"`
	Note    string  `json:"note,omitempty"`
	// RTTInflMs is the queue the contender built: the median round trip
	// of probes sent through the path while it ran, less the path's own.
	RTTInflMs float64 `json:"rtt_inflation_ms,omitempty"`
	// QueueMs is the same queue as the emulator's model has it: the A→B
	// bottleneck's backlog, sampled every 5 ms while the contender ran
	// (median and mean). Unlike the probes it does not grow when the
	// machine is busy and the emulator's threads run late.
	QueueMs     float64 `json:"queue_ms"`
	QueueMeanMs float64 `json:"queue_mean_ms"`
	Err         string  `json:"error,omitempty"`
}

// Report is what a run writes to JSON.
type Report struct {
	Date        string   `json:"date"`
	Host        string   `json:"host_before"`
	HostAfter   string   `json:"host_after"`
	RateBps     int64    `json:"rate_bps"`
	WarmupS     float64  `json:"warmup_s"`
	MeasureS    float64  `json:"measure_s"`
	Contenders  []string `json:"contenders"`
	Cells       []*Cell  `json:"cells"`
	QueueRule   string   `json:"queue"`
	Sysctls     string   `json:"sysctls"`
	TCPDefault  string   `json:"tcp_default_cc"`
	Description string   `json:"description"`
}

var contenderNames = map[string]string{
	"udt":        "UDT (Go: udt perf)",
	"udt-go":     "UDT (Go: wanbench's own ends)",
	"udt-cpp":    "UDT (C++ appclient/appserver)",
	"udt-fixed":  "UDT (Go, CCFixedRate at 95% of the link)",
	"udt-native": "UDT (Go ends, native CC)",
	"udt-bbr":    "UDT (Go ends, BBR controller in Go)",
	"tcp":        "TCP (Go, namespace default CC)",
	"tcp-cubic":  "TCP (Go, CUBIC)",
	"quic":       "QUIC (quic-go)",
}

type runner struct {
	lab     *wanlab.Lab
	self    string
	udtBin  string // cmd/udt
	rate    int64  // the link's, bits per second
	peers   *udt4.Peers
	warmup  time.Duration
	measure time.Duration
	port    int
	pathRTT time.Duration // the current cell's, without queueing
}

func runMain(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	rateS := fs.String("rate", "100M", "link rate each way, bits per second")
	rtts := fs.String("rtts", "1,50,100,200", "round trips, ms")
	losses := fs.String("losses", "0,0.1,1", "random loss each way, %")
	cont := fs.String("contenders", "udt,udt-cpp,udt-fixed,udt-bbr,tcp,tcp-cubic,quic", "who runs: udt (udt perf), udt-go (this binary's own UDT ends), udt-cpp, udt-fixed (UDT without congestion control), udt-native and udt-bbr (the Go ends with that controller), tcp, tcp-cubic, quic")
	udtBin := fs.String("udt", "", "the udt command (cmd/udt) for udt perf (default: udt beside this binary)")
	warmup := fs.Duration("warmup", 3*time.Second, "time after the first byte before measuring")
	measure := fs.Duration("d", 8*time.Second, "how long to measure goodput")
	files := reportFlags(fs, "the plot")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rate, err := parseRate(*rateS)
	if err != nil {
		return fmt.Errorf("-rate: %v", err)
	}
	rttList, err := parseFloats(*rtts, "-rtts")
	if err != nil {
		return err
	}
	lossList, err := parseFloats(*losses, "-losses")
	if err != nil {
		return err
	}
	var names []string
	for _, c := range strings.Split(*cont, ",") {
		if _, ok := contenderNames[c]; !ok {
			return fmt.Errorf("-contenders: unknown %q (udt, udt-go, udt-native, udt-bbr, udt-cpp, udt-fixed, tcp, tcp-cubic, quic)", c)
		}
		names = append(names, c)
	}
	if *warmup < 0 || *measure <= 0 {
		return errors.New("-warmup must be 0 or more and -d more than 0")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r := &runner{self: self, udtBin: *udtBin, rate: rate, warmup: *warmup, measure: *measure, port: 7000}
	if r.udtBin == "" {
		r.udtBin = filepath.Join(filepath.Dir(self), "udt")
	}
	if slices.Contains(names, "udt") {
		if _, err := os.Stat(r.udtBin); err != nil {
			return fmt.Errorf("contender udt needs the udt command (go build -o bin/udt ./cmd/udt, or -udt PATH): %w", err)
		}
	}
	if slices.Contains(names, "udt-cpp") {
		dir, err := os.MkdirTemp("", "wanbench-peers-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if r.peers, err = udt4.BuildPeers(dir); err != nil {
			return err
		}
	}
	lab, done, err := openLab(wanlab.Options{})
	if err != nil {
		return err
	}
	defer done()
	r.lab = lab
	rep := &Report{
		Date: time.Now().UTC().Format(time.RFC3339), Host: hostInfo(), RateBps: rate,
		WarmupS: warmup.Seconds(), MeasureS: measure.Seconds(), Contenders: names,
		QueueRule: "one bandwidth-delay product, at least 100 packets of 1500 bytes; tail drop",
		Sysctls:   fmt.Sprintf("%v in both namespaces", labSysctls),
		TCPDefault: func() string {
			b, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
			return strings.TrimSpace(string(b))
		}(),
		Description: "goodput: new payload bytes (not retransmissions) the emulator delivered to the receiver's namespace over the measuring time, which starts after the warm-up from the first data packet; QUIC (encrypted) by its receiver's count of bytes read; each receiver's own count is in the notes",
	}
	fmt.Printf("host: %s\nlink %s each way, warm-up %v, measured %v per run\n", rep.Host, *rateS, *warmup, *measure)
	for _, rtt := range rttList {
		for _, loss := range lossList {
			cell := &Cell{RTTms: rtt, LossPct: loss, Results: map[string]*Result{}}
			rep.Cells = append(rep.Cells, cell)
			cfg := benchPath(rate, rtt, loss)
			one := cfg.Delay
			for _, name := range names {
				if err := setPath(lab, cfg); err != nil {
					return err
				}
				// The last run's packets leave the queue and its ends the
				// namespaces before the next one starts.
				time.Sleep(time.Second + 2*one)
				r.pathRTT = 2 * one
				res := r.run(name)
				res.LinkPct = res.Mbps / (float64(rate) / 1e6) * 100
				cell.Results[name] = res
				msg := fmt.Sprintf("%.1f Mbit/s (%.0f%%), RTT +%.1f ms, queue %.1f ms (mean %.1f)", res.Mbps, res.LinkPct, res.RTTInflMs, res.QueueMs, res.QueueMeanMs)
				if res.Err != "" {
					msg = "error: " + res.Err
				}
				fmt.Printf("RTT %g ms, loss %g%%: %-10s %s %s\n", rtt, loss, name, msg, res.Note)
			}
		}
	}
	rep.HostAfter = hostInfo()
	return files.write(markdownTable(rep), rep, func(path string) error { return plotReport(rep, path) })
}

// run measures one contender on the lab's current path.
func (r *runner) run(name string) *Result {
	r.port++
	addr := fmt.Sprintf("%s:%d", r.lab.Addr[wanlab.B], r.port)
	var res *Result
	var err error
	switch name {
	case "udt":
		res, err = r.udtPerf()
	case "udt-go", "udt-native":
		res, err = r.goPair("udt-recv", "udt-send", addr)
	case "udt-bbr":
		res, err = r.goPair("udt-recv", "udt-send", addr, "-ucc", "bbr")
	case "udt-fixed":
		// CCFixedRate paces MSS-byte packets, and UDT's MSS is the whole IP
		// packet: its rate is the link's measure.
		res, err = r.goPair("udt-recv", "udt-send", addr, "-fixed", fmt.Sprintf("%.3f", float64(r.rate)*0.95/1e6))
	case "tcp":
		res, err = r.goPair("tcp-recv", "tcp-send", addr)
	case "tcp-cubic":
		res, err = r.goPair("tcp-recv", "tcp-send", addr, "-cc", "cubic")
	case "quic":
		res, err = r.goPair("quic-recv", "quic-send", addr)
	case "udt-cpp":
		res, err = r.cppPair()
	}
	if err != nil {
		return &Result{Err: err.Error()}
	}
	return res
}

func (r *runner) timing() []string {
	return []string{"-warmup", r.warmup.String(), "-d", r.measure.String()}
}

// goPair runs one of this binary's receiver roles in B and its sender in A,
// and takes the receiver's count. UDT is also counted by the emulator, as
// a check of the count used for the C++ peers.
func (r *runner) goPair(recvRole, sendRole, addr string, sendArgs ...string) (*Result, error) {
	var tap *wireCounter
	switch recvRole {
	case "udt-recv":
		tap = newUDTCounter(r.warmup, r.measure, r.port)
	case "tcp-recv":
		tap = newTCPCounter(r.warmup, r.measure, r.port)
	}
	if tap != nil {
		r.lab.Tap(tap.see)
		defer r.lab.Tap(nil)
	}
	recvArgs := append([]string{"role", recvRole, "-addr", addr}, r.timing()...)
	// A UDT controller runs on both ends: the receiver's half repairs
	// losses (see udt.BBR).
	if i := slices.Index(sendArgs, "-ucc"); i >= 0 && i+1 < len(sendArgs) {
		recvArgs = append(recvArgs, sendArgs[i:i+2]...)
	}
	recv, err := start(r.lab, wanlab.B, r.self, recvArgs...)
	if err != nil {
		return nil, err
	}
	defer recv.kill()
	if _, err := recv.waitLine("listening", 10*time.Second); err != nil {
		return nil, fmt.Errorf("%s: %w", recvRole, err)
	}
	snd, err := start(r.lab, wanlab.A, r.self, append([]string{"role", sendRole, "-addr", addr}, sendArgs...)...)
	if err != nil {
		return nil, err
	}
	defer snd.kill()
	// The queue the contender builds: small probes through the same path
	// during the measured seconds, their median round trip less the
	// path's own.
	queue := sampleBacklog(r.lab, r.warmup, r.measure)
	probed := make(chan []time.Duration, 1)
	go func() {
		time.Sleep(r.warmup + time.Second)
		n := max(int(r.measure/(200*time.Millisecond))-5, 5)
		rtts, _ := r.lab.ProbeRTT(n, 64, 200*time.Millisecond)
		probed <- rtts
	}()
	line, err := recv.waitLine("{", r.warmup+r.measure+60*time.Second)
	if err != nil {
		if se := strings.TrimSpace(snd.stderr.String()); se != "" {
			err = fmt.Errorf("%w (sender: %s)", err, se)
		}
		return nil, fmt.Errorf("%s: %w", recvRole, err)
	}
	var out result
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		return nil, fmt.Errorf("%s printed %q: %w", recvRole, line, err)
	}
	res := &Result{Mbps: out.Mbps, Note: strings.TrimSpace(fmt.Sprintf("receiver read %.1f Mbit/s %s", out.Mbps, out.Extra))}
	if tap != nil {
		// The receiver's window started at its first byte, a moment after
		// the emulator's: give the count that moment to close.
		for end := time.Now().Add(2 * time.Second); !tap.finished() && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		m, ok := tap.mbps()
		if !ok {
			return nil, errors.New("the emulator's count did not complete")
		}
		res.Mbps = m
		res.Note += "; " + tap.note()
	}
	if rtts := <-probed; len(rtts) > 0 {
		slices.Sort(rtts)
		med := rtts[len(rtts)/2]
		res.RTTInflMs = float64(med-r.pathRTT) / 1e6
		res.Note += fmt.Sprintf("; probe RTT median %.1f ms over %d probes", float64(med)/1e6, len(rtts))
	}
	res.QueueMs, res.QueueMeanMs = backlogStats(<-queue)
	return res, nil
}

// sampleBacklog samples the A→B bottleneck's queue every 5 ms, from
// `after` on for d, and sends the samples when done.
func sampleBacklog(lab *wanlab.Lab, after, d time.Duration) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	go func() {
		time.Sleep(after)
		var v []time.Duration
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			v = append(v, lab.Backlog(wanlab.A))
		}
		out <- v
	}()
	return out
}

// backlogStats gives the median and mean of backlog samples, in ms.
func backlogStats(v []time.Duration) (median, mean float64) {
	if len(v) == 0 {
		return 0, 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	var sum time.Duration
	for _, x := range v {
		sum += x
	}
	return float64(v[len(v)/2]) / 1e6, float64(sum) / float64(len(v)) / 1e6
}

// udtPerf runs the project's own `udt perf`: the server sends from A (-R),
// the client in B receives and reports each second; goodput is what the
// receiver read in the seconds after the warm-up. The emulator counts too,
// as for the C++ peers, as a check.
func (r *runner) udtPerf() (*Result, error) {
	addr := fmt.Sprintf("%s:%d", r.lab.Addr[wanlab.A], r.port)
	tap := newUDTCounter(r.warmup, r.measure, r.port)
	r.lab.Tap(tap.see)
	defer r.lab.Tap(nil)
	srv, err := start(r.lab, wanlab.A, r.udtBin, "perf", "-s", addr, "-1")
	if err != nil {
		return nil, err
	}
	defer srv.kill()
	// The server prints nothing when ready: the client retries its dial.
	time.Sleep(300 * time.Millisecond)
	total := r.warmup + r.measure + time.Second
	cli, err := start(r.lab, wanlab.B, r.udtBin, "perf", "-c", addr, "-R", "--json",
		"-t", total.String(), "-i", "1s", "-timeout", "10s")
	if err != nil {
		return nil, err
	}
	defer cli.kill()
	var out bytes.Buffer
	deadline := time.After(total + 60*time.Second)
	for collecting := true; collecting; {
		select {
		case l, ok := <-cli.lines:
			if !ok {
				collecting = false
				break
			}
			out.WriteString(l)
		case <-deadline:
			return nil, errors.New("udt perf did not finish")
		}
	}
	if err := <-cli.done; err != nil {
		cli.done <- err
		return nil, fmt.Errorf("udt perf: %v: %s", err, strings.TrimSpace(cli.stderr.String()))
	}
	cli.done <- nil
	var doc struct {
		Runs []struct {
			Intervals []struct {
				Start float64 `json:"start_s"`
				End   float64 `json:"end_s"`
				Bytes int64   `json:"bytes"`
			} `json:"intervals"`
			Sender struct {
				LinkMbps float64 `json:"link_estimate_mbps"`
			} `json:"sender"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Runs) != 1 {
		return nil, fmt.Errorf("udt perf printed %q: %v", out.String(), err)
	}
	var bytesIn int64
	var from, to float64 = -1, 0
	for _, iv := range doc.Runs[0].Intervals {
		if iv.Start >= r.warmup.Seconds()-0.01 && iv.End <= (r.warmup+r.measure).Seconds()+0.01 {
			if from < 0 {
				from = iv.Start
			}
			to = iv.End
			bytesIn += iv.Bytes
		}
	}
	if from < 0 || to <= from {
		return nil, fmt.Errorf("udt perf reported no whole second after the warm-up: %s", out.String())
	}
	app := float64(bytesIn) * 8 / (to - from) / 1e6
	for end := time.Now().Add(2 * time.Second); !tap.finished() && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	m, ok := tap.mbps()
	if !ok {
		return nil, errors.New("the emulator's count did not complete")
	}
	est := ""
	if l := doc.Runs[0].Sender.LinkMbps; l > 0 {
		est = fmt.Sprintf(" (the sender's packet-pair estimate of the link at the end: %.0f Mbit/s)", l)
	}
	return &Result{Mbps: m, Note: fmt.Sprintf("udt perf read %.1f Mbit/s%s; %s", app, est, tap.note())}, nil
}

// cppPair runs the C++ appserver in B and appclient in A. appserver prints
// nothing per transfer, so the emulator counts the new UDT data it
// delivers to B over the same window as the Go receivers use.
func (r *runner) cppPair() (*Result, error) {
	tap := newUDTCounter(r.warmup, r.measure, r.port)
	r.lab.Tap(tap.see)
	defer r.lab.Tap(nil)
	port := fmt.Sprint(r.port)
	srv, err := start(r.lab, wanlab.B, r.peers.AppServer, port)
	if err != nil {
		return nil, err
	}
	defer srv.kill()
	if _, err := srv.waitLine("server is ready", 10*time.Second); err != nil {
		return nil, fmt.Errorf("appserver: %w", err)
	}
	cli, err := start(r.lab, wanlab.A, r.peers.AppClient, r.lab.Addr[wanlab.B].String(), port)
	if err != nil {
		return nil, err
	}
	defer cli.kill()
	// appclient prints a rate line a second; keep them for the note.
	var rates []float64
	deadline := time.After(r.warmup + r.measure + 60*time.Second)
	for !tap.finished() {
		select {
		case l, ok := <-cli.lines:
			if !ok {
				return nil, fmt.Errorf("appclient exited: %s", strings.TrimSpace(cli.stderr.String()))
			}
			if v, ok := udt4.ParseAppClientRate(l); ok {
				rates = append(rates, v)
			}
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return nil, errors.New("appclient: the measuring window never closed")
		}
	}
	m, ok := tap.mbps()
	if !ok {
		return nil, errors.New("the emulator saw no UDT data")
	}
	note := tap.note()
	if len(rates) > 0 {
		slices.Sort(rates)
		note = fmt.Sprintf("appclient send rate median %.1f Mbit/s; %s", rates[len(rates)/2], note)
	}
	return &Result{Mbps: m, Note: note}, nil
}

// wireCounter counts the new payload bytes of the data packets the
// emulator delivers to B (a retransmission is not new data), from the
// first data packet on plus the warm-up, for the measuring time: the
// goodput every contender but QUIC (encrypted) is measured by, at the same
// place and in the same way.
type wireCounter struct {
	warmup, d time.Duration
	tcp       bool
	port      uint16
	mu        sync.Mutex
	seen      map[uint32]bool // UDT: sequence numbers delivered
	tcpEnd    uint32          // TCP: the highest sequence number delivered, plus one
	tcpAny    bool
	first     time.Time
	bytes     int64
	pkts      int64 // data packets in the window
	repeats   int64 // of which sequence numbers already seen
	done      bool
}

// The counters take the packets of one flow: to or from port, the one
// this run's server listens on (each run has its own), so stragglers of an
// earlier run never count.
func newUDTCounter(warmup, d time.Duration, port int) *wireCounter {
	return &wireCounter{warmup: warmup, d: d, port: uint16(port), seen: map[uint32]bool{}}
}

func newTCPCounter(warmup, d time.Duration, port int) *wireCounter {
	return &wireCounter{warmup: warmup, d: d, port: uint16(port), tcp: true}
}

// UDT's data packet header: sequence number (top bit clear), message
// number, timestamp, destination socket: 16 bytes before the payload.
const udtHeader = 16

func (c *wireCounter) see(to wanlab.Side, pkt []byte) {
	if to != wanlab.B || len(pkt) < 20 || pkt[0]>>4 != 4 {
		return
	}
	ihl := int(pkt[0]&0x0f) * 4
	if len(pkt) < ihl+4 {
		return
	}
	// TCP and UDP both start with the source and destination ports.
	if sp, dp := binary.BigEndian.Uint16(pkt[ihl:]), binary.BigEndian.Uint16(pkt[ihl+2:]); sp != c.port && dp != c.port {
		return
	}
	var seq uint32
	var n int
	switch {
	case c.tcp && pkt[9] == 6 && len(pkt) >= ihl+20:
		tcp := pkt[ihl:]
		n = len(tcp) - int(tcp[12]>>4)*4
		if n <= 0 {
			return // a bare ACK
		}
		seq = binary.BigEndian.Uint32(tcp[4:])
	case !c.tcp && pkt[9] == 17 && len(pkt) >= ihl+8+udtHeader:
		udp := pkt[ihl+8:]
		if udp[0]&0x80 != 0 { // a control packet
			return
		}
		seq, n = binary.BigEndian.Uint32(udp), len(udp)-udtHeader
	default:
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first.IsZero() {
		c.first = now
	}
	from := c.first.Add(c.warmup)
	inWindow := !now.Before(from) && !now.After(from.Add(c.d))
	if now.After(from.Add(c.d)) {
		c.done = true
	}
	if inWindow {
		c.pkts++
	}
	fresh := n
	if c.tcp {
		// Sequence numbers wrap: compare by difference. A segment below
		// the highest one delivered is a retransmission (filling a hole
		// whose bytes were counted when later data passed it).
		end := seq + uint32(n)
		if c.tcpAny {
			fresh = min(n, max(0, int(int32(end-c.tcpEnd))))
		}
		if fresh > 0 || !c.tcpAny {
			c.tcpEnd, c.tcpAny = end, true
		}
	} else if c.seen[seq] {
		fresh = 0
	} else {
		c.seen[seq] = true
	}
	if !inWindow {
		return
	}
	if fresh == 0 {
		c.repeats++
	}
	c.bytes += int64(fresh)
}

// note says what share of the data the emulator delivered was repeated.
func (c *wireCounter) note() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pkts == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f%% of data packets delivered were retransmissions", float64(c.repeats)/float64(c.pkts)*100)
}

func (c *wireCounter) finished() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *wireCounter) mbps() (float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.done {
		return 0, false
	}
	return float64(c.bytes) * 8 / c.d.Seconds() / 1e6, true
}
