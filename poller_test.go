package udt

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
)

// fakePoll is a scripted pollLib: the test decides what each wait of the
// poller returns and what UDT says of each socket, so races between wake,
// rearm, close, EOF and a lost peer play out in a chosen order, with no
// sleep and no timing.
type fakePoll struct {
	Library // nil: a call the test did not script panics

	mu       sync.Mutex
	epolls   int // epolls created
	live     int // epolls not released
	interest map[SocketID]Events
	infos    map[SocketID]connInfo
	log      []string

	waits   int           // pollWait calls
	watched bool          // whether the last one had a timeout and took UDT's event
	script  chan fakeWait // what each pollWait returns
	woken   chan struct{} // pollSignal
	changed chan struct{} // a change to the epoll or its release
	clock   time.Time
}

type fakeWait struct {
	read, write []SocketID
	why         pollWhy
}

func newFakePoll() (*fakePoll, *poller) {
	f := &fakePoll{
		interest: map[SocketID]Events{},
		infos:    map[SocketID]connInfo{},
		script:   make(chan fakeWait),
		woken:    make(chan struct{}, 1),
		changed:  make(chan struct{}, 64),
		clock:    time.Unix(1e9, 0),
	}
	p := newPoller(f)
	p.now = f.now
	return f, p
}

func (f *fakePoll) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock
}

func (f *fakePoll) note(s string) {
	f.log = append(f.log, s)
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakePoll) EpollCreate() (Epoll, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epolls++
	f.live++
	clear(f.interest)
	return Epoll(f.epolls), nil
}

func (f *fakePoll) EpollRelease(Epoll) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live--
	f.note("release")
	return nil
}

func (f *fakePoll) EpollAddUsock(_ Epoll, id SocketID, ev Events) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.interest[id] = ev
	f.note("add")
	return nil
}

func (f *fakePoll) EpollRemoveUsock(_ Epoll, id SocketID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.interest, id)
	f.note("remove")
	return nil
}

func (f *fakePoll) watchConn(Socket, bool) {}
func (f *fakePoll) startCC(Socket)         {}

func (f *fakePoll) passBarrier(Socket) {}

func (f *fakePoll) heardAgo(Socket) (time.Duration, bool) { return 0, true }

func (f *fakePoll) connInfos(ids []SocketID, out []connInfo, _ bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, id := range ids {
		ci, ok := f.infos[id]
		if !ok {
			ci = connInfo{status: StatusConnected, exists: true, connected: true}
		}
		out[i] = ci
	}
}

func (f *fakePoll) perfEnded(Socket) (Perf, bool) { return Perf{}, false }

func (f *fakePoll) pollWait(_ Epoll, ev *EpollEvents, timeout time.Duration, signals bool) (pollWhy, error) {
	f.mu.Lock()
	f.waits++
	f.watched = timeout >= 0 && signals
	f.note("wait")
	f.mu.Unlock()
	select {
	case w := <-f.script:
		ev.Read = append(ev.Read[:0], w.read...)
		ev.Write = append(ev.Write[:0], w.write...)
		return w.why, nil
	case <-f.woken:
		return pollWoken, nil
	}
}

func (f *fakePoll) connectSettled(Socket) bool { return true }

func (f *fakePoll) pollSignal() {
	select {
	case f.woken <- struct{}{}:
	default:
	}
}

// step makes the poller's next wait return w; for a UDT event the clock
// moves past scanGap first, so the poller scans.
func (f *fakePoll) step(w fakeWait) {
	if w.why == pollUDT {
		f.mu.Lock()
		f.clock = f.clock.Add(scanGap)
		f.mu.Unlock()
	}
	f.script <- w
}

// until waits for cond over the fake's state, woken by each change to it.
func (f *fakePoll) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-f.changed:
		case <-time.After(timeoutUpperBound):
			t.Fatalf("never: %s (log %v)", what, f.log)
		}
	}
}

func (f *fakePoll) setInfo(id SocketID, ci connInfo) {
	f.mu.Lock()
	f.infos[id] = ci
	f.mu.Unlock()
}

// readingAndWriting reports whether goroutines wait in pd to read and to
// write.
func readingAndWriting(pd *pollDesc) bool {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	return pd.readers > 0 && pd.writers > 0
}

