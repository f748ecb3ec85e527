package udt

import (
	"errors"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/syssock"
)

// Bind and Bind2 of the one-to-one layer (wrapper.go): where UDT would
// open a UDP socket of its own, or run on one it shares with another
// address, the kernel socket is chosen here and handed to UDT's bind2
// (udtports.go remembers the ports UDT runs).

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

// minMSS is the smallest UDT_MSS UDT itself accepts: IP and UDP headers
// and a handshake (28 + 48 bytes).
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
