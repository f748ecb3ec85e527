package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/udtgo/udt"
)

// perfResult is one test, as --json prints it.
type perfResult struct {
	Protocol    string     `json:"protocol"`
	Server      string     `json:"server"`
	Streams     int        `json:"streams"`
	Reverse     bool       `json:"reverse"`
	DurationS   float64    `json:"duration_s"`
	Intervals   []interval `json:"intervals"`
	Sender      side       `json:"sender"`
	Receiver    side       `json:"receiver"`
	Interrupted bool       `json:"interrupted,omitempty"`

	// UDT's memory for each connection (perf_memory.go).
	Memory *connMemory `json:"conn_memory,omitempty"`
}

// side is one end's account of the test.
type side struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Mbps    float64 `json:"mbps"`
	Retrans int64   `json:"retrans"`
	Loss    int64   `json:"loss"`
	ACK     int64   `json:"ack"`
	NAK     int64   `json:"nak"`
	RTTms   float64 `json:"rtt_ms"`
	// LinkMbps is the sender's packet-pair estimate of the link's
	// capacity at the end (UDT's mbpsBandwidth; the highest of the streams').
	LinkMbps float64 `json:"link_estimate_mbps,omitempty"`
	// StreamBytes is Bytes stream by stream.
	StreamBytes []int64 `json:"stream_bytes,omitempty"`
}

// interval is one report line. Stream 0 is the sum of several streams.
// Loss, ACK and NAK are what this end saw: as sender the losses reported
// to it and the ACKs/NAKs it received, as receiver the losses it found and
// the ACKs/NAKs it sent.
type interval struct {
	Stream   int     `json:"stream"`
	Start    float64 `json:"start_s"`
	End      float64 `json:"end_s"`
	Bytes    int64   `json:"bytes"`
	Mbps     float64 `json:"mbps"`
	RTTms    float64 `json:"rtt_ms"`
	Cwnd     int     `json:"cwnd_pkts"`
	PeriodUs float64 `json:"send_period_us"`
	Loss     int64   `json:"loss"`
	Retrans  int64   `json:"retrans"`
	ACK      int64   `json:"ack"`
	NAK      int64   `json:"nak"`
}