// draining waits until n drains wait in the poller.
func draining(t *testing.T, p *poller, n int) {
	t.Helper()
	for deadline := time.Now().Add(timeoutUpperBound); ; time.Sleep(100 * time.Microsecond) {
		p.mu.Lock()
		got := len(p.drains)
		p.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d drains waiting, want %d", got, n)
		}
	}
}

// roundFree waits until no goroutine runs the poller's round.
func roundFree(t *testing.T, p *poller) {
	t.Helper()
	for deadline := time.Now().Add(timeoutUpperBound); len(p.tok) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the poller's round is never left free")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// parked waits until n goroutines wait in the poller.
func parked(t *testing.T, p *poller, n int32) {
	t.Helper()
	for deadline := time.Now().Add(timeoutUpperBound); p.nwaiting.Load() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines waiting, want %d", p.nwaiting.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func openFake(t *testing.T, p *poller, id SocketID) *pollDesc {
	t.Helper()
	pd, err := p.open(SocketFromID(id, IPv4))
	if err != nil {
		t.Fatal(err)
	}
	return pd
}

// closeFake closes pd as the net layer does: out of the epoll, then gone.
func closeFake(pd *pollDesc) {
	pd.close()
	pd.awaitGone()
	pd.p.forget(pd)
}

// A waiter's interest reaches the epoll through the poller, is followed by
// one retry (the event may have come first), then by the event. The shim
// takes a reported socket out of the ready sets (an edge), so an event
// that finds a waiter leaves the interest in for the next wait, and one
// that finds none takes it out.
func TestPollerArmWakeDisarm(t *testing.T) {
	f, p := newFakePoll()
	pd := openFake(t, p, 7)
	defer closeFake(pd)

	if err := pd.wait(EventIn, pd.gen(EventIn)); err != nil { // woken once the interest is in
		t.Fatalf("first wait: %v", err)
	}
	f.until(t, "IN registered", func() bool { return f.interest[7] == EventIn })

	for i := range 2 {
		errc := make(chan error, 1)
		go func() { errc <- pd.wait(EventIn, pd.gen(EventIn)) }() // already armed: waits for the event
		parked(t, p, 1)
		f.step(fakeWait{read: []SocketID{7}, why: pollReady})
		if err := <-errc; err != nil {
			t.Fatalf("wait %d for the event: %v", i+1, err)
		}
	}
	f.mu.Lock()
	log := strings.Join(f.log, " ")
	kept := f.interest[7] == EventIn
	f.mu.Unlock()
	if !kept || strings.Count(log, "add") != 1 || strings.Contains(log, "remove") {
		t.Fatalf("after two events that found a waiter: interest %v, epoll calls %q; want IN, one add and no remove", f.interest[7], log)
	}

	// Nobody waits on 7, while a reader of another socket runs the poll.
	other := openFake(t, p, 70)
	defer closeFake(other)
	if err := other.wait(EventIn, other.gen(EventIn)); err != nil { // the retry after arming
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- other.wait(EventIn, other.gen(EventIn)) }()
	parked(t, p, 1)
	f.step(fakeWait{read: []SocketID{7}, why: pollReady})
	f.until(t, "IN taken out after an event nobody waited for", func() bool { _, ok := f.interest[7]; return !ok })
	f.step(fakeWait{read: []SocketID{70}, why: pollReady})
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// A wake that comes between a caller's failed attempt and its wait (the
// poller consumed UDT's edge for it) makes the wait return at once; a
// wait with the current count parks.
func TestPollerWakeBeforeWaitIsNotLost(t *testing.T) {
	f, p := newFakePoll()
	pd := openFake(t, p, 8)
	defer closeFake(pd)
	if err := pd.wait(EventIn, pd.gen(EventIn)); err != nil {
		t.Fatalf("first wait: %v", err)
	}
	f.until(t, "IN registered", func() bool { return f.interest[8] == EventIn })

	gen := pd.gen(EventIn) // the attempt...
	errc := make(chan error, 1)
	go func() { errc <- pd.wait(EventIn, pd.gen(EventIn)) }() // ...while another reader parks
	parked(t, p, 1)
	f.step(fakeWait{read: []SocketID{8}, why: pollReady}) // the edge wakes the parked one
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// ...and the first waits only now, with the count from before the edge.
	done := make(chan error, 1)
	go func() { done <- pd.wait(EventIn, gen) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(timeoutUpperBound):
		t.Fatal("a wait after a wake it missed parked until the next event")
	}
	if n := p.nwaiting.Load(); n != 0 {
		t.Fatalf("%d waiting, want 0", n)
	}
}

// UDT reports no clean close through its epoll; its event makes the
// poller look, and it tells a peer's close from a lost peer by UDT's own
// record.
func TestPollerPeerCloseAndLoss(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shutdown bool
		want     int32
	}{{"closed", true, peerClosed}, {"lost", false, peerLost}} {
		t.Run(tc.name, func(t *testing.T) {
			f, p := newFakePoll()
			pd := openFake(t, p, 9)
			defer closeFake(pd)
			pd.wait(EventIn, pd.gen(EventIn)) // the retry after arming
			errc := make(chan error, 1)
			go func() { errc <- pd.wait(EventIn, pd.gen(EventIn)) }()
			f.until(t, "armed", func() bool { return f.interest[9] == EventIn })
			parked(t, p, 1)
			f.setInfo(9, connInfo{status: StatusBroken, exists: true, connected: true, shutdown: tc.shutdown})
			f.step(fakeWait{why: pollUDT})
			if err := <-errc; err != nil {
				t.Fatalf("wait: %v", err)
			}
			if got := pd.peer.Load(); got != tc.want {
				t.Fatalf("peer state %d, want %d", got, tc.want)
			}
		})
	}
}

// A reader whose interest is still in the epoll from its last wait asks
// the poller for nothing when it waits again. If the poller sleeps without
// watching then (only a dial needed it when it went to sleep, and no
// goroutine waited), the reader must still wake it: a peer's close shows
// only in a scan. Before, it slept on, and udt cat under AddressSanitizer
// waited a minute for an EOF.
func TestPollerWakesForAnArmedWaiter(t *testing.T) {
	f, p := newFakePoll()
	pd := openFake(t, p, 5)
	defer closeFake(pd)
	pd.wait(EventIn, pd.gen(EventIn)) // the retry after arming; the interest stays
	f.until(t, "armed", func() bool { return f.interest[5] == EventIn })
	// A dial starts, whose goroutine does not wait yet: the poller's
	// sleep is blind.
	p.ndialing.Add(1)
	defer p.ndialing.Add(-1)
	p.kickPoller()
	f.until(t, "a blind sleep", func() bool { return f.waits >= 2 && !f.watched })
	f.mu.Lock()
	waits := f.waits
	f.mu.Unlock()

	errc := make(chan error, 1)
	go func() { errc <- pd.wait(EventIn, pd.gen(EventIn)) }()
	parked(t, p, 1)
	f.until(t, "the poller watching once the reader waits", func() bool { return f.waits > waits && f.watched })
	f.setInfo(5, connInfo{status: StatusBroken, exists: true, connected: true, shutdown: true})
	f.step(fakeWait{why: pollUDT})
	if err := <-errc; err != nil {
		t.Fatalf("wait: %v", err)
	}
	if got := pd.peer.Load(); got != peerClosed {
		t.Fatalf("peer state %d, want %d (closed)", got, peerClosed)
	}
}

// Close wakes every waiter with net.ErrClosed, and the socket leaves the
// epoll before the caller may close it in UDT.
func TestPollerCloseLeavesEpollFirst(t *testing.T) {
	f, p := newFakePoll()
	pd := openFake(t, p, 3)
	pd.wait(EventOut, pd.gen(EventOut)) // each first wait returns once its interest is in
	pd.wait(EventIn, pd.gen(EventIn))
	f.until(t, "IN and OUT armed", func() bool { return f.interest[3] == EventIn|EventOut })
	errc := make(chan error, 2)
	go func() { errc <- pd.wait(EventOut, pd.gen(EventOut)) }()
	go func() { errc <- pd.wait(EventIn, pd.gen(EventIn)) }()
	parked(t, p, 2) // a wait before that would be a fresh one, closed or not
	pd.close()
	for range 2 {
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("waiter after close: %v", err)
		}
	}
	pd.awaitGone()
	f.mu.Lock()
	_, still := f.interest[3]
	f.mu.Unlock()
	if still {
		t.Fatal("awaitGone returned with the socket still in the epoll")
	}
	if err := pd.wait(EventIn, pd.gen(EventIn)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("wait after close: %v", err)
	}
	p.forget(pd)
	f.until(t, "epoll released once nothing is open", func() bool { return f.live == 0 })
}

