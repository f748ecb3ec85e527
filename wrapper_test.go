package udt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/syssock"
)

func TestStartupCleanupAreCounted(t *testing.T) {
	// TestMain holds one Startup, so this pair must leave the library up.
	if err := Startup(); err != nil {
		t.Fatal(err)
	}
	if err := Cleanup(); err != nil {
		t.Fatal(err)
	}
	c, s := pair(t, Stream, loop4)
	if _, err := c.Send([]byte("still up")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := s.Recv(buf); err != nil || string(buf[:n]) != "still up" {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
}

func TestNewSocketRefusesBadArguments(t *testing.T) {
	t.Parallel()
	if _, err := NewSocket(Family(99), Stream); err == nil || !strings.Contains(err.Error(), "family") {
		t.Fatalf("bad family: %v", err)
	}
	_, err := NewSocket(IPv4, SocketType(42))
	wantCode(t, "bad type", err, ErrInvParam)
	if !strings.Contains(err.Error(), "socket type") {
		t.Fatalf("error does not name the socket type: %v", err)
	}
	s := newSock(t, IPv6, Datagram)
	if s.Family() != IPv6 || s.SockState() != StatusInit {
		t.Fatalf("new socket: family %v state %v", s.Family(), s.SockState())
	}
}

func TestStreamBothFamilies(t *testing.T) {
	t.Parallel()
	for _, addr := range []netip.AddrPort{loop4, loop6} {
		t.Run(addr.Addr().String(), func(t *testing.T) {
			l, la := listener(t, Stream, addr)
			c, s := dialAccept(t, l, la, Stream)
			if st := c.SockState(); st != StatusConnected {
				t.Fatalf("client state %v", st)
			}
			if st, err := l.State(); err != nil || st != StatusListening {
				t.Fatalf("listener UDT_STATE = %v, %v", st, err)
			}
			cp, err := c.PeerName()
			if err != nil || cp != la {
				t.Fatalf("client PeerName = %v, %v; want %v", cp, err, la)
			}
			cn, _ := c.SockName()
			sp, err := s.PeerName()
			if err != nil || sp.Port() != cn.Port() || sp.Addr() != addr.Addr() {
				t.Fatalf("server PeerName = %v, %v; client SockName %v", sp, err, cn)
			}
			for _, msg := range []string{"ping", "pong"} {
				from, to := c, s
				if msg == "pong" {
					from, to = s, c
				}
				if n, err := from.Send([]byte(msg)); err != nil || n != len(msg) {
					t.Fatalf("Send = %d, %v", n, err)
				}
				buf := make([]byte, 16)
				n, err := to.Recv(buf)
				if err != nil || string(buf[:n]) != msg {
					t.Fatalf("Recv = %q, %v", buf[:n], err)
				}
			}
		})
	}
}

func TestAcceptReturnsPeerAddress(t *testing.T) {
	t.Parallel()
	l, la := listener(t, Stream, loop4)
	c := newSock(t, IPv4, Stream)
	if err := c.Bind(loop4); err != nil {
		t.Fatal(err)
	}
	cn, _ := c.SockName()
	go c.Connect(la)
	s, peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if peer != cn {
		t.Fatalf("Accept peer %v, client is %v", peer, cn)
	}
	if s.Family() != IPv4 {
		t.Fatalf("accepted socket family %v", s.Family())
	}
}

func TestZeroLengthBuffers(t *testing.T) {
	t.Parallel()
	c, s := pair(t, Stream, loop4)
	if n, err := c.Send(nil); n != 0 || err != nil {
		t.Fatalf("Send(nil) = %d, %v", n, err)
	}
	if n, err := s.Recv(nil); n != 0 || err != nil {
		t.Fatalf("Recv(nil) = %d, %v", n, err)
	}
}

// udpFDs lists this process's UDP sockets bound to port.
func udpFDs(t testing.TB, port int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		if typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE); err != nil || typ != syscall.SOCK_DGRAM {
			continue
		}
		a, err := syssock.LocalAddr(fd)
		if err != nil {
			continue
		}
		if int(a.Port()) == port {
			fds = append(fds, fd)
		}
	}
	return fds
}

func cloexec(t testing.TB, fd int) bool {
	t.Helper()
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if errno != 0 {
		t.Fatalf("fcntl(%d): %v", fd, errno)
	}
	return flags&syscall.FD_CLOEXEC != 0
}

// childSockets counts the sockets a child process inherits.
func childSockets(t testing.TB) int {
	t.Helper()
	out, err := exec.Command("sh", "-c", `for f in /proc/$$/fd/*; do readlink "$f"; done; true`).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(out), "socket:")
}

func TestBindOpensCloseOnExecSockets(t *testing.T) {
	// Not parallel: it counts the sockets a child inherits from the whole
	// process.
	base := childSockets(t)
	check := func(what string, s Socket) {
		t.Helper()
		a, err := s.SockName()
		if err != nil {
			t.Fatal(err)
		}
		fds := udpFDs(t, int(a.Port()))
		if len(fds) != 1 {
			t.Fatalf("%s: %d UDP fds on port %d, want 1", what, len(fds), a.Port())
		}
		if !cloexec(t, fds[0]) {
			t.Fatalf("%s: fd %d lacks FD_CLOEXEC", what, fds[0])
		}
	}
	l, la := listener(t, Stream, loop4)
	check("listener", l)
	c := newSock(t, IPv4, Stream)
	go c.Connect(la) // unbound: Connect binds it first
	s, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("implicitly bound client", c)
	if n := childSockets(t); n != base {
		t.Fatalf("a child inherited %d sockets, %d before this test", n, base)
	}

	// UDT's own bind opens its UDP socket itself: the link's --wrap=socket
	// (cudt/firewall.go) makes that one close-on-exec too.
	raw, _ := NewSocket(IPv4, Stream)
	a := cudt.Addr{Family: cudt.AF_INET, IP: [16]byte{127, 0, 0, 1}}
	if err := cudt.Bind(int(raw.ID()), &a); err != nil {
		t.Fatal(err)
	}
	if n := childSockets(t); n != base {
		t.Fatalf("a child inherited %d sockets after UDT's own bind, want %d", n, base)
	}
	raw.Close()
	// The same check sees a socket opened without close-on-exec, so it
	// can fail.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := childSockets(t)
	syscall.Close(fd)
	if n != base+1 {
		t.Fatalf("a child inherited %d sockets with one inheritable socket open, want %d", n, base+1)
	}
}

