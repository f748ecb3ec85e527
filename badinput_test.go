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
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badCase is one call with bad input and what its error must say: the
// class (errors.Is targets, and the UDT code where there is one) and the
// words that name what was wrong.
type badCase struct {
	name string
	call func() error
	is   []error   // each must match with errors.Is
	code ErrorCode // 0: no UDT code asserted
	says []string  // each must be in err.Error()
}

// runBad runs each case, turning a panic into that case's failure.
func runBad(t *testing.T, cases []badCase) {
	t.Helper()
	for _, tc := range cases {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = nil
					t.Errorf("%s: panicked: %v", tc.name, r)
				}
			}()
			return tc.call()
		}()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, target := range tc.is {
			if !errors.Is(err, target) {
				t.Errorf("%s: %v: errors.Is(err, %v) is false", tc.name, err, target)
			}
		}
		if tc.code != 0 && CodeOf(err) != tc.code {
			t.Errorf("%s: %v: code %v, want %v", tc.name, err, CodeOf(err), tc.code)
		}
		for _, w := range tc.says {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
	}
}

func errOnly[T any](_ T, err error) error { return err }

func errOnly2[T, U any](_ T, _ U, err error) error { return err }

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

// badConfigs are Configs that validate must refuse, each with the field its
// error must name.
var badConfigs = []struct {
	cfg  Config
	says string
}{
	{Config{MSS: -1}, "Config.MSS"},
	{Config{MSS: 10}, "Config.MSS"},
	{Config{MSS: 70000}, "Config.MSS"},
	{Config{FlowWindow: -1}, "Config.FlowWindow"},
	{Config{FlowWindow: MaxFlowWindow + 1}, "Config.FlowWindow"},
	{Config{SendBuffer: -1}, "Config.SendBuffer"},
	{Config{SendBuffer: 100}, "Config.SendBuffer"},
	{Config{MSS: 9000, SendBuffer: 8000}, "Config.SendBuffer"},
	{Config{RecvBuffer: 1 << 40}, "Config.RecvBuffer"},
	{Config{UDPSendBuffer: -1}, "Config.UDPSendBuffer"},
	{Config{UDPRecvBuffer: 1 << 31}, "Config.UDPRecvBuffer"},
	{Config{MaxSendRate: -1}, "Config.MaxSendRate"},
	{Config{MaxSendRate: 7}, "Config.MaxSendRate"},
	{Config{Message: true, MessageTTL: -time.Second}, "Config.MessageTTL"},
	{Config{MessageTTL: time.Second}, "Config.Message"},
	{Config{MessageUnordered: true}, "Config.Message"},
	{Config{Linger: 1500 * time.Millisecond}, "Config.Linger"},
	{Config{Linger: (1 << 31) * time.Second}, "Config.Linger"},
	{Config{CongestionControl: CongestionControl{Kind: 9}}, "Config.CongestionControl"},
	{Config{CongestionControl: CongestionControl{Kind: CCFixedRate}}, "Config.CongestionControl"},
	{Config{CongestionControl: CongestionControl{Kind: CCFixedRate, Mbps: math.NaN()}}, "Config.CongestionControl"},
}

