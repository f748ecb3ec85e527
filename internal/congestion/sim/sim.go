// Package sim runs congestion controllers over a simulated path in
// virtual time: a bottleneck queue drained at a fixed rate, a propagation
// delay, random loss, and on each end the part of UDT 4.11 a controller
// sees (its sender's pacing and window, its receiver's ACK, ACK2, NAK and
// arrival-rate rules, its timeout). A minute of a 100 Mbit/s path runs in
// a fraction of a second, and a seed makes a run repeat exactly.
//
// The model leaves out the flow window (the receiver always has room),
// message boundaries, the handshake, and the operating system but for the
// sender's wake-ups (Path.Wakeup; the kernel's buffers are not there);
// docs/congestion.md ("Simulation") says more.
package sim

import (
	"container/heap"
	"math/rand/v2"
	"time"

	"github.com/udtgo/udt/internal/congestion"
)

// Controller is what the simulator drives on each end of a flow;
// *congestion.BBR is one.
type Controller interface {
	Init(c congestion.Conn)
	OnACK(c congestion.Conn, ack int32)
	OnLoss(c congestion.Conn, loss []int32)
	OnCustomMsg(c congestion.Conn, typ, ext int, data []byte)
	OnPktReceived(c congestion.Conn, seq, ts int32, arrived time.Time)
}

// Path is the bottleneck between the senders and the receivers.
type Path struct {
	// Mbps is the bottleneck's rate, Mbit/s of whole packets (headers
	// included).
	Mbps float64
	// RTT is the propagation delay there and back.
	RTT time.Duration
	// Buffer is how many packets the bottleneck queue holds (0: one
	// bandwidth-delay product, at least 64).
	Buffer int
	// Loss is the probability that a data packet is lost on the way, at
	// random, before the queue.
	Loss float64
	// Wakeup, above 0, makes each sending end pace as UDT 4.11 built with
	// NO_BUSY_WAITING (Debian's) does: its thread sleeps until its next
	// packet's time and wakes only when a packet arrives at its port or
	// at the kernel's next tick, every Wakeup (4 ms at HZ=250), and then
	// sends back to back what it owes. 0 paces each packet on time.
	Wakeup time.Duration
	// ACKSweep makes each receiving end check its 10 ms ACK timer as UDT
	// 4.11 does (CRcvQueue::worker): when a data packet arrives, or when
	// its port's thread sweeps the connections it has not looked at for
	// 100 ms. A burst that ends before the timer is due waits for the next
	// packet or the sweep, unless the controller's ACK interval
	// (CCC::setACKInterval) is reached first. Without it the timer is
	// checked every 10 ms. (The sender's retransmission timer is checked
	// every 10 ms either way.)
	ACKSweep bool
}

// MSS is the packet size the simulation uses, bytes, headers included.
const MSS = 1500

// syn is UDT's timer granularity.
const syn = 10 * time.Millisecond

// ackSweep is how long a connection may go unchecked before its port's
// receive thread checks its timers anyway (CRcvQueue::worker).
const ackSweep = 100 * time.Millisecond

// base is the virtual clock's reading at the start: a controller treats
// the zero time.Time as "never".
var base = time.Unix(1_000_000_000, 0)

// Sim is one simulation. It is not safe for concurrent use.
type Sim struct {
	path   Path
	rng    *rand.Rand
	now    time.Duration
	events events
	serial uint64
	flows  []*Flow

	// the bottleneck
	tx        time.Duration // one packet's transmission time
	busyUntil time.Duration
	buffer    int
	drops     int64 // packets the full queue dropped
	lost      int64 // packets lost at random
}

// New returns a simulation of path whose randomness comes from seed.
func New(path Path, seed uint64) *Sim {
	s := &Sim{path: path, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	s.tx = time.Duration(float64(MSS*8) / (path.Mbps * 1e6) * float64(time.Second))
	s.buffer = path.Buffer
	if s.buffer <= 0 {
		s.buffer = max(64, int(path.RTT/s.tx))
	}
	return s
}

// Now is the simulated time since the start.
func (s *Sim) Now() time.Duration { return s.now }

// Clock is the virtual clock, for controllers.
func (s *Sim) Clock() congestion.Clock { return clock{s} }

// Rand is the simulation's source of randomness, for controllers.
func (s *Sim) Rand() *rand.Rand { return s.rng }

type clock struct{ s *Sim }

func (c clock) Now() time.Time { return base.Add(c.s.now) }

// SetRTT changes the path's propagation delay from now on, as a route
// change does; what is on the way keeps the delay it left with.
func (s *Sim) SetRTT(rtt time.Duration) { s.path.RTT = rtt }

// Drops is how many data packets the full bottleneck queue dropped;
// RandomLosses how many the path lost at random.
func (s *Sim) Drops() int64        { return s.drops }
func (s *Sim) RandomLosses() int64 { return s.lost }

// Queue is the bottleneck queue's length now, in time to drain it.
func (s *Sim) Queue() time.Duration { return max(0, s.busyUntil-s.now) }

// At runs f at simulated time t (now, if t has passed).
func (s *Sim) At(t time.Duration, f func()) {
	s.serial++
	heap.Push(&s.events, event{at: max(t, s.now), serial: s.serial, f: f})
}

// Every runs f every d from now on.
func (s *Sim) Every(d time.Duration, f func()) {
	var tick func()
	tick = func() {
		f()
		s.At(s.now+d, tick)
	}
	s.At(s.now+d, tick)
}

// Run runs the simulation until d of simulated time have passed since
// its start.
func (s *Sim) Run(d time.Duration) {
	for s.events.Len() > 0 && s.events[0].at <= d {
		e := heap.Pop(&s.events).(event)
		s.now = e.at
		e.f()
	}
	s.now = d
}

// forward carries a data packet through the bottleneck: it reports when
// the packet arrives, or false if it was lost.
func (s *Sim) forward(extra time.Duration) (time.Duration, bool) {
	if s.path.Loss > 0 && s.rng.Float64() < s.path.Loss {
		s.lost++
		return 0, false
	}
	if s.Queue() >= time.Duration(s.buffer)*s.tx {
		s.drops++
		return 0, false
	}
	s.busyUntil = max(s.busyUntil, s.now) + s.tx
	return s.busyUntil + s.path.RTT/2 + extra/2, true
}

// forwardControl is when a control packet sent forward now arrives: it
// waits behind the queue but, small, adds nothing to it.
func (s *Sim) forwardControl(extra time.Duration) time.Duration {
	return s.now + s.Queue() + s.path.RTT/2 + extra/2
}

// back is when a control packet sent back now arrives: nothing queues on
// the way back.
func (s *Sim) back(extra time.Duration) time.Duration {
	return s.now + s.path.RTT/2 + extra/2
}

type event struct {
	at     time.Duration
	serial uint64
	f      func()
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if e[i].at != e[j].at {
		return e[i].at < e[j].at
	}
	return e[i].serial < e[j].serial
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}
