package udt

import "time"

// This file holds every assumption the net layer makes about how UDT 4.11
// behaves in time, each named once; PollerStats (poller_stats.go) counts
// how often each path built on one of them fires. The facts were measured
// against the pinned library and read in its sources;
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
	// It is DefaultRendezvousTimeout, which spells the figure out for
	// go doc (TestRendezvousTTLIsTheDefault).
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
