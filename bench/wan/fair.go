package main

// The fairness scenarios: two flows through one bottleneck (the lab's A→B
// link, whose one queue every packet of the direction shares), the second
// starting a few seconds after the first. The emulator counts each flow's
// new data as it delivers it, in bins, so the shares over time come from
// the same place as the matrix's goodput.

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/udtgo/udt/internal/wanlab"
)

// fairFlows are the flows a scenario can hold, and how each runs: the
// receiver's and sender's roles and the sender's (and, for UDT, the
// receiver's) extra arguments.
var fairFlows = map[string]struct {
	recv, send string
	args       []string
	tcp        bool
	desc       string
}{
	"udt-bbr":    {"udt-recv", "udt-send", []string{"-ucc", "bbr"}, false, "UDT, udt.BBR"},
	"udt-native": {"udt-recv", "udt-send", nil, false, "UDT, native control"},
	"tcp-bbr":    {"tcp-recv", "tcp-send", []string{"-cc", "bbr"}, true, "TCP BBR"},
	"tcp-cubic":  {"tcp-recv", "tcp-send", []string{"-cc", "cubic"}, true, "TCP CUBIC"},
}

// defaultScenarios: the (a) and (b), (b) in both start orders,
// and TCP BBR against itself as the reference for (a).
const defaultScenarios = "udt-bbr/udt-bbr,udt-bbr/tcp-cubic,tcp-bbr/tcp-cubic,tcp-cubic/udt-bbr,tcp-cubic/tcp-bbr,tcp-bbr/tcp-bbr"

// parseScenarios reads a comma-separated list of scenarios, each the flows
// it starts, in order, separated by slashes: "udt-bbr/tcp-cubic".
func parseScenarios(s string) ([][]string, error) {
	var out [][]string
	for _, sc := range strings.Split(s, ",") {
		sc = strings.TrimSpace(sc)
		flows := strings.Split(sc, "/")
		if len(flows) < 2 {
			return nil, fmt.Errorf("scenario %q: name at least two flows separated by /, e.g. udt-bbr/tcp-cubic", sc)
		}
		for _, f := range flows {
			if _, ok := fairFlows[f]; !ok {
				return nil, fmt.Errorf("scenario %q: unknown flow %q (udt-bbr, udt-native, tcp-bbr, tcp-cubic)", sc, f)
			}
		}
		out = append(out, flows)
	}
	return out, nil
}

// jain is Jain's fairness index of the rates: 1 when all are equal, 1/n
// when one flow has everything. No traffic at all counts as fair.
func jain(x []float64) float64 {
	var sum, sq float64
	for _, v := range x {
		sum += v
		sq += v * v
	}
	if sq == 0 {
		return 1
	}
	return sum * sum / (float64(len(x)) * sq)
}

// convergence finds the first bin, from bin `from` on, after which every
// flow's rate (a trailing mean over `smooth` bins) stays within `within`
// (0.2: 20 %) of the fastest flow's to the end of the series. It returns
// that bin, or false if the flows never stay that close.
func convergence(series [][]float64, from, smooth int, within float64) (int, bool) {
	if len(series) == 0 || smooth < 1 {
		return 0, false
	}
	n := len(series[0])
	at := -1
	for k := n - 1; k >= from; k-- {
		if !closeAt(series, k, smooth, within) {
			break
		}
		at = k
	}
	return at, at >= 0
}

// closeAt reports whether, at bin k, every flow's trailing mean over
// `smooth` bins is within `within` of the fastest flow's.
func closeAt(series [][]float64, k, smooth int, within float64) bool {
	lo, hi := math.Inf(1), 0.0
	for _, s := range series {
		var sum float64
		m := 0
		for j := max(0, k-smooth+1); j <= k; j++ {
			sum += s[j]
			m++
		}
		v := sum / float64(m)
		lo, hi = min(lo, v), max(hi, v)
	}
	return hi > 0 && lo >= (1-within)*hi
}

