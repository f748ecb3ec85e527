package wanlab

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
)

// StatefulFilter is what a NAT or a stateful firewall does to UDP in front
// of a side it protects: a datagram gets in only as a reply to a flow that
// side opened, that is when the side has sent from the datagram's
// destination address and port to its source address and port. Everything
// else (IPv4 that is not UDP, fragments included) passes. Its Pass method
// is a Lab.Filter; a Lab delivers both directions through it, so it sees
// what each side sends.
type StatefulFilter struct {
	protect [2]bool
	mu      sync.Mutex
	opened  map[flow]bool // flows sent by a protected side: local, remote
	dropped [2]atomic.Int64
}

type flow struct{ local, remote netip.AddrPort }

// NewStatefulFilter protects the given sides.
func NewStatefulFilter(protect ...Side) *StatefulFilter {
	f := &StatefulFilter{opened: map[flow]bool{}}
	for _, s := range protect {
		f.protect[s] = true
	}
	return f
}

// Pass reports whether pkt, an IP packet on its way to side to, gets in;
// it records the flows that packets from a protected side open.
func (f *StatefulFilter) Pass(to Side, pkt []byte) bool {
	src, dst, ok := udpEnds(pkt)
	if !ok {
		return true
	}
	from := 1 - to
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.protect[from] {
		f.opened[flow{src, dst}] = true
	}
	if f.protect[to] && !f.opened[flow{dst, src}] {
		f.dropped[to].Add(1)
		return false
	}
	return true
}

// Dropped is how many datagrams the filter kept from side s.
func (f *StatefulFilter) Dropped(s Side) int64 { return f.dropped[s].Load() }

// udpEnds reads the source and destination of an unfragmented IPv4 UDP
// datagram.
func udpEnds(pkt []byte) (src, dst netip.AddrPort, ok bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != 17 {
		return src, dst, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || len(pkt) < ihl+8 || binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 {
		return src, dst, false // a later fragment carries no ports
	}
	sip := netip.AddrFrom4([4]byte(pkt[12:16]))
	dip := netip.AddrFrom4([4]byte(pkt[16:20]))
	sp := binary.BigEndian.Uint16(pkt[ihl:])
	dp := binary.BigEndian.Uint16(pkt[ihl+2:])
	return netip.AddrPortFrom(sip, sp), netip.AddrPortFrom(dip, dp), true
}
