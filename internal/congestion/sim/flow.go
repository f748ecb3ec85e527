package sim

import (
	"encoding/binary"
	"slices"
	"sort"
	"time"

	"github.com/udtgo/udt/internal/congestion"
)

// FlowConfig describes one connection through the path.
type FlowConfig struct {
	// New makes a controller; it is called once for each end.
	New func() Controller
	// Start is when the flow begins sending.
	Start time.Duration
	// ExtraRTT is propagation delay this flow has beyond the path's.
	ExtraRTT time.Duration
	// Packets is how many packets the flow sends (0: it always has more).
	Packets int64
	// ISN is the first sequence number (wrapping is part of what a
	// controller must get right).
	ISN int32
	// Limited makes the flow application-limited: it sends only what
	// Flow.Write has handed it (Packets is ignored).
	Limited bool
}

// UDT 4.11's defaults and constants that a controller sees.
const (
	flowWindow   = 25600 // packets: the receiver's buffer, as UDT_FC
	lightACKPkts = 64    // a light ACK every this many packets between full ones
	minEXP       = 300 * time.Millisecond
	firstRTT     = 100 * time.Millisecond // UDT's guess before the first sample
	binWidth     = 10 * time.Millisecond
)

// Flow is one connection: a sending end and a receiving end.
type Flow struct {
	s   *Sim
	cfg FlowConfig
	// Sender and Receiver are the two ends' controllers.
	Sender, Receiver Controller
	snd              sender
	rcv              receiver
	bins             []int64 // new packets received in each binWidth
	done             time.Duration
	written          int64 // with Limited: packets the application wrote
	waiters          []waiter
}

type waiter struct {
	n  int64
	fn func()
}

type sender struct {
	conn     end
	curr     int64   // largest sent; -1 before the first
	lastAck  int64   // the first not acknowledged
	loss     []int64 // to send again, sorted
	cwnd     float64
	period   float64 // microseconds
	waiting  bool    // stopped by the window or lack of data: an ACK or NAK wakes it
	rtt      time.Duration
	rttVar   time.Duration
	rate     int // delivery rate from the ACKs, smoothed, packets/s
	expCount int
	lastRsp  time.Duration
	sent     int64
	resent   int64
	// With Path.Wakeup: UDT's m_ullTargetTime (-1 for none) and
	// m_ullTimeDiff, the lateness not yet made up; when the next packet
	// is due, while the thread sleeps (-1: it does not), and the serial
	// of that sleep, so that a tick after an earlier wake does nothing.
	target, timeDiff time.Duration
	due              time.Duration
	sleep            int
}

type receiver struct {
	conn       end
	largest    int64              // largest received; -1 before the first
	ackPoint   int64              // the first not received
	above      map[int64]struct{} // received beyond ackPoint
	missing    map[int64]struct{}
	lastAck    int64 // the latest full ACK's number
	lastAckAt  time.Duration
	acked2     int64 // the latest number an ACK2 confirmed
	ackSerial  int
	ackSentAt  map[int]time.Duration
	rtt        time.Duration
	rttVar     time.Duration
	intervals  [16]time.Duration
	nextIv     int
	lastArrive time.Duration
	pkts       int // since the last full ACK
	lights     int
	nextACK    time.Duration // with Path.ACKSweep: when the ACK timer is due
	ackEvery   int           // the controller's ACK interval, packets (0: none)
	checked    time.Duration // ... and when the timers were last checked
}

// AddFlow adds a flow; its controllers are made and initialised when it
// starts.
func (s *Sim) AddFlow(cfg FlowConfig) *Flow {
	f := &Flow{s: s, cfg: cfg, done: -1}
	f.snd = sender{curr: -1, cwnd: 16, period: 1, rtt: firstRTT, rttVar: firstRTT / 2, rate: 16, expCount: 1, target: -1, due: -1}
	f.rcv = receiver{largest: -1, above: map[int64]struct{}{}, missing: map[int64]struct{}{}, ackSentAt: map[int]time.Duration{},
		rtt: firstRTT, rttVar: firstRTT / 2, lastAck: -1, acked2: -1}
	for i := range f.rcv.intervals {
		f.rcv.intervals[i] = time.Second
	}
	f.snd.conn = end{f: f, sending: true}
	f.rcv.conn = end{f: f}
	s.flows = append(s.flows, f)
	s.At(cfg.Start, f.start)
	return f
}

