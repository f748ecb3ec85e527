package wanlab

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func udpPacket(src, dst netip.AddrPort) []byte {
	p := make([]byte, 28)
	p[0] = 0x45
	p[9] = 17
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[20:], src.Port())
	binary.BigEndian.PutUint16(p[22:], dst.Port())
	return p
}

func TestStatefulFilter(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:1000")
	b := netip.MustParseAddrPort("10.0.0.2:2000")
	b2 := netip.MustParseAddrPort("10.0.0.2:2001")
	f := NewStatefulFilter(B)
	if f.Pass(B, udpPacket(a, b)) {
		t.Fatal("an unsolicited datagram got into the protected side")
	}
	if !f.Pass(A, udpPacket(b, a)) {
		t.Fatal("the unprotected side did not get a datagram")
	}
	if !f.Pass(B, udpPacket(a, b)) {
		t.Fatal("a reply to a flow B opened was dropped")
	}
	if f.Pass(B, udpPacket(a, b2)) {
		t.Fatal("a datagram to another port of B got in")
	}
	if got := f.Dropped(B); got != 2 {
		t.Fatalf("Dropped(B) = %d, want 2", got)
	}
	if !f.Pass(B, []byte{0x60, 0, 0}) {
		t.Fatal("a packet that is not IPv4 UDP was dropped")
	}
}
