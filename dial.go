package udt

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Config holds the UDT options of a connection or listener. The zero value
// of each field keeps the default: MSS 1500 bytes (the whole IP packet),
// send and receive buffers of 12,058,624 bytes, UDP buffers of 65,536
// (send) and 12,288,000 bytes (receive; the kernel caps it), a flow window
// of as many packets as the receive buffer holds (8,192; UDT's own 25,600
// only sizes lists no peer is offered), no bandwidth cap, a linger of 180 s
// and UDT's native congestion control. Dialed connections share a UDP port
// only with those of the same MSS and UDP buffer sizes.
// UDT_SNDSYN and UDT_RCVSYN are not here: the net layer always runs
// sockets non-blocking and blocks in Go, and deadlines replace
// UDT_SNDTIMEO and UDT_RCVTIMEO. docs/options.md has every option, its
// unit and when UDT accepts it.
type Config struct {
	// Message selects message mode (SOCK_DGRAM): each Write sends one
	// message, each Read returns one.
	Message bool
	// MessageTTL drops a message not delivered within it (0: never).
	MessageTTL time.Duration
	// MessageUnordered lets a message be delivered before earlier ones.
	MessageUnordered bool

	MSS           int   // UDT_MSS, bytes per packet, headers included
	FlowWindow    int   // UDT_FC, packets in flight
	SendBuffer    int   // UDT_SNDBUF, bytes
	RecvBuffer    int   // UDT_RCVBUF, bytes
	UDPSendBuffer int   // UDP_SNDBUF, bytes
	UDPRecvBuffer int   // UDP_RCVBUF, bytes
	MaxBandwidth  int64 // UDT_MAXBW, bytes per second (0: no cap)
	// Linger bounds how long Conn.Close waits for the peer to acknowledge
	// what was written (UDT_LINGER). As with every Config field, 0 keeps
	// the library's default, 180 s; negative discards unacknowledged data
	// at once (Conn.SetLinger(0) does the same on an open Conn).
	Linger time.Duration
	// CongestionControl picks UDT_CC; the zero value keeps UDT's native one.
	CongestionControl CongestionControl
}

// validate checks what UDT would refuse or misread, naming the field.
func (c *Config) validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"MSS", c.MSS}, {"FlowWindow", c.FlowWindow}, {"SendBuffer", c.SendBuffer}, {"RecvBuffer", c.RecvBuffer}, {"UDPSendBuffer", c.UDPSendBuffer}, {"UDPRecvBuffer", c.UDPRecvBuffer}} {
		if f.v < 0 || f.v > 1<<31-1 {
			return fmt.Errorf("udt: Config.%s must be between 0 (the default) and 2^31-1, not %d", f.name, f.v)
		}
	}
	if c.FlowWindow > MaxFlowWindow {
		return fmt.Errorf("udt: Config.FlowWindow must be at most MaxFlowWindow (%d packets), not %d", MaxFlowWindow, c.FlowWindow)
	}
	if c.MSS != 0 && (c.MSS < 76 || c.MSS > MaxMSS) {
		return fmt.Errorf("udt: Config.MSS must be from 76 bytes (UDT's headers) to %d (a UDP datagram), not %d", MaxMSS, c.MSS)
	}
	if mss := cmp.Or(c.MSS, 1500); c.SendBuffer != 0 && c.SendBuffer < mss-udpIPHeaders {
		return fmt.Errorf("udt: Config.SendBuffer of %d bytes holds no packet of MSS %d (%d bytes of data): every write would wait forever", c.SendBuffer, mss, mss-udpIPHeaders)
	}
	if c.MaxBandwidth < 0 {
		return fmt.Errorf("udt: Config.MaxBandwidth must be 0 (no cap) or more, not %d", c.MaxBandwidth)
	}
	if c.MessageTTL < 0 {
		return fmt.Errorf("udt: Config.MessageTTL must be 0 (never) or more, not %v", c.MessageTTL)
	}
	if (c.MessageTTL != 0 || c.MessageUnordered) && !c.Message {
		return errors.New("udt: Config.MessageTTL and MessageUnordered need Config.Message")
	}
	if c.Linger > 0 && (c.Linger%time.Second != 0 || c.Linger/time.Second > 1<<31-1) {
		return fmt.Errorf("udt: Config.Linger must be whole seconds that fit struct linger (at most 2^31-1), not %v", c.Linger)
	}
	return c.validateCC()
}

func (c *Config) socketType() SocketType {
	if c.Message {
		return Datagram
	}
	return Stream
}

