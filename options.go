package udt

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/udtgo/udt/cudt"
)

// Option names a UDT socket option (UDTOpt).
type Option int

// The options of UDT 4.11, in UDT's numbering.
const (
	OptMSS        Option = iota // UDT_MSS: maximum packet size, bytes; before bind
	OptSndSyn                   // UDT_SNDSYN: send blocks
	OptRcvSyn                   // UDT_RCVSYN: receive, connect and accept block
	OptCC                       // UDT_CC: congestion control class; before connect
	OptFC                       // UDT_FC: flow window, packets; before connect
	OptSndBuf                   // UDT_SNDBUF: send buffer, bytes; before bind
	OptRcvBuf                   // UDT_RCVBUF: receive buffer, bytes; before bind
	OptLinger                   // UDT_LINGER: how long close waits for unsent data
	OptUDPSndBuf                // UDP_SNDBUF: the UDP socket's send buffer; before bind
	OptUDPRcvBuf                // UDP_RCVBUF: the UDP socket's receive buffer; before bind
	OptMaxMsg                   // UDT_MAXMSG: not implemented by UDT 4.11
	OptMsgTTL                   // UDT_MSGTTL: not implemented by UDT 4.11
	OptRendezvous               // UDT_RENDEZVOUS: rendezvous connect; before connect
	OptSndTimeo                 // UDT_SNDTIMEO: send timeout
	OptRcvTimeo                 // UDT_RCVTIMEO: receive timeout
	OptReuseAddr                // UDT_REUSEADDR: share a UDP port; before bind
	OptMaxBW                    // UDT_MAXBW: bandwidth cap, bytes/s, -1 for none
	OptState                    // UDT_STATE: read-only, the socket's Status
	OptEvent                    // UDT_EVENT: read-only, the epoll events ready now
	OptSndData                  // UDT_SNDDATA: read-only, packets in the send buffer
	OptRcvData                  // UDT_RCVDATA: read-only, packets ready to read
)

type optKind int

const (
	kindInt     optKind = iota // C int
	kindBool                   // C++ bool, one byte
	kindInt64                  // int64_t
	kindLinger                 // struct linger
	kindCC                     // C++ objects, through the shim
	kindTimeout                // C int of milliseconds, -1 for none
	kindStatus                 // C int holding a UDTSTATUS
	kindEvents                 // C int holding epoll events
)

var options = [...]struct {
	name string
	kind optKind
}{
	OptMSS:        {"UDT_MSS", kindInt},
	OptSndSyn:     {"UDT_SNDSYN", kindBool},
	OptRcvSyn:     {"UDT_RCVSYN", kindBool},
	OptCC:         {"UDT_CC", kindCC},
	OptFC:         {"UDT_FC", kindInt},
	OptSndBuf:     {"UDT_SNDBUF", kindInt},
	OptRcvBuf:     {"UDT_RCVBUF", kindInt},
	OptLinger:     {"UDT_LINGER", kindLinger},
	OptUDPSndBuf:  {"UDP_SNDBUF", kindInt},
	OptUDPRcvBuf:  {"UDP_RCVBUF", kindInt},
	OptMaxMsg:     {"UDT_MAXMSG", kindInt},
	OptMsgTTL:     {"UDT_MSGTTL", kindInt},
	OptRendezvous: {"UDT_RENDEZVOUS", kindBool},
	OptSndTimeo:   {"UDT_SNDTIMEO", kindTimeout},
	OptRcvTimeo:   {"UDT_RCVTIMEO", kindTimeout},
	OptReuseAddr:  {"UDT_REUSEADDR", kindBool},
	OptMaxBW:      {"UDT_MAXBW", kindInt64},
	OptState:      {"UDT_STATE", kindStatus},
	OptEvent:      {"UDT_EVENT", kindEvents},
	OptSndData:    {"UDT_SNDDATA", kindInt},
	OptRcvData:    {"UDT_RCVDATA", kindInt},
}

func (o Option) valid() bool { return o >= 0 && int(o) < len(options) }

// String is UDT's name for the option, e.g. "UDT_MSS".
func (o Option) String() string {
	if o.valid() {
		return options[o].name
	}
	return "Option(" + strconv.Itoa(int(o)) + ")"
}

