// Package netem emulates one network path in user space: a one-way delay
// with jitter, random loss, reordering and a rate cap with a bounded queue.
// The kernel of the project's machines has no netem qdisc, so the loss tests
// (through a loopback UDP relay) and the WAN lab (through TUN devices in two
// network namespaces) share this one emulator.
package netem

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Config describes one direction of a path.
type Config struct {
	// Delay is the one-way propagation delay added to every packet.
	Delay time.Duration
	// Jitter spreads the delay uniformly over [Delay-Jitter, Delay+Jitter].
	// Jitter alone never reorders: a packet is never delivered before the
	// one sent ahead of it, so reordering stays under Reorder's control.
	Jitter time.Duration
	// Loss is the probability (0..1) that a packet is dropped at random.
	Loss float64
	// Reorder is the fraction (0..0.5) of packets held back and delivered
	// just after the packet sent after them (each needs one to overtake it,
	// hence at most half). A held packet with nothing behind it goes out at
	// its own time.
	Reorder float64
	// Rate caps the link at this many bits per second (of the bytes given to
	// Send); 0 means no cap and no queue.
	Rate int64
	// QueueBytes bounds the bytes waiting for the rate cap; a packet that
	// does not fit is dropped (tail drop). 0 picks 100 ms at Rate, at
	// least 64 KiB.
	QueueBytes int
	// Seed makes the random choices (loss, reorder, jitter) repeatable.
	Seed uint64
	// Lossy, when set, picks the packets that random loss may drop; the
	// others pass (they still see delay, rate and queue). Nil: all packets.
	Lossy func(pkt []byte) bool
}

// Validate names the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.Delay < 0:
		return fmt.Errorf("netem: Config.Delay must be 0 or more, not %v", c.Delay)
	case c.Jitter < 0:
		return fmt.Errorf("netem: Config.Jitter must be 0 or more, not %v", c.Jitter)
	case c.Jitter > c.Delay:
		return fmt.Errorf("netem: Config.Jitter (%v) must not exceed Config.Delay (%v)", c.Jitter, c.Delay)
	case !(c.Loss >= 0 && c.Loss <= 1): // also refuses NaN
		return fmt.Errorf("netem: Config.Loss must be between 0 and 1, not %v", c.Loss)
	case !(c.Reorder >= 0 && c.Reorder <= 0.5):
		return fmt.Errorf("netem: Config.Reorder must be between 0 and 0.5, not %v", c.Reorder)
	case c.Rate < 0:
		return fmt.Errorf("netem: Config.Rate must be 0 (no cap) or more bits per second, not %d", c.Rate)
	case c.QueueBytes < 0:
		return fmt.Errorf("netem: Config.QueueBytes must be 0 (the default) or more, not %d", c.QueueBytes)
	}
	return nil
}

// queueLimit is the bound on waiting bytes that Config implies.
func (c Config) queueLimit() int64 {
	if c.QueueBytes > 0 {
		return int64(c.QueueBytes)
	}
	return max(c.Rate/8/10, 64<<10)
}

// LinkStats counts what a Link did with the packets given to it.
type LinkStats struct {
	PacketsIn      int64 // packets given to Send
	BytesIn        int64
	Delivered      int64 // packets handed to deliver
	DeliveredBytes int64
	Lost           int64 // dropped at random (Loss)
	QueueDropped   int64 // dropped because the queue was full
	Reordered      int64 // delivered right after the packet sent after them
}

// packet is one scheduled delivery.
type packet struct {
	due  time.Time
	seq  uint64 // breaks ties in send order
	data []byte
}

type packetHeap []*packet

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

// earlyBy is how early a due packet may go out, so that one wakeup can
// deliver packets due within a few microseconds of each other. It stays
// well under a packet's time on the wire at the rates emulated (120 µs for
// 1500 bytes at 100 Mbit/s): UDT estimates the bottleneck from the spacing
// of packet pairs, and batching them would make the link look faster.
const earlyBy = 10 * time.Microsecond

