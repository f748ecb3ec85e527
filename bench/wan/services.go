package main

// The services scenario: gRPC over UDT (native controller and udt.BBR)
// against gRPC over TCP (BBR and CUBIC) on one path at several loss
// rates. The server runs in A and streams to the client in B; the client
// then times unary calls on a fresh connection.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/integrations/grpcbench"
	"github.com/udtgo/udt/integrations/udtgrpc"
	"github.com/udtgo/udt/internal/wanlab"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// svcContender is one way of carrying gRPC: the network and the
// congestion controller of both ends.
type svcContender struct {
	name, title string
	net         string // "udt" or "tcp"
	cc          string // UDT: a udt.Controllers name; TCP: a Linux one
}

var svcContenders = []svcContender{
	{"grpc-udt", "gRPC over UDT (native CC)", "udt", "native"},
	{"grpc-udt-bbr", "gRPC over UDT (udt.BBR)", "udt", "bbr"},
	{"grpc-tcp-bbr", "gRPC over TCP (BBR)", "tcp", "bbr"},
	{"grpc-tcp-cubic", "gRPC over TCP (CUBIC)", "tcp", "cubic"},
}

// svcResult is what the gRPC client prints, and a cell of the report.
type svcResult struct {
	StreamMbps float64 `json:"stream_mbps"`
	UnaryCalls int     `json:"unary_calls"`
	P50ms      float64 `json:"unary_p50_ms"`
	P99ms      float64 `json:"unary_p99_ms"`
	Err        string  `json:"error,omitempty"`
}

// SvcCell is one loss rate.
type SvcCell struct {
	LossPct float64               `json:"loss_pct"`
	Results map[string]*svcResult `json:"results"`
}

// SvcReport is what the scenario writes to JSON.
type SvcReport struct {
	Date        string     `json:"date"`
	Host        string     `json:"host_before"`
	HostAfter   string     `json:"host_after"`
	RateBps     int64      `json:"rate_bps"`
	RTTms       float64    `json:"rtt_ms"`
	WarmupS     float64    `json:"warmup_s"`
	MeasureS    float64    `json:"measure_s"`
	UnaryS      float64    `json:"unary_s"`
	UnaryBytes  int        `json:"unary_bytes"`
	Window      int        `json:"http2_window,omitempty"`
	Contenders  []string   `json:"contenders"`
	Cells       []*SvcCell `json:"cells"`
	Description string     `json:"description"`
}

func servicesMain(args []string) error {
	fs := flag.NewFlagSet("services", flag.ContinueOnError)
	rateS := fs.String("rate", "100M", "link rate each way, bits per second")
	rtt := fs.Float64("rtt", 100, "round trip, ms")
	losses := fs.String("losses", "0,0.1,1", "random loss each way, %")
	var names []string
	for _, c := range svcContenders {
		names = append(names, c.name)
	}
	cont := fs.String("contenders", strings.Join(names, ","), "who runs")
	warmup := fs.Duration("warmup", 3*time.Second, "streaming: time after the first message before measuring")
	measure := fs.Duration("d", 8*time.Second, "streaming: how long to measure goodput")
	unary := fs.Duration("unary", 15*time.Second, "how long to make unary calls, one after another")
	size := fs.Int("size", 1024, "unary: bytes of payload each way")
	window := fs.Int("window", 0, "gRPC's HTTP/2 stream and connection windows on both ends, bytes (0: gRPC's default, which grows them by its BDP estimate)")
	files := reportFlags(fs, "the plot")
	replot := fs.String("replot", "", "only redraw the table and plot of this JSON report (no lab)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *replot != "" {
		return replotFrom(*replot, files, svcTable, svcPlot)
	}
	rate, err := parseRate(*rateS)
	if err != nil {
		return fmt.Errorf("-rate: %v", err)
	}
	lossList, err := parseFloats(*losses, "-losses")
	if err != nil {
		return err
	}
	run, err := pickContenders(svcContenders, func(c svcContender) string { return c.name }, *cont)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	lab, done, err := openLab(wanlab.Options{})
	if err != nil {
		return err
	}
	defer done()
	rep := &SvcReport{
		Date: time.Now().UTC().Format(time.RFC3339), Host: hostInfo(), RateBps: rate, RTTms: *rtt,
		WarmupS: warmup.Seconds(), MeasureS: measure.Seconds(), UnaryS: unary.Seconds(), UnaryBytes: *size, Window: *window,
		Description: "gRPC (google.golang.org/grpc, insecure credentials, default settings) between two namespaces through the path emulator. " +
			"Streaming: one server-streaming RPC of 1 MiB messages from A to B; goodput is the message payload the client in B read over the measuring time, after the warm-up. " +
			"Unary: then, on a new connection, calls one after another, each echoing its payload; p50 and p99 of their round trips. " +
			"Both ends of a UDT contender use the controller named; a TCP contender's both sockets use the Linux controller named.",
	}
	for _, c := range run {
		rep.Contenders = append(rep.Contenders, c.name)
	}
	fmt.Printf("host: %s\nlink %s each way, RTT %g ms; streaming: warm-up %v, measured %v; unary %v of %d-byte calls\n",
		rep.Host, *rateS, *rtt, *warmup, *measure, *unary, *size)
	port := 7500
	for _, loss := range lossList {
		cell := &SvcCell{LossPct: loss, Results: map[string]*svcResult{}}
		rep.Cells = append(rep.Cells, cell)
		cfg := benchPath(rate, *rtt, loss)
		for _, c := range run {
			if err := setPath(lab, cfg); err != nil {
				return err
			}
			time.Sleep(time.Second + 2*cfg.Delay)
			port++
			res := svcRun(lab, self, c, port, *warmup, *measure, *unary, *size, *window)
			cell.Results[c.name] = res
			if res.Err != "" {
				fmt.Printf("loss %g%%: %-15s error: %s\n", loss, c.name, res.Err)
				continue
			}
			fmt.Printf("loss %g%%: %-15s stream %.1f Mbit/s; unary p50 %.1f ms, p99 %.1f ms over %d calls\n",
				loss, c.name, res.StreamMbps, res.P50ms, res.P99ms, res.UnaryCalls)
		}
	}
	rep.HostAfter = hostInfo()
	return files.write(svcTable(rep), rep, func(path string) error { return svcPlot(rep, path) })
}

