package congestion

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"
	"time"
)

// newBBR is a controller in the state init gives, on cfg's defaults.
func newBBR(cfg Config, init BBR) *BBR {
	b := init
	b.cfg = cfg.withDefaults()
	return &b
}

// fakeConn is a connection of 1,500-byte packets on UDT's defaults.
type fakeConn struct {
	rtt          int
	cwnd, period float64
	seq          int32
	msgs         int
	ackEvery     int
	lossReports  [][]int32 // the words of each CtrlLossReport sent
}

func (c *fakeConn) SYNInterval() int           { return 10000 }
func (c *fakeConn) MSS() int                   { return 1500 }
func (c *fakeConn) MaxCWnd() float64           { return 25600 }
func (c *fakeConn) RTT() int                   { return c.rtt }
func (c *fakeConn) RcvRate() int               { return 0 }
func (c *fakeConn) SndCurrSeqNo() int32        { return c.seq }
func (c *fakeConn) CWnd() float64              { return c.cwnd }
func (c *fakeConn) SetCWnd(p float64)          { c.cwnd = p }
func (c *fakeConn) SetPktSndPeriod(us float64) { c.period = us }
func (c *fakeConn) SendCustomMsg(typ, _ int, words []int32) error {
	c.msgs++
	if typ == CtrlLossReport {
		c.lossReports = append(c.lossReports, slices.Clone(words))
	}
	return nil
}
func (c *fakeConn) SetACKInterval(pkts int) { c.ackEvery = pkts }

func TestSequenceNumbersWrap(t *testing.T) {
	if SeqCmp(0, SeqMax) <= 0 || SeqInc(SeqMax) != 0 || SeqLen(SeqMax, 1) != 2 {
		t.Error("sequence numbers do not wrap as UDT's")
	}
}

func TestOWDFilterMeasuresTheStandingQueue(t *testing.T) {
	var o owdFilter
	now := time.Now()
	// Stamps near the int32 wrap: arrival less stamp is taken modulo 2^32.
	const offset = int32(0x7FFFFF00)
	feed := func(delays ...int32) {
		for _, d := range delays {
			now = now.Add(time.Millisecond)
			o.sample(offset+d, now)
		}
	}
	feed(50_000, 50_010, 50_200) // the empty path: 50 ms
	if q := o.standing(); q != 0 {
		t.Errorf("an empty path shows a queue of %d µs", q)
	}
	// A queue of 3 ms with the receiver late now and then (single samples
	// up to 9 ms more): the window's minimum is the queue.
	feed(53_000, 62_000, 53_100, 59_000, 53_050)
	if q := o.standing(); q != 3000 {
		t.Errorf("standing queue %d µs, want 3000", q)
	}
	// The path's delay stays the minimum over the epochs: 10 s later the
	// base is still 50 ms, as the last epoch saw it.
	now = now.Add(11 * time.Second)
	feed(51_000)
	if q := o.standing(); q != 1000 {
		t.Errorf("after an epoch: %d µs, want 1000", q)
	}
	// Two epochs on, the path itself got longer (a route change): the new
	// minimum is the new base.
	now = now.Add(11 * time.Second)
	feed(70_000)
	now = now.Add(11 * time.Second)
	feed(70_500)
	if q := o.standing(); q != 500 {
		t.Errorf("after a longer path: %d µs, want 500", q)
	}
}