// Link is one direction of an emulated path. One goroutine per Link
// delivers packets in due order from a heap, so timing holds at high packet
// rates without a timer per packet.
type Link struct {
	deliver func([]byte)
	wakeFD  int // eventfd: Send and Close wake an idle delivery thread
	done    chan struct{}
	exited  chan struct{}
	pool    sync.Pool

	mu        sync.Mutex
	cfg       Config
	rng       *rand.Rand
	q         packetHeap
	seq       uint64
	busyUntil time.Time // when the rate-capped transmitter is next free
	lastDue   time.Time // keeps jitter from reordering
	held      *packet   // waiting for the next packet to overtake it
	stats     LinkStats
	closed    bool
	idle      bool // the delivery thread waits for a packet, with none queued
}

// NewLink starts a link that calls deliver, from its own thread and one
// packet at a time, with each packet that survives. deliver must not keep
// pkt after it returns. A bad cfg panics; check it with Validate first.
func NewLink(cfg Config, deliver func(pkt []byte)) *Link {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		panic(fmt.Sprintf("netem: eventfd: %v", err))
	}
	l := &Link{
		deliver: deliver,
		wakeFD:  wfd,
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	go l.run()
	return l
}

// SetConfig changes the path for packets sent from now on; packets already
// queued keep their schedule. A new Seed restarts the random sequence.
func (l *Link) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if cfg.Seed != l.cfg.Seed {
		l.rng = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	}
	l.cfg = cfg
	return nil
}

// Stats returns the counters so far.
func (l *Link) Stats() LinkStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

func (l *Link) buf(n int) []byte {
	if b, ok := l.pool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n, max(n, 2048))
}

// Send copies pkt into the link. It never blocks on the path: a packet the
// queue cannot take is dropped, as a router would.
func (l *Link) Send(pkt []byte) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	c := &l.cfg
	l.stats.PacketsIn++
	l.stats.BytesIn += int64(len(pkt))
	if c.Loss > 0 && (c.Lossy == nil || c.Lossy(pkt)) && l.rng.Float64() < c.Loss {
		l.stats.Lost++
		return
	}
	leave := now
	if c.Rate > 0 {
		start := l.busyUntil
		if start.Before(now) {
			start = now
		}
		// Bytes still waiting are the transmitter's backlog at the rate.
		waiting := int64(start.Sub(now).Seconds() * float64(c.Rate) / 8)
		if waiting+int64(len(pkt)) > c.queueLimit() {
			l.stats.QueueDropped++
			return
		}
		l.busyUntil = start.Add(time.Duration(float64(len(pkt)) * 8 / float64(c.Rate) * float64(time.Second)))
		leave = l.busyUntil
	}
	d := c.Delay
	if c.Jitter > 0 {
		d += time.Duration((l.rng.Float64()*2 - 1) * float64(c.Jitter))
	}
	due := leave.Add(d)
	if due.Before(l.lastDue) {
		due = l.lastDue
	}
	l.lastDue = due
	p := &packet{due: due, data: l.buf(len(pkt))}
	copy(p.data, pkt)
	if h := l.held; h != nil {
		// The held packet goes right behind this one: same due time, later
		// sequence number.
		l.held = nil
		l.stats.Reordered++
		l.push(p)
		h.due = due
		l.push(h)
	} else if c.Reorder > 0 && l.rng.Float64() < c.Reorder/(1-c.Reorder) {
		// A packet that overtakes is never held itself, so holding with
		// r/(1-r) makes the fraction reordered r.
		l.held = p
	} else {
		l.push(p)
	}
	if l.idle {
		l.idle = false
		l.signal()
	}
}

// signal wakes the delivery thread from its wait.
func (l *Link) signal() {
	one := [8]byte{1}
	unix.Write(l.wakeFD, one[:])
}

func (l *Link) push(p *packet) {
	l.seq++
	p.seq = l.seq
	heap.Push(&l.q, p)
}

