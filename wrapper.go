package udt

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/syssock"
)

// This file mirrors the calls of namespace UDT one to one on Go types. It
// blocks or not exactly as UDT does; the net.Conn layer builds Go-native
// blocking on top of it.

// Family is the address family of a socket.
type Family int

// The address families UDT supports.
const (
	IPv4 Family = syscall.AF_INET
	IPv6 Family = syscall.AF_INET6
)

// String is "IPv4" or "IPv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// SocketType is UDT's socket type: a byte stream or messages.
type SocketType int

// The socket types of UDT: SOCK_STREAM and SOCK_DGRAM.
const (
	Stream   SocketType = syscall.SOCK_STREAM // a byte stream: Send, Recv
	Datagram SocketType = syscall.SOCK_DGRAM  // messages: SendMsg, RecvMsg
)

// String is "Stream" or "Datagram".
func (t SocketType) String() string {
	switch t {
	case Stream:
		return "Stream"
	case Datagram:
		return "Datagram"
	}
	return "SocketType(" + strconv.Itoa(int(t)) + ")"
}

// Status is a socket's state (UDTSTATUS).
type Status int

// The states of UDTSTATUS, in UDT's numbering. A connection the peer closed
// or UDT gave up on is StatusBroken; UDT's garbage collector then closes
// it, and StatusNonexist means UDT has forgotten the handle.
const (
	StatusInit       Status = 1
	StatusOpened     Status = 2
	StatusListening  Status = 3
	StatusConnecting Status = 4
	StatusConnected  Status = 5
	StatusBroken     Status = 6
	StatusClosing    Status = 7
	StatusClosed     Status = 8
	StatusNonexist   Status = 9
)

var statusNames = [...]string{"", "INIT", "OPENED", "LISTENING", "CONNECTING", "CONNECTED", "BROKEN", "CLOSING", "CLOSED", "NONEXIST"}