func (f *Flow) start() {
	f.Sender, f.Receiver = f.cfg.New(), f.cfg.New()
	f.snd.lastRsp = f.s.now
	f.rcv.lastArrive = f.s.now
	f.Sender.Init(&f.snd.conn)
	f.Receiver.Init(&f.rcv.conn)
	f.s.At(f.s.now, f.send)
	f.s.Every(syn, f.timers)
}

// wire is packet n's sequence number on the wire.
func (f *Flow) wire(n int64) int32 {
	return int32((int64(f.cfg.ISN) + n) & congestion.SeqMax)
}

// abs is the packet number of sequence number seq, the one nearest ref.
func (f *Flow) abs(seq int32, ref int64) int64 {
	return ref + int64(congestion.SeqCmp(seq, f.wire(ref)))
}

func (f *Flow) send() {
	s, snd := f.s, &f.snd
	var n int64 = -1
	for len(snd.loss) > 0 && n < 0 {
		if m := snd.loss[0]; m >= snd.lastAck {
			n = m
			snd.resent++
		}
		snd.loss = snd.loss[1:]
	}
	if n < 0 {
		more := f.cfg.Packets == 0 || snd.curr+1 < f.cfg.Packets
		if f.cfg.Limited {
			more = snd.curr+1 < f.written
		}
		if !more || float64(snd.curr+1-snd.lastAck) >= min(snd.cwnd, flowWindow) {
			snd.waiting = true
			// UDT forgets the schedule: no lateness carries over.
			snd.target, snd.timeDiff = -1, 0
			return
		}
		snd.curr++
		n = snd.curr
	}
	snd.sent++
	if snd.target >= 0 && s.now > snd.target {
		snd.timeDiff += s.now - snd.target
	}
	ts := int32((s.now - f.cfg.Start) / time.Microsecond)
	if at, ok := s.forward(f.cfg.ExtraRTT); ok {
		s.At(at, func() { f.arrive(n, ts) })
	}
	next := s.now
	interval := time.Duration(snd.period * float64(time.Microsecond))
	switch {
	case f.wire(n)&0xF == 0:
		// UDT sends every 16th packet right after the one before: the
		// pair is its bandwidth probe.
	case s.path.Wakeup == 0:
		next += interval
	case snd.timeDiff >= interval:
		// Late: the packet owed goes at once (CUDT::packData).
		snd.timeDiff -= interval
	default:
		next += interval - snd.timeDiff
		snd.timeDiff = 0
	}
	if s.path.Wakeup == 0 {
		s.At(next, f.send)
		return
	}
	snd.target = next
	if next <= s.now {
		s.At(next, f.send)
		return
	}
	// Asleep until a packet arrives at the port or the tick after next.
	snd.sleep++
	sleep := snd.sleep
	snd.due = next
	tick := (next + s.path.Wakeup - 1) / s.path.Wakeup * s.path.Wakeup
	s.At(tick, func() {
		if snd.sleep == sleep && snd.due >= 0 {
			snd.due = -1
			f.send()
		}
	})
}

// portWake is a packet arriving at the sending end's port: UDT's receive
// thread, passing, wakes the sending thread, which sends if a packet is
// due.
func (f *Flow) portWake() {
	snd := &f.snd
	if snd.due >= 0 && f.s.now >= snd.due {
		snd.sleep++
		snd.due = -1
		f.send()
	}
}

func (f *Flow) wake() {
	if f.snd.waiting {
		f.snd.waiting = false
		f.s.At(f.s.now, f.send)
	}
}

