package udt

import (
	"time"

	"github.com/udtgo/udt/cudt"
)

// Perf is a socket's statistics (UDT::TRACEINFO), every field of it, as
// Socket.Perfmon reads them; Conn.Stats is the net layer's view. Each name
// is CPerfMon's own, without the unit prefix where a time.Duration carries
// the unit (msTimeStamp is TimeStamp, msRTT is RTT, usPktSndPeriod is
// PktSndPeriod) and with it where it names the unit of a plain number
// (Pkt: packets, Byte: bytes, Mbps: Mbit/s, UDT's unit for rates).
type Perf struct {
	// Totals since the connection started.
	TimeStamp        time.Duration // time since the socket started
	PktSentTotal     int64         // data packets sent, retransmissions included
	PktRecvTotal     int64         // packets received
	PktSndLossTotal  int           // packets the sender learnt were lost
	PktRcvLossTotal  int           // packets the receiver found missing
	PktRetransTotal  int           // packets retransmitted
	PktSentACKTotal  int           // ACKs sent
	PktRecvACKTotal  int           // ACKs received
	PktSentNAKTotal  int           // NAKs sent
	PktRecvNAKTotal  int           // NAKs received
	SndDurationTotal time.Duration // always 0: see SndDuration

	// Counters for the interval since the last Perfmon(true).
	PktSent      int64
	PktRecv      int64
	PktSndLoss   int
	PktRcvLoss   int
	PktRetrans   int
	PktSentACK   int
	PktRecvACK   int
	PktSentNAK   int
	PktRecvNAK   int
	MbpsSendRate float64 // data packets sent × payload size over the interval
	MbpsRecvRate float64 // packets received × payload size over the interval
	// SndDuration, UDT's time spent sending (idle time excluded), is
	// always 0, as SndDurationTotal: UDT 4.11 computes both from two
	// clocks at once (a wall-clock start in microseconds, CPU timestamps
	// at each ACK), so its figures are no duration. Stats has no such field
	// for that reason.
	// cudt.Perf keeps UDT's raw numbers.
	SndDuration time.Duration

	// Values at this instant.
	PktSndPeriod        time.Duration // gap between two packets sent
	PktFlowWindow       int           // flow window, in packets
	PktCongestionWindow int           // congestion window, in packets
	PktFlightSize       int           // packets in flight
	RTT                 time.Duration // round-trip time estimate
	MbpsBandwidth       float64       // estimated link capacity
	ByteAvailSndBuf     int           // free space in the send buffer, bytes
	ByteAvailRcvBuf     int           // free space in the receive buffer, bytes
}

// perfFrom leaves out UDT's send durations, which Perf documents as
// always 0; cudt keeps them as UDT gives them.
func perfFrom(p cudt.Perf) Perf {
	q := Perf(p)
	q.SndDurationTotal, q.SndDuration = 0, 0
	return q
}
