package main

// The slice scenario, the one this library came from: a controller in B
// connects at once to N agents in A (examples/slice), each runs a command
// whose output is S bytes, and the controller gathers every output with
// its exit status. Contenders: UDT with the native controller and with
// udt.BBR, TCP with CUBIC and with BBR.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/udtgo/udt/internal/wanlab"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// sliceContender is how the slice is carried: the network, and the
// congestion controller of both ends (a UDT one, or Linux's for TCP, set
// on each socket).
type sliceContender struct {
	name, title string
	tcp         bool
	cc          string
}

var sliceContenders = []sliceContender{
	{"udt", "UDT (native CC)", false, "native"},
	{"udt-bbr", "UDT (udt.BBR)", false, "bbr"},
	{"tcp-cubic", "TCP CUBIC", true, "cubic"},
	{"tcp-bbr", "TCP BBR", true, "bbr"},
}

// sliceResult is the controller's summary (slice run -json), and a cell
// of the report.
type sliceResult struct {
	Nodes        int    `json:"nodes"`
	Failed       int    `json:"failed"`
	FirstError   string `json:"first_error,omitempty"`
	AllConnected int64  `json:"all_connected_ns"`
	ConnectedP50 int64  `json:"connected_p50_ns"`
	AllDone      int64  `json:"all_done_ns"`
	DoneP50      int64  `json:"done_p50_ns"`
	DoneP99      int64  `json:"done_p99_ns"`
	DoneMax      int64  `json:"done_max_ns"`
	OutputBytes  int64  `json:"output_bytes"`
	NonZeroExit  int    `json:"nonzero_exit"`
	PeakFDs      int    `json:"peak_fds"`
	PeakThreads  int    `json:"peak_threads"`
	DialResends  uint64 `json:"dial_resends"`
	// The median and slowest nodes' timelines (slice run's "traces").
	Traces []sliceTrace `json:"traces,omitempty"`
	Err    string       `json:"error,omitempty"`
}

type sliceTrace struct {
	Which     string `json:"which"`
	Addr      string `json:"addr"`
	Connected int64  `json:"connected_ns"`
	First     int64  `json:"first_frame_ns"`
	Last      int64  `json:"last_frame_ns"`
	Done      int64  `json:"done_ns"`
	RTT       int64  `json:"rtt_ns,omitempty"`
	Received  int64  `json:"pkts_received,omitempty"`
	RecvLoss  int64  `json:"pkts_recv_loss,omitempty"`
	NAKsSent  int64  `json:"naks_sent,omitempty"`
	ACKsSent  int64  `json:"acks_sent,omitempty"`
}

// SliceCell is one loss rate and output size.
type SliceCell struct {
	LossPct float64                 `json:"loss_pct"`
	Bytes   int64                   `json:"output_bytes_per_node"`
	Results map[string]*sliceResult `json:"results"`
}

// SliceReport is what the scenario writes to JSON.
type SliceReport struct {
	Date        string       `json:"date"`
	Host        string       `json:"host_before"`
	HostAfter   string       `json:"host_after"`
	RateBps     int64        `json:"rate_bps"`
	RTTms       float64      `json:"rtt_ms"`
	Nodes       int          `json:"nodes"`
	RcvBuf      int          `json:"udt_rcvbuf,omitempty"`
	AgentRcvBuf int          `json:"udt_agent_rcvbuf,omitempty"`
	Contenders  []string     `json:"contenders"`
	Cells       []*SliceCell `json:"cells"`
	Description string       `json:"description"`
}

