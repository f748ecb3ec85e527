package udt

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/udtgo/udt/cudt"
)

// Controller is UDT's CCC class in Go: one method per virtual, called by
// UDT for one connection. Embed ControllerBase for the ones you leave empty,
// as a C++ subclass inherits CCC's empty bodies. The *CC handed to each call
// is what CCC's protected members give a subclass; it is valid during the
// call only (it is the same value every call, so keeping it is harmless but
// using it later does nothing).
//
// Calls come on UDT's own threads, one at a time per connection: OnPktSent
// from the sending thread, Close from whoever closes, the rest from the
// receiving one. They must not block: UDT's threads serve every connection
// of the port. A panic stops the controller and closes its connection only
// (Socket.CongestionError, through Conn.Socket, reports it); no call
// follows Close.
type Controller interface {
	// Init is called when the connection starts (CCC::init), before any
	// other callback: on the goroutine that Dial, Accept (or
	// Socket.Accept, a blocking Socket.Connect) returns the connection
	// to, before it returns; or on UDT's thread, just before the first
	// event UDT has for the connection, should that come first (a peer
	// that sends before Accept; a Socket connected without blocking, whose
	// first packets leave on CCC's initial window of 16 packets until its
	// first ACK). UDT itself calls CCC::init in the middle of the
	// handshake, on the thread that answers every handshake of the port;
	// the binding runs no Go there. A connection that closes before any of
	// these makes no controller: New, Init and Close are not called.
	Init(cc *CC)
	// Close is called once when the connection closes (CCC::close).
	Close(cc *CC)
	// OnACK is called for each ACK that moves the acknowledged sequence
	// number forward to ack, the first one not yet received (CCC::onACK).
	OnACK(cc *CC, ack int32)
	// OnLoss is called for each loss report (NAK) received (CCC::onLoss).
	// loss is UDT's encoding: a number with the top bit set starts a range
	// that the next number ends; LossRanges decodes it. It is valid during
	// the call only.
	OnLoss(cc *CC, loss []int32)
	// OnTimeout is called when UDT's retransmission timer (EXP) fires with
	// data unacknowledged (CCC::onTimeout).
	OnTimeout(cc *CC)
	// OnPktSent is called for every data packet sent, if the
	// GoController's Hooks ask for it (CCC::onPktSent).
	OnPktSent(cc *CC, p *Packet)
	// OnPktReceived is called for every data packet received, if the
	// GoController's Hooks ask for it (CCC::onPktReceived).
	OnPktReceived(cc *CC, p *Packet)
	// ProcessCustomMsg is called for each user-defined control packet the
	// peer's controller sent (CCC::processCustomMsg).
	ProcessCustomMsg(cc *CC, p *Packet)
}

// ControllerBase implements every Controller method as doing nothing.
type ControllerBase struct{}

// Init does nothing.
func (ControllerBase) Init(*CC) {}

// Close does nothing.
func (ControllerBase) Close(*CC) {}

// OnACK does nothing.
func (ControllerBase) OnACK(*CC, int32) {}

// OnLoss does nothing.
func (ControllerBase) OnLoss(*CC, []int32) {}

// OnTimeout does nothing.
func (ControllerBase) OnTimeout(*CC) {}

// OnPktSent does nothing.
func (ControllerBase) OnPktSent(*CC, *Packet) {}

// OnPktReceived does nothing.
func (ControllerBase) OnPktReceived(*CC, *Packet) {}

// ProcessCustomMsg does nothing.
func (ControllerBase) ProcessCustomMsg(*CC, *Packet) {}

// PacketHooks picks the per-packet callbacks forwarded to a Controller.
// Each costs a cgo callback per packet, so a controller asks only for
// those it needs.
type PacketHooks int

const (
	HookPktSent     PacketHooks = cudt.CCHookSent     // OnPktSent
	HookPktReceived PacketHooks = cudt.CCHookReceived // OnPktReceived
	// HookPktReceivedBatch is OnPktReceived for every data packet too, in
	// arrival order, but UDT's receive thread crosses into Go once per
	// batch rather than per packet: the shim records each packet with its
	// arrival time (Packet.Arrived, which carries a monotonic reading) and
	// hands over the batch at the first arrival a millisecond or more after
	// the batch began, at 64 packets, and before any other callback, Close
	// included. Only an arrival or a callback moves a batch on: packets
	// that come before a gap in the traffic wait for its end (up to 100 ms
	// in a loopback slow start). Packets still held when the connection
	// closes come just before Close, and as in Close, SendCustomMsg and
	// Perf are refused during them. A controller that can take its packets
	// late and go by Arrived pays a fraction of the per-packet cost.
	HookPktReceivedBatch PacketHooks = cudt.CCHookReceivedBatch
)

