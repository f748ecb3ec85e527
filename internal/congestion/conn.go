package congestion

import "time"

// Conn is what a controller reads and sets on its connection: the part of
// UDT's CCC state (its protected members) that the controllers here use.
// udt's *CC is one; a simulation provides another.
type Conn interface {
	// SYNInterval is UDT's timer granularity, microseconds (10,000).
	SYNInterval() int
	// MSS is the packet size, headers included, bytes.
	MSS() int
	// MaxCWnd is the flow window, packets.
	MaxCWnd() float64
	// RTT is UDT's smoothed round-trip time, microseconds.
	RTT() int
	// RcvRate is the receiver's packet arrival rate as its ACKs report
	// it, packets per second.
	RcvRate() int
	// SndCurrSeqNo is the largest sequence number sent.
	SndCurrSeqNo() int32
	CWnd() float64
	SetCWnd(pkts float64)
	// SetPktSndPeriod sets the time between packets, microseconds.
	SetPktSndPeriod(us float64)
	// SetACKInterval makes this end send a full ACK every pkts packets
	// received as well as on its timer (0: the timer only).
	SetACKInterval(pkts int)
	// SendCustomMsg sends the peer a control packet: CtrlUserDefined
	// with extended type ext, or CtrlLossReport; words go in network
	// order and arrive in host order.
	SendCustomMsg(typ, ext int, words []int32) error
}

// Control packet types, as UDT numbers them.
const (
	CtrlLossReport  = 3      // a NAK, in UDT's loss list encoding
	CtrlUserDefined = 0x7FFF // a custom message, for the peer's controller
)

// Clock tells a controller the time. Controllers take every reading from
// it, so a simulation can run them in virtual time.
type Clock interface {
	Now() time.Time
}

// SystemClock is the system's clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }
