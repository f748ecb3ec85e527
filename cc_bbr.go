package udt

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// BBRConfig tunes BBR; the zero value of each field picks the default in
// its comment.
type BBRConfig struct {
	// StartupGain multiplies the bottleneck estimate while the model is
	// still finding the link (default 2/ln 2 = 2.885: doubles the rate
	// every round trip).
	StartupGain float64
	// CWndGain is the window, in bandwidth-delay products (default 4; see
	// BBR's doc for why UDT needs more than BBR's 2).
	CWndGain float64
	// ProbeRTTInterval is how long the minimum RTT may go without a new
	// sample before the controller drains the queue to measure it (default
	// 10 s).
	ProbeRTTInterval time.Duration
	// NoReport turns off the receiving end's repeated loss reports.
	NoReport bool
}

// BBR returns a loss-tolerant, model-based controller written in Go on
// top of Controller, from the published description of BBR (Cardwell et
// al., "BBR: Congestion-Based Congestion Control", ACM Queue 14(5), 2016,
// and the IETF draft draft-cardwell-iccrg-bbr-congestion-control). Set it
// on both ends: the sending end runs the model, the receiving end repairs
// what UDT 4.11's receiver no longer does (below).
//
// The model. The bottleneck bandwidth BtlBw is the largest delivery rate
// seen over the last 10 round trips, where a sample is the receiver's
// packet arrival rate that its ACKs carry (CC.RcvRate; a median over
// arrivals, which a lost packet barely moves). The propagation delay RTprop
// is the smallest RTT seen over ProbeRTTInterval. The controller paces at
// gain × BtlBw (CC.SetPktSndPeriod) and caps the window at CWndGain × BtlBw
// × RTprop. Loss is not a congestion signal: on a long path random loss is
// indistinguishable from a full queue to a loss-based controller, which is
// why UDT's native control and TCP CUBIC carry a few percent of such a
// link. The queue is bounded by the model instead: in steady state the
// average pacing gain is 1.
//
// The phases, as in the paper: Startup paces at StartupGain × BtlBw until
// BtlBw grows less than 25 % in three rounds; Drain paces at 1/StartupGain
// for one round to empty the queue Startup built; ProbeBW cycles the gain
// through 1.25, 0.75, then six rounds of 1, each for one RTprop, to find
// more bandwidth and give back the queue the probe built; ProbeRTT, when
// RTprop has gone ProbeRTTInterval without a new minimum, holds the window
// at half a BDP (BBRv2's gentler ProbeRTT) for 200 ms and one round.
//
// The window. UDT counts packets in flight from the oldest unacknowledged
// one, so a hole waiting for its retransmission holds back everything sent
// after it; at 1 % loss a hole lasts one to three round trips. A window of
// BBR's 2 BDP would stall on every hole, so CWndGain is 4.
//
// Loss repair. UDT 4.11's receiver reports each loss once, when it sees
// the gap; its periodic report is compiled out. A lost retransmission or a
// lost report then waits for the sender's timeout, which fires only after
// the window is full and then resends everything unacknowledged: at 1 %
// loss on a 100 ms path that holds goodput near 60 % whatever the rate
// (UDT4-FACTS section 9). On the receiving end the controller therefore
// keeps its own list of missing packets (OnPktReceived) and reports again
// those still missing 1.25 RTT + 10 ms after the previous report, as UDT's
// protocol description has the receiver do (CtrlLossReport). Against a
// peer without it (the C++ library, another class) the model still runs.
func BBR(cfg BBRConfig) CongestionControl {
	if cfg.StartupGain <= 0 {
		cfg.StartupGain = 2 / math.Ln2
	}
	if cfg.CWndGain <= 0 {
		cfg.CWndGain = 4
	}
	if cfg.ProbeRTTInterval <= 0 {
		cfg.ProbeRTTInterval = 10 * time.Second
	}
	hooks := HookPktReceived
	if cfg.NoReport {
		hooks = 0
	}
	return CongestionControl{Kind: CCGo, Go: &GoController{
		Name:  "bbr",
		New:   func() Controller { return &bbr{cfg: cfg} },
		Hooks: hooks,
	}}
}

type bbrMode int

const (
	bbrStartup bbrMode = iota
	bbrDrain
	bbrProbeBW
	bbrProbeRTT
)

var bbrCycle = [...]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