// String is UDT's name for the state, e.g. "CONNECTED".
func (s Status) String() string {
	if s >= StatusInit && s <= StatusNonexist {
		return statusNames[s]
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Startup initialises the library (UDT::startup). Calls are counted, and
// each wants its Cleanup; the library also starts itself on the first
// socket.
func Startup() error {
	lifetime.mu.Lock()
	defer lifetime.mu.Unlock()
	if err := wrap("startup", cudt.Startup()); err != nil {
		return err
	}
	lifetime.user++
	return nil
}

// Cleanup undoes one Startup (UDT::cleanup); the last one closes every
// socket the library still has. The net layer (Dial, Listen) holds a
// Startup of its own from its first use to the end of the process, so a
// program's Startup and Cleanup never close its connections; a Cleanup
// beyond the program's own Startups is then refused with ErrInvOp.
func Cleanup() error {
	lifetime.mu.Lock()
	defer lifetime.mu.Unlock()
	if lifetime.user == 0 && lifetime.net {
		return &Error{Op: "cleanup", Code: ErrInvOp, Msg: "Cleanup without a matching Startup: the library's last reference is the net layer's, and dropping it would close its connections"}
	}
	if lifetime.user > 0 {
		lifetime.user--
	}
	return wrap("cleanup", cudt.Cleanup())
}

// lifetime counts the program's Startups and the net layer's own one.
var lifetime struct {
	mu   sync.Mutex
	user int  // Startups the program has not yet matched with Cleanup
	net  bool // the net layer holds a Startup
}

// holdLibrary makes the net layer's Startup, once. Without it, a program
// that called Startup before its first Dial would, with its Cleanup, drop
// UDT's count to zero and close every connection: UDT starts itself on a
// first socket only when nothing started it, and counts that start once.
func holdLibrary() error {
	lifetime.mu.Lock()
	defer lifetime.mu.Unlock()
	if lifetime.net {
		return nil
	}
	if err := wrap("startup", cudt.Startup()); err != nil {
		return err
	}
	lifetime.net = true
	return nil
}

// SocketID is the library's handle for a socket (UDTSOCKET), as epoll
// reports it.
type SocketID int32

// Socket is one UDT socket (UDTSOCKET) with the address family it was made
// with. It is a small value: copies name the same socket, and Close closes
// it for all of them.
type Socket struct {
	id     SocketID
	family Family
}

// ID is the library's handle for s.
func (s Socket) ID() SocketID { return s.id }

// Family is the address family s was created with.
func (s Socket) Family() Family { return s.family }

// String names the socket, e.g. "udt.Socket(5, IPv4)".
func (s Socket) String() string {
	return "udt.Socket(" + strconv.Itoa(int(s.id)) + ", " + s.family.String() + ")"
}

// NewSocket creates a socket (UDT::socket).
func NewSocket(f Family, t SocketType) (Socket, error) {
	if f != IPv4 && f != IPv6 {
		return Socket{}, invalid("socket", "address family must be IPv4 or IPv6, not "+f.String())
	}
	if t != Stream && t != Datagram {
		return Socket{}, invalid("socket", "socket type must be Stream or Datagram, not "+t.String())
	}
	u, err := cudt.Socket(int(f), int(t), 0)
	if err != nil {
		return Socket{}, wrap("socket", err)
	}
	return Socket{id: SocketID(u), family: f}, nil
}

// toCAddr converts ap for a socket of family f. An IPv4 address given to an
// IPv6 socket becomes its IPv4-mapped form.
func toCAddr(op string, f Family, ap netip.AddrPort) (cudt.Addr, error) {
	if !ap.IsValid() {
		return cudt.Addr{}, invalid(op, "address is not set")
	}
	ip := ap.Addr()
	var a cudt.Addr
	a.Port = ap.Port()
	switch f {
	case IPv4:
		ip = ip.Unmap()
		if !ip.Is4() {
			return cudt.Addr{}, invalid(op, "an IPv4 socket needs an IPv4 address, not "+ip.String())
		}
		a.Family = cudt.AF_INET
		b := ip.As4()
		copy(a.IP[:], b[:])
	case IPv6:
		a.Family = cudt.AF_INET6
		a.IP = ip.As16()
		if z := ip.Zone(); z != "" {
			scope, err := syssock.ZoneIndex(z)
			if err != nil {
				return cudt.Addr{}, invalid(op, "unknown IPv6 zone "+strconv.Quote(z))
			}
			a.Scope = scope
		}
	default:
		return cudt.Addr{}, invalid(op, "socket has no IPv4 or IPv6 family: "+f.String())
	}
	return a, nil
}

func fromCAddr(a cudt.Addr) netip.AddrPort {
	switch a.Family {
	case cudt.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a.IP[:4])), a.Port)
	case cudt.AF_INET6:
		ip := netip.AddrFrom16(a.IP)
		if a.Scope != 0 {
			zone := strconv.FormatUint(uint64(a.Scope), 10)
			if ifi, err := net.InterfaceByIndex(int(a.Scope)); err == nil {
				zone = ifi.Name
			}
			ip = ip.WithZone(zone)
		}
		return netip.AddrPortFrom(ip, a.Port)
	}
	return netip.AddrPort{}
}

