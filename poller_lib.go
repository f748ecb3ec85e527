package udt

import (
	"time"

	"github.com/udtgo/udt/cudt"
)

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
	// passBarrier returns once the receiving thread of s's port has
	// finished the pass it is in (cudt.PassBarrier).
	passBarrier(s Socket)
	// startCC runs the Init that the Go controller of connection s still
	// owes, if any (cudt.CCStart).
	startCC(s Socket)
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

func (nativePoll) passBarrier(s Socket) { cudt.PassBarrier(int(s.ID())) }

func (nativePoll) startCC(s Socket) { cudt.CCStart(int(s.ID())) }

func (nativePoll) perfEnded(s Socket) (Perf, bool) {
	p, ok := cudt.PerfEnded(int(s.ID()))
	return perfFrom(p), ok
}
