package udt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Transport owns one UDP port and lets a listener, dialed connections and
// rendezvous connections share it, as quic-go's Transport does for QUIC:
// one descriptor and one pair of UDT threads for all of them, and one
// address for peers and firewalls to know.
//
// UDT 4.11 runs one multiplexer per UDP port. The port is opened here,
// close-on-exec, and handed to UDT with bind2 (see Socket.Bind); every
// socket of the Transport then joins it. All of them use the Transport's
// Config: the options that belong to the port (MSS, UDP buffer sizes) must
// agree for UDT to let a socket join it, and the rest are the default of
// every connection made through the Transport.
//
// Close is explicit: it stops the listener, ends dials in progress, and
// closes every connection still open on the port at once, discarding what
// they had not delivered; their blocked calls return net.ErrClosed and
// their peers read io.EOF. Connections that should finish delivering are
// closed (or flushed) first. The UDP port is free again once UDT has let
// go of the last socket on it, within a few seconds.
//
// A Transport's methods may be called from several goroutines at once.
type Transport struct {
	network string
	cfg     Config
	port    *udpPort
}

// NewTransport opens the UDP port at address ("host:port"; an empty host
// is every address, port 0 picks a free port, which LocalAddr reports) on
// network "udt", "udt4" or "udt6". cfg (nil: the defaults) applies to every
// socket on the port.
func NewTransport(network, address string, cfg *Config) (*Transport, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if err := cfg.validate(); err != nil {
		return nil, opErr(err)
	}
	laddr, f, err := resolve(context.Background(), network, address, true)
	if err != nil {
		return nil, opErr(err)
	}
	p, err := getPoller()
	if err != nil {
		return nil, opErr(err)
	}
	port, err := openPort(p.lib, cfg, f, laddr)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: newAddr(laddr), Err: err}
	}
	port.explicit = true
	return &Transport{network: network, cfg: *cfg, port: port}, nil
}

// ok reports whether t is a Transport NewTransport made.
func (t *Transport) ok() bool { return t != nil && t.port != nil }

func errInvalidTransport(op string) error {
	return &net.OpError{Op: op, Net: "udt", Err: fmt.Errorf("%w: not a transport made by NewTransport (nil or zero udt.Transport)", syscall.EINVAL)}
}

// LocalAddr is the address of the Transport's UDP port, an *Addr: the one
// to give peers (with a specific host if it was bound to every address).
func (t *Transport) LocalAddr() net.Addr {
	if !t.ok() {
		return nil
	}
	return newAddr(t.port.addr)
}

// String describes the Transport by its address.
func (t *Transport) String() string {
	if !t.ok() {
		return "udt.Transport(<nil>)"
	}
	return "udt.Transport(" + t.port.addr.String() + ")"
}

// ListenUDT listens on the Transport's port, with a backlog of 1024. There
// is at most one listener on a port at a time, and none while a
// Rendezvous is in progress on it (UDT 4.11 hands a listener every
// handshake that does not yet name a socket, a rendezvous's first ones
// too). Connections it accepts belong to the Transport: its Close closes
// them.
func (t *Transport) ListenUDT() (*Listener, error) {
	if !t.ok() {
		return nil, errInvalidTransport("listen")
	}
	lc := ListenConfig{Config: t.cfg}
	return lc.listenAddr(t.network, netip.AddrPort{}, t.port)
}

// Listen is ListenUDT returning a net.Listener.
func (t *Transport) Listen() (net.Listener, error) {
	l, err := t.ListenUDT()
	if err != nil {
		return nil, err
	}
	return l, nil
}

// DialUDT connects to address from the Transport's port. network must be
// "udt" or the Transport's own family ("udt4", "udt6"). ctx bounds the
// dial (DefaultDialTimeout without a deadline); the Transport's Close ends
// it with net.ErrClosed.
func (t *Transport) DialUDT(ctx context.Context, network, address string) (*Conn, error) {
	if !t.ok() {
		return nil, errInvalidTransport("dial")
	}
	return t.spec(false).dial(ctx, network, address, netip.AddrPort{})
}