// A socket UDT keeps reporting that the poller does not watch (closed
// while in the ready set) would make every wait return at once: the
// poller moves to a fresh epoll, with the interest it had.
func TestPollerReplacesStaleEpoll(t *testing.T) {
	f, p := newFakePoll()
	pd := openFake(t, p, 5)
	defer closeFake(pd)
	pd.wait(EventIn, pd.gen(EventIn))
	f.until(t, "armed", func() bool { return f.interest[5] == EventIn })
	before := ReadPollerStats().StaleRebuilds
	errc := make(chan error, 1)
	go func() { errc <- pd.wait(EventIn, pd.gen(EventIn)) }() // someone runs the poll
	parked(t, p, 1)
	for range 3 {
		f.step(fakeWait{read: []SocketID{99}, why: pollReady})
	}
	f.until(t, "a second epoll with the interest", func() bool { return f.epolls == 2 && f.live == 1 && f.interest[5] == EventIn })
	if err := <-errc; err != nil { // woken by the move: the event may be lost with the old epoll
		t.Fatal(err)
	}
	if got := ReadPollerStats().StaleRebuilds - before; got != 1 {
		t.Fatalf("%d rebuilds counted, want 1", got)
	}
}

// A lone waiter runs the poll itself (no hand-off from the poller's
// goroutine): UDT's event wakes its own thread. What ends a wait while it
// runs the poll interrupts UDT's wait: a new deadline, a close. And a
// waiter that came meanwhile and left the poll to it is still woken after
// it leaves, by the poller goroutine taking the poll back.
func TestPollerLoneWaiterLeads(t *testing.T) {
	f, p := newFakePoll()
	pd := openFake(t, p, 21)
	other := openFake(t, p, 22)
	defer closeFake(other)
	for _, x := range []*pollDesc{pd, other} {
		if err := x.wait(EventIn, x.gen(EventIn)); err != nil { // the retry after arming
			t.Fatal(err)
		}
	}

	// Woken by its event, having run the poll itself.
	roundFree(t, p)
	before := ReadPollerStats().Leads
	errc := make(chan error, 1)
	go func() { errc <- pd.wait(EventIn, pd.gen(EventIn)) }()
	parked(t, p, 1)
	f.step(fakeWait{read: []SocketID{21}, why: pollReady})
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := ReadPollerStats().Leads - before; got != 1 {
		t.Fatalf("%d waits ran the poll, want 1", got)
	}

	// waitInUDT starts a wait on pd, and returns once it runs UDT's wait.
	waitInUDT := func() {
		t.Helper()
		f.mu.Lock()
		waits := f.waits
		f.mu.Unlock()
		go func() { errc <- pd.wait(EventIn, pd.gen(EventIn)) }()
		f.until(t, "a wait in UDT", func() bool { return f.waits > waits })
	}

	// A deadline set while it waits in UDT ends the wait.
	waitInUDT()
	pd.setDeadline(time.Now().Add(-time.Second), EventIn)
	if err := <-errc; err != nil { // woken to look at the new deadline
		t.Fatal(err)
	}
	if err := pd.wait(EventIn, pd.gen(EventIn)); err != errDeadline {
		t.Fatalf("wait past the deadline: %v, want errDeadline", err)
	}
	pd.setDeadline(time.Time{}, EventIn)

	// A second reader comes while the first runs the poll, which then
	// leaves: the second's event still wakes it.
	waitInUDT()
	errc2 := make(chan error, 1)
	go func() { errc2 <- other.wait(EventIn, other.gen(EventIn)) }()
	parked(t, p, 2)
	f.step(fakeWait{read: []SocketID{21}, why: pollReady})
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	f.step(fakeWait{read: []SocketID{22}, why: pollReady}) // the second runs the poll now
	if err := <-errc2; err != nil {
		t.Fatal(err)
	}

	// A close while it waits in UDT ends the wait with net.ErrClosed.
	waitInUDT()
	closeFake(pd)
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("wait across a close: %v, want net.ErrClosed", err)
	}
}

