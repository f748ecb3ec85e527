package udt

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// inFreshNetNS runs fn on an OS thread moved into a network namespace of
// its own, with loopback up. fn's portRange sets the ports the namespace's
// kernel offers for port 0. The thread ends with fn; sockets fn opened
// stay in the namespace.
func inFreshNetNS(t *testing.T, fn func(portRange func(lo, hi uint16) error) error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread leaves with the goroutine.
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			ifr, err := unix.NewIfreq("lo")
			if err != nil {
				return err
			}
			if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
				return fmt.Errorf("lo flags: %w", err)
			}
			ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
			if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
				return fmt.Errorf("lo up: %w", err)
			}
			return fn(func(lo, hi uint16) error {
				// /proc/sys/net shows the namespace of the thread that opens it.
				return os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte(fmt.Sprintf("%d %d", lo, hi)), 0)
			})
		}()
	}()
	if err := <-errc; err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skip("no network namespace of our own:", err)
		}
		t.Fatal(err)
	}
}

// TestBindAvoidsPortNumbersUDTRuns: UDT 4.11 gives a bind the multiplexer
// of any reusable port it runs with the same number, whatever its address
// or namespace. Here the process's UDT runs ports p1..p8 on 127.0.0.1, and
// in a namespace whose kernel offers only pi and pi+1, a bind to port 0
// must get pi+1 and a UDP socket of its own, eight times. There a bind to
// 127.0.0.1:p1, the very address UDT runs outside, is refused before the
// socket is spent, and so is a descriptor bound there, by Bind2, which
// keeps no duplicate of it.
func TestBindAvoidsPortNumbersUDTRuns(t *testing.T) {
	var ports []uint16
	taken := map[uint16]bool{}
	for tries := 0; len(ports) < 8 && tries < 32; tries++ {
		host := newSock(t, IPv4, Stream)
		if err := host.Bind(loop4); err != nil {
			t.Fatal(err)
		}
		a, err := host.SockName()
		if err != nil {
			t.Fatal(err)
		}
		taken[a.Port()] = true
		ports = append(ports, a.Port())
	}
	// pi+1 must be a number UDT runs nowhere, or the namespace has no port
	// a bind could keep.
	free := ports[:0]
	for _, p := range ports {
		if _, runs := udtRunsPort(IPv4, p+1, nil); p < 65535 && !taken[p+1] && !runs {
			free = append(free, p)
		}
	}
	if len(free) == 0 {
		t.Fatal("no port p bound on 127.0.0.1 left p+1 unused")
	}
	p := free[0]
	ha := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p)
	var socks []Socket
	t.Cleanup(func() {
		for _, s := range socks {
			s.Close()
		}
	})
	open := func() (Socket, error) {
		s, err := NewSocket(IPv4, Stream)
		if err == nil {
			socks = append(socks, s)
		}
		return s, err
	}
	inFreshNetNS(t, func(portRange func(lo, hi uint16) error) error {
		for i, p := range free {
			if err := portRange(p, p+1); err != nil {
				return err
			}
			want := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}), 0)
			s, err := open()
			if err != nil {
				return err
			}
			if err := s.Bind(want); err != nil {
				return fmt.Errorf("Bind(%v): %w", want, err)
			}
			got, err := s.SockName()
			if err != nil {
				return err
			}
			if got.Addr() != want.Addr() || got.Port() != p+1 {
				return fmt.Errorf("Bind(%v) runs on %v; want %v:%d, since UDT runs %d on 127.0.0.1", want, got, want.Addr(), p+1, p)
			}
		}

		if err := portRange(32768, 60999); err != nil { // Linux's default
			return err
		}
		// The same address and number as UDT's port outside: only the
		// number tells them apart from UDT's side.
		s, err := open()
		if err != nil {
			return err
		}
		err = s.Bind(ha)
		if !errors.Is(err, syscall.EADDRINUSE) || CodeOf(err) != ErrSockFail {
			return fmt.Errorf("Bind(%v) in the namespace = %v; want EADDRINUSE, code %d, since UDT runs that number outside", ha, err, ErrSockFail)
		}
		if st := s.SockState(); st != StatusInit {
			return fmt.Errorf("after the refused bind the socket is %v; want it unspent (INIT)", st)
		}
		if err := s.Bind(netip.AddrPortFrom(ha.Addr(), 0)); err != nil {
			return fmt.Errorf("binding the refused socket to port 0 after: %w", err)
		}

		fd, err := openUDP(IPv4, ha)
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		s, err = open()
		if err != nil {
			return err
		}
		err = s.Bind2(fd)
		if !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("Bind2 of a descriptor on %v in the namespace = %v; want EADDRINUSE, since UDT runs that number outside", ha, err)
		}
		if n, err := descriptorsOf(fd); err != nil || n != 1 {
			return fmt.Errorf("Bind2 refused descriptor %d, yet %d descriptors name its socket (%v): it kept a duplicate", fd, n, err)
		}
		return nil
	})
}

// descriptorsOf counts the descriptors of this process open on fd's socket.
func descriptorsOf(fd int) (int, error) {
	want, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == want {
			n++
		}
	}
	return n, nil
}
