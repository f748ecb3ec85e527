// Package syssock deals with the kernel sockets the udt package hands UDT,
// which UDT's API calls system sockets (SYSSOCKET, and UDPSOCKET for
// bind2): it opens the UDP sockets UDT runs on, close-on-exec and behind a
// filter that keeps from UDT the handshakes it cannot take; it checks a
// descriptor a program offers before UDT sees it, since UDT accepts
// descriptors it cannot run on; and it reads back what the kernel says of
// them. It is pure Go on golang.org/x/sys/unix, for Linux, and knows
// nothing of UDT's own sockets.
package syssock

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// OpenUDP opens a UDP socket of family (unix.AF_INET or unix.AF_INET6)
// bound to addr, with a filter that drops the handshakes outside lim. It is
// close-on-exec from its first instant: a child process started meanwhile
// by another goroutine would otherwise keep the port open after UDT closes
// it. An IPv4 address given to an IPv6 socket binds its IPv4-mapped form.
// A port already taken is an error that matches unix.EADDRINUSE.
func OpenUDP(family int, addr netip.AddrPort, lim Limits) (int, error) {
	sa, err := sockaddr(family, addr)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := filterHandshakes(fd, lim); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func sockaddr(family int, addr netip.AddrPort) (unix.Sockaddr, error) {
	ip := addr.Addr()
	switch family {
	case unix.AF_INET:
		// As4 panics on anything else; the udt package refuses such an
		// address before it gets here, but a panic would be a poor answer.
		if !ip.Unmap().Is4() {
			return nil, fmt.Errorf("an IPv4 socket needs an IPv4 address, not %v", ip)
		}
		return &unix.SockaddrInet4{Port: int(addr.Port()), Addr: ip.Unmap().As4()}, nil
	case unix.AF_INET6:
		if !ip.IsValid() {
			return nil, fmt.Errorf("an IPv6 socket needs an address, not %v", ip)
		}
		sa := &unix.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()}
		if z := ip.Zone(); z != "" {
			idx, err := ZoneIndex(z)
			if err != nil {
				return nil, fmt.Errorf("unknown IPv6 zone %q: %v", z, err)
			}
			sa.ZoneId = idx
		}
		return sa, nil
	}
	return nil, unix.EAFNOSUPPORT
}

// ZoneIndex is the scope ID a sockaddr_in6 carries for IPv6 zone z: z
// itself when it is a number, else the index of the interface it names.
func ZoneIndex(z string) (uint32, error) {
	if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(z)
	if err != nil {
		return 0, err
	}
	return uint32(ifi.Index), nil
}

// CheckUDP says why fd is not a bound UDP socket of family, or nil when it
// is one. UDT's bind2 checks none of this: it takes an unbound socket (and
// then runs on port 0, where no peer can reach it) or even a TCP one.
func CheckUDP(family int, fd int) error {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fmt.Errorf("descriptor %d is not a socket: %v", fd, err)
	}
	if typ != unix.SOCK_DGRAM {
		return fmt.Errorf("descriptor %d is not a UDP socket", fd)
	}
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return fmt.Errorf("descriptor %d: %v", fd, err)
	}
	if dom != family {
		return fmt.Errorf("descriptor %d is an %s socket, the UDT socket is %s", fd, familyName(dom), familyName(family))
	}
	a, err := LocalAddr(fd)
	if err != nil {
		return fmt.Errorf("descriptor %d: %v", fd, err)
	}
	if a.Port() == 0 {
		return fmt.Errorf("descriptor %d is not bound: bind it first (UDT would run on port 0)", fd)
	}
	return nil
}

// familyName names family as the udt package's Family does, so that
// CheckUDP's errors read the same as the rest of its messages.
func familyName(family int) string {
	switch family {
	case unix.AF_INET:
		return "IPv4"
	case unix.AF_INET6:
		return "IPv6"
	}
	return "Family(" + strconv.Itoa(family) + ")"
}

// LocalAddr is the address fd is bound to (getsockname). An IPv6 socket's
// address has no zone, and one of another family is the zero AddrPort.
func LocalAddr(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)), nil
	}
	return netip.AddrPort{}, nil
}

// SameAddr reports whether ip names the address bound, as LocalAddr
// reports it. ip may be spelt as UDT or a program spells it, IPv4-mapped
// or not, with a zone or not; the kernel reports an IPv6 socket's address
// without its zone, and an IPv4 address bound by an IPv6 socket mapped.
func SameAddr(bound, ip netip.Addr) bool {
	return bound.IsValid() && bound.Unmap() == ip.Unmap().WithZone("")
}

// Dup duplicates fd, close-on-exec, for UDT to own: UDT closes what it is
// given, and the program keeps its own descriptor to close.
func Dup(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}

// IsOpen reports whether fd is an open descriptor. UDT's epoll_ctl on one
// that is not fails with an exception that carries no error code, so the
// udt package asks first.
func IsOpen(fd int) bool {
	if fd < 0 {
		return false
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// Inode identifies the socket (or file) fd is open on. A descriptor number
// is reused once closed; the inode tells the new socket from the old.
func Inode(fd int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Close closes fd; it is here so that the udt package makes no system call
// of its own.
func Close(fd int) error { return unix.Close(fd) }