// Bind binds s to addr (UDT::bind), with one difference that matters: the
// UDP socket underneath is opened here, close-on-exec, bound, and handed to
// UDT with bind2, so no child process ever inherits it. When addr's port is
// already taken, Bind falls back to UDT::bind, which joins the UDP port this
// process's UDT already runs there (UDT_REUSEADDR), or fails as UDT does.
//
// UDT finds the port to join by number alone, whatever the address or
// network namespace it is bound in. So with port 0 Bind passes over the
// numbers this process's UDT runs anywhere, and a port number that UDT
// runs on another address is refused with an error that matches
// syscall.EADDRINUSE, before s is spent.
func (s Socket) Bind(addr netip.AddrPort) error {
	a, err := toCAddr("bind", s.family, addr)
	if err != nil {
		return err
	}
	// Only an INIT socket takes a descriptor; for any other, UDT's own
	// bind gives UDT's own answer and no descriptor is at stake.
	if s.SockState() != StatusInit {
		return wrap("bind", cudt.Bind(int(s.id), &a))
	}
	fd, err := openUDP(s.family, addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		// The port may be one this process's UDT runs already, which
		// UDT's own bind joins; if not, another socket holds it, and
		// UDT's ESOCKFAIL text says nothing of that.
		if uerr := wrap("bind", cudt.Bind(int(s.id), &a)); uerr != nil {
			return &Error{Op: "bind", Code: CodeOf(uerr), err: syscall.EADDRINUSE,
				Msg: "UDP " + addr.String() + ": address already in use"}
		}
		return nil
	}
	if err != nil {
		return &Error{Op: "bind", Code: ErrSockFail, Msg: "UDP socket for " + addr.String() + ": " + err.Error()}
	}
	// Held until bind2 has run: two binds must not both find a number
	// free that the first of them then runs.
	udtPorts.bind.Lock()
	defer udtPorts.bind.Unlock()
	if addr.Port() == 0 {
		if fd, err = s.portUDTLacks(fd, addr); err != nil {
			return err
		}
	} else if at, ok := udtRunsPort(s.family, addr.Port(), &s); ok {
		syssock.Close(fd)
		return &Error{Op: "bind", Code: ErrSockFail, err: syscall.EADDRINUSE,
			Msg: "UDT would join its UDP port " + at.String() + " instead of binding " + addr.String() + " (it shares ports by number, whatever the address)"}
	}
	return s.bind2("bind", fd)
}

// portUDTLacks returns fd, bound by the kernel to a free port on addr's
// address, when this process's UDT runs no port of that number anywhere;
// otherwise a descriptor bound to another port, which fd, held meanwhile,
// keeps the kernel from choosing again.
func (s Socket) portUDTLacks(fd int, addr netip.AddrPort) (int, error) {
	var held []int
	defer func() {
		for _, h := range held {
			syssock.Close(h)
		}
	}()
	for {
		own, err := syssock.LocalAddr(fd)
		if err != nil {
			syssock.Close(fd)
			return -1, &Error{Op: "bind", Code: ErrSockFail, Msg: "UDP socket for " + addr.String() + ": " + err.Error()}
		}
		if _, taken := udtRunsPort(s.family, own.Port(), nil); !taken {
			return fd, nil
		}
		held = append(held, fd)
		if len(held) == 64 {
			return -1, &Error{Op: "bind", Code: ErrSockFail, err: syscall.EADDRINUSE,
				Msg: "UDP " + addr.String() + ": the kernel chose 64 ports in a row whose numbers this process's UDT already runs elsewhere"}
		}
		if fd, err = openUDP(s.family, addr); err != nil {
			return -1, &Error{Op: "bind", Code: ErrSockFail, Msg: "UDP socket for " + addr.String() + ": " + err.Error()}
		}
	}
}

// join binds s with UDT's own bind alone, to join the UDP port this
// process's UDT already runs at addr's port number.
func (s Socket) join(addr netip.AddrPort) error {
	a, err := toCAddr("bind", s.family, addr)
	if err != nil {
		return err
	}
	return wrap("bind", cudt.Bind(int(s.id), &a))
}

// openUDP opens the UDP socket for a Bind: close-on-exec, bound to addr,
// and behind a kernel filter that keeps from UDT the handshakes it cannot
// take.
func openUDP(f Family, addr netip.AddrPort) (int, error) {
	return syssock.OpenUDP(int(f), addr, handshakeLimits)
}

// MaxFlowWindow is the largest flow window (UDT_FC, packets) a peer may ask
// for in its handshake; larger requests are dropped before UDT sees them.
const MaxFlowWindow = 1 << 24

// minMSS is the smallest UDT_MSS UDT itself accepts: its headers.
const minMSS = 76