// timers is each end's 10 ms timer: the receiver's ACK, the sender's
// retransmission timeout (EXP).
func (f *Flow) timers() {
	s, r, snd := f.s, &f.rcv, &f.snd
	if !s.path.ACKSweep || s.now-r.checked >= ackSweep {
		f.checkACK()
	}
	exp := time.Duration(snd.expCount)*(snd.rtt+4*snd.rttVar) + syn
	exp = max(exp, time.Duration(snd.expCount)*minEXP)
	if s.now-snd.lastRsp > exp {
		if snd.curr >= snd.lastAck && len(snd.loss) == 0 {
			for n := snd.lastAck; n <= snd.curr; n++ {
				snd.loss = append(snd.loss, n)
			}
		}
		snd.expCount++
		snd.lastRsp = s.now
		f.wake()
	}
}

// checkACK is the receiver's ACK timer: a full ACK when it is due and
// there is something to acknowledge.
func (f *Flow) checkACK() {
	s, r := f.s, &f.rcv
	r.checked = s.now
	if s.path.ACKSweep && s.now < r.nextACK && (r.ackEvery <= 0 || r.pkts < r.ackEvery) {
		return
	}
	if r.largest >= 0 && (r.ackPoint > r.lastAck ||
		r.ackPoint == r.lastAck && r.ackPoint > r.acked2 && s.now-r.lastAckAt >= r.rtt+4*r.rttVar) {
		f.fullACK()
	}
}

func (f *Flow) arrive(n int64, ts int32) {
	s, r := f.s, &f.rcv
	now := s.now
	r.intervals[r.nextIv] = now - r.lastArrive
	r.nextIv = (r.nextIv + 1) % len(r.intervals)
	r.lastArrive = now
	fresh := false
	switch {
	case n > r.largest:
		if n > r.largest+1 {
			// UDT reports a gap once, when it sees it.
			for m := r.largest + 1; m < n; m++ {
				r.missing[m] = struct{}{}
			}
			var words []int32
			if n == r.largest+2 {
				words = []int32{f.wire(r.largest + 1)}
			} else {
				words = []int32{f.wire(r.largest+1) | -0x80000000, f.wire(n - 1)}
			}
			s.At(s.back(f.cfg.ExtraRTT), func() { f.nak(words) })
		}
		r.largest = n
		fresh = true
	default:
		if _, ok := r.missing[n]; ok {
			delete(r.missing, n)
			fresh = true
		}
	}
	if fresh {
		bin := int(s.now / binWidth)
		for len(f.bins) <= bin {
			f.bins = append(f.bins, 0)
		}
		f.bins[bin]++
		if n == r.ackPoint {
			r.ackPoint++
			for {
				if _, ok := r.above[r.ackPoint]; !ok {
					break
				}
				delete(r.above, r.ackPoint)
				r.ackPoint++
			}
		} else if n > r.ackPoint {
			r.above[n] = struct{}{}
		}
		if f.cfg.Packets > 0 && r.ackPoint == f.cfg.Packets && f.done < 0 {
			f.done = s.now - f.cfg.Start
		}
		for len(f.waiters) > 0 && f.waiters[0].n <= r.ackPoint {
			fn := f.waiters[0].fn
			f.waiters = f.waiters[1:]
			fn()
		}
	}
	f.Receiver.OnPktReceived(&r.conn, f.wire(n), ts, base.Add(now))
	r.pkts++
	if s.path.ACKSweep || r.ackEvery > 0 && r.pkts >= r.ackEvery {
		f.checkACK()
	}
	if r.pkts >= lightACKPkts*(r.lights+1) {
		r.lights++
		// Nothing, light or full, acknowledges again what an ACK2 has
		// confirmed: with the ACK point held by a lost retransmission the
		// sender hears only new loss reports, and its timeout fires once
		// it has nothing new to send.
		if ack := r.ackPoint; ack > r.acked2 {
			s.At(s.back(f.cfg.ExtraRTT), func() { f.onACK(ack, false, 0, 0, 0, 0) })
		}
	}
}

