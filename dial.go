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
	// message, each Read returns one (cut to the Read's buffer: see
	// Conn.ReadMsg, and Conn.WriteTo for io.Copy).
	Message bool
	// MessageTTL is the ttl of every Write on a message-mode connection
	// (0: never), as for Conn.WriteMsg: UDT 4.11 checks it only before a
	// retransmission, dropping a message that was lost and has been in
	// the send buffer longer than MessageTTL; on a path without loss no
	// message expires.
	MessageTTL time.Duration
	// MessageUnordered lets a message be delivered before earlier ones.
	MessageUnordered bool

	MSS           int // UDT_MSS, bytes per packet, headers included
	FlowWindow    int // UDT_FC, packets in flight
	SendBuffer    int // UDT_SNDBUF, bytes
	RecvBuffer    int // UDT_RCVBUF, bytes
	UDPSendBuffer int // UDP_SNDBUF, bytes
	UDPRecvBuffer int // UDP_RCVBUF, bytes
	// MaxSendRate caps how fast this side sends (UDT_MAXBW), in bits per
	// second like every rate of the net layer (0: no cap, UDT's default).
	MaxSendRate BitRate
	// Linger bounds how long Conn.Close waits for the peer to acknowledge
	// what was written (UDT_LINGER). As with every Config field, 0 keeps
	// the library's default, 180 s; negative discards unacknowledged data
	// at once (Conn.SetLinger(0) does the same on an open Conn). A positive
	// value is whole seconds, struct linger's unit: Dial and Listen refuse
	// 1500 * time.Millisecond rather than round it.
	Linger time.Duration
	// CongestionControl picks UDT_CC; the zero value keeps UDT's native one.
	CongestionControl CongestionControl
	// PeerIdleTimeout breaks the connection when nothing has been heard
	// from the peer for that long: blocked and later Reads and Writes fail
	// with an error whose Timeout is true (it matches syscall.ETIMEDOUT and
	// ErrConnLost), and Close and Flush name what was not acknowledged.
	// UDT's peers send a keep-alive each second they have nothing else to
	// send, so it is at least MinPeerIdleTimeout. 0 keeps UDT's own
	// behaviour: a silent peer is given up after 45 to 53 s.
	// Conn.SetPeerIdleTimeout changes it on an open connection.
	PeerIdleTimeout time.Duration
}

// MinPeerIdleTimeout is the shortest PeerIdleTimeout: twice the second
// between the keep-alives of an idle UDT peer.
const MinPeerIdleTimeout = 2 * time.Second

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
	if err := checkSendRate(c.MaxSendRate); err != nil {
		return fmt.Errorf("udt: Config.%v", err)
	}
	if c.MessageTTL < 0 {
		return fmt.Errorf("udt: Config.MessageTTL must be 0 (never) or more, not %v", c.MessageTTL)
	}
	if (c.MessageTTL != 0 || c.MessageUnordered) && !c.Message {
		return errors.New("udt: Config.MessageTTL and MessageUnordered need Config.Message")
	}
	if err := checkPeerIdle(c.PeerIdleTimeout); err != nil {
		return fmt.Errorf("udt: Config.%v", err)
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
		{OptMaxBW, maxBW(c.MaxSendRate), c.MaxSendRate == 0},
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
	// family (and MSS and UDP buffer sizes), opened with the first of them
	// and closed after the last; a Transport shares a port of the
	// program's choosing, with a listener too.
	LocalAddr net.Addr
	// Timeout bounds the whole dial, with ctx's deadline if that is
	// earlier. 0 means ctx's deadline, or DefaultDialTimeout without one
	// (DefaultRendezvousTimeout for Rendezvous); negative fails at once, as
	// with net.Dialer. A dial that times out fails with a net.Error whose
	// Timeout is true, matching os.ErrDeadlineExceeded,
	// context.DeadlineExceeded, ErrNoServer and syscall.ETIMEDOUT.
	Timeout time.Duration
}

// DefaultDialTimeout bounds a dial with no Timeout and no context deadline,
// as UDT's blocking connect does (its handshake gives up after 3 s).
const DefaultDialTimeout = 3 * time.Second

// Dial connects to address on network "udt", "udt4" or "udt6", and returns
// the *Conn as a net.Conn; DialUDT returns it as it is. As with net.Dial,
// when the host is empty or a literal unspecified address ("0.0.0.0",
// "::"), as a Listener on every address reports it, the local system is
// assumed: Dial connects to 127.0.0.1 or ::1. So do DialUDT, the Dialer's
// and Transport's dials and Rendezvous with the remote address.
func Dial(network, address string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(context.Background(), network, address)
}

