package udt

import (
	"time"

	"github.com/udtgo/udt/internal/congestion"
)

// BBRConfig tunes BBR; the zero value of each field picks the default in
// its comment.
type BBRConfig struct {
	// StartupGain multiplies the bottleneck estimate while the model is
	// still finding the link (default 2/ln 2 = 2.885: doubles the rate
	// every round trip).
	StartupGain float64
	// CWndGain is the window, in bandwidth-delay products, while packets
	// go missing (default 4; see BBR's doc for why UDT needs more than
	// BBR's 2). With the receiving end's queue reports, the window is 2
	// BDP when nothing was lost for a second or the queue is longer than
	// a quarter of RTprop.
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
// BtlBw grows less than 25 % in three rounds, or (below) the queue passes
// a quarter of RTprop; Drain paces at 1/StartupGain
// for one round to empty the queue Startup built; ProbeBW cycles the gain
// through 1.25, 0.75, then six level phases, each for one RTprop, to
// find more bandwidth and give back the queue the probe built (on paths of
// 40 ms and more the level phases run a percent under BtlBw, so that what
// a probe leaves behind drains before the next); ProbeRTT, when
// RTprop has gone ProbeRTTInterval without a new minimum, holds the window
// at half a BDP (BBRv2's gentler ProbeRTT) for 200 ms and one round. A
// sample within RTprop/16 (at most 10 ms) of RTprop, taken while the
// receiving end measures no more queue than that, confirms RTprop and
// puts ProbeRTT off: the queue it would drain is measured gone.
//
// The queue. BtlBw, a maximum of noisy samples, runs a little above the
// link, and the maxima of several flows add up to more than the link, so
// pacing at gain 1 fills the bottleneck's queue. The receiving end
// measures that queue from one-way delays (each data packet carries the
// sender's clock; arrival less stamp, less its minimum over 10 to 20 s, is
// the queue, to tens of microseconds) and reports it with the delivery
// rate. In the gain-1 phases each flow then paces at a steady rate that
// heads for 64 packets over the queue's delay (Vegas's rule: 64 of its own
// packets in the queue), a target the same for every flow sharing the
// queue, so the fastest flows yield first and shares converge; the other
// phases multiply that rate, and the draining phase ends when the queue
// is below that level. A queue that never runs low is a loss-based
// flow's (CUBIC), and the controller then paces at BtlBw as BBR does
// rather than yield all to it. Against a peer without this controller
// UDT's smoothed RTT stands in, and a queue counts from 10 % of RTprop
// plus 5 ms.
//
// Requests and responses. A connection that sends a few packets and waits
// (a gRPC unary call, an HTTP request) delivers at the rate of its calls,
// not of the path. As in BBR, a delivery rate measured while the sender
// had nothing more to send may raise BtlBw but never lower it, nor end
// Startup; a flow that has only ever been so limited paces at no less than
// Startup's first window per round trip. A call's packets then go
// together, and the call takes one round trip, as with no pacing. UDT does
// not tell a controller that its send buffer is empty; what was in flight
// at an ACK does (under half of what the pace or the window allows).
//
// Pacing. UDT 4.11's sender, as Debian builds it, wakes only when a packet
// reaches its UDP socket or every 4 ms (a jiffy), and then sends what it
// owes back to back, so even a steady rate reaches the bottleneck in
// bursts that keep a queue of several milliseconds. The receiving end
// sends a tick (an empty control packet) every millisecond while data
// arrives, and the queue is then TCP BBR's: about 1 ms.
//
// The window. UDT counts packets in flight from the oldest unacknowledged
// one, so a hole waiting for its retransmission holds back everything sent
// after it; at 1 % loss a hole lasts one to three round trips. A window of
// BBR's 2 BDP would stall on every hole, so CWndGain is 4 while packets
// go missing and the queue is short. Without loss, or with a queue past a
// quarter of RTprop (the losses are then a full queue's, often another
// flow filling it: CUBIC), the window is BBR's 2 BDP; 4 would hold a
// larger share of another flow's queue than TCP BBR does. The holes the
// peer reported widen the window by as many packets (up to two ACK
// periods of data once Startup is over), as BBR's inflight leaves lost
// packets out: new packets keep arriving, and with them the receiving
// end's moments to report a lost retransmission again.
//
// Acknowledgements. UDT 4.11's receiver checks its 10 ms ACK timer only
// when a packet arrives or on a sweep every 100 ms, so a burst that ends
// before the timer is due (a round of Startup) waited for the sweep. The
// receiving end sets UDT's ACK interval to 8 packets until packets first
// flow, and again after a 100 ms pause: a new connection reaches a
// 100 ms path's rate as soon as TCP BBR does.
//
// Loss repair. UDT 4.11's receiver reports each loss once, when it sees
// the gap; its periodic report is compiled out. A lost retransmission or a
// lost report then waits for the sender's timeout, which fires only after
// the window is full and then resends everything unacknowledged: at 1 %
// loss on a 100 ms path that holds goodput near 60 % whatever the rate
// (docs/udt4-behaviour.md, "Loss recovery on a long path"). On the
// receiving end the controller therefore keeps its own list of missing
// packets (OnPktReceived) and reports again
// those still missing 1.25 RTT and a pad (an eighth of the RTT, between
// 1 and 10 ms) after the previous report, as UDT's protocol description
// has the receiver do (CtrlLossReport). Against a
// peer without it (the C++ library, another class) the model still runs.
func BBR(cfg BBRConfig) CongestionControl {
	c := congestion.Config{
		StartupGain:      cfg.StartupGain,
		CWndGain:         cfg.CWndGain,
		ProbeRTTInterval: cfg.ProbeRTTInterval,
		NoReport:         cfg.NoReport,
	}
	// A millisecond's delay costs the model nothing, and batches cost a
	// fraction of a callback per packet.
	return CongestionControl{Kind: CCGo, Go: &GoController{
		Name:  "bbr",
		New:   func() Controller { return &bbrController{m: congestion.NewBBR(c)} },
		Hooks: HookPktReceivedBatch,
	}}
}

// bbrController runs congestion.BBR as a Controller; *CC is its
// congestion.Conn.
type bbrController struct {
	ControllerBase
	m *congestion.BBR
}

func (b *bbrController) Init(cc *CC)             { b.m.Init(cc) }
func (b *bbrController) OnACK(cc *CC, ack int32) { b.m.OnACK(cc, ack) }
func (b *bbrController) OnLoss(cc *CC, loss []int32) {
	b.m.OnLoss(cc, loss)
}
func (b *bbrController) ProcessCustomMsg(cc *CC, p *Packet) {
	b.m.OnCustomMsg(cc, p.Type, p.Ext, p.Data)
}
func (b *bbrController) OnPktReceived(cc *CC, p *Packet) {
	b.m.OnPktReceived(cc, p.Seq, p.Timestamp, p.Arrived)
}

// *CC is the connection congestion's controllers see.
var _ congestion.Conn = (*CC)(nil)