// apply sets the options on a new, unbound socket, and makes it
// non-blocking.
func (c *Config) apply(lib Library, s Socket) error {
	set := func(o Option, v any) error { return lib.SetSockOpt(s, o, v) }
	opts := []struct {
		o    Option
		v    any
		skip bool
	}{
		{OptSndSyn, false, false},
		{OptRcvSyn, false, false},
		{OptMSS, c.MSS, c.MSS == 0},
		{OptFC, c.flowWindow(), false},
		{OptSndBuf, c.SendBuffer, c.SendBuffer == 0},
		{OptRcvBuf, c.RecvBuffer, c.RecvBuffer == 0},
		{OptUDPSndBuf, c.UDPSendBuffer, c.UDPSendBuffer == 0},
		{OptUDPRcvBuf, c.UDPRecvBuffer, c.UDPRecvBuffer == 0},
		{OptMaxBW, c.MaxBandwidth, c.MaxBandwidth == 0},
		{OptLinger, Linger{On: c.Linger > 0, Timeout: max(c.Linger, 0)}, c.Linger == 0},
		{OptCC, c.CongestionControl, c.CongestionControl.Kind == CCNone},
	}
	for _, o := range opts {
		if o.skip {
			continue
		}
		if err := set(o.o, o.v); err != nil {
			return err
		}
	}
	return nil
}

// muxKey names the options that belong to a UDP port rather than to one
// connection: connections share a port only when they agree on these.
type muxKey struct {
	family        Family
	mss           int
	udpSendBuffer int
	udpRecvBuffer int
}

// sharedPorts holds, per muxKey, one bound socket whose UDP port every
// dialed connection of that kind joins, so N connections cost one
// descriptor and UDT's two threads instead of N of each.
var sharedPorts struct {
	mu    sync.Mutex
	ports map[muxKey]Socket
}

func sharedPort(lib Library, cfg *Config, f Family) (netip.AddrPort, error) {
	k := muxKey{f, cfg.MSS, cfg.UDPSendBuffer, cfg.UDPRecvBuffer}
	sharedPorts.mu.Lock()
	defer sharedPorts.mu.Unlock()
	unspec := netip.IPv4Unspecified()
	if f == IPv6 {
		unspec = netip.IPv6Unspecified()
	}
	if s, ok := sharedPorts.ports[k]; ok {
		if lib.SockState(s) == StatusOpened {
			if a, err := lib.SockName(s); err == nil {
				return netip.AddrPortFrom(unspec, a.Port()), nil
			}
		}
		lib.Close(s) // something closed or broke it: replace it
		delete(sharedPorts.ports, k)
	}
	s, err := lib.Socket(f, Stream)
	if err != nil {
		return netip.AddrPort{}, err
	}
	hold := Config{MSS: cfg.MSS, UDPSendBuffer: cfg.UDPSendBuffer, UDPRecvBuffer: cfg.UDPRecvBuffer}
	if err := hold.apply(lib, s); err != nil {
		lib.Close(s)
		return netip.AddrPort{}, err
	}
	if err := lib.Bind(s, netip.AddrPortFrom(unspec, 0)); err != nil {
		lib.Close(s)
		return netip.AddrPort{}, err
	}
	a, err := lib.SockName(s)
	if err != nil {
		lib.Close(s)
		return netip.AddrPort{}, err
	}
	if sharedPorts.ports == nil {
		sharedPorts.ports = map[muxKey]Socket{}
	}
	sharedPorts.ports[k] = s
	return netip.AddrPortFrom(unspec, a.Port()), nil
}

// familyOf reads the network name: "udt" (either family), "udt4" or "udt6".
func familyOf(network string) (want Family, ok bool) {
	switch network {
	case "udt":
		return 0, true
	case "udt4":
		return IPv4, true
	case "udt6":
		return IPv6, true
	}
	return 0, false
}

// resolver looks up host and service names; tests swap in one that never
// leaves the machine.
var resolver = net.DefaultResolver

// ResolveAddr resolves address ("host:port") on network "udt", "udt4" or
// "udt6".
func ResolveAddr(network, address string) (*Addr, error) {
	ap, _, err := resolve(context.Background(), network, address, false)
	if err != nil {
		return nil, err
	}
	return newAddr(ap), nil
}