// handshakeLimits is what openUDP's kernel filter lets a peer's handshake
// ask for. UDT takes both values unchecked, and outside them:
//   - a flow window above MaxFlowWindow: UDT sizes the new connection's
//     loss lists by it, and one handshake asking for 800 million packets
//     left the port unanswering for more than half a second;
//   - an MSS outside minMSS..MaxMSS: below 44 UDT computes a negative buffer
//     size (its new[] throws, which AddressSanitizer reports as fatal), from
//     44 to 75 it makes a connection whose packets carry no data.
var handshakeLimits = syssock.Limits{MaxFlowWindow: MaxFlowWindow, MinMSS: minMSS, MaxMSS: MaxMSS}

// Bind2 binds s to an existing UDP socket (UDT::bind2). The descriptor must
// be a bound UDP socket of s's family: UDT itself accepts an unbound one (and
// then runs on port 0) or even a TCP one, so those are refused here. UDT is
// handed a close-on-exec duplicate of fd, which it owns and closes when its
// last user goes; fd stays the caller's, to close whether Bind2 failed or
// not (UDT closes what it was given on some failures and not on others).
func (s Socket) Bind2(fd int) error {
	if err := syssock.CheckUDP(int(s.family), fd); err != nil {
		return invalid("bind2", err.Error())
	}
	udtPorts.bind.Lock()
	defer udtPorts.bind.Unlock()
	if own, err := syssock.LocalAddr(fd); err == nil {
		if at, ok := udtRunsPort(s.family, own.Port(), &s); ok {
			return &Error{Op: "bind2", Code: ErrSockFail, err: syscall.EADDRINUSE,
				Msg: "UDT would join its UDP port " + at.String() + " instead of running on descriptor " + strconv.Itoa(fd) + " (" + own.String() + "; it shares ports by number, whatever the address)"}
		}
	}
	dup, err := syssock.Dup(fd)
	if err != nil {
		return &Error{Op: "bind2", Code: ErrSockFail, Msg: "duplicating descriptor " + strconv.Itoa(fd) + ": " + err.Error()}
	}
	return s.bind2("bind2", dup)
}

// bind2 hands fd to UDT::bind2. On failure it closes fd unless UDT did:
// UDT gives up before touching fd with EINVSOCK, EINVOP, EINVPARAM and
// ENOBUF, and closes fd itself when it fails after building its channel.
func (s Socket) bind2(op string, fd int) error {
	err := cudt.Bind2(int(s.id), fd)
	if err == nil {
		return s.keptFD(op, fd)
	}
	e := wrap(op, err).(*Error)
	switch e.Code {
	case ErrInvSock, ErrInvOp, ErrInvParam, ErrNoBuf:
		syssock.Close(fd)
	}
	return e
}

// keptFD checks that UDT runs s on fd after a successful bind2, and
// remembers fd's port (udtRunsPort). UDT matches a reusable port by number
// alone: when this process's UDT runs the same number elsewhere (another
// address, another network namespace), bind2 joins that port and leaves fd
// unused. Bind steers clear of that beforehand where it can.
func (s Socket) keptFD(op string, fd int) error {
	own, err := syssock.LocalAddr(fd)
	if err != nil {
		return nil
	}
	got, err := s.SockName()
	if err != nil {
		return nil
	}
	if got.Port() == own.Port() && syssock.SameAddr(own.Addr(), got.Addr()) {
		rememberUDTPort(s, fd, got)
		return nil
	}
	syssock.Close(fd)
	return &Error{Op: op, Code: ErrSockFail, err: syscall.EADDRINUSE,
		Msg: "UDT joined its UDP port " + got.String() + " instead of running on " + own.String() + " (it shares ports by number); close this socket"}
}

// Listen makes s accept connections (UDT::listen).
func (s Socket) Listen(backlog int) error {
	if backlog <= 0 || backlog > 1<<31-1 {
		return invalid("listen", "backlog must be between 1 and 2^31-1, not "+strconv.Itoa(backlog))
	}
	return s.withState(wrap("listen", cudt.Listen(int(s.id), backlog)))
}