// DialUDT connects to raddr on network "udt", "udt4" or "udt6", as
// net.DialTCP does for TCP. With laddr nil the connection joins the UDP
// port that dialed connections share (see Dialer.LocalAddr); otherwise it
// binds a port of its own at laddr.
func DialUDT(network string, laddr, raddr *Addr) (*Conn, error) {
	d := Dialer{}
	if laddr != nil { // not a typed nil in the interface
		d.LocalAddr = laddr
	}
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Err: errors.New("missing address")}
	}
	return d.spec().dial(context.Background(), network, "", raddr.AddrPort)
}

// Dial connects to address; see DialContext.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network "udt", "udt4" or "udt6". It
// returns a *Conn as a net.Conn, for code written against net.Conn (and
// for ContextDialer); DialUDT returns the *Conn. ctx bounds the dial only,
// not the connection.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DialUDT connects to address on network "udt", "udt4" or "udt6", as
// DialContext does, and returns the *Conn.
func (d *Dialer) DialUDT(ctx context.Context, network, address string) (*Conn, error) {
	return d.dial(ctx, network, address)
}

func (d *Dialer) dial(ctx context.Context, network, address string) (*Conn, error) {
	return d.spec().dial(ctx, network, address, netip.AddrPort{})
}

func (d *Dialer) spec() dialSpec {
	return dialSpec{cfg: &d.Config, timeout: d.Timeout, local: d.LocalAddr}
}

// dialSpec is one way of dialing: a Dialer's, or a Transport's.
type dialSpec struct {
	cfg     *Config
	timeout time.Duration
	// local is the address of a port of the connection's own; port, a
	// Transport's; with neither the connection joins the implicit shared
	// port of its kind.
	local      net.Addr
	port       *udpPort
	rendezvous bool
}

// dial connects to raddr, or when it is not valid to address resolved on
// network.
func (d dialSpec) dial(ctx context.Context, network, address string, raddr netip.AddrPort) (*Conn, error) {
	op := "dial"
	if d.rendezvous {
		op = "rendezvous"
	}
	opErr := func(raddr net.Addr, err error) error {
		return &net.OpError{Op: op, Net: network, Source: d.local, Addr: raddr, Err: err}
	}
	if d.port != nil {
		opErr = func(raddr net.Addr, err error) error {
			return &net.OpError{Op: op, Net: network, Source: newAddr(d.port.addr), Addr: raddr, Err: err}
		}
	}
	if err := d.cfg.validate(); err != nil {
		return nil, opErr(nil, err)
	}
	timeout := d.timeout
	if timeout < 0 { // as net.Dialer: a deadline already past
		return nil, opErr(nil, errDeadline)
	}
	if _, ok := ctx.Deadline(); timeout == 0 && !ok {
		timeout = DefaultDialTimeout
		if d.rendezvous {
			timeout = DefaultRendezvousTimeout
		}
	}
	if timeout > 0 { // the earlier of ctx's deadline and the timeout wins
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if d.port != nil { // the Transport's Close ends its dials
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(d.port.done, cancel)()
	}
	start := time.Now()
	var f Family
	if raddr.IsValid() {
		var err error
		if f, err = checkFamily(network, raddr); err != nil {
			return nil, opErr(nil, err)
		}
	} else {
		var err error
		if raddr, f, err = resolve(ctx, network, address, false); err != nil {
			return nil, opErr(nil, err)
		}
	}
	raddr = dialable(raddr)
	var local netip.AddrPort
	switch {
	case d.port != nil:
		if d.port.family != f {
			return nil, opErr(newAddr(raddr), &net.AddrError{Err: "the transport's port is " + d.port.family.String() + ", the address is not", Addr: raddr.String()})
		}
	case d.local != nil:
		la, lf, err := localAddr(d.local)
		if err != nil {
			return nil, opErr(newAddr(raddr), err)
		}
		if lf != f {
			return nil, opErr(newAddr(raddr), &net.AddrError{Err: "local and remote address families differ", Addr: d.local.String()})
		}
		if d.rendezvous && la.Port() == 0 {
			return nil, opErr(newAddr(raddr), &net.AddrError{Err: "a rendezvous needs a local port the peer dials back, not port 0 (or use a Transport and tell the peer its LocalAddr)", Addr: d.local.String()})
		}
		local = la
	case d.rendezvous:
		return nil, opErr(newAddr(raddr), errors.New("udt: a rendezvous needs a local address (Dialer.LocalAddr or a Transport): both peers dial each other's known port"))
	}
	p, err := getPoller()
	if err != nil {
		return nil, opErr(newAddr(raddr), err)
	}
	for {
		c, err := d.attempt(ctx, p, f, raddr, local)
		if err == errAttemptExpired {
			if ctx.Err() == nil && !d.rendezvous {
				continue // a fresh socket asks again, within the dial's deadline
			}
			err = cmp.Or(ctx.Err(), context.DeadlineExceeded)
		}
		if errors.Is(err, context.Canceled) && d.port != nil && d.port.isClosed() {
			err = net.ErrClosed
		}
		if errors.Is(err, context.DeadlineExceeded) {
			what := "no answer from "
			if d.rendezvous {
				what = "no rendezvous with "
			}
			err = &Error{Op: "connect", Code: ErrNoServer, err: errDialTimeout,
				Msg: what + raddr.String() + " within " + time.Since(start).Round(time.Millisecond).String()}
		}
		if err != nil {
			return nil, opErr(newAddr(raddr), err)
		}
		return c, nil
	}
}

// dialable is ap, or this machine's loopback address of ap's family when
// ap's address is unspecified (0.0.0.0, ::): the kernel sends TCP and UDP
// dialed to those to the local system, and Go's net package dials them so
// (what a Listener on every address reports as its Addr dials back to
// it); UDT would send its handshake to nowhere.
func dialable(ap netip.AddrPort) netip.AddrPort {
	ip := ap.Addr().Unmap()
	switch {
	case !ip.IsUnspecified():
		return ap
	case ip.Is4():
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port())
	default:
		return netip.AddrPortFrom(netip.IPv6Loopback(), ap.Port())
	}
}

