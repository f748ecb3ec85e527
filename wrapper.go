package udt

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/syssock"
)

// This file mirrors the calls of namespace UDT one to one on Go types, with
// bind (wrapper_bind.go), the file transfers (wrapper_file.go) and epoll
// (wrapper_epoll.go) beside it. It blocks or not exactly as UDT does; the
// net.Conn layer builds Go-native blocking on top of it.

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
	// A Go controller's Init, owed since the handshake, runs here rather
	// than at the connection's first event on UDT's thread (cudt.CCStart).
	cudt.CCStart(u)
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
	if err := cudt.Connect(int(s.id), &a); err != nil {
		return s.withState(wrap("connect", err))
	}
	// Connected, if s blocks: a Go controller's Init, owed since the
	// handshake, runs here (cudt.CCStart); a connect still under way has
	// no controller yet, and the net layer starts it when the dial ends.
	cudt.CCStart(int(s.id))
	return nil
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

// Recv receives into b on a stream socket (UDT::recv). Once the peer has
// closed and b's data is all read, UDT answers ErrConnLost (ECONNLOST
// 2001), not an end of stream: Conn.Read turns that into io.EOF.
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