func TestBindSharesAPortThisProcessRuns(t *testing.T) {
	t.Parallel()
	l, la := listener(t, Stream, loop4)
	// A second socket on the listener's port joins its UDP socket through
	// UDT::bind instead of failing with EADDRINUSE.
	s2 := newSock(t, IPv4, Stream)
	if err := s2.Bind(la); err != nil {
		t.Fatalf("Bind to a port this process's UDT runs: %v", err)
	}
	if got := udpFDs(t, int(la.Port())); len(got) != 1 {
		t.Fatalf("%d UDP fds on the shared port, want 1", len(got))
	}
	// Two listeners on one port is UDT's EDUPLISTEN.
	wantCode(t, "second listen", s2.Listen(4), ErrDupListen)
	_ = l

	// A port held by someone else fails as UDT's bind does.
	held, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	s3 := newSock(t, IPv4, Stream)
	s3.SetReuseAddr(false)
	err = s3.Bind(held.LocalAddr().(*net.UDPAddr).AddrPort())
	wantCode(t, "bind to a foreign port", err, ErrSockFail)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("bind to a foreign port: %v does not say EADDRINUSE", err)
	}

	// Binding again is UDT's own answer.
	wantCode(t, "rebind", l.Bind(loop4), ErrInvOp)
	closed, _ := NewSocket(IPv4, Stream)
	closed.Close()
	if err := closed.Bind(loop4); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Bind on a closed socket: %v", err)
	}
}