func TestSteadyRateHoldsTheFastestFlowFirst(t *testing.T) {
	// Two flows through one queue: the first delivers 4,400 packets/s of
	// a 8,000 link, the second 3,600; both see the same queue.
	flow := func(bw, delivered float64) *BBR {
		b := newBBR(Config{}, BBR{mode: ProbeBW, peerQ: true, rtProp: 100 * time.Millisecond})
		b.btlBw[0] = bw
		b.recent = [3]float64{delivered, delivered, delivered}
		return b
	}
	fast, slow := flow(5000, 4400), flow(4000, 3600)
	report := func(q time.Duration, n int, bs ...*BBR) {
		for range n {
			for _, b := range bs {
				b.q = q
				b.updateSteady(false)
			}
		}
	}
	// 15 ms of queue: 64 packets over it is 4,267 packets/s, the cap of
	// both; the fast flow comes down to it, the slow one keeps its BtlBw.
	report(15*time.Millisecond, 30, fast, slow)
	want := bbrQueuePkts / 0.015
	if math.Abs(fast.rs-want) > want/100 {
		t.Errorf("fast flow's steady rate %.0f packets/s, want the common cap %.0f", fast.rs, want)
	}
	if math.Abs(slow.rs-4000) > 40 {
		t.Errorf("slow flow's steady rate %.0f packets/s, want its BtlBw 4000", slow.rs)
	}
	if r := fast.rs / slow.rs; r >= 4400.0/3600 || r > 1.1 {
		t.Errorf("steady rates %.0f and %.0f: ratio %.2f, want closer than the deliveries' 1.22", fast.rs, slow.rs, r)
	}
	// A queue past the cap of both drains: each heads for 90 % of what it
	// delivers, however high its BtlBw.
	report(50*time.Millisecond, 30, fast, slow)
	if math.Abs(fast.rs-0.9*4400) > 40 || math.Abs(slow.rs-0.9*3600) > 40 {
		t.Errorf("under a 50 ms queue: %.0f and %.0f packets/s, want 90 %% of 4400 and 3600", fast.rs, slow.rs)
	}
	// The same queue standing for more than 24 RTprop is a loss-based
	// flow's: pace at BtlBw rather than yield it all.
	fast.qLowAt = time.Now().Add(-3 * time.Second)
	report(50*time.Millisecond, 30, fast)
	if math.Abs(fast.rs-5000) > 50 {
		t.Errorf("beside a queue that never drains: %.0f packets/s, want BtlBw 5000", fast.rs)
	}
	// A queue the measure cannot tell from none sets no cap.
	slow.qLowAt = time.Time{}
	report(bbrQueueFloor/2, 30, slow)
	if math.Abs(slow.rs-4000) > 40 {
		t.Errorf("with no queue: %.0f packets/s, want BtlBw 4000", slow.rs)
	}
}

// rateReport is the receiving end's rate report: pkts over us, and the
// standing queue in microseconds.
func rateReport(b *BBR, pkts, us, q int32) { rateReportOn(b, &fakeConn{}, pkts, us, q) }

// rateReportOn is rateReport arriving on connection c.
func rateReportOn(b *BBR, c *fakeConn, pkts, us, q int32) {
	d := make([]byte, 0, 12)
	for _, w := range []int32{pkts, us, q} {
		d = binary.NativeEndian.AppendUint32(d, uint32(w))
	}
	b.OnCustomMsg(c, CtrlUserDefined, RateMsg, d)
}

// The BtlBw filter keeps its maximum for ten slots of bbrSlotMin at least,
// however short the rounds: on loopback, where rounds came a millisecond
// apart, it kept less than a report's worth and BtlBw sank.
func TestBandwidthFilterOutlivesShortRounds(t *testing.T) {
	b := newBBR(Config{}, BBR{rtProp: 100 * time.Microsecond})
	t0 := time.Unix(1e9, 0)
	b.roundSample(t0, 0)
	for range 3 {
		rateReport(b, 2000, 20000, 0) // 100,000 packets/s
	}
	// Fifty rounds of a millisecond, each with a lower report.
	for i := 1; i <= 50; i++ {
		b.roundSample(t0.Add(time.Duration(i)*time.Millisecond), 0)
		rateReport(b, 1800, 20000, 0)
	}
	if bw := b.bw(); bw != 100000 {
		t.Fatalf("BtlBw %.0f packets/s after 50 rounds in 50 ms; want the maximum, 100000, kept", bw)
	}
	// Ten slots later it has gone.
	for i := 1; i <= 11; i++ {
		b.roundSample(t0.Add(time.Duration(i)*bbrSlotMin+time.Second), 0)
		rateReport(b, 1800, 20000, 0)
	}
	if bw := b.bw(); bw != 90000 {
		t.Fatalf("BtlBw %.0f packets/s eleven slots later; want 90000", bw)
	}
}

// Startup ends when the queue it builds passes a quarter of RTprop, ahead
// of the bandwidth samples, which lag.
func TestStartupEndsOnTheQueue(t *testing.T) {
	b := newBBR(Config{}, BBR{rtProp: 100 * time.Millisecond})
	rateReport(b, 100, 25000, 20000)
	if b.mode != Startup {
		t.Fatalf("a queue of 20 ms at RTprop 100 ms ended Startup (mode %d)", b.mode)
	}
	rateReport(b, 100, 25000, 26000)
	if b.mode != Drain {
		t.Fatalf("a queue of 26 ms at RTprop 100 ms left the mode %d, want Drain", b.mode)
	}
}