// resolve turns address into one AddrPort of the network's family. An
// empty host means the unspecified address when listening.
func resolve(ctx context.Context, network, address string, listening bool) (netip.AddrPort, Family, error) {
	want, ok := familyOf(network)
	if !ok {
		return netip.AddrPort{}, 0, net.UnknownNetworkError(network)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, 0, err // an *net.AddrError naming address
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		p, lerr := resolver.LookupPort(ctx, "udp", portStr)
		if lerr != nil {
			return netip.AddrPort{}, 0, &net.AddrError{Err: "invalid port", Addr: address}
		}
		port = uint64(p)
	}
	var ip netip.Addr
	switch {
	case host == "" && listening: // every address; IPv4 unless udt6
		ip = netip.IPv4Unspecified()
		if want == IPv6 {
			ip = netip.IPv6Unspecified()
		}
	case host == "": // this machine, as Go's net dials it
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if want == IPv6 {
			ip = netip.IPv6Loopback()
		}
	default:
		if parsed, err := netip.ParseAddr(host); err == nil {
			ip = parsed
		} else {
			ips, err := resolver.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return netip.AddrPort{}, 0, err
			}
			for _, cand := range ips {
				if want == 0 || familyOfAddr(cand) == want {
					ip = cand
					break
				}
			}
			if !ip.IsValid() {
				return netip.AddrPort{}, 0, &net.AddrError{Err: "no suitable address found", Addr: address}
			}
		}
	}
	f := familyOfAddr(ip)
	if want != 0 && f != want {
		return netip.AddrPort{}, 0, &net.AddrError{Err: "address is not " + want.String() + " (network " + network + ")", Addr: address}
	}
	return netip.AddrPortFrom(ip.Unmap().WithZone(ip.Zone()), uint16(port)), f, nil
}

func familyOfAddr(ip netip.Addr) Family {
	if ip.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// Dialer dials UDT connections. The zero value works.
type Dialer struct {
	Config Config
	// LocalAddr, when set, binds the connection to its own UDP port at that
	// address. By default dialed connections share one UDP port per address
	// family (and MSS and UDP buffer sizes).
	LocalAddr net.Addr
	// Timeout bounds the whole dial, with ctx's deadline if that is
	// earlier. 0 means ctx's deadline, or DefaultDialTimeout without one;
	// negative fails at once, as with net.Dialer. A dial that times out
	// fails with a net.Error whose Timeout is true, matching
	// os.ErrDeadlineExceeded, context.DeadlineExceeded, ErrNoServer and
	// syscall.ETIMEDOUT.
	Timeout time.Duration
}

// DefaultDialTimeout bounds a dial with no Timeout and no context deadline,
// as UDT's blocking connect does (its handshake gives up after 3 s).
const DefaultDialTimeout = 3 * time.Second

// Dial connects to address on network "udt", "udt4" or "udt6".
func Dial(network, address string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(context.Background(), network, address)
}

// Dial connects to address; see DialContext.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network "udt", "udt4" or "udt6". It
// returns a *Conn as a net.Conn. ctx bounds the dial only, not the
// connection.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (d *Dialer) dial(ctx context.Context, network, address string) (*Conn, error) {
	opErr := func(raddr net.Addr, err error) error {
		var laddr net.Addr
		if d.LocalAddr != nil {
			laddr = d.LocalAddr
		}
		return &net.OpError{Op: "dial", Net: network, Source: laddr, Addr: raddr, Err: err}
	}
	if err := d.Config.validate(); err != nil {
		return nil, opErr(nil, err)
	}
	timeout := d.Timeout
	if timeout < 0 { // as net.Dialer: a deadline already past
		return nil, opErr(nil, errDeadline)
	}
	if _, ok := ctx.Deadline(); timeout == 0 && !ok {
		timeout = DefaultDialTimeout
	}
	if timeout > 0 { // the earlier of ctx's deadline and the timeout wins
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	start := time.Now()
	raddr, f, err := resolve(ctx, network, address, false)
	if err != nil {
		return nil, opErr(nil, err)
	}
	var local netip.AddrPort
	if d.LocalAddr != nil {
		la, lf, err := localAddr(d.LocalAddr)
		if err != nil {
			return nil, opErr(newAddr(raddr), err)
		}
		if lf != f {
			return nil, opErr(newAddr(raddr), &net.AddrError{Err: "local and remote address families differ", Addr: d.LocalAddr.String()})
		}
		local = la
	}
	p, err := getPoller()
	if err != nil {
		return nil, opErr(newAddr(raddr), err)
	}
	for {
		c, err := d.attempt(ctx, p, f, raddr, local)
		if err == errAttemptExpired {
			if ctx.Err() == nil {
				continue // a fresh socket asks again, within the dial's deadline
			}
			err = ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = &Error{Op: "connect", Code: ErrNoServer, err: errDialTimeout,
				Msg: "no answer from " + raddr.String() + " within " + time.Since(start).Round(time.Millisecond).String()}
		}
		if err != nil {
			return nil, opErr(newAddr(raddr), err)
		}
		return c, nil
	}
}

// errDialTimeout is behind a dial's timeout: it ran out of the dial's own
// deadline, and Go code asks for either.
var errDialTimeout = errors.Join(os.ErrDeadlineExceeded, context.DeadlineExceeded)

// attempt dials once, on a new socket, for at most connectAttempt.
func (d *Dialer) attempt(ctx context.Context, p *poller, f Family, raddr, local netip.AddrPort) (*Conn, error) {
	lib := p.lib
	s, err := lib.Socket(f, d.Config.socketType())
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Conn, error) {
		lib.Close(s)
		return nil, err
	}
	if err := d.Config.apply(lib, s); err != nil {
		return fail(err)
	}
	if !local.IsValid() {
		if local, err = sharedPort(lib, &d.Config, f); err != nil {
			return fail(err)
		}
	}
	if err := lib.Bind(s, local); err != nil {
		return fail(err)
	}
	fd, err := newFD(p, s)
	if err != nil {
		return fail(err)
	}
	fd.raddr = newAddr(raddr)
	started := time.Now()
	if err := fd.connect(ctx, raddr, started.Add(connectAttempt)); err != nil {
		fd.pd.close()
		fd.pd.awaitGone()
		p.forget(fd.pd)
		p.closeWhenSettled(s, started)
		return nil, err
	}
	if a, err := lib.SockName(s); err == nil {
		fd.laddr = newAddr(a)
	}
	return newConn(fd, &d.Config), nil
}