// withState adds the socket's state to UDT's answers that blame the state
// without naming it: UDT answers listen on a connected socket with "UNBOUND
// socket" and send on a listener with "Connection does not exist.".
func (s Socket) withState(err error) error {
	e, ok := err.(*Error)
	if !ok {
		return err
	}
	switch e.Code {
	case ErrNoConn, ErrConnSock, ErrUnboundSock, ErrNoListen:
	default:
		return err
	}
	st := s.SockState()
	e.Msg += " (the socket is " + st.String()
	switch st {
	case StatusListening:
		e.Msg += ": a listener only accepts; send and receive on the sockets Accept returns"
	case StatusConnected, StatusConnecting:
		e.Msg += ": a connection cannot listen, accept or connect again"
	}
	e.Msg += ")"
	return e
}

// Accept takes a pending connection (UDT::accept) and returns it with the
// peer's address.
func (s Socket) Accept() (Socket, netip.AddrPort, error) {
	u, a, err := cudt.Accept(int(s.id))
	if err != nil {
		return Socket{}, netip.AddrPort{}, s.withState(wrap("accept", err))
	}
	return Socket{id: SocketID(u), family: s.family}, fromCAddr(a), nil
}

// Connect connects s to addr (UDT::connect), or starts to when s does not
// block on receive (UDT_RCVSYN false). An unbound s is first bound to the
// unspecified address like UDT's implicit bind, but through Bind, so the UDP
// socket is close-on-exec.
func (s Socket) Connect(addr netip.AddrPort) error {
	a, err := toCAddr("connect", s.family, addr)
	if err != nil {
		return err
	}
	if addr.Port() == 0 {
		// UDT would send its handshake to port 0 and time out after 3 s.
		return invalid("connect", "cannot connect to port 0 of "+addr.Addr().String())
	}
	// A rendezvous socket must be bound by its owner: UDT answers
	// ERDVUNBOUND, which an implicit bind would hide.
	if rdv, _ := s.Rendezvous(); !rdv && s.SockState() == StatusInit {
		unspec := netip.IPv4Unspecified()
		if s.family == IPv6 {
			unspec = netip.IPv6Unspecified()
		}
		if err := s.Bind(netip.AddrPortFrom(unspec, 0)); err != nil {
			return err
		}
	}
	return s.withState(wrap("connect", cudt.Connect(int(s.id), &a)))
}

// Close closes s (UDT::close). Remove s from every Epoll first: UDT keeps a
// closed socket in an epoll's ready set forever.
func (s Socket) Close() error { return wrap("close", cudt.Close(int(s.id))) }

// PeerName is the connected peer's address (UDT::getpeername).
func (s Socket) PeerName() (netip.AddrPort, error) {
	a, err := cudt.PeerName(int(s.id))
	if err != nil {
		return netip.AddrPort{}, s.withState(wrap("getpeername", err))
	}
	return fromCAddr(a), nil
}

// SockName is s's own address (UDT::getsockname).
func (s Socket) SockName() (netip.AddrPort, error) {
	a, err := cudt.SockName(int(s.id))
	if err != nil {
		return netip.AddrPort{}, wrap("getsockname", err)
	}
	return fromCAddr(a), nil
}

// Send sends from b on a stream socket (UDT::send; UDT ignores its flags
// argument, so there is none). A blocking send may send only part of b.
func (s Socket) Send(b []byte) (int, error) {
	n, err := cudt.Send(int(s.id), b, 0)
	if err != nil {
		return n, s.withState(wrap("send", err))
	}
	return n, nil
}

// Recv receives into b on a stream socket (UDT::recv).
func (s Socket) Recv(b []byte) (int, error) {
	n, err := cudt.Recv(int(s.id), b, 0)
	if err != nil {
		return n, s.withState(wrap("recv", err))
	}
	return n, nil
}