func TestBind2(t *testing.T) {
	t.Parallel()
	udp := func(network string, bind bool) int {
		f := syscall.AF_INET
		if network == "udp6" {
			f = syscall.AF_INET6
		}
		fd, err := syscall.Socket(f, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if bind {
			var sa syscall.Sockaddr = &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
			if f == syscall.AF_INET6 {
				sa = &syscall.SockaddrInet6{Addr: [16]byte{15: 1}}
			}
			if err := syscall.Bind(fd, sa); err != nil {
				t.Fatal(err)
			}
		}
		return fd
	}
	for _, tc := range []struct {
		name string
		fd   func() int
		want string
	}{
		{"unbound", func() int { return udp("udp4", false) }, "not bound"},
		{"wrong family", func() int { return udp("udp6", true) }, "IPv6 socket"},
		{"tcp", func() int {
			fd, _ := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
			return fd
		}, "not a UDP socket"},
		{"not a socket", func() int {
			f, _ := os.CreateTemp(t.TempDir(), "x")
			fd, _ := syscall.Dup(int(f.Fd()))
			f.Close()
			return fd
		}, "not a socket"},
	} {
		fd := tc.fd()
		s := newSock(t, IPv4, Stream)
		err := s.Bind2(fd)
		syscall.Close(fd)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Bind2 = %v, want error containing %q", tc.name, err, tc.want)
		}
		if s.SockState() != StatusInit {
			t.Errorf("%s: socket left in %v", tc.name, s.SockState())
		}
	}

	// A bound UDP socket of the right family works, and carries a connection.
	fd := udp("udp4", true)
	sa, _ := syscall.Getsockname(fd)
	port := sa.(*syscall.SockaddrInet4).Port
	l := newSock(t, IPv4, Stream)
	if err := l.Bind2(fd); err != nil {
		t.Fatal(err)
	}
	if a, err := l.SockName(); err != nil || int(a.Port()) != port {
		t.Fatalf("SockName after Bind2 = %v, %v; want port %d", a, err, port)
	}
	if err := l.Listen(4); err != nil {
		t.Fatal(err)
	}
	la, _ := l.SockName()
	c, s := dialAccept(t, l, la, Stream)
	if _, err := c.Send([]byte("via bind2")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	if n, err := s.Recv(buf); err != nil || string(buf[:n]) != "via bind2" {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
}

func TestBadAddresses(t *testing.T) {
	t.Parallel()
	s4 := newSock(t, IPv4, Stream)
	wantCode(t, "zero AddrPort", s4.Bind(netip.AddrPort{}), ErrInvParam)
	err := s4.Bind(loop6)
	wantCode(t, "IPv6 address on IPv4 socket", err, ErrInvParam)
	if !strings.Contains(err.Error(), "IPv4 socket needs an IPv4 address") {
		t.Fatalf("unclear error: %v", err)
	}
	wantCode(t, "connect to nothing", s4.Connect(netip.AddrPort{}), ErrInvParam)
	s6 := newSock(t, IPv6, Stream)
	wantCode(t, "unknown zone", s6.Bind(netip.MustParseAddrPort("[fe80::1%nosuchif0]:0")), ErrInvParam)
	// An IPv4 address on an IPv6 socket is its mapped form.
	if err := s6.Bind(netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatalf("IPv4 address on IPv6 socket: %v", err)
	}
	a, _ := s6.SockName()
	if !a.Addr().Is4In6() {
		t.Fatalf("SockName = %v, want an IPv4-mapped address", a)
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	t.Run("closed socket", func(t *testing.T) {
		s, _ := NewSocket(IPv4, Stream)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := s.Send([]byte("x"))
		wantCode(t, "send after close", err, ErrInvSock)
		if !errors.Is(err, net.ErrClosed) || !errors.Is(err, syscall.EBADF) {
			t.Fatalf("%v is not net.ErrClosed and EBADF", err)
		}
		wantCode(t, "close twice", s.Close(), ErrInvSock)
		if st := s.SockState(); st != StatusClosed && st != StatusNonexist {
			t.Fatalf("state after close %v", st)
		}
	})
	t.Run("listen unbound", func(t *testing.T) {
		wantCode(t, "listen", newSock(t, IPv4, Stream).Listen(1), ErrUnboundSock)
	})
	t.Run("accept without listen", func(t *testing.T) {
		s := newSock(t, IPv4, Stream)
		s.Bind(loop4)
		_, _, err := s.Accept()
		wantCode(t, "accept", err, ErrNoListen)
	})
	t.Run("bad backlog", func(t *testing.T) {
		wantCode(t, "listen(0)", newSock(t, IPv4, Stream).Listen(0), ErrInvParam)
	})
	t.Run("stream call on datagram socket", func(t *testing.T) {
		c, _ := pair(t, Datagram, loop4)
		_, err := c.Send([]byte("x"))
		wantCode(t, "send", err, ErrDgramIll)
		_, err = c.Recv(make([]byte, 1))
		wantCode(t, "recv", err, ErrDgramIll)
		_, err = c.SendFile("/etc/hostname", 0, 1, 0)
		wantCode(t, "sendfile", err, ErrDgramIll)
	})
	t.Run("message call on stream socket", func(t *testing.T) {
		c, _ := pair(t, Stream, loop4)
		_, err := c.SendMsg([]byte("x"), 0, true)
		wantCode(t, "sendmsg", err, ErrStreamIll)
		_, err = c.RecvMsg(make([]byte, 1))
		wantCode(t, "recvmsg", err, ErrStreamIll)
	})
	t.Run("message larger than the send buffer", func(t *testing.T) {
		small := func(s Socket) {
			if err := s.SetSendBuffer(32 * 1472); err != nil {
				t.Fatal(err)
			}
		}
		c, _ := pair(t, Datagram, loop4, small)
		_, err := c.SendMsg(make([]byte, 64*1472), 0, true)
		wantCode(t, "sendmsg", err, ErrLargeMsg)
		if !errors.Is(err, syscall.EMSGSIZE) {
			t.Fatalf("%v is not EMSGSIZE", err)
		}
	})
	t.Run("receive timeout", func(t *testing.T) {
		c, _ := pair(t, Stream, loop4)
		if err := c.SetRecvTimeout(30 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := c.Recv(make([]byte, 8))
		wantCode(t, "recv", err, ErrTimeout)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%v: not a net.Error timeout / os.ErrDeadlineExceeded", err)
		}
		if d := time.Since(start); d < 25*time.Millisecond {
			t.Fatalf("timed out after %v, before the 30ms asked", d)
		}
	})
	t.Run("non-blocking receive", func(t *testing.T) {
		c, _ := pair(t, Stream, loop4)
		c.SetRecvBlocking(false)
		_, err := c.Recv(make([]byte, 8))
		wantCode(t, "recv", err, ErrAsyncRcv)
		var e *Error
		errors.As(err, &e)
		if !e.Temporary() || !errors.Is(err, syscall.EAGAIN) || e.Timeout() {
			t.Fatalf("%v: want temporary EAGAIN, not a timeout", err)
		}
	})
	t.Run("rendezvous cannot listen", func(t *testing.T) {
		s := newSock(t, IPv4, Stream)
		s.SetRendezvous(true)
		s.Bind(loop4)
		wantCode(t, "listen", s.Listen(1), ErrRdvNoServ)
	})
	t.Run("bad epoll", func(t *testing.T) {
		s := newSock(t, IPv4, Stream)
		wantCode(t, "add to bad epoll", Epoll(123456).AddUsock(s.ID(), EventIn), ErrInvPollID)
		wantCode(t, "add a bad socket", Epoll(123456).AddUsock(1, EventIn), ErrInvSock)
		wantCode(t, "no events", Epoll(1).AddUsock(1, 0), ErrInvParam)
		wantCode(t, "unknown events", Epoll(1).AddUsock(1, 0x40), ErrInvParam)
	})
	t.Run("bad file arguments", func(t *testing.T) {
		c, _ := pair(t, Stream, loop4)
		for _, tc := range []struct {
			path         string
			off, size    int64
			block        int
			wantInMessge string
		}{
			{"", 0, 1, 0, "path is empty"},
			{"/x\x00y", 0, 1, 0, "NUL"},
			{"/etc/hostname", -1, 1, 0, "offset"},
			{"/etc/hostname", 0, -5, 0, "size"},
			{"/etc/hostname", 0, 1, -1, "block"},
		} {
			_, err := c.SendFile(tc.path, tc.off, tc.size, tc.block)
			wantCode(t, "sendfile", err, ErrInvParam)
			if !strings.Contains(err.Error(), tc.wantInMessge) {
				t.Errorf("SendFile(%q, %d, %d, %d) = %v, want it to mention %q", tc.path, tc.off, tc.size, tc.block, err, tc.wantInMessge)
			}
			_, err = c.RecvFile(tc.path, tc.off, tc.size, tc.block)
			wantCode(t, "recvfile", err, ErrInvParam)
		}
	})
}

func TestConnectToNobody(t *testing.T) {
	t.Parallel()
	// A UDP port with nobody behind it: UDT's handshake times out (about 3 s).
	c := newSock(t, IPv4, Stream)
	start := time.Now()
	err := c.Connect(netip.MustParseAddrPort("127.0.0.1:9"))
	wantCode(t, "connect", err, ErrNoServer)
	var ne net.Error
	if !errors.Is(err, syscall.ETIMEDOUT) || !errors.As(err, &ne) || !ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%v: want ETIMEDOUT and a net.Error timeout, not a deadline", err)
	}
	t.Logf("connect to a dead port failed after %v", time.Since(start).Round(time.Millisecond))
}

func TestErrorText(t *testing.T) {
	e := &Error{Op: "connect", Code: ErrNoServer, Msg: "Connection setup failure: connection time out."}
	want := "udt connect: Connection setup failure: connection time out. (ENOSERVER 1001)"
	if e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
	if ErrNoServer.Error() != "udt: ENOSERVER (1001)" || ErrorCode(77).String() != "E77" {
		t.Fatalf("ErrorCode text: %q %q", ErrNoServer.Error(), ErrorCode(77).String())
	}
	if CodeOf(nil) != Success || CodeOf(errors.New("x")) != ErrUnknown || CodeOf(e) != ErrNoServer {
		t.Fatal("CodeOf")
	}
	wrapped := &net.OpError{Op: "dial", Net: "udt", Err: e}
	if !errors.Is(wrapped, ErrNoServer) || CodeOf(wrapped) != ErrNoServer || errors.Is(wrapped, ErrConnRej) {
		t.Fatal("code not reachable through net.OpError")
	}
	if errors.Is(e, syscall.Errno(0)) || errors.Is(&Error{Code: ErrPeerErr}, syscall.Errno(0)) {
		t.Fatal("Errno(0) matched")
	}
	if StatusConnected.String() != "CONNECTED" || Status(0).String() != "Status(0)" {
		t.Fatal("Status.String")
	}
	if (EventIn|EventOut).String() != "IN|OUT" || Events(0x10).String() != "0x10" {
		t.Fatalf("Events.String: %q %q", (EventIn | EventOut).String(), Events(0x10).String())
	}
}

func TestPerfmon(t *testing.T) {
	t.Parallel()
	c, s := pair(t, Stream, loop4)
	const n = 8 << 20
	done := make(chan error, 1)
	go func() { _, err := recvAll(s, n); done <- err }()
	if _, err := sendAll(c, pattern(7), n); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p, err := c.Perfmon(true)
	if err != nil {
		t.Fatal(err)
	}
	mss, _ := c.MSS()
	if p.PktSentTotal < n/int64(mss) || p.PktSent != p.PktSentTotal {
		t.Fatalf("sent %d packets in total, %d this interval, for %d bytes", p.PktSentTotal, p.PktSent, n)
	}
	if p.PktRecvACKTotal == 0 || p.RTT <= 0 || p.PktFlowWindow <= 0 || p.PktCongestionWindow <= 0 || p.TimeStamp <= 0 {
		t.Fatalf("implausible stats: %+v", p)
	}
	after, _ := c.Perfmon(false)
	if after.PktSent != 0 || after.PktSentTotal != p.PktSentTotal {
		t.Fatalf("clear did not reset the interval: before %d/%d, after %d/%d", p.PktSent, p.PktSentTotal, after.PktSent, after.PktSentTotal)
	}
	rp, _ := s.Perfmon(false)
	if rp.PktRecvTotal < n/int64(mss) || rp.PktSentACKTotal == 0 {
		t.Fatalf("receiver stats: %+v", rp)
	}
	closed, _ := NewSocket(IPv4, Stream)
	closed.Close()
	_, err = closed.Perfmon(false)
	wantCode(t, "perfmon on closed", err, ErrInvSock)
}

func TestEpoll(t *testing.T) {
	t.Parallel()
	c, s := pair(t, Stream, loop4)
	l, la := listener(t, Stream, loop4)
	ep, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Release()
	if err := ep.AddUsock(s.ID(), EventIn); err != nil {
		t.Fatal(err)
	}
	if err := ep.AddUsock(c.ID(), EventOut); err != nil {
		t.Fatal(err)
	}
	if err := ep.AddUsock(l.ID(), EventIn); err != nil {
		t.Fatal(err)
	}
	ev := EpollEvents{Read: make([]SocketID, 0, 8), Write: make([]SocketID, 0, 8)}
	n, err := ep.Wait(&ev, timeoutUpperBound)
	if err != nil || n != 1 || len(ev.Read) != 0 || len(ev.Write) != 1 || ev.Write[0] != c.ID() {
		t.Fatalf("Wait = %d, %v, %+v; want only the client writable", n, err, ev)
	}
	c.Send([]byte("data"))
	go newSock(t, IPv4, Stream).Connect(la)
	deadline := time.Now().Add(timeoutUpperBound)
	var sawData, sawAccept bool
	for !(sawData && sawAccept) && time.Now().Before(deadline) {
		ev = EpollEvents{Read: make([]SocketID, 0, 8), Write: make([]SocketID, 0, 8)}
		if _, err := ep.Wait(&ev, 100*time.Millisecond); err != nil && CodeOf(err) != ErrTimeout {
			t.Fatal(err)
		}
		for _, id := range ev.Read {
			sawData = sawData || id == s.ID()
			sawAccept = sawAccept || id == l.ID()
		}
	}
	if !sawData || !sawAccept {
		t.Fatalf("readable data %v, pending accept %v", sawData, sawAccept)
	}

	// A capacity of zero asks for nothing of that kind.
	ev = EpollEvents{Write: make([]SocketID, 0, 8)}
	if n, err := ep.Wait(&ev, 0); err != nil || len(ev.Read) != 0 || len(ev.Write) != 1 || n < 1 {
		t.Fatalf("write-only Wait = %d, %v, %+v", n, err, ev)
	}

	// Removed, then nothing: the wait times out with UDT's 6003.
	for _, id := range []SocketID{s.ID(), c.ID(), l.ID()} {
		if err := ep.RemoveUsock(id); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	_, err = ep.Wait(&EpollEvents{Read: make([]SocketID, 0, 8)}, 30*time.Millisecond)
	wantCode(t, "empty wait", err, ErrTimeout)
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) < 25*time.Millisecond {
		t.Fatalf("timeout after %v: %v", time.Since(start), err)
	}

	// System sockets: a UDP socket with a datagram waiting is readable.
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	raw, _ := u.SyscallConn()
	var fd int
	raw.Control(func(f uintptr) { fd = int(f) })
	if err := ep.AddSsock(fd, EventIn); err != nil {
		t.Fatal(err)
	}
	w, _ := net.DialUDP("udp4", nil, u.LocalAddr().(*net.UDPAddr))
	defer w.Close()
	w.Write([]byte("hi"))
	ev = EpollEvents{SysRead: make([]int32, 0, 4)}
	if _, err := ep.Wait(&ev, timeoutUpperBound); err != nil || len(ev.SysRead) != 1 || int(ev.SysRead[0]) != fd {
		t.Fatalf("system socket Wait: %v %+v", err, ev)
	}
	if err := ep.RemoveSsock(fd); err != nil {
		t.Fatal(err)
	}
	if err := ep.Release(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "released epoll", ep.AddUsock(s.ID(), EventIn), ErrInvPollID)
}

func TestSendFileRefusesMissingFile(t *testing.T) {
	t.Parallel()
	c, _ := pair(t, Stream, loop4)
	_, err := c.SendFile("/nonexistent/file", 0, 10, 0)
	if err == nil {
		t.Fatal("SendFile of a missing file succeeded")
	}
	if code := CodeOf(err); code/1000 != 4 {
		t.Fatalf("SendFile of a missing file: %v, want a file error (4xxx)", err)
	}
}

func TestLastErrorMirror(t *testing.T) {
	// Only meaningful on one OS thread: that is why every call returns its
	// own error instead.
	lockThread(t)
	_, err := NewSocket(IPv4, Stream)
	if err != nil {
		t.Fatal(err)
	}
	closed, _ := NewSocket(IPv4, Stream)
	closed.Close()
	_, err = closed.Recv(make([]byte, 1))
	if cudt.LastErrorCode() != int(ErrInvSock) || !bytes.Contains([]byte(err.Error()), []byte(cudt.LastErrorDesc())) {
		t.Fatalf("last error %d %q, call said %v", cudt.LastErrorCode(), cudt.LastErrorDesc(), err)
	}
}

func TestBindRefusesAnotherAddressOnAPortUDTRuns(t *testing.T) {
	t.Parallel()
	_, la := listener(t, Stream, loop4)
	other := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), la.Port())
	s := newSock(t, IPv4, Stream)
	err := s.Bind(other)
	wantCode(t, "bind to another address on the same port", err, ErrSockFail)
	if !strings.Contains(err.Error(), "shares ports by number") || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("unclear error: %v", err)
	}
	if st := s.SockState(); st != StatusInit {
		t.Fatalf("after the refused bind the socket is %v; want it unspent (INIT)", st)
	}
	for _, fd := range udpFDs(t, int(la.Port())) {
		if a, _ := syssock.LocalAddr(fd); syssock.SameAddr(a.Addr(), other.Addr()) {
			t.Fatalf("the descriptor opened for %v leaked (fd %d)", other, fd)
		}
	}
}

