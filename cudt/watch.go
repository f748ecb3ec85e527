package cudt

// The poller's wait hears UDT's event and every readying of a watched
// socket from UDT's own calls, which the linker routes through watch.cpp
// (CTimer::triggerEvent, CEPoll::update_events).

/*
#cgo LDFLAGS: -Wl,--wrap=_ZN6CTimer12triggerEventEv -Wl,--wrap=_ZN6CEPoll13update_eventsERKiRSt3setIiSt4lessIiESaIiEEib
#cgo noescape cudt_conninfo_get
#cgo nocallback cudt_conninfo_get
#cgo noescape cudt_poll_wait
#cgo nocallback cudt_poll_wait
#cgo nocallback cudt_poll_signal
#cgo nocallback cudt_poll_idle_wakes
#cgo nocallback cudt_connect_settled
#cgo noescape cudt_perf_ended
#cgo nocallback cudt_perf_ended
#cgo nocallback cudt_heard_ago
#include "watch.h"
*/
import "C"

import (
	"time"
	"unsafe"
)

// ConnInfo is what UDT 4.11 records about a connection and reports through
// no call of its API (see watch.h).
type ConnInfo struct {
	Status    int  // as GetSockState
	Exists    bool // UDT has not closed or deleted the socket
	Connected bool // the handshake completed (also after a break)
	Rejected  bool // the listener rejected the handshake (UDT 4.11 still completes a non-blocking connect)
	Shutdown  bool // the peer closed the connection; a break without it is a lost peer
	SndPkts   int  // packets in the send buffer, unacknowledged
	// Ended: UDT ended the connection on its own and has closed or deleted
	// the socket (Exists is false); Connected, Shutdown and SndPkts are
	// its last, for a socket UDT still keeps closed or one watched
	// (WatchConn) when UDT deleted it.
	Ended bool
}

// ConnInfos fills out[i] for ids[i], in one C call; len(out) must be at
// least len(ids). Unless full, a socket that has not ended (INIT to
// CONNECTED) gets only Status, Exists and Connected, for a third of the
// cost.
func ConnInfos(ids []int32, out []ConnInfo, full bool) {
	if len(ids) == 0 {
		return
	}
	if len(out) < len(ids) {
		panic("cudt: ConnInfos: out is shorter than ids")
	}
	ci := make([]C.cudt_conninfo, len(ids))
	var f C.int
	if full {
		f = 1
	}
	C.cudt_conninfo_get((*C.int)(unsafe.Pointer(&ids[0])), C.int(len(ids)), f, &ci[0])
	for i := range ids {
		c := &ci[i]
		out[i] = ConnInfo{
			Status:    int(c.status),
			Exists:    c.exists != 0,
			Connected: c.connected != 0,
			Rejected:  c.rejected != 0,
			Shutdown:  c.shutdown != 0,
			SndPkts:   int(c.snd_pkts),
			Ended:     c.ended != 0,
		}
	}
}

// ConnectSettled reports whether socket u, whose connect was started, may
// be closed now: its handshake completed, or UDT gave up on it (after 3 s),
// in which case it also takes u out of UDT's list of connecting sockets,
// which UDT's own close would leave it in. Closing it earlier is hazardous
// (see docs/udt4-behaviour.md).
func ConnectSettled(u int32) bool { return C.cudt_connect_settled(C.int(u)) != 0 }

// Why PollWait returned with nothing ready.
const (
	PollTimeout  = 0 // ms passed
	PollUDTEvent = 1 // UDT raised its event (only when asked for)
	PollWoken    = 2 // PollSignal was called
)

// PollWait waits up to us microseconds (-1: forever) for ready UDT sockets
// (rd, wr) and readable system sockets (lrd), as EpollWait, and also returns
// early, with nothing ready: after PollSignal (why = PollWoken), and, when
// signals is true, when UDT raises its own event (why = PollUDTEvent): an
// ACK, a peer's shutdown, a broken connection, a new connection, none of
// which UDT's epoll reports. A timeout returns zeros and no error.
//
// Each socket it reports leaves the epoll's ready sets (an edge): UDT
// readies it again when it has more, so an interest kept between waits
// does not make every wait return at once. The epoll is the poller's
// alone; one that EpollWait also watches would miss what this took.
func PollWait(eid int, rd, wr, lrd []int32, us int64, signals bool) (nr, nw, nlr, why int, err error) {
	var e C.cudt_err
	var rn, wn, lrn C.int
	var sig, want C.int
	if signals {
		want = 1
	}
	prd, prn := intsArg(rd, &rn)
	pwr, pwn := intsArg(wr, &wn)
	plrd, plrn := intsArg(lrd, &lrn)
	r := C.cudt_poll_wait(C.int(eid), prd, prn, pwr, pwn, plrd, plrn, C.int64_t(us), want, &sig, &e)
	yieldSometimes() // the poller's goroutine waits in C back to back
	if r < 0 {
		return 0, 0, 0, 0, toError(&e)
	}
	return int(rn), int(wn), int(lrn), int(sig), nil
}

// PollSignal makes a PollWait in progress, or the next one, return at once.
func PollSignal() { C.cudt_poll_signal() }

// PollIdleWakes counts the times PollWait's thread was woken, or found
// itself notified before it slept, and had nothing to report: what a
// readying or event it did not wait for cost.
func PollIdleWakes() uint64 { return uint64(C.cudt_poll_idle_wakes()) }

// PerfEnded reads the totals UDT keeps for a connection that is closing or
// broken, which Perfmon refuses (ECONNLOST) until UDT deletes the socket;
// the interval counters and buffer figures are zero. ok is false once UDT
// no longer knows u.
func PerfEnded(u int) (p Perf, ok bool) {
	var c C.cudt_perf
	if C.cudt_perf_ended(C.int(u), &c) == 0 {
		return Perf{}, false
	}
	return perfFromC(&c), true
}

// WatchConn keeps, until UnwatchConn, the last state of connection u should
// UDT end and delete it on its own (a lost peer, the peer's shutdown): what
// it had not delivered (ConnInfo.SndPkts with Ended) and its totals
// (PerfEnded), however late they are asked.
func WatchConn(u int32) { C.cudt_conn_watch(C.int(u)) }

// UnwatchConn forgets u and what was kept of it.
func UnwatchConn(u int32) { C.cudt_conn_unwatch(C.int(u)) }

// HeardAgo is how long ago UDT last heard from u's peer (any packet: a
// live peer sends a keep-alive each second it has nothing else to send);
// false when UDT no longer has the socket.
func HeardAgo(u int32) (time.Duration, bool) {
	us := int64(C.cudt_heard_ago(C.int(u)))
	return time.Duration(us) * time.Microsecond, us >= 0
}