// withinShare is the fraction of bins from `from` on at which every
// flow's trailing mean over `smooth` bins is within `within` of the
// fastest flow's: how much of the time the flows were that close, where
// convergence asks for all of it.
func withinShare(series [][]float64, from, smooth int, within float64) float64 {
	if len(series) == 0 || from >= len(series[0]) {
		return 0
	}
	n, in := 0, 0
	for k := max(from, 0); k < len(series[0]); k++ {
		n++
		if closeAt(series, k, smooth, within) {
			in++
		}
	}
	return float64(in) / float64(n)
}

// flowMeter counts the new data of each flow that the emulator delivers to
// B, in bins from its start.
type flowMeter struct {
	bin   time.Duration
	mu    sync.Mutex
	t0    time.Time
	flows []*flowCount
}

type flowCount struct {
	port   uint16
	tcp    bool
	seen   map[uint32]*[64]uint64 // UDT: sequence numbers delivered, 4096 a block
	tcpEnd uint32
	tcpAny bool
	bins   []int64
}

func newFlowMeter(bin time.Duration, ports []int, tcp []bool) *flowMeter {
	m := &flowMeter{bin: bin}
	for i, p := range ports {
		m.flows = append(m.flows, &flowCount{port: uint16(p), tcp: tcp[i], seen: map[uint32]*[64]uint64{}})
	}
	return m
}

func (m *flowMeter) start(t0 time.Time) {
	m.mu.Lock()
	m.t0 = t0
	m.mu.Unlock()
}

// dataPacket picks out a TCP segment or UDT data packet in an IPv4 packet:
// its ports, sequence number and payload length.
func dataPacket(pkt []byte, tcp bool) (sport, dport uint16, seq uint32, n int, ok bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return
	}
	ihl := int(pkt[0]&0x0f) * 4
	if len(pkt) < ihl+8 {
		return
	}
	sport, dport = binary.BigEndian.Uint16(pkt[ihl:]), binary.BigEndian.Uint16(pkt[ihl+2:])
	switch {
	case tcp && pkt[9] == 6 && len(pkt) >= ihl+20:
		t := pkt[ihl:]
		n = len(t) - int(t[12]>>4)*4
		if n <= 0 {
			return // a bare ACK
		}
		return sport, dport, binary.BigEndian.Uint32(t[4:]), n, true
	case !tcp && pkt[9] == 17 && len(pkt) >= ihl+8+udtHeader:
		u := pkt[ihl+8:]
		if u[0]&0x80 != 0 { // a control packet
			return
		}
		return sport, dport, binary.BigEndian.Uint32(u), len(u) - udtHeader, true
	}
	return
}

func (m *flowMeter) see(to wanlab.Side, pkt []byte) {
	if to != wanlab.B {
		return
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.t0.IsZero() || now.Before(m.t0) {
		return
	}
	for _, f := range m.flows {
		_, dport, seq, n, ok := dataPacket(pkt, f.tcp)
		if !ok || dport != f.port {
			continue
		}
		fresh := n
		if f.tcp {
			// As wireCounter: below the highest byte delivered is a
			// retransmission.
			end := seq + uint32(n)
			if f.tcpAny {
				fresh = min(n, max(0, int(int32(end-f.tcpEnd))))
			}
			if fresh > 0 || !f.tcpAny {
				f.tcpEnd, f.tcpAny = end, true
			}
		} else {
			blk := f.seen[seq>>12]
			if blk == nil {
				blk = new([64]uint64)
				f.seen[seq>>12] = blk
			}
			w, bit := (seq>>6)&63, uint64(1)<<(seq&63)
			if blk[w]&bit != 0 {
				fresh = 0
			}
			blk[w] |= bit
		}
		i := int(now.Sub(m.t0) / m.bin)
		for len(f.bins) <= i {
			f.bins = append(f.bins, 0)
		}
		f.bins[i] += int64(fresh)
		return
	}
}

// series returns each flow's Mbit/s in the first n bins.
func (m *flowMeter) series(n int) [][]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]float64, len(m.flows))
	for i, f := range m.flows {
		out[i] = make([]float64, n)
		for k := 0; k < n && k < len(f.bins); k++ {
			out[i][k] = float64(f.bins[k]) * 8 / m.bin.Seconds() / 1e6
		}
	}
	return out
}