// A drain ends when UDT's send buffer is empty, seen after UDT's event,
// and fails when the connection breaks with packets left.
func TestPollerDrain(t *testing.T) {
	f, p := newFakePoll()
	pd := openFake(t, p, 11)
	defer closeFake(pd)
	f.setInfo(11, connInfo{status: StatusConnected, exists: true, connected: true, sndPkts: 4})
	type res struct {
		left int
		err  error
	}
	done := make(chan res, 1)
	go func() { left, err := p.drain(pd, nil, time.Time{}); done <- res{left, err} }()
	draining(t, p, 1)
	f.step(fakeWait{why: pollUDT})     // an ACK, not the last
	f.step(fakeWait{why: pollTimeout}) // taken once the scan after it is done
	select {
	case r := <-done:
		t.Fatalf("drain ended with packets unacknowledged: %+v", r)
	default:
	}
	f.setInfo(11, connInfo{status: StatusConnected, exists: true, connected: true})
	f.step(fakeWait{why: pollUDT})
	if r := <-done; r.err != nil || r.left != 0 {
		t.Fatalf("drain: %+v", r)
	}

	f.setInfo(11, connInfo{status: StatusConnected, exists: true, connected: true, sndPkts: 2})
	go func() { left, err := p.drain(pd, nil, time.Time{}); done <- res{left, err} }()
	draining(t, p, 1)
	f.setInfo(11, connInfo{status: StatusBroken, exists: true, connected: true, sndPkts: 2})
	f.step(fakeWait{why: pollUDT})
	if r := <-done; r.err != errPeerGone || r.left != 2 {
		t.Fatalf("drain of a broken connection: %+v, want 2 left and errPeerGone", r)
	}
}

