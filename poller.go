package udt

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The poller drives one UDT epoll and parks the goroutines of blocked
// calls in Go, so a blocked Read costs a parked goroutine, not an OS
// thread. Sockets run in UDT's non-blocking mode; a call
// that would block asks the poller for the event it needs and waits on a
// channel.
//
// It follows what UDT reports, and nothing else:
//   - UDT's epoll is level-triggered and its ready sets keep a socket until
//     a call drains it; the shim takes each socket it reports out of them
//     (cudt.PollWait), which makes every readiness an edge. Interest is
//     added when someone waits, kept while the events find a waiter (a
//     reader that drains and parks again asks for nothing), and taken out
//     by an event that finds none. Every change to the epoll is made by
//     whoever runs the round (below): waiters only say what they need
//     (pollDesc.want) and wake it.
//   - UDT's epoll never reports a peer's clean close, a failed connect, or
//     an acknowledgement. UDT does raise its own event for each of them
//     (CTimer's event: on every ACK, a peer's shutdown, a broken connection,
//     a new connection), so after such an event, and at most once per
//     scanGap, the poller reads the state of the sockets that something
//     waits on, in one C call (a scan). With nothing to wait for it scans
//     nothing, and it stops when no socket is open.
//
// Who waits in UDT's epoll: one goroutine at a time runs the poller's
// round (the epoll, a wait in it, the wakes, the scans). A goroutine about
// to park with nobody running the round runs it itself while it waits
// (lead), so UDT's thread wakes that goroutine's own thread, as it wakes a
// thread blocked in UDT's recv: no hand-off through a second thread and
// goroutine. It leaves the round when its own wait ends, to a parked
// waiter (which then leads) or to the poller goroutine, which runs the
// round only for what cannot lead (a dial's wait, a drain, a change to
// the epoll) and stops when no socket is open. Either way one thread
// waits in UDT for all sockets, and the waiters parked beside it hold
// none.
//
// Every timing it assumes is in timing.go.
type poller struct {
	lib pollLib
	now func() time.Time // time.Now; tests step a clock of their own

	mu      sync.Mutex
	fds     map[SocketID]*pollDesc
	changed []*pollDesc // descriptors whose wanted interest, or closing, changed
	drains  []*drainReq // waiting until the peer has acknowledged everything
	running bool

	nwaiting atomic.Int32 // goroutines in pollDesc.waitFor, on every socket
	nfollow  atomic.Int32 // those of them that cannot run the round
	// blind is set while the poller waits without watching (no scans, UDT's
	// event ignored): a waiter that comes then must wake it, even one whose
	// interest is already in the epoll, or a peer's close, which UDT's epoll
	// never reports, goes unseen.
	blind    atomic.Bool
	ndialing atomic.Int32 // connects in progress (see dialTick)
	dials    atomic.Int64 // connects started

	// The round (the epoll and the poller's own state) is run by one
	// goroutine at a time: the poller goroutine, or a waiter that found it
	// free and runs it while it waits (leadWait), so that UDT's thread wakes
	// the waiting goroutine's own thread, with no hand-off from the
	// poller's. tok holds the round while nobody runs it; kick makes the
	// poller goroutine take it back.
	tok    chan *pollRound
	kick   chan struct{}
	leader atomic.Pointer[pollDesc] // whose waiter leads now, if any
}

// An abandoned socket is one whose dial was given up while UDT was still
// connecting it. UDT 4.11 makes closing such a socket hazardous both ways,
// and each way crashed the tests:
//   - while an answer from the peer is being processed, a close makes UDT's
//     receive thread complete the connection on a socket it can no longer
//     find: it throws a C++ exception out of a function declared not to
//     throw (std::terminate);
//   - once UDT has stopped asking (3 s after the connect), a close no
//     longer takes the socket out of UDT's list of connecting sockets, and
//     after UDT deletes it, its receive thread reads the freed socket on
//     every pass (a segmentation fault).
//
// So such a socket is closed once its handshake completed, or once UDT
// gave up on it on its own receive thread (no answer is then in
// processing, and a late one is ignored), after taking it out of that
// list (connectSettled).

