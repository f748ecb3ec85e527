package udt

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// DefaultRendezvousTimeout bounds a rendezvous with no Timeout and no
// context deadline: UDT 4.11 gives a rendezvous handshake 30 s, and a
// longer deadline does not extend that.
const DefaultRendezvousTimeout = 30 * time.Second

// Rendezvous connects to a peer that connects back at the same time
// (UDT_RENDEZVOUS), the way through NATs and stateful firewalls that let
// in only replies to what went out: each side sends its handshake to the
// other's public address from a bound port, which opens its own filter for
// the other's.
//
// What UDT 4.11 requires, which the two programs must arrange between
// them (say through a server both can reach):
//   - both sides bound: each must know the other's address and port before
//     it starts, so the port is fixed (laddr here, a Transport's port, or
//     Dialer.LocalAddr), never port 0 learnt afterwards;
//   - both sides rendezvous: a rendezvous does not meet a listener, and
//     UDT 4.11 does not cleanly refuse a plain dial to a port in
//     rendezvous (the dial can report a connection the other side never
//     completes), so never mix the two;
//   - the same socket kind on both sides (Config.Message); the MSS and flow
//     window are negotiated as for a dial;
//   - timing: the two calls overlap within UDT's 30 s (the first side
//     retries its handshake every 250 ms until the other starts). A call
//     that gives up keeps the peer's address busy on its port until those
//     30 s have passed since it started: a second rendezvous to the same
//     peer from the same port meanwhile does not get its answers;
//   - no listener on the port while the handshake runs (UDT gives a
//     listener every handshake that names no socket yet).
//
// Once connected, the Conn is like any other. network is "udt", "udt4" or
// "udt6"; laddr and raddr are "host:port". It binds laddr for this one
// connection; Transport.Rendezvous shares a port with other connections.
func Rendezvous(ctx context.Context, network, laddr, raddr string) (*Conn, error) {
	la, _, err := resolve(ctx, network, laddr, true)
	if err != nil {
		return nil, &net.OpError{Op: "rendezvous", Net: network, Err: err}
	}
	d := Dialer{LocalAddr: newAddr(la)}
	return d.Rendezvous(ctx, network, raddr)
}

// Rendezvous connects to address by a rendezvous (see the package-level
// Rendezvous) from a port of its own at d.LocalAddr, which must be set,
// with a port the peer knows. d.Timeout and ctx bound it as a dial, with
// DefaultRendezvousTimeout when neither sets a deadline.
func (d *Dialer) Rendezvous(ctx context.Context, network, address string) (*Conn, error) {
	s := d.spec()
	s.rendezvous = true
	return s.dial(ctx, network, address, netip.AddrPort{})
}

// Rendezvous connects to address by a rendezvous (see the package-level
// Rendezvous) from the Transport's port, which the peer must know
// (LocalAddr). It fails while the Transport has a listener. ctx bounds it,
// with DefaultRendezvousTimeout without a deadline; the Transport's Close
// ends it with net.ErrClosed. The connection belongs to the Transport
// afterwards, as a dialed one does.
func (t *Transport) Rendezvous(ctx context.Context, network, address string) (*Conn, error) {
	if !t.ok() {
		return nil, errInvalidTransport("rendezvous")
	}
	return t.spec(true).dial(ctx, network, address, netip.AddrPort{})
}