// GoController describes a Controller written in Go, for
// CongestionControl{Kind: CCGo, Go: ...}.
type GoController struct {
	// Name shows in errors and in udt perf.
	Name string
	// New makes the controller of one connection, on both ends if both
	// set it: just before its Init, on the same thread (Controller.Init
	// says which).
	New func() Controller
	// Hooks asks for OnPktSent and OnPktReceived (one packet per call, or
	// in batches).
	Hooks PacketHooks
	// Params are CCC's user parameters (m_pcParam): handed to every
	// controller New makes through CC.UserParam.
	Params []byte
}

// CCGo is a Controller written in Go (CongestionControl.Go).
const CCGo CCKind = cudt.CCGo

// Packet is a packet as CCC's packet callbacks see it.
type Packet struct {
	Seq       int32 // data: sequence number
	MsgNo     int32 // data: message number field
	Timestamp int32 // microseconds since the connection started
	Len       int   // payload bytes
	Control   bool
	Type      int    // control: packet type (0x7FFF for a custom message)
	Ext       int    // control: extended type
	Data      []byte // control: payload; valid during the call only
	// Arrived is when a received data packet came in (OnPktReceived):
	// earlier than the call when the hook is HookPktReceivedBatch.
	Arrived time.Time
}

// Control packet types CC.SendCustomMsg sends.
const (
	// CtrlUserDefined is CCC's custom message: the peer's controller gets it
	// in ProcessCustomMsg.
	CtrlUserDefined = cudt.CtrlUserDefined
	// CtrlLossReport is a NAK in UDT's loss list encoding. UDT 4.11's
	// receiver reports each loss once and never again (its periodic NAK is
	// compiled out); a receiving-side controller can report again.
	CtrlLossReport = cudt.CtrlLossReport
)

// CC is the handle a Controller gets: CCC's protected members.
type CC struct {
	s       *cudt.CCState
	lastACK int32
	hasACK  bool
	params  []byte
}

// Socket is the connection's UDT socket.
func (c *CC) Socket() Socket { return Socket{id: SocketID(c.s.Socket())} }

// SYNInterval is UDT's fixed timer granularity (m_iSYNInterval, 10 ms).
func (c *CC) SYNInterval() int { return c.s.SYNInterval() }

// MSS is the packet size, headers included (m_iMSS).
func (c *CC) MSS() int { return c.s.MSS() }

// MaxCWnd is the flow window, in packets (m_dMaxCWndSize).
func (c *CC) MaxCWnd() float64 { return c.s.MaxCWnd() }