// closeWhenSettled closes s, an abandoned socket whose connect started at
// since, once that is safe (see above). It waits on timers, not on a goroutine:
// a program whose dial timed out and that closed everything else has no
// goroutine of this package left (goleak), while UDT settles the socket.
func (p *poller) closeWhenSettled(s Socket, since time.Time) {
	if p.settle(s) {
		return
	}
	pollStats.abandonedWait.Add(1)
	// Before connectTTL UDT may still be asking: no need to ask it.
	time.AfterFunc(max(time.Until(since.Add(connectTTL)), 0), func() { p.settleLater(s) })
}

func (p *poller) settleLater(s Socket) {
	if !p.settle(s) {
		time.AfterFunc(udtTick, func() { p.settleLater(s) })
		return
	}
	pollStats.abandonedWait.Add(-1)
}

// settle closes s if that is safe, and reports whether it did.
func (p *poller) settle(s Socket) bool {
	if !p.lib.connectSettled(s) {
		return false
	}
	p.lib.Close(s)
	pollStats.abandonedClose.Add(1)
	noteSocketClosed()
	return true
}

var thePoller = newPoller(nativePoll{})

// getPoller is the net layer's way in: it also takes the net layer's hold
// on the library (holdLibrary).
func getPoller() (*poller, error) {
	if err := holdLibrary(); err != nil {
		return nil, err
	}
	return thePoller, nil
}

func newPoller(lib pollLib) *poller {
	return &poller{lib: lib, now: time.Now, fds: map[SocketID]*pollDesc{},
		tok: make(chan *pollRound, 1), kick: make(chan struct{}, 1)}
}

// open makes s known to the poller, starting it if it was not running.
func (p *poller) open(s Socket) (*pollDesc, error) {
	pd := &pollDesc{p: p, s: s, rready: make(chan struct{}), wready: make(chan struct{}),
		closing: make(chan struct{}), gone: make(chan struct{}), idle: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		ep, err := p.lib.EpollCreate()
		if err != nil {
			return nil, err
		}
		p.running = true
		pollStats.runs.Add(1)
		p.tok <- &pollRound{
			ep:         ep,
			ev:         EpollEvents{Read: make([]SocketID, 0, 512), Write: make([]SocketID, 0, 512)},
			stale:      map[SocketID]int{},
			registered: map[*pollDesc]Events{},
			lastScan:   p.now(),
		}
		go p.run()
	}
	p.fds[s.ID()] = pd
	return pd, nil
}

// forget drops a closed descriptor; the poller stops when none is left.
func (p *poller) forget(pd *pollDesc) {
	p.mu.Lock()
	if p.fds[pd.s.ID()] == pd {
		delete(p.fds, pd.s.ID())
	}
	empty := len(p.fds) == 0
	p.mu.Unlock()
	if empty {
		p.kickPoller() // to stop
	}
}

// request tells the poller that pd's wanted interest or closing changed.
func (p *poller) request(pd *pollDesc) {
	p.enqueue(pd)
	p.kickPoller()
}

// pollRound is the poller goroutine's own state.
type pollRound struct {
	ep         Epoll
	ev         EpollEvents
	lastScan   time.Time
	scanDue    bool // UDT raised its event within scanGap of the last scan
	stale      map[SocketID]int
	infos      []connInfo
	ids        []SocketID
	registered map[*pollDesc]Events // what the epoll watches for now
	dialsSeen  int64                // p.dials when dialWait was last reset
	dialWait   time.Duration        // how long to wait while a dial waits
}

// run is the poller goroutine. It runs the round while anything needs it
// and no waiter runs it; when nothing does, it leaves the round for the
// next waiter to run itself (lead) and parks until kicked. It stops when
// no socket is open.
func (p *poller) run() {
	for {
		// A kick may be stale: the waiter that sent it was served since.
		for !p.needed() {
			<-p.kick
		}
		r := <-p.tok
		for p.needed() {
			if p.step(r, -1, nil) {
				return
			}
		}
		p.tok <- r
	}
}

// needed reports whether the poller goroutine must run the round: a
// goroutine waits that cannot run it itself (pollDesc.waitFor), a drain
// or a dial is in progress, a change to the epoll is pending, or no socket
// is left and the poller must stop. Other waiters take the round when it
// is left (tok).
func (p *poller) needed() bool {
	if p.nfollow.Load() > 0 || p.ndialing.Load() > 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.fds) == 0 || len(p.changed) > 0 || len(p.drains) > 0
}