func TestBadInputNetLayer(t *testing.T) {
	t.Parallel()
	ln, err := Listen("udt", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	laddr := ln.Addr().String()
	accepted := make(chan net.Conn, 16)
	// Cleanups run last first: the listener closes, then the accept loop
	// ends and what it accepted is closed.
	t.Cleanup(func() {
		for c := range accepted {
			c.Close()
		}
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func(d Dialer, network, addr string) func() error {
		return func() error {
			c, err := d.Dial(network, addr)
			if err == nil {
				c.Close()
			}
			return err
		}
	}
	listen := func(lc ListenConfig, network, addr string) func() error {
		return func() error {
			l, err := lc.Listen(context.Background(), network, addr)
			if err == nil {
				l.Close()
			}
			return err
		}
	}
	resolveErr := func(network, addr string) func() error {
		return func() error { return errOnly(ResolveAddr(network, addr)) }
	}
	var d Dialer
	var lc ListenConfig

	cases := []badCase{
		{"Dial tcp", dial(d, "tcp", laddr), nil, 0, []string{"dial", "unknown network tcp"}},
		{"Dial empty network", dial(d, "", laddr), nil, 0, []string{"unknown network"}},
		{"Listen udp", listen(lc, "udp", "127.0.0.1:0"), nil, 0, []string{"listen", "unknown network udp"}},
		{"ResolveAddr UDT", resolveErr("UDT", "127.0.0.1:1"), nil, 0, []string{"unknown network UDT"}},
		{"Dial no port", dial(d, "udt", "127.0.0.1"), nil, 0, []string{"missing port in address"}},
		{"Dial port too big", dial(d, "udt", "127.0.0.1:99999"), nil, 0, []string{"invalid port", "99999"}},
		{"Dial negative port", dial(d, "udt", "127.0.0.1:-1"), nil, 0, []string{"invalid port"}},
		{"Dial unknown service", dial(d, "udt", "127.0.0.1:no-such-service"), nil, 0, []string{"invalid port", "no-such-service"}},
		{"Dial bad brackets", dial(d, "udt", "[::1:80"), nil, 0, []string{"missing ']'"}},
		{"Dial unresolvable", dial(d, "udt", "no.such.host.invalid:80"), nil, 0, []string{"no.such.host.invalid"}},
		{"Dial malformed host", dial(d, "udt", "bad host!:80"), nil, 0, []string{"bad host!"}},
		{"Dial udt4 to IPv6", dial(d, "udt4", "[::1]:80"), nil, 0, []string{"address is not IPv4", "udt4"}},
		{"Dial udt6 to IPv4", dial(d, "udt6", "127.0.0.1:80"), nil, 0, []string{"address is not IPv6", "udt6"}},
		{"Listen udt6 on IPv4", listen(lc, "udt6", "127.0.0.1:0"), nil, 0, []string{"address is not IPv6"}},
		{"Dial port 0", dial(d, "udt", "127.0.0.1:0"), []error{ErrInvParam}, ErrInvParam, []string{"dial", "port 0"}},
		{"Dial TCP local address", dial(Dialer{LocalAddr: &net.TCPAddr{}}, "udt", laddr), nil, 0, []string{"local address must be *udt.Addr or *net.UDPAddr, not *net.TCPAddr"}},
		{"Dial zero local address", dial(Dialer{LocalAddr: &Addr{}}, "udt", laddr), nil, 0, []string{"invalid local address"}},
		{"Dial local family", dial(Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv6loopback}}, "udt", laddr), nil, 0, []string{"local and remote address families differ"}},
		{"Dial negative timeout", dial(Dialer{Timeout: -1}, "udt", laddr), []error{os.ErrDeadlineExceeded}, 0, []string{"dial"}},
		{"Listen negative backlog", listen(ListenConfig{Backlog: -1}, "udt", "127.0.0.1:0"), nil, 0, []string{"ListenConfig.Backlog", "-1"}},
		{"Listen on a listened port", listen(lc, "udt", laddr), []error{syscall.EADDRINUSE}, ErrDupListen, []string{"listen", laddr}},
	}
	for _, bc := range badConfigs {
		cases = append(cases,
			badCase{"Dial " + bc.says, dial(Dialer{Config: bc.cfg}, "udt", laddr), nil, 0, []string{"dial", bc.says}},
			badCase{"Listen " + bc.says, listen(ListenConfig{Config: bc.cfg}, "udt", "127.0.0.1:0"), nil, 0, []string{"listen", bc.says}})
	}

	// A nil or zero Conn or Listener, as Go's net: EINVAL, no panic.
	var nilConn *Conn
	var zeroConn Conn
	var nilLn *Listener
	einval := []error{syscall.EINVAL}
	for _, c := range []*Conn{nilConn, &zeroConn} {
		cases = append(cases,
			badCase{"nil Conn Read", func() error { return errOnly(c.Read(make([]byte, 1))) }, einval, 0, []string{"read", "nil or zero udt.Conn"}},
			badCase{"nil Conn Write", func() error { return errOnly(c.Write([]byte("x"))) }, einval, 0, []string{"write"}},
			badCase{"nil Conn WriteMsg", func() error { return errOnly(c.WriteMsg([]byte("x"), 0, true)) }, einval, 0, []string{"write"}},
			badCase{"nil Conn Close", c.Close, einval, 0, []string{"close"}},
			badCase{"nil Conn SetDeadline", func() error { return c.SetDeadline(time.Now()) }, einval, 0, []string{"set deadline"}},
			badCase{"nil Conn Stats", func() error { return errOnly(c.Stats()) }, einval, 0, []string{"stats"}},
			badCase{"nil Conn SendFile", func() error { return errOnly(c.SendFile("x", 0, 1)) }, einval, 0, []string{"sendfile"}},
			badCase{"nil Conn RecvFile", func() error { return errOnly(c.RecvFile("x", 0, 1)) }, einval, 0, []string{"recvfile"}},
		)
		if c.LocalAddr() != nil || c.RemoteAddr() != nil || c.Socket() != (Socket{}) {
			t.Errorf("nil Conn: addresses %v %v, socket %v", c.LocalAddr(), c.RemoteAddr(), c.Socket())
		}
	}
	for _, l := range []*Listener{nilLn, {}} {
		cases = append(cases,
			badCase{"nil Listener Accept", func() error { return errOnly(l.Accept()) }, einval, 0, []string{"accept", "nil or zero udt.Listener"}},
			badCase{"nil Listener Close", l.Close, einval, 0, []string{"close"}},
			badCase{"nil Listener SetDeadline", func() error { return l.SetDeadline(time.Time{}) }, einval, 0, []string{"set deadline"}},
		)
		if l.Addr() != nil {
			t.Errorf("nil Listener Addr = %v", l.Addr())
		}
	}

	// Calls on live conns that do not fit them.
	sc, err := Dial("udt", laddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	stream := sc.(*Conn)
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, bytes.Repeat([]byte{1}, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	mln, err := (&ListenConfig{Config: Config{Message: true}}).Listen(context.Background(), "udt", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mln.Close() })
	md := Dialer{Config: Config{Message: true}}
	mc, err := md.Dial("udt", mln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	msgConn := mc.(*Conn)
	ms, err := mln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	cases = append(cases,
		badCase{"WriteMsg on a stream", func() error { return errOnly(stream.WriteMsg([]byte("x"), 0, true)) }, []error{ErrStreamIll}, ErrStreamIll, []string{"message-mode"}},
		badCase{"SendFile in message mode", func() error { return errOnly(msgConn.SendFile(file, 0, 1)) }, []error{ErrDgramIll}, ErrDgramIll, []string{"stream connection"}},
		badCase{"empty message", func() error { return errOnly(msgConn.Write(nil)) }, []error{ErrInvParam}, ErrInvParam, []string{"write", "at least one byte"}},
		badCase{"message larger than the send buffer", func() error { return errOnly(msgConn.Write(make([]byte, 13<<20))) }, []error{ErrLargeMsg, syscall.EMSGSIZE}, ErrLargeMsg, []string{"too large"}},
		badCase{"SendFile negative offset", func() error { return errOnly(stream.SendFile(file, -1, 1)) }, []error{ErrInvParam}, ErrInvParam, []string{"offset must not be negative"}},
		badCase{"SendFile negative size", func() error { return errOnly(stream.SendFile(file, 0, -1)) }, []error{ErrInvParam}, ErrInvParam, []string{"size must not be negative"}},
		badCase{"SendFile overflow", func() error { return errOnly(stream.SendFile(file, 1, math.MaxInt64)) }, []error{ErrInvParam}, ErrInvParam, []string{"overflows"}},
		badCase{"SendFile past the end", func() error { return errOnly(stream.SendFile(file, 999, 2)) }, []error{ErrInvRdOff, io.ErrUnexpectedEOF}, ErrInvRdOff, []string{"past the end", "1000 bytes"}},
		badCase{"SendFile missing file", func() error { return errOnly(stream.SendFile(filepath.Join(dir, "nope"), 0, 1)) }, []error{fs.ErrNotExist}, 0, []string{"nope"}},
		badCase{"RecvFile into a directory", func() error { return errOnly(stream.RecvFile(dir, 0, 1)) }, nil, 0, []string{"is a directory"}},
		badCase{"RecvFile negative size", func() error { return errOnly(stream.RecvFile(file, 0, -2)) }, []error{ErrInvParam}, ErrInvParam, []string{"size must not be negative", "-2"}},
	)
	runBad(t, cases)

	// The stream conn took none of it: a round trip still goes through.
	peer := <-accepted
	if _, err := stream.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	peer.SetDeadline(time.Now().Add(timeoutUpperBound))
	got := make([]byte, 4)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "ping" {
		t.Fatalf("after bad input: %q, %v", got, err)
	}
	peer.Close()

	// Everything after Close is net.ErrClosed, and says which call.
	stream.Close()
	msgConn.Close()
	mln.Close()
	closed := []error{net.ErrClosed}
	runBad(t, []badCase{
		{"Read after Close", func() error { return errOnly(stream.Read(make([]byte, 1))) }, closed, 0, []string{"read"}},
		{"empty Read after Close", func() error { return errOnly(stream.Read(nil)) }, closed, 0, []string{"read"}},
		{"Write after Close", func() error { return errOnly(stream.Write([]byte("x"))) }, closed, 0, []string{"write"}},
		{"WriteMsg after Close", func() error { return errOnly(msgConn.WriteMsg([]byte("x"), 0, true)) }, closed, 0, []string{"write"}},
		{"Read message after Close", func() error { return errOnly(msgConn.Read(make([]byte, 8))) }, closed, 0, []string{"read"}},
		{"SetDeadline after Close", func() error { return stream.SetDeadline(time.Now()) }, closed, 0, []string{"set deadline"}},
		{"SetReadDeadline after Close", func() error { return stream.SetReadDeadline(time.Now()) }, closed, 0, []string{"set deadline"}},
		{"ReadMsg after Close", func() error { _, _, err := msgConn.ReadMsg(make([]byte, 8)); return err }, closed, 0, []string{"read"}},
		{"SetMaxSendRate after Close", func() error { return stream.SetMaxSendRate(Mbps) }, closed, 0, []string{"set max send rate"}},
		{"SendFile after Close", func() error { return errOnly(stream.SendFile(file, 0, 10)) }, closed, 0, []string{"sendfile"}},
		{"RecvFile after Close", func() error { return errOnly(stream.RecvFile(filepath.Join(dir, "r"), 0, 10)) }, closed, 0, []string{"recvfile"}},
		{"Close twice", stream.Close, closed, 0, []string{"close"}},
		{"Accept after Close", func() error { return errOnly(mln.Accept()) }, closed, 0, []string{"accept"}},
		{"Listener SetDeadline after Close", func() error { return mln.(*Listener).SetDeadline(time.Now()) }, closed, 0, []string{"set deadline"}},
		{"Listener Close twice", mln.Close, closed, 0, []string{"close"}},
	})
	// Stats is the exception: it keeps the figures taken at Close.
	if st, err := stream.Stats(); err != nil || !st.Ended || st.Total.BytesWritten == 0 {
		t.Errorf("Stats after Close = %+v, %v; want the final figures", st, err)
	}
}
