package udt

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The poller drives one UDT epoll from one goroutine and parks the
// goroutines of blocked calls in Go, so a blocked Read costs a parked
// goroutine, not an OS thread. Sockets run in UDT's non-blocking mode; a call
// that would block registers its interest here and waits on a channel.
//
// UDT's epoll is level-triggered, so interest is registered only while
// someone waits, and dropped as soon as the event is delivered: otherwise a
// socket that stays writable (or readable, with nobody reading) would make
// epoll_wait return at once, forever. It never reports a failed connect or
// a clean close by the peer, so each round also asks the state of every
// socket with waiters.

// pollInterval bounds how long the poller sleeps in epoll_wait, and so how
// late it notices what UDT's epoll does not report. UDT's own granularity
// is 10 ms.
const pollInterval = 50 * time.Millisecond

type poller struct {
	lib Library
	ep  Epoll

	mu  sync.Mutex
	fds map[SocketID]*pollDesc

	dyingMu sync.Mutex
	dying   []dyingSocket // abandoned dials, closed once it is safe

	closes    atomic.Int64 // sockets closed through the poller
	lastClose atomic.Int64 // unix nanoseconds of the last one
	trim      heapTrim     // the poller goroutine's own (see trim.go)
}

// dyingSocket is a socket whose dial was abandoned while UDT was still
// connecting it. UDT 4.11 makes closing such a socket hazardous both ways,
// and each way crashed the tests:
//   - while an answer from the peer is being processed, a close makes UDT's
//     receive thread complete the connection on a socket it can no longer
//     find: it throws a C++ exception out of a function declared not to
//     throw (std::terminate);
//   - once UDT has stopped asking (3 s after the connect, or when the peer
//     refused), a close no longer takes the socket out of UDT's list of
//     connecting sockets, and after UDT deletes it, its receive thread
//     reads the freed socket on every pass (a segmentation fault).
//
// So such a socket is closed only when that is safe: once connected, or
// before connectCloseLatest while UDT is still asking a peer that has not
// answered for connectCloseBy. One that UDT may have stopped asking is
// never closed: it stays in UDT, a few KiB without the buffers of a
// connection.
type dyingSocket struct {
	s     Socket
	since time.Time // when connect was called
}

// connectAttempt bounds one connect attempt: a dial with a longer deadline
// makes another attempt on a fresh socket. An abandoned attempt's socket
// that is still connecting is closed from connectCloseBy on, and never
// after connectCloseLatest: UDT's 3 s count from a moment after since.
const (
	connectAttempt     = 2 * time.Second
	connectCloseBy     = 2 * time.Second
	connectCloseLatest = 2500 * time.Millisecond
)

// closeWhenSettled closes s, a socket whose connect started at since, once
// that is safe (see dyingSocket).
func (p *poller) closeWhenSettled(s Socket, since time.Time) {
	if p.settle(s, since) {
		return
	}
	p.dyingMu.Lock()
	p.dying = append(p.dying, dyingSocket{s, since})
	p.dyingMu.Unlock()
}

// settle closes s or gives up on it, and reports whether it did either;
// false means ask again later.
func (p *poller) settle(s Socket, since time.Time) bool {
	age := time.Since(since)
	switch p.lib.SockState(s) {
	case StatusConnected:
		p.lib.Close(s)
		return true
	case StatusConnecting:
		switch {
		case age < connectCloseBy:
			return false
		case age < connectCloseLatest:
			p.lib.Close(s)
		}
		return true // past connectCloseLatest: left open, see dyingSocket
	default:
		// Refused or broken while connecting: UDT may have left it in
		// its connecting list, so it is left open too.
		return true
	}
}

// reap settles the abandoned dials.
func (p *poller) reap() {
	p.dyingMu.Lock()
	defer p.dyingMu.Unlock()
	keep := p.dying[:0]
	for _, d := range p.dying {
		if !p.settle(d.s, d.since) {
			keep = append(keep, d)
		}
	}
	clear(p.dying[len(keep):])
	p.dying = keep
}

var (
	defaultPollerOnce sync.Once
	defaultPoller     *poller
	defaultPollerErr  error
)

func getPoller() (*poller, error) {
	defaultPollerOnce.Do(func() {
		defaultPoller, defaultPollerErr = newPoller(Native)
	})
	return defaultPoller, defaultPollerErr
}

func newPoller(lib Library) (*poller, error) {
	ep, err := lib.EpollCreate()
	if err != nil {
		return nil, err
	}
	p := &poller{lib: lib, ep: ep, fds: map[SocketID]*pollDesc{}}
	go p.run()
	return p, nil
}

