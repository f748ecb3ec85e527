package udt

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"time"
)

// ListenConfig configures a listener.
type ListenConfig struct {
	Config Config
	// Backlog is the most connections waiting for Accept (0: 1024).
	Backlog int
}

// Listen listens on address ("host:port"; an empty host is every address)
// on network "udt", "udt4" or "udt6", and returns the *Listener as a
// net.Listener; ListenUDT returns it as it is.
func Listen(network, address string) (net.Listener, error) {
	var lc ListenConfig
	return lc.Listen(context.Background(), network, address)
}

// ListenUDT listens on laddr on network "udt", "udt4" or "udt6", as
// net.ListenTCP does for TCP: laddr nil, or its address unspecified, is
// every address (IPv4 unless the network is "udt6"); port 0 picks a free
// port, which Addr reports.
func ListenUDT(network string, laddr *Addr) (*Listener, error) {
	var lc ListenConfig
	var ap netip.AddrPort
	if laddr != nil {
		ap = laddr.AddrPort
	}
	return lc.listenAddr(network, ap, nil)
}

// Listen listens on address; it returns a *Listener as a net.Listener.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	l, err := lc.listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ListenUDT listens on address, as Listen does, and returns the *Listener.
func (lc *ListenConfig) ListenUDT(ctx context.Context, network, address string) (*Listener, error) {
	return lc.listen(ctx, network, address)
}

