package udt

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// Config holds the UDT options of a connection or listener. The zero value
// of each field keeps the default: MSS 1500 bytes (the whole IP packet),
// send and receive buffers of 12,058,624 bytes, UDP buffers of 65,536
// (send) and 12,288,000 bytes (receive; the kernel caps it), a flow window
// of as many packets as the receive buffer holds (8,192; UDT's own 25,600
// only sizes lists no peer is offered), no bandwidth cap, a linger of 180 s
// and UDT's native congestion control. Dialed connections share a UDP port
// only with those of the same MSS and UDP buffer sizes.
// UDT_SNDSYN and UDT_RCVSYN are not here: the net layer always runs
// sockets non-blocking and blocks in Go, and deadlines replace
// UDT_SNDTIMEO and UDT_RCVTIMEO. docs/options.md has every option, its
// unit and when UDT accepts it.
type Config struct {
	// Message selects message mode (SOCK_DGRAM): each Write sends one
	// message, each Read returns one (cut to the Read's buffer: see
	// Conn.ReadMsg, and Conn.WriteTo for io.Copy).
	Message bool
	// MessageTTL is the ttl of every Write on a message-mode connection
	// (0: never), as for Conn.WriteMsg: UDT 4.11 checks it only before a
	// retransmission, dropping a message that was lost and has been in
	// the send buffer longer than MessageTTL; on a path without loss no
	// message expires.
	MessageTTL time.Duration
	// MessageUnordered lets a message be delivered before earlier ones.
	MessageUnordered bool

	MSS           int // UDT_MSS, bytes per packet, headers included
	FlowWindow    int // UDT_FC, packets in flight
	SendBuffer    int // UDT_SNDBUF, bytes
	RecvBuffer    int // UDT_RCVBUF, bytes
	UDPSendBuffer int // UDP_SNDBUF, bytes
	UDPRecvBuffer int // UDP_RCVBUF, bytes
	// MaxSendRate caps how fast this side sends (UDT_MAXBW), in bits per
	// second like every rate of the net layer (0: no cap, UDT's default).
	MaxSendRate BitRate
	// Linger bounds how long Conn.Close waits for the peer to acknowledge
	// what was written (UDT_LINGER). As with every Config field, 0 keeps
	// the library's default, 180 s; negative discards unacknowledged data
	// at once (Conn.SetLinger(0) does the same on an open Conn). A positive
	// value is whole seconds, struct linger's unit: Dial and Listen refuse
	// 1500 * time.Millisecond rather than round it.
	Linger time.Duration
	// CongestionControl picks UDT_CC; the zero value keeps UDT's native one.
	CongestionControl CongestionControl
	// PeerIdleTimeout breaks the connection when nothing has been heard
	// from the peer for that long: blocked and later Reads and Writes fail
	// with an error whose Timeout is true (it matches syscall.ETIMEDOUT and
	// ErrConnLost), and Close and Flush name what was not acknowledged.
	// UDT's peers send a keep-alive each second they have nothing else to
	// send, so it is at least MinPeerIdleTimeout. 0 keeps UDT's own
	// behaviour: a silent peer is given up after 45 to 53 s.
	// Conn.SetPeerIdleTimeout changes it on an open connection.
	PeerIdleTimeout time.Duration
}

// MinPeerIdleTimeout is the shortest PeerIdleTimeout: twice the second
// between the keep-alives of an idle UDT peer.
const MinPeerIdleTimeout = 2 * time.Second

