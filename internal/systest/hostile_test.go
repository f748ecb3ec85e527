package systest

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/testenv"
)

// UDT 4.11's wire format, as far as a hostile peer needs it: a 16-byte
// header (control bit and type, extra word, timestamp, destination socket
// ID) and, for a handshake (control type 0), a 48-byte body of version,
// socket type, initial sequence number, MSS, flow window, request type,
// socket ID, cookie and the peer's IP, all big-endian.
const (
	udtHeaderLen    = 16
	handshakeLen    = 48
	ctrlHandshake   = 0
	ctrlKeepAlive   = 1
	ctrlAck         = 2
	ctrlShutdown    = 5
	reqConnect      = 1
	reqResponse     = -1
	reqRendezvous   = 0
	udtVersion      = 4
	handshakeCookie = 7 // word index of the cookie in the body
)

type handshake struct {
	version, sockType, isn, mss, fc, reqType, id, cookie int32
	ip                                                   [4]uint32
}

func (h handshake) packet(dst uint32) []byte {
	p := make([]byte, udtHeaderLen+handshakeLen)
	binary.BigEndian.PutUint32(p[0:], 0x80000000|ctrlHandshake<<16)
	binary.BigEndian.PutUint32(p[12:], dst)
	w := []int32{h.version, h.sockType, h.isn, h.mss, h.fc, h.reqType, h.id, h.cookie}
	for i, v := range w {
		binary.BigEndian.PutUint32(p[udtHeaderLen+4*i:], uint32(v))
	}
	for i, v := range h.ip {
		binary.BigEndian.PutUint32(p[udtHeaderLen+32+4*i:], v)
	}
	return p
}

// hostile sends junk at a UDT port from a plain UDP socket.
type hostile struct {
	t    testing.TB
	conn *net.UDPConn
	rng  *rand.Rand
	sent int
}

