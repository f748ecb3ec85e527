package congestion

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"
)

// Config tunes BBR; the zero value of each field picks the default in its
// comment.
type Config struct {
	// StartupGain multiplies the bottleneck estimate while the model is
	// still finding the link (default 2/ln 2 = 2.885: doubles the rate
	// every round trip).
	StartupGain float64
	// CWndGain is the window, in bandwidth-delay products, while packets
	// go missing (default 4).
	CWndGain float64
	// ProbeRTTInterval is how long the minimum RTT may go without a new
	// sample before the controller drains the queue to measure it (default
	// 10 s).
	ProbeRTTInterval time.Duration
	// NoReport turns off the receiving end's repeated loss reports.
	NoReport bool
	// ACKInterval is the receiving end's ACK interval, packets, while
	// packets arrive in bursts (default 8; negative: UDT's timer alone).
	// See ackEvery.
	ACKInterval int
	// Clock tells the time (default: the system's).
	Clock Clock
	// Rand picks ProbeBW's first phase (default: math/rand/v2's global
	// source); a seeded one makes a simulation repeat itself.
	Rand *rand.Rand
}

func (cfg Config) withDefaults() Config {
	if cfg.StartupGain <= 0 {
		cfg.StartupGain = 2 / math.Ln2
	}
	if cfg.CWndGain <= 0 {
		cfg.CWndGain = 4
	}
	if cfg.ProbeRTTInterval <= 0 {
		cfg.ProbeRTTInterval = 10 * time.Second
	}
	if cfg.ACKInterval == 0 {
		cfg.ACKInterval = 8
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	return cfg
}

// NewBBR returns the controller of one connection, for either end: the
// sending end runs the model (Init, OnACK, OnLoss, OnCustomMsg), the
// receiving end reports delivery rates, the queue and losses
// (OnPktReceived). udt.BBR documents the design.
func NewBBR(cfg Config) *BBR {
	return &BBR{cfg: cfg.withDefaults()}
}

// Mode is BBR's state.
type Mode int

// BBR's states, in the order a connection meets them.
const (
	Startup Mode = iota
	Drain
	ProbeBW
	ProbeRTT
)

func (m Mode) String() string {
	switch m {
	case Startup:
		return "Startup"
	case Drain:
		return "Drain"
	case ProbeBW:
		return "ProbeBW"
	case ProbeRTT:
		return "ProbeRTT"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// State is what the model holds at a moment, for tests and reports.
type State struct {
	Mode Mode
	// Gain is ProbeBW's phase gain (1.25, 0.75, then 1 for six phases).
	Gain   float64
	BtlBw  float64 // packets per second
	RTprop time.Duration
	// Queue is the latest queue the receiving end reported (0 without
	// reports).
	Queue time.Duration
	// AppLimited: the application, not the path, limits the flow now, and
	// its delivery rate does not lower BtlBw.
	AppLimited bool
}

// State returns the model's state now.
func (b *BBR) State() State {
	return State{Mode: b.mode, Gain: bbrCycle[b.cycleIdx], BtlBw: b.bw(), RTprop: b.rtProp, Queue: b.q, AppLimited: b.appLimited}
}

var bbrCycle = [...]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

// bbrCruise is the gain of ProbeBW's six level phases. BtlBw is the link's
// rate to within a fraction of a percent, and at exactly that rate the
// queue the probes leave behind (phases end on ACKs and rate reports,
// so a probe and its drain differ by a few milliseconds) wanders and
// stays: 2-3 ms at the WAN lab's 100 Mbit/s, 100 ms bottleneck, against
// TCP BBR's 1. One
// percent under it the queue drains between probes, for the same goodput
// within the lab's noise. Only on paths of bbrCruiseMinRTT and more: on a
// shorter one a probe lasts less than two of the 20 ms rate reports, and a
// BtlBw sample is the median of three, so BtlBw is what the level phases
// deliver, and at 0.99 it sank by a percent per filter span (97 to 85
// Mbit/s in ten seconds at 1 ms).
const (
	bbrCruise       = 0.99
	bbrCruiseMinRTT = 40 * time.Millisecond
)

// bbrMinCWnd is the smallest window outside ProbeRTT: two of UDT's light
// ACK intervals (64 packets). UDT 4.11's receiver checks its ACK timer
// only when a packet arrives, or on a sweep every 100 ms: a window that
// is sent in one burst of fewer than 64 packets gets no ACK until that
// sweep. With a floor of 32, one start in five on loopback sent 32
// packets per 100 ms, ended Startup there, and never grew again (udt perf
// --loopback --cc bbr: 20 Mbit/s); none in 34 with this one.
const bbrMinCWnd = 2 * 64

// bbrSlotMin is the shortest slot of the BtlBw max filter: three of the
// receiving end's rate windows (20 ms at least each). With a slot per
// round, on loopback (a round is one ACK apart, about a millisecond) ten
// slots held less than one report, the filter kept no maximum, and the
// sender, which paces a little under what it is told there, saw its BtlBw
// fall report by report: from 3 Gbit/s to 200 Mbit/s in ten seconds.
const bbrSlotMin = 60 * time.Millisecond

// BBR is the controller of one connection (udt.BBR documents it). Its
// methods are called one at a time.
type BBR struct {
	cfg Config

	// sending end: the model
	mode       Mode
	btlBw      [10]float64 // max filter: the best sample of each of the last 10 slots, packets/s
	slot       int64       // the filter's: a round, bbrSlotMin at least
	slotAt     time.Time
	round      int64
	roundEnd   int32 // the round ends when an ACK passes this sequence number
	roundStart time.Time
	roundAck   int32
	lossSeen   bool
	lossAt     time.Time  // the latest loss report
	peerRates  bool       // the receiving end reports delivery rates
	recent     [3]float64 // the last three rate reports
	prevAck    int32
	acked      bool
	paceHist   [2]float64 // the highest pacing rate of this round and the last, packets/s
	marks      markRing
	start      time.Time
	markSeq    int32
	markAt     time.Time
	rtProp     time.Duration
	rtStamp    time.Time
	fullBw     float64
	fullRounds int
	fullAt     time.Time
	cycleIdx   int
	cycleStart time.Time
	probeAt    time.Time     // the latest 1.25 phase's start
	probeQ     bool          // a queue stood when it started (queued)
	probeQd    time.Duration // the queue reported then
	probeEnd   time.Time
	probeRound int64
	probeMin   time.Duration
	modeRound  int64
	pace       float64 // the pacing rate apply set last, packets/s
	appLimited bool    // the application, not the path, limits what is sent
	appUntil   int32   // ... up to this sequence number at least

	// the queue the receiving end measures (owdFilter)
	peerQ  bool          // its reports carry the queue
	q      time.Duration // the latest report's
	rs     float64       // the steady rate, packets/s
	qLowAt time.Time

	// receiving end: what is missing, and when it was last reported
	rx rxLoss

	firstSeq int32   // the first packet this end sends
	holes    holeSet // reported lost, not acknowledged since
}

// Init is called when the connection starts, on either end.
func (b *BBR) Init(c Conn) {
	b.roundEnd = c.SndCurrSeqNo()
	b.markSeq = b.roundEnd
	b.firstSeq = SeqInc(b.roundEnd)
	// Start from UDT's own slow-start pace: a packet per 10 µs until the
	// first ACK gives a rate to model.
	c.SetCWnd(16)
	c.SetPktSndPeriod(10)
	b.pace = 1e5
	b.rx.init()
	if b.cfg.ACKInterval > 0 {
		c.SetACKInterval(b.cfg.ACKInterval)
		b.rx.ackSet = b.cfg.ACKInterval
	}
}

func (b *BBR) bw() float64 {
	m := 0.0
	for _, v := range b.btlBw {
		m = max(m, v)
	}
	return m
}

// OnACK is the sending end's: an ACK moved the acknowledged sequence
// number to ack.
func (b *BBR) OnACK(c Conn, ack int32) {
	now := b.cfg.Clock.Now()
	prev := b.prevAck
	if !b.acked {
		prev = b.roundEnd
	}
	b.prevAck, b.acked = ack, true
	b.holes.acked(ack)
	if b.start.IsZero() {
		b.start = now
	}
	b.sampleRTT(c, ack, now)
	b.checkAppLimited(c, prev, ack)
	// UDT's RTT is a candidate too once its smoothing has forgotten the
	// 100 ms guess (which under load takes seconds): at loss from the
	// start, every own sample may wait on a hole, and UDT's (ACK to ACK2)
	// never does.
	// It confirms RTprop as an own sample does (confirms): at loss, the
	// own samples that no hole delays are few.
	if rtt := time.Duration(c.RTT()) * time.Microsecond; rtt > 0 && now.Sub(b.start) > 4*time.Second && b.round >= 20 {
		if b.rtProp == 0 || rtt < b.rtProp {
			b.rtProp, b.rtStamp = rtt, now
		} else if b.confirms(rtt) {
			b.rtStamp = now
		}
	}
	// Packet-timed rounds: a round ends when everything sent at its start
	// is acknowledged.
	newRound := SeqCmp(ack, b.roundEnd) > 0
	if newRound {
		// Until the first loss report or rate report, what a round
		// delivered is the only rate at hand: UDT's receive rate is
		// smoothed from a guessed 16 packets/s. After a loss, holes make
		// the cumulative ACK bursty (a round may acknowledge one and a
		// half), so this sample stops.
		var sample float64
		if b.mode == Startup && !b.roundStart.IsZero() && !b.lossSeen && !b.peerRates {
			if d := now.Sub(b.roundStart).Seconds(); d > 0 {
				sample = min(float64(SeqLen(b.roundAck, ack))/d, b.paceMax())
			}
		}
		b.round++
		b.roundEnd, b.roundStart, b.roundAck = c.SndCurrSeqNo(), now, ack
		b.paceHist[b.round%2] = 0
		if b.takes(sample) {
			b.roundSample(now, sample)
		}
	}
	// Without rate reports from the receiving end for two seconds (a peer
	// without this controller), UDT's receive rate: a median over 16 arrivals, which a
	// burst (a descheduled receiver or router catching up) inflates
	// several times. A delivery rate above what was sent is such an
	// artefact; BBR bounds its samples by the send rate the same way.
	if r := float64(c.RcvRate()); r > 0 && !b.peerRates && now.Sub(b.start) > 2*time.Second {
		if pm := b.paceMax(); pm > 0 {
			r = min(r, pm)
		}
		b.addSample(r)
	}
	bw := b.bw()
	if bw <= 0 || b.rtProp == 0 {
		// No delivery rate yet: grow as UDT's slow start would.
		c.SetCWnd(min(c.CWnd()+float64(SeqLen(prev, ack)), c.MaxCWnd()))
		return
	}
	if b.rtProp > 0 && now.Sub(b.rtStamp) > b.cfg.ProbeRTTInterval && b.mode == ProbeBW {
		b.enterProbeRTT(now)
	}
	switch b.mode {
	case Startup:
		// Three rounds without 25 % more bandwidth end Startup; a round
		// counts here only once it spans two rate reports (20 ms each at
		// least), or on a short path rounds of one ACK period would end it
		// before any report could show growth.
		// A round the application limited says nothing of the link.
		if newRound && !b.appLimited && now.Sub(b.fullAt) >= 40*time.Millisecond {
			b.fullAt = now
			if bw >= b.fullBw*1.25 {
				b.fullBw, b.fullRounds = bw, 0
			} else if b.fullRounds++; b.fullRounds >= 3 {
				b.mode, b.modeRound = Drain, b.round
			}
		}
	case Drain:
		// Until the queue Startup built is gone, at most three rounds.
		if !b.queued(c) || b.round > b.modeRound+3 {
			b.enterProbeBW(now)
		}
	case ProbeBW:
		b.cycle(c, now)
	case ProbeRTT:
		if b.probeRound == 0 && now.After(b.probeEnd) {
			b.probeRound = b.round + 1
		}
		if b.probeRound != 0 && b.round >= b.probeRound {
			// The path's delay now is what the drained queue showed.
			if b.probeMin > 0 {
				b.rtProp = b.probeMin
			}
			b.rtStamp = now
			b.enterProbeBW(now)
		}
	}
	b.apply(c, bw)
}

// checkAppLimited decides, at an ACK that moved the acknowledged number
// from prev to ack, whether the application limits the flow: BBR's rule
// that a delivery rate measured while the sender had nothing to send
// describes the application, not the path, and may raise the bandwidth
// estimate but never lower it, nor end Startup. A request/response
// connection otherwise measures the pace of its calls, and then paces
// each call's packets at it (on a 100 ms path, six packets took 70 ms
// more than the one-way delay).
//
// UDT does not tell a controller whether its send buffer is empty; what
// was in flight before this ACK does: a sender with data to send keeps
// in flight what its pace allows in a round trip, or its window, whichever
// is less. Under half of both, it had nothing more to send. Everything
// sent until then is application-limited, and the flag holds until an
// ACK passes it with the sender busy again, as in BBR (a call's packets
// that one ACK acknowledges in part are still the call's).
func (b *BBR) checkAppLimited(c Conn, prev, ack int32) {
	if b.rtProp == 0 || b.pace <= 0 {
		return
	}
	curr := c.SndCurrSeqNo()
	inflight := float64(SeqLen(prev, SeqInc(curr)))
	if inflight < min(b.pace*b.rtProp.Seconds(), c.CWnd())/2 || b.mode == ProbeRTT {
		b.appLimited, b.appUntil = true, curr
		return
	}
	if b.appLimited && SeqCmp(ack, b.appUntil) > 0 {
		b.appLimited = false
	}
}

// cycle moves ProbeBW through its gain phases; it reports whether the
// phase changed. It runs on each ACK and on each rate report with the
// queue: a lost packet holds UDT's ACKs until its retransmission arrives,
// and a probe that waited for the next ACK ran on at 1.25 for twice its
// RTprop (a 114 ms queue on a 200 ms path, which the window then held).
func (b *BBR) cycle(c Conn, now time.Time) bool {
	// Each phase lasts one RTprop, as in BBR: the draining one (0.75)
	// gives back what the probe (1.25) queued, and the small queue
	// that stood before the probe too, in four times its length
	// (phases end on ACKs, 10 ms apart, or reports, so each pair leaves
	// a few milliseconds either way, which would otherwise add up). If a
	// larger queue stood (other flows'), the draining phase goes on
	// until the queue is gone, at most three RTprop; not otherwise,
	// since the report that shows the queue gone is a round trip
	// late, and waiting for it left the link a quarter idle for that
	// round trip (3 % of the goodput of a lone flow on a 100 ms path).
	// BBR's own test, what is in flight against one BDP, fails in UDT,
	// which counts every packet past the oldest hole as in flight: at
	// 1 % loss that is always more.
	d, need := now.Sub(b.cycleStart), b.rtProp
	if bbrCycle[b.cycleIdx] < 1 {
		need += min(4*b.probeQd, b.rtProp)
	}
	if d > need && (bbrCycle[b.cycleIdx] >= 1 || !b.probeQ || !b.queued(c) || d > 3*b.rtProp) {
		b.cycleIdx = (b.cycleIdx + 1) % len(bbrCycle)
		b.cycleStart = now
		if b.cycleIdx == 0 {
			b.probeAt, b.probeQ, b.probeQd = now, b.queued(c), 0
			if b.peerQ {
				b.probeQd = b.q
			}
		}
		return true
	}
	return false
}

// takes reports whether a delivery rate sample v counts: one taken while
// the application limited the flow may raise BtlBw, not lower it.
func (b *BBR) takes(v float64) bool { return !b.appLimited || v > b.bw() }

// addSample puts delivery rate sample v into the current slot of the
// BtlBw max filter, if it counts.
func (b *BBR) addSample(v float64) {
	if b.takes(v) {
		i := b.slot % int64(len(b.btlBw))
		b.btlBw[i] = max(b.btlBw[i], v)
	}
}

// roundSample ends a round in the BtlBw max filter with the round's own
// sample. A slot of the filter is a round, but no shorter than bbrSlotMin,
// so the filter spans several rate reports even where a round is one ACK
// apart.
func (b *BBR) roundSample(now time.Time, sample float64) {
	if b.slotAt.IsZero() || now.Sub(b.slotAt) >= bbrSlotMin {
		b.slot++
		b.slotAt = now
		b.btlBw[b.slot%int64(len(b.btlBw))] = sample
		return
	}
	i := b.slot % int64(len(b.btlBw))
	b.btlBw[i] = max(b.btlBw[i], sample)
}

// sampleRTT measures round trips itself: UDT's RTT starts at a guessed
// 100 ms and is smoothed twice (by the receiver, then here), so a minimum
// over it keeps the guess on a longer path and a queue's delay long after
// the queue is gone. At each ACK the controller notes the newest sequence
// number sent, if it is newer than at the previous ACK, at most 15 ms ago
// (so the packet left between the two); the first ACK past it closes the
// sample. Samples err by up to 10 ms either way (when the packet left
// between two ACKs, when the receiver's ACK timer acknowledged it); the
// minimum filter keeps the low ones.
func (b *BBR) sampleRTT(c Conn, ack int32, now time.Time) {
	var newest time.Time
	for b.marks.len() > 0 {
		m := b.marks.front()
		if SeqCmp(m.seq, ack) >= 0 {
			break
		}
		newest = m.at
		b.marks.pop()
	}
	if !newest.IsZero() {
		rtt := now.Sub(newest)
		if b.rtProp == 0 || rtt <= b.rtProp {
			b.rtProp, b.rtStamp = rtt, now
		} else if b.confirms(rtt) {
			b.rtStamp = now
		}
		if b.mode == ProbeRTT && (b.probeMin == 0 || rtt < b.probeMin) {
			b.probeMin = rtt
		}
	}
	// cur left between the previous ACK and this one; only a short gap
	// pins its time (a sender that sat idle or blocked sent it long ago).
	if cur := c.SndCurrSeqNo(); cur != b.markSeq && !b.markAt.IsZero() && now.Sub(b.markAt) <= 15*time.Millisecond {
		b.marks.push(seqMark{seq: cur, at: b.markAt.Add(now.Sub(b.markAt) / 2)})
	}
	b.markSeq, b.markAt = c.SndCurrSeqNo(), now
}

// confirms reports whether an RTT sample rtt above RTprop (the
// controller's own, or UDT's) confirms it all the same: within the
// samples' error of it (up to an ACK period late) while the receiving end
// measures no more than that error of queue. ProbeRTT drains the queue
// because BBR cannot tell a standing queue from the path's delay; the
// receiving end's one-way delay can, and a sample taken with the queue
// gone is the path's. A lone flow on a 200 ms path otherwise spent half a
// second at a third of the link every ten seconds (3-4 % of the lab's 8 s
// measure). A queue that stays past the error (CUBIC's) or a path that
// became longer confirms nothing, and ProbeRTT runs as in BBR. The error
// is RTprop/16, at most 10 ms: on a short path, where ProbeRTT costs
// little and samples err by many RTprop, it almost never applies.
func (b *BBR) confirms(rtt time.Duration) bool {
	tol := min(b.rtProp/16, 10*time.Millisecond)
	return b.peerQ && b.q <= tol && rtt <= b.rtProp+tol
}

// queued reports a queue at the bottleneck: UDT's RTT, timed from its ACK
// to the ACK2 answering it, is control traffic that no hole in the data
// delays, unlike the controller's own samples; smoothed, it lags a round.
//
// With the receiving end's reports the queue is measured directly, to
// the tens of microseconds, and it counts from 5/8 of the level at which
// updateSteady's target is BtlBw (at least 1 ms): the draining phase
// leaves the queue below where the steady rate holds it.
func (b *BBR) queued(c Conn) bool {
	if b.peerQ {
		return b.q > max(bbrQueueFloor*2, steadyLevel(b.bw())*5/8)
	}
	rtt := time.Duration(c.RTT()) * time.Microsecond
	return rtt > b.rtProp+b.rtProp/10+5*time.Millisecond
}

// updateSteady moves the steady rate, the pace of ProbeBW's gain-1
// phases and the base its other phases multiply, on each report that
// carries the queue q the receiving end measured. BtlBw, a maximum of
// noisy samples, runs a little above the link, and with more than one
// flow the maxima add up to more than the link (each flow's includes
// what it delivered while probing): pacing every flow at its BtlBw builds
// a queue that never drains.
//
// Every flow through the bottleneck sees the same q, and the steady rate
// heads for bbrQueuePkts / q packets per second: the rate at which the
// flow keeps bbrQueuePkts of its own packets in the queue (Little's law;
// TCP Vegas's rule). That target is the same for every flow, so when the
// queue grows the fastest flows are held first, and shares converge; the
// queue stands at about bbrQueuePkts per flow (15 ms for two flows on a
// 100 Mbit/s link; one flow alone is held by BtlBw and the draining phases
// below its level of 7.7 ms). On a slow link the level is long (150 ms
// for two flows at 10 Mbit/s): past the bottleneck's buffer, the flows
// share as BBR's do. The target lies between BtlBw and 90 % of what
// the flow now delivers (its share of the full link while a queue
// stands, so the queue always drains), and the rate moves a quarter of
// the way to it per report (four per round trip): the report is a round
// trip late, and a faster step would swing the queue between empty and
// full. A queue under bbrQueueFloor, the measure's noise, sets no target.
//
// A queue that stays high for 24 RTprop is not one these flows build,
// since their draining phases take it below their level every cycle: a
// loss-based flow (CUBIC) keeps it full. Yielding to it would leave this
// flow nothing, so the steady rate is BtlBw until the queue next runs low,
// as in BBR.
func (b *BBR) updateSteady(echo bool) {
	bw := b.bw()
	if bw <= 0 {
		return
	}
	target := bw
	now := b.cfg.Clock.Now()
	// "Low": under the level where this flow's target is its BtlBw
	// (the draining phases take a queue of these flows to 5/8 of it),
	// within RTprop/8 and RTprop/4, at least 10 ms.
	low := steadyLevel(bw) * 3 / 4
	if b.qLowAt.IsZero() || b.q <= max(10*time.Millisecond, b.rtProp/8, min(low, b.rtProp/4)) {
		b.qLowAt = now
	}
	if echo {
		return
	}
	if b.q > bbrQueueFloor && now.Sub(b.qLowAt) <= 24*b.rtProp {
		lo := 0.9 * bw
		if d := median3(b.recent); d > 0 {
			lo = 0.9 * min(bw, d)
		}
		target = min(bw, max(lo, bbrQueuePkts/b.q.Seconds()))
	}
	if b.rs <= 0 {
		b.rs = target
	} else {
		b.rs += (target - b.rs) / 4
	}
	b.rs = min(b.rs, bw)
}

// probeEcho reports whether a rate report arriving now may carry the
// queue of this flow's own latest probe: the probe's packets queue over
// the two RTprop of the 1.25 and 0.75 phases, and their reports come back
// from half a round trip after the probe began until three RTprop after.
// Such a queue is gone by the time its report arrives; held against the
// steady rate, it cut a lone flow's pace to 90 % of BtlBw for the round
// trips after every probe.
func (b *BBR) probeEcho(now time.Time) bool {
	if b.probeAt.IsZero() {
		return false
	}
	d := now.Sub(b.probeAt)
	return d >= b.rtProp/2 && d <= 3*b.rtProp
}

// steadyLevel is the queue at which updateSteady's target for a flow with
// bandwidth estimate bw (packets/s) is bw itself.
func steadyLevel(bw float64) time.Duration {
	return time.Duration(bbrQueuePkts / bw * float64(time.Second))
}

// bbrQueuePkts is what each flow keeps queued at the bottleneck, packets,
// when the receiving end measures the queue; bbrQueueFloor is the queue
// the measure cannot tell from none.
const (
	bbrQueuePkts  = 64
	bbrQueueFloor = 500 * time.Microsecond
)

// paceMax is the highest pacing rate of the last round, packets/s (of
// this one before there was a last): what is delivered now was sent a
// round ago, and in Startup the current round's rate rises with every
// sample. In ProbeBW, once this round has lasted one and a half RTprop,
// it is the highest of this round and the last: a round ends when the
// cumulative ACK passes what was sent at its start, so one lost
// retransmission stretches it by a round trip or more, and a probe at
// 1.25 that began in the current round was delivered, measured and
// capped at the last round's level: at 1 % loss a flow that left Startup
// at two thirds of the link stayed at 80 % for 15 s in the simulation
// (200 ms path). Not in rounds of normal length: with both rounds'
// pace at all times, two flows through the lab's 100 ms path took 22-43
// s to share it within 20 %, against 6-14 s (each counted its probes at
// full value, the share it took from the other included).
func (b *BBR) paceMax() float64 {
	if b.mode == ProbeBW && !b.roundStart.IsZero() && b.cfg.Clock.Now().Sub(b.roundStart) > b.rtProp*3/2 {
		return max(b.paceHist[0], b.paceHist[1])
	}
	if v := b.paceHist[(b.round+1)%2]; v > 0 {
		return v
	}
	return b.paceHist[b.round%2]
}

type seqMark struct {
	seq int32
	at  time.Time
}

// markRing is a bounded FIFO of marks; when full the oldest goes.
type markRing struct {
	buf        [512]seqMark
	head, size int
}

func (r *markRing) len() int       { return r.size }
func (r *markRing) front() seqMark { return r.buf[r.head] }
func (r *markRing) pop()           { r.head = (r.head + 1) % len(r.buf); r.size-- }
func (r *markRing) push(m seqMark) {
	if r.size == len(r.buf) {
		r.pop()
	}
	r.buf[(r.head+r.size)%len(r.buf)] = m
	r.size++
}

func (b *BBR) enterProbeBW(now time.Time) {
	b.mode = ProbeBW
	// Any phase but the draining one, so flows that start together do not
	// probe in step.
	if b.cfg.Rand != nil {
		b.cycleIdx = b.cfg.Rand.IntN(len(bbrCycle))
	} else {
		b.cycleIdx = rand.IntN(len(bbrCycle))
	}
	if b.cycleIdx == 1 {
		b.cycleIdx = 2
	}
	b.cycleStart = now
	if b.cycleIdx == 0 {
		b.probeAt, b.probeQ, b.probeQd = now, false, 0
	}
}

func (b *BBR) enterProbeRTT(now time.Time) {
	b.mode = ProbeRTT
	b.probeEnd = now.Add(200 * time.Millisecond)
	b.probeRound = 0
	b.probeMin = 0
}

// apply turns the model into UDT's two levers.
func (b *BBR) apply(c Conn, bw float64) {
	gain, cwndGain := 1.0, b.cfg.CWndGain
	// The window beyond BBR's 2 BDP is for holes waiting on their
	// retransmission: wanted while packets go missing and the queue is
	// short (random loss); not without loss, nor when the queue is long
	// (losses from a full queue, another flow filling it), where the extra
	// window would only hold a larger share of the queue.
	if b.peerQ && (b.cfg.Clock.Now().Sub(b.lossAt) > time.Second || b.q > b.rtProp/4) {
		cwndGain = min(cwndGain, 2)
	}
	switch b.mode {
	case Startup:
		gain = b.cfg.StartupGain
		cwndGain = max(cwndGain, b.cfg.StartupGain)
	case Drain:
		// BBR's Drain keeps Startup's window: with 2 BDP, what Startup
		// left in flight (UDT counts it from the oldest hole) stopped
		// the sender for a tenth of a second on a 200 ms path.
		gain = 1 / b.cfg.StartupGain
		cwndGain = max(cwndGain, b.cfg.StartupGain)
	case ProbeBW:
		gain = bbrCycle[b.cycleIdx]
		if gain == 1 && b.rtProp >= bbrCruiseMinRTT {
			gain = bbrCruise
		}
		switch {
		case b.peerQ && b.rs > 0:
			gain *= min(b.rs, bw) / bw
		case gain == 1 && b.queued(c):
			// Without the receiving end's measure: a queue seen in
			// UDT's RTT drains at 90 % of BtlBw.
			gain = 0.9
		}
	}
	rate := gain * bw
	if b.mode == Startup && b.appLimited && b.rtProp > 0 {
		// A flow that has only ever been application-limited has
		// measured its application, not the link: BBR's Startup never
		// paces slower than its start, its gain times the first window
		// per round trip (here the window's floor), which keeps a
		// call's packets together (at most at UDT's own start, 10 µs
		// apart).
		rate = max(rate, min(b.cfg.StartupGain*bbrMinCWnd/b.rtProp.Seconds(), 1e5))
	}
	// UDT sends every 16th packet right after the one before, as the
	// second of a pair for its bandwidth probe: 16 packets take 15 periods.
	c.SetPktSndPeriod(1e6 / rate * 16 / 15)
	b.pace = rate
	b.paceHist[b.round%2] = max(b.paceHist[b.round%2], rate)
	bdp := bw * b.rtProp.Seconds()
	// UDT's receiver acknowledges every SYN (10 ms) and every 64 packets
	// in between, so up to two SYNs of data wait for an ACK whatever the
	// path: BBR's allowance for ACK aggregation.
	aggr := bw * 2 * float64(c.SYNInterval()) / 1e6
	cwnd := max(cwndGain*bdp+aggr, bbrMinCWnd)
	if b.mode == ProbeRTT {
		cwnd = max(bdp/2+aggr, 4)
	}
	// Holes take places in UDT's window that BBR's inflight does not
	// count (holeSet): they do not hold back new packets, whose arrivals
	// give the receiving end its moments to report a lost retransmission
	// again. In Startup and Drain up to the window of them (the overshoot
	// of a short path's Startup leaves hundreds); later up to the ACK
	// allowance (more took 1-3 % from a 200 ms path at 1 % loss in the
	// simulation).
	extra := aggr
	if b.mode == Startup || b.mode == Drain {
		extra = cwnd
	}
	cwnd += min(float64(b.holes.n), extra)
	c.SetCWnd(min(cwnd, c.MaxCWnd()))
}

// OnLoss is the sending end's: the peer reported packets lost.
func (b *BBR) OnLoss(c Conn, loss []int32) {
	b.lossSeen, b.lossAt = true, b.cfg.Clock.Now()
	lo := b.prevAck
	if !b.acked {
		lo = b.firstSeq
	}
	b.holes.add(loss, lo, c.SndCurrSeqNo())
	if bw := b.bw(); bw > 0 && b.rtProp > 0 {
		b.apply(c, bw)
	}
}

// A rate report: the receiving end's count of data packets that arrived
// over about a quarter of an RTT, the window's length in microseconds and
// the queue that stood through it, in microseconds (CtrlUserDefined,
// extended type RateMsg). A report of two words (an earlier version)
// carries no queue.
const RateMsg = 0x4242

// A tick: an empty control packet the receiving end sends every
// TickEvery while data arrives, for its arrival alone. UDT 4.11 as
// Debian builds it (NO_BUSY_WAITING) paces its sender with a timed wait
// that only its receiving thread cuts short, each time that thread's
// recvfrom returns: on a packet, or on the socket's 100 µs timeout, which
// the kernel rounds up to a jiffy (4 ms at HZ=250). A sender that wakes
// late sends what it owes back to back, so without traffic towards it
// UDT sends in bursts of up to 4 ms, and the bottleneck's queue swings by
// as much (a median of 5-6 ms in the WAN lab, native control or this
// one). ACKs do not serve: the receiver holds them back while a hole
// keeps the acknowledged number still, which at 1 % loss is most of the
// time. The sender ignores the tick.
const (
	TickMsg   = 0x4243
	TickEvery = time.Millisecond
)

// OnCustomMsg is the sending end's: the peer's controller sent a control
// packet of type typ and extended type ext carrying data (UDT has turned
// its words back to host order).
func (b *BBR) OnCustomMsg(c Conn, typ, ext int, data []byte) {
	if typ != CtrlUserDefined || ext != RateMsg || len(data) < 8 {
		return
	}
	// Two host-order words on the wire in network order: UDT swapped them
	// back on arrival.
	pkts := int32(binary.NativeEndian.Uint32(data[0:]))
	us := int32(binary.NativeEndian.Uint32(data[4:]))
	if pkts <= 0 || us <= 0 {
		return
	}
	b.peerRates = true
	if len(data) >= 12 {
		b.q, b.peerQ = time.Duration(int32(binary.NativeEndian.Uint32(data[8:])))*time.Microsecond, true
	}
	r := float64(pkts) / (float64(us) / 1e6)
	if pm := b.paceMax(); pm > 0 {
		r = min(r, pm)
	}
	// A sample is the median of the last three reports: a burst that a
	// stalled hop releases at once inflates one report, and the max
	// filter would keep it ten rounds. (A round may hold fewer than three
	// reports: on a short path a round is one ACK period, 10 ms.)
	b.recent = [3]float64{b.recent[1], b.recent[2], r}
	v := median3(b.recent)
	if v == 0 {
		v = r // the first reports: something to start from
	}
	b.addSample(v)
	switch {
	case b.mode == ProbeBW && b.peerQ:
		now := b.cfg.Clock.Now()
		b.updateSteady(b.probeEcho(now))
		if b.cycle(c, now) {
			b.apply(c, b.bw())
		}
	case b.mode == Startup && b.peerQ && b.rtProp > 0 && b.q > max(b.rtProp/4, 2*time.Millisecond):
		// The queue Startup builds shows the link is full before the
		// bandwidth samples stop growing (they lag a round trip and
		// three rounds): without this, Startup overfills a queue of one
		// BDP and loses thousands of packets. The pace drops now: the
		// next ACK may be held back by the holes Startup left.
		b.mode, b.modeRound = Drain, b.round
		b.apply(c, b.bw())
	case b.mode == Drain && b.peerQ && !b.queued(c):
		// The queue Startup built is gone. The ACK that would end Drain
		// may be held back by the holes of Startup's overshoot for as
		// long as their repair takes, with the pace at a third.
		b.enterProbeBW(b.cfg.Clock.Now())
		b.apply(c, b.bw())
	}
}

// OnPktReceived is the receiving end's: data packet seq, stamped ts
// (microseconds of the sender's clock), arrived at the given time.
func (b *BBR) OnPktReceived(c Conn, seq, ts int32, arrived time.Time) {
	if !b.cfg.NoReport {
		b.rx.received(c, seq, arrived)
	}
	if b.cfg.ACKInterval > 0 {
		b.rx.ackEvery(c, b.cfg.ACKInterval, arrived)
	}
	b.rx.count(c, ts, arrived)
}

// udtSweep is how long UDT 4.11's receive thread leaves a connection
// without checking its timers when no packet of it arrives
// (CRcvQueue::worker).
const udtSweep = 100 * time.Millisecond

// ackEvery sets the receiving end's ACK interval, n packets, while
// packets arrive in bursts, and takes it off when they flow. UDT 4.11's
// receiver checks its 10 ms ACK timer when a packet arrives, or when its
// port's thread sweeps the connections it has not looked at for 100 ms:
// after a burst that ends before the timer is due (a round of Startup, a
// request's packets), the ACK waits for the next burst or for that sweep.
// Each early round of a new connection took two round trips, and it
// reached 90 % of a 100 ms path 0.3-0.4 s after TCP BBR. A full ACK every
// n packets acknowledges a burst as it ends, but for the last n-1
// packets. Until packets first flow, an ACK period with a gap of a period
// or more between two packets is a burst's; one without, with n packets,
// is a flow's, and the timer serves from then on (every ACK costs both
// ends a control packet and the sender an ACK2 and a callback). After
// that only a pause of the sweep's length counts as a burst's start (a
// flow after idle, a request).
func (r *rxLoss) ackEvery(c Conn, n int, now time.Time) {
	r.ackPkts++
	if !r.ackLast.IsZero() {
		r.ackGap = max(r.ackGap, now.Sub(r.ackLast))
	}
	r.ackLast = now
	syn := time.Duration(c.SYNInterval()) * time.Microsecond
	if now.Sub(r.ackStart) < syn {
		return
	}
	// With a period's gap at all times the interval came on for the odd
	// period of a lossy flow (a hole holding the window 10-40 ms), and
	// two lab runs in nine at 50 ms and 1 % loss fell to 68 and 82 % of
	// the link, with 2-3 % of the packets delivered twice (a timeout's
	// resend); not understood, and none in the runs without. With a
	// quarter period's gap, UDT's 4 ms send bursts (Debian's
	// NO_BUSY_WAITING) kept it on, and two flows through 100 ms took up
	// to 52 s to share the link evenly in the simulation.
	set, gap := n, syn
	if r.ackFlowed {
		gap = udtSweep
	}
	if r.ackGap < gap && r.ackPkts >= n {
		set, r.ackFlowed = 0, true
	}
	if set != r.ackSet {
		c.SetACKInterval(set)
		r.ackSet = set
	}
	r.ackStart, r.ackPkts, r.ackGap = now, 0, 0
}

// rxLoss is the receiving end's list of missing packets.
type rxLoss struct {
	// the ACK interval (ackEvery): this ACK period's packets and the
	// longest gap between two, the interval set, the last arrival
	ackStart  time.Time
	ackPkts   int
	ackGap    time.Duration
	ackSet    int
	ackLast   time.Time
	ackFlowed bool // a period of packets without a gap has been seen

	// delivery rate: packets since winStart
	winStart time.Time
	winPkts  int32
	rateBuf  [3]int32
	t0       time.Time
	owd      owdFilter
	lastTick time.Time

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

// reportTiming returns how long a hole waits after a report before it is
// reported again (1.25 RTT and a pad for the retransmission's wait in the
// sender's queue and a late wake-up at either end) and how often the list
// is looked at. The pad is UDT's 10 ms SYN interval on long paths; on a
// 1 ms path that is ten round trips of stalled delivery for each lost
// retransmission (81-90 % of the lab's 100 Mbit/s at 1 % loss, against
// 89-95 % with a 1 ms pad), so a short path's pad is an eighth of its RTT.
func reportTiming(rtt time.Duration) (wait, scan time.Duration) {
	pad := min(10*time.Millisecond, max(time.Millisecond, rtt/8))
	return rtt + rtt/4 + pad, min(10*time.Millisecond, max(time.Millisecond, rtt/4))
}

// count reports the arrival rate to the sender four times per RTT (at
// most every 20 ms), so each round has several reports to choose from,
// and with it the standing queue on the path (owd).
func (r *rxLoss) count(c Conn, ts int32, now time.Time) {
	if r.winStart.IsZero() {
		r.winStart, r.t0 = now, now
		r.owd.reset()
		return
	}
	r.owd.sample(int32(now.Sub(r.t0)/time.Microsecond)-ts, now)
	r.winPkts++
	if now.Sub(r.lastTick) >= TickEvery {
		r.lastTick = now
		_ = c.SendCustomMsg(CtrlUserDefined, TickMsg, nil)
	}
	d := now.Sub(r.winStart)
	if d < max(time.Duration(c.RTT())*time.Microsecond/4, 20*time.Millisecond) {
		return
	}
	r.rateBuf = [3]int32{r.winPkts, int32(d / time.Microsecond), r.owd.standing()}
	_ = c.SendCustomMsg(CtrlUserDefined, RateMsg, r.rateBuf[:])
	r.winStart, r.winPkts = now, 0
}

// owdFilter finds the queue on the path from one-way delays: a data
// packet carries the sender's clock (microseconds since its start), so
// arrival time less that stamp is the path's delay plus a constant
// offset. The smallest over the last 10 to 20 s is the empty path; the
// smallest excess over one report window is the queue that stood all
// through it (the receiver's own scheduling delays only add to single
// samples, which the minimum skips). Differences are taken in int32, so
// the stamps' wrap after 35 minutes does not matter. A queue that never
// drains for 10 to 20 s (a loss-based flow keeping it full) becomes the
// base and reads as none: the controller then runs as BBR does, with the
// 4-BDP window when it sees loss, until a drained moment (its ProbeRTT,
// the other flow backing off) brings the base down again.
type owdFilter struct {
	base, prevBase int32 // minimum of this 10 s epoch and of the last
	haveBase       bool
	haveQ          bool
	epoch          time.Time
	q              int32 // smallest excess in the current report window
}

func (o *owdFilter) reset() { *o = owdFilter{} }

func (o *owdFilter) sample(owd int32, now time.Time) {
	if !o.haveBase {
		o.base, o.prevBase, o.haveBase, o.epoch = owd, owd, true, now
	}
	if now.Sub(o.epoch) > 10*time.Second {
		o.prevBase, o.base, o.epoch = o.base, owd, now
	}
	if owd-o.base < 0 {
		o.base = owd
	}
	// The excess over the smaller of the two minima.
	ex := max(owd-o.base, owd-o.prevBase, 0)
	if !o.haveQ || ex < o.q {
		o.q, o.haveQ = ex, true
	}
}

// standing returns the window's queue, microseconds, and starts a new
// window.
func (o *owdFilter) standing() int32 {
	q := o.q
	o.haveQ = false
	return q
}

func (r *rxLoss) received(c Conn, seq int32, now time.Time) {
	switch {
	case !r.started:
		r.started, r.maxSeq = true, seq
	case SeqCmp(seq, r.maxSeq) > 0:
		// UDT reports this gap itself, now.
		for s := SeqInc(r.maxSeq); s != seq && len(r.missing) < 1<<16; s = SeqInc(s) {
			r.missing[s] = rxHole{reported: now}
		}
		r.maxSeq = seq
	default:
		delete(r.missing, seq)
	}
	if len(r.missing) == 0 || now.Before(r.nextScan) {
		return
	}
	rtt := time.Duration(c.RTT()) * time.Microsecond
	wait, scan := reportTiming(rtt)
	r.nextScan = now.Add(scan)
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
	sort.Slice(r.order, func(i, j int) bool { return SeqCmp(r.order[i], r.order[j]) < 0 })
	// Encode ranges as UDT does; one packet holds MSS/4 - 16 words.
	maxWords := c.MSS()/4 - 16
	r.buf = r.buf[:0]
	for i := 0; i < len(r.order); {
		j := i
		for j+1 < len(r.order) && r.order[j+1] == SeqInc(r.order[j]) {
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
	_ = c.SendCustomMsg(CtrlLossReport, 0, r.buf)
}

func median3(v [3]float64) float64 {
	return max(min(v[0], v[1]), min(max(v[0], v[1]), v[2]))
}