// kickRound makes the poller goroutine take the round as soon as it is
// free, unless nothing needs it by then.
func (p *poller) kickRound() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// kickPoller is kickRound that also interrupts a wait in progress: a
// change the round must act on now.
func (p *poller) kickPoller() {
	p.kickRound()
	p.lib.pollSignal()
}

// enqueue puts pd on the changes the round applies next.
func (p *poller) enqueue(pd *pollDesc) {
	p.mu.Lock()
	if !pd.queued {
		pd.queued = true
		p.changed = append(p.changed, pd)
	}
	p.mu.Unlock()
}

// leadWait is a waiter that runs the round itself while it waits.
type leadWait struct {
	pd    *pollDesc
	ready chan struct{} // its wake channel, rready or wready
}

// over reports whether the leading waiter's wait has ended.
func (w *leadWait) over() bool {
	select {
	case <-w.ready:
	case <-w.pd.closing:
	case <-w.pd.idle:
	default:
		return false
	}
	return true
}

// lead runs the round for w until w's wait ends, as pollDesc.waitFor's
// select would end it, then leaves the round to whoever needs it next. A
// change that ends the wait while UDT's wait is in progress interrupts it
// (interrupt).
func (p *poller) lead(r *pollRound, w *leadWait, deadline time.Time) error {
	pollStats.leads.Add(1)
	p.leader.Store(w.pd)
	defer func() {
		// Counted out first: the round must not look needed on its
		// account once it is left.
		w.pd.waiting.Add(-1)
		p.nwaiting.Add(-1)
		p.leader.Store(nil)
		p.tok <- r
	}()
	for {
		select {
		case <-w.ready:
			return nil
		case <-w.pd.closing:
			return net.ErrClosed
		case <-w.pd.idle:
			return errPeerIdle
		default:
		}
		limit := time.Duration(-1)
		if !deadline.IsZero() {
			if limit = time.Until(deadline); limit <= 0 {
				return errDeadline
			}
		}
		p.step(r, limit, w)
	}
}

// interrupt ends UDT's wait if a waiter of pd is leading: its wait may
// have ended (a new deadline, the peer idle timeout).
func (p *poller) interrupt(pd *pollDesc) {
	if p.leader.Load() == pd {
		p.lib.pollSignal()
	}
}

// step runs one round: the epoll brought in line with the waiters, one
// wait on UDT (at most limit, if not negative), the waiters it found
// woken, and a scan when one is due. The poller goroutine runs it with no
// leader; a waiter leading runs it with its own descriptor, and only the
// poller goroutine stops (step reports true) when no socket is left.
func (p *poller) step(r *pollRound, limit time.Duration, leader *leadWait) (stopped bool) {
	now := p.now()
	p.apply(r)

	if leader != nil {
		if leader.over() { // the interest just added woke it, to try again
			return false
		}
	} else {
		p.mu.Lock()
		idle := len(p.fds) == 0 && len(p.changed) == 0 && len(p.drains) == 0
		if idle {
			p.running = false
		}
		p.mu.Unlock()
		if idle {
			p.lib.EpollRelease(r.ep)
			return true
		}
		if !p.needed() {
			return false // the changes were all it had to do
		}
	}

	// How long to wait, and whether UDT's event matters meanwhile.
	watching := p.watching()
	if !watching {
		// Blind first, then look again: a waiter that came before
		// the store saw blind false and did not wake us.
		p.blind.Store(true)
		if watching = p.watching(); watching {
			p.blind.Store(false)
		}
	}
	timeout := time.Duration(-1)
	signals := false
	if watching {
		due := r.lastScan.Add(scanBackstop)
		if r.scanDue {
			due = r.lastScan.Add(scanGap)
		} else {
			signals = true
		}
		timeout = max(due.Sub(now), 0)
	}
	if p.ndialing.Load() > 0 {
		// Often just after a connect starts, then less often, as a
		// handshake takes a round trip or two.
		if d := p.dials.Load(); d != r.dialsSeen {
			r.dialsSeen, r.dialWait = d, dialTick
		}
		if timeout < 0 || timeout > r.dialWait {
			timeout = r.dialWait
		}
	}
	if limit >= 0 && (timeout < 0 || timeout > limit) {
		timeout = limit
	}

	r.ev.Read, r.ev.Write = r.ev.Read[:0], r.ev.Write[:0]
	why, err := p.lib.pollWait(r.ep, &r.ev, timeout, signals)
	p.blind.Store(false)
	pollStats.waits.Add(1)
	if err != nil {
		// Only a released epoll fails here, which this package never
		// does while running; do not spin if it ever happens.
		time.Sleep(udtTick)
	}
	switch why {
	case pollTimeout:
		r.dialWait = min(2*r.dialWait, udtTick)
	case pollReady:
		if p.deliver(r) && (leader == nil || !leader.over()) {
			// Let a woken reader or writer run on this thread now,
			// while it is awake, rather than on one woken for it.
			runtime.Gosched()
		}
	case pollUDT:
		pollStats.udtSignals.Add(1)
		r.scanDue = true
	}
	now = p.now()
	watching = p.watching() // a waiter may have come meanwhile
	if watching && r.scanDue && now.Sub(r.lastScan) >= scanGap {
		p.scan(r, false)
	} else if watching && now.Sub(r.lastScan) >= scanBackstop {
		p.scan(r, true)
	}
	return false
}

