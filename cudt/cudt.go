// Package cudt is the thin cgo layer over the UDT4 reference library: one Go
// function per call of namespace UDT, on plain handles, and the only package
// of this module that imports "C".
//
// It is low level and exists for the udt package's use: programs import udt,
// whose one-to-one layer (Socket, Epoll, Perf, ...) mirrors the same calls on
// Go types. cudt makes no compatibility promise: its names, types and
// behaviour change with what udt needs, in any release.
//
// Callers above see Go types only. Errors come back as *Error with UDT's code
// and text, read inside the same C call as the failure (UDT keeps its last
// error per OS thread, and a goroutine may change threads between calls).
// No Go pointer is kept by C beyond a call, and C memory is freed by the
// function that allocated it.
package cudt

/*
#cgo CXXFLAGS: -O2 -Wall
#cgo noescape cudt_bind
#cgo nocallback cudt_bind
#cgo noescape cudt_accept
#cgo nocallback cudt_accept
// cudt_connect may not call Go today (a blocking connect runs CCC::init,
// which for a Go controller only notes that Init is owed: cudt_cc_start),
// but it runs UDT's handshake code, which is left free to, and so it is
// not noescape either: a callback may move the stack its pointers point
// into. cudt_close runs a Go controller's close.
#cgo noescape cudt_getpeername
#cgo nocallback cudt_getpeername
#cgo noescape cudt_getsockname
#cgo nocallback cudt_getsockname
#cgo noescape cudt_getsockopt
#cgo nocallback cudt_getsockopt
#cgo noescape cudt_setsockopt
#cgo nocallback cudt_setsockopt
#cgo noescape cudt_getsockopt_cc
#cgo nocallback cudt_getsockopt_cc
#cgo noescape cudt_send
#cgo nocallback cudt_send
#cgo noescape cudt_recv
#cgo nocallback cudt_recv
#cgo noescape cudt_sendmsg
#cgo nocallback cudt_sendmsg
#cgo noescape cudt_recvmsg
#cgo nocallback cudt_recvmsg
#cgo noescape cudt_epoll_wait2
#cgo nocallback cudt_epoll_wait2
#cgo noescape cudt_perfmon
#cgo nocallback cudt_perfmon
#cgo nocallback cudt_getsockstate
#cgo nocallback cudt_malloc_trim
#include <stdlib.h>
#include <sys/socket.h>
#include "shim.h"
*/
import "C"

import (
	"time"
	"unsafe"
)

// Address families and socket types, as UDT::socket takes them.
const (
	AF_INET     = C.AF_INET
	AF_INET6    = C.AF_INET6
	SOCK_STREAM = C.SOCK_STREAM
	SOCK_DGRAM  = C.SOCK_DGRAM
)

// Congestion control kinds understood by SetCC and reported by GetCC.
const (
	CCNone      = C.CUDT_CC_NONE
	CCNative    = C.CUDT_CC_NATIVE
	CCFixedRate = C.CUDT_CC_FIXEDRATE
	CCOther     = C.CUDT_CC_OTHER
)

// Error is a failed UDT call: the library's error code and its own text.
type Error struct {
	Code int
	Msg  string
}

// Error is UDT's text.
func (e *Error) Error() string { return e.Msg }

// The non-blocking outcomes come back on every would-block and every epoll
// timeout; handing out shared values keeps those paths free of allocation.
// Their texts are UDT's own, checked against the library by the tests.
var (
	errAsyncSnd = &Error{Code: 6001, Msg: "Non-blocking call failure: no buffer available for sending."}
	errAsyncRcv = &Error{Code: 6002, Msg: "Non-blocking call failure: no data available for reading."}
	errTimeout  = &Error{Code: 6003, Msg: "Non-blocking call failure."}
)

func toError(e *C.cudt_err) error {
	switch e.code {
	case 6001:
		return errAsyncSnd
	case 6002:
		return errAsyncRcv
	case 6003:
		return errTimeout
	}
	return rawError(e)
}

// rawError copies the text in Go: handing &e.msg to C.GoString would make
// every call's cudt_err escape to the heap.
func rawError(e *C.cudt_err) *Error {
	n := 0
	for n < len(e.msg) && e.msg[n] != 0 {
		n++
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(e.msg[i])
	}
	return &Error{Code: int(e.code), Msg: string(b)}
}

// Addr is an IPv4 or IPv6 socket address. IP holds 4 bytes for AF_INET
// (in IP[:4]) and 16 for AF_INET6.
type Addr struct {
	Family int
	IP     [16]byte
	Port   uint16
	Scope  uint32
}