// svcRun runs one contender: the server in A, the client in B.
func svcRun(lab *wanlab.Lab, self string, c svcContender, port int, warmup, measure, unary time.Duration, size, window int) *svcResult {
	fail := func(err error) *svcResult { return &svcResult{Err: err.Error()} }
	addr := fmt.Sprintf("%s:%d", lab.Addr[wanlab.A], port)
	srv, err := start(lab, wanlab.A, self, "role", "grpc-server", "-addr", addr, "-net", c.net, "-ucc", c.cc, "-window", fmt.Sprint(window))
	if err != nil {
		return fail(err)
	}
	defer srv.kill()
	if _, err := srv.waitLine("listening", 10*time.Second); err != nil {
		return fail(fmt.Errorf("grpc-server: %w", err))
	}
	cli, err := start(lab, wanlab.B, self, "role", "grpc-client", "-addr", addr, "-net", c.net, "-ucc", c.cc,
		"-warmup", warmup.String(), "-d", measure.String(), "-unary", unary.String(), "-size", fmt.Sprint(size), "-window", fmt.Sprint(window))
	if err != nil {
		return fail(err)
	}
	defer cli.kill()
	line, err := cli.waitLine("{", warmup+measure+unary+90*time.Second)
	if err != nil {
		return fail(fmt.Errorf("grpc-client: %w", err))
	}
	var res svcResult
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return fail(fmt.Errorf("grpc-client printed %q: %w", line, err))
	}
	return &res
}

// tcpCC sets a TCP socket's congestion controller; a listener's passes
// to the connections it accepts.
func tcpCC(name string) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
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

