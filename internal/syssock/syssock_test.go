package syssock

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var (
	loop4 = netip.MustParseAddrPort("127.0.0.1:0")
	loop6 = netip.MustParseAddrPort("[::1]:0")
	// wide lets every handshake through, for tests about the socket alone.
	wide = Limits{MaxFlowWindow: ^uint32(0), MinMSS: 0, MaxMSS: ^uint32(0)}
)

func openUDP(t *testing.T, family int, addr netip.AddrPort) int {
	t.Helper()
	fd, err := OpenUDP(family, addr, wide)
	if err != nil {
		t.Fatalf("OpenUDP(%v): %v", addr, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// rawSocket opens a socket the way a program might hand one over, bound to
// addr unless addr is invalid.
func rawSocket(t *testing.T, family, typ int, addr netip.AddrPort) int {
	t.Helper()
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if addr.IsValid() {
		sa, err := sockaddr(family, addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, sa); err != nil {
			t.Fatal(err)
		}
	}
	return fd
}

func TestOpenUDP(t *testing.T) {
	for _, tc := range []struct {
		name   string
		family int
		addr   netip.AddrPort
		want   netip.Addr // the address the kernel reports
	}{
		{"IPv4", unix.AF_INET, loop4, loop4.Addr()},
		{"IPv4-mapped on IPv4", unix.AF_INET, netip.MustParseAddrPort("[::ffff:127.0.0.1]:0"), loop4.Addr()},
		{"IPv6", unix.AF_INET6, loop6, loop6.Addr()},
		{"IPv4 on IPv6", unix.AF_INET6, loop4, netip.MustParseAddr("::ffff:127.0.0.1")},
		{"IPv6 with a numeric zone", unix.AF_INET6, netip.MustParseAddrPort("[::1%1]:0"), loop6.Addr()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := openUDP(t, tc.family, tc.addr)
			if err := CheckUDP(tc.family, fd); err != nil {
				t.Errorf("CheckUDP: %v", err)
			}
			a, err := LocalAddr(fd)
			if err != nil || a.Addr() != tc.want || a.Port() == 0 {
				t.Errorf("LocalAddr = %v, %v; want %v and a port the kernel chose", a, err, tc.want)
			}
			if !SameAddr(a.Addr(), tc.addr.Addr()) {
				t.Errorf("SameAddr(%v, %v) = false", a.Addr(), tc.addr.Addr())
			}
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err != nil || flags&unix.FD_CLOEXEC == 0 {
				t.Errorf("F_GETFD = %#x, %v; want FD_CLOEXEC", flags, err)
			}
			if p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || p != unix.IPPROTO_UDP {
				t.Errorf("SO_PROTOCOL = %d, %v; want UDP", p, err)
			}
		})
	}
}

// TestOpenUDPRefuses: what OpenUDP cannot bind is an error, never a panic
// or a socket left open; a port in use matches EADDRINUSE, which the udt
// package's Bind looks for to join a port its UDT already runs.
func TestOpenUDPRefuses(t *testing.T) {
	taken, err := LocalAddr(openUDP(t, unix.AF_INET, loop4))
	if err != nil {
		t.Fatal(err)
	}
	before := openDescriptors(t)
	for _, tc := range []struct {
		name   string
		family int
		addr   netip.AddrPort
		is     error
		says   string
	}{
		{"port in use", unix.AF_INET, taken, unix.EADDRINUSE, "address already in use"},
		{"IPv6 address on IPv4", unix.AF_INET, loop6, nil, "needs an IPv4 address"},
		{"zero address on IPv4", unix.AF_INET, netip.AddrPort{}, nil, "needs an IPv4 address"},
		{"zero address on IPv6", unix.AF_INET6, netip.AddrPort{}, nil, "needs an address"},
		{"unknown zone", unix.AF_INET6, netip.MustParseAddrPort("[fe80::1%no-such-interface]:0"), nil, "unknown IPv6 zone"},
		{"another family", unix.AF_UNIX, loop4, unix.EAFNOSUPPORT, ""},
	} {
		fd, err := OpenUDP(tc.family, tc.addr, wide)
		if err == nil {
			unix.Close(fd)
			t.Errorf("%s: OpenUDP(%v) opened descriptor %d", tc.name, tc.addr, fd)
			continue
		}
		if fd != -1 || tc.is != nil && !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: OpenUDP(%v) = %d, %v; want -1 and an error matching %v, saying %q", tc.name, tc.addr, fd, err, tc.is, tc.says)
		}
	}
	if after := openDescriptors(t); after != before {
		t.Errorf("%d descriptors open after the failures, %d before", after, before)
	}
}

func openDescriptors(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestCheckUDP: each descriptor UDT's bind2 would take but not run on is
// refused, with a message that says why.
func TestCheckUDP(t *testing.T) {
	file, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name   string
		family int
		fd     int
		want   string
	}{
		{"unbound", unix.AF_INET, rawSocket(t, unix.AF_INET, unix.SOCK_DGRAM, netip.AddrPort{}), "is not bound"},
		{"IPv6 for IPv4", unix.AF_INET, openUDP(t, unix.AF_INET6, loop6), "is an IPv6 socket, the UDT socket is IPv4"},
		{"IPv4 for IPv6", unix.AF_INET6, openUDP(t, unix.AF_INET, loop4), "is an IPv4 socket, the UDT socket is IPv6"},
		{"TCP", unix.AF_INET, rawSocket(t, unix.AF_INET, unix.SOCK_STREAM, loop4), "is not a UDP socket"},
		{"Unix datagram", unix.AF_INET, rawSocket(t, unix.AF_UNIX, unix.SOCK_DGRAM, netip.AddrPort{}), "is an Family(1) socket"},
		{"a file", unix.AF_INET, int(file.Fd()), "is not a socket"},
		{"not open", unix.AF_INET, 1 << 20, "is not a socket"},
		{"negative", unix.AF_INET, -1, "is not a socket"},
	} {
		err := CheckUDP(tc.family, tc.fd)
		if want := "descriptor " + strconv.Itoa(tc.fd) + " " + tc.want; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: CheckUDP = %v; want an error containing %q", tc.name, err, want)
		}
	}
	// A socket bound by the program, without OpenUDP's filter, is fine.
	if err := CheckUDP(unix.AF_INET, rawSocket(t, unix.AF_INET, unix.SOCK_DGRAM, loop4)); err != nil {
		t.Errorf("a bound UDP socket: %v", err)
	}
}

