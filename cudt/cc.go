package cudt

// Congestion control written in Go. The shim's GoCC is a CCC subclass whose
// every virtual calls back here (cudtGoCCEvent) with CCC's protected members
// in a C struct; the Go controller reads and sets them through CCState, and
// the shim writes them back into the CCC when the callback returns.
//
// C never holds a Go pointer: a socket's factory and each connection's
// controller are named by integers in the two tables below. Callbacks come
// on UDT's own threads (receiving, sending, closing, garbage collecting);
// the shim serialises those of one connection, and so does ccInstance.mu,
// which the race detector can see.

/*
#cgo noescape cudt_cc_send
#cgo nocallback cudt_cc_send
#cgo noescape cudt_cc_perf
#cgo nocallback cudt_cc_perf
#include <stdint.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// CCGo is the kind GetCC reports for a connection run by a Go controller.
const CCGo = C.CUDT_CC_GO

// Which per-packet callbacks a factory forwards (each costs a cgo callback
// per packet, so none by default).
const (
	CCHookSent     = C.CUDT_CC_HOOK_SENT
	CCHookReceived = C.CUDT_CC_HOOK_RECV
	// CCHookReceivedBatch makes OnPktReceived calls in batches: the shim
	// records each packet and its arrival, and crosses into Go once per
	// CCRxBatch packets or CCRxBatchTime of arrivals (at the next arrival),
	// and before any other callback.
	CCHookReceivedBatch = C.CUDT_CC_HOOK_RECV_BATCH
	CCRxBatch           = C.CUDT_CC_RX_BATCH
	CCRxBatchTime       = C.CUDT_CC_RX_BATCH_NS * time.Nanosecond
)

// Control packet types a controller may send with SendCustomMsg.
const (
	CtrlLossReport  = 3      // a NAK: loss list in UDT's encoding
	CtrlUserDefined = 0x7FFF // CCC's custom message, for processCustomMsg
)

// CCController receives one connection's CCC callbacks. It is the low-level
// face of udt.Controller; each call's CCState is valid during that call only.
type CCController interface {
	Init(s *CCState)
	Close(s *CCState)
	OnACK(s *CCState, ack int32)
	OnLoss(s *CCState, loss []int32)
	OnTimeout(s *CCState)
	OnPktSent(s *CCState, p *CCPacket)
	OnPktReceived(s *CCState, p *CCPacket)
	ProcessCustomMsg(s *CCState, p *CCPacket)
}

// CCPacket is a CPacket as a packet callback sees it.
type CCPacket struct {
	Seq       int32 // data: sequence number
	MsgNo     int32 // data: message number field
	Timestamp int32 // microseconds since the connection started
	Len       int   // payload bytes
	Control   bool
	Type      int    // control: packet type
	Ext       int    // control: extended type
	Data      []byte // control: payload (C memory: valid during the call only)
	// Arrived is when a received data packet came in: the shim's clock
	// reading for a batched one, the callback's time.Now otherwise.
	Arrived time.Time
}

// CCState is CCC's protected state during one callback.
type CCState struct {
	c     *C.cudt_cc_state
	sock  int
	inCtl bool // Init or Close: UDT holds locks that Perf and SendCustomMsg take
}

var errCCGone = &Error{Code: 5004, Msg: "congestion control handle used outside its callback"}

func (s *CCState) live() bool { return s != nil && s.c != nil }

// Socket is the UDT socket the controller belongs to.
func (s *CCState) Socket() int { return s.sock }

// SYNInterval is UDT's constant SYN time, in microseconds (m_iSYNInterval).
func (s *CCState) SYNInterval() int {
	if !s.live() {
		return 0
	}
	return int(s.c.syn_interval)
}

// MSS is m_iMSS, bytes per packet with all headers.
func (s *CCState) MSS() int {
	if !s.live() {
		return 0
	}
	return int(s.c.mss)
}

// MaxCWnd is m_dMaxCWndSize, packets (the flow window).
func (s *CCState) MaxCWnd() float64 {
	if !s.live() {
		return 0
	}
	return float64(s.c.max_cwnd)
}

// Bandwidth is m_iBandwidth, UDT's packet-pair estimate in packets/s.
func (s *CCState) Bandwidth() int {
	if !s.live() {
		return 0
	}
	return int(s.c.bandwidth)
}

// SndCurrSeqNo is m_iSndCurrSeqNo, the largest sequence number sent.
func (s *CCState) SndCurrSeqNo() int32 {
	if !s.live() {
		return 0
	}
	return int32(s.c.snd_curr_seq)
}

// RcvRate is m_iRcvRate, the receiver's packet arrival rate, packets/s.
func (s *CCState) RcvRate() int {
	if !s.live() {
		return 0
	}
	return int(s.c.rcv_rate)
}

// RTT is m_iRTT, microseconds.
func (s *CCState) RTT() int {
	if !s.live() {
		return 0
	}
	return int(s.c.rtt)
}

// PktSndPeriod is m_dPktSndPeriod, microseconds between packets.
func (s *CCState) PktSndPeriod() float64 {
	if !s.live() {
		return 0
	}
	return float64(s.c.pkt_snd_period)
}

// SetPktSndPeriod sets m_dPktSndPeriod.
func (s *CCState) SetPktSndPeriod(us float64) {
	if s.live() {
		s.c.pkt_snd_period = C.double(us)
	}
}

// CWnd is m_dCWndSize, packets.
func (s *CCState) CWnd() float64 {
	if !s.live() {
		return 0
	}
	return float64(s.c.cwnd)
}

// SetCWnd sets m_dCWndSize.
func (s *CCState) SetCWnd(pkts float64) {
	if s.live() {
		s.c.cwnd = C.double(pkts)
	}
}

// SetACKTimer is CCC::setACKTimer (milliseconds, capped by UDT at SYN).
func (s *CCState) SetACKTimer(ms int) {
	if s.live() && ms >= 0 {
		s.c.ack_timer = C.int(ms)
	}
}

// SetACKInterval is CCC::setACKInterval (packets; 0 turns it off).
func (s *CCState) SetACKInterval(pkts int) {
	if s.live() && pkts >= 0 {
		s.c.ack_interval = C.int(pkts)
	}
}

// SetRTO is CCC::setRTO (microseconds).
func (s *CCState) SetRTO(us int) {
	if s.live() && us >= 0 {
		s.c.rto = C.int(us)
	}
}

// SendCustomMsg is CCC::sendCustomMsg: a control packet of type typ
// (CtrlUserDefined with extended type ext, or CtrlLossReport) carrying
// words, which UDT sends in network byte order.
func (s *CCState) SendCustomMsg(typ, ext int, words []int32) error {
	if !s.live() {
		return errCCGone
	}
	if s.inCtl {
		return &Error{Code: 5003, Msg: "SendCustomMsg is not allowed in Init or Close: UDT holds its socket table's lock there"}
	}
	if typ != CtrlUserDefined && typ != CtrlLossReport {
		return &Error{Code: 5003, Msg: fmt.Sprintf("control packet type %d: a controller sends only a loss report (3) or a user-defined packet (0x7FFF)", typ)}
	}
	if ext < 0 || ext > 0xFFFF {
		return &Error{Code: 5003, Msg: fmt.Sprintf("extended type %d does not fit 16 bits", ext)}
	}
	if max := int(s.c.mss)/4 - 16; len(words) > max {
		return &Error{Code: 5003, Msg: fmt.Sprintf("%d words do not fit one packet (at most %d)", len(words), max)}
	}
	var p *C.int32_t
	if len(words) > 0 {
		p = (*C.int32_t)(unsafe.Pointer(&words[0]))
	}
	if C.cudt_cc_send(s.c.ccc, C.int(typ), C.int(ext), p, C.int(len(words))) != 0 {
		return &Error{Code: 2001, Msg: "the connection is gone"}
	}
	return nil
}

// Perf is CCC::getPerfInfo: the connection's statistics now.
func (s *CCState) Perf() (Perf, error) {
	if !s.live() {
		return Perf{}, errCCGone
	}
	if s.inCtl {
		return Perf{}, &Error{Code: 5003, Msg: "Perf is not allowed in Init or Close: UDT holds its socket table's lock there"}
	}
	var p C.cudt_perf
	if C.cudt_cc_perf(s.c.ccc, &p) != 0 {
		return Perf{}, &Error{Code: 2001, Msg: "the connection is not connected"}
	}
	return perfFromC(&p), nil
}

// ccFactory is one Config's constructor, alive while a C++ GoFactory
// (a socket's UDT_CC, or a copy of it) names it.
type ccFactory struct {
	newFn func() CCController
	refs  atomic.Int64
}

type ccInstance struct {
	mu     sync.Mutex
	c      CCController
	st     CCState
	pkt    CCPacket
	closed bool
}

var (
	ccFactories sync.Map // uint64 -> *ccFactory
	ccInstances sync.Map // uint64 -> *ccInstance
	ccNextID    atomic.Uint64
	// ccFailures holds why a controller stopped (a panic), by socket, until
	// CCFailure reads it.
	ccFailures sync.Map // int -> error
	// CCPanicHook, when set, hears of each panicking controller's socket
	// after it is recorded; tests use it. It must not block.
	ccOnPanic atomic.Pointer[func(sock int)]
)

// SetCCGo installs a Go controller factory on socket u: newFn makes one
// controller per connection, when UDT starts it; hooks is a CCHook* mask.
func SetCCGo(u int, newFn func() CCController, hooks int) error {
	id := ccNextID.Add(1)
	f := &ccFactory{newFn: newFn}
	ccFactories.Store(id, f)
	// Held across the call: the shim's own references come and go inside it.
	f.refs.Add(1)
	var e C.cudt_err
	r := C.cudt_setsockopt_cc_go(C.int(u), C.uint64_t(id), C.int(hooks), &e)
	cudtGoCCFactoryRef(C.uint64_t(id), -1)
	if r < 0 {
		return toError(&e)
	}
	return nil
}

// CCStart runs the constructor and Init of socket u's Go controller now,
// on this thread, if UDT left them owed when the connection started (the
// shim defers them so that no handshake waits for a crossing into Go; they
// run at the connection's first event otherwise). Nothing for another
// class of controller, or one already started.
func CCStart(u int) { C.cudt_cc_start(C.int(u)) }

// BoundThreads is how many of UDT's threads bound themselves to the Go
// runtime as they started, since the process started: each receiving
// thread, and each sending thread while a controller forwards OnPktSent,
// that started while some socket was set to a Go controller.
func BoundThreads() uint64 { return uint64(C.cudt_cc_bound_threads()) }

// CCInstance returns the Go controller running socket u's connection, nil
// if it runs another class or none yet. A controller still owed its Init
// gets it first (CCStart).
func CCInstance(u int) (CCController, error) {
	var e C.cudt_err
	var id C.uint64_t
	if C.cudt_getsockopt_cc_go(C.int(u), &id, &e) < 0 {
		return nil, toError(&e)
	}
	if v, ok := ccInstances.Load(uint64(id)); ok {
		return v.(*ccInstance).c, nil
	}
	return nil, nil
}

// CCFailure reports, once, why socket u's Go controller was stopped: a
// panic, after which the binding closed the socket.
func CCFailure(u int) error {
	if v, ok := ccFailures.LoadAndDelete(u); ok {
		return v.(error)
	}
	return nil
}

var ccRxBatches atomic.Int64

// CCRxBatches counts the batches of received packets handed to Go
// controllers (CCHookReceivedBatch), in this process so far.
func CCRxBatches() int64 { return ccRxBatches.Load() }

// CCLive counts the Go controllers and factories alive; tests use it to
// see that connections leave nothing behind.
func CCLive() (factories, instances int) {
	ccFactories.Range(func(_, _ any) bool { factories++; return true })
	ccInstances.Range(func(_, _ any) bool { instances++; return true })
	return
}

// SetCCPanicHook sets a function told the socket of each panicking
// controller (nil: none).
func SetCCPanicHook(f func(sock int)) {
	if f == nil {
		ccOnPanic.Store(nil)
		return
	}
	ccOnPanic.Store(&f)
}

// cudtGoBindThread does nothing: calling it binds a thread of UDT's to the
// runtime (cudt_cc_bind_thread).
//
//export cudtGoBindThread
func cudtGoBindThread() {}

//export cudtGoCCFactoryRef
func cudtGoCCFactoryRef(id C.uint64_t, delta C.int) {
	v, ok := ccFactories.Load(uint64(id))
	if !ok {
		return
	}
	if v.(*ccFactory).refs.Add(int64(delta)) == 0 {
		ccFactories.Delete(uint64(id))
	}
}

//export cudtGoCCNew
func cudtGoCCNew(factory C.uint64_t, sock C.int) (id C.uint64_t) {
	v, ok := ccFactories.Load(uint64(factory))
	if !ok {
		return 0
	}
	defer func() {
		if r := recover(); r != nil {
			ccFail(int(sock), fmt.Errorf("udt: congestion controller constructor panicked: %v", r))
			id = 0
		}
	}()
	c := v.(*ccFactory).newFn()
	if c == nil {
		ccFail(int(sock), fmt.Errorf("udt: congestion controller constructor returned nil"))
		return 0
	}
	n := ccNextID.Add(1)
	in := &ccInstance{c: c}
	in.st.sock = int(sock)
	ccInstances.Store(n, in)
	return C.uint64_t(n)
}

// cudtGoCCEvent runs one CCC callback; a non-zero result tells the shim to
// forward no more (the controller closed, or panicked).
//
//export cudtGoCCEvent
func cudtGoCCEvent(id C.uint64_t, ev C.int, st *C.cudt_cc_state, loss *C.int32_t, n C.int, pkt *C.cudt_cc_pkt,
	rx *C.cudt_cc_rx, now C.int64_t) (stop C.int) {
	v, ok := ccInstances.Load(uint64(id))
	if !ok {
		return 1
	}
	in := v.(*ccInstance)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return 1
	}
	s := &in.st
	s.c = st
	s.inCtl = ev == C.CUDT_CCE_INIT || ev == C.CUDT_CCE_CLOSE || ev == C.CUDT_CCE_RECV_BATCH_CLOSING
	defer func() {
		s.c = nil
		if r := recover(); r != nil {
			in.closed = true
			ccInstances.Delete(uint64(id))
			ccFail(s.sock, fmt.Errorf("udt: congestion controller panicked: %v\n%s", r, debug.Stack()))
			stop = 1
		}
	}()
	switch ev {
	case C.CUDT_CCE_INIT:
		in.c.Init(s)
	case C.CUDT_CCE_CLOSE:
		in.closed = true
		ccInstances.Delete(uint64(id))
		in.c.Close(s)
		return 1
	case C.CUDT_CCE_ACK:
		in.c.OnACK(s, int32(*loss))
	case C.CUDT_CCE_LOSS:
		var l []int32
		if n > 0 && loss != nil {
			l = unsafe.Slice((*int32)(unsafe.Pointer(loss)), int(n))
		}
		in.c.OnLoss(s, l)
	case C.CUDT_CCE_TIMEOUT:
		in.c.OnTimeout(s)
	case C.CUDT_CCE_SENT:
		in.c.OnPktSent(s, in.fill(pkt))
	case C.CUDT_CCE_RECV:
		p := in.fill(pkt)
		p.Arrived = time.Now()
		in.c.OnPktReceived(s, p)
	case C.CUDT_CCE_RECV_BATCH, C.CUDT_CCE_RECV_BATCH_CLOSING:
		if n <= 0 || rx == nil {
			break
		}
		ccRxBatches.Add(1)
		// The shim's clock is CLOCK_MONOTONIC, as Go's monotonic reading
		// is: one reading of each places every arrival.
		base := time.Now()
		for _, r := range unsafe.Slice((*C.cudt_cc_rx)(unsafe.Pointer(rx)), int(n)) {
			in.pkt = CCPacket{
				Seq:       int32(r.seq),
				MsgNo:     int32(r.msgno),
				Timestamp: int32(r.timestamp),
				Len:       int(r.len),
				Arrived:   base.Add(-time.Duration(now - r.arrived)),
			}
			in.c.OnPktReceived(s, &in.pkt)
		}
	case C.CUDT_CCE_CUSTOM:
		in.c.ProcessCustomMsg(s, in.fill(pkt))
	}
	return 0
}

func (in *ccInstance) fill(p *C.cudt_cc_pkt) *CCPacket {
	in.pkt = CCPacket{
		Seq:       int32(p.seq),
		MsgNo:     int32(p.msgno),
		Timestamp: int32(p.timestamp),
		Len:       int(p.len),
		Control:   p.ctrl != 0,
		Type:      int(p._type),
		Ext:       int(p.ext),
	}
	if p.ctrl != 0 && p.data != nil && p.len > 0 {
		in.pkt.Data = unsafe.Slice((*byte)(unsafe.Pointer(p.data)), int(p.len))
	}
	return &in.pkt
}

// ccFail records why sock's controller stopped and closes the socket from
// a goroutine: the callback runs on UDT's thread, inside UDT's locks.
func ccFail(sock int, err error) {
	ccFailures.Store(sock, err)
	if h := ccOnPanic.Load(); h != nil {
		(*h)(sock)
	}
	go Close(sock)
}