// watching reports whether a scan could find something: a waiter on a
// connection, or a drain.
func (p *poller) watching() bool {
	if p.nwaiting.Load() > 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.drains) > 0
}

// apply brings the epoll in line with what the waiters want.
func (p *poller) apply(r *pollRound) {
	p.mu.Lock()
	changed := p.changed
	p.changed = nil
	for _, pd := range changed {
		pd.queued = false
	}
	p.mu.Unlock()
	for _, pd := range changed {
		pd.mu.Lock()
		want, closed := pd.want, pd.closed
		pd.mu.Unlock()
		reg := r.registered[pd]
		if closed {
			// Out of the epoll before UDT closes it, or it may stay in
			// the ready set for good.
			if reg != 0 {
				p.lib.EpollRemoveUsock(r.ep, pd.s.ID())
				delete(r.registered, pd)
			}
			pd.goneOnce.Do(func() { close(pd.gone) })
			continue
		}
		if want == reg {
			continue
		}
		p.setInterest(r, pd, want)
		pollStats.arms.Add(1)
		// The event may have come before the interest: each waiter tries
		// once more now that nothing can be missed.
		pd.wake(want &^ reg)
	}
}

// setInterest makes the epoll watch pd for want. UDT's epoll can only add
// events to a socket's set, so a change is a remove and an add; the remove
// also takes the socket out of the ready sets.
func (p *poller) setInterest(r *pollRound, pd *pollDesc, want Events) {
	id := pd.s.ID()
	if r.registered[pd] != 0 {
		p.lib.EpollRemoveUsock(r.ep, id)
		delete(r.registered, pd)
	}
	if want != 0 && p.lib.EpollAddUsock(r.ep, id, want) == nil {
		r.registered[pd] = want
	}
}

// deliver wakes the waiters of the sockets UDT reported, and takes the
// events nobody waited for out of the epoll. It reports whether it woke
// anyone.
func (p *poller) deliver(r *pollRound) bool {
	woke := false
	for _, id := range r.ev.Read {
		woke = p.ready(r, id, EventIn) || woke
	}
	for _, id := range r.ev.Write {
		woke = p.ready(r, id, EventOut) || woke
	}
	// A full slice may have left ready sockets unreported: make room for
	// all of them next time.
	if len(r.ev.Read) == cap(r.ev.Read) || len(r.ev.Write) == cap(r.ev.Write) {
		r.ev.Read = make([]SocketID, 0, 2*cap(r.ev.Read))
		r.ev.Write = make([]SocketID, 0, 2*cap(r.ev.Write))
	}
	return woke
}

func (p *poller) ready(r *pollRound, id SocketID, ev Events) bool {
	pollStats.events.Add(1)
	p.mu.Lock()
	pd := p.fds[id]
	p.mu.Unlock()
	if pd == nil || r.registered[pd]&ev == 0 {
		p.stale(r, id, pd)
		return false
	}
	delete(r.stale, id)
	pd.mu.Lock()
	waiters := pd.readers
	if ev == EventOut {
		waiters = pd.writers
	}
	if waiters == 0 {
		pd.want &^= ev
	}
	pd.mu.Unlock()
	// The shim took the socket out of the ready set it reported (an edge,
	// cudt.PollWait): with a waiter, the interest stays, so a reader or
	// writer that drains UDT's buffer and parks again costs the poller
	// nothing, and the next time UDT readies the socket wakes it. With
	// none, nobody may come for a while: out of the epoll.
	if waiters == 0 {
		pollStats.disarmed.Add(1)
		p.setInterest(r, pd, r.registered[pd]&^ev)
	}
	pd.wake(ev)
	return waiters > 0
}