// grpcRole is the role of a gRPC end: "grpc-server" serves
// grpcbench.Service; "grpc-client" streams, then calls, and prints a
// svcResult.
func grpcRole(role string, args []string) error {
	fs := flag.NewFlagSet("role "+role, flag.ContinueOnError)
	addr := fs.String("addr", "", "listen on (server) or connect to (client)")
	network := fs.String("net", "udt", "udt or tcp")
	cc := fs.String("ucc", "", "the congestion controller: for udt one of "+strings.Join(udt.Controllers, ", ")+"; for tcp a Linux one")
	warmup := fs.Duration("warmup", 3*time.Second, "streaming warm-up")
	measure := fs.Duration("d", 8*time.Second, "streaming measure")
	unary := fs.Duration("unary", 15*time.Second, "unary calls for this long")
	size := fs.Int("size", 1024, "unary payload")
	window := fs.Int("window", 0, "HTTP/2 windows, bytes (0: gRPC's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ucfg udt.Config
	if *network == "udt" {
		c, err := udt.ParseCongestionControl(*cc)
		if err != nil {
			return err
		}
		ucfg.CongestionControl = c
	} else if *network != "tcp" {
		return fmt.Errorf("-net %q: want udt or tcp", *network)
	}
	if role == "grpc-server" {
		var l net.Listener
		var err error
		if *network == "udt" {
			l, err = udtgrpc.Listen(*addr, &udt.ListenConfig{Config: ucfg})
		} else {
			lc := net.ListenConfig{Control: tcpCC(*cc)}
			l, err = lc.Listen(context.Background(), "tcp4", *addr)
		}
		if err != nil {
			return err
		}
		var sopts []grpc.ServerOption
		if *window > 0 {
			sopts = append(sopts, grpc.InitialWindowSize(int32(*window)), grpc.InitialConnWindowSize(int32(*window)))
		}
		s := grpc.NewServer(sopts...)
		testpb.RegisterTestServiceServer(s, &grpcbench.Service{})
		ready(l.Addr())
		return s.Serve(l)
	}
	dial := func() (*grpc.ClientConn, error) {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if *window > 0 {
			opts = append(opts, grpc.WithInitialWindowSize(int32(*window)), grpc.WithInitialConnWindowSize(int32(*window)))
		}
		if *network == "udt" {
			opts = append(opts, udtgrpc.WithDialer(&udt.Dialer{Config: ucfg, Timeout: 10 * time.Second}))
		} else {
			d := net.Dialer{Control: tcpCC(*cc)}
			opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
				return d.DialContext(ctx, "tcp4", a)
			}))
		}
		return grpc.NewClient("passthrough:///"+*addr, opts...)
	}
	var res svcResult
	ctx := context.Background()
	cc1, err := dial()
	if err != nil {
		return err
	}
	start := time.Now()
	from, to := start.Add(*warmup), start.Add(*warmup+*measure)
	var n int64
	var first time.Time
	_, err = grpcbench.Stream(ctx, testpb.NewTestServiceClient(cc1), grpcbench.StreamRequest(1, 0, 0), func(p []byte) bool {
		now := time.Now()
		if first.IsZero() {
			// The window starts at the first message, as the other
			// receivers' do at their first byte.
			first = now
			from, to = now.Add(*warmup), now.Add(*warmup+*measure)
		}
		if now.After(from) && !now.After(to) {
			n += int64(len(p))
		}
		return !now.After(to)
	}, grpc.WaitForReady(true))
	cc1.Close()
	if err != nil {
		return fmt.Errorf("stream after %d bytes in the window: %w", n, err)
	}
	res.StreamMbps = float64(n) * 8 / measure.Seconds() / 1e6
	cc2, err := dial()
	if err != nil {
		return err
	}
	defer cc2.Close()
	c2 := testpb.NewTestServiceClient(cc2)
	// The connection and a first call, outside the timing.
	if _, err := c2.EmptyCall(ctx, &testpb.Empty{}, grpc.WaitForReady(true)); err != nil {
		return err
	}
	lat, err := grpcbench.Unary(ctx, c2, 0, *unary, *size)
	if err != nil {
		return err
	}
	if len(lat) == 0 {
		return errors.New("no unary call completed")
	}
	res.UnaryCalls = len(lat)
	res.P50ms = float64(lat.Quantile(0.5)) / 1e6
	res.P99ms = float64(lat.Quantile(0.99)) / 1e6
	return json.NewEncoder(os.Stdout).Encode(res)
}

func svcTitle(name string) string {
	for _, c := range svcContenders {
		if c.name == name {
			return c.title
		}
	}
	return name
}