// FairRun is one run of one scenario.
type FairRun struct {
	Scenario string      `json:"scenario"`
	Flows    []string    `json:"flows"`
	StartS   []float64   `json:"start_s"` // when each flow's sender started
	BinS     float64     `json:"bin_s"`
	Series   [][]float64 `json:"mbps_series"` // per flow, per bin
	// Over the last LastS seconds of the run:
	LastS    float64   `json:"last_s"`
	MeanMbps []float64 `json:"mean_mbps"`
	Share    []float64 `json:"share"` // of what all flows carried
	Jain     float64   `json:"jain"`
	LinkPct  float64   `json:"link_pct"` // all flows together
	RateBps  int64     `json:"rate_bps"`
	// Seconds from the last flow's start until every flow's 3-second mean
	// stays within 20 % of the fastest's; -1: never in this run.
	ConvergeS float64 `json:"converge_s"`
	// The share of the time, from 30 s after the last flow's start to the
	// end, that every flow's 3-second mean was within 20 % of the
	// fastest's.
	Within20After30 float64 `json:"within20_after30"`
	RTTInflMs       float64 `json:"rtt_inflation_ms"` // probes during the last window
	// The bottleneck's backlog in the emulator's model over the last
	// window, median and mean (see Result.QueueMs).
	QueueMs     float64 `json:"queue_ms"`
	QueueMeanMs float64 `json:"queue_mean_ms"`
	Host        string  `json:"host_before"`
	HostAfter   string  `json:"host_after"`
	Err         string  `json:"error,omitempty"`
}

// FairReport is what wanbench fair writes to JSON.
type FairReport struct {
	Date        string     `json:"date"`
	RateBps     int64      `json:"rate_bps"`
	RTTms       float64    `json:"rtt_ms"`
	LossPct     float64    `json:"loss_pct"`
	DurationS   float64    `json:"duration_s"`
	StaggerS    float64    `json:"stagger_s"`
	QueueRule   string     `json:"queue"`
	Runs        []*FairRun `json:"runs"`
	Plot        string     `json:"plot,omitempty"` // the PNG's file name, beside the Markdown
	Description string     `json:"description"`
}