// ProbeBW's draining phase: one RTprop after a probe that began on an
// empty path, however late the reports that show the probe's queue gone;
// longer by four times a small queue that stood before the probe; and
// with other flows' queue standing, until the reports show it gone. The
// reports that carry a probe's own queue do not move the steady rate.
func TestDrainPhaseLength(t *testing.T) {
	const rtProp = 100 * time.Millisecond
	newFlow := func(q time.Duration) (*BBR, time.Time) {
		b := newBBR(Config{}, BBR{mode: ProbeBW, peerQ: true, rtProp: rtProp, q: q, cycleIdx: len(bbrCycle) - 1})
		b.btlBw[0] = 8000
		b.rs = 8000
		b.recent = [3]float64{8000, 8000, 8000}
		t0 := time.Now()
		b.cycleStart = t0.Add(-rtProp - time.Millisecond)
		b.cycle(&fakeConn{}, t0) // the probe (1.25) begins
		if b.cycleIdx != 0 {
			t.Fatalf("phase %d after the last level phase; want the probe, 0", b.cycleIdx)
		}
		b.cycle(&fakeConn{}, t0.Add(rtProp+time.Millisecond))
		if b.cycleIdx != 1 {
			t.Fatalf("phase %d one RTprop into the probe; want the drain, 1", b.cycleIdx)
		}
		return b, t0.Add(rtProp + time.Millisecond)
	}
	drainEnds := func(b *BBR, from time.Time) time.Duration {
		for d := time.Duration(0); d < 4*rtProp; d += time.Millisecond {
			b.cycle(&fakeConn{}, from.Add(d))
			if b.cycleIdx != 1 {
				return d
			}
		}
		return -1
	}

	// Empty path: the probe's queue, 25 ms, is in every report the drain
	// sees, as it is a round trip late.
	b, drainAt := newFlow(100 * time.Microsecond)
	b.q = 25 * time.Millisecond
	b.updateSteady(b.probeEcho(time.Now().Add(rtProp + rtProp/2)))
	if b.rs != 8000 {
		t.Errorf("the probe's own queue moved the steady rate to %.0f packets/s; want 8000", b.rs)
	}
	if d := drainEnds(b, drainAt); d < rtProp || d > rtProp+2*time.Millisecond {
		t.Errorf("after a probe on an empty path the drain lasted %v; want one RTprop, %v", d, rtProp)
	}

	// 3 ms stood before the probe: 12 ms more.
	b, drainAt = newFlow(3 * time.Millisecond)
	b.q = 25 * time.Millisecond
	if d := drainEnds(b, drainAt); d < rtProp+12*time.Millisecond || d > rtProp+14*time.Millisecond {
		t.Errorf("after a probe over a 3 ms queue the drain lasted %v; want %v", d, rtProp+12*time.Millisecond)
	}

	// Other flows' 15 ms stood: the drain lasts RTprop and four times
	// that, then until a report shows the queue under the level, at most
	// three RTprop.
	b, drainAt = newFlow(15 * time.Millisecond)
	b.q = 20 * time.Millisecond
	if d := drainEnds(b, drainAt); d < 3*rtProp || d > 3*rtProp+2*time.Millisecond {
		t.Errorf("with a queue standing the drain lasted %v; want the limit, %v", d, 3*rtProp)
	}
	b, drainAt = newFlow(15 * time.Millisecond)
	b.q = 20 * time.Millisecond
	b.cycle(&fakeConn{}, drainAt.Add(rtProp*17/10))
	if b.cycleIdx != 1 {
		t.Fatalf("the drain ended at 1.7 RTprop with the queue still reported")
	}
	b.q = time.Millisecond
	if d := drainEnds(b, drainAt.Add(rtProp*17/10)); d < 0 || d > time.Millisecond {
		t.Errorf("the drain went on %v after a report of the queue gone; want it over", d)
	}
}

// The level phases pace at 0.99 × BtlBw on paths of bbrCruiseMinRTT and
// more, and at BtlBw on shorter ones, where a probe is too short for the
// rate reports to show and BtlBw would sink to what the level phases
// deliver.
func TestCruiseGain(t *testing.T) {
	for _, tc := range []struct {
		rtProp time.Duration
		want   float64
	}{{100 * time.Millisecond, 0.99 * 8000}, {bbrCruiseMinRTT, 0.99 * 8000}, {time.Millisecond, 8000}, {30 * time.Millisecond, 8000}} {
		b := newBBR(Config{CWndGain: 4}, BBR{mode: ProbeBW, cycleIdx: 3, rtProp: tc.rtProp})
		b.apply(&fakeConn{}, 8000)
		if got := b.paceHist[0]; math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("RTprop %v: level phase paced at %.1f packets/s, want %.1f", tc.rtProp, got, tc.want)
		}
	}
}

