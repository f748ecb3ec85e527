package udt

import (
	"sync/atomic"

	"github.com/udtgo/udt/cudt"
)

// PollerStats counts what the poller has done since the process started:
// the paths it took, and how often each of its assumptions about UDT's
// timing was acted on. Tests read it; udt perf --json prints it.
type PollerStats struct {
	Runs           int64  // poller goroutines started (one runs while a socket is open)
	Waits          int64  // returns from waiting on UDT
	Leads          int64  // blocked calls that ran the poller's wait themselves (no hand-off)
	IdleWakes      uint64 // wakes in UDT's wait that found nothing to report (see cudt.PollIdleWakes)
	Events         int64  // sockets UDT's epoll reported ready
	Disarmed       int64  // ready sockets nobody waited for, taken out of the epoll
	Arms           int64  // interest added for a waiter
	UDTSignals     int64  // returns because UDT raised its event
	Scans          int64  // state scans (after UDT's event, at most one per 10 ms)
	BackstopScans  int64  // scans made after 250 ms without UDT's event
	BackstopFinds  int64  // backstop scans that found a change UDT's event had not shown
	PeerCloses     int64  // connections seen closed by their peer
	PeersLost      int64  // connections UDT gave up on (peer silent)
	PeersIdle      int64  // connections whose peer was silent for their PeerIdleTimeout
	ClosesDrained  int64  // Close calls that waited until the peer acknowledged everything
	ClosesFailed   int64  // Close calls that gave up on unacknowledged data (peer gone, linger)
	DialsRejected  int64  // handshakes the listener rejected, which UDT 4.11 reports as connected
	StaleRebuilds  int64  // UDT epolls replaced because a closed socket stuck in their ready set
	AbandonedClose int64  // abandoned connect attempts closed once UDT had settled them
	AbandonedWait  int64  // abandoned connect attempts still waiting for UDT to settle them (now)
	// DialResendWaits counts handshake requests UDT sent again after
	// waiting 250 ms for an answer: each is a dial that took 250 ms more
	// (a lost packet, or a listener too busy to answer). UDT 4.11 also
	// lost the time of a request whose answer came back while connect was
	// still returning; the binding holds such an answer (DialAnswersHeld),
	// so on a quiet path this stays 0 (docs/udt4-behaviour.md).
	DialResendWaits uint64
	DialAnswersHeld uint64
	// UnitsHeld counts packets UDT 4.11 would have read only to discard
	// them: its receiving thread miscounts the free units of its port's
	// queue (a count its threads update without a common lock), and finds
	// none while the count says there are. The binding leaves such a
	// packet in the kernel until the next pass, which finds the queue
	// grown; each is a packet, often the last of a reply, that the sender
	// would have resent after 0.3 s or more (docs/udt4-behaviour.md).
	UnitsHeld uint64
}

var pollStats struct {
	runs, waits, leads, events, disarmed, arms, udtSignals, scans, backstopScans, backstopFinds,
	peerCloses, peersLost, peersIdle, closesDrained, closesFailed, dialsRejected, staleRebuilds,
	abandonedClose, abandonedWait atomic.Int64
}

// ReadPollerStats returns the poller's counters.
func ReadPollerStats() PollerStats {
	s := &pollStats
	return PollerStats{
		Runs: s.runs.Load(), Waits: s.waits.Load(), Leads: s.leads.Load(), IdleWakes: cudt.PollIdleWakes(),
		Events:   s.events.Load(),
		Disarmed: s.disarmed.Load(), Arms: s.arms.Load(), UDTSignals: s.udtSignals.Load(),
		Scans: s.scans.Load(), BackstopScans: s.backstopScans.Load(), BackstopFinds: s.backstopFinds.Load(),
		PeerCloses: s.peerCloses.Load(), PeersLost: s.peersLost.Load(), PeersIdle: s.peersIdle.Load(),
		ClosesDrained: s.closesDrained.Load(), ClosesFailed: s.closesFailed.Load(),
		DialsRejected: s.dialsRejected.Load(), StaleRebuilds: s.staleRebuilds.Load(),
		AbandonedClose: s.abandonedClose.Load(), AbandonedWait: s.abandonedWait.Load(),
		DialResendWaits: cudt.DialResends(), DialAnswersHeld: cudt.DialsHeld(), UnitsHeld: cudt.UnitsHeld(),
	}
}