// SendMsg sends b as one message on a datagram socket (UDT::sendmsg).
// ttl <= 0 means it never expires, and ttl is rounded up to whole
// milliseconds; UDT checks it only before retransmitting a lost packet of
// the message, so on a path without loss no message expires (see
// Conn.WriteMsg). inOrder asks for
// delivery in sending order. An empty b is refused: UDT would report
// success and send nothing.
func (s Socket) SendMsg(b []byte, ttl time.Duration, inOrder bool) (int, error) {
	if len(b) == 0 {
		return 0, invalid("sendmsg", "a message needs at least one byte (UDT sends nothing for an empty one)")
	}
	ms := -1
	if ttl > 0 {
		d := ttl / time.Millisecond
		if ttl%time.Millisecond != 0 {
			d++
		}
		if d > 1<<31-1 {
			d = 1<<31 - 1
		}
		ms = int(d)
	}
	n, err := cudt.SendMsg(int(s.id), b, ms, inOrder)
	if err != nil {
		return n, s.withState(wrap("sendmsg", err))
	}
	return n, nil
}

// RecvMsg receives one message into b on a datagram socket (UDT::recvmsg).
// If b is shorter than the message, UDT returns its first len(b) bytes and
// discards the rest. An empty b returns 0 at once and leaves the message
// queued.
func (s Socket) RecvMsg(b []byte) (int, error) {
	n, err := cudt.RecvMsg(int(s.id), b)
	if err != nil {
		return n, s.withState(wrap("recvmsg", err))
	}
	return n, nil
}

// Default block sizes of UDT::sendfile and UDT::recvfile.
const (
	DefaultSendFileBlock = 364000
	DefaultRecvFileBlock = 7280000
)

func checkFileArgs(op, path string, offset, size int64, block int) error {
	switch {
	case path == "":
		return invalid(op, "file path is empty")
	case offset < 0:
		return invalid(op, "offset must not be negative, got "+strconv.FormatInt(offset, 10))
	case size < 0:
		return invalid(op, "size must not be negative, got "+strconv.FormatInt(size, 10))
	case block < 0 || block > 1<<31-1:
		return invalid(op, "block must be between 0 (the default) and 2^31-1, got "+strconv.Itoa(block))
	}
	if offset > math.MaxInt64-size {
		return invalid(op, "offset "+strconv.FormatInt(offset, 10)+" + size "+strconv.FormatInt(size, 10)+" overflows int64")
	}
	for i := 0; i < len(path); i++ {
		if path[i] == 0 {
			return invalid(op, "file path contains a NUL byte")
		}
	}
	return nil
}

// fileError is a file problem found before UDT sees the path: UDT answers
// every one of them (missing, a directory, a range past the end) with
// EWRPERM "failure in write: .", even when it was reading.
func fileError(op string, code ErrorCode, msg string, err error) error {
	return &Error{Op: op, Code: code, Msg: msg, err: err}
}

// checkSendFile makes sure path is a regular file that holds
// [offset, offset+size).
func checkSendFile(path string, offset, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fileError("sendfile", ErrRdPerm, err.Error(), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileError("sendfile", ErrFile, err.Error(), err)
	}
	if !fi.Mode().IsRegular() {
		return fileError("sendfile", ErrFile, path+" is not a regular file ("+fi.Mode().Type().String()+")", nil)
	}
	if offset+size > fi.Size() {
		return fileError("sendfile", ErrInvRdOff, "offset "+strconv.FormatInt(offset, 10)+" + size "+strconv.FormatInt(size, 10)+" is past the end of "+path+" ("+strconv.FormatInt(fi.Size(), 10)+" bytes)", nil)
	}
	return nil
}

// checkRecvFile makes sure path can be opened for writing, as UDT will (it
// creates the file).
func checkRecvFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fileError("recvfile", ErrWrPerm, err.Error(), err)
	}
	return f.Close()
}

// SendFile sends size bytes of the file at path, from offset, on a stream
// socket (UDT::sendfile2), in blocks of block bytes (0: UDT's default). UDT
// opens the file itself. It returns the bytes sent.
func (s Socket) SendFile(path string, offset, size int64, block int) (int64, error) {
	if err := checkFileArgs("sendfile", path, offset, size, block); err != nil {
		return 0, err
	}
	if err := checkSendFile(path, offset, size); err != nil {
		return 0, err
	}
	if block == 0 {
		block = DefaultSendFileBlock
	}
	n, err := cudt.SendFile(int(s.id), path, &offset, size, block)
	if err != nil {
		return n, s.withState(wrap("sendfile", err))
	}
	return n, nil
}