// rcvSpeed is UDT's receive rate: the average of the last 16 arrival
// intervals that lie within 8 times either side of their median, packets
// per second, or 0 if half of them do not.
func (r *receiver) rcvSpeed() int {
	iv := r.intervals
	sorted := iv[:]
	sorted = slices.Clone(sorted)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	var sum time.Duration
	n := 0
	for _, v := range iv {
		if v > med/8 && v < med*8 {
			sum += v
			n++
		}
	}
	if n <= len(iv)/2 || sum <= 0 {
		return 0
	}
	return int(float64(n) / sum.Seconds())
}

func (f *Flow) fullACK() {
	s, r := f.s, &f.rcv
	r.ackSerial++
	serial, ack := r.ackSerial, r.ackPoint
	r.ackSentAt[serial] = s.now
	r.lastAck, r.lastAckAt = ack, s.now
	r.nextACK = s.now + syn
	r.pkts, r.lights = 0, 0
	rtt, rttVar, rate := r.rtt, r.rttVar, r.rcvSpeed()
	s.At(s.back(f.cfg.ExtraRTT), func() { f.onACK(ack, true, serial, rtt, rttVar, rate) })
}

func (f *Flow) onACK(ack int64, full bool, serial int, rtt, rttVar time.Duration, rate int) {
	s, snd := f.s, &f.snd
	snd.lastRsp, snd.expCount = s.now, 1
	if full {
		s.At(s.forwardControl(f.cfg.ExtraRTT), func() { f.ack2(serial, ack) })
	}
	defer f.portWake()
	if ack <= snd.lastAck {
		// a repeated ACK: UDT discards it
		f.wake()
		return
	}
	snd.lastAck = ack
	i := sort.Search(len(snd.loss), func(i int) bool { return snd.loss[i] >= ack })
	snd.loss = snd.loss[i:]
	if full {
		snd.rtt = (snd.rtt*7 + rtt) / 8
		snd.rttVar = (snd.rttVar*3 + (snd.rtt - rtt).Abs()) / 4
		if rate > 0 {
			snd.rate = (snd.rate*7 + rate) / 8
		}
		f.Sender.OnACK(&snd.conn, f.wire(ack))
	}
	f.wake()
}

func (f *Flow) ack2(serial int, ack int64) {
	s, r := f.s, &f.rcv
	sent, ok := r.ackSentAt[serial]
	if !ok {
		return
	}
	delete(r.ackSentAt, serial)
	rtt := s.now - sent
	r.rttVar = (r.rttVar*3 + (r.rtt - rtt).Abs()) / 4
	r.rtt = (r.rtt*7 + rtt) / 8
	r.acked2 = max(r.acked2, ack)
}

// nak is a loss report arriving at the sender.
func (f *Flow) nak(words []int32) {
	s, snd := f.s, &f.snd
	snd.lastRsp, snd.expCount = s.now, 1
	var add []int64
	for i := 0; i < len(words); i++ {
		from, to := words[i], words[i]
		if from < 0 {
			if i+1 >= len(words) {
				break
			}
			from, to = from&congestion.SeqMax, words[i+1]
			i++
		}
		a, b := f.abs(from, snd.lastAck), f.abs(to, snd.lastAck)
		for n := max(a, snd.lastAck); n <= min(b, snd.curr); n++ {
			add = append(add, n)
		}
	}
	if len(add) > 0 {
		snd.loss = append(snd.loss, add...)
		slices.Sort(snd.loss)
		snd.loss = slices.Compact(snd.loss)
	}
	f.Sender.OnLoss(&snd.conn, words)
	f.wake()
	f.portWake()
}

