package udt

import (
	"time"

	"github.com/udtgo/udt/cudt"
)

// Perf is a socket's statistics (UDT::TRACEINFO), every field of it, with
// durations as time.Duration and rates in Mbit/s.
type Perf struct {
	// Totals since the connection started.
	Elapsed          time.Duration // time since the socket started (msTimeStamp)
	PktSentTotal     int64         // data packets sent, retransmissions included
	PktRecvTotal     int64         // packets received
	PktSndLossTotal  int           // packets the sender learnt were lost
	PktRcvLossTotal  int           // packets the receiver found missing
	PktRetransTotal  int           // packets retransmitted
	PktSentACKTotal  int           // ACKs sent
	PktRecvACKTotal  int           // ACKs received
	PktSentNAKTotal  int           // NAKs sent
	PktRecvNAKTotal  int           // NAKs received
	SndDurationTotal time.Duration // time spent sending, idle time excluded

	// Counters for the interval since the last Perfmon(true).
	PktSent     int64
	PktRecv     int64
	PktSndLoss  int
	PktRcvLoss  int
	PktRetrans  int
	PktSentACK  int
	PktRecvACK  int
	PktSentNAK  int
	PktRecvNAK  int
	SendRate    float64       // Mbit/s
	RecvRate    float64       // Mbit/s
	SndDuration time.Duration // time spent sending, idle time excluded

	// Values at this instant.
	PktSndPeriod        time.Duration // gap between two packets sent
	PktFlowWindow       int           // flow window, in packets
	PktCongestionWindow int           // congestion window, in packets
	PktFlightSize       int           // packets in flight
	RTT                 time.Duration // round-trip time estimate
	Bandwidth           float64       // estimated link capacity, Mbit/s
	ByteAvailSndBuf     int           // free space in the send buffer, bytes
	ByteAvailRcvBuf     int           // free space in the receive buffer, bytes
}

func usec(v float64) time.Duration { return time.Duration(v * float64(time.Microsecond)) }
func msec(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func perfFrom(p cudt.Perf) Perf {
	return Perf{
		Elapsed:          time.Duration(p.MsTimeStamp) * time.Millisecond,
		PktSentTotal:     p.PktSentTotal,
		PktRecvTotal:     p.PktRecvTotal,
		PktSndLossTotal:  p.PktSndLossTotal,
		PktRcvLossTotal:  p.PktRcvLossTotal,
		PktRetransTotal:  p.PktRetransTotal,
		PktSentACKTotal:  p.PktSentACKTotal,
		PktRecvACKTotal:  p.PktRecvACKTotal,
		PktSentNAKTotal:  p.PktSentNAKTotal,
		PktRecvNAKTotal:  p.PktRecvNAKTotal,
		SndDurationTotal: time.Duration(p.UsSndDurationTotal) * time.Microsecond,

		PktSent:     p.PktSent,
		PktRecv:     p.PktRecv,
		PktSndLoss:  p.PktSndLoss,
		PktRcvLoss:  p.PktRcvLoss,
		PktRetrans:  p.PktRetrans,
		PktSentACK:  p.PktSentACK,
		PktRecvACK:  p.PktRecvACK,
		PktSentNAK:  p.PktSentNAK,
		PktRecvNAK:  p.PktRecvNAK,
		SendRate:    p.MbpsSendRate,
		RecvRate:    p.MbpsRecvRate,
		SndDuration: time.Duration(p.UsSndDuration) * time.Microsecond,

		PktSndPeriod:        usec(p.UsPktSndPeriod),
		PktFlowWindow:       p.PktFlowWindow,
		PktCongestionWindow: p.PktCongestionWindow,
		PktFlightSize:       p.PktFlightSize,
		RTT:                 msec(p.MsRTT),
		Bandwidth:           p.MbpsBandwidth,
		ByteAvailSndBuf:     p.ByteAvailSndBuf,
		ByteAvailRcvBuf:     p.ByteAvailRcvBuf,
	}
}
