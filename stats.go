package udt

import (
	"net"
	"sync"
	"time"
)

// Stats is what Conn.Stats reports: how the connection is going now (the
// Interval since the previous call, and the state at this instant) and
// how it went since it started (Total). Durations are time.Duration, rates
// BitRate (bits per second), sizes bytes, windows packets.
type Stats struct {
	// Elapsed is the time since the connection started.
	Elapsed time.Duration
	// Interval is the traffic since the previous Stats call on this Conn,
	// from any goroutine (or since the connection started, for the first).
	Interval Traffic
	// Total is the traffic since the connection started; Total.Duration
	// is Elapsed.
	Total Traffic

	// The state at this instant, as UDT's congestion control sees it.
	RTT              time.Duration // round-trip time, smoothed
	Bandwidth        BitRate       // UDT's estimate of the link's capacity
	SendPeriod       time.Duration // gap UDT leaves between two data packets
	CongestionWindow int           // packets
	FlowWindow       int           // packets the peer has room for
	InFlight         int           // packets sent and not yet acknowledged
	// Room in UDT's buffers, in bytes as UDT counts them: free packets
	// times the MSS, headers included, so an idle connection with the
	// defaults reports 8,192 × 1,500 = 12,288,000 of a SendBuffer of
	// 12,058,624 (8,192 packets of 1,472 bytes of data).
	SendBufferFree int
	RecvBufferFree int

	// Ended reports that the connection is over (the peer closed it, it
	// broke, or Close was called): the figures are the last ones, taken
	// when Read first saw the end or when Close released the socket, and
	// Stats returns the same ones from then on.
	Ended bool
}

// Traffic is what a connection moved in a span of time.
type Traffic struct {
	Duration time.Duration // the span the figures cover

	BytesWritten int64   // bytes Write took into the send buffer (SendFile included)
	BytesRead    int64   // bytes Read returned (RecvFile included)
	WriteRate    BitRate // BytesWritten over Duration
	ReadRate     BitRate // BytesRead over Duration: what the application got

	// Packets on the wire, as UDT counts them.
	PacketsSent          int64 // data packets, retransmissions included
	PacketsReceived      int64 // every packet received
	PacketsRetransmitted int64 // data packets sent again
	SendLoss             int64 // packets the peer reported lost
	RecvLoss             int64 // packets this side found missing
	ACKsSent             int64 // acknowledgements sent
	ACKsReceived         int64 // acknowledgements received
	NAKsSent             int64 // loss reports sent
	NAKsReceived         int64 // loss reports received
	// Rates over Duration.
	SendRate BitRate // data packets sent × payload size over Duration, as UDT rates it
	RecvRate BitRate // packets received × payload size over Duration
}

// connStats is a Conn's record for Stats.
type connStats struct {
	mu      sync.Mutex
	prev    Traffic   // the totals at the previous call
	prevAt  time.Time // when it was taken (the Conn's creation at first)
	payload int       // data bytes per packet (MSS less headers), 0 until read
	last    *Stats    // the previous call's answer
	final   *Stats    // set once the connection has ended
}

// Stats returns the connection's statistics: totals since it started and
// the interval since the previous call. Unlike UDT's perfmon, which fails
// as soon as the peer closed, it keeps answering after EOF and after
// Close, with the figures taken at the end (Stats.Ended). It fails on a
// Conn not made by this package, and when no figure was ever readable
// (UDT deleted the socket before a first look).
func (c *Conn) Stats() (Stats, error) {
	if !c.ok() {
		return Stats{}, errInvalidConn("stats")
	}
	st := &c.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.final != nil {
		return *st.final, nil
	}
	if c.fd.pd.isClosed() {
		// Closing: Close takes the final figures before it releases the
		// socket; this call raced with it.
		if st.last != nil {
			return *st.last, nil
		}
		return Stats{}, c.fd.opError("stats", net.ErrClosed)
	}
	s, ended, err := c.sample()
	if err != nil {
		if st.last != nil && ended {
			// UDT deleted the socket: its last figures are all there is.
			f := *st.last
			f.Ended, f.Interval = true, Traffic{}
			return f, nil
		}
		return Stats{}, c.fd.opError("stats", c.closedOr(err))
	}
	return s, nil
}

// endStats takes the final figures, once: Read calls it at the end of
// the connection, Close before it releases the socket.
func (c *Conn) endStats() {
	st := &c.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.final != nil {
		return
	}
	s, _, err := c.sample()
	if err != nil {
		if st.last == nil {
			return
		}
		s = *st.last
		s.Interval = Traffic{}
	}
	s.Ended = true
	st.final = &s
}