// custom is a controller's message arriving at the other end's.
func (f *Flow) custom(toSender bool, typ, ext int, words []int32) {
	data := make([]byte, 0, 4*len(words))
	for _, w := range words {
		data = binary.NativeEndian.AppendUint32(data, uint32(w))
	}
	if toSender {
		f.snd.lastRsp, f.snd.expCount = f.s.now, 1
		f.Sender.OnCustomMsg(&f.snd.conn, typ, ext, data)
		f.portWake()
		return
	}
	f.Receiver.OnCustomMsg(&f.rcv.conn, typ, ext, data)
}

// Mbps is the flow's goodput from from to to: new packets received,
// whole, in Mbit/s.
func (f *Flow) Mbps(from, to time.Duration) float64 {
	var n int64
	for i := int(from / binWidth); i < int(to/binWidth) && i < len(f.bins); i++ {
		n += f.bins[i]
	}
	return float64(n) * MSS * 8 / (to - from).Seconds() / 1e6
}

// Write hands a Limited flow k more packets to send, and returns how many
// it has been handed in all. Call it from an event (Sim.At, Sim.Every, a
// Delivered callback) or before Run.
func (f *Flow) Write(k int64) int64 {
	f.written += k
	if f.Sender != nil {
		f.wake()
	}
	return f.written
}

// OnDelivered calls fn, in the simulation, once the first n packets have
// arrived in order; calls must come in increasing n.
func (f *Flow) OnDelivered(n int64, fn func()) {
	if n <= f.rcv.ackPoint {
		f.s.At(f.s.now, fn)
		return
	}
	f.waiters = append(f.waiters, waiter{n, fn})
}

// Delivered is how many packets arrived in order so far.
func (f *Flow) Delivered() int64 { return f.rcv.ackPoint }

// Done is how long the flow took to deliver its Packets, or -1.
func (f *Flow) Done() time.Duration { return f.done }

// Sent and Resent count the data packets sent, retransmissions among them.
func (f *Flow) Sent() int64   { return f.snd.sent }
func (f *Flow) Resent() int64 { return f.snd.resent }

// CWnd and Period are what the sending end's controller set.
func (f *Flow) CWnd() float64            { return f.snd.cwnd }
func (f *Flow) Period() time.Duration    { return time.Duration(f.snd.period * float64(time.Microsecond)) }
func (f *Flow) SenderRTT() time.Duration { return f.snd.rtt }

// end is one end's congestion.Conn.
type end struct {
	f       *Flow
	sending bool
}

func (e *end) SYNInterval() int { return int(syn / time.Microsecond) }
func (e *end) MSS() int         { return MSS }
func (e *end) MaxCWnd() float64 { return flowWindow }
func (e *end) RTT() int {
	if e.sending {
		return int(e.f.snd.rtt / time.Microsecond)
	}
	return int(e.f.rcv.rtt / time.Microsecond)
}
func (e *end) RcvRate() int {
	if e.sending {
		return e.f.snd.rate
	}
	return 16
}
func (e *end) SndCurrSeqNo() int32 {
	if e.sending {
		return e.f.wire(e.f.snd.curr)
	}
	return e.f.wire(-1)
}
func (e *end) CWnd() float64 {
	if e.sending {
		return e.f.snd.cwnd
	}
	return 16
}
func (e *end) SetCWnd(p float64) {
	if e.sending {
		e.f.snd.cwnd = p
	}
}
func (e *end) SetACKInterval(pkts int) {
	if !e.sending {
		e.f.rcv.ackEvery = pkts
	}
}
func (e *end) SetPktSndPeriod(us float64) {
	if e.sending {
		e.f.snd.period = us
	}
}
func (e *end) SendCustomMsg(typ, ext int, words []int32) error {
	f, s := e.f, e.f.s
	w := slices.Clone(words)
	if e.sending {
		s.At(s.forwardControl(f.cfg.ExtraRTT), func() { f.custom(false, typ, ext, w) })
		return nil
	}
	if typ == congestion.CtrlLossReport {
		s.At(s.back(f.cfg.ExtraRTT), func() { f.nak(w) })
		return nil
	}
	s.At(s.back(f.cfg.ExtraRTT), func() { f.custom(true, typ, ext, w) })
	return nil
}