func TestSameAddr(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		bound, ip netip.Addr
		want      bool
	}{
		{a("127.0.0.1"), a("127.0.0.1"), true},
		{a("127.0.0.1"), a("::ffff:127.0.0.1"), true}, // UDT's spelling on an IPv4 socket
		{a("127.0.0.1"), a("127.0.0.2"), false},
		{a("::1"), a("::1%lo"), true}, // the kernel reports no zone
		{a("::1"), a("::2"), false},
		{a("::ffff:127.0.0.1"), a("::ffff:127.0.0.1"), true},
		{a("::ffff:127.0.0.1"), a("127.0.0.1"), true}, // an IPv6 socket bound to an IPv4 address
		{a("::ffff:127.0.0.1"), a("::1"), false},
		{a("fe80::1"), a("fe80::1%lo"), true},
		{netip.Addr{}, netip.Addr{}, false},
	} {
		if got := SameAddr(tc.bound, tc.ip); got != tc.want {
			t.Errorf("SameAddr(%v, %v) = %v, want %v", tc.bound, tc.ip, got, tc.want)
		}
	}
}

func TestLocalAddrOfOtherFamilies(t *testing.T) {
	a, err := LocalAddr(rawSocket(t, unix.AF_UNIX, unix.SOCK_DGRAM, netip.AddrPort{}))
	if err != nil || a.IsValid() {
		t.Errorf("LocalAddr of a Unix socket = %v, %v; want the zero AddrPort", a, err)
	}
	if _, err := LocalAddr(-1); !errors.Is(err, unix.EBADF) {
		t.Errorf("LocalAddr(-1) = %v, want EBADF", err)
	}
}

func TestZoneIndex(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no loopback interface named lo:", err)
	}
	for z, want := range map[string]uint32{"lo": uint32(lo.Index), "7": 7, "4294967295": 1<<32 - 1} {
		if got, err := ZoneIndex(z); err != nil || got != want {
			t.Errorf("ZoneIndex(%q) = %d, %v; want %d", z, got, err, want)
		}
	}
	for _, z := range []string{"no-such-interface", "4294967296", "-1"} {
		if got, err := ZoneIndex(z); err == nil {
			t.Errorf("ZoneIndex(%q) = %d, want an error", z, got)
		}
	}
}

// TestDescriptors: Dup gives UDT a close-on-exec descriptor of the same
// socket; Inode tells a socket from another that reuses its number; IsOpen
// follows Close.
func TestDescriptors(t *testing.T) {
	fd := openUDP(t, unix.AF_INET, loop4)
	dup, err := Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	if flags, err := unix.FcntlInt(uintptr(dup), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("the duplicate's F_GETFD = %#x, %v; want FD_CLOEXEC", flags, err)
	}
	ino, err := Inode(fd)
	if err != nil {
		t.Fatal(err)
	}
	if dino, err := Inode(dup); err != nil || dino != ino {
		t.Errorf("Inode of the duplicate = %d, %v; want %d, the original's", dino, err, ino)
	}
	other := rawSocket(t, unix.AF_INET, unix.SOCK_DGRAM, netip.AddrPort{})
	if oino, err := Inode(other); err != nil || oino == ino {
		t.Errorf("Inode of another socket = %d, %v; want other than %d", oino, err, ino)
	}

	if !IsOpen(dup) {
		t.Errorf("IsOpen(%d) = false for an open descriptor", dup)
	}
	fresh, err := Dup(dup)
	if err != nil {
		t.Fatal(err)
	}
	if err := Close(fresh); err != nil {
		t.Fatal(err)
	}
	if IsOpen(fresh) || IsOpen(-1) {
		t.Errorf("IsOpen of closed descriptor %d = %v, of -1 = %v; want false", fresh, IsOpen(fresh), IsOpen(-1))
	}
	if _, err := Inode(fresh); !errors.Is(err, unix.EBADF) {
		t.Errorf("Inode of a closed descriptor: %v, want EBADF", err)
	}
	if _, err := Dup(fresh); !errors.Is(err, unix.EBADF) {
		t.Errorf("Dup of a closed descriptor: %v, want EBADF", err)
	}
}