// next pops the packet to deliver now, or says how long to wait for one.
func (l *Link) next(now time.Time) (*packet, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.held; h != nil && !h.due.After(now.Add(earlyBy)) {
		// Nothing came to overtake it in time: it goes out late rather than
		// waiting for ever.
		if len(l.q) == 0 || !l.q[0].due.Before(h.due) {
			l.held = nil
			return h, 0
		}
	}
	wait := time.Duration(math.MaxInt64)
	if len(l.q) > 0 {
		if !l.q[0].due.After(now.Add(earlyBy)) {
			return heap.Pop(&l.q).(*packet), 0
		}
		wait = l.q[0].due.Sub(now)
	}
	if h := l.held; h != nil {
		wait = min(wait, h.due.Sub(now))
	}
	l.idle = wait == math.MaxInt64
	return nil, wait
}

func (l *Link) run() {
	defer close(l.exited)
	// The delivery thread waits in ppoll, never in Go's scheduler: Go's
	// timers wake through epoll with millisecond resolution, which would
	// add up to a millisecond to every delay, and each hand-off between Go
	// threads adds wakeups that a busy machine makes late. The thread stays
	// locked, so it ends with the goroutine and its settings with it.
	release := LockThread()
	defer release()
	pfd := []unix.PollFd{{Fd: int32(l.wakeFD), Events: unix.POLLIN}}
	var drain [8]byte
	for {
		select {
		case <-l.done:
			return
		default:
		}
		p, wait := l.next(time.Now())
		if p != nil {
			// Counted first, so a receiver that saw the packet sees it in
			// Stats too.
			l.mu.Lock()
			l.stats.Delivered++
			l.stats.DeliveredBytes += int64(len(p.data))
			l.mu.Unlock()
			l.deliver(p.data)
			b := p.data[:cap(p.data)]
			l.pool.Put(&b)
			continue
		}
		// Send never schedules a packet ahead of one already queued (due
		// times only grow), so only a packet into an empty link, or Close,
		// needs to cut a timed wait short.
		var ts *unix.Timespec
		if wait != math.MaxInt64 {
			t := unix.NsecToTimespec(int64(wait))
			ts = &t
		}
		unix.Ppoll(pfd, ts, nil)
		unix.Read(l.wakeFD, drain[:])
	}
}

// Close stops the link and drops what it still holds. No deliver call runs
// after Close returns. Close may be called more than once, but not from
// deliver.
func (l *Link) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.exited
		return
	}
	l.closed = true
	l.q = nil
	l.held = nil
	l.mu.Unlock()
	close(l.done)
	l.signal()
	<-l.exited
	unix.Close(l.wakeFD)
}

// Backlog is how long a packet sent now would wait for the rate cap: the
// queue at the emulated bottleneck, in time. It is computed from the
// link's model, not from when packets actually leave, so a late delivery
// thread on a busy machine does not show in it. 0 without a rate cap.
func (l *Link) Backlog() time.Duration {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.Rate <= 0 || !l.busyUntil.After(now) {
		return 0
	}
	return l.busyUntil.Sub(now)
}

// Config returns the link's current configuration.
func (l *Link) Config() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// LockThread locks the calling goroutine to its OS thread for good and
// tunes the thread for prompt wakeups: a timer slack of 1 µs instead of 50,
// and, where allowed (root), a real-time priority, so that other work on a
// busy machine does not make the emulator late. Such a thread must sleep in
// system calls when it has nothing to do. While it sits in one it holds a
// Go P, so LockThread raises GOMAXPROCS by one until release is called,
// and the rest of the program keeps its share. The goroutine must exit
// after release: the thread, never unlocked, goes with it.
func LockThread() (release func()) {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	param := struct{ priority int32 }{rtPriority}
	unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, 0, schedFIFO, uintptr(unsafe.Pointer(&param)))
	extraProcs(+1)
	return func() { extraProcs(-1) }
}

const (
	schedFIFO  = 1
	rtPriority = 10 // low among real-time threads; above every normal one
)

var procs struct {
	mu    sync.Mutex
	extra int
	base  int
}

func extraProcs(d int) {
	procs.mu.Lock()
	defer procs.mu.Unlock()
	if procs.extra == 0 {
		procs.base = runtime.GOMAXPROCS(0)
	}
	procs.extra += d
	runtime.GOMAXPROCS(procs.base + procs.extra)
}
