package udt

import (
	"sync/atomic"
	"time"

	"github.com/udtgo/udt/cudt"
)

// This file holds every assumption the net layer makes about how UDT 4.11
// behaves in time, each named once, and the counters that say how often
// each path built on one of them fires (PollerStats). The facts were
// measured against the pinned library and read in its sources;
// docs/udt4-behaviour.md has the measurements.

const (
	// UDT's epoll and its event wait for 10 ms at a time
	// (CTimer::waitForEvent): what UDT sets without raising its event is
	// seen within this.
	udtTick = 10 * time.Millisecond

	// scanGap spaces the poller's state scans. UDT raises its event on every
	// ACK, so under traffic it fires thousands of times a second; a scan
	// after each would cost in proportion to traffic times waiters. A peer's
	// close is seen within one gap of UDT raising the event for it.
	scanGap = udtTick

	// scanBackstop is the longest the poller goes without a scan while
	// something waits for a state change: UDT's event is a condition
	// variable signalled once, and a program that also waits on UDT's own
	// epoll_wait may take a signal the poller needed. Scans it makes count in
	// PollerStats.BackstopScans; one that finds something counts in
	// BackstopFinds.
	scanBackstop = 250 * time.Millisecond

	// UDT raises no event when a connect completes: its epoll gets the
	// OUT, which a wait on UDT's tick would see up to 10 ms late. After a
	// connect starts the poller looks this soon, then twice as late each
	// time, up to udtTick.
	dialTick = 250 * time.Microsecond

	// UDT gives a connect 3 s (CUDT::connect's ttl) and then stops asking,
	// without a word through its epoll. A dial attempt ends sooner, and a
	// longer dial makes another attempt on a fresh socket, so that a dial
	// never waits on one that UDT has given up.
	connectAttempt = 2 * time.Second

	// An abandoned attempt's socket can be closed only once UDT has given
	// up on it (see dyingSocket): the poller asks from connectTTL after the
	// connect, then every udtTick.
	connectTTL = 3 * time.Second

	// A rendezvous connect asks for ten times as long (CUDT::connect's ttl
	// times 10), and a rendezvous is one attempt: a second socket asking
	// the same peer from the same port would not get its answers while the
	// first is still in UDT's list of connectors.
	rendezvousTTL = 10 * connectTTL

	// The implicit port dialed connections share stays open this long
	// after its last connection closes. UDT tears a port down in its
	// garbage collector, which holds UDT's global lock while it joins the
	// port's two threads: every UDT call of the process waits meanwhile,
	// the poller's too, for up to half a second on a loaded machine (a
	// dial-and-close loop saw ends of stream 120 to 460 ms late, and none
	// with the port kept). A dial within this time reuses the port.
	sharedPortIdle = 3 * time.Second

	// Not a constant here but relied on by cudt.ConnInfos: UDT deletes a
	// socket no sooner than a second after it marks it CLOSED
	// (CUDTUnited::checkBrokenSockets), so a socket's private state can be
	// read right after looking it up.
)

// PollerStats counts what the poller has done since the process started:
// the paths it took, and how often each of the assumptions above was acted
// on. Tests read it; udt perf --json prints it.
type PollerStats struct {
	Runs           int64 // poller goroutines started (one runs while a socket is open)
	Waits          int64 // returns from waiting on UDT
	Events         int64 // sockets UDT's epoll reported ready
	Disarmed       int64 // ready sockets nobody waited for, taken out of the epoll
	Arms           int64 // interest added for a waiter
	UDTSignals     int64 // returns because UDT raised its event
	Scans          int64 // state scans (after UDT's event, at most one per scanGap)
	BackstopScans  int64 // scans made without UDT's event, after scanBackstop
	BackstopFinds  int64 // backstop scans that found a change UDT's event had not shown
	PeerCloses     int64 // connections seen closed by their peer
	PeersLost      int64 // connections UDT gave up on (peer silent)
	PeersIdle      int64 // connections whose peer was silent for their PeerIdleTimeout
	ClosesDrained  int64 // Close calls that waited until the peer acknowledged everything
	ClosesFailed   int64 // Close calls that gave up on unacknowledged data (peer gone, linger)
	DialsRejected  int64 // handshakes the listener rejected, which UDT 4.11 reports as connected
	StaleRebuilds  int64 // UDT epolls replaced because a closed socket stuck in their ready set
	AbandonedClose int64 // abandoned connect attempts closed once UDT had settled them
	AbandonedWait  int64 // abandoned connect attempts still waiting for UDT to settle them (now)
}

var pollStats struct {
	runs, waits, events, disarmed, arms, udtSignals, scans, backstopScans, backstopFinds,
	peerCloses, peersLost, peersIdle, closesDrained, closesFailed, dialsRejected, staleRebuilds,
	abandonedClose, abandonedWait atomic.Int64
}

