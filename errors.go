package udt

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/udtgo/udt/cudt"
)

// ErrorCode is a UDT error code (CUDTException's major*1000+minor). Every
// code is also an error value, so errors.Is(err, udt.ErrNoServer) asks for
// one code.
type ErrorCode int

// The error codes of UDT 4.11.
const (
	Success        ErrorCode = 0
	ErrConnSetup   ErrorCode = 1000 // connection setup failure
	ErrNoServer    ErrorCode = 1001 // no server there, or the connect timed out
	ErrConnRej     ErrorCode = 1002 // connection rejected by the server
	ErrSockFail    ErrorCode = 1003 // UDP socket could not be created or configured
	ErrSecFail     ErrorCode = 1004 // the handshake failed its check
	ErrConnFail    ErrorCode = 2000 // connection failure
	ErrConnLost    ErrorCode = 2001 // connection was broken
	ErrNoConn      ErrorCode = 2002 // socket is not connected
	ErrResource    ErrorCode = 3000 // system resource failure
	ErrThread      ErrorCode = 3001 // thread could not be created
	ErrNoBuf       ErrorCode = 3002 // no memory for buffers
	ErrFile        ErrorCode = 4000 // file system failure
	ErrInvRdOff    ErrorCode = 4001 // cannot seek the read position
	ErrRdPerm      ErrorCode = 4002 // file cannot be read
	ErrInvWrOff    ErrorCode = 4003 // cannot seek the write position
	ErrWrPerm      ErrorCode = 4004 // file cannot be written
	ErrInvOp       ErrorCode = 5000 // operation not supported
	ErrBoundSock   ErrorCode = 5001 // not allowed on a bound socket
	ErrConnSock    ErrorCode = 5002 // not allowed on a connected socket
	ErrInvParam    ErrorCode = 5003 // invalid parameter
	ErrInvSock     ErrorCode = 5004 // no such socket (closed, or deleted by UDT)
	ErrUnboundSock ErrorCode = 5005 // socket is not bound
	ErrNoListen    ErrorCode = 5006 // socket is not listening
	ErrRdvNoServ   ErrorCode = 5007 // rendezvous sockets cannot listen
	ErrRdvUnbound  ErrorCode = 5008 // rendezvous connect needs a bound socket
	ErrStreamIll   ErrorCode = 5009 // message call on a stream socket
	ErrDgramIll    ErrorCode = 5010 // stream call on a datagram socket
	ErrDupListen   ErrorCode = 5011 // another socket listens on the port
	ErrLargeMsg    ErrorCode = 5012 // message larger than the send buffer
	ErrInvPollID   ErrorCode = 5013 // no such epoll
	ErrAsyncFail   ErrorCode = 6000 // non-blocking call failure
	ErrAsyncSnd    ErrorCode = 6001 // no buffer space to send now
	ErrAsyncRcv    ErrorCode = 6002 // no data to read now
	ErrTimeout     ErrorCode = 6003 // the call timed out
	ErrPeerErr     ErrorCode = 7000 // error reported by the peer
	ErrUnknown     ErrorCode = -1   // UDT's catch-all, and C++ exceptions caught by the shim
)

var codeNames = map[ErrorCode]string{
	Success: "SUCCESS", ErrConnSetup: "ECONNSETUP", ErrNoServer: "ENOSERVER",
	ErrConnRej: "ECONNREJ", ErrSockFail: "ESOCKFAIL", ErrSecFail: "ESECFAIL",
	ErrConnFail: "ECONNFAIL", ErrConnLost: "ECONNLOST", ErrNoConn: "ENOCONN",
	ErrResource: "ERESOURCE", ErrThread: "ETHREAD", ErrNoBuf: "ENOBUF",
	ErrFile: "EFILE", ErrInvRdOff: "EINVRDOFF", ErrRdPerm: "ERDPERM",
	ErrInvWrOff: "EINVWROFF", ErrWrPerm: "EWRPERM", ErrInvOp: "EINVOP",
	ErrBoundSock: "EBOUNDSOCK", ErrConnSock: "ECONNSOCK", ErrInvParam: "EINVPARAM",
	ErrInvSock: "EINVSOCK", ErrUnboundSock: "EUNBOUNDSOCK", ErrNoListen: "ENOLISTEN",
	ErrRdvNoServ: "ERDVNOSERV", ErrRdvUnbound: "ERDVUNBOUND", ErrStreamIll: "ESTREAMILL",
	ErrDgramIll: "EDGRAMILL", ErrDupListen: "EDUPLISTEN", ErrLargeMsg: "ELARGEMSG",
	ErrInvPollID: "EINVPOLLID", ErrAsyncFail: "EASYNCFAIL", ErrAsyncSnd: "EASYNCSND",
	ErrAsyncRcv: "EASYNCRCV", ErrTimeout: "ETIMEOUT", ErrPeerErr: "EPEERERR",
	ErrUnknown: "EUNKNOWN",
}

// String is the code's name in UDT's CUDTException, e.g. "ENOSERVER".
func (c ErrorCode) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "E" + strconv.Itoa(int(c))
}

// Error is the code's name and number, e.g. "udt: ENOSERVER (1001)".
func (c ErrorCode) Error() string {
	return "udt: " + c.String() + " (" + strconv.Itoa(int(c)) + ")"
}