func perfClient(ctx context.Context, udtTarget, tcpTarget string, vsTCP bool, o perfOpts) error {
	var out io.Writer = os.Stdout
	if o.jsonOut {
		out = io.Discard
	}
	var results []perfResult
	r, err := perfRun(ctx, udtProto(o.cfg, o.timeout, o.rdv), udtTarget, o, out)
	results = append(results, r)
	if err == nil && vsTCP && ctx.Err() == nil {
		if tcpTarget == "" {
			err = errors.New("--vs tcp: the server has no TCP listener")
		} else {
			fmt.Fprintln(out)
			var t perfResult
			if t, err = perfRun(ctx, tcpProto(o.timeout), tcpTarget, o, out); err != nil {
				err = fmt.Errorf("tcp: %w", err)
			}
			results = append(results, t)
		}
	}
	if o.jsonOut {
		// What was measured goes out even when a later step failed.
		// The poller's counters say which of its paths the test took
		// (see the library's poller_stats.go and timing.go); with --loopback both ends count.
		doc := map[string]any{"runs": results, "poller": udt.ReadPollerStats(), "firewall": udt.ReadFirewallStats(), "process_memory": processMemory()}
		if err != nil {
			doc["error"] = err.Error()
		}
		if len(results) == 2 && err == nil && results[1].Receiver.Mbps > 0 {
			doc["udt_vs_tcp"] = results[0].Receiver.Mbps / results[1].Receiver.Mbps
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(doc); jerr != nil && err == nil {
			err = jerr
		}
	}
	if err != nil {
		return err
	}
	if !o.jsonOut && len(results) == 2 {
		u, t := results[0].Receiver.Mbps, results[1].Receiver.Mbps
		fmt.Fprintf(out, "\nudt vs tcp (receiver goodput): %.1f vs %.1f Mbit/s, udt/tcp = %s\n", u, t, ratio(u, t))
	}
	return ctx.Err()
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// perfRun runs one test against target and reports it to out.
func perfRun(ctx context.Context, p proto, target string, o perfOpts, out io.Writer) (perfResult, error) {
	res := perfResult{Protocol: p.name, Server: target, Streams: o.streams, Reverse: o.reverse, DurationS: o.dur.Seconds()}
	c, err := p.dial(ctx, target)
	if err != nil {
		return res, noServer(err, target, "udt perf -s")
	}
	defer c.Close()
	cc := &ctl{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	h := hello{Version: 1, ID: newID(), Streams: o.streams, Reverse: o.reverse, Duration: int64(o.dur), Block: o.block}
	if _, err := c.Write([]byte(perfCtl)); err != nil {
		return res, err
	}
	if err := cc.send(h); err != nil {
		return res, err
	}
	var ok struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := cc.recv(&ok, time.Now().Add(10*time.Second)); err != nil {
		return res, fmt.Errorf("%s: no answer from a perf server: %w", target, err)
	}
	if !ok.OK {
		return res, errFromPeer(ok.Error)
	}

	conns := make([]net.Conn, 0, o.streams)
	defer func() {
		for _, dc := range conns {
			dc.Close()
		}
	}()
	for i := range o.streams {
		dc, err := p.dial(ctx, target)
		if err != nil {
			return res, fmt.Errorf("stream %d: %w", i+1, err)
		}
		conns = append(conns, dc)
		if _, err := dc.Write(streamHeader(h.ID, i)); err != nil {
			return res, fmt.Errorf("stream %d: %w", i+1, err)
		}
	}

	res.Memory = connMemoryOf(conns)
	st := newStreams(conns)
	rep := &reporter{st: st, p: p, sender: !o.reverse, every: o.interval, planned: o.dur, out: out}
	who := fmt.Sprintf("%s %s, %d stream(s)", p.name, target, o.streams)
	if p.name == "udt" && o.streams > 1 {
		fmt.Fprintln(out, sharedPortNote)
	}
	if o.reverse {
		fmt.Fprintf(out, "%s: receiving for %v (server → client)\n", who, o.dur)
		// Ctrl-C: close everything, which ends every read and the wait
		// for the sender's end.
		stop := context.AfterFunc(ctx, func() {
			c.Close()
			for _, dc := range conns {
				dc.Close()
			}
		})
		defer stop()
		st.recv()
		rep.start()
		var end endMsg
		if err := cc.recv(&end, time.Now().Add(o.dur+60*time.Second)); err != nil {
			rep.stop()
			res.Receiver = sideOf(st.bytes(), time.Since(st.start), nil)
			return finish(ctx, res, rep, st, fmt.Errorf("waiting for the server's end of sending: %w", err))
		}
		elapsed, werr := st.awaitBytes(end.Bytes, drainDeadline(0))
		rep.stop()
		got, stats := st.bytes(), st.finalStats(p, false)
		cc.send(endMsg{Bytes: got, Elapsed: int64(elapsed), Stats: stats})
		flushClose(c)
		res.Sender = sideOf(end.Bytes, time.Duration(end.Elapsed), end.Stats)
		res.Receiver = sideOf(got, elapsed, stats)
		if werr == nil && end.Error != "" {
			werr = errFromPeer(end.Error)
		}
		return finish(ctx, res, rep, st, werr)
	}

	fmt.Fprintf(out, "%s: sending for %v (client → server)\n", who, o.dur)
	rep.start()
	elapsed := st.send(ctx, o.dur, o.block)
	rep.stop()
	sent, mine := st.bytes(), st.finalStats(p, true)
	res.Sender = sideOf(sent, elapsed, mine)
	if st.err != nil {
		return finish(ctx, res, rep, st, st.err)
	}
	// After Ctrl-C the server gets a moment to count what arrived, but
	// no more: it may be the reason for the Ctrl-C.
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(2*time.Second, func() { c.Close() }) })
	defer stop()
	if err := cc.send(endMsg{Bytes: sent, Elapsed: int64(elapsed), Stats: mine}); err != nil {
		return finish(ctx, res, rep, st, err)
	}
	var got endMsg
	if err := cc.recv(&got, drainDeadline(0)); err != nil {
		return finish(ctx, res, rep, st, fmt.Errorf("waiting for the server's count: %w", err))
	}
	res.Receiver = sideOf(got.Bytes, time.Duration(got.Elapsed), got.Stats)
	var err2 error
	if got.Error != "" {
		err2 = errFromPeer(got.Error)
	}
	return finish(ctx, res, rep, st, err2)
}

// sharedPortNote explains why a UDT test's streams show the same figures:
// UDT connections share their end's UDP port (the dialer's implicit port,
// the listener's for accepted ones), and one UDT thread per port sends
// for all of them, interleaving their packets. The receiver's counts move
// in whole writes, as UDT acknowledges at once the short packet that ends
// each one, and data becomes readable when acknowledged.
const sharedPortNote = "(the streams share one UDP port at each end, so one UDT sending thread interleaves their packets: expect equal rates)"

// finish prints the summary of what got done and closes the streams.
func finish(ctx context.Context, res perfResult, rep *reporter, st *streams, err error) (perfResult, error) {
	st.close()
	res.Intervals = rep.intervals
	res.Interrupted = ctx.Err() != nil
	if res.Interrupted {
		err = nil // the summary of what was done is the point; main says "interrupted"
	}
	out := rep.out
	fmt.Fprintln(out, strings.Repeat("- ", 40))
	if res.Sender.Seconds > 0 || res.Sender.Bytes > 0 {
		fmt.Fprintf(out, "%-4s sender   %10s in %6.2f s = %9.1f Mbit/s   retrans %d, loss %d, NAKs %d\n", res.Protocol,
			mib(res.Sender.Bytes), res.Sender.Seconds, res.Sender.Mbps, res.Sender.Retrans, res.Sender.Loss, res.Sender.NAK)
	}
	if res.Receiver.Seconds > 0 || res.Receiver.Bytes > 0 {
		fmt.Fprintf(out, "%-4s receiver %10s in %6.2f s = %9.1f Mbit/s   loss %d\n", res.Protocol,
			mib(res.Receiver.Bytes), res.Receiver.Seconds, res.Receiver.Mbps, res.Receiver.Loss)
	}
	if res.Interrupted {
		fmt.Fprintln(out, "(interrupted)")
	}
	return res, err
}

func sideOf(bytes []int64, elapsed time.Duration, stats []sumStats) side {
	s := side{Bytes: sum(bytes), Seconds: elapsed.Seconds(), Mbps: mbits(sum(bytes), elapsed), StreamBytes: bytes}
	for _, x := range stats {
		s.Retrans += x.Retrans
		s.Loss += x.Loss
		s.ACK += x.ACK
		s.NAK += x.NAK
		s.RTTms = max(s.RTTms, x.RTTms)
		s.LinkMbps = max(s.LinkMbps, x.LinkMbps)
	}
	return s
}

// reporter prints a line per interval from the byte counts and the
// connections' own statistics.
type reporter struct {
	st        *streams
	p         proto
	sender    bool
	every     time.Duration
	out       io.Writer
	intervals []interval

	// planned is the test's length. The tick due at its end is skipped:
	// the writes end with their deadline, a moment after that tick, and
	// the final report of stop closes the last interval, where the tick
	// would leave a sliver of a few ms and bytes after it (0: no skip).
	planned time.Duration

	t0, last  time.Time
	prev      []sample
	prevBytes []int64
	quit      chan struct{}
	wg        sync.WaitGroup
}

func (r *reporter) start() {
	r.t0 = time.Now()
	r.last = r.t0
	r.prev = make([]sample, len(r.st.conns))
	for i, c := range r.st.conns {
		r.prev[i], _ = r.p.sample(c)
	}
	r.prevBytes = r.st.bytes()
	r.quit = make(chan struct{})
	fmt.Fprintf(r.out, "[ ID] %-15s %11s %14s %10s %7s %9s %6s %6s %6s %6s\n",
		"Interval", "Transfer", "Bitrate", "RTT", "Cwnd", "Period", "Loss", "Retr", "ACK", "NAK")
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.every)
		defer t.Stop()
		skipAfter, skipped := r.t0.Add(r.planned-r.every/20), r.planned <= 0
		// held: a receiver's lines after the planned end, while what
		// was in flight drains, printed a tick late, so that a sliver at
		// the very end joins them instead of making a line of its own.
		var held []interval
		draining := false
		for {
			select {
			case now := <-t.C:
				if !skipped && now.After(skipAfter) {
					skipped, draining = true, !r.sender
					continue
				}
				if !draining {
					r.report(now)
					continue
				}
				r.emit(held)
				held = r.measure(now)
			case <-r.quit:
				// The last, partial interval, so that the lines add up
				// to the total; an empty sliver is left out.
				now := time.Now()
				sliver := now.Sub(r.last) <= r.every/20
				if !sliver || sum(r.st.bytes()) != sum(r.prevBytes) {
					last := r.measure(now)
					if sliver && held != nil {
						join(held, last)
					} else {
						r.emit(held)
						held = last
					}
				}
				r.emit(held)
				return
			}
		}
	}()
}