// ReadPollerStats returns the poller's counters.
func ReadPollerStats() PollerStats {
	s := &pollStats
	return PollerStats{
		Runs: s.runs.Load(), Waits: s.waits.Load(), Events: s.events.Load(),
		Disarmed: s.disarmed.Load(), Arms: s.arms.Load(), UDTSignals: s.udtSignals.Load(),
		Scans: s.scans.Load(), BackstopScans: s.backstopScans.Load(), BackstopFinds: s.backstopFinds.Load(),
		PeerCloses: s.peerCloses.Load(), PeersLost: s.peersLost.Load(), PeersIdle: s.peersIdle.Load(),
		ClosesDrained: s.closesDrained.Load(), ClosesFailed: s.closesFailed.Load(),
		DialsRejected: s.dialsRejected.Load(), StaleRebuilds: s.staleRebuilds.Load(),
		AbandonedClose: s.abandonedClose.Load(), AbandonedWait: s.abandonedWait.Load(),
	}
}

// connInfo is what UDT 4.11 records about a connection but reports through
// no call of its API (cudt.ConnInfo).
type connInfo struct {
	status    Status
	exists    bool // UDT has neither closed nor deleted it
	connected bool // the handshake completed, also if it broke since
	rejected  bool // the listener rejected the handshake
	shutdown  bool // the peer closed it; broken without this, the peer was lost
	sndPkts   int  // packets not yet acknowledged
	ended     bool // UDT ended it on its own and closed or deleted it; the fields above are its last
}

// pollLib is what the poller drives: the UDT calls, and the three things
// UDT 4.11 knows but reports through none of them (cudt/watch.h). Tests
// give the poller a scripted one.
type pollLib interface {
	Library
	// connInfos fills out for ids; unless full, a socket that has not
	// ended gets only status, exists and connected.
	connInfos(ids []SocketID, out []connInfo, full bool)
	// pollWait waits as EpollWait does (read and write sets only) and also
	// returns early: woken after pollSignal, or, with signals, when UDT
	// raised its event.
	pollWait(ep Epoll, ev *EpollEvents, timeout time.Duration, signals bool) (why pollWhy, err error)
	pollSignal()
	// connectSettled reports whether s, whose connect was started, may be
	// closed: its handshake completed, or UDT gave up on it (and then it
	// is out of UDT's list of connecting sockets).
	connectSettled(s Socket) bool
	// heardAgo is how long ago UDT last heard from s's peer; false when
	// UDT no longer has the socket.
	heardAgo(s Socket) (time.Duration, bool)
	// perfEnded reads the totals of a connection that is closing or
	// broken, which Perfmon refuses, and the last ones of a watched
	// connection UDT deleted; false when nothing is known of it.
	perfEnded(s Socket) (Perf, bool)
	// watchConn keeps (on) the last state of connection s should UDT end
	// and delete it on its own, for connInfos and perfEnded, until it is
	// called again with !on.
	watchConn(s Socket, on bool)
}

type pollWhy int

const (
	pollTimeout pollWhy = cudt.PollTimeout
	pollUDT     pollWhy = cudt.PollUDTEvent
	pollWoken   pollWhy = cudt.PollWoken
	pollReady   pollWhy = 3 // sockets are ready
)

// nativePoll is pollLib over the linked library.
type nativePoll struct{ native }

func (nativePoll) connInfos(ids []SocketID, out []connInfo, full bool) {
	ci := make([]cudt.ConnInfo, len(ids))
	cudt.ConnInfos(ids32(ids), ci, full)
	for i, c := range ci {
		out[i] = connInfo{status: Status(c.Status), exists: c.Exists, connected: c.Connected,
			rejected: c.Rejected, shutdown: c.Shutdown, sndPkts: c.SndPkts, ended: c.Ended}
	}
}

func (nativePoll) pollWait(ep Epoll, ev *EpollEvents, timeout time.Duration, signals bool) (pollWhy, error) {
	us := int64(-1)
	if timeout >= 0 {
		us = int64((timeout + time.Microsecond - 1) / time.Microsecond)
	}
	rd := ids32(ev.Read[:cap(ev.Read)])
	wr := ids32(ev.Write[:cap(ev.Write)])
	nr, nw, _, why, err := cudt.PollWait(int(ep), rd, wr, nil, us, signals)
	ev.Read, ev.Write = ev.Read[:nr], ev.Write[:nw]
	if err != nil {
		return pollTimeout, wrap("epoll_wait", err)
	}
	if nr+nw > 0 {
		return pollReady, nil
	}
	return pollWhy(why), nil
}

func (nativePoll) pollSignal() { cudt.PollSignal() }

func (nativePoll) connectSettled(s Socket) bool { return cudt.ConnectSettled(int32(s.ID())) }

func (nativePoll) heardAgo(s Socket) (time.Duration, bool) { return cudt.HeardAgo(int32(s.ID())) }

func (nativePoll) watchConn(s Socket, on bool) {
	if on {
		cudt.WatchConn(int32(s.ID()))
	} else {
		cudt.UnwatchConn(int32(s.ID()))
	}
}

func (nativePoll) perfEnded(s Socket) (Perf, bool) {
	p, ok := cudt.PerfEnded(int(s.ID()))
	return perfFrom(p), ok
}