func (a *Addr) toC(c *C.cudt_addr) {
	c.family = C.int(a.Family)
	for i := range a.IP {
		c.ip[i] = C.uchar(a.IP[i])
	}
	c.port = C.ushort(a.Port)
	c.scope = C.uint(a.Scope)
}

func fromC(c *C.cudt_addr) Addr {
	a := Addr{Family: int(c.family), Port: uint16(c.port), Scope: uint32(c.scope)}
	for i := range a.IP {
		a.IP[i] = byte(c.ip[i])
	}
	return a
}

// bufPtr gives C the start of b; an empty slice becomes NULL, which UDT
// accepts together with a zero length.
func bufPtr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// clampLen keeps a Go length within C's int.
func clampLen(n int) C.int {
	const maxInt32 = 1<<31 - 1
	if n > maxInt32 {
		return maxInt32
	}
	return C.int(n)
}

func init() { C.cudt_exit_guard() }

// SetExitGuardForTesting turns off (or back on) what keeps exit from
// running UDT's destructors under its running threads (shim.cpp), for a
// test to show what it prevents.
func SetExitGuardForTesting(on bool) {
	off := 1
	if on {
		off = 0
	}
	C.cudt_exit_guard_off(C.int(off))
}

// ExitForTesting ends the process through the C library's exit(code), the
// way a -race build always ends, in any build: for tests of what runs
// then.
func ExitForTesting(code int) { C.cudt_exit(C.int(code)) }

// Startup is UDT::startup.
func Startup() error {
	var e C.cudt_err
	if C.cudt_startup(&e) < 0 {
		return toError(&e)
	}
	return nil
}

// Cleanup is UDT::cleanup.
func Cleanup() error {
	var e C.cudt_err
	if C.cudt_cleanup(&e) < 0 {
		return toError(&e)
	}
	return nil
}

// Socket is UDT::socket; it returns the new socket's handle.
func Socket(af, typ, protocol int) (int, error) {
	var e C.cudt_err
	u := C.cudt_socket(C.int(af), C.int(typ), C.int(protocol), &e)
	if u < 0 {
		return -1, toError(&e)
	}
	return int(u), nil
}

// Bind is UDT::bind.
func Bind(u int, a *Addr) error {
	var e C.cudt_err
	var ca C.cudt_addr
	a.toC(&ca)
	if C.cudt_bind(C.int(u), &ca, &e) < 0 {
		return toError(&e)
	}
	return nil
}