func sliceMain(args []string) error {
	fs := flag.NewFlagSet("slice", flag.ContinueOnError)
	rateS := fs.String("rate", "100M", "link rate each way, bits per second")
	rtt := fs.Float64("rtt", 100, "round trip, ms")
	losses := fs.String("losses", "0,0.1,1", "random loss each way, %")
	sizesS := fs.String("sizes", "65536,4194304", "output per node, bytes")
	n := fs.Int("n", 200, "agents (nodes of the slice)")
	var names []string
	for _, c := range sliceContenders {
		names = append(names, c.name)
	}
	cont := fs.String("contenders", strings.Join(names, ","), "who runs")
	bin := fs.String("slice", "", "the slice command (examples/slice; default: slice beside this binary)")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on one run of the controller")
	rcvbuf := fs.Int("rcvbuf", 0, "UDT: the controller's receive buffer per connection, bytes (slice run -rcvbuf; 0: UDT's 12 MB)")
	agentBuf := fs.Int("agent-rcvbuf", 0, "UDT: the agents' receive buffer per connection, bytes (slice agent -rcvbuf; 0: UDT's 12 MB)")
	files := reportFlags(fs, "the plot")
	replot := fs.String("replot", "", "only redraw the table and plot of this JSON report (no lab)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *replot != "" {
		return replotFrom(*replot, files, sliceTable, slicePlot)
	}
	rate, err := parseRate(*rateS)
	if err != nil {
		return fmt.Errorf("-rate: %v", err)
	}
	lossList, err := parseFloats(*losses, "-losses")
	if err != nil {
		return err
	}
	sizeList, err := parseFloats(*sizesS, "-sizes")
	if err != nil {
		return err
	}
	if *n <= 0 {
		return errors.New("-n: want at least one agent")
	}
	run, err := pickContenders(sliceContenders, func(c sliceContender) string { return c.name }, *cont)
	if err != nil {
		return err
	}
	if *bin == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = filepath.Join(filepath.Dir(self), "slice")
	}
	if _, err := os.Stat(*bin); err != nil {
		return fmt.Errorf("the slice command (go build -o bin/slice ./examples/slice, or -slice PATH): %w", err)
	}
	lab, done, err := openLab(wanlab.Options{})
	if err != nil {
		return err
	}
	defer done()
	rep := &SliceReport{
		Date: time.Now().UTC().Format(time.RFC3339), Host: hostInfo(), RateBps: rate, RTTms: *rtt, Nodes: *n, RcvBuf: *rcvbuf, AgentRcvBuf: *agentBuf,
		Description: "examples/slice: N agents listen in A, each on its own port; the controller in B connects to all at once, " +
			"sends each the command `head -c S /dev/zero` (run with /bin/sh -c) and reads its output and exit status. " +
			"Times from the controller's start: all connected, and all outputs gathered (with the p50, p99 and max per node); " +
			"the controller's peak descriptors and OS threads. A UDT contender's both ends use the controller named; " +
			"a TCP contender's, the Linux one named (setsockopt TCP_CONGESTION on every socket).",
	}
	for _, c := range run {
		rep.Contenders = append(rep.Contenders, c.name)
	}
	fmt.Printf("host: %s\nlink %s each way, RTT %g ms; %d agents\n", rep.Host, *rateS, *rtt, *n)
	for _, size := range sizeList {
		for _, loss := range lossList {
			cell := &SliceCell{LossPct: loss, Bytes: int64(size), Results: map[string]*sliceResult{}}
			rep.Cells = append(rep.Cells, cell)
			cfg := benchPath(rate, *rtt, loss)
			for _, c := range run {
				if err := setPath(lab, cfg); err != nil {
					return err
				}
				time.Sleep(time.Second + 2*cfg.Delay)
				res := sliceRun(lab, *bin, c, *n, int64(size), *timeout, *rcvbuf, *agentBuf)
				cell.Results[c.name] = res
				if res.Err != "" {
					fmt.Printf("%d B, loss %g%%: %-10s error: %s\n", int64(size), loss, c.name, res.Err)
					continue
				}
				fmt.Printf("%d B, loss %g%%: %-10s connected p50 %v, all %v; gathered p50 %v, p99 %v, all %v; peak %d fds, %d threads; %d handshake resends\n",
					int64(size), loss, c.name, ms(res.ConnectedP50), ms(res.AllConnected), ms(res.DoneP50), ms(res.DoneP99), ms(res.AllDone), res.PeakFDs, res.PeakThreads, res.DialResends)
				for _, t := range res.Traces {
					line := fmt.Sprintf("    %-9s connected %v, first frame %v, last %v, done %v",
						t.Which, ms(t.Connected), ms(t.First), ms(t.Last), ms(t.Done))
					if t.Received > 0 { // UDT's counts; TCP has none
						line += fmt.Sprintf("; RTT %v, %d packets received, %d found missing, %d NAKs, %d ACKs sent",
							ms(t.RTT), t.Received, t.RecvLoss, t.NAKsSent, t.ACKsSent)
					}
					fmt.Println(line)
				}
			}
		}
	}
	rep.HostAfter = hostInfo()
	return files.write(sliceTable(rep), rep, func(path string) error { return slicePlot(rep, path) })
}