// Linger is UDT_LINGER: whether Close waits for unsent data, and for how
// long at most (whole seconds, as struct linger keeps it).
type Linger struct {
	On      bool
	Timeout time.Duration
}

// CCKind names a congestion control class.
type CCKind int

const (
	CCNone      CCKind = cudt.CCNone      // not created yet: UDT makes it when the socket connects
	CCNative    CCKind = cudt.CCNative    // UDT's own rate-based control (CUDTCC), the default
	CCFixedRate CCKind = cudt.CCFixedRate // a constant rate, whatever the network says
	CCOther     CCKind = cudt.CCOther     // a class this binding did not install
)

// String is the class's name, e.g. "native".
func (k CCKind) String() string {
	switch k {
	case CCNone:
		return "none"
	case CCNative:
		return "native"
	case CCFixedRate:
		return "fixed-rate"
	case CCOther:
		return "other"
	case CCGo:
		return "go"
	}
	return "CCKind(" + strconv.Itoa(int(k)) + ")"
}

// The range of CCFixedRate's rate: below it the packet period overflows
// UDT's integer timer, above it no link goes.
const (
	MinFixedRate = 0.001 // Mbit/s
	MaxFixedRate = 1e6   // Mbit/s
)

// CongestionControl is UDT_CC: the class, and its rate for CCFixedRate or
// its Go controller for CCGo (see Controller and GoController). Set in a
// Config, it applies to the Dialer's connections, and to a Listener's
// (ListenConfig) for every connection it accepts.
type CongestionControl struct {
	Kind CCKind
	Mbps float64       // the sending rate of CCFixedRate, Mbit/s
	Go   *GoController // the controller of CCGo
}

func getOp(o Option) string { return "getsockopt " + o.String() }
func setOp(o Option) string { return "setsockopt " + o.String() }

// raw reads an option's bytes; 8 bytes hold every option but UDT_CC.
func (s Socket) raw(o Option) ([8]byte, error) {
	var b [8]byte
	_, err := cudt.GetSockOpt(int(s.id), int(o), b[:])
	return b, wrap(getOp(o), err)
}

func (s Socket) getInt(o Option) (int, error) {
	b, err := s.raw(o)
	if err != nil {
		return 0, err
	}
	return int(int32(binary.NativeEndian.Uint32(b[:4]))), nil
}

func (s Socket) setInt(o Option, v int) error {
	if v < -1<<31 || v > 1<<31-1 {
		return invalid(setOp(o), strconv.Itoa(v)+" does not fit in a C int")
	}
	if err := s.checkInt(o, v); err != nil {
		return err
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(int32(v)))
	return wrap(setOp(o), cudt.SetSockOpt(int(s.id), int(o), b[:]))
}

// MaxMSS is the largest UDT_MSS whose packets fit a UDP datagram: UDT
// accepts more, and then no data packet arrives.
const MaxMSS = 65535

// udpIPHeaders is what UDT takes off the MSS for IP and UDP headers (it
// assumes IPv4's 28 bytes for both families).
const udpIPHeaders = 28

// checkInt refuses values UDT accepts but cannot work with.
func (s Socket) checkInt(o Option, v int) error {
	switch o {
	case OptMSS:
		if v < minMSS {
			return invalid(setOp(o), "MSS "+strconv.Itoa(v)+" is below "+strconv.Itoa(minMSS)+" bytes, which IP and UDP headers and UDT's handshake take")
		}
		if v > MaxMSS {
			return invalid(setOp(o), "MSS "+strconv.Itoa(v)+" is larger than a UDP datagram ("+strconv.Itoa(MaxMSS)+" bytes with headers): no data packet would arrive")
		}
	case OptFC:
		if v > MaxFlowWindow {
			return invalid(setOp(o), "flow window of "+strconv.Itoa(v)+" packets is above MaxFlowWindow ("+strconv.Itoa(MaxFlowWindow)+"), whose handshakes this package's sockets drop")
		}
	case OptSndBuf:
		// UDT keeps the buffer as a whole number of packets of the current
		// MSS: less than one, and every send waits forever.
		mss, err := s.MSS()
		if err == nil && v > 0 && v < mss-udpIPHeaders {
			return invalid(setOp(o), "send buffer of "+strconv.Itoa(v)+" bytes holds no packet (MSS "+strconv.Itoa(mss)+" carries "+strconv.Itoa(mss-udpIPHeaders)+"): every send would wait forever")
		}
	}
	return nil
}