func (r *reporter) stop() {
	if r.quit != nil {
		close(r.quit)
		r.wg.Wait()
		r.quit = nil
	}
}

// report prints the interval that ends now.
func (r *reporter) report(now time.Time) { r.emit(r.measure(now)) }

func (r *reporter) emit(ivs []interval) {
	for _, iv := range ivs {
		r.intervals = append(r.intervals, iv)
		r.line(iv)
	}
}

// measure returns the lines of the interval that ends now (each stream's,
// then their sum), and starts the next.
func (r *reporter) measure(now time.Time) []interval {
	var out []interval
	d := now.Sub(r.last)
	bytes := r.st.bytes()
	var total interval
	total.Start, total.End = r.last.Sub(r.t0).Seconds(), now.Sub(r.t0).Seconds()
	n := len(r.st.conns)
	for i, c := range r.st.conns {
		cur, ok := r.p.sample(c)
		if !ok {
			cur = r.prev[i]
		}
		iv := interval{Stream: i + 1, Start: total.Start, End: total.End, Bytes: bytes[i] - r.prevBytes[i]}
		iv.Mbps = mbits(iv.Bytes, d)
		iv.RTTms, iv.Cwnd, iv.PeriodUs = ms(cur.RTT), cur.Cwnd, float64(cur.Period)/float64(time.Microsecond)
		pv := r.prev[i]
		iv.Retrans = cur.Retrans - pv.Retrans
		if r.sender {
			iv.Loss, iv.ACK, iv.NAK = cur.SndLoss-pv.SndLoss, cur.ACKRecv-pv.ACKRecv, cur.NAKRecv-pv.NAKRecv
		} else {
			// The window and the send period are the sender's; a
			// receiving socket's own are idle defaults.
			iv.Cwnd, iv.PeriodUs = 0, 0
			iv.Loss, iv.ACK, iv.NAK = cur.RcvLoss-pv.RcvLoss, cur.ACKSent-pv.ACKSent, cur.NAKSent-pv.NAKSent
		}
		r.prev[i] = cur
		out = append(out, iv)
		total.Bytes += iv.Bytes
		total.Mbps += iv.Mbps
		total.RTTms = max(total.RTTms, iv.RTTms)
		total.Cwnd += iv.Cwnd
		total.Loss += iv.Loss
		total.Retrans += iv.Retrans
		total.ACK += iv.ACK
		total.NAK += iv.NAK
	}
	if n > 1 {
		out = append(out, total)
	}
	r.prevBytes = bytes
	r.last = now
	return out
}