// In ProbeBW a delivery rate is capped by the highest pace of this round
// and the last once a lost retransmission has stretched the round past
// one and a half RTprop: the round holds the probe at 1.25 that the rate
// now shows. In a round of normal length, and in Startup, the cap is the
// last round's pace alone.
func TestPaceMaxSpansAStretchedRound(t *testing.T) {
	for _, tc := range []struct {
		mode Mode
		age  time.Duration // of the current round
		want float64
	}{{ProbeBW, 400 * time.Millisecond, 9000}, {ProbeBW, 100 * time.Millisecond, 8000}, {Startup, 400 * time.Millisecond, 8000}} {
		b := newBBR(Config{Clock: SystemClock{}}, BBR{mode: tc.mode, rtProp: 200 * time.Millisecond, round: 7,
			roundStart: time.Now().Add(-tc.age)})
		b.btlBw[0] = 6000
		b.paceHist[0] = 8000  // the last round (7+1) % 2 = 0
		b.paceHist[1] = 10000 // this one: the probe
		for range 3 {
			rateReport(b, 900, 100_000, 0) // 9,000 packets/s
		}
		if got := b.bw(); got != tc.want {
			t.Errorf("%v, round %v old: BtlBw %.0f after reports of 9,000 packets/s; want %.0f", tc.mode, tc.age, got, tc.want)
		}
	}
}

// The receiving end acknowledges every ACKInterval packets while packets
// come in bursts, and leaves it to UDT's timer while they flow.
func TestACKIntervalFollowsArrivals(t *testing.T) {
	b := NewBBR(Config{Clock: SystemClock{}})
	c := &fakeConn{rtt: 100_000}
	b.Init(c)
	if c.ackEvery != 8 {
		t.Fatalf("ACK interval %d at the start; want 8", c.ackEvery)
	}
	now := time.Unix(1000, 0)
	seq := int32(0)
	arrive := func(n int, gap time.Duration) {
		for range n {
			now = now.Add(gap)
			b.OnPktReceived(c, seq, 0, now)
			seq++
		}
	}
	// Startup's rounds on a 100 ms path: a burst, then a round trip of
	// silence.
	for range 5 {
		arrive(32, 10*time.Microsecond)
		now = now.Add(100 * time.Millisecond)
		if c.ackEvery != 8 {
			t.Fatalf("ACK interval %d between bursts; want 8", c.ackEvery)
		}
	}
	// The link full: a packet every 120 µs, in UDT's 4 ms bursts.
	for range 10 {
		arrive(33, 120*time.Microsecond)
		now = now.Add(4 * time.Millisecond)
	}
	if c.ackEvery != 0 {
		t.Fatalf("ACK interval %d while packets flow; want 0 (the timer)", c.ackEvery)
	}
	// Once packets have flowed, a gap shorter than UDT's sweep (a lossy
	// flow's window held by a hole) leaves the timer alone.
	now = now.Add(30 * time.Millisecond)
	arrive(33, 120*time.Microsecond)
	now = now.Add(30 * time.Millisecond)
	arrive(33, 120*time.Microsecond)
	if c.ackEvery != 0 {
		t.Fatalf("ACK interval %d after 30 ms gaps in a flow; want 0 (the timer)", c.ackEvery)
	}
	// A request after a pause.
	now = now.Add(time.Second)
	arrive(6, 10*time.Microsecond)
	if c.ackEvery != 8 {
		t.Fatalf("ACK interval %d after a pause; want 8", c.ackEvery)
	}
	// Off for good when asked.
	b = NewBBR(Config{Clock: SystemClock{}, ACKInterval: -1})
	c = &fakeConn{rtt: 100_000, ackEvery: -7}
	b.Init(c)
	arrive(32, 10*time.Microsecond)
	now = now.Add(time.Second)
	arrive(32, 10*time.Microsecond)
	if c.ackEvery != -7 {
		t.Fatalf("ACKInterval -1 set the interval to %d", c.ackEvery)
	}
}