func (s Socket) getBool(o Option) (bool, error) {
	b, err := s.raw(o)
	return b[0] != 0, err
}

func (s Socket) setBool(o Option, v bool) error {
	b := []byte{0}
	if v {
		b[0] = 1
	}
	return wrap(setOp(o), cudt.SetSockOpt(int(s.id), int(o), b))
}

func (s Socket) getTimeout(o Option) (time.Duration, error) {
	ms, err := s.getInt(o)
	return time.Duration(ms) * time.Millisecond, err
}

// setTimeout stores d in milliseconds, rounded up; a negative d is UDT's -1,
// no timeout.
func (s Socket) setTimeout(o Option, d time.Duration) error {
	if d < 0 {
		return s.setInt(o, -1)
	}
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	if ms > 1<<31-1 {
		return invalid(setOp(o), d.String()+" is longer than a C int of milliseconds")
	}
	return s.setInt(o, int(ms))
}

// MSS is UDT_MSS, the largest packet UDT sends, headers included.
func (s Socket) MSS() (int, error) { return s.getInt(OptMSS) }

// SetMSS sets UDT_MSS; only before bind.
func (s Socket) SetMSS(bytes int) error { return s.setInt(OptMSS, bytes) }

// SendBlocking is UDT_SNDSYN: whether Send and SendMsg block.
func (s Socket) SendBlocking() (bool, error) { return s.getBool(OptSndSyn) }

// SetSendBlocking sets UDT_SNDSYN.
func (s Socket) SetSendBlocking(on bool) error { return s.setBool(OptSndSyn, on) }

// RecvBlocking is UDT_RCVSYN: whether Recv, RecvMsg, Accept and Connect
// block.
func (s Socket) RecvBlocking() (bool, error) { return s.getBool(OptRcvSyn) }

// SetRecvBlocking sets UDT_RCVSYN.
func (s Socket) SetRecvBlocking(on bool) error { return s.setBool(OptRcvSyn, on) }

// CongestionControl is UDT_CC. UDT answers ErrUnboundSock before bind, and
// CCNone until the connection exists.
func (s Socket) CongestionControl() (CongestionControl, error) {
	k, p, err := cudt.GetCC(int(s.id))
	if err != nil {
		return CongestionControl{}, wrap(getOp(OptCC), err)
	}
	return CongestionControl{Kind: CCKind(k), Mbps: p}, nil
}

// SetCongestionControl sets UDT_CC to CCNative, CCFixedRate (Mbps > 0) or
// CCGo (a Controller written in Go); only before connect.
func (s Socket) SetCongestionControl(cc CongestionControl) error { return s.setCC(cc) }

// FlowWindow is UDT_FC, the most packets in flight.
func (s Socket) FlowWindow() (int, error) { return s.getInt(OptFC) }

// SetFlowWindow sets UDT_FC; only before connect.
func (s Socket) SetFlowWindow(packets int) error { return s.setInt(OptFC, packets) }

// SendBuffer is UDT_SNDBUF in bytes.
func (s Socket) SendBuffer() (int, error) { return s.getInt(OptSndBuf) }

// SetSendBuffer sets UDT_SNDBUF; only before bind.
func (s Socket) SetSendBuffer(bytes int) error { return s.setInt(OptSndBuf, bytes) }

// RecvBuffer is UDT_RCVBUF in bytes.
func (s Socket) RecvBuffer() (int, error) { return s.getInt(OptRcvBuf) }

// SetRecvBuffer sets UDT_RCVBUF; only before bind.
func (s Socket) SetRecvBuffer(bytes int) error { return s.setInt(OptRcvBuf, bytes) }