func (p *poller) run() {
	ev := EpollEvents{Read: make([]SocketID, 0, 512), Write: make([]SocketID, 0, 512)}
	var waiting []*pollDesc
	for round := 1; ; round++ {
		ev.Read, ev.Write = ev.Read[:0], ev.Write[:0]
		n, err := p.lib.EpollWait(p.ep, &ev, pollInterval)
		if err != nil && CodeOf(err) != ErrTimeout {
			// Only a released epoll fails here, which this package never
			// does; do not spin if it ever happens.
			time.Sleep(pollInterval)
		}
		for _, id := range ev.Read {
			p.ready(id, EventIn)
		}
		for _, id := range ev.Write {
			p.ready(id, EventOut)
		}
		// A full slice may have left ready sockets unreported, lowest IDs
		// first: make room for all of them next round.
		if n > 0 && (len(ev.Read) == cap(ev.Read) || len(ev.Write) == cap(ev.Write)) {
			ev.Read = make([]SocketID, 0, 2*cap(ev.Read))
			ev.Write = make([]SocketID, 0, 2*cap(ev.Write))
		}
		// Once a second every waiter retries, which also re-registers its
		// interest (UDT raises a data socket's events again on add): a
		// safety net under UDT's own check-then-clear of IN and OUT, which
		// can race with the thread that sets them.
		safetyNet := round%int(time.Second/pollInterval) == 0
		p.reap()
		p.maybeTrim(time.Now())
		waiting = p.waiting(waiting[:0])
		for _, pd := range waiting {
			switch st := p.lib.SockState(pd.s); st {
			case StatusConnected, StatusConnecting:
				pd.brokenSeen = 0
				if safetyNet {
					pd.wakeAll()
				}
			case StatusBroken:
				// Give UDT's epoll one round to report a lost peer before
				// the waiters take the break for a clean close; only
				// connections silent long enough to be lost need to wait.
				if pd.silentFor() > lostAfter && pd.brokenSeen == 0 {
					pd.brokenSeen = round
					continue
				}
				pd.wakeAll()
			case StatusListening:
				// UDT drops a listener's pending-connection event when the
				// listener leaves the epoll, and does not raise it again when
				// it comes back (it does for data sockets), so Accept
				// retries each round rather than trust the event alone.
				pd.wake(EventIn)
			default:
				pd.wakeAll()
			}
		}
	}
}

// waiting appends the descriptors that have goroutines waiting.
func (p *poller) waiting(buf []*pollDesc) []*pollDesc {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pd := range p.fds {
		pd.mu.Lock()
		if pd.readers+pd.writers > 0 {
			buf = append(buf, pd)
		}
		pd.mu.Unlock()
	}
	return buf
}

func (p *poller) ready(id SocketID, ev Events) {
	p.mu.Lock()
	pd := p.fds[id]
	p.mu.Unlock()
	if pd == nil {
		return
	}
	// UDT raises epoll events when it gives up on a silent peer, and none
	// for a clean close by the peer: a readable BROKEN socket with nothing
	// to read, whose peer has sent nothing for longer than UDT's shortest
	// give-up time, lost its peer.
	if ev&EventIn != 0 && p.lib.SockState(pd.s) == StatusBroken && pd.silentFor() > lostAfter {
		if v, err := p.lib.GetSockOpt(pd.s, OptRcvData); err == nil && v == 0 {
			pd.lost.Store(true)
		}
	}
	pd.wake(ev)
}

// lostAfter is below the silence after which UDT 4.11 gives up on a peer
// (over 16 expiries and at least 5 s): a connection that delivered data
// more recently cannot have been broken by that timeout.
const lostAfter = 4 * time.Second

// pollDesc is the poll state of one socket.
type pollDesc struct {
	p *poller
	s Socket

	mu         sync.Mutex
	registered Events // what the UDT epoll watches for now
	readers    int    // goroutines waiting to read or accept
	writers    int    // goroutines waiting to write or for the connect
	rready     chan struct{}
	wready     chan struct{}
	closing    chan struct{}
	closed     bool
	rdeadline  time.Time
	wdeadline  time.Time

	brokenSeen int          // the poller's round that first saw it BROKEN (poller only)
	opened     time.Time    // when this side got the socket
	lastData   atomic.Int64 // unix nanoseconds of the last Read that returned data
	lost       atomic.Bool  // UDT gave up on a silent peer (see poller.ready)
}

// noteData records that data arrived from the peer, which was alive then.
func (pd *pollDesc) noteData() { pd.lastData.Store(time.Now().UnixNano()) }

// silentFor is how long the peer has delivered nothing to a Read.
func (pd *pollDesc) silentFor() time.Duration {
	if t := pd.lastData.Load(); t != 0 {
		return time.Since(time.Unix(0, t))
	}
	return time.Since(pd.opened)
}

func (p *poller) open(s Socket) *pollDesc {
	pd := &pollDesc{p: p, s: s, rready: make(chan struct{}), wready: make(chan struct{}), closing: make(chan struct{}), opened: time.Now()}
	p.mu.Lock()
	p.fds[s.ID()] = pd
	p.mu.Unlock()
	return pd
}