// stale handles a socket UDT reports that the poller does not watch. UDT
// 4.11 keeps a socket in its ready sets when it was closed there (by the
// program, or by UDT after the peer left) before the poller took it out,
// and epoll_wait then returns at once, forever. A remove clears it while
// UDT still knows the socket; one that keeps coming back is only cleared by
// a new epoll.
func (p *poller) stale(r *pollRound, id SocketID, pd *pollDesc) {
	p.lib.EpollRemoveUsock(r.ep, id)
	if pd != nil && r.registered[pd] != 0 && p.lib.EpollAddUsock(r.ep, id, r.registered[pd]) != nil {
		delete(r.registered, pd)
		pd.wake(EventIn | EventOut)
	}
	r.stale[id]++
	if r.stale[id] < 3 {
		return
	}
	ep, err := p.lib.EpollCreate()
	if err != nil {
		return
	}
	pollStats.staleRebuilds.Add(1)
	for pd, ev := range r.registered {
		if p.lib.EpollAddUsock(ep, pd.s.ID(), ev) != nil {
			delete(r.registered, pd)
		}
		pd.wake(ev)
	}
	p.lib.EpollRelease(r.ep)
	r.ep = ep
	clear(r.stale)
}

// scan reads the state of every socket something waits on, and acts on
// what changed: a peer that closed or was lost wakes the waiters, a drained
// send buffer ends a drain.
func (p *poller) scan(r *pollRound, backstop bool) {
	r.lastScan, r.scanDue = p.now(), false
	pollStats.scans.Add(1)
	if backstop {
		pollStats.backstopScans.Add(1)
	}
	p.mu.Lock()
	var pds []*pollDesc
	r.ids = r.ids[:0]
	for id, pd := range p.fds {
		if pd.waiting.Load() > 0 {
			pds = append(pds, pd)
			r.ids = append(r.ids, id)
		}
	}
	drains := p.drains
	for _, d := range drains {
		r.ids = append(r.ids, d.pd.s.ID())
	}
	p.mu.Unlock()
	if cap(r.infos) < len(r.ids) {
		r.infos = make([]connInfo, len(r.ids))
	}
	infos := r.infos[:len(r.ids)]
	p.lib.connInfos(r.ids[:len(pds)], infos[:len(pds)], false)
	p.lib.connInfos(r.ids[len(pds):], infos[len(pds):], true)

	found := false
	for i, pd := range pds {
		ci := infos[i]
		if ci.exists && ci.status != StatusBroken {
			continue
		}
		found = true
		pd.notePeer(ci)
		pd.wake(EventIn | EventOut)
	}
	var ended []*drainReq
	for i, d := range drains {
		ci := infos[len(pds)+i]
		switch {
		case d.abandoned.Load():
			ended = append(ended, d)
			continue
		case ci.sndPkts == 0:
			// Acknowledged, also when the peer closed since; or UDT has
			// deleted a socket nobody watched, whose state is then gone.
			d.done <- drainResult{}
		case !ci.exists || ci.status == StatusBroken:
			d.pd.notePeer(ci)
			d.done <- drainResult{left: ci.sndPkts, gone: true}
		default:
			continue
		}
		found = true
		ended = append(ended, d)
	}
	if len(ended) > 0 {
		p.mu.Lock()
		p.drains = removeDrains(p.drains, ended)
		p.mu.Unlock()
	}
	if backstop && found {
		pollStats.backstopFinds.Add(1)
	}
}

// removeDrains returns all without ended, in a new slice: the poller's
// scan reads a snapshot of the old one without the lock.
func removeDrains(all, ended []*drainReq) []*drainReq {
	var keep []*drainReq
	for _, d := range all {
		gone := false
		for _, e := range ended {
			gone = gone || d == e
		}
		if !gone {
			keep = append(keep, d)
		}
	}
	return keep
}