// The receiving end reports a hole again 1.25 RTT after the last report,
// plus a pad of an eighth of the RTT (1 to 10 ms), looking every quarter
// RTT (1 to 10 ms): on a 1 ms path a lost retransmission is asked for
// again within a few milliseconds, not after UDT's 10 ms SYN interval.
func TestLossReportRepeatsAfterTheRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		rtt, earliest, latest time.Duration
	}{
		{time.Millisecond, 2250 * time.Microsecond, 3500 * time.Microsecond},
		{100 * time.Millisecond, 135 * time.Millisecond, 146 * time.Millisecond},
	} {
		t.Run(tc.rtt.String(), func(t *testing.T) {
			b := NewBBR(Config{Clock: SystemClock{}})
			c := &fakeConn{rtt: int(tc.rtt / time.Microsecond)}
			b.Init(c)
			now := time.Unix(1000, 0)
			seq := int32(0)
			arrive := func() {
				now = now.Add(120 * time.Microsecond) // 100 Mbit/s
				b.OnPktReceived(c, seq, 0, now)
				seq++
			}
			for range 100 {
				arrive()
			}
			seq++ // packet 100 is lost: UDT reports it when 101 comes
			gapSeen := now.Add(120 * time.Microsecond)
			var at []time.Duration
			for now.Sub(gapSeen) < 2*tc.latest+tc.rtt {
				n := len(c.lossReports)
				arrive()
				if len(c.lossReports) > n {
					if got := c.lossReports[n]; len(got) != 1 || got[0] != 100 {
						t.Fatalf("loss report %v; want [100]", got)
					}
					at = append(at, now.Sub(gapSeen))
				}
			}
			if len(at) < 2 {
				t.Fatalf("reports at %v after the gap; want two at least", at)
			}
			if at[0] < tc.earliest || at[0] > tc.latest {
				t.Errorf("first repeat %v after the gap; want within [%v, %v]", at[0], tc.earliest, tc.latest)
			}
			if d := at[1] - at[0]; d < tc.earliest || d > tc.latest {
				t.Errorf("second repeat %v after the first; want within [%v, %v]", d, tc.earliest, tc.latest)
			}
			// The retransmission arrives: no more reports.
			b.OnPktReceived(c, 100, 0, now)
			n := len(c.lossReports)
			for range 2000 {
				arrive()
			}
			if len(c.lossReports) != n {
				t.Errorf("%d reports after the hole was filled", len(c.lossReports)-n)
			}
		})
	}
}

// A sending peer that lies about the round trip (ACK2s sent ahead of the
// ACKs they answer make UDT's RTT read 0) gets the shortest timing: a
// hole is reported again 1 ms after the last report at the soonest, and
// rxMaxReports times at most, however fast packets arrive.
func TestLossReportsBoundedWhenRTTReadsZero(t *testing.T) {
	b := NewBBR(Config{Clock: SystemClock{}})
	c := &fakeConn{rtt: 0}
	b.Init(c)
	now := time.Unix(1000, 0)
	seq := int32(0)
	var at []time.Time
	arrive := func() {
		now = now.Add(10 * time.Microsecond)
		n := len(c.lossReports)
		b.OnPktReceived(c, seq, 0, now)
		seq++
		if len(c.lossReports) > n {
			at = append(at, now)
		}
	}
	arrive()
	seq += 1000         // a thousand packets lost
	for range 100_000 { // a second of packets 10 µs apart
		arrive()
	}
	if len(at) == 0 || len(at) > rxMaxReports {
		t.Fatalf("%d reports of the same holes; want 1 to %d", len(at), rxMaxReports)
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < time.Millisecond {
			t.Errorf("report %d came %v after the one before; want 1 ms at least", i+1, d)
		}
	}
}

// stepClock is a clock the test moves.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time { return c.now }