// Bind2 is UDT::bind2: UDT takes the bound UDP socket udpfd and closes it
// when it is done with it.
func Bind2(u, udpfd int) error {
	var e C.cudt_err
	if C.cudt_bind2(C.int(u), C.int(udpfd), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// Listen is UDT::listen.
func Listen(u, backlog int) error {
	var e C.cudt_err
	if C.cudt_listen(C.int(u), C.int(backlog), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// Accept is UDT::accept: the new socket's handle and the peer's address.
func Accept(u int) (int, Addr, error) {
	var e C.cudt_err
	var ca C.cudt_addr
	r := C.cudt_accept(C.int(u), &ca, &e)
	if r < 0 {
		return -1, Addr{}, toError(&e)
	}
	return int(r), fromC(&ca), nil
}

// Connect is UDT::connect.
func Connect(u int, a *Addr) error {
	var e C.cudt_err
	var ca C.cudt_addr
	a.toC(&ca)
	if C.cudt_connect(C.int(u), &ca, &e) < 0 {
		return toError(&e)
	}
	return nil
}

// Close is UDT::close.
func Close(u int) error {
	var e C.cudt_err
	if C.cudt_close(C.int(u), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// PeerName is UDT::getpeername.
func PeerName(u int) (Addr, error) {
	var e C.cudt_err
	var ca C.cudt_addr
	if C.cudt_getpeername(C.int(u), &ca, &e) < 0 {
		return Addr{}, toError(&e)
	}
	return fromC(&ca), nil
}

// SockName is UDT::getsockname.
func SockName(u int) (Addr, error) {
	var e C.cudt_err
	var ca C.cudt_addr
	if C.cudt_getsockname(C.int(u), &ca, &e) < 0 {
		return Addr{}, toError(&e)
	}
	return fromC(&ca), nil
}

// optSize is the size of each option's C type: UDT trusts the length it
// is given, so a shorter buffer would let it read or write past it.
func optSize(opt int) int {
	switch opt {
	case 1, 2, 12, 15: // SNDSYN, RCVSYN, RENDEZVOUS, REUSEADDR: C++ bool
		return 1
	case 7, 16: // LINGER (struct linger), MAXBW (int64_t)
		return 8
	case 3: // CC: objects, through SetCC and GetCC only
		return -1
	}
	if opt < 0 || opt > 20 {
		return -1
	}
	return 4
}

var errOptSize = &Error{Code: 5003, Msg: "option value has the wrong size for its C type, or the option does not exist"}

// GetSockOpt reads option opt into val and returns how many bytes UDT
// wrote. val must hold at least the option's C type.
func GetSockOpt(u, opt int, val []byte) (int, error) {
	if size := optSize(opt); size < 0 || len(val) < size {
		return 0, errOptSize
	}
	var e C.cudt_err
	n := clampLen(len(val))
	if C.cudt_getsockopt(C.int(u), C.int(opt), unsafe.Pointer(bufPtr(val)), &n, &e) < 0 {
		return 0, toError(&e)
	}
	return int(n), nil
}

// SetSockOpt sets option opt from val, which must be exactly the option's
// C type: UDT does not check the length it is given.
func SetSockOpt(u, opt int, val []byte) error {
	if size := optSize(opt); size < 0 || len(val) != size {
		return errOptSize
	}
	var e C.cudt_err
	if C.cudt_setsockopt(C.int(u), C.int(opt), unsafe.Pointer(bufPtr(val)), clampLen(len(val)), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// SetCC installs a congestion control class (UDT_CC); param is the rate in
// Mbit/s for CCFixedRate.
func SetCC(u, kind int, param float64) error {
	var e C.cudt_err
	if C.cudt_setsockopt_cc(C.int(u), C.int(kind), C.double(param), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// GetCC reports which congestion control class the connection runs.
func GetCC(u int) (kind int, param float64, err error) {
	var e C.cudt_err
	var k C.int
	var p C.double
	if C.cudt_getsockopt_cc(C.int(u), &k, &p, &e) < 0 {
		return 0, 0, toError(&e)
	}
	return int(k), float64(p), nil
}

// Send is UDT::send; UDT ignores flags.
func Send(u int, b []byte, flags int) (int, error) {
	var e C.cudt_err
	n := C.cudt_send(C.int(u), bufPtr(b), clampLen(len(b)), C.int(flags), &e)
	yieldSometimes()
	if n < 0 {
		return 0, toError(&e)
	}
	return int(n), nil
}

// Recv is UDT::recv; UDT ignores flags.
func Recv(u int, b []byte, flags int) (int, error) {
	var e C.cudt_err
	n := C.cudt_recv(C.int(u), bufPtr(b), clampLen(len(b)), C.int(flags), &e)
	yieldSometimes()
	if n < 0 {
		return 0, toError(&e)
	}
	return int(n), nil
}

// SendMsg is UDT::sendmsg; ttl is in milliseconds, -1 for never.
func SendMsg(u int, b []byte, ttl int, inOrder bool) (int, error) {
	var e C.cudt_err
	in := C.int(0)
	if inOrder {
		in = 1
	}
	n := C.cudt_sendmsg(C.int(u), bufPtr(b), clampLen(len(b)), C.int(ttl), in, &e)
	yieldSometimes()
	if n < 0 {
		return 0, toError(&e)
	}
	return int(n), nil
}

// RecvMsg is UDT::recvmsg.
func RecvMsg(u int, b []byte) (int, error) {
	var e C.cudt_err
	n := C.cudt_recvmsg(C.int(u), bufPtr(b), clampLen(len(b)), &e)
	yieldSometimes()
	if n < 0 {
		return 0, toError(&e)
	}
	return int(n), nil
}

// SendFile sends size bytes of the file at path from *offset (sendfile2);
// UDT opens the file itself. *offset comes back as UDT leaves it.
func SendFile(u int, path string, offset *int64, size int64, block int) (int64, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var e C.cudt_err
	off := C.int64_t(*offset)
	n := C.cudt_sendfile2(C.int(u), cpath, &off, C.int64_t(size), C.int(block), &e)
	*offset = int64(off)
	if n < 0 {
		return 0, toError(&e)
	}
	return int64(n), nil
}

// RecvFile receives size bytes into the file at path from *offset
// (recvfile2); UDT opens, and truncates, the file itself.
func RecvFile(u int, path string, offset *int64, size int64, block int) (int64, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var e C.cudt_err
	off := C.int64_t(*offset)
	n := C.cudt_recvfile2(C.int(u), cpath, &off, C.int64_t(size), C.int(block), &e)
	*offset = int64(off)
	if n < 0 {
		return 0, toError(&e)
	}
	return int64(n), nil
}

// EpollCreate is UDT::epoll_create; it returns the epoll's id.
func EpollCreate() (int, error) {
	var e C.cudt_err
	eid := C.cudt_epoll_create(&e)
	if eid < 0 {
		return -1, toError(&e)
	}
	return int(eid), nil
}

// EpollAddUsock is UDT::epoll_add_usock.
func EpollAddUsock(eid, u, events int) error {
	var e C.cudt_err
	if C.cudt_epoll_add_usock(C.int(eid), C.int(u), C.int(events), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// EpollAddSsock is UDT::epoll_add_ssock.
func EpollAddSsock(eid, s, events int) error {
	var e C.cudt_err
	if C.cudt_epoll_add_ssock(C.int(eid), C.int(s), C.int(events), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// EpollRemoveUsock is UDT::epoll_remove_usock.
func EpollRemoveUsock(eid, u int) error {
	var e C.cudt_err
	if C.cudt_epoll_remove_usock(C.int(eid), C.int(u), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// EpollRemoveSsock is UDT::epoll_remove_ssock.
func EpollRemoveSsock(eid, s int) error {
	var e C.cudt_err
	if C.cudt_epoll_remove_ssock(C.int(eid), C.int(s), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// intsArg passes a slice's backing array as an int array for epoll_wait2
// to fill, with its capacity in *n; an empty slice passes NULL for both,
// which asks UDT for no events of that kind and leaves *n at zero.
func intsArg(s []int32, n *C.int) (*C.int, *C.int) {
	if len(s) == 0 {
		return nil, nil
	}
	*n = C.int(len(s))
	return (*C.int)(unsafe.Pointer(&s[0])), n
}

// EpollWait waits up to ms milliseconds (-1: forever) and fills the four
// slices up to their lengths with ready UDT sockets (rd, wr) and system
// sockets (lrd, lwr); it returns how many of each it filled. An empty slice
// asks for nothing of that kind. A timeout is an *Error with code 6003.
func EpollWait(eid int, rd, wr, lrd, lwr []int32, ms int64) (nr, nw, nlr, nlw int, err error) {
	var e C.cudt_err
	var rn, wn, lrn, lwn C.int
	prd, prn := intsArg(rd, &rn)
	pwr, pwn := intsArg(wr, &wn)
	plrd, plrn := intsArg(lrd, &lrn)
	plwr, plwn := intsArg(lwr, &lwn)
	if C.cudt_epoll_wait2(C.int(eid), prd, prn, pwr, pwn, C.int64_t(ms), plrd, plrn, plwr, plwn, &e) < 0 {
		return 0, 0, 0, 0, toError(&e)
	}
	return int(rn), int(wn), int(lrn), int(lwn), nil
}

// EpollRelease is UDT::epoll_release.
func EpollRelease(eid int) error {
	var e C.cudt_err
	if C.cudt_epoll_release(C.int(eid), &e) < 0 {
		return toError(&e)
	}
	return nil
}

// Perf is UDT::TRACEINFO, every field, with its times as time.Duration.
// Its fields are the udt package's Perf's, in name, type and order, so that
// package converts it with Perf(p) (it documents each field); a change here
// is a change there. SndDurationTotal and SndDuration are UDT's figures as
// they come, though they measure no duration (see udt.Perf).
type Perf struct {
	TimeStamp        time.Duration
	PktSentTotal     int64
	PktRecvTotal     int64
	PktSndLossTotal  int
	PktRcvLossTotal  int
	PktRetransTotal  int
	PktSentACKTotal  int
	PktRecvACKTotal  int
	PktSentNAKTotal  int
	PktRecvNAKTotal  int
	SndDurationTotal time.Duration

	PktSent      int64
	PktRecv      int64
	PktSndLoss   int
	PktRcvLoss   int
	PktRetrans   int
	PktSentACK   int
	PktRecvACK   int
	PktSentNAK   int
	PktRecvNAK   int
	MbpsSendRate float64
	MbpsRecvRate float64
	SndDuration  time.Duration

	PktSndPeriod        time.Duration
	PktFlowWindow       int
	PktCongestionWindow int
	PktFlightSize       int
	RTT                 time.Duration
	MbpsBandwidth       float64
	ByteAvailSndBuf     int
	ByteAvailRcvBuf     int
}

// Perfmon is UDT::perfmon; clear restarts the interval counters.
func Perfmon(u int, clear bool) (Perf, error) {
	var e C.cudt_err
	var p C.cudt_perf
	c := C.int(0)
	if clear {
		c = 1
	}
	if C.cudt_perfmon(C.int(u), &p, c, &e) < 0 {
		return Perf{}, toError(&e)
	}
	return perfFromC(&p), nil
}

func perfFromC(p *C.cudt_perf) Perf {
	return Perf{
		TimeStamp:        time.Duration(p.msTimeStamp) * time.Millisecond,
		PktSentTotal:     int64(p.pktSentTotal),
		PktRecvTotal:     int64(p.pktRecvTotal),
		PktSndLossTotal:  int(p.pktSndLossTotal),
		PktRcvLossTotal:  int(p.pktRcvLossTotal),
		PktRetransTotal:  int(p.pktRetransTotal),
		PktSentACKTotal:  int(p.pktSentACKTotal),
		PktRecvACKTotal:  int(p.pktRecvACKTotal),
		PktSentNAKTotal:  int(p.pktSentNAKTotal),
		PktRecvNAKTotal:  int(p.pktRecvNAKTotal),
		SndDurationTotal: time.Duration(p.usSndDurationTotal) * time.Microsecond,

		PktSent:      int64(p.pktSent),
		PktRecv:      int64(p.pktRecv),
		PktSndLoss:   int(p.pktSndLoss),
		PktRcvLoss:   int(p.pktRcvLoss),
		PktRetrans:   int(p.pktRetrans),
		PktSentACK:   int(p.pktSentACK),
		PktRecvACK:   int(p.pktRecvACK),
		PktSentNAK:   int(p.pktSentNAK),
		PktRecvNAK:   int(p.pktRecvNAK),
		MbpsSendRate: float64(p.mbpsSendRate),
		MbpsRecvRate: float64(p.mbpsRecvRate),
		SndDuration:  time.Duration(p.usSndDuration) * time.Microsecond,

		PktSndPeriod:        time.Duration(float64(p.usPktSndPeriod) * float64(time.Microsecond)),
		PktFlowWindow:       int(p.pktFlowWindow),
		PktCongestionWindow: int(p.pktCongestionWindow),
		PktFlightSize:       int(p.pktFlightSize),
		RTT:                 time.Duration(float64(p.msRTT) * float64(time.Millisecond)),
		MbpsBandwidth:       float64(p.mbpsBandwidth),
		ByteAvailSndBuf:     int(p.byteAvailSndBuf),
		ByteAvailRcvBuf:     int(p.byteAvailRcvBuf),
	}
}

// SockState is UDT::getsockstate: a UDTSTATUS value, NONEXIST (9) for a
// socket the library no longer knows.
func SockState(u int) int {
	return int(C.cudt_getsockstate(C.int(u)))
}

// TrimHeap returns the C heap's free memory to the system (glibc's
// malloc_trim), with the pages the shim keeps resident for the next
// connections (WarmCounts), and reports whether there was any. UDT frees a
// socket's buffers when its garbage collector deletes the socket, but
// glibc keeps freed memory in the arena of the thread that allocated it,
// so without a trim the process's RSS stays at its peak after a burst of
// connections.
func TrimHeap() bool {
	return C.cudt_malloc_trim(1) != 0
}

// TrimHeapKeepWarm is TrimHeap without the shim's kept pages: for trims
// while connections still come and go.
func TrimHeapKeepWarm() bool {
	return C.cudt_malloc_trim(0) != 0
}

// LastErrorCode and LastErrorDesc read the calling OS thread's last error.
// They are mirrored for completeness only: the goroutine calling them may
// not be on the thread that failed, so every other function here returns
// its own error instead.
func LastErrorCode() int {
	return int(C.cudt_getlasterror_code())
}

// ErrorText is UDT's text for an error code, as its exception for that
// code gives it: what the shim says when it answers a non-blocking call
// that would fail for want of data or buffer space without making it.
func ErrorText(code int) string {
	var buf [C.CUDT_ERRMSG]C.char
	C.cudt_error_text(C.int(code), &buf[0], C.int(len(buf)))
	return C.GoString(&buf[0])
}

// LastErrorDesc is UDT::getlasterror_desc (see LastErrorCode).
func LastErrorDesc() string {
	var buf [C.CUDT_ERRMSG]C.char
	C.cudt_getlasterror_desc(&buf[0], C.int(len(buf)))
	return C.GoString(&buf[0])
}