// The poller's goroutine runs only while a socket is open, so a program
// (or a test with goleak) that closed everything has none of ours left.
func TestPollerStopsWhenAllIsClosed(t *testing.T) {
	// Not parallel: it needs a moment with nothing open.
	l, err := Listen("udt", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial("udt", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if !pollerRunning(thePoller) {
		t.Fatal("no poller with sockets open")
	}
	c.Close()
	s.Close()
	l.Close()
	for deadline := time.Now().Add(timeoutUpperBound); pollerRunning(thePoller); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			thePoller.mu.Lock()
			n := len(thePoller.fds)
			thePoller.mu.Unlock()
			t.Fatalf("the poller still runs with %d sockets open (other tests' too: run alone)", n)
		}
	}
}

// An abandoned dial's socket waits for UDT on a timer, not on the poller:
// a program whose dial timed out has no goroutine of ours left once
// everything else is closed.
func TestPollerStopsAfterTimedOutDial(t *testing.T) {
	// Not parallel: it needs a moment with nothing open.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// An earlier test's abandoned dial, closed by a timer in this one's
	// window, would count as this one's.
	for deadline := time.Now().Add(timeoutUpperBound); ReadPollerStats().AbandonedWait != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("an earlier test's abandoned dial is never closed")
		}
	}
	before := ReadPollerStats().AbandonedClose
	d := Dialer{Timeout: 100 * time.Millisecond}
	if _, err := d.Dial("udt", pc.LocalAddr().String()); err == nil {
		t.Fatal("dial to a silent port succeeded")
	}
	// A Conn an earlier test dropped without Close holds the poller until
	// its cleanup runs, after a garbage collection.
	for deadline, gc := time.Now().Add(timeoutUpperBound), time.Now(); pollerRunning(thePoller); time.Sleep(time.Millisecond) {
		if time.Since(gc) > 100*time.Millisecond {
			runtime.GC()
			gc = time.Now()
		}
		if time.Now().After(deadline) {
			thePoller.mu.Lock()
			left := len(thePoller.fds)
			thePoller.mu.Unlock()
			t.Fatalf("the poller still runs after a timed-out dial, with %d sockets", left)
		}
	}
	if st := ReadPollerStats(); st.AbandonedClose != before || st.AbandonedWait != 1 {
		t.Fatalf("the abandoned socket was closed before UDT gave it up (closed %d, waiting %d)", st.AbandonedClose-before, st.AbandonedWait)
	}
	// UDT gives it up after 3 s; then it is closed, by a timer.
	for deadline := time.Now().Add(timeoutUpperBound); ReadPollerStats().AbandonedClose == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned socket was never closed")
		}
	}
}

