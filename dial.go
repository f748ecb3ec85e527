package udt

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

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
	// address. By default dialed connections share a few UDP ports per
	// address family (and MSS and UDP buffer sizes): one per 32
	// connections, 8 at most, each opened with the first of its
	// connections and closed after the last; a Transport shares a port of
	// the program's choosing, with a listener too.
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
	// The Go controller's Init, owed since the handshake (cudt.CCStart),
	// runs on this goroutine before the program can write.
	p.lib.startCC(s)
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