// join extends lines by next, the lines of the interval right after them.
func join(lines, next []interval) {
	for i := range lines {
		a, b := &lines[i], next[i]
		d := time.Duration((b.End - a.Start) * float64(time.Second))
		a.End = b.End
		a.Bytes += b.Bytes
		a.Mbps = mbits(a.Bytes, d)
		a.RTTms, a.Cwnd, a.PeriodUs = b.RTTms, b.Cwnd, b.PeriodUs
		a.Loss += b.Loss
		a.Retrans += b.Retrans
		a.ACK += b.ACK
		a.NAK += b.NAK
	}
}

func (r *reporter) line(iv interval) {
	id := fmt.Sprintf("%3d", iv.Stream)
	if iv.Stream == 0 {
		id = "SUM"
	}
	period := "-"
	if iv.PeriodUs > 0 {
		period = fmt.Sprintf("%.2f µs", iv.PeriodUs)
	}
	cwnd := "-"
	if iv.Cwnd > 0 {
		cwnd = fmt.Sprint(iv.Cwnd)
	}
	fmt.Fprintf(r.out, "[%s] %6.2f-%-6.2f s %11s %9.1f Mbit/s %7.3f ms %7s %9s %6d %6d %6d %6d\n",
		id, iv.Start, iv.End, mib(iv.Bytes), iv.Mbps, iv.RTTms, cwnd, period, iv.Loss, iv.Retrans, iv.ACK, iv.NAK)
}