// errDialTimeout is behind a dial's timeout: it ran out of the dial's own
// deadline, and Go code asks for either.
var errDialTimeout = errors.Join(os.ErrDeadlineExceeded, context.DeadlineExceeded)

// attempt dials once, on a new socket, for at most connectAttempt (a
// rendezvous: rendezvousTTL).
func (d dialSpec) attempt(ctx context.Context, p *poller, f Family, raddr, local netip.AddrPort) (*Conn, error) {
	lib := p.lib
	var port *udpPort
	switch {
	case d.port != nil:
		if err := d.port.acquire(d.rendezvous); err != nil {
			return nil, err
		}
		port = d.port
	case !local.IsValid():
		var err error
		if port, err = acquireSharedPort(lib, d.cfg, f); err != nil {
			return nil, err
		}
	}
	if port != nil {
		local = port.addr
	}
	release := func() {
		if port != nil {
			port.release(nil, d.rendezvous)
		}
	}
	s, err := lib.Socket(f, d.cfg.socketType())
	if err != nil {
		release()
		return nil, err
	}
	fail := func(err error) (*Conn, error) {
		lib.Close(s)
		release()
		return nil, err
	}
	if err := d.cfg.apply(lib, s); err != nil {
		return fail(err)
	}
	if d.rendezvous {
		if err := lib.SetSockOpt(s, OptRendezvous, true); err != nil {
			return fail(err)
		}
	}
	if err := bindFor(lib, port)(s, local); err != nil {
		return fail(err)
	}
	fd, err := newFD(p, s)
	if err != nil {
		return fail(err)
	}
	fd.raddr = newAddr(raddr)
	started := time.Now()
	limit := started.Add(connectAttempt)
	if d.rendezvous {
		limit = started.Add(rendezvousTTL)
	}
	if err := fd.connect(ctx, raddr, limit); err != nil {
		fd.pd.close()
		fd.pd.awaitGone()
		p.forget(fd.pd)
		settleFrom := started
		if d.rendezvous { // UDT asks for ten times as long
			settleFrom = started.Add(rendezvousTTL - connectTTL)
		}
		p.closeWhenSettled(s, settleFrom)
		release()
		return nil, err
	}
	if a, err := lib.SockName(s); err == nil {
		fd.laddr = newAddr(a)
	}
	c := newConn(fd, d.cfg)
	if port != nil {
		// The socket's reference passes to the connection, released when
		// it closes.
		if err := port.attach(fd.pd, d.rendezvous); err != nil {
			c.fd.cleanup.Stop()
			forceClose(fd.pd) // the Transport closed meanwhile
			release()
			return nil, err
		}
	}
	return c, nil
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

// checkFamily checks that ap suits network and returns its family.
func checkFamily(network string, ap netip.AddrPort) (Family, error) {
	want, ok := familyOf(network)
	if !ok {
		return 0, net.UnknownNetworkError(network)
	}
	f := familyOfAddr(ap.Addr())
	if want != 0 && f != want {
		return 0, &net.AddrError{Err: "address is not " + want.String() + " (network " + network + ")", Addr: ap.String()}
	}
	return f, nil
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

// checkPeerIdle says what is wrong with a peer idle timeout, if anything.
func checkPeerIdle(d time.Duration) error {
	if d != 0 && d < MinPeerIdleTimeout {
		return fmt.Errorf("PeerIdleTimeout must be 0 (UDT's own 45 to 53 s) or at least MinPeerIdleTimeout (%v: an idle UDT peer sends a keep-alive each second), not %v", MinPeerIdleTimeout, d)
	}
	return nil
}