// ProbeBW's phases end on rate reports as well as ACKs, since a hole
// holds UDT's ACKs: with no ACK at all, the first report after RTprop
// ends the probe and paces the drain. A peer that floods reports (a
// thousand a millisecond) cannot make a phase shorter than RTprop.
func TestProbePhaseEndsOnReportsNotSooner(t *testing.T) {
	const rtProp = 200 * time.Millisecond
	clk := &stepClock{now: time.Unix(1e9, 0)}
	b := newBBR(Config{Clock: clk}, BBR{mode: ProbeBW, peerQ: true, rtProp: rtProp, cycleIdx: len(bbrCycle) - 1})
	b.btlBw[0], b.rs = 8000, 8000
	b.recent = [3]float64{8000, 8000, 8000}
	b.cycleStart = clk.now.Add(-rtProp - time.Millisecond)
	c := &fakeConn{}
	report := func() { rateReportOn(b, c, 400, 50000, 100) } // 8,000 packets/s, a 0.1 ms queue
	report()
	if b.cycleIdx != 0 || c.period == 0 {
		t.Fatalf("after the last level phase and a report: phase %d, period %.1f µs; want the probe (0) paced", b.cycleIdx, c.period)
	}
	probe := c.period
	start := clk.now
	for clk.now.Sub(start) < rtProp {
		for range 1000 {
			report()
		}
		if b.cycleIdx != 0 {
			t.Fatalf("the probe ended %v in, after a flood of reports; want one RTprop, %v", clk.now.Sub(start), rtProp)
		}
		clk.now = clk.now.Add(time.Millisecond)
	}
	clk.now = clk.now.Add(time.Millisecond)
	report()
	if b.cycleIdx != 1 {
		t.Fatalf("a report %v into the probe left phase %d; want the drain, 1", clk.now.Sub(start), b.cycleIdx)
	}
	if want := probe * 1.25 / 0.75; math.Abs(c.period-want) > want*0.01 {
		t.Errorf("the drain paced at a period of %.1f µs; want %.1f (0.75 where the probe was 1.25)", c.period, want)
	}
}

// Drain ends on the report that shows Startup's queue gone, without
// waiting for an ACK (the overshoot's holes hold them), and keeps
// Startup's window until then, as BBR's does.
func TestDrainEndsOnTheReportAndKeepsTheWindow(t *testing.T) {
	clk := &stepClock{now: time.Unix(1e9, 0)}
	b := newBBR(Config{Clock: clk}, BBR{rtProp: 200 * time.Millisecond})
	b.btlBw[0] = 8000
	c := &fakeConn{}
	report := func(q int32) { rateReportOn(b, c, 400, 50000, q) }
	report(60000) // 60 ms at RTprop 200 ms: Startup's queue
	if b.mode != Drain {
		t.Fatalf("mode %v after a 60 ms queue; want Drain", b.mode)
	}
	bdp := 8000 * 0.2
	if want := b.cfg.StartupGain * bdp; c.cwnd < want {
		t.Errorf("window %.0f packets in Drain; want Startup's %.0f at least", c.cwnd, want)
	}
	report(30000)
	if b.mode != Drain {
		t.Fatalf("mode %v with 30 ms still queued; want Drain", b.mode)
	}
	report(200)
	if b.mode != ProbeBW {
		t.Fatalf("mode %v after a report of the queue gone; want ProbeBW", b.mode)
	}
	if gain := 1e6 / c.period / 8000 * 16 / 15; gain < 0.74 {
		t.Errorf("paced at %.2f of BtlBw after Drain; want ProbeBW's gains, 0.75 and up", gain)
	}
}

// RTprop is confirmed, and ProbeRTT put off, only by a sample within the
// samples' error of it: a peer that reports no queue at all cannot keep
// an RTprop that its samples no longer come near.
func TestRTpropConfirmedOnlyNearIt(t *testing.T) {
	const rtProp = 200 * time.Millisecond
	b := newBBR(Config{}, BBR{rtProp: rtProp, peerQ: true, q: 0})
	if !b.confirms(rtProp + 9*time.Millisecond) {
		t.Errorf("a sample 9 ms above RTprop %v, with no queue, did not confirm it", rtProp)
	}
	if b.confirms(rtProp + 11*time.Millisecond) {
		t.Errorf("a sample 11 ms above RTprop %v confirmed it; want 10 ms at most", rtProp)
	}
	b.q = 15 * time.Millisecond
	if b.confirms(rtProp) {
		t.Errorf("a sample at RTprop confirmed it with a 15 ms queue reported")
	}
	short := newBBR(Config{}, BBR{rtProp: time.Millisecond, peerQ: true})
	if short.confirms(time.Millisecond + 100*time.Microsecond) {
		t.Errorf("on a 1 ms path a sample 100 µs above confirmed it; want RTprop/16")
	}
	plain := newBBR(Config{}, BBR{rtProp: rtProp})
	if plain.confirms(rtProp + time.Millisecond) {
		t.Errorf("without the receiving end's queue a sample above RTprop confirmed it")
	}
}