// RecvFile receives size bytes on a stream socket into the file at path,
// written from offset (UDT::recvfile2), in blocks of block bytes (0: UDT's
// default). UDT opens the file itself and truncates it first, so bytes
// before offset read back as zeros. It returns the bytes received.
func (s Socket) RecvFile(path string, offset, size int64, block int) (int64, error) {
	if err := checkFileArgs("recvfile", path, offset, size, block); err != nil {
		return 0, err
	}
	if err := checkRecvFile(path); err != nil {
		return 0, err
	}
	if block == 0 {
		block = DefaultRecvFileBlock
	}
	n, err := cudt.RecvFile(int(s.id), path, &offset, size, block)
	if err != nil {
		return n, s.withState(wrap("recvfile", err))
	}
	return n, nil
}

// Perfmon reads s's statistics (UDT::perfmon); clear restarts the interval
// counters.
func (s Socket) Perfmon(clear bool) (Perf, error) {
	p, err := cudt.Perfmon(int(s.id), clear)
	if err != nil {
		return Perf{}, s.withState(wrap("perfmon", err))
	}
	return perfFrom(p), nil
}

// SockState is s's state (UDT::getsockstate); StatusNonexist once UDT no
// longer knows s.
func (s Socket) SockState() Status { return Status(cudt.SockState(int(s.id))) }

// Events is a set of epoll events (EPOLLOpt).
type Events int

// The epoll events of UDT (UDT_EPOLL_IN, UDT_EPOLL_OUT, UDT_EPOLL_ERR).
const (
	EventIn  Events = 0x1 // readable, or a connection to accept
	EventOut Events = 0x4 // writable, or a connect completed
	// EventErr is accepted by UDT but never reported for a UDT socket.
	EventErr Events = 0x8
)

// String is the events' names joined by "|", e.g. "IN|OUT".
func (e Events) String() string {
	s := ""
	for _, f := range []struct {
		ev   Events
		name string
	}{{EventIn, "IN"}, {EventOut, "OUT"}, {EventErr, "ERR"}} {
		if e&f.ev != 0 {
			if s != "" {
				s += "|"
			}
			s += f.name
		}
	}
	if rest := e &^ (EventIn | EventOut | EventErr); rest != 0 || s == "" {
		if s != "" {
			s += "|"
		}
		s += "0x" + strconv.FormatInt(int64(rest), 16)
	}
	return s
}

// Epoll is a UDT epoll (the eid of UDT::epoll_create).
type Epoll int32

// NewEpoll creates an epoll (UDT::epoll_create).
func NewEpoll() (Epoll, error) {
	eid, err := cudt.EpollCreate()
	if err != nil {
		return -1, wrap("epoll_create", err)
	}
	return Epoll(eid), nil
}

func checkEvents(op string, ev Events) error {
	if ev&^(EventIn|EventOut|EventErr) != 0 || ev == 0 {
		return invalid(op, "events must be a non-empty set of EventIn, EventOut and EventErr, not "+ev.String())
	}
	return nil
}

// AddUsock watches UDT socket id for ev (UDT::epoll_add_usock). Watch a
// listener for EventIn only: with EventOut UDT reports it writable forever.
func (e Epoll) AddUsock(id SocketID, ev Events) error {
	if err := checkEvents("epoll_add_usock", ev); err != nil {
		return err
	}
	return wrap("epoll_add_usock", cudt.EpollAddUsock(int(e), int(id), int(ev)))
}

// AddSsock watches system socket fd for ev (UDT::epoll_add_ssock).
func (e Epoll) AddSsock(fd int, ev Events) error {
	if err := checkEvents("epoll_add_ssock", ev); err != nil {
		return err
	}
	if err := checkOpenFD("epoll_add_ssock", fd); err != nil {
		return err
	}
	return wrap("epoll_add_ssock", cudt.EpollAddSsock(int(e), fd, int(ev)))
}