func fairMain(args []string) error {
	fs := flag.NewFlagSet("fair", flag.ContinueOnError)
	rateS := fs.String("rate", "100M", "bottleneck rate each way, bits per second")
	rtt := fs.Float64("rtt", 100, "round trip, ms")
	loss := fs.Float64("loss", 0, "random loss each way, %")
	scen := fs.String("scenarios", defaultScenarios, "scenarios: flows separated by /, in the order they start (udt-bbr, udt-native, tcp-bbr, tcp-cubic)")
	dur := fs.Duration("d", 60*time.Second, "length of each run, from the first flow's start")
	stagger := fs.Duration("stagger", 5*time.Second, "time between one flow's start and the next's")
	bin := fs.Duration("bin", time.Second, "width of a bin of the shares over time")
	last := fs.Duration("last", 20*time.Second, "the last part of each run over which shares and Jain's index are taken")
	runs := fs.Int("runs", 1, "runs of each scenario")
	files := reportFlags(fs, "the plot of the shares over time")
	from := fs.String("from", "", "measure nothing: read the runs from this JSON (an earlier -json) and write -md, -png and -json again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from != "" {
		var rep FairReport
		if err := readJSON(*from, &rep); err != nil {
			return err
		}
		for _, r := range rep.Runs {
			if r.RateBps == 0 {
				r.RateBps = rep.RateBps
			}
			r.derive()
		}
		return writeFair(&rep, files)
	}
	rate, err := parseRate(*rateS)
	if err != nil {
		return fmt.Errorf("-rate: %v", err)
	}
	scenarios, err := parseScenarios(*scen)
	if err != nil {
		return fmt.Errorf("-scenarios: %v", err)
	}
	maxFlows := 0
	for _, sc := range scenarios {
		maxFlows = max(maxFlows, len(sc))
	}
	switch {
	case *rtt <= 0 || *loss < 0 || *loss > 50:
		return errors.New("-rtt must be more than 0 and -loss between 0 and 50")
	case *bin <= 0 || *stagger < 0 || *runs < 1:
		return errors.New("-bin must be more than 0, -stagger 0 or more, -runs at least 1")
	case *last < 3**bin || *dur < time.Duration(maxFlows-1)**stagger+*last:
		return fmt.Errorf("-last must be at least three bins, and -d (%v) must hold the staggered starts and -last (%v)", *dur, *last)
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
	cfg := benchPath(rate, *rtt, *loss)
	one := cfg.Delay
	if err := setPath(lab, cfg); err != nil {
		return err
	}
	rep := &FairReport{
		Date: time.Now().UTC().Format(time.RFC3339), RateBps: rate, RTTms: *rtt, LossPct: *loss,
		DurationS: dur.Seconds(), StaggerS: stagger.Seconds(),
		QueueRule: "one bandwidth-delay product, at least 100 packets of 1500 bytes; tail drop; one queue for all flows",
		Description: "each flow's new payload bytes (not retransmissions) that the emulator delivered to B, per bin; " +
			"shares, Jain's index and the queue over the last part of each run; convergence: from the last flow's start " +
			"until every flow's trailing 3-bin mean stays within 20 % of the fastest flow's",
	}
	fmt.Printf("host: %s\nbottleneck %s each way, RTT %g ms, loss %g%%, %v per run, flows %v apart\n",
		hostInfo(), *rateS, *rtt, *loss, *dur, *stagger)
	fr := &fairRunner{lab: lab, self: self, rate: rate, dur: *dur, stagger: *stagger, bin: *bin, last: *last, pathRTT: 2 * one, port: 7500}
	for _, sc := range scenarios {
		for range *runs {
			time.Sleep(time.Second + 2*one) // the last run's packets leave the path
			r := fr.run(sc)
			rep.Runs = append(rep.Runs, r)
			fmt.Println(fairLine(r))
		}
	}
	return writeFair(rep, files)
}

// writeFair prints the table and writes the files asked for. The table
// embeds the plot by its file name, so rep.Plot is set before it renders.
func writeFair(rep *FairReport, files *reportFiles) error {
	if files.png != "" {
		rep.Plot = filepath.Base(files.png)
	}
	return files.write(fairMarkdown(rep), rep, func(path string) error { return plotFair(rep, path) })
}

type fairRunner struct {
	lab               *wanlab.Lab
	self              string
	rate              int64
	dur, stagger, bin time.Duration
	last              time.Duration
	pathRTT           time.Duration
	port              int
}

func (fr *fairRunner) run(flows []string) *FairRun {
	r := &FairRun{Scenario: strings.Join(flows, "/"), Flows: flows, BinS: fr.bin.Seconds(), LastS: fr.last.Seconds(), Host: hostInfo()}
	if err := fr.measure(r); err != nil {
		r.Err = err.Error()
	}
	r.HostAfter = hostInfo()
	return r
}

func (fr *fairRunner) measure(r *FairRun) error {
	ports := make([]int, len(r.Flows))
	tcp := make([]bool, len(r.Flows))
	for i, f := range r.Flows {
		fr.port++
		ports[i], tcp[i] = fr.port, fairFlows[f].tcp
	}
	meter := newFlowMeter(fr.bin, ports, tcp)
	fr.lab.Tap(meter.see)
	defer fr.lab.Tap(nil)
	// Receivers first, all of them; they count for longer than the run
	// and are killed at its end.
	for i, f := range r.Flows {
		spec := fairFlows[f]
		args := []string{"role", spec.recv, "-addr", fmt.Sprintf("%s:%d", fr.lab.Addr[wanlab.B], ports[i]),
			"-warmup", "0s", "-d", (fr.dur + time.Minute).String()}
		if !spec.tcp {
			args = append(args, spec.args...)
		}
		p, err := start(fr.lab, wanlab.B, fr.self, args...)
		if err != nil {
			return err
		}
		defer p.kill()
		if _, err := p.waitLine("listening", 10*time.Second); err != nil {
			return fmt.Errorf("%s receiver: %w", f, err)
		}
	}
	t0 := time.Now()
	meter.start(t0)
	queue := sampleBacklog(fr.lab, fr.dur-fr.last, fr.last)
	probed := make(chan []time.Duration, 1)
	go func() {
		time.Sleep(fr.dur - fr.last)
		n := max(int((fr.last-time.Second)/(200*time.Millisecond)), 5)
		rtts, _ := fr.lab.ProbeRTT(n, 64, 200*time.Millisecond)
		probed <- rtts
	}()
	for i, f := range r.Flows {
		at := time.Duration(i) * fr.stagger
		time.Sleep(time.Until(t0.Add(at)))
		r.StartS = append(r.StartS, time.Since(t0).Seconds())
		spec := fairFlows[f]
		p, err := start(fr.lab, wanlab.A, fr.self, append([]string{"role", spec.send, "-addr", fmt.Sprintf("%s:%d", fr.lab.Addr[wanlab.B], ports[i])}, spec.args...)...)
		if err != nil {
			return err
		}
		defer p.kill()
	}
	time.Sleep(time.Until(t0.Add(fr.dur)))
	r.Series = meter.series(int(fr.dur / fr.bin))
	r.RateBps = fr.rate
	r.derive()
	if rtts := <-probed; len(rtts) > 0 {
		slices.Sort(rtts)
		r.RTTInflMs = float64(rtts[len(rtts)/2]-fr.pathRTT) / 1e6
	}
	r.QueueMs, r.QueueMeanMs = backlogStats(<-queue)
	for i, s := range r.Series {
		if slices.Max(s) == 0 {
			return fmt.Errorf("flow %d (%s) delivered nothing", i+1, r.Flows[i])
		}
	}
	return nil
}

// derive computes the figures that follow from the series: the means,
// shares and Jain's index over the last LastS seconds, the link used and
// the convergence.
func (r *FairRun) derive() {
	if len(r.Series) == 0 || len(r.StartS) != len(r.Series) || r.BinS <= 0 {
		return
	}
	nb := len(r.Series[0])
	lastBins := min(max(int(r.LastS/r.BinS), 1), nb)
	var total float64
	r.MeanMbps, r.Share = nil, nil
	for _, s := range r.Series {
		var sum float64
		for _, v := range s[nb-lastBins:] {
			sum += v
		}
		r.MeanMbps = append(r.MeanMbps, sum/float64(lastBins))
		total += sum / float64(lastBins)
	}
	for _, v := range r.MeanMbps {
		r.Share = append(r.Share, v/max(total, 1e-9))
	}
	r.Jain = jain(r.MeanMbps)
	if r.RateBps > 0 {
		r.LinkPct = total / (float64(r.RateBps) / 1e6) * 100
	}
	lastStart := r.StartS[len(r.StartS)-1]
	smooth := max(int(3/r.BinS), 1)
	r.ConvergeS = -1
	if k, ok := convergence(r.Series, int(lastStart/r.BinS)+1, smooth, 0.2); ok {
		r.ConvergeS = float64(k+1)*r.BinS - lastStart
	}
	r.Within20After30 = withinShare(r.Series, int((lastStart+30)/r.BinS), smooth, 0.2)
}

func fairLine(r *FairRun) string {
	if r.Err != "" {
		return fmt.Sprintf("%-22s error: %s", r.Scenario, r.Err)
	}
	var parts []string
	for i, f := range r.Flows {
		parts = append(parts, fmt.Sprintf("%s %.1f Mbit/s (%.0f%%)", f, r.MeanMbps[i], r.Share[i]*100))
	}
	conv := "never"
	if r.ConvergeS >= 0 {
		conv = fmt.Sprintf("%.0f s", r.ConvergeS)
	}
	return fmt.Sprintf("%-22s last %.0f s: %s; Jain %.3f; link %.0f%%; converged after %s (within 20%% %.0f%% of the time after 30 s); queue %.1f ms (mean %.1f; probes +%.1f ms); %s",
		r.Scenario, r.LastS, strings.Join(parts, ", "), r.Jain, r.LinkPct, conv, r.Within20After30*100, r.QueueMs, r.QueueMeanMs, r.RTTInflMs, r.HostAfter)
}
