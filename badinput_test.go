package udt

import (
	"bytes"
	"io"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

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