// DialContext is DialUDT returning a net.Conn: a Transport is a
// ContextDialer.
func (t *Transport) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := t.DialUDT(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Dial is DialContext without a context.
func (t *Transport) Dial(network, address string) (net.Conn, error) {
	return t.DialContext(context.Background(), network, address)
}

func (t *Transport) spec(rendezvous bool) dialSpec {
	return dialSpec{cfg: &t.cfg, port: t.port, rendezvous: rendezvous}
}

// Close closes the listener, ends the dials in progress and closes every
// connection still open on the port, as the Transport's doc says; it then
// gives the port back. A second Close returns an error wrapping
// net.ErrClosed.
func (t *Transport) Close() error {
	if !t.ok() {
		return errInvalidTransport("close")
	}
	if err := t.port.close(); err != nil {
		return &net.OpError{Op: "close", Net: "udt", Addr: newAddr(t.port.addr), Err: err}
	}
	return nil
}

// udpPort is one UDP port that several UDT sockets share. UDT runs one
// multiplexer per port, opened by the first socket bound there (the
// holder, which carries no connection) and joined by every later socket
// bound to the same port number with the same MSS. It closes after its
// last socket.
type udpPort struct {
	lib    Library
	family Family
	addr   netip.AddrPort // as bound; the port is never 0
	holder Socket
	// done ends with close: the Transport's dials in progress stop.
	done   context.Context
	cancel context.CancelFunc
	// explicit marks a Transport's port, closed only by Transport.Close;
	// the implicit shared port of dialed connections closes itself with
	// its last socket.
	explicit bool
	key      muxKey

	mu     sync.Mutex
	refs   int                   // sockets on the port besides the holder
	users  map[*pollDesc]portUse // those of them that are open connections and listeners
	rdv    int                   // rendezvous handshakes in progress
	closed bool
}

type portUse int

const (
	useConn portUse = iota
	useListener
)

// errBusyListener and errBusyRendezvous say why UDT 4.11 cannot run a
// listener and a rendezvous handshake on one port.
var (
	errBusyListener   = errors.New("udt: a listener is open on this port, and UDT 4.11 gives it every handshake that names no socket yet, a rendezvous's too; rendezvous from another port or Transport")
	errBusyRendezvous = errors.New("udt: a rendezvous is in progress on this port, and UDT 4.11 would give its handshakes to a listener; listen after it completes, or on another port")
)

// openPort binds the holder of a new port at addr.
func openPort(lib Library, cfg *Config, f Family, addr netip.AddrPort) (*udpPort, error) {
	s, err := lib.Socket(f, Stream)
	if err != nil {
		return nil, err
	}
	// Only what belongs to the port: the holder carries no connection. A
	// Go controller set on it only tells the shim, as UDT starts the port's
	// threads, that controllers' callbacks will come on them, so that they
	// bind to Go then and not in the first handshakes (cudt_cc_bind_thread).
	// It holds that controller's factory for the port's life.
	hold := Config{MSS: cfg.MSS, UDPSendBuffer: cfg.UDPSendBuffer, UDPRecvBuffer: cfg.UDPRecvBuffer}
	if cfg.CongestionControl.Kind == CCGo {
		hold.CongestionControl = cfg.CongestionControl
	}
	if err := hold.apply(lib, s); err != nil {
		lib.Close(s)
		return nil, err
	}
	if err := lib.Bind(s, addr); err != nil {
		lib.Close(s)
		return nil, err
	}
	a, err := lib.SockName(s)
	if err != nil {
		lib.Close(s)
		return nil, err
	}
	done, cancel := context.WithCancel(context.Background())
	return &udpPort{lib: lib, family: f, addr: netip.AddrPortFrom(addr.Addr(), a.Port()), holder: s,
		done: done, cancel: cancel, users: map[*pollDesc]portUse{}}, nil
}

// acquire counts a socket about to be bound to the port; release or attach
// follows.
func (p *udpPort) acquire(rendezvous bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	if rendezvous {
		for _, u := range p.users {
			if u == useListener {
				return errBusyListener
			}
		}
		p.rdv++
	}
	p.refs++
	return nil
}

// acquireListener is acquire for a listener's socket.
func (p *udpPort) acquireListener() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	if p.rdv > 0 {
		return errBusyRendezvous
	}
	p.refs++
	return nil
}

// attach hands an acquired socket's reference to its open connection,
// whose close releases it; Close closes the connection with the port.
func (p *udpPort) attach(pd *pollDesc, rendezvous bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rendezvous {
		p.rdv--
	}
	if p.closed && p.explicit {
		return net.ErrClosed
	}
	p.users[pd] = useConn
	pd.port = p
	return nil
}

// attachListener is attach for a listener.
func (p *udpPort) attachListener(pd *pollDesc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	p.users[pd] = useListener
	pd.port = p
	return nil
}

// release drops the reference of a socket that closed (pd) or never got
// a connection (pd nil). The implicit shared port closes with its last.
func (p *udpPort) release(pd *pollDesc, rendezvous bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if pd != nil {
		delete(p.users, pd)
	}
	if rendezvous {
		p.rdv--
	}
	p.refs--
	last := p.refs == 0 && !p.explicit && !p.closed
	p.mu.Unlock()
	if last {
		// Not at once: a dial soon after takes it up again (see
		// sharedPortIdle).
		time.AfterFunc(sharedPortIdle, func() { unshare(p) })
	}
}

func (p *udpPort) isClosed() bool { return p.done.Err() != nil }

// close closes the port's listener and connections, then its holder.
func (p *udpPort) close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return net.ErrClosed
	}
	p.closed = true
	p.cancel()
	users := make([]*pollDesc, 0, len(p.users))
	for pd := range p.users {
		users = append(users, pd)
	}
	p.mu.Unlock()
	for _, pd := range users {
		forceClose(pd)
	}
	return p.closeHolder()
}

func (p *udpPort) closeHolder() error {
	err := p.lib.Close(p.holder)
	noteSocketClosed()
	return err
}