// checkOpenFD refuses a descriptor that is not open: UDT's epoll_ctl fails
// on it with an exception that carries no error code.
func checkOpenFD(op string, fd int) error {
	if !syssock.IsOpen(fd) {
		return &Error{Op: op, Code: ErrInvParam, Msg: "descriptor " + strconv.Itoa(fd) + " is not open", err: syscall.EBADF}
	}
	return nil
}

// RemoveUsock stops watching UDT socket id (UDT::epoll_remove_usock).
func (e Epoll) RemoveUsock(id SocketID) error {
	return wrap("epoll_remove_usock", cudt.EpollRemoveUsock(int(e), int(id)))
}

// RemoveSsock stops watching system socket fd (UDT::epoll_remove_ssock).
func (e Epoll) RemoveSsock(fd int) error {
	if err := checkOpenFD("epoll_remove_ssock", fd); err != nil {
		return err
	}
	return wrap("epoll_remove_ssock", cudt.EpollRemoveSsock(int(e), fd))
}

// EpollEvents receives what Wait finds. Wait fills each slice up to its
// capacity and sets its length to what it filled; a slice of capacity 0
// asks for nothing of that kind, unless all four have capacity 0: the zero
// EpollEvents asks for everything, and Wait gives each slice a capacity of
// DefaultEpollEvents the first time. Reuse one value to wait without
// allocating.
type EpollEvents struct {
	Read, Write       []SocketID // UDT sockets ready to read (or accept) and to write
	SysRead, SysWrite []int32    // system sockets ready to read and to write
}

// DefaultEpollEvents is how many sockets of each kind a zero EpollEvents
// takes from one Wait; the rest stay ready for the next.
const DefaultEpollEvents = 64

// Wait waits up to timeout (negative: forever) for watched sockets to be
// ready (UDT::epoll_wait2) and returns how many entries it filled in ev,
// which may be fewer than UDT had ready when a slice is short. The wait has
// UDT's 10 ms granularity. A timeout is an *Error with code ErrTimeout, so
// errors.Is(err, os.ErrDeadlineExceeded) holds.
func (e Epoll) Wait(ev *EpollEvents, timeout time.Duration) (int, error) {
	if ev == nil {
		return 0, invalid("epoll_wait", "events must not be nil")
	}
	if cap(ev.Read) == 0 && cap(ev.Write) == 0 && cap(ev.SysRead) == 0 && cap(ev.SysWrite) == 0 {
		// A wait for nothing would only sleep (or never return): the zero
		// value means every kind.
		ev.Read, ev.Write = make([]SocketID, 0, DefaultEpollEvents), make([]SocketID, 0, DefaultEpollEvents)
		ev.SysRead, ev.SysWrite = make([]int32, 0, DefaultEpollEvents), make([]int32, 0, DefaultEpollEvents)
	}
	ms := int64(-1)
	if timeout >= 0 {
		ms = int64(timeout / time.Millisecond)
		if timeout%time.Millisecond != 0 {
			ms++
		}
	}
	rd := ids32(ev.Read[:cap(ev.Read)])
	wr := ids32(ev.Write[:cap(ev.Write)])
	nr, nw, nlr, nlw, err := cudt.EpollWait(int(e), rd, wr, ev.SysRead[:cap(ev.SysRead)], ev.SysWrite[:cap(ev.SysWrite)], ms)
	ev.Read, ev.Write = ev.Read[:nr], ev.Write[:nw]
	ev.SysRead, ev.SysWrite = ev.SysRead[:nlr], ev.SysWrite[:nlw]
	if err != nil {
		return 0, wrap("epoll_wait", err)
	}
	return nr + nw + nlr + nlw, nil
}

// ids32 views a []SocketID as the []int32 it is, for C to fill in place.
func ids32(s []SocketID) []int32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// Release destroys the epoll (UDT::epoll_release).
func (e Epoll) Release() error { return wrap("epoll_release", cudt.EpollRelease(int(e))) }