// Errno is the system error that means the same thing, or 0 where none
// does.
func (c ErrorCode) Errno() syscall.Errno {
	switch c {
	case ErrNoServer: // UDT's handshake timed out: nobody answered
		return syscall.ETIMEDOUT
	case ErrConnRej:
		return syscall.ECONNREFUSED
	case ErrConnLost:
		return syscall.ECONNRESET
	case ErrNoConn:
		return syscall.ENOTCONN
	case ErrNoBuf:
		return syscall.ENOBUFS
	case ErrRdPerm, ErrWrPerm:
		return syscall.EACCES
	case ErrInvOp:
		return syscall.EOPNOTSUPP
	case ErrConnSock:
		return syscall.EISCONN
	case ErrInvParam:
		return syscall.EINVAL
	case ErrInvSock:
		return syscall.EBADF
	case ErrDupListen:
		return syscall.EADDRINUSE
	case ErrLargeMsg:
		return syscall.EMSGSIZE
	case ErrAsyncSnd, ErrAsyncRcv:
		return syscall.EAGAIN
	case ErrTimeout:
		return syscall.ETIMEDOUT
	}
	return 0
}

// Error is a failed UDT call: which call, UDT's code, and UDT's own text.
//
// errors.Is matches the code (udt.ErrNoServer), the system errno of the same
// meaning (syscall.ETIMEDOUT for ErrNoServer, syscall.ECONNREFUSED for a
// listener's ErrConnRej, ...), net.ErrClosed for a socket that no longer
// exists, and os.ErrDeadlineExceeded for a timeout. A dial to a port where
// nothing listens is not refused at once as over TCP: UDT has no such
// answer, and the dial ends in ErrNoServer when its handshake times out.
type Error struct {
	Op   string    // the UDT call, e.g. "connect"; "deadline" for a deadline set on a Conn
	Code ErrorCode // UDT's error code
	Msg  string    // UDT's description, or the binding's for input it refused

	// err is the system's own error behind a refusal (a missing file, a
	// port another socket holds, ...), for errors.Is.
	err error
}

// Unwrap is the system error behind a refusal of the binding's, if any, so
// errors.Is(err, fs.ErrNotExist) works for a file SendFile cannot open.
func (e *Error) Unwrap() error { return e.err }

// Error is the call, UDT's text, and the code's name and number, e.g.
// "udt send: Connection was broken. (ECONNLOST 2001)".
func (e *Error) Error() string {
	return "udt " + e.Op + ": " + e.Msg + " (" + e.Code.String() + " " + strconv.Itoa(int(e.Code)) + ")"
}

// Is reports whether target names this error's code or its meaning.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case ErrorCode:
		return t == e.Code
	case syscall.Errno:
		return t != 0 && t == e.Code.Errno()
	}
	switch target {
	case net.ErrClosed:
		return e.Code == ErrInvSock
	case os.ErrDeadlineExceeded:
		return e.Code == ErrTimeout
	}
	return false
}

// Timeout reports whether the call timed out (net.Error): ETIMEOUT, and
// ENOSERVER, which is UDT's handshake timing out.
func (e *Error) Timeout() bool {
	return e.Code == ErrTimeout || e.Code == ErrNoServer || e.err == syscall.ETIMEDOUT
}

// Temporary reports whether the same call may succeed later unchanged: the
// non-blocking "not now" answers. It is here because net.Error still lists
// it.
//
// Deprecated: as net.Error's Temporary: the idea is not well defined. Use
// Timeout, or errors.Is with a code (ErrAsyncSnd, ErrAsyncRcv) or
// syscall.EAGAIN.
func (e *Error) Temporary() bool {
	return e.Code == ErrAsyncSnd || e.Code == ErrAsyncRcv || e.Code == ErrTimeout
}

var _ net.Error = (*Error)(nil)

// CodeOf returns the UDT error code carried by err, Success for nil, and
// ErrUnknown for an error that carries none.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return Success
	}
	if e, ok := err.(*Error); ok { // the common case, without errors.As's allocation
		return e.Code
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrUnknown
}

// wrap turns what cudt returned into an *Error for op.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	ce, ok := err.(*cudt.Error)
	if !ok {
		return &Error{Op: op, Code: ErrUnknown, Msg: err.Error()}
	}
	switch code := ErrorCode(ce.Code); code {
	case ErrAsyncSnd, ErrAsyncRcv, ErrTimeout:
		return notNow(op, code, ce.Msg)
	case Success:
		// UDT throws a bare CUDTException for some system call failures
		// (epoll_ctl in epoll_add_ssock): code 0, text "Success.".
		return &Error{Op: op, Code: ErrUnknown, Msg: "the library failed without an error code (it said " + strconv.Quote(ce.Msg) + ")"}
	}
	return &Error{Op: op, Code: ErrorCode(ce.Code), Msg: ce.Msg}
}

// The "not now" answers come back on every would-block of a non-blocking
// socket and every epoll timeout: the poller's common path. One shared
// *Error per call and code keeps that path free of allocation, so callers
// must treat errors as read-only, as they should anyway.
var (
	notNowMu   sync.RWMutex
	notNowErrs = map[notNowKey]*Error{}
)

type notNowKey struct {
	op   string
	code ErrorCode
}

func notNow(op string, code ErrorCode, msg string) error {
	k := notNowKey{op, code}
	notNowMu.RLock()
	e, ok := notNowErrs[k]
	notNowMu.RUnlock()
	if ok {
		return e
	}
	notNowMu.Lock()
	defer notNowMu.Unlock()
	if e, ok := notNowErrs[k]; ok {
		return e
	}
	e = &Error{Op: op, Code: code, Msg: msg}
	notNowErrs[k] = e
	return e
}

// invalid reports input the binding refuses before it reaches UDT, with the
// code UDT itself would use.
func invalid(op, msg string) error {
	return &Error{Op: op, Code: ErrInvParam, Msg: msg}
}