// Linger is UDT_LINGER.
func (s Socket) Linger() (Linger, error) {
	b, err := s.raw(OptLinger)
	if err != nil {
		return Linger{}, err
	}
	on := int32(binary.NativeEndian.Uint32(b[:4]))
	secs := int32(binary.NativeEndian.Uint32(b[4:]))
	return Linger{On: on != 0, Timeout: time.Duration(secs) * time.Second}, nil
}

// SetLinger sets UDT_LINGER. The timeout must be whole seconds, 0 or more.
func (s Socket) SetLinger(l Linger) error {
	if l.Timeout < 0 || l.Timeout%time.Second != 0 || l.Timeout/time.Second > 1<<31-1 {
		return invalid(setOp(OptLinger), "linger timeout must be a whole number of seconds from 0, not "+l.Timeout.String())
	}
	var b [8]byte
	if l.On {
		binary.NativeEndian.PutUint32(b[:4], 1)
	}
	binary.NativeEndian.PutUint32(b[4:], uint32(l.Timeout/time.Second))
	return wrap(setOp(OptLinger), cudt.SetSockOpt(int(s.id), int(OptLinger), b[:]))
}

// UDPSendBuffer is UDP_SNDBUF, what UDT asks of the UDP socket, in bytes.
func (s Socket) UDPSendBuffer() (int, error) { return s.getInt(OptUDPSndBuf) }

// SetUDPSendBuffer sets UDP_SNDBUF; only before bind.
func (s Socket) SetUDPSendBuffer(bytes int) error { return s.setInt(OptUDPSndBuf, bytes) }

// UDPRecvBuffer is UDP_RCVBUF in bytes (the kernel may grant less).
func (s Socket) UDPRecvBuffer() (int, error) { return s.getInt(OptUDPRcvBuf) }

// SetUDPRecvBuffer sets UDP_RCVBUF; only before bind.
func (s Socket) SetUDPRecvBuffer(bytes int) error { return s.setInt(OptUDPRcvBuf, bytes) }

// MaxMsg is UDT_MAXMSG, which UDT 4.11 does not implement: it answers
// ErrInvOp.
func (s Socket) MaxMsg() (int, error) { return s.getInt(OptMaxMsg) }

// SetMaxMsg sets UDT_MAXMSG; UDT 4.11 answers ErrInvOp.
func (s Socket) SetMaxMsg(v int) error { return s.setInt(OptMaxMsg, v) }

// MsgTTL is UDT_MSGTTL, which UDT 4.11 does not implement: it answers
// ErrInvOp. Give each message its TTL with SendMsg instead.
func (s Socket) MsgTTL() (int, error) { return s.getInt(OptMsgTTL) }

// SetMsgTTL sets UDT_MSGTTL; UDT 4.11 answers ErrInvOp.
func (s Socket) SetMsgTTL(v int) error { return s.setInt(OptMsgTTL, v) }

// Rendezvous is UDT_RENDEZVOUS.
func (s Socket) Rendezvous() (bool, error) { return s.getBool(OptRendezvous) }

// SetRendezvous sets UDT_RENDEZVOUS; only before connect (UDT answers
// EBOUNDSOCK after).
func (s Socket) SetRendezvous(on bool) error { return s.setBool(OptRendezvous, on) }

// SendTimeout is UDT_SNDTIMEO; negative means none.
func (s Socket) SendTimeout() (time.Duration, error) { return s.getTimeout(OptSndTimeo) }

// SetSendTimeout sets UDT_SNDTIMEO, rounded up to milliseconds; negative
// means none.
func (s Socket) SetSendTimeout(d time.Duration) error { return s.setTimeout(OptSndTimeo, d) }

// RecvTimeout is UDT_RCVTIMEO; negative means none.
func (s Socket) RecvTimeout() (time.Duration, error) { return s.getTimeout(OptRcvTimeo) }

// SetRecvTimeout sets UDT_RCVTIMEO, rounded up to milliseconds; negative
// means none. A receive that times out fails with ErrTimeout.
func (s Socket) SetRecvTimeout(d time.Duration) error { return s.setTimeout(OptRcvTimeo, d) }

// ReuseAddr is UDT_REUSEADDR.
func (s Socket) ReuseAddr() (bool, error) { return s.getBool(OptReuseAddr) }