// A drainReq waits until the peer has acknowledged everything in pd's send
// buffer.
type drainReq struct {
	pd        *pollDesc
	done      chan drainResult // one result, buffered
	abandoned atomic.Bool      // its waiter gave up
}

type drainResult struct {
	left int  // packets not acknowledged
	gone bool // the connection broke first
}

// drain waits until the peer has acknowledged everything sent on pd, the
// connection breaks, cancel is closed, or until passes (zero: never). It
// returns the packets left unacknowledged, and why it stopped short:
// errPeerGone, errDeadline or errCanceled.
func (p *poller) drain(pd *pollDesc, cancel <-chan struct{}, until time.Time) (int, error) {
	d := &drainReq{pd: pd, done: make(chan drainResult, 1)}
	p.mu.Lock()
	p.drains = append(p.drains, d)
	p.mu.Unlock()
	// Look at once (after joining the drains, so the last ACK's event
	// cannot fall between): an idle connection has nothing to drain, and
	// UDT raises no event for that.
	var ci [1]connInfo
	p.lib.connInfos([]SocketID{pd.s.ID()}, ci[:], true)
	if !ci[0].exists || ci[0].sndPkts == 0 {
		p.mu.Lock()
		p.drains = removeDrains(p.drains, []*drainReq{d})
		p.mu.Unlock()
		if ci[0].sndPkts > 0 {
			// UDT ended the connection, and what it had not delivered when
			// it did was kept (cudt.WatchConn): never "delivered" without
			// proof, however long after the break Close comes.
			pd.notePeer(ci[0])
			return ci[0].sndPkts, errPeerGone
		}
		return 0, nil
	}
	p.kickPoller() // the poller counts this drain from now on
	var timeout <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case res := <-d.done:
		if res.gone {
			return res.left, errPeerGone
		}
		return 0, nil
	case <-cancel:
		d.abandoned.Store(true)
		return p.unacked(pd), errCanceled
	case <-timeout:
		d.abandoned.Store(true)
		return p.unacked(pd), errDeadline
	case <-pd.idle:
		d.abandoned.Store(true)
		return p.unacked(pd), errPeerIdle
	}
}

func (p *poller) unacked(pd *pollDesc) int {
	var ci [1]connInfo
	p.lib.connInfos([]SocketID{pd.s.ID()}, ci[:], true)
	return ci[0].sndPkts
}

// Internal answers of drain and waitFor, which their callers turn into
// the errors users see.
var (
	errPeerGone = errors.New("udt: the connection broke")
	errCanceled = errors.New("udt: canceled")
)

// pollDesc is the poll state of one socket.
type pollDesc struct {
	p *poller
	s Socket

	mu        sync.Mutex
	readers   int    // goroutines waiting to read or accept
	writers   int    // goroutines waiting to write or for the connect
	want      Events // what the waiters need the epoll to watch
	rready    chan struct{}
	wready    chan struct{}
	closing   chan struct{}
	closed    bool
	rdeadline time.Time
	wdeadline time.Time
	rgen      uint64 // wakes for EventIn so far (gen)
	wgen      uint64 // and for EventOut

	queued   bool         // on p.changed; guarded by p.mu
	waiting  atomic.Int32 // goroutines in waitFor: a scan looks at this socket
	gone     chan struct{}
	goneOnce sync.Once
	peer     atomic.Int32 // peerUnknown, peerClosed or peerLost
	port     *udpPort     // the shared UDP port it holds a reference to, if any

	// The peer idle timeout (Config.PeerIdleTimeout): idle closes when
	// nothing was heard from the peer for idleAfter. idleTimer and
	// idleGen are guarded by mu; a timer of an older generation stops.
	idle      chan struct{}
	idleOnce  sync.Once
	idleAfter time.Duration
	idleGen   int
	idleTimer *time.Timer
	idleDone  bool // the socket is released: no more checks
}

const (
	peerUnknown int32 = iota
	peerClosed        // the peer closed the connection
	peerLost          // UDT gave up on a silent peer
)

// notePeer records why a connection ended, as UDT knows it.
func (pd *pollDesc) notePeer(ci connInfo) {
	switch {
	case !ci.exists && !ci.ended:
	case ci.shutdown:
		if pd.peer.CompareAndSwap(peerUnknown, peerClosed) {
			pollStats.peerCloses.Add(1)
		}
	case ci.status == StatusBroken:
		if pd.peer.CompareAndSwap(peerUnknown, peerLost) {
			pollStats.peersLost.Add(1)
		}
	}
}

