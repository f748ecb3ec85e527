package syssock

import (
	"encoding/binary"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// packet is a UDT packet of n bytes (of 64: a header and a handshake body)
// with first word w0, tag in the timestamp word, and mss and fc where a
// handshake carries them: UDT 4.11's body is version, socket type, initial
// sequence number, MSS and flow window, big-endian, after the 16-byte
// header. The offsets are written out here, not taken from the filter, so
// that a wrong one there fails here.
func packet(w0, mss, fc uint32, n int, tag uint32) []byte {
	p := make([]byte, 64)
	binary.BigEndian.PutUint32(p[0:], w0)
	binary.BigEndian.PutUint32(p[8:], tag)
	binary.BigEndian.PutUint32(p[16+12:], mss)
	binary.BigEndian.PutUint32(p[16+16:], fc)
	return p[:n]
}

const (
	hsWord   = 0x80000000 // a control packet of type 0: a handshake
	keepWord = 0x80010000 // a keep-alive (control type 1)
	dataWord = 0x00000007 // a data packet, sequence number 7
)

type filterCase struct {
	what string
	p    []byte
	keep bool
}

// TestHandshakeFilter sends packets past every boundary of the filter to a
// socket of OpenUDP's and checks which arrive, under the udt package's
// limits and under others, so that the limits are seen to come from Limits.
func TestHandshakeFilter(t *testing.T) {
	udtLimits := Limits{MaxFlowWindow: 1 << 24, MinMSS: 76, MaxMSS: 65535}
	var cases []filterCase
	add := func(what string, keep bool, w0, mss, fc uint32, n int) {
		cases = append(cases, filterCase{what, packet(w0, mss, fc, n, uint32(len(cases))), keep})
	}
	add("handshake at the largest flow window", true, hsWord, 1500, 1<<24, 64)
	add("flow window one above", false, hsWord, 1500, 1<<24+1, 64)
	add("flow window 2^30", false, hsWord, 1500, 1<<30, 64)
	add("flow window -1", false, hsWord, 1500, 0xffffffff, 64)
	add("MSS 76, UDT's headers", true, hsWord, 76, 25600, 64)
	add("MSS 75", false, hsWord, 75, 25600, 64)
	add("MSS 0", false, hsWord, 0, 25600, 64)
	add("MSS 65535", true, hsWord, 65535, 25600, 64)
	add("MSS 65536", false, hsWord, 65536, 25600, 64)
	add("MSS -1", false, hsWord, 0xffffffff, 25600, 64)
	add("low 16 bits set, good values", true, hsWord|0x1234, 1500, 25600, 64)
	add("low 16 bits set, bad flow window", false, hsWord|0x1234, 1500, 1<<30, 64)
	add("keep-alive with a handshake's bad values", true, keepWord, 1, 0xffffffff, 64)
	add("data packet with a handshake's bad values", true, dataWord, 1, 0xffffffff, 64)
	add("handshake ending with its flow window, bad", false, hsWord, 1500, 1<<30, 36)
	add("handshake ending with its flow window, good", true, hsWord, 1500, 25600, 36)
	add("handshake one byte short of its flow window", true, hsWord, 1500, 1<<30, 35)
	add("header only", true, hsWord, 0, 0, 16)
	add("one word", true, hsWord, 0, 0, 4)
	cases = append(cases, filterCase{"empty datagram", nil, true})
	checkFilter(t, unix.AF_INET, udtLimits, cases)

	cases = nil
	add("at a narrower flow window", true, hsWord, 1500, 1000, 64)
	add("above a narrower flow window", false, hsWord, 1500, 1001, 64)
	add("at a narrower MSS", true, hsWord, 1500, 1000, 64)
	add("above a narrower MSS", false, hsWord, 1501, 1000, 64)
	add("at a higher minimum MSS", true, hsWord, 500, 1000, 64)
	add("below a higher minimum MSS", false, hsWord, 499, 1000, 64)
	checkFilter(t, unix.AF_INET, Limits{MaxFlowWindow: 1000, MinMSS: 500, MaxMSS: 1500}, cases)
}

// checkFilter sends every case to a fresh socket and waits for those that
// should arrive, then for a last packet sent after them all: one that
// should have been dropped and was not has arrived by then. Loopback may
// reorder across CPUs, so a late one may pass unseen, but nothing that
// works is reported as failing.
func checkFilter(t *testing.T, family int, lim Limits, cases []filterCase) {
	t.Helper()
	addr := loop4
	if family == unix.AF_INET6 {
		addr = loop6
	}
	fd, err := OpenUDP(family, addr, lim)
	if err != nil {
		t.Fatal(err)
	}
	at, err := LocalAddr(fd)
	if err != nil {
		t.Fatal(err)
	}
	// FilePacketConn takes a duplicate of fd: the filter is the socket's
	// and comes along.
	f := os.NewFile(uintptr(fd), "udp")
	recv, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	send, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(at))
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()

	byContent := map[string]*filterCase{}
	for i := range cases {
		c := &cases[i]
		if byContent[string(c.p)] != nil {
			t.Fatalf("cases %q and %q send the same bytes", byContent[string(c.p)].what, c.what)
		}
		byContent[string(c.p)] = c
	}
	want := 0
	for _, c := range cases {
		if _, err := send.Write(c.p); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if c.keep {
			want++
		}
	}
	last := packet(dataWord, 0, 0, 64, 0xffffffff)
	sentLast := false
	buf := make([]byte, 128)
	recv.SetReadDeadline(time.Now().Add(10 * time.Second))
	seen := map[string]bool{}
	for {
		if want == 0 && !sentLast {
			if _, err := send.Write(last); err != nil {
				t.Fatal(err)
			}
			sentLast = true
		}
		n, _, err := recv.ReadFrom(buf)
		if err != nil {
			var lost []string
			for _, c := range cases {
				if c.keep && !seen[string(c.p)] {
					lost = append(lost, c.what)
				}
			}
			t.Fatalf("never arrived (%v): %q", err, lost)
		}
		got := string(buf[:n])
		if got == string(last) {
			break
		}
		c := byContent[got]
		switch {
		case c == nil:
			t.Fatalf("a packet nobody sent arrived: % x", buf[:n])
		case seen[got]:
			t.Fatalf("%s: arrived twice", c.what)
		case !c.keep:
			t.Errorf("%s: arrived; the filter should have dropped it", c.what)
		default:
			want--
		}
		seen[got] = true
	}
}

// TestHandshakeFilterOnIPv6: the filter's offsets count from the UDP
// header, which an IPv6 socket's filter sees just as an IPv4 one's does.
func TestHandshakeFilterOnIPv6(t *testing.T) {
	checkFilter(t, unix.AF_INET6, Limits{MaxFlowWindow: 1 << 24, MinMSS: 76, MaxMSS: 65535}, []filterCase{
		{"flow window 2^30", packet(hsWord, 1500, 1<<30, 64, 1), false},
		{"MSS 75", packet(hsWord, 75, 25600, 64, 2), false},
		{"good handshake", packet(hsWord, 1500, 25600, 64, 3), true},
	})
}