func (lc *ListenConfig) listen(ctx context.Context, network, address string) (*Listener, error) {
	laddr, _, err := resolve(ctx, network, address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return lc.listenAddr(network, laddr, nil)
}

// listenAddr listens on laddr (invalid: the unspecified address of the
// network's family, port 0), or on port's UDP port when port is not nil.
func (lc *ListenConfig) listenAddr(network string, laddr netip.AddrPort, port *udpPort) (*Listener, error) {
	opErr := func(laddr net.Addr, err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	if err := lc.Config.validate(); err != nil {
		return nil, opErr(nil, err)
	}
	backlog := lc.Backlog
	if backlog == 0 {
		backlog = 1024
	}
	if backlog < 0 {
		return nil, opErr(nil, fmt.Errorf("udt: ListenConfig.Backlog must be 0 (1024) or more, not %d", backlog))
	}
	want, ok := familyOf(network)
	if !ok {
		return nil, opErr(nil, net.UnknownNetworkError(network))
	}
	if port != nil {
		laddr = port.addr
	}
	if !laddr.IsValid() {
		ip := netip.IPv4Unspecified()
		if want == IPv6 {
			ip = netip.IPv6Unspecified()
		}
		laddr = netip.AddrPortFrom(ip, 0)
	}
	f, err := checkFamily(network, laddr)
	if err != nil {
		return nil, opErr(nil, err)
	}
	p, err := getPoller()
	if err != nil {
		return nil, opErr(newAddr(laddr), err)
	}
	if port != nil {
		if err := port.acquireListener(); err != nil {
			return nil, opErr(newAddr(laddr), err)
		}
	}
	lib := p.lib
	fail := func(err error) (*Listener, error) {
		if port != nil {
			port.release(nil, false)
		}
		return nil, opErr(newAddr(laddr), err)
	}
	s, err := lib.Socket(f, lc.Config.socketType())
	if err != nil {
		return fail(err)
	}
	failClose := func(err error) (*Listener, error) {
		lib.Close(s)
		return fail(err)
	}
	if err := lc.Config.apply(lib, s); err != nil {
		return failClose(err)
	}
	if err := bindFor(lib, port)(s, laddr); err != nil {
		return failClose(err)
	}
	if err := lib.Listen(s, backlog); err != nil {
		return failClose(err)
	}
	fd, err := newFD(p, s)
	if err != nil {
		return failClose(err)
	}
	l := &Listener{fd: fd, cfg: lc.Config, port: port}
	l.fd.cleanup = runtime.AddCleanup(l, func(pd *pollDesc) { closeSocket(pd) }, l.fd.pd)
	if port != nil {
		if err := port.attachListener(fd.pd); err != nil {
			l.fd.cleanup.Stop()
			closeSocket(fd.pd)
			return fail(err)
		}
	}
	return l, nil
}

// Listener accepts UDT connections. It implements net.Listener.
type Listener struct {
	fd   *netFD
	cfg  Config
	port *udpPort // a Transport's, which its connections share
}

var _ net.Listener = (*Listener)(nil)

// Accept waits for the next connection and returns it as a net.Conn (a
// *Conn).
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptUDT()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptUDT waits for the next connection.
func (l *Listener) AcceptUDT() (*Conn, error) {
	if !l.ok() {
		return nil, errInvalidListener("accept")
	}
	fd := l.fd
	for {
		if fd.pd.isClosed() {
			return nil, fd.opError("accept", net.ErrClosed)
		}
		if fd.pd.expired(EventIn) {
			return nil, fd.opError("accept", errDeadline)
		}
		gen := fd.pd.gen(EventIn)
		s, peer, err := fd.lib.Accept(fd.pd.s)
		switch CodeOf(err) {
		case Success:
			// Accepted sockets inherit the listener's options, the
			// non-blocking mode included.
			cfd, err := newFD(fd.pd.p, s)
			if err != nil {
				fd.lib.Close(s)
				return nil, fd.opError("accept", err)
			}
			cfd.raddr = newAddr(peer)
			c := newConn(cfd, &l.cfg)
			if l.port != nil {
				if err := l.port.acquire(false); err != nil {
					c.fd.cleanup.Stop()
					closeSocket(cfd.pd)
					return nil, fd.opError("accept", err)
				}
				if err := l.port.attach(cfd.pd, false); err != nil {
					c.fd.cleanup.Stop()
					forceClose(cfd.pd)
					l.port.release(nil, false)
					return nil, fd.opError("accept", err)
				}
			}
			return c, nil
		case ErrAsyncRcv:
		default:
			if fd.pd.isClosed() {
				err = net.ErrClosed
			}
			return nil, fd.opError("accept", err)
		}
		if err := fd.pd.wait(EventIn, gen); err != nil {
			return nil, fd.opError("accept", err)
		}
	}
}

// Close stops listening. A blocked Accept returns net.ErrClosed;
// connections already accepted keep working.
func (l *Listener) Close() error {
	if !l.ok() {
		return errInvalidListener("close")
	}
	l.fd.cleanup.Stop()
	return l.fd.opError("close", closeSocket(l.fd.pd))
}

// String describes the listener for fmt: "udt listener on 0.0.0.0:9000",
// with "(closed)" once closed, instead of its internals.
func (l *Listener) String() string {
	if !l.ok() {
		return "udt listener <nil>"
	}
	s := "udt listener on " + l.fd.laddr.String()
	if l.fd.pd.isClosed() {
		s += " (closed)"
	}
	return s
}

// ok reports whether l is a Listener this package made; methods on a nil or
// zero one fail with EINVAL instead of panicking.
func (l *Listener) ok() bool { return l != nil && l.fd != nil }

func errInvalidListener(op string) error {
	return &net.OpError{Op: op, Net: "udt", Err: fmt.Errorf("%w: not a listener made by Listen (nil or zero udt.Listener)", syscall.EINVAL)}
}

// Addr is the address the listener is bound to, an *Addr.
func (l *Listener) Addr() net.Addr {
	if !l.ok() {
		return nil
	}
	return l.fd.laddr
}

// SetDeadline sets the deadline for Accept; zero means none.
func (l *Listener) SetDeadline(t time.Time) error {
	if !l.ok() {
		return errInvalidListener("set deadline")
	}
	if l.fd.pd.isClosed() {
		return l.fd.opError("set deadline", net.ErrClosed)
	}
	l.fd.pd.setDeadline(t, EventIn)
	return nil
}