func TestBind2LeavesTheCallersDescriptor(t *testing.T) {
	t.Parallel()
	open := func() int {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	valid := func(fd int) bool {
		_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
		return errno == 0
	}
	// Failure: the socket is closed, UDT refuses before using the duplicate.
	fd := open()
	closed, _ := NewSocket(IPv4, Stream)
	closed.Close()
	wantCode(t, "bind2 on a closed socket", closed.Bind2(fd), ErrInvSock)
	if !valid(fd) || len(udpFDs(t, portOf(t, fd))) != 1 {
		t.Fatalf("after a failed Bind2: caller's fd valid %v, %d descriptors on its port", valid(fd), len(udpFDs(t, portOf(t, fd))))
	}
	syscall.Close(fd)
	// Success: UDT runs on its duplicate, the caller may close its own.
	fd = open()
	port := portOf(t, fd)
	s := newSock(t, IPv4, Stream)
	if err := s.Bind2(fd); err != nil {
		t.Fatal(err)
	}
	if !valid(fd) {
		t.Fatal("Bind2 took the caller's descriptor")
	}
	syscall.Close(fd)
	if got := udpFDs(t, port); len(got) != 1 || !cloexec(t, got[0]) {
		t.Fatalf("UDT's duplicate: %v", got)
	}
}

func portOf(t testing.TB, fd int) int {
	a, err := syssock.LocalAddr(fd)
	if err != nil {
		t.Fatal(err)
	}
	return int(a.Port())
}

func TestConnectRendezvousNeedsBind(t *testing.T) {
	t.Parallel()
	s := newSock(t, IPv4, Stream)
	s.SetRendezvous(true)
	wantCode(t, "rendezvous connect unbound", s.Connect(netip.MustParseAddrPort("127.0.0.1:9")), ErrRdvUnbound)
}

func TestEpollWaitCountsWhatItFilled(t *testing.T) {
	t.Parallel()
	ep, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Release()
	for range 3 {
		c, _ := pair(t, Stream, loop4)
		ep.AddUsock(c.ID(), EventOut)
	}
	ev := EpollEvents{Write: make([]SocketID, 0, 1)}
	if n, err := ep.Wait(&ev, timeoutUpperBound); err != nil || n != 1 || len(ev.Write) != 1 {
		t.Fatalf("Wait with room for one of three = %d, %v, %v", n, err, ev)
	}
	_, err = ep.Wait(nil, 0)
	wantCode(t, "Wait(nil)", err, ErrInvParam)
}

// childDescriptors lists what a child process inherits beyond its standard
// input, output and error: its descriptors' numbers and targets.
func childDescriptors(t testing.TB) []string {
	t.Helper()
	// ls runs as the shell's child: the listing is of the shell's own
	// descriptors, which are what the test process passed it.
	out, err := exec.Command("sh", "-c", `ls -l /proc/$$/fd/; true`).Output()
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if n := len(f); n >= 3 && f[n-2] == "->" && f[n-3] != "0" && f[n-3] != "1" && f[n-3] != "2" {
			fds = append(fds, f[n-3]+"="+f[n-1])
		}
	}
	return fds
}