func newHostile(t testing.TB, seed uint64) *hostile {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &hostile{t: t, conn: c, rng: rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

func (h *hostile) send(to netip.AddrPort, p []byte) {
	// Loopback drops what the receiver has no room for; pace the flood so
	// most of it reaches UDT.
	if h.sent%64 == 63 {
		time.Sleep(200 * time.Microsecond)
	}
	h.sent++
	if _, err := h.conn.WriteToUDPAddrPort(p, to); err != nil {
		h.t.Fatalf("sending junk to %v: %v", to, err)
	}
}

func (h *hostile) random(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(h.rng.Uint32())
	}
	return b
}

// wild is a field value from the edges and the middle of int32.
func (h *hostile) wild() int32 {
	edges := []int32{0, 1, -1, 2, 3, 4, 5, 32, 76, 1500, 65535, 65536, 1 << 30, 1<<31 - 1, -1 << 31}
	if h.rng.IntN(3) == 0 {
		return int32(h.rng.Uint32())
	}
	return edges[h.rng.IntN(len(edges))]
}

// handshakes sends connection requests with every field wrong in turn and
// every truncation of each.
func (h *hostile) handshakes(to netip.AddrPort, rounds int) {
	for range rounds {
		hs := handshake{version: udtVersion, sockType: 1, isn: int32(h.rng.Uint32() >> 1), mss: 1500, fc: 25600, reqType: reqConnect, id: int32(h.rng.Uint32() >> 1), cookie: int32(h.rng.Uint32())}
		switch h.rng.IntN(8) {
		case 0:
			hs.version = h.wild()
		case 1:
			hs.sockType = h.wild()
		case 2:
			hs.mss = h.wild()
		case 3:
			hs.fc = h.wild()
		case 4:
			hs.reqType = h.wild()
		case 5:
			hs.isn = h.wild()
		case 6:
			hs.id = h.wild()
		}
		p := hs.packet(uint32(h.wild()) & uint32(h.rng.IntN(2)-1))
		for n := 0; n <= len(p); n++ {
			h.send(to, p[:n])
		}
		h.send(to, append(p, h.random(h.rng.IntN(1500))...))
	}
}

// garbage sends random datagrams, and random control and data packets
// addressed to random socket IDs other than those in spare.
func (h *hostile) garbage(to netip.AddrPort, count int, spare ...udt.SocketID) {
	for range count {
		p := h.random(h.rng.IntN(200))
		if len(p) >= udtHeaderLen && h.rng.IntN(2) == 0 {
			for {
				id := h.rng.Uint32() >> h.rng.IntN(32)
				ok := true
				for _, s := range spare {
					ok = ok && id != uint32(s)
				}
				if ok {
					binary.BigEndian.PutUint32(p[12:], id)
					break
				}
			}
			if h.rng.IntN(2) == 0 { // a control packet of a real type
				binary.BigEndian.PutUint32(p[0:], 0x80000000|uint32(h.rng.IntN(8))<<16|h.rng.Uint32()&0xffff)
			}
		}
		h.send(to, p)
	}
}

// cookieEcho plays the whole handshake: a request, then UDT's response
// echoed back with its cookie, carrying hostile values the listener takes
// into a new connection (MSS, flow window, sequence number, version). The
// half-open connections it leaves are what a vanished peer leaves.
func (h *hostile) cookieEcho(to netip.AddrPort, rounds int) (accepted int) {
	buf := make([]byte, 2048)
	for i := range rounds {
		hs := handshake{version: udtVersion, sockType: 1, isn: int32(h.rng.Uint32() >> 1), mss: 1500, fc: 25600, reqType: reqConnect, id: int32(h.rng.Uint32()>>1) | 1, ip: [4]uint32{0x0100007f}}
		h.send(to, hs.packet(0))
		n, err := h.readHandshake(buf, testenv.TimeoutUpperBound)
		if err != nil {
			h.t.Fatalf("round %d: no handshake response from the listener (%d bytes, %v)", i, n, err)
		}
		hs.cookie = int32(binary.BigEndian.Uint32(buf[udtHeaderLen+4*handshakeCookie:]))
		hs.reqType = reqResponse // the second step, as UDT's connect sends it
		switch i % 6 {
		case 0:
			hs.mss = h.wild()
		case 1:
			hs.fc = h.wild()
		case 2:
			hs.isn = h.wild()
		case 3:
			hs.version = h.wild()
		case 4:
			hs.sockType = h.wild()
		case 5:
			hs.mss, hs.fc = -1, -1
		}
		h.send(to, hs.packet(0))
		// A response means UDT took the connection.
		if _, err := h.readHandshake(buf, 100*time.Millisecond); err == nil {
			if int32(binary.BigEndian.Uint32(buf[udtHeaderLen+20:])) == reqResponse {
				accepted++
			}
		}
	}
	return accepted
}

// readHandshake reads until a handshake arrives, skipping the other
// packets UDT sends to the half-open connections of earlier rounds.
func (h *hostile) readHandshake(buf []byte, wait time.Duration) (int, error) {
	h.conn.SetReadDeadline(time.Now().Add(wait))
	for {
		n, err := h.conn.Read(buf)
		if err != nil {
			return n, err
		}
		if n >= udtHeaderLen+handshakeLen && binary.BigEndian.Uint32(buf)&0xffff0000 == 0x80000000 {
			return n, nil
		}
	}
}

// TestHandshakeFilter: a connection request asking for a flow window above
// MaxFlowWindow (UDT would spend gigabytes and seconds on it) or an MSS
// outside 76..MaxMSS (UDT would compute a negative or empty packet) never
// reaches UDT; one just inside the limits gets UDT's answer.
func TestHandshakeFilter(t *testing.T) {
	t.Parallel()
	_, la := listener(t, udt.Stream, loop4)
	buf := make([]byte, 2048)
	for _, tc := range []struct {
		fc, mss int32
		answers bool
	}{
		{udt.MaxFlowWindow, 1500, true}, {udt.MaxFlowWindow + 1, 1500, false}, {-1, 1500, false}, {1 << 30, 1500, false}, {25600, 1500, true},
		{25600, 76, true}, {25600, 75, false}, {25600, 1, false}, {25600, -1, false}, {25600, udt.MaxMSS, true}, {25600, udt.MaxMSS + 1, false},
	} {
		// A port of its own per case, so a late answer cannot count for
		// the next one; an answer may take long on a loaded machine, a
		// drop is given half a second to show it is one.
		h := newHostile(t, 3)
		hs := handshake{version: udtVersion, sockType: 1, isn: 1, mss: tc.mss, fc: tc.fc, reqType: reqConnect, id: 12345}
		p := hs.packet(0)
		binary.BigEndian.PutUint32(p[0:], 0x80000000|0x1234) // UDT ignores the low bits
		h.send(la, p)
		wait := 500 * time.Millisecond
		if tc.answers {
			wait = testenv.TimeoutUpperBound
		}
		n, err := h.readHandshake(buf, wait)
		if got := err == nil && n >= udtHeaderLen+handshakeLen; got != tc.answers {
			t.Errorf("handshake asking for a flow window of %d, MSS %d: answered %v (%d bytes, %v), want %v", tc.fc, tc.mss, got, n, err, tc.answers)
		}
	}
}

func TestHostilePeer(t *testing.T) {
	t.Parallel()
	ln, err := udt.Listen("udt4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnAddr := ln.Addr().(*udt.Addr).AddrPort
	// Junk comes from h's port, and the hostile handshakes, which may make
	// half-open connections, from another: any connection from h's port,
	// accepted at any time until the end, was made by junk.
	h := newHostile(t, 1)
	junkFrom := h.conn.LocalAddr().String()
	var junkConns []string
	accepted := make(chan *udt.Conn, 64)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := ln.(*udt.Listener).AcceptUDT()
			if err != nil {
				acceptErr <- err
				close(accepted)
				return
			}
			if c.RemoteAddr().String() == junkFrom {
				junkConns = append(junkConns, c.RemoteAddr().String())
			}
			accepted <- c
		}
	}()
	defer func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
		// accepted is closed: the accepting goroutine is done.
		if len(junkConns) > 0 {
			t.Errorf("junk made %d connections, from %v", len(junkConns), junkFrom)
		}
	}()
	next := func() *udt.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case err := <-acceptErr:
			t.Fatalf("Accept: %v", err)
		case <-time.After(testenv.TimeoutUpperBound):
			t.Fatal("Accept is wedged")
		}
		return nil
	}
	// A connection made before the attack must survive it.
	old, err := udt.Dial("udt4", lnAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldPeer := next()
	defer oldPeer.Close()

	h.garbage(lnAddr, 3000)
	h.handshakes(lnAddr, 150)
	clientAddr := old.LocalAddr().(*udt.Addr).AddrPort
	spare := []udt.SocketID{old.(*udt.Conn).Socket().ID(), oldPeer.Socket().ID()}
	h.garbage(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), clientAddr.Port()), 3000, spare...)
	h.garbage(lnAddr, 3000, spare...)
	sent := h.sent
	half := newHostile(t, 2).cookieEcho(lnAddr, 60)
	t.Logf("%d junk packets, then 60 hostile handshakes of which UDT answered %d as connected", sent, half)
	testenv.Exchange(t, "connection made before the attack", old, oldPeer, 1<<20)
	for i := range 3 {
		d := udt.Dialer{Timeout: testenv.TimeoutUpperBound}
		c, err := d.Dial("udt4", lnAddr.String())
		if err != nil {
			t.Fatalf("dial %d after the attack: %v", i, err)
		}
		// The half-open connections of the hostile handshakes may come
		// out of Accept first; none may keep the real one back.
		s := next()
		for s.RemoteAddr().String() != c.LocalAddr().String() {
			s.Close()
			s = next()
		}
		testenv.Exchange(t, "connection made after the attack", c, s, 1<<20)
		c.Close()
		s.Close()
	}
}