// peerState is why the connection ended, asking UDT if nobody looked yet.
func (pd *pollDesc) peerState() int32 {
	if st := pd.peer.Load(); st != peerUnknown {
		return st
	}
	var ci [1]connInfo
	pd.p.lib.connInfos([]SocketID{pd.s.ID()}, ci[:], true)
	pd.notePeer(ci[0])
	return pd.peer.Load()
}

// wake wakes the goroutines waiting for ev, and those about to.
func (pd *pollDesc) wake(ev Events) {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	if ev&EventIn != 0 {
		close(pd.rready)
		pd.rready = make(chan struct{})
		pd.rgen++
	}
	if ev&EventOut != 0 {
		close(pd.wready)
		pd.wready = make(chan struct{})
		pd.wgen++
	}
}

// gen is the count of wakes for ev so far. A caller reads it before the
// attempt that may fail with "would block" and passes it to wait: a wake
// that came in between, which consumed UDT's edge, then makes wait
// return at once instead of parking until the next one.
func (pd *pollDesc) gen(ev Events) uint64 {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	if ev == EventIn {
		return pd.rgen
	}
	return pd.wgen
}

// errDeadline is what a call returns when its deadline passes: UDT's
// ETIMEOUT (6003), the code of its own blocking calls that run out of
// UDT_RCVTIMEO or UDT_SNDTIMEO, so CodeOf and errors.As(*Error) see it; it
// matches os.ErrDeadlineExceeded and syscall.ETIMEDOUT, and its Timeout
// is true. One shared value: callers compare with ==, and errors are
// read-only.
var errDeadline error = &Error{Op: "deadline", Code: ErrTimeout, Msg: "i/o timeout", err: os.ErrDeadlineExceeded}

// wait parks the caller until the socket may be ready for ev (EventIn or
// EventOut), its deadline passes, or the socket closes; at once if a wake
// for ev came since gen (pd.gen, read before the failed attempt). A nil
// return means "try again", not "ready": wake-ups may be spurious.
func (pd *pollDesc) wait(ev Events, gen uint64) error {
	return pd.waitFor(ev, gen, nil, time.Time{})
}