func ms(ns int64) time.Duration { return time.Duration(ns).Round(time.Millisecond) }

// sliceRun runs one contender: n agents in A, the controller in B.
func sliceRun(lab *wanlab.Lab, bin string, c sliceContender, n int, size int64, timeout time.Duration, rcvbuf, agentBuf int) *sliceResult {
	fail := func(err error) *sliceResult { return &sliceResult{Err: err.Error()} }
	agentArgs := []string{"agent", "-n", fmt.Sprint(n), "-listen", lab.Addr[wanlab.A].String() + ":0"}
	runArgs := []string{"run", "-json", "-timeout", timeout.String(), "-cmd", fmt.Sprintf("head -c %d /dev/zero", size)}
	if c.tcp {
		agentArgs = append(agentArgs, "-tcp", "-tcp-cc", c.cc)
		runArgs = append(runArgs, "-tcp", "-tcp-cc", c.cc)
	} else {
		agentArgs = append(agentArgs, "-cc", c.cc, "-rcvbuf", fmt.Sprint(agentBuf))
		runArgs = append(runArgs, "-cc", c.cc, "-rcvbuf", fmt.Sprint(rcvbuf))
	}
	agents, err := start(lab, wanlab.A, bin, agentArgs...)
	if err != nil {
		return fail(err)
	}
	defer agents.kill()
	var addrs []string
	for len(addrs) < n {
		l, err := agents.waitLine("", 30*time.Second)
		if err != nil {
			return fail(fmt.Errorf("agents: %w", err))
		}
		addrs = append(addrs, l)
	}
	ctl, err := start(lab, wanlab.B, bin, append(runArgs, addrs...)...)
	if err != nil {
		return fail(err)
	}
	defer ctl.kill()
	line, err := ctl.waitLine("{", timeout+30*time.Second)
	if err != nil {
		return fail(fmt.Errorf("controller: %w", err))
	}
	var res sliceResult
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return fail(fmt.Errorf("controller printed %q: %w", line, err))
	}
	switch {
	case res.Failed > 0:
		res.Err = fmt.Sprintf("%d of %d nodes failed; the first: %s", res.Failed, res.Nodes, res.FirstError)
	case res.OutputBytes != int64(n)*size || res.NonZeroExit > 0:
		res.Err = fmt.Sprintf("gathered %d bytes (want %d), %d non-zero exits", res.OutputBytes, int64(n)*size, res.NonZeroExit)
	}
	return &res
}

func sliceTitle(name string) string {
	for _, c := range sliceContenders {
		if c.name == name {
			return c.title
		}
	}
	return name
}