// The seed's problem: descriptors and threads must stay flat as
// connections grow. n connections each way, each with a goroutine blocked
// in Read.
func TestManyConnsStayFlat(t *testing.T) {
	// Not parallel: it counts the process's descriptors and threads.
	n := 500
	if v, err := strconv.Atoi(os.Getenv("UDT_CONNS")); err == nil && v > 0 {
		n = v
	}
	var cfg Config
	if v, err := strconv.Atoi(os.Getenv("UDT_CONN_RCVBUF")); err == nil && v > 0 {
		cfg.RecvBuffer = v
	}
	if v, err := strconv.Atoi(os.Getenv("UDT_CONN_FC")); err == nil && v > 0 {
		cfg.FlowWindow = v
	}
	inherited0 := childSockets(t)
	fds0, socks0 := testenv.CountFDs(t)
	threads0 := testenv.CountThreads(t)
	// Freed memory of earlier tests' sockets, which the poller hands back
	// in its own time, must not count against these conns, nor may that
	// trim run mid-measurement (see settleTrim).
	settleTrim()
	rss0 := testenv.StatusKB(t, "VmRSS:")
	l := listenT(t, "udt", "127.0.0.1:0", cfg)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		wg.Go(func() {
			_, err := c.Read(make([]byte, 1))
			// Closing one end first may show the other its peer's close.
			if !errors.Is(err, net.ErrClosed) && err != io.EOF {
				t.Errorf("blocked Read ended with %v", err)
			}
		})
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			track(c)
		}
	}()
	d := Dialer{Config: cfg}
	for i := 0; i < n; i++ {
		c, err := d.Dial("udt", l.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		track(c)
	}
	for deadline := time.Now().Add(timeoutUpperBound); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got := len(conns)
		mu.Unlock()
		if got == 2*n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d conns up", got, 2*n)
		}
	}
	// Every reader blocked before anything is counted.
	mu.Lock()
	up := slices.Clone(conns)
	mu.Unlock()
	for _, c := range up {
		blocked(t, c.(*Conn).fd.pd, EventIn, 1)
	}
	fds1, socks1 := testenv.CountFDs(t)
	threads1 := testenv.CountThreads(t)
	rss1 := testenv.StatusKB(t, "VmRSS:")
	cpu0 := testenv.CPUTime(t)
	const idle = 2 * time.Second
	time.Sleep(idle)
	cpu := testenv.CPUTime(t) - cpu0
	t.Logf("%d conns each way (RecvBuffer %d, FlowWindow %d), a goroutine blocked in Read on each: fds %d -> %d, sockets %d -> %d, OS threads %d -> %d, RSS %d -> %d KiB (%.1f KiB per conn), idle CPU %.1f%% of a core",
		n, cfg.RecvBuffer, cfg.FlowWindow, fds0, fds1, socks0, socks1, threads0, threads1, rss0, rss1, float64(rss1-rss0)/float64(2*n), 100*cpu.Seconds()/idle.Seconds())
	// The listener's UDP port, the shared dial ports (one per
	// dialPortShare dials, maxDialPorts at most) and their UDT threads;
	// some slack for the runtime's own threads.
	ports := 1 + min((n+dialPortShare-1)/dialPortShare, maxDialPorts)
	if socks1-socks0 > ports+2 {
		t.Errorf("%d connections opened %d sockets, want %d UDP ports", 2*n, socks1-socks0, ports)
	}
	if n := childSockets(t); n != inherited0 {
		t.Errorf("a child process inherits %d sockets with the conns up, %d before", n, inherited0)
	}
	if threads1-threads0 > 2*ports+12 {
		t.Errorf("%d connections with blocked readers added %d OS threads", 2*n, threads1-threads0)
	}
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
}

// TestPollerWakesOnlyForItsEvents: UDT readies a socket for writing on
// every ACK it receives and raises its event on every ACK both ways; the
// thread waiting in UDT for a reader must sleep through those, as a
// thread blocked in UDT's own recv does, and wake for the data.
func TestPollerWakesOnlyForItsEvents(t *testing.T) {
	c, s := connPair(t, Config{})
	const rounds = 300
	go func() {
		b := make([]byte, 64)
		for range rounds {
			if _, err := io.ReadFull(s, b); err != nil {
				return
			}
			if _, err := s.Write(b); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 64)
	before := ReadPollerStats()
	for i := range rounds {
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("round %d: Write: %v", i, err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			t.Fatalf("round %d: Read: %v", i, err)
		}
	}
	after := ReadPollerStats()
	idle, waits := after.IdleWakes-before.IdleWakes, after.Waits-before.Waits
	t.Logf("%d round trips: %d waits in UDT, %d idle wakes", rounds, waits, idle)
	// Each round trip brings each end an ACK and a reply: four readyings
	// or events nobody waits for. A few idle wakes may come from UDT's
	// 10 ms looks and other tests' sockets.
	if idle > rounds/4 {
		t.Errorf("%d idle wakes in %d round trips: the waiting thread woke for readyings or events it did not wait for", idle, rounds)
	}
}