// waitFor is wait with a cancel channel and a limit of its own (zero:
// none) besides the deadline; they return errCanceled and errAttemptExpired.
func (pd *pollDesc) waitFor(ev Events, gen uint64, cancel <-chan struct{}, limit time.Time) error {
	pd.mu.Lock()
	if pd.closed {
		pd.mu.Unlock()
		return net.ErrClosed
	}
	if pd.idleExpired() {
		pd.mu.Unlock()
		return errPeerIdle
	}
	var ready chan struct{}
	var deadline time.Time
	var now uint64
	if ev == EventIn {
		pd.readers++
		ready, deadline, now = pd.rready, pd.rdeadline, pd.rgen
	} else {
		pd.writers++
		ready, deadline, now = pd.wready, pd.wdeadline, pd.wgen
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		pd.done(ev)
		pd.mu.Unlock()
		return errDeadline
	}
	if now != gen {
		pd.done(ev)
		pd.mu.Unlock()
		return nil
	}
	ask := pd.want&ev == 0
	pd.want |= ev
	pd.mu.Unlock()
	pd.waiting.Add(1)
	pd.p.nwaiting.Add(1)
	led := false
	defer func() {
		if !led { // lead counts itself out before it leaves the round
			pd.waiting.Add(-1)
			pd.p.nwaiting.Add(-1)
		}
	}()
	defer func() {
		pd.mu.Lock()
		pd.done(ev)
		pd.mu.Unlock()
	}()

	// A plain wait runs the round itself when nobody does, now or once
	// whoever does leaves it (tok below). A wait that can end for reasons
	// of its own (cancel, limit) leaves the round to others.
	var tok chan *pollRound
	if cancel == nil && limit.IsZero() {
		select {
		case r := <-pd.p.tok:
			if ask {
				pd.p.enqueue(pd)
			}
			led = true
			return pd.p.lead(r, &leadWait{pd: pd, ready: ready}, deadline)
		default:
		}
		tok = pd.p.tok
		if ask {
			// Someone runs the round: it applies the change now.
			pd.p.enqueue(pd)
			pd.p.lib.pollSignal()
		} else if pd.p.blind.Load() {
			// Armed already, but nothing watches the socket's state.
			pd.p.lib.pollSignal()
		}
	} else {
		pd.p.nfollow.Add(1)
		defer pd.p.nfollow.Add(-1)
		if ask {
			pd.p.request(pd)
		} else {
			pd.p.kickRound()
			if pd.p.blind.Load() {
				pd.p.lib.pollSignal()
			}
		}
	}

	var timeout, expire <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	if !limit.IsZero() {
		t := time.NewTimer(time.Until(limit))
		defer t.Stop()
		expire = t.C
	}
	select {
	case <-ready:
		return nil
	case r := <-tok:
		led = true
		return pd.p.lead(r, &leadWait{pd: pd, ready: ready}, deadline)
	case <-pd.closing:
		return net.ErrClosed
	case <-pd.idle:
		return errPeerIdle
	case <-timeout:
		return errDeadline
	case <-expire:
		return errAttemptExpired
	case <-cancel:
		return errCanceled
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
	pd.p.interrupt(pd)
}

// close wakes every waiter with net.ErrClosed and has the poller take the
// socket out of the epoll; it reports false if the descriptor was already
// closed. The socket must not be closed in UDT before awaitGone returns: a socket
// closed while in the epoll's ready set stays there for good.
func (pd *pollDesc) close() bool {
	pd.mu.Lock()
	if pd.closed {
		pd.mu.Unlock()
		return false
	}
	pd.closed = true
	pd.want = 0
	close(pd.closing)
	// The peer idle timer runs on: a Close waiting for the peer's
	// acknowledgement ends with it (stopIdle, once the socket is released).
	pd.mu.Unlock()
	pd.p.request(pd)
	return true
}

// awaitGone waits until the poller has taken the socket out of the epoll.
func (pd *pollDesc) awaitGone() { <-pd.gone }

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

// errPeerIdle is the answer of every call on a connection whose peer was
// silent for its peer idle timeout (Config.PeerIdleTimeout): a timeout, as
// TCP's keep-alive failure is, and a lost connection.
var errPeerIdle error = &Error{Op: "peer idle timeout", Code: ErrConnLost,
	Msg: "nothing heard from the peer within the peer idle timeout (Config.PeerIdleTimeout)", err: syscall.ETIMEDOUT}

// setPeerIdle arms the peer idle timeout (d > 0) or disarms it (0).
func (pd *pollDesc) setPeerIdle(d time.Duration) {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	pd.idleAfter = d
	pd.idleGen++
	if pd.idleTimer != nil {
		pd.idleTimer.Stop()
		pd.idleTimer = nil
	}
	if d > 0 && !pd.idleDone {
		gen := pd.idleGen
		pd.idleTimer = time.AfterFunc(d, func() { pd.checkIdle(gen) })
	}
}

// checkIdle asks UDT when it last heard from the peer: past the timeout
// the connection is over; otherwise it looks again when it could be. One
// cgo call per timeout while the peer is heard from.
func (pd *pollDesc) checkIdle(gen int) {
	pd.mu.Lock()
	d := pd.idleAfter
	live := gen == pd.idleGen && !pd.idleDone
	pd.mu.Unlock()
	if !live {
		return
	}
	ago, ok := pd.p.lib.heardAgo(pd.s)
	if !ok {
		return // UDT ended the connection: its end reports itself
	}
	if ago >= d {
		pd.idleOnce.Do(func() {
			pollStats.peersIdle.Add(1)
			close(pd.idle)
		})
		pd.wake(EventIn | EventOut)
		pd.p.interrupt(pd)
		return
	}
	pd.mu.Lock()
	if gen == pd.idleGen && !pd.idleDone {
		pd.idleTimer = time.AfterFunc(d-ago, func() { pd.checkIdle(gen) })
	}
	pd.mu.Unlock()
}

// idleExpired reports whether the peer idle timeout passed.
func (pd *pollDesc) idleExpired() bool {
	select {
	case <-pd.idle:
		return true
	default:
		return false
	}
}

// stopIdle ends the peer idle checks of a socket about to be released.
func (pd *pollDesc) stopIdle() {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	pd.idleDone = true
	if pd.idleTimer != nil {
		pd.idleTimer.Stop()
		pd.idleTimer = nil
	}
}