// svcTable renders the report and the ratios the issue asks for.
func svcTable(rep *SvcReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Link %.0f Mbit/s each way, RTT %g ms. Streaming goodput in Mbit/s (%% of the link); unary round trips p50 / p99 in ms (%d-byte echo, %g s of calls one after another).\n\n",
		float64(rep.RateBps)/1e6, rep.RTTms, rep.UnaryBytes, rep.UnaryS)
	b.WriteString("| loss |")
	for _, n := range rep.Contenders {
		fmt.Fprintf(&b, " %s |", svcTitle(n))
	}
	has := func(n string) bool { return slices.Contains(rep.Contenders, n) }
	var ratios [][2]string
	for _, u := range []string{"grpc-udt-bbr", "grpc-udt"} {
		for _, t := range []string{"grpc-tcp-cubic", "grpc-tcp-bbr"} {
			if has(u) && has(t) {
				ratios = append(ratios, [2]string{u, t})
			}
		}
	}
	short := map[string]string{"grpc-udt": "UDT native", "grpc-udt-bbr": "UDT BBR", "grpc-tcp-bbr": "TCP BBR", "grpc-tcp-cubic": "TCP CUBIC"}
	for _, r := range ratios {
		fmt.Fprintf(&b, " %s / %s |", short[r[0]], short[r[1]])
	}
	b.WriteString("\n|---|")
	for range len(rep.Contenders) + len(ratios) {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	link := float64(rep.RateBps) / 1e6
	for _, c := range rep.Cells {
		fmt.Fprintf(&b, "| %g%% |", c.LossPct)
		for _, n := range rep.Contenders {
			r := c.Results[n]
			if r == nil || r.Err != "" {
				b.WriteString(" failed |")
				continue
			}
			fmt.Fprintf(&b, " %.1f (%.0f%%); %.0f / %.0f ms |", r.StreamMbps, r.StreamMbps/link*100, r.P50ms, r.P99ms)
		}
		for _, rt := range ratios {
			x, y := c.Results[rt[0]], c.Results[rt[1]]
			switch {
			case x == nil || y == nil || x.Err != "" || y.Err != "":
				b.WriteString(" – |")
			case y.StreamMbps == 0:
				b.WriteString(" ∞ |")
			default:
				fmt.Fprintf(&b, " %.1f× |", x.StreamMbps/y.StreamMbps)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

var svcPalette = map[string]color.Color{
	"grpc-udt":       color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	"grpc-udt-bbr":   color.RGBA{0x94, 0x67, 0xbd, 0xff},
	"grpc-tcp-bbr":   color.RGBA{0xd6, 0x27, 0x28, 0xff},
	"grpc-tcp-cubic": color.RGBA{0xff, 0x98, 0x96, 0xff},
}

// svcPlot draws two panels: streaming goodput and unary p50 (whiskers to
// p99) against the loss rate, one bar per contender.
func svcPlot(rep *SvcReport, path string) error {
	names := make([]string, len(rep.Cells))
	for i, c := range rep.Cells {
		names[i] = fmt.Sprintf("%g%% loss", c.LossPct)
	}
	link := float64(rep.RateBps) / 1e6
	good, lat := plot.New(), plot.New()
	good.Title.Text = fmt.Sprintf("gRPC server streaming, RTT %g ms", rep.RTTms)
	good.Y.Label.Text = "goodput, Mbit/s"
	good.Y.Min, good.Y.Max = 0, link*1.5
	lat.Title.Text = fmt.Sprintf("gRPC unary, %d B echo: p50 (filled), p99 (outline)", rep.UnaryBytes)
	lat.Y.Label.Text = "round trip, ms"
	lat.Y.Min = 0
	good.NominalX(names...)
	lat.NominalX(names...)
	w := vg.Points(12)
	n := len(rep.Contenders)
	maxP99 := 0.0
	for k, name := range rep.Contenders {
		gv, pv, qv := make(plotter.Values, len(rep.Cells)), make(plotter.Values, len(rep.Cells)), make(plotter.Values, len(rep.Cells))
		for i, c := range rep.Cells {
			if r := c.Results[name]; r != nil && r.Err == "" {
				gv[i], pv[i], qv[i] = r.StreamMbps, r.P50ms, r.P99ms
				maxP99 = max(maxP99, r.P99ms)
			}
		}
		off := w * vg.Length(float64(k)-float64(n-1)/2)
		// p99 as an outline behind the filled p50 bar.
		outline, err := plotter.NewBarChart(qv, w)
		if err != nil {
			return err
		}
		outline.Color = color.White
		outline.LineStyle.Color = svcPalette[name]
		outline.LineStyle.Width = vg.Points(1)
		outline.Offset = off
		lat.Add(outline)
		for _, pp := range []struct {
			p *plot.Plot
			v plotter.Values
		}{{good, gv}, {lat, pv}} {
			bars, err := plotter.NewBarChart(pp.v, w)
			if err != nil {
				return err
			}
			bars.LineStyle.Width = 0
			bars.Color = svcPalette[name]
			bars.Offset = off
			pp.p.Add(bars)
			if pp.p == good {
				good.Legend.Add(svcTitle(name), bars)
			}
		}
	}
	lat.Y.Max = maxP99 * 1.1
	line, err := linkLine(-0.5, float64(len(rep.Cells))-0.5, link)
	if err != nil {
		return err
	}
	good.Add(line)
	good.Legend.Add(fmt.Sprintf("link %.0f Mbit/s", link), line)
	good.Legend.Top, good.Legend.Left = true, true
	good.Legend.TextStyle.Font.Size = vg.Points(8)
	return savePanels(path, [][]*plot.Plot{{good, lat}}, 4.6*vg.Inch, 3.6*vg.Inch, 4*vg.Millimeter)
}