// bindFor binds the sockets that join port, which is already open: UDT's
// own bind, which finds the port's multiplexer by number, and opens no UDP
// socket of its own (Socket.Bind would open one first, on the calling
// thread's network namespace, which need not be the port's). Without a
// port, and with a Library other than the native one, it is lib.Bind.
func bindFor(lib Library, port *udpPort) func(Socket, netip.AddrPort) error {
	if _, native := lib.(nativePoll); native && port != nil {
		return Socket.join
	}
	return lib.Bind
}

// forceClose closes an open connection or listener at once, discarding
// what it had not delivered (no linger: UDT would go on sending in the
// background otherwise). A Close already under way finishes as it would.
func forceClose(pd *pollDesc) {
	if !pd.close() {
		return
	}
	pd.p.lib.SetSockOpt(pd.s, OptLinger, Linger{})
	releaseSocket(pd)
}

// muxKey names the options that belong to a UDP port rather than to one
// connection: connections share a port only when they agree on these. Go
// controllers' connections keep to ports whose threads bound to Go as they
// started (openPort): the receiving thread, and the sending thread too for
// controllers that ask for OnPktSent.
type muxKey struct {
	family        Family
	mss           int
	udpSendBuffer int
	udpRecvBuffer int
	goCC, goSent  bool
}

// sharedPorts holds, per muxKey, the implicit ports that dialed
// connections of that kind share when they have no local address, so N
// connections cost a few descriptors and UDT threads instead of N of each.
// A port lives from its first connection to sharedPortIdle after its last.
//
// One port per dialPortShare connections, up to maxDialPorts: every packet
// of a port's connections lands in that one UDP socket's kernel buffer
// (net.core.rmem_max caps it, 4 MiB here), and a controller whose 200
// peers answer at once loses the overflow. UDT's sender then waits for its
// retransmission timer, which grows by one interval with each expiry that
// brings no answer: on loopback, 200 agents sending 64 KiB each to one
// port lost 1,250 to 1,450 packets, and their last node finished after 8 to
// 13 s instead of 3 s; with a port per connection none was lost (see
// docs/slice.md).
var sharedPorts = struct {
	mu    sync.Mutex
	ports map[muxKey][]*udpPort
	// Guarded by mu; tests lower them.
	share int // connections a shared port takes before another opens (dialPortShare)
	max   int // shared ports per muxKey, at most (maxDialPorts)
}{share: dialPortShare, max: maxDialPorts}

const (
	dialPortShare = 32
	maxDialPorts  = 8
)

// acquireSharedPort returns a shared port for cfg and f, the one with the
// fewest sockets, opened if need be, with a socket's reference acquired.
func acquireSharedPort(lib Library, cfg *Config, f Family) (*udpPort, error) {
	cc := cfg.CongestionControl
	goCC := cc.Kind == CCGo
	k := muxKey{f, cfg.MSS, cfg.UDPSendBuffer, cfg.UDPRecvBuffer, goCC, goCC && cc.Go != nil && cc.Go.Hooks&HookPktSent != 0}
	sharedPorts.mu.Lock()
	defer sharedPorts.mu.Unlock()
	for {
		ports := sharedPorts.ports[k]
		var best *udpPort
		bestRefs := 0
		for _, p := range ports {
			if n := p.count(); best == nil || n < bestRefs {
				best, bestRefs = p, n
			}
		}
		if best == nil || (bestRefs >= sharedPorts.share && len(ports) < sharedPorts.max) {
			break
		}
		if lib.SockState(best.holder) == StatusOpened && best.acquire(false) == nil {
			return best, nil
		}
		// Something closed or broke it: replace it. Its connections
		// keep it open in UDT until they close.
		dropSharedPort(best)
		best.mu.Lock()
		wasClosed := best.closed
		best.closed = true
		best.mu.Unlock()
		if !wasClosed {
			best.cancel()
			best.closeHolder()
		}
	}
	unspec := netip.IPv4Unspecified()
	if f == IPv6 {
		unspec = netip.IPv6Unspecified()
	}
	p, err := openPort(lib, cfg, f, netip.AddrPortFrom(unspec, 0))
	if err != nil {
		return nil, err
	}
	p.key = k
	p.refs = 1
	if sharedPorts.ports == nil {
		sharedPorts.ports = map[muxKey][]*udpPort{}
	}
	sharedPorts.ports[k] = append(sharedPorts.ports[k], p)
	return p, nil
}

// count is the number of sockets on the port besides its holder.
func (p *udpPort) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refs
}

// dropSharedPort takes p out of sharedPorts; the caller holds its lock.
func dropSharedPort(p *udpPort) {
	ports := sharedPorts.ports[p.key]
	if i := slices.Index(ports, p); i >= 0 {
		ports = slices.Delete(slices.Clone(ports), i, i+1)
	}
	if len(ports) == 0 {
		delete(sharedPorts.ports, p.key)
		return
	}
	sharedPorts.ports[p.key] = ports
}

// unshare closes the implicit shared port p after its last connection,
// unless a dial took it up again meanwhile.
func unshare(p *udpPort) {
	sharedPorts.mu.Lock()
	defer sharedPorts.mu.Unlock()
	p.mu.Lock()
	if p.refs != 0 || p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	dropSharedPort(p)
	p.cancel()
	p.closeHolder()
}