// TestChildInheritsNoDescriptor uses every kind of socket the library
// makes (a listener and dials, a Transport, a rendezvous, a one-to-one
// Epoll, a file transfer), then spawns a child: it must inherit nothing
// the library or UDT opened, UDT's epoll instances included.
func TestChildInheritsNoDescriptor(t *testing.T) {
	// Not parallel: it compares what a child inherits from the whole process.
	before := childDescriptors(t)
	ln := serveEach(t, func(c net.Conn) { io.Copy(c, c); c.Close() })
	c, err := Dial("udt", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	ta, tb := loopTransport(t), loopTransport(t)
	rendezvousPair(t,
		func(ctx context.Context) (*Conn, error) { return ta.Rendezvous(ctx, "udt", tb.LocalAddr().String()) },
		func(ctx context.Context) (*Conn, error) { return tb.Rendezvous(ctx, "udt", ta.LocalAddr().String()) })
	tl, err := ta.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	ep, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Release()
	if err := ep.AddUsock(c.(*Conn).Socket().ID(), EventIn); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir() + "/src"
	if err := os.WriteFile(src, bytes.Repeat([]byte("udt"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	fc, fs := pair(t, Stream, loop4)
	done := make(chan error, 1)
	go func() { _, err := fs.RecvFile(t.TempDir()+"/dst", 0, 3000, 1<<20); done <- err }()
	if _, err := fc.SendFile(src, 0, 3000, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	after := childDescriptors(t)
	left := map[string]int{}
	for _, d := range before {
		left[d]++
	}
	var inherited []string
	for _, d := range after {
		if left[d] > 0 {
			left[d]--
			continue
		}
		inherited = append(inherited, d)
	}
	if len(inherited) > 0 {
		t.Fatalf("a child inherited %v (it inherits %v from the test's own process)", inherited, before)
	}
	// UDT's epoll instances are among what it would have inherited.
	if !strings.Contains(strings.Join(processDescriptors(t), " "), "anon_inode:[eventpoll]") {
		t.Fatal("the process has no epoll instance: the check proves nothing")
	}
}

// processDescriptors lists this process's own descriptors' targets.
func processDescriptors(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// msgPair is one datagram connection with a small send buffer, so the
// "larger than the send buffer" edge is cheap to reach.
func msgPair(f *testing.F) (client, server Socket, limit int) {
	const sndbuf = 64 << 10
	l, la := listener(f, Datagram, loop4)
	c, s := dialAccept(f, l, la, Datagram, func(s Socket) {
		if err := s.SetSendBuffer(sndbuf); err != nil {
			f.Fatal(err)
		}
	})
	// No UDT_RCVTIMEO: with it, recvmsg waits for the next packet even
	// when a whole message is queued (see docs/udt4-behaviour.md).
	// The go test timeout bounds a real hang.
	// UDT keeps the send buffer in packets of MSS-28 bytes, each carrying
	// MSS-44 bytes of data, and refuses a message longer than all of them.
	mss, err := c.MSS()
	if err != nil {
		f.Fatal(err)
	}
	return c, s, sndbuf / (mss - udpIPHeaders) * (mss - udpIPHeaders - 16)
}

// FuzzMessageSizes sends two messages of fuzzed sizes and reads the first
// into a buffer of fuzzed size: it arrives cut to the buffer, the second
// arrives whole after it, an empty or oversized message is refused with its
// own error, and nothing panics.
func FuzzMessageSizes(f *testing.F) {
	f.Add(uint32(1), uint32(1), uint32(1), false)
	f.Add(uint32(0), uint32(5), uint32(0), true)
	f.Add(uint32(1456), uint32(1457), uint32(1456), true)
	f.Add(uint32(64064), uint32(64065), uint32(1<<20), true)
	f.Add(uint32(5000), uint32(100), uint32(4999), false)
	f.Add(uint32(1<<24), uint32(7), uint32(3), true)
	c, s, limit := msgPair(f)
	f.Fuzz(func(t *testing.T, n1, n2, bufLen uint32, inOrder bool) {
		n1, n2 = n1%(1<<17), n2%(1<<17)
		bufLen %= 1 << 17
		m1 := bytes.Repeat([]byte{byte(n1), byte(n2)}, int(n1+1)/2)[:n1]
		m2 := bytes.Repeat([]byte{byte(n2 + 1)}, int(n2))
		sent := 0
		for _, m := range [][]byte{m1, m2} {
			_, err := c.SendMsg(m, 0, inOrder)
			switch {
			case len(m) == 0:
				if CodeOf(err) != ErrInvParam || !strings.Contains(err.Error(), "at least one byte") {
					t.Fatalf("empty message: %v", err)
				}
			case len(m) > limit:
				if CodeOf(err) != ErrLargeMsg {
					t.Fatalf("message of %d bytes (limit %d): %v, want ErrLargeMsg", len(m), limit, err)
				}
			case err != nil:
				t.Fatalf("message of %d bytes (limit %d): %v", len(m), limit, err)
			default:
				sent++
			}
		}
		if sent == 0 {
			return
		}
		first, second := m1, m2
		if len(m1) == 0 || len(m1) > limit {
			first, second = m2, nil
		} else if len(m2) == 0 || len(m2) > limit {
			second = nil
		}
		// A zero-length read takes nothing and leaves the message queued.
		if n, err := s.RecvMsg(nil); n != 0 || err != nil {
			t.Fatalf("RecvMsg(nil) = %d, %v", n, err)
		}
		buf := make([]byte, bufLen)
		n, err := s.RecvMsg(buf)
		if bufLen == 0 {
			buf = make([]byte, len(first))
			n, err = s.RecvMsg(buf)
		}
		want := first[:min(len(first), len(buf))]
		if err != nil || !bytes.Equal(buf[:n], want) {
			t.Fatalf("first message (%d bytes into %d): got %d bytes, %v", len(first), len(buf), n, err)
		}
		if second != nil {
			buf = make([]byte, len(second)+1)
			n, err := s.RecvMsg(buf)
			if err != nil || !bytes.Equal(buf[:n], second) {
				t.Fatalf("second message (%d bytes): got %d bytes, %v", len(second), n, err)
			}
		}
	})
}

// Bad input to the one-to-one layer: each call refuses it with an error
// that names what was wrong (docs/badinput.md).
func TestBadInputRawAPI(t *testing.T) {
	t.Parallel()
	fresh := newSock(t, IPv4, Stream)
	closed, err := NewSocket(IPv4, Stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	l, la := listener(t, Stream, loop4)
	c, sv := dialAccept(t, l, la, Stream)
	dc, ds := pair(t, Datagram, loop4)

	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, bytes.Repeat([]byte{7}, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	tcp, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(tcp) })
	unbound, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(unbound) })
	v6fd, err := openUDP(IPv6, loop6)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(v6fd) })
	ep, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Release() })
	released, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	if err := released.Release(); err != nil {
		t.Fatal(err)
	}
	b := []byte("x")
	inval := []error{ErrInvParam, syscall.EINVAL}
	gone := []error{net.ErrClosed, syscall.EBADF}

	runBad(t, []badCase{
		// socket
		{"NewSocket bad family", func() error { return errOnly(NewSocket(Family(99), Stream)) }, inval, ErrInvParam, []string{"address family", "Family(99)"}},
		{"NewSocket bad type", func() error { return errOnly(NewSocket(IPv4, SocketType(9))) }, inval, ErrInvParam, []string{"socket type", "SocketType(9)"}},

		// bind, bind2
		{"Bind zero address", func() error { return fresh.Bind(netip.AddrPort{}) }, inval, ErrInvParam, []string{"bind", "address is not set"}},
		{"Bind IPv6 on IPv4", func() error { return fresh.Bind(loop6) }, inval, ErrInvParam, []string{"IPv4 socket needs an IPv4 address", "::1"}},
		{"Bind zero Socket", func() error { return Socket{}.Bind(loop4) }, inval, ErrInvParam, []string{"no IPv4 or IPv6 family"}},
		{"Bind closed", func() error { return closed.Bind(loop4) }, gone, ErrInvSock, []string{"bind"}},
		{"Bind2 -1", func() error { return fresh.Bind2(-1) }, inval, ErrInvParam, []string{"descriptor -1 is not a socket"}},
		{"Bind2 TCP", func() error { return fresh.Bind2(tcp) }, inval, ErrInvParam, []string{"is not a UDP socket"}},
		{"Bind2 unbound", func() error { return fresh.Bind2(unbound) }, inval, ErrInvParam, []string{"is not bound"}},
		{"Bind2 family", func() error { return fresh.Bind2(v6fd) }, inval, ErrInvParam, []string{"IPv6 socket, the UDT socket is IPv4"}},

		// listen, accept, connect at the wrong time
		{"Listen 0", func() error { return fresh.Listen(0) }, inval, ErrInvParam, []string{"backlog", "not 0"}},
		{"Listen -1", func() error { return fresh.Listen(-1) }, inval, ErrInvParam, []string{"backlog", "-1"}},
		{"Listen unbound", func() error { return fresh.Listen(1) }, []error{ErrUnboundSock}, ErrUnboundSock, []string{"UNBOUND", "the socket is INIT"}},
		{"Listen on a connection", func() error { return c.Listen(1) }, nil, ErrUnboundSock, []string{"the socket is CONNECTED", "cannot listen"}},
		{"Listen closed", func() error { return closed.Listen(1) }, gone, ErrInvSock, []string{"listen"}},
		{"Accept on a connection", func() error { return errOnly2(c.Accept()) }, nil, ErrNoListen, []string{"accept", "CONNECTED"}},
		{"Accept unbound", func() error { return errOnly2(fresh.Accept()) }, nil, ErrNoListen, []string{"listening", "INIT"}},
		{"Accept closed", func() error { return errOnly2(closed.Accept()) }, gone, ErrInvSock, []string{"accept"}},
		{"Connect zero address", func() error { return fresh.Connect(netip.AddrPort{}) }, inval, ErrInvParam, []string{"connect", "address is not set"}},
		{"Connect port 0", func() error { return fresh.Connect(netip.MustParseAddrPort("127.0.0.1:0")) }, inval, ErrInvParam, []string{"port 0", "127.0.0.1"}},
		{"Connect IPv6 on IPv4", func() error { return fresh.Connect(netip.MustParseAddrPort("[::1]:9")) }, inval, ErrInvParam, []string{"IPv4 socket needs an IPv4 address"}},
		{"Connect a listener", func() error { return l.Connect(la) }, []error{syscall.EISCONN}, ErrConnSock, []string{"LISTENING", "a listener only accepts"}},
		{"Connect a connection", func() error { return c.Connect(la) }, []error{syscall.EISCONN}, ErrConnSock, []string{"CONNECTED"}},
		{"Connect closed", func() error { return closed.Connect(la) }, gone, ErrInvSock, []string{"connect"}},
		{"PeerName unconnected", func() error { return errOnly(fresh.PeerName()) }, []error{syscall.ENOTCONN}, ErrNoConn, []string{"getpeername", "INIT"}},

		// a listener asked what belongs to a connection
		{"Send on a listener", func() error { return errOnly(l.Send(b)) }, []error{syscall.ENOTCONN}, ErrNoConn, []string{"send", "LISTENING", "Accept returns"}},
		{"Recv on a listener", func() error { return errOnly(l.Recv(make([]byte, 8))) }, []error{syscall.ENOTCONN}, ErrNoConn, []string{"recv", "LISTENING"}},
		{"SendFile on a listener", func() error { return errOnly(l.SendFile(file, 0, 10, 0)) }, nil, ErrNoConn, []string{"sendfile", "LISTENING"}},
		{"Perfmon on a listener", func() error { return errOnly(l.Perfmon(false)) }, nil, ErrNoConn, []string{"perfmon", "LISTENING"}},
		{"Send unconnected", func() error { return errOnly(fresh.Send(b)) }, []error{syscall.ENOTCONN}, ErrNoConn, []string{"send", "INIT"}},

		// stream and message calls crossed
		{"Send on datagram", func() error { return errOnly(dc.Send(b)) }, nil, ErrDgramIll, []string{"send", "SOCK_DGRAM"}},
		{"Recv on datagram", func() error { return errOnly(ds.Recv(make([]byte, 8))) }, nil, ErrDgramIll, []string{"recv", "SOCK_DGRAM"}},
		{"SendFile on datagram", func() error { return errOnly(dc.SendFile(file, 0, 10, 0)) }, nil, ErrDgramIll, []string{"sendfile"}},
		{"SendMsg on stream", func() error { return errOnly(c.SendMsg(b, 0, true)) }, nil, ErrStreamIll, []string{"sendmsg", "SOCK_STREAM"}},
		{"RecvMsg on stream", func() error { return errOnly(sv.RecvMsg(make([]byte, 8))) }, nil, ErrStreamIll, []string{"recvmsg", "SOCK_STREAM"}},

		// buffers and sizes
		{"SendMsg nil", func() error { return errOnly(dc.SendMsg(nil, 0, true)) }, inval, ErrInvParam, []string{"sendmsg", "at least one byte"}},
		{"SendMsg empty", func() error { return errOnly(dc.SendMsg([]byte{}, time.Second, false)) }, inval, ErrInvParam, []string{"at least one byte"}},
		{"SendMsg larger than the send buffer", func() error { return errOnly(dc.SendMsg(make([]byte, 13<<20), 0, true)) }, []error{syscall.EMSGSIZE}, ErrLargeMsg, []string{"sendmsg", "too large", "send buffer"}},
		{"SendFile empty path", func() error { return errOnly(c.SendFile("", 0, 1, 0)) }, inval, ErrInvParam, []string{"sendfile", "path is empty"}},
		{"SendFile NUL path", func() error { return errOnly(c.SendFile("a\x00b", 0, 1, 0)) }, inval, ErrInvParam, []string{"NUL"}},
		{"SendFile negative offset", func() error { return errOnly(c.SendFile(file, -1, 1, 0)) }, inval, ErrInvParam, []string{"offset must not be negative", "-1"}},
		{"SendFile negative size", func() error { return errOnly(c.SendFile(file, 0, -5, 0)) }, inval, ErrInvParam, []string{"size must not be negative", "-5"}},
		{"SendFile negative block", func() error { return errOnly(c.SendFile(file, 0, 1, -1)) }, inval, ErrInvParam, []string{"block must be"}},
		{"SendFile offset+size overflow", func() error { return errOnly(c.SendFile(file, math.MaxInt64, 1, 0)) }, inval, ErrInvParam, []string{"overflows"}},
		{"SendFile missing file", func() error { return errOnly(c.SendFile(filepath.Join(dir, "nope"), 0, 1, 0)) }, []error{fs.ErrNotExist}, ErrRdPerm, []string{"sendfile", "nope", "no such file"}},
		{"SendFile directory", func() error { return errOnly(c.SendFile(dir, 0, 1, 0)) }, nil, ErrFile, []string{"not a regular file"}},
		{"SendFile offset past the end", func() error { return errOnly(c.SendFile(file, 5000, 1, 0)) }, nil, ErrInvRdOff, []string{"offset 5000", "past the end", "1000 bytes"}},
		{"SendFile size past the end", func() error { return errOnly(c.SendFile(file, 10, 991, 0)) }, nil, ErrInvRdOff, []string{"size 991", "past the end"}},
		{"RecvFile into a directory", func() error { return errOnly(sv.RecvFile(dir, 0, 1, 0)) }, nil, ErrWrPerm, []string{"recvfile", "is a directory"}},
		{"RecvFile missing directory", func() error { return errOnly(sv.RecvFile(filepath.Join(dir, "no", "f"), 0, 1, 0)) }, []error{fs.ErrNotExist}, ErrWrPerm, []string{"recvfile", "no such file"}},
		{"RecvFile negative offset", func() error { return errOnly(sv.RecvFile(file, -3, 1, 0)) }, inval, ErrInvParam, []string{"offset must not be negative"}},
		{"RecvFile huge block", func() error { return errOnly(sv.RecvFile(file, 0, 1, 1<<40)) }, inval, ErrInvParam, []string{"block must be"}},

		// options out of range, of the wrong type, at the wrong time
		{"MSS larger than UDP", func() error { return fresh.SetMSS(65536) }, inval, ErrInvParam, []string{"UDT_MSS", "65536", "UDP datagram"}},
		{"MSS below UDT's headers", func() error { return fresh.SetMSS(10) }, inval, ErrInvParam, []string{"UDT_MSS", "MSS 10", "below 76"}},
		{"flow window above MaxFlowWindow", func() error { return fresh.SetFlowWindow(MaxFlowWindow + 1) }, inval, ErrInvParam, []string{"UDT_FC", "MaxFlowWindow"}},
		{"send buffer below one packet", func() error { return fresh.SetSendBuffer(100) }, inval, ErrInvParam, []string{"UDT_SNDBUF", "holds no packet"}},
		{"SetSockOpt nil value", func() error { return fresh.SetSockOpt(OptMSS, nil) }, inval, ErrInvParam, []string{"UDT_MSS", "must be int, not <nil>"}},
		{"SetSockOpt bad option", func() error { return fresh.SetSockOpt(Option(-7), 1) }, inval, ErrInvParam, []string{"unknown option", "Option(-7)"}},
		{"MSS after connect", func() error { return c.SetMSS(1400) }, nil, ErrBoundSock, []string{"UDT_MSS", "BOUND"}},
		{"set option closed", func() error { return closed.SetMSS(1400) }, gone, ErrInvSock, []string{"UDT_MSS"}},
		{"get option closed", func() error { return errOnly(closed.GetSockOpt(OptFC)) }, gone, ErrInvSock, []string{"UDT_FC"}},
		{"Perfmon closed", func() error { return errOnly(closed.Perfmon(true)) }, gone, ErrInvSock, []string{"perfmon"}},

		// use after close
		{"Send closed", func() error { return errOnly(closed.Send(b)) }, gone, ErrInvSock, []string{"send"}},
		{"Recv closed", func() error { return errOnly(closed.Recv(b)) }, gone, ErrInvSock, []string{"recv"}},
		{"SendMsg closed", func() error { return errOnly(closed.SendMsg(b, 0, false)) }, gone, ErrInvSock, []string{"sendmsg"}},
		{"RecvMsg closed", func() error { return errOnly(closed.RecvMsg(b)) }, gone, ErrInvSock, []string{"recvmsg"}},
		{"Close closed", func() error { return closed.Close() }, gone, ErrInvSock, []string{"close"}},

		// epoll
		{"Wait unknown epoll", func() error { return errOnly(Epoll(-5).Wait(&EpollEvents{}, 0)) }, nil, ErrInvPollID, []string{"epoll_wait", "Invalid epoll ID"}},
		{"Wait nil events", func() error { return errOnly(ep.Wait(nil, 0)) }, inval, ErrInvParam, []string{"events must not be nil"}},
		{"AddUsock closed", func() error { return ep.AddUsock(closed.ID(), EventIn) }, gone, ErrInvSock, []string{"epoll_add_usock"}},
		{"AddUsock no events", func() error { return ep.AddUsock(c.ID(), 0) }, inval, ErrInvParam, []string{"events must be"}},
		{"AddUsock unknown events", func() error { return ep.AddUsock(c.ID(), 0x40) }, inval, ErrInvParam, []string{"events must be", "0x40"}},
		{"AddSsock -1", func() error { return ep.AddSsock(-1, EventIn) }, []error{ErrInvParam, syscall.EBADF}, ErrInvParam, []string{"epoll_add_ssock", "descriptor -1 is not open"}},
		{"RemoveSsock not open", func() error { return ep.RemoveSsock(1 << 20) }, []error{syscall.EBADF}, ErrInvParam, []string{"epoll_remove_ssock", "not open"}},
		{"Release twice", func() error { return released.Release() }, nil, ErrInvPollID, []string{"epoll_release"}},
		{"AddUsock released", func() error { return released.AddUsock(c.ID(), EventIn) }, nil, ErrInvPollID, []string{"epoll_add_usock"}},
	})

	// None of that harmed the sockets it was tried on.
	msg := []byte("still fine")
	if _, err := c.Send(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(recvReader{sv}, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("after bad input: %q, %v", got, err)
	}
	if _, err := dc.SendMsg(msg, 0, true); err != nil {
		t.Fatal(err)
	}
	if n, err := ds.RecvMsg(got); err != nil || !bytes.Equal(got[:n], msg) {
		t.Fatalf("after bad input: %q, %v", got[:n], err)
	}
}

type recvReader struct{ s Socket }

func (r recvReader) Read(b []byte) (int, error) { return r.s.Recv(b) }