// MaxBandwidth is UDT_MAXBW in bytes per second (0: no cap), which UDT
// applies over whatever period the controller sets.
func (c *CC) MaxBandwidth() int64 {
	v, err := c.Socket().MaxBandwidth()
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// Bandwidth is UDT's packet-pair estimate of the link, packets per second
// (m_iBandwidth).
func (c *CC) Bandwidth() int { return c.s.Bandwidth() }

// RcvRate is the receiver's packet arrival rate, packets per second, as
// its ACKs report it (m_iRcvRate).
func (c *CC) RcvRate() int { return c.s.RcvRate() }

// RTT is UDT's smoothed round-trip time, microseconds (m_iRTT).
func (c *CC) RTT() int { return c.s.RTT() }

// SndCurrSeqNo is the largest sequence number sent (m_iSndCurrSeqNo).
func (c *CC) SndCurrSeqNo() int32 { return c.s.SndCurrSeqNo() }

// LastACK is the sequence number the latest OnACK carried; ok is false
// before the first.
func (c *CC) LastACK() (ack int32, ok bool) { return c.lastACK, c.hasACK }

// PktSndPeriod is the time between packets, microseconds (m_dPktSndPeriod).
func (c *CC) PktSndPeriod() float64 { return c.s.PktSndPeriod() }

// SetPktSndPeriod sets the time between packets (m_dPktSndPeriod).
func (c *CC) SetPktSndPeriod(us float64) { c.s.SetPktSndPeriod(us) }

// CWnd is the congestion window, packets (m_dCWndSize).
func (c *CC) CWnd() float64 { return c.s.CWnd() }

// SetCWnd sets the congestion window (m_dCWndSize); UDT sends no more than
// the smaller of it and the flow window beyond the last ACK.
func (c *CC) SetCWnd(pkts float64) { c.s.SetCWnd(pkts) }

// SetACKTimer sets how often this end acknowledges the data it receives,
// in milliseconds (CCC::setACKTimer; UDT caps it at SYN, 10 ms).
func (c *CC) SetACKTimer(ms int) { c.s.SetACKTimer(ms) }

// SetACKInterval makes this end acknowledge every pkts packets received as
// well (CCC::setACKInterval; 0: by the timer only).
func (c *CC) SetACKInterval(pkts int) { c.s.SetACKInterval(pkts) }

// SetRTO replaces UDT's retransmission timeout, microseconds (CCC::setRTO).
func (c *CC) SetRTO(us int) { c.s.SetRTO(us) }

// SendCustomMsg sends the peer a control packet (CCC::sendCustomMsg):
// CtrlUserDefined with extended type ext, or CtrlLossReport. words go in
// network byte order. Not allowed in Init or Close.
func (c *CC) SendCustomMsg(typ, ext int, words []int32) error {
	return wrap("sendCustomMsg", c.s.SendCustomMsg(typ, ext, words))
}

// Perf is CCC::getPerfInfo: the connection's statistics, as Socket.Perf
// gives them without clearing. Not allowed in Init or Close.
func (c *CC) Perf() (Perf, error) {
	p, err := c.s.Perf()
	if err != nil {
		return Perf{}, wrap("getPerfInfo", err)
	}
	return perfFrom(p), nil
}

// UserParam is CCC's user parameter block (m_pcParam): GoController.Params
// unless SetUserParam replaced it. Do not modify it.
func (c *CC) UserParam() []byte { return c.params }

// SetUserParam is CCC::setUserParam.
func (c *CC) SetUserParam(p []byte) { c.params = append([]byte(nil), p...) }

// LossRanges decodes a loss list as OnLoss gets it into inclusive ranges
// [from, to] of sequence numbers, calling f for each; it stops at a
// malformed entry.
func LossRanges(loss []int32, f func(from, to int32)) {
	for i := 0; i < len(loss); i++ {
		if loss[i] < 0 { // top bit: a range
			if i+1 >= len(loss) {
				return
			}
			f(loss[i]&0x7FFFFFFF, loss[i+1])
			i++
			continue
		}
		f(loss[i], loss[i])
	}
}

// ccAdapter turns cudt's callbacks into a Controller's.
type ccAdapter struct {
	c   Controller
	cc  CC
	pkt Packet
}

func (a *ccAdapter) bind(s *cudt.CCState) *CC {
	a.cc.s = s
	return &a.cc
}

func (a *ccAdapter) packet(p *cudt.CCPacket) *Packet {
	a.pkt = Packet(*p)
	return &a.pkt
}

func (a *ccAdapter) Init(s *cudt.CCState)  { a.c.Init(a.bind(s)) }
func (a *ccAdapter) Close(s *cudt.CCState) { a.c.Close(a.bind(s)) }
func (a *ccAdapter) OnACK(s *cudt.CCState, ack int32) {
	a.cc.lastACK, a.cc.hasACK = ack, true
	a.c.OnACK(a.bind(s), ack)
}
func (a *ccAdapter) OnLoss(s *cudt.CCState, loss []int32) { a.c.OnLoss(a.bind(s), loss) }
func (a *ccAdapter) OnTimeout(s *cudt.CCState)            { a.c.OnTimeout(a.bind(s)) }
func (a *ccAdapter) OnPktSent(s *cudt.CCState, p *cudt.CCPacket) {
	a.c.OnPktSent(a.bind(s), a.packet(p))
}
func (a *ccAdapter) OnPktReceived(s *cudt.CCState, p *cudt.CCPacket) {
	a.c.OnPktReceived(a.bind(s), a.packet(p))
}
func (a *ccAdapter) ProcessCustomMsg(s *cudt.CCState, p *cudt.CCPacket) {
	a.c.ProcessCustomMsg(a.bind(s), a.packet(p))
}

// check says what is wrong with cc for op, or nil; where is the field's
// name for Config's messages.
func (cc CongestionControl) check() string {
	switch cc.Kind {
	case CCNone, CCNative:
	case CCFixedRate:
		if m := cc.Mbps; !(m >= MinFixedRate && m <= MaxFixedRate) {
			return fmt.Sprintf("fixed-rate congestion control needs Mbps from %v to %v, not %v", MinFixedRate, MaxFixedRate, m)
		}
	case CCGo:
		if cc.Go == nil || cc.Go.New == nil {
			return "CCGo needs Go.New, the function making each connection's Controller"
		}
		if cc.Go.Hooks&^(HookPktSent|HookPktReceived|HookPktReceivedBatch) != 0 {
			return fmt.Sprintf("Go.Hooks %#x has bits beyond HookPktSent|HookPktReceived|HookPktReceivedBatch", int(cc.Go.Hooks))
		}
		if cc.Go.Hooks&HookPktReceived != 0 && cc.Go.Hooks&HookPktReceivedBatch != 0 {
			return "Go.Hooks asks for HookPktReceived and HookPktReceivedBatch: one way of receiving packets, not both"
		}
		return ""
	default:
		return "congestion control must be CCNative, CCFixedRate or CCGo, not " + cc.Kind.String()
	}
	if cc.Go != nil {
		return "Go is set but Kind is " + cc.Kind.String() + ", not CCGo"
	}
	return ""
}

// validateCC is Config.validate's check of CongestionControl.
func (c *Config) validateCC() error {
	if msg := c.CongestionControl.check(); msg != "" {
		return fmt.Errorf("udt: Config.CongestionControl: %s", msg)
	}
	return nil
}

// setCC installs cc on s, checked.
func (s Socket) setCC(cc CongestionControl) error {
	if cc.Kind == CCNone {
		return invalid(setOp(OptCC), "congestion control must be CCNative, CCFixedRate or CCGo, not none")
	}
	if msg := cc.check(); msg != "" {
		return invalid(setOp(OptCC), msg)
	}
	if cc.Kind == CCGo {
		g := *cc.Go
		params := append([]byte(nil), g.Params...)
		newFn := func() cudt.CCController {
			c := g.New()
			if c == nil {
				return nil
			}
			return &ccAdapter{c: c, cc: CC{params: params}}
		}
		return wrap(setOp(OptCC), cudt.SetCCGo(int(s.id), newFn, int(g.Hooks)))
	}
	return wrap(setOp(OptCC), cudt.SetCC(int(s.id), int(cc.Kind), cc.Mbps))
}

// Controller returns the Go controller running s's connection (as
// getsockopt(UDT_CC) returns the CCC object), or nil if another class or
// none runs it.
func (s Socket) Controller() (Controller, error) {
	c, err := cudt.CCInstance(int(s.id))
	if err != nil {
		return nil, wrap(getOp(OptCC), err)
	}
	if a, ok := c.(*ccAdapter); ok {
		return a.c, nil
	}
	return nil, nil
}

// CongestionError reports why the connection's Go controller stopped (it
// panicked; the binding then closed the connection), once; nil otherwise.
func (s Socket) CongestionError() error { return cudt.CCFailure(int(s.id)) }

// Controllers lists the names ParseCongestionControl knows.
var Controllers = []string{"native", "fixed:MBPS", "bbr"}

// ParseCongestionControl turns a name into a CongestionControl: native
// (UDT's own, the default), fixed:MBPS (a constant rate in Mbit/s) or bbr
// (the model-based controller, see BBR).
func ParseCongestionControl(name string) (CongestionControl, error) {
	switch {
	case name == "native" || name == "":
		return CongestionControl{Kind: CCNative}, nil
	case name == "bbr":
		return BBR(BBRConfig{}), nil
	case strings.HasPrefix(name, "fixed:"):
		m, err := strconv.ParseFloat(strings.TrimPrefix(name, "fixed:"), 64)
		cc := CongestionControl{Kind: CCFixedRate, Mbps: m}
		if err != nil || cc.check() != "" {
			return CongestionControl{}, fmt.Errorf("udt: congestion control %q: want fixed:MBPS with MBPS from %v to %v", name, MinFixedRate, MaxFixedRate)
		}
		return cc, nil
	}
	return CongestionControl{}, fmt.Errorf("udt: unknown congestion control %q (want one of %s)", name, strings.Join(Controllers, ", "))
}