// sample reads UDT's figures and makes Stats of them, advancing the
// interval; ended reports that UDT no longer counts for this connection.
// c.stats.mu is held.
func (c *Conn) sample() (s Stats, ended bool, err error) {
	st := &c.stats
	fd := c.fd
	p, err := fd.lib.Perfmon(fd.pd.s, false)
	if err != nil {
		// UDT's perfmon refuses a connection that is closing or broken,
		// though it still holds the figures until it deletes the socket.
		switch CodeOf(err) {
		case ErrConnLost, ErrNoConn, ErrInvSock:
			ended = true
			var found bool
			if p, found = fd.pd.p.lib.perfEnded(fd.pd.s); found {
				err = nil
			}
		}
		if err != nil {
			return Stats{}, ended, err
		}
	}
	if st.payload == 0 {
		if v, err := fd.lib.GetSockOpt(fd.pd.s, OptMSS); err == nil {
			st.payload = v.(int) - udpIPHeaders - udtHeader
		}
	}
	now := time.Now()
	total := c.traffic(p, p.TimeStamp)
	iv := total.minus(st.prev, now.Sub(st.prevAt))
	c.rates(&total)
	c.rates(&iv)
	if fd.pd.idleExpired() {
		ended = true // the peer idle timeout broke it, though UDT still holds it
	}
	s = Stats{
		Elapsed:          p.TimeStamp,
		Interval:         iv,
		Total:            total,
		RTT:              p.RTT,
		Bandwidth:        BitRate(p.MbpsBandwidth * float64(Mbps)),
		SendPeriod:       p.PktSndPeriod,
		CongestionWindow: p.PktCongestionWindow,
		FlowWindow:       p.PktFlowWindow,
		InFlight:         p.PktFlightSize,
		SendBufferFree:   p.ByteAvailSndBuf,
		RecvBufferFree:   p.ByteAvailRcvBuf,
		Ended:            ended,
	}
	st.prev, st.prevAt = total, now
	st.last = &s
	return s, ended, nil
}

// traffic is p's totals, with the bytes this Conn counted.
func (c *Conn) traffic(p Perf, d time.Duration) Traffic {
	return Traffic{
		Duration:             d,
		BytesWritten:         c.nwritten.Load(),
		BytesRead:            c.nread.Load(),
		PacketsSent:          p.PktSentTotal,
		PacketsReceived:      p.PktRecvTotal,
		PacketsRetransmitted: int64(p.PktRetransTotal),
		SendLoss:             int64(p.PktSndLossTotal),
		RecvLoss:             int64(p.PktRcvLossTotal),
		ACKsSent:             int64(p.PktSentACKTotal),
		ACKsReceived:         int64(p.PktRecvACKTotal),
		NAKsSent:             int64(p.PktSentNAKTotal),
		NAKsReceived:         int64(p.PktRecvNAKTotal),
	}
}

// minus is the traffic of t since prev, over d.
func (t Traffic) minus(prev Traffic, d time.Duration) Traffic {
	return Traffic{
		Duration:             d,
		BytesWritten:         t.BytesWritten - prev.BytesWritten,
		BytesRead:            t.BytesRead - prev.BytesRead,
		PacketsSent:          t.PacketsSent - prev.PacketsSent,
		PacketsReceived:      t.PacketsReceived - prev.PacketsReceived,
		PacketsRetransmitted: t.PacketsRetransmitted - prev.PacketsRetransmitted,
		SendLoss:             t.SendLoss - prev.SendLoss,
		RecvLoss:             t.RecvLoss - prev.RecvLoss,
		ACKsSent:             t.ACKsSent - prev.ACKsSent,
		ACKsReceived:         t.ACKsReceived - prev.ACKsReceived,
		NAKsSent:             t.NAKsSent - prev.NAKsSent,
		NAKsReceived:         t.NAKsReceived - prev.NAKsReceived,
	}
}

// rates fills t's rates from its counts and Duration.
func (c *Conn) rates(t *Traffic) {
	secs := t.Duration.Seconds()
	bits := float64(c.stats.payload) * 8
	t.WriteRate = rateOf(float64(t.BytesWritten)*8, secs)
	t.ReadRate = rateOf(float64(t.BytesRead)*8, secs)
	t.SendRate = rateOf(float64(t.PacketsSent)*bits, secs)
	t.RecvRate = rateOf(float64(t.PacketsReceived)*bits, secs)
}
