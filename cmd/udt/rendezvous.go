package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/udtgo/udt"
)

// rendezvousPorts connects by rendezvous (udt cat/perf --rendezvous LOCAL
// REMOTE): the k-th connection of a run goes from LOCAL's port + k to
// REMOTE's port + k, so each has a pair of ports of its own. UDT 4.11 tells
// a port's rendezvous handshakes apart by the peer's address alone, so two
// at once between the same two ports could take each other's.
type rendezvousPorts struct {
	local, remote netip.AddrPort
	mu            sync.Mutex
	next          uint16
}

// parseRendezvous reads LOCAL (an IP address or none, and a port) and
// REMOTE (an IP address and a port).
func parseRendezvous(local, remote string) (*rendezvousPorts, error) {
	host, port, err := net.SplitHostPort(local)
	if err != nil {
		if host, port, err = net.SplitHostPort(":" + local); err != nil {
			return nil, usagef("--rendezvous LOCAL %q: want [IP]:PORT", local)
		}
	}
	ip := netip.IPv4Unspecified()
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return nil, usagef("--rendezvous LOCAL %q: want an IP address, not %q", local, host)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, usagef("--rendezvous LOCAL %q: want a port from 1 to 65535 that the peer knows", local)
	}
	r, err := netip.ParseAddrPort(remote)
	if err != nil || r.Port() == 0 {
		return nil, usagef("--rendezvous REMOTE %q: want IP:PORT, the peer's LOCAL as this side reaches it", remote)
	}
	return &rendezvousPorts{local: netip.AddrPortFrom(ip, uint16(p)), remote: r}, nil
}

// dial makes the run's next connection. The first waits for the peer at
// least udt.DefaultRendezvousTimeout (UDT's limit), as the two ends start
// by hand.
func (r *rendezvousPorts) dial(ctx context.Context, cfg udt.Config, timeout time.Duration) (*udt.Conn, error) {
	r.mu.Lock()
	k := r.next
	r.next++
	r.mu.Unlock()
	if k == 0 {
		timeout = max(timeout, udt.DefaultRendezvousTimeout)
	}
	lp, rp := int(r.local.Port())+int(k), int(r.remote.Port())+int(k)
	if lp > 65535 || rp > 65535 {
		return nil, fmt.Errorf("rendezvous: connection %d would need port %d and %d", k+1, lp, rp)
	}
	d := udt.Dialer{Config: cfg, Timeout: timeout, LocalAddr: &udt.Addr{AddrPort: netip.AddrPortFrom(r.local.Addr(), uint16(lp))}}
	return d.Rendezvous(ctx, "udt", netip.AddrPortFrom(r.remote.Addr(), uint16(rp)).String())
}

// rendezvousListener is a net.Listener whose Accept makes the next
// rendezvous connection: the perf server's side.
type rendezvousListener struct {
	r       *rendezvousPorts
	cfg     udt.Config
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelFunc
}

func newRendezvousListener(r *rendezvousPorts, cfg udt.Config, timeout time.Duration) *rendezvousListener {
	ctx, cancel := context.WithCancel(context.Background())
	return &rendezvousListener{r: r, cfg: cfg, timeout: timeout, ctx: ctx, cancel: cancel}
}

func (l *rendezvousListener) Accept() (net.Conn, error) {
	c, err := l.r.dial(l.ctx, l.cfg, l.timeout)
	if err != nil {
		if l.ctx.Err() != nil {
			return nil, net.ErrClosed
		}
		return nil, err
	}
	return c, nil
}

func (l *rendezvousListener) Close() error { l.cancel(); return nil }

func (l *rendezvousListener) Addr() net.Addr { return &udt.Addr{AddrPort: l.r.local} }