// validate checks what UDT would refuse or misread, naming the field.
func (c *Config) validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"MSS", c.MSS}, {"FlowWindow", c.FlowWindow}, {"SendBuffer", c.SendBuffer}, {"RecvBuffer", c.RecvBuffer}, {"UDPSendBuffer", c.UDPSendBuffer}, {"UDPRecvBuffer", c.UDPRecvBuffer}} {
		if f.v < 0 || f.v > 1<<31-1 {
			return fmt.Errorf("udt: Config.%s must be between 0 (the default) and 2^31-1, not %d", f.name, f.v)
		}
	}
	if c.FlowWindow > MaxFlowWindow {
		return fmt.Errorf("udt: Config.FlowWindow must be at most MaxFlowWindow (%d packets), not %d", MaxFlowWindow, c.FlowWindow)
	}
	if c.MSS != 0 && (c.MSS < minMSS || c.MSS > MaxMSS) {
		return fmt.Errorf("udt: Config.MSS must be from %d bytes (UDT's headers) to %d (a UDP datagram), not %d", minMSS, MaxMSS, c.MSS)
	}
	if mss := cmp.Or(c.MSS, 1500); c.SendBuffer != 0 && c.SendBuffer < mss-udpIPHeaders {
		return fmt.Errorf("udt: Config.SendBuffer of %d bytes holds no packet of MSS %d (%d bytes of data): every write would wait forever", c.SendBuffer, mss, mss-udpIPHeaders)
	}
	if err := checkSendRate(c.MaxSendRate); err != nil {
		return fmt.Errorf("udt: Config.%v", err)
	}
	if c.MessageTTL < 0 {
		return fmt.Errorf("udt: Config.MessageTTL must be 0 (never) or more, not %v", c.MessageTTL)
	}
	if (c.MessageTTL != 0 || c.MessageUnordered) && !c.Message {
		return errors.New("udt: Config.MessageTTL and MessageUnordered need Config.Message")
	}
	if err := checkPeerIdle(c.PeerIdleTimeout); err != nil {
		return fmt.Errorf("udt: Config.%v", err)
	}
	if c.Linger > 0 && (c.Linger%time.Second != 0 || c.Linger/time.Second > 1<<31-1) {
		return fmt.Errorf("udt: Config.Linger must be whole seconds that fit struct linger (at most 2^31-1), not %v", c.Linger)
	}
	return c.validateCC()
}

func (c *Config) socketType() SocketType {
	if c.Message {
		return Datagram
	}
	return Stream
}

// apply sets the options on a new, unbound socket, and makes it
// non-blocking.
func (c *Config) apply(lib Library, s Socket) error {
	set := func(o Option, v any) error { return lib.SetSockOpt(s, o, v) }
	opts := []struct {
		o    Option
		v    any
		skip bool
	}{
		{OptSndSyn, false, false},
		{OptRcvSyn, false, false},
		{OptMSS, c.MSS, c.MSS == 0},
		{OptFC, c.flowWindow(), false},
		{OptSndBuf, c.SendBuffer, c.SendBuffer == 0},
		{OptRcvBuf, c.RecvBuffer, c.RecvBuffer == 0},
		{OptUDPSndBuf, c.UDPSendBuffer, c.UDPSendBuffer == 0},
		{OptUDPRcvBuf, c.UDPRecvBuffer, c.UDPRecvBuffer == 0},
		{OptMaxBW, maxBW(c.MaxSendRate), c.MaxSendRate == 0},
		{OptLinger, Linger{On: c.Linger > 0, Timeout: max(c.Linger, 0)}, c.Linger == 0},
		{OptCC, c.CongestionControl, c.CongestionControl.Kind == CCNone},
	}
	for _, o := range opts {
		if o.skip {
			continue
		}
		if err := set(o.o, o.v); err != nil {
			return err
		}
	}
	return nil
}

// checkPeerIdle says what is wrong with a peer idle timeout, if anything.
func checkPeerIdle(d time.Duration) error {
	if d != 0 && d < MinPeerIdleTimeout {
		return fmt.Errorf("PeerIdleTimeout must be 0 (UDT's own 45 to 53 s) or at least MinPeerIdleTimeout (%v: an idle UDT peer sends a keep-alive each second), not %v", MinPeerIdleTimeout, d)
	}
	return nil
}