type bbr struct {
	ControllerBase
	cfg BBRConfig

	// sending end: the model
	mode       bbrMode
	btlBw      [10]float64 // max filter: the best sample of each of the last 10 rounds, packets/s
	round      int64
	roundEnd   int32 // the round ends when an ACK passes this sequence number
	roundStart time.Time
	roundAck   int32
	rtProp     time.Duration
	rtStamp    time.Time
	fullBw     float64
	fullRounds int
	cycleIdx   int
	cycleStart time.Time
	probeEnd   time.Time
	probeRound int64
	modeRound  int64

	// receiving end: what is missing, and when it was last reported
	rx rxLoss
}

func (b *bbr) Init(cc *CC) {
	b.rtProp = 0
	b.roundEnd = cc.SndCurrSeqNo()
	// Start from UDT's own slow-start pace: a packet per 10 µs until the
	// first ACK gives a rate to model.
	cc.SetCWnd(16)
	cc.SetPktSndPeriod(10)
	b.rx.init()
}

func (b *bbr) bw() float64 {
	m := 0.0
	for _, v := range b.btlBw {
		m = max(m, v)
	}
	return m
}

func (b *bbr) OnACK(cc *CC, ack int32) {
	now := time.Now()
	// UDT's RTT starts at a guessed 100 ms and is smoothed twice (by the
	// receiver, then here), so the first rounds take it as it is.
	if rtt := time.Duration(cc.RTT()) * time.Microsecond; rtt > 0 {
		expired := b.rtProp > 0 && now.Sub(b.rtStamp) > b.cfg.ProbeRTTInterval
		if b.round < 3 || b.rtProp == 0 || rtt <= b.rtProp || expired {
			b.rtProp, b.rtStamp = rtt, now
		}
		if expired && b.mode == bbrProbeBW {
			b.enterProbeRTT(now)
		}
	}
	// Packet-timed rounds: a round ends when everything sent at its start
	// is acknowledged.
	newRound := seqCmp(ack, b.roundEnd) > 0
	if newRound {
		// In Startup the receiver's rate, smoothed from a guessed 16
		// packets/s, lags far behind; what the round delivered does not,
		// and there are few holes yet to make it bursty.
		var sample float64
		if b.mode == bbrStartup && !b.roundStart.IsZero() {
			if d := now.Sub(b.roundStart).Seconds(); d > 0 {
				sample = float64(seqLen(b.roundAck, ack)) / d
			}
		}
		b.round++
		b.roundEnd, b.roundStart, b.roundAck = cc.SndCurrSeqNo(), now, ack
		b.btlBw[b.round%int64(len(b.btlBw))] = sample
	}
	if r := float64(cc.RcvRate()); r > 0 {
		i := b.round % int64(len(b.btlBw))
		b.btlBw[i] = max(b.btlBw[i], r)
	}
	bw := b.bw()
	if bw <= 0 {
		// No delivery rate yet: grow as UDT's slow start would.
		cc.SetCWnd(min(cc.CWnd()+float64(seqLen(b.lastAck(cc), ack)), cc.MaxCWnd()))
		return
	}
	switch b.mode {
	case bbrStartup:
		if newRound {
			if bw >= b.fullBw*1.25 {
				b.fullBw, b.fullRounds = bw, 0
			} else if b.fullRounds++; b.fullRounds >= 3 {
				b.mode, b.modeRound = bbrDrain, b.round
			}
		}
	case bbrDrain:
		if b.round > b.modeRound {
			b.enterProbeBW(now)
		}
	case bbrProbeBW:
		if b.rtProp > 0 && now.Sub(b.cycleStart) > b.rtProp {
			b.cycleIdx = (b.cycleIdx + 1) % len(bbrCycle)
			b.cycleStart = now
		}
	case bbrProbeRTT:
		if b.probeRound == 0 && now.After(b.probeEnd) {
			b.probeRound = b.round + 1
		}
		if b.probeRound != 0 && b.round >= b.probeRound {
			b.rtStamp = now
			b.enterProbeBW(now)
		}
	}
	b.apply(cc, bw)
}

func (b *bbr) lastAck(cc *CC) int32 {
	if a, ok := cc.LastACK(); ok {
		return a
	}
	return cc.SndCurrSeqNo()
}

func (b *bbr) enterProbeBW(now time.Time) {
	b.mode = bbrProbeBW
	// Any phase but the draining one, so flows that start together do not
	// probe in step.
	b.cycleIdx = rand.IntN(len(bbrCycle))
	if b.cycleIdx == 1 {
		b.cycleIdx = 2
	}
	b.cycleStart = now
}