// rearm brings the UDT epoll's interest in line with the waiters. UDT's
// epoll can only add events to a socket's set, so a change is a remove
// and an add. Called with pd.mu held.
func (pd *pollDesc) rearm() {
	var want Events
	if pd.readers > 0 {
		want |= EventIn
	}
	if pd.writers > 0 {
		want |= EventOut
	}
	if want == pd.registered || pd.closed {
		return
	}
	lib, ep, id := pd.p.lib, pd.p.ep, pd.s.ID()
	if pd.registered != 0 {
		lib.EpollRemoveUsock(ep, id)
	}
	pd.registered = 0
	if want != 0 && lib.EpollAddUsock(ep, id, want) == nil {
		pd.registered = want
	}
}

// wake wakes the goroutines waiting for ev and drops the interest they
// had: a woken goroutine that still cannot proceed registers it again.
func (pd *pollDesc) wake(ev Events) {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	if ev&EventIn != 0 {
		close(pd.rready)
		pd.rready = make(chan struct{})
	}
	if ev&EventOut != 0 {
		close(pd.wready)
		pd.wready = make(chan struct{})
	}
	if pd.registered&ev != 0 {
		lib, ep, id := pd.p.lib, pd.p.ep, pd.s.ID()
		lib.EpollRemoveUsock(ep, id)
		pd.registered &^= ev
		if pd.registered != 0 && lib.EpollAddUsock(ep, id, pd.registered) != nil {
			pd.registered = 0
		}
	}
}

func (pd *pollDesc) wakeAll() { pd.wake(EventIn | EventOut) }

// errDeadline is what a call returns when its deadline passes: it is
// os.ErrDeadlineExceeded, a net.Error whose Timeout is true.
var errDeadline error = os.ErrDeadlineExceeded

// wait parks the caller until the socket may be ready for ev (EventIn or
// EventOut), its deadline passes, or the socket closes. A nil
// return means "try again", not "ready": wake-ups may be spurious.
func (pd *pollDesc) wait(ev Events) error {
	pd.mu.Lock()
	if pd.closed {
		pd.mu.Unlock()
		return net.ErrClosed
	}
	var ready chan struct{}
	var deadline time.Time
	if ev == EventIn {
		pd.readers++
		ready, deadline = pd.rready, pd.rdeadline
	} else {
		pd.writers++
		ready, deadline = pd.wready, pd.wdeadline
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		pd.done(ev)
		pd.mu.Unlock()
		return errDeadline
	}
	pd.rearm()
	pd.mu.Unlock()

	defer func() {
		pd.mu.Lock()
		pd.done(ev)
		pd.rearm()
		pd.mu.Unlock()
	}()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ready:
		return nil
	case <-pd.closing:
		return net.ErrClosed
	case <-timeout:
		return errDeadline
	}
}

func (pd *pollDesc) done(ev Events) {
	if ev == EventIn {
		pd.readers--
	} else {
		pd.writers--
	}
}

// setDeadline changes a deadline and wakes the waiters it concerns, so a
// call already blocked sees the new one.
func (pd *pollDesc) setDeadline(t time.Time, ev Events) {
	pd.mu.Lock()
	if ev&EventIn != 0 {
		pd.rdeadline = t
	}
	if ev&EventOut != 0 {
		pd.wdeadline = t
	}
	pd.mu.Unlock()
	pd.wake(ev)
}

// close wakes every waiter with net.ErrClosed and takes the socket out of
// the epoll: it must leave the epoll before UDT closes it, or it stays in
// the ready set forever and epoll_wait spins. It reports false if the
// descriptor was already closed.
func (pd *pollDesc) close() bool {
	pd.mu.Lock()
	if pd.closed {
		pd.mu.Unlock()
		return false
	}
	pd.closed = true
	close(pd.closing)
	if pd.registered != 0 {
		pd.p.lib.EpollRemoveUsock(pd.p.ep, pd.s.ID())
		pd.registered = 0
	}
	pd.mu.Unlock()
	pd.p.mu.Lock()
	delete(pd.p.fds, pd.s.ID())
	pd.p.mu.Unlock()
	pd.p.closes.Add(1)
	pd.p.lastClose.Store(time.Now().UnixNano())
	return true
}

// expired reports whether the deadline for ev has passed: checked before
// each attempt, so a past deadline fails a call at once even when the
// socket is ready, as net.Conn documents.
func (pd *pollDesc) expired(ev Events) bool {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	d := pd.wdeadline
	if ev == EventIn {
		d = pd.rdeadline
	}
	return !d.IsZero() && !time.Now().Before(d)
}

func (pd *pollDesc) isClosed() bool {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	return pd.closed
}
