package netem

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// UDPRelay puts an emulated path between one UDP client and a target on the
// same machine: the client sends to Addr, the relay forwards through the up
// Link to target, and the target's replies come back through the down Link
// to the client that spoke last.
type UDPRelay struct {
	front    *net.UDPConn // the client talks to this
	back     *net.UDPConn // connected to the target
	up, down *Link
	client   atomic.Pointer[netip.AddrPort]
	wg       sync.WaitGroup
	once     sync.Once
}

// relaySocketBuffer keeps the kernel from dropping bursts before the
// emulator sees them: loss must come from the Config alone.
const relaySocketBuffer = 8 << 20

// NewUDPRelay starts a relay on 127.0.0.1:0, or [::1]:0 for an IPv6 target.
func NewUDPRelay(target netip.AddrPort, up, down Config) (*UDPRelay, error) {
	if !target.IsValid() || target.Port() == 0 {
		return nil, fmt.Errorf("netem: relay target %v is not an address with a port", target)
	}
	if err := up.Validate(); err != nil {
		return nil, fmt.Errorf("up: %w", err)
	}
	if err := down.Validate(); err != nil {
		return nil, fmt.Errorf("down: %w", err)
	}
	network, local := "udp4", netip.MustParseAddrPort("127.0.0.1:0")
	if target.Addr().Is4() || target.Addr().Is4In6() {
		target = netip.AddrPortFrom(target.Addr().Unmap(), target.Port())
	} else {
		network, local = "udp6", netip.MustParseAddrPort("[::1]:0")
	}
	front, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("netem: relay listen: %w", err)
	}
	back, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		front.Close()
		return nil, fmt.Errorf("netem: relay dial %v: %w", target, err)
	}
	for _, c := range []*net.UDPConn{front, back} {
		// Best effort: the kernel clamps to net.core.*mem_max.
		c.SetReadBuffer(relaySocketBuffer)
		c.SetWriteBuffer(relaySocketBuffer)
	}
	r := &UDPRelay{front: front, back: back}
	r.up = NewLink(up, func(p []byte) { back.Write(p) })
	r.down = NewLink(down, func(p []byte) {
		if c := r.client.Load(); c != nil {
			front.WriteToUDPAddrPort(p, *c)
		}
	})
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		var last netip.AddrPort
		for {
			n, from, err := front.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // e.g. ICMP unreachable reported on a read
			}
			if from != last {
				last = from
				r.client.Store(&from)
			}
			r.up.Send(buf[:n])
		}
	}()
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := back.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // the target is not listening (yet): ECONNREFUSED
			}
			r.down.Send(buf[:n])
		}
	}()
	return r, nil
}

// Addr is where the client sends.
func (r *UDPRelay) Addr() netip.AddrPort {
	return r.front.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Stats returns the counters of the two directions.
func (r *UDPRelay) Stats() (up, down LinkStats) {
	return r.up.Stats(), r.down.Stats()
}

// SetConfig changes both directions; neither changes if either is bad.
func (r *UDPRelay) SetConfig(up, down Config) error {
	if err := up.Validate(); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	if err := down.Validate(); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	r.up.SetConfig(up)
	r.down.SetConfig(down)
	return nil
}

// Close stops the relay and waits for its goroutines. It may be called more
// than once.
func (r *UDPRelay) Close() {
	r.once.Do(func() {
		r.front.Close()
		r.back.Close()
		r.wg.Wait()
		r.up.Close()
		r.down.Close()
	})
}

// UDTData reports whether pkt is a UDT data packet (the top bit of its
// first byte clear), for Config.Lossy: losing only data packets keeps the
// handshake and the control traffic intact, as in tests of retransmission.
func UDTData(pkt []byte) bool {
	return len(pkt) > 0 && pkt[0]&0x80 == 0
}