func (b *bbr) enterProbeRTT(now time.Time) {
	b.mode = bbrProbeRTT
	b.probeEnd = now.Add(200 * time.Millisecond)
	b.probeRound = 0
}

// apply turns the model into UDT's two levers.
func (b *bbr) apply(cc *CC, bw float64) {
	gain, cwndGain := 1.0, b.cfg.CWndGain
	switch b.mode {
	case bbrStartup:
		gain = b.cfg.StartupGain
		cwndGain = max(cwndGain, b.cfg.StartupGain)
	case bbrDrain:
		gain = 1 / b.cfg.StartupGain
	case bbrProbeBW:
		gain = bbrCycle[b.cycleIdx]
	}
	cc.SetPktSndPeriod(1e6 / (gain * bw))
	bdp := bw * b.rtProp.Seconds()
	cwnd := max(cwndGain*bdp, 32)
	if b.mode == bbrProbeRTT {
		cwnd = max(bdp/2, 4)
	}
	cc.SetCWnd(min(cwnd, cc.MaxCWnd()))
}

func (b *bbr) OnPktReceived(cc *CC, p *Packet) {
	if !b.cfg.NoReport {
		b.rx.received(cc, p.Seq)
	}
}

// rxLoss is the receiving end's list of missing packets.
type rxLoss struct {
	started  bool
	maxSeq   int32
	missing  map[int32]rxHole
	nextScan time.Time
	buf      []int32
	order    []int32
}

type rxHole struct {
	reported time.Time
	times    int
}

// Give up on a packet after this many reports: a message dropped by its
// TTL never arrives, and the sender ignores reports of what it dropped.
const rxMaxReports = 16

func (r *rxLoss) init() { r.missing = make(map[int32]rxHole) }

func (r *rxLoss) received(cc *CC, seq int32) {
	now := time.Now()
	switch {
	case !r.started:
		r.started, r.maxSeq = true, seq
	case seqCmp(seq, r.maxSeq) > 0:
		// UDT reports this gap itself, now.
		for s := seqInc(r.maxSeq); s != seq && len(r.missing) < 1<<16; s = seqInc(s) {
			r.missing[s] = rxHole{reported: now}
		}
		r.maxSeq = seq
	default:
		delete(r.missing, seq)
	}
	if len(r.missing) == 0 || now.Before(r.nextScan) {
		return
	}
	r.nextScan = now.Add(10 * time.Millisecond)
	rtt := time.Duration(cc.RTT()) * time.Microsecond
	wait := rtt + rtt/4 + 10*time.Millisecond
	r.order = r.order[:0]
	for s, h := range r.missing {
		if now.Sub(h.reported) < wait {
			continue
		}
		if h.times >= rxMaxReports {
			delete(r.missing, s)
			continue
		}
		r.order = append(r.order, s)
	}
	if len(r.order) == 0 {
		return
	}
	sort.Slice(r.order, func(i, j int) bool { return seqCmp(r.order[i], r.order[j]) < 0 })
	// Encode ranges as UDT does; one packet holds MSS/4 - 16 words.
	maxWords := cc.MSS()/4 - 16
	r.buf = r.buf[:0]
	for i := 0; i < len(r.order); {
		j := i
		for j+1 < len(r.order) && r.order[j+1] == seqInc(r.order[j]) {
			j++
		}
		if len(r.buf)+2 > maxWords {
			break
		}
		if i == j {
			r.buf = append(r.buf, r.order[i])
		} else {
			r.buf = append(r.buf, r.order[i]|-0x80000000, r.order[j])
		}
		for k := i; k <= j; k++ {
			h := r.missing[r.order[k]]
			r.missing[r.order[k]] = rxHole{reported: now, times: h.times + 1}
		}
		i = j + 1
	}
	_ = cc.SendCustomMsg(CtrlLossReport, 0, r.buf)
}

// UDT's sequence numbers are 31 bits and wrap.
const seqMax = 0x7FFFFFFF

func seqInc(s int32) int32 {
	if s == seqMax {
		return 0
	}
	return s + 1
}

// seqCmp orders a and b on the wrapping sequence space.
func seqCmp(a, b int32) int32 {
	if d := a - b; d < 0x3FFFFFFF && d > -0x3FFFFFFF {
		return d
	}
	return b - a
}

// seqLen counts from a to b, inclusive of a, exclusive of b.
func seqLen(a, b int32) int32 {
	if a <= b {
		return b - a
	}
	return b - a + seqMax + 1
}