// SetReuseAddr sets UDT_REUSEADDR; only before bind.
func (s Socket) SetReuseAddr(on bool) error { return s.setBool(OptReuseAddr, on) }

// MaxBandwidth is UDT_MAXBW in bytes per second; -1 means no cap.
func (s Socket) MaxBandwidth() (int64, error) {
	b, err := s.raw(OptMaxBW)
	return int64(binary.NativeEndian.Uint64(b[:])), err
}

// SetMaxBandwidth sets UDT_MAXBW in bytes per second; -1 means no cap.
func (s Socket) SetMaxBandwidth(bytesPerSec int64) error {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], uint64(bytesPerSec))
	return wrap(setOp(OptMaxBW), cudt.SetSockOpt(int(s.id), int(OptMaxBW), b[:]))
}

// State is UDT_STATE (read-only); SockState asks the same through
// UDT::getsockstate.
func (s Socket) State() (Status, error) {
	v, err := s.getInt(OptState)
	return Status(v), err
}

// Events is UDT_EVENT (read-only): the epoll events ready on s now.
func (s Socket) Events() (Events, error) {
	v, err := s.getInt(OptEvent)
	return Events(v), err
}

// SendData is UDT_SNDDATA (read-only): packets, not bytes, in the send
// buffer.
func (s Socket) SendData() (int, error) { return s.getInt(OptSndData) }

// RecvData is UDT_RCVDATA (read-only): packets, not bytes, ready to read.
func (s Socket) RecvData() (int, error) { return s.getInt(OptRcvData) }

func result[T any](v T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// GetSockOpt reads any option (UDT::getsockopt) as the type its typed
// getter returns: int, bool, int64 (OptMaxBW), time.Duration (timeouts),
// Linger, CongestionControl, Status (OptState) or Events (OptEvent).
func (s Socket) GetSockOpt(o Option) (any, error) {
	if !o.valid() {
		return nil, invalid("getsockopt", "unknown option "+o.String())
	}
	switch options[o].kind {
	case kindBool:
		return result(s.getBool(o))
	case kindInt64:
		return result(s.MaxBandwidth())
	case kindLinger:
		return result(s.Linger())
	case kindCC:
		return result(s.CongestionControl())
	case kindTimeout:
		return result(s.getTimeout(o))
	case kindStatus:
		return result(s.State())
	case kindEvents:
		return result(s.Events())
	}
	return result(s.getInt(o))
}

// SetSockOpt sets any option (UDT::setsockopt) from a value of the type
// GetSockOpt returns for it. The read-only options reach UDT, which refuses
// them with ErrInvOp.
func (s Socket) SetSockOpt(o Option, v any) error {
	if !o.valid() {
		return invalid("setsockopt", "unknown option "+o.String())
	}
	wrongType := func(want string) error {
		return invalid(setOp(o), fmt.Sprintf("value must be %s, not %T", want, v))
	}
	switch options[o].kind {
	case kindBool:
		if b, ok := v.(bool); ok {
			return s.setBool(o, b)
		}
		return wrongType("bool")
	case kindInt64:
		if n, ok := v.(int64); ok {
			return s.SetMaxBandwidth(n)
		}
		return wrongType("int64")
	case kindLinger:
		if l, ok := v.(Linger); ok {
			return s.SetLinger(l)
		}
		return wrongType("udt.Linger")
	case kindCC:
		if cc, ok := v.(CongestionControl); ok {
			return s.SetCongestionControl(cc)
		}
		return wrongType("udt.CongestionControl")
	case kindTimeout:
		if d, ok := v.(time.Duration); ok {
			return s.setTimeout(o, d)
		}
		return wrongType("time.Duration")
	case kindStatus:
		if st, ok := v.(Status); ok {
			return s.setInt(o, int(st))
		}
		return wrongType("udt.Status")
	case kindEvents:
		if ev, ok := v.(Events); ok {
			return s.setInt(o, int(ev))
		}
		return wrongType("udt.Events")
	}
	if n, ok := v.(int); ok {
		return s.setInt(o, n)
	}
	return wrongType("int")
}
