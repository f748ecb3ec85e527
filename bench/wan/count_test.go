package main

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/wanlab"
)

// ipv4 wraps a transport header and payload in a 20-byte IPv4 header.
func ipv4(proto byte, transport []byte) []byte {
	p := make([]byte, 20+len(transport))
	p[0] = 0x45
	p[9] = proto
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	copy(p[20:], transport)
	return p
}

const testPort = 7001

func tcpSegment(seq uint32, payload int) []byte {
	t := make([]byte, 20+payload)
	binary.BigEndian.PutUint16(t[2:], testPort)
	binary.BigEndian.PutUint32(t[4:], seq)
	t[12] = 5 << 4 // data offset: 20 bytes
	return ipv4(6, t)
}

func udtPacket(seq uint32, payload int, control bool) []byte {
	u := make([]byte, 8+udtHeader+payload) // UDP header, then UDT's
	binary.BigEndian.PutUint16(u[0:], testPort)
	binary.BigEndian.PutUint32(u[8:], seq)
	if control {
		u[8] |= 0x80
	}
	return ipv4(17, u)
}

func TestTCPCountSkipsRetransmissions(t *testing.T) {
	c := newTCPCounter(0, time.Hour, testPort)
	start := uint32(0xffff_f000) // wraps within the test
	seq := start
	for range 10 {
		c.see(wanlab.B, tcpSegment(seq, 1000))
		seq += 1000
	}
	c.see(wanlab.B, tcpSegment(start+3000, 1000))       // a retransmission
	c.see(wanlab.B, tcpSegment(seq-500, 1000))          // half old, half new
	c.see(wanlab.B, tcpSegment(seq, 0))                 // a bare ACK
	c.see(wanlab.A, tcpSegment(seq+10_000, 1000))       // the other direction
	c.see(wanlab.B, udtPacket(seq+20_000, 1000, false)) // not TCP
	other := tcpSegment(seq+30_000, 1000)               // another flow
	binary.BigEndian.PutUint16(other[22:], testPort+1)
	c.see(wanlab.B, other)
	if c.bytes != 10_500 {
		t.Errorf("counted %d new bytes, want 10500", c.bytes)
	}
	if c.repeats != 1 || c.pkts != 12 {
		t.Errorf("%d repeats in %d data packets, want 1 in 12", c.repeats, c.pkts)
	}
}

func TestUDTCountSkipsRepeatsAndControl(t *testing.T) {
	c := newUDTCounter(0, time.Hour, testPort)
	for i := range uint32(5) {
		c.see(wanlab.B, udtPacket(100+i, 1456, false))
	}
	c.see(wanlab.B, udtPacket(102, 1456, false)) // retransmitted
	c.see(wanlab.B, udtPacket(7, 16, true))      // an ACK
	c.see(wanlab.B, tcpSegment(1, 1000))         // not UDT
	if c.bytes != 5*1456 || c.repeats != 1 || c.pkts != 6 {
		t.Errorf("counted %d bytes, %d repeats in %d packets; want %d, 1, 6", c.bytes, c.repeats, c.pkts, 5*1456)
	}
}

func TestCountWindow(t *testing.T) {
	c := newUDTCounter(50*time.Millisecond, 100*time.Millisecond, testPort)
	c.see(wanlab.B, udtPacket(1, 1000, false)) // starts the clock, before the window
	time.Sleep(80 * time.Millisecond)
	c.see(wanlab.B, udtPacket(2, 1000, false)) // inside
	if _, ok := c.mbps(); ok {
		t.Error("the count says done before its window closed")
	}
	time.Sleep(100 * time.Millisecond)
	c.see(wanlab.B, udtPacket(3, 1000, false)) // after: closes it
	m, ok := c.mbps()
	if !ok || c.bytes != 1000 {
		t.Fatalf("done %v with %d bytes, want done with 1000", ok, c.bytes)
	}
	if want := 1000 * 8 / 0.1 / 1e6; m != want {
		t.Errorf("%v Mbit/s, want %v", m, want)
	}
}

func TestMarkdownTableRatios(t *testing.T) {
	rep := &Report{RateBps: 100e6, Contenders: []string{"udt", "udt-cpp", "tcp"}, Cells: []*Cell{{
		RTTms: 100, LossPct: 0.1, Results: map[string]*Result{
			"udt": {Mbps: 90, LinkPct: 90}, "udt-cpp": {Mbps: 100, LinkPct: 100}, "tcp": {Mbps: 9, LinkPct: 9},
		},
	}}}
	got := markdownTable(rep)
	for _, want := range []string{"| 100 ms | 0.1% | 90.0 (90%) | 100.0 (100%) | 9.0 (9%) | 10.0× | 90% |"} {
		if !strings.Contains(got, want) {
			t.Errorf("table\n%s\nlacks the row %q", got, want)
		}
	}
}