func localAddr(a net.Addr) (netip.AddrPort, Family, error) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *Addr:
		ap = a.AddrPort
	case *net.UDPAddr:
		if a.IP == nil { // the wildcard, as Go's net reads it
			ap = netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(a.Port))
		} else {
			ap = a.AddrPort()
		}
	default:
		return netip.AddrPort{}, 0, &net.AddrError{Err: fmt.Sprintf("local address must be *udt.Addr or *net.UDPAddr, not %T", a), Addr: a.String()}
	}
	if !ap.IsValid() {
		return netip.AddrPort{}, 0, &net.AddrError{Err: "invalid local address", Addr: a.String()}
	}
	return ap, familyOfAddr(ap.Addr()), nil
}

// ListenConfig configures a listener.
type ListenConfig struct {
	Config Config
	// Backlog is the most connections waiting for Accept (0: 1024).
	Backlog int
}

// Listen listens on address ("host:port"; an empty host is every address)
// on network "udt", "udt4" or "udt6".
func Listen(network, address string) (net.Listener, error) {
	var lc ListenConfig
	return lc.Listen(context.Background(), network, address)
}

// Listen listens on address; it returns a *Listener as a net.Listener.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	l, err := lc.listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (lc *ListenConfig) listen(ctx context.Context, network, address string) (*Listener, error) {
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
	laddr, f, err := resolve(ctx, network, address, true)
	if err != nil {
		return nil, opErr(nil, err)
	}
	p, err := getPoller()
	if err != nil {
		return nil, opErr(newAddr(laddr), err)
	}
	lib := p.lib
	s, err := lib.Socket(f, lc.Config.socketType())
	if err != nil {
		return nil, opErr(newAddr(laddr), err)
	}
	fail := func(err error) (*Listener, error) {
		lib.Close(s)
		return nil, opErr(newAddr(laddr), err)
	}
	if err := lc.Config.apply(lib, s); err != nil {
		return fail(err)
	}
	if err := lib.Bind(s, laddr); err != nil {
		return fail(err)
	}
	if err := lib.Listen(s, backlog); err != nil {
		return fail(err)
	}
	fd, err := newFD(p, s)
	if err != nil {
		return fail(err)
	}
	l := &Listener{fd: fd, cfg: lc.Config}
	l.fd.cleanup = runtime.AddCleanup(l, func(pd *pollDesc) { closeSocket(pd) }, l.fd.pd)
	return l, nil
}

// Listener accepts UDT connections. It implements net.Listener.
type Listener struct {
	fd  *netFD
	cfg Config
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
			return newConn(cfd, &l.cfg), nil
		case ErrAsyncRcv:
		default:
			if fd.pd.isClosed() {
				err = net.ErrClosed
			}
			return nil, fd.opError("accept", err)
		}
		if err := fd.pd.wait(EventIn); err != nil {
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