func sizeText(b int64) string {
	switch {
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}

// sliceTable renders the report: a row per output size and loss rate, a
// column per contender, and UDT's time to gather all against each TCP's.
func sliceTable(rep *SliceReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Link %.0f Mbit/s each way, RTT %g ms, %d agents. Each cell: all connected / all outputs gathered (per node p50, p99); the controller's peak descriptors and threads.",
		float64(rep.RateBps)/1e6, rep.RTTms, rep.Nodes)
	if rep.RcvBuf > 0 || rep.AgentRcvBuf > 0 {
		fmt.Fprintf(&b, " UDT receive buffers: controller %s, agents %s per connection (0: UDT's 12 MB).", sizeText(int64(rep.RcvBuf)), sizeText(int64(rep.AgentRcvBuf)))
	}
	b.WriteString("\n\n")
	b.WriteString("| output per node | loss |")
	for _, n := range rep.Contenders {
		fmt.Fprintf(&b, " %s |", sliceTitle(n))
	}
	has := func(n string) bool { return slices.Contains(rep.Contenders, n) }
	var ratios [][2]string
	for _, u := range []string{"udt", "udt-bbr"} {
		for _, t := range []string{"tcp-cubic", "tcp-bbr"} {
			if has(u) && has(t) {
				ratios = append(ratios, [2]string{u, t})
			}
		}
	}
	for _, r := range ratios {
		fmt.Fprintf(&b, " %s / %s |", sliceTitle(r[0]), sliceTitle(r[1]))
	}
	b.WriteString("\n|---|---|")
	for range len(rep.Contenders) + len(ratios) {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	s := func(ns int64) string { return fmt.Sprintf("%.2f", time.Duration(ns).Seconds()) }
	for _, c := range rep.Cells {
		fmt.Fprintf(&b, "| %s | %g%% |", sizeText(c.Bytes), c.LossPct)
		for _, n := range rep.Contenders {
			r := c.Results[n]
			if r == nil || r.Err != "" {
				b.WriteString(" failed |")
				continue
			}
			fmt.Fprintf(&b, " %s / **%s** s (%s, %s); %d fds, %d threads |", s(r.AllConnected), s(r.AllDone), s(r.DoneP50), s(r.DoneP99), r.PeakFDs, r.PeakThreads)
		}
		for _, rt := range ratios {
			x, y := c.Results[rt[0]], c.Results[rt[1]]
			if x == nil || y == nil || x.Err != "" || y.Err != "" || y.AllDone == 0 {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %.2f× |", float64(x.AllDone)/float64(y.AllDone))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nA ratio is UDT's time to gather all outputs over TCP's: below 1, UDT is faster.\n")
	return b.String()
}

var slicePalette = map[string]color.Color{
	"udt":       color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	"udt-bbr":   color.RGBA{0x94, 0x67, 0xbd, 0xff},
	"tcp-bbr":   color.RGBA{0xd6, 0x27, 0x28, 0xff},
	"tcp-cubic": color.RGBA{0xff, 0x98, 0x96, 0xff},
}

// slicePlot draws a panel per output size: the time until all outputs
// were gathered against the loss rate, a bar per contender, with the time
// until all were connected as a darker bar inside it.
func slicePlot(rep *SliceReport, path string) error {
	var sizes []int64
	for _, c := range rep.Cells {
		if !slices.Contains(sizes, c.Bytes) {
			sizes = append(sizes, c.Bytes)
		}
	}
	var row []*plot.Plot
	for _, size := range sizes {
		var cells []*SliceCell
		for _, c := range rep.Cells {
			if c.Bytes == size {
				cells = append(cells, c)
			}
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%d nodes, %s each, RTT %g ms", rep.Nodes, sizeText(size), rep.RTTms)
		p.Y.Label.Text = "seconds: all gathered (bar), all connected (dark)"
		p.Y.Min = 0
		names := make([]string, len(cells))
		for i, c := range cells {
			names[i] = fmt.Sprintf("%g%% loss", c.LossPct)
		}
		p.NominalX(names...)
		w := vg.Points(14)
		n := len(rep.Contenders)
		for k, name := range rep.Contenders {
			done, conn := make(plotter.Values, len(cells)), make(plotter.Values, len(cells))
			for i, c := range cells {
				if r := c.Results[name]; r != nil && r.Err == "" {
					done[i], conn[i] = time.Duration(r.AllDone).Seconds(), time.Duration(r.AllConnected).Seconds()
				}
			}
			off := w * vg.Length(float64(k)-float64(n-1)/2)
			bars, err := plotter.NewBarChart(done, w)
			if err != nil {
				return err
			}
			bars.LineStyle.Width = 0
			bars.Color = slicePalette[name]
			bars.Offset = off
			p.Add(bars)
			p.Legend.Add(sliceTitle(name), bars)
			inner, err := plotter.NewBarChart(conn, w/2)
			if err != nil {
				return err
			}
			inner.LineStyle.Width = 0
			inner.Color = color.RGBA{0x30, 0x30, 0x30, 0xff}
			inner.Offset = off
			p.Add(inner)
		}
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		row = append(row, p)
	}
	return savePanels(path, [][]*plot.Plot{row}, 4.6*vg.Inch, 3.6*vg.Inch, 4*vg.Millimeter)
}
