package udt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udtgo/udt/cudt"
)

// The fuzz targets. `go test` runs their seeds; `./build.sh test` fuzzes
// each for a few seconds and `./build.sh fuzz` for longer (FUZZTIME).

// FuzzResolveAddr: any network and address either resolves to an address
// of the network's family that resolves again to itself, or fails with a
// net error; never a panic. Names resolve from /etc/hosts only (TestMain).
func FuzzResolveAddr(f *testing.F) {
	for _, s := range []struct{ network, address string }{
		{"udt", "127.0.0.1:9000"}, {"udt4", "127.0.0.1:0"}, {"udt6", "[::1]:65535"},
		{"udt", "[fe80::1%lo]:1"}, {"udt", "[::ffff:127.0.0.1]:7"}, {"udt4", "[::ffff:127.0.0.1]:7"},
		{"udt", "localhost:80"}, {"udt", ":80"}, {"udt6", ":0"}, {"udt", "127.0.0.1:65536"},
		{"udt", "127.0.0.1:-1"}, {"udt", "127.0.0.1"}, {"udt", "[::1"}, {"udt", "::1:80"},
		{"tcp", "127.0.0.1:80"}, {"", ""}, {"udt", "a b:1"}, {"udt", "1.2.3.4.5:6"},
		{"udt", "[::1]:0x10"}, {"udt", "0:0"}, {"udt", "[%]:1"}, {"udt6", "[::1%999999]:1"},
	} {
		f.Add(s.network, s.address)
	}
	f.Fuzz(func(t *testing.T, network, address string) {
		a, err := ResolveAddr(network, address)
		if err != nil {
			var ne net.Error
			var ae *net.AddrError
			var de *net.DNSError
			var un net.UnknownNetworkError
			if !errors.As(err, &ae) && !errors.As(err, &de) && !errors.As(err, &un) && !errors.As(err, &ne) {
				t.Fatalf("ResolveAddr(%q, %q): %v (%T) is not a net error", network, address, err, err)
			}
			if a != nil {
				t.Fatalf("ResolveAddr(%q, %q) returned %v with error %v", network, address, a, err)
			}
			return
		}
		if !a.IsValid() || a.Network() != "udt" {
			t.Fatalf("ResolveAddr(%q, %q) = %v, not a valid udt address", network, address, a)
		}
		switch f := familyOfAddr(a.Addr()); {
		case network == "udt4" && f != IPv4, network == "udt6" && f != IPv6:
			t.Fatalf("ResolveAddr(%q, %q) = %v, of family %v", network, address, a, f)
		}
		again, err := ResolveAddr(network, a.String())
		if err != nil || again.AddrPort != a.AddrPort {
			t.Fatalf("ResolveAddr(%q, %q) = %v, which resolves to %v, %v", network, address, a, again, err)
		}
		// Listening reads an empty host as every address, and any other
		// address as dialing does.
		l, f, err := resolve(context.Background(), network, address, true)
		if err != nil || (l != a.AddrPort && !l.Addr().IsUnspecified()) || f != familyOfAddr(l.Addr()) {
			t.Fatalf("resolve(%q, %q) for listening = %v, %v, %v; for dialing %v", network, address, l, f, err, a)
		}
	})
}

// FuzzConfig: validate never panics, names the field it refuses, and
// agrees with UDT: a Config it accepts applies to a fresh socket without
// error.
func FuzzConfig(f *testing.F) {
	f.Add(false, int64(0), false, 0, 0, 0, 0, 0, 0, int64(0), int64(0), 0, 0.0)
	f.Add(true, int64(time.Second), true, 1500, 25600, 12058624, 12058624, 65536, 12288000, int64(1e9), int64(180*time.Second), int(CCFixedRate), 100.0)
	f.Add(false, int64(0), false, 76, 1, 48, 1, 1, 1, int64(1), int64(time.Second), int(CCNative), 0.0)
	f.Add(false, int64(0), false, 65535, 32, 65507, 1<<31-1, 1<<31-1, 1<<31-1, int64(math.MaxInt64), int64(-1), int(CCFixedRate), MinFixedRate)
	f.Add(false, int64(-1), true, -1, -1, 100, -1, -1, -1, int64(-1), int64(1500*time.Millisecond), 9, math.NaN())
	f.Add(true, int64(0), false, 9000, 0, 8971, 0, 0, 0, int64(0), int64(1<<31)*int64(time.Second), int(CCFixedRate), 1e7)
	f.Fuzz(func(t *testing.T, msg bool, ttl int64, unordered bool, mss, fc, sndbuf, rcvbuf, udpsnd, udprcv int, maxbw, linger int64, cc int, mbps float64) {
		cfg := Config{
			Message: msg, MessageTTL: time.Duration(ttl), MessageUnordered: unordered,
			MSS: mss, FlowWindow: fc, SendBuffer: sndbuf, RecvBuffer: rcvbuf,
			UDPSendBuffer: udpsnd, UDPRecvBuffer: udprcv, MaxSendRate: BitRate(maxbw),
			Linger: time.Duration(linger), CongestionControl: CongestionControl{Kind: CCKind(cc), Mbps: mbps},
		}
		if err := cfg.validate(); err != nil {
			if !strings.Contains(err.Error(), "Config.") && !strings.Contains(err.Error(), "ListenConfig.") {
				t.Fatalf("validate(%+v): %v names no field", cfg, err)
			}
			return
		}
		s, err := NewSocket(IPv4, cfg.socketType())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := cfg.apply(Native, s); err != nil {
			t.Fatalf("validate accepted %+v, but UDT refused it: %v", cfg, err)
		}
	})
}

// FuzzSockOpt sets every option from fuzzed values, through the typed API
// and through raw bytes of any length at the cgo boundary: errors, never a
// crash, and what was set reads back where UDT keeps it exactly.
func FuzzSockOpt(f *testing.F) {
	f.Add(0, int64(1500), true, []byte{0xdc, 0x05, 0, 0})
	f.Add(3, int64(0), false, []byte{})
	f.Add(7, int64(-1), true, []byte{1, 0, 0, 0, 5, 0, 0, 0})
	f.Add(13, int64(math.MaxInt64), false, []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(16, int64(math.MinInt64), true, bytes.Repeat([]byte{0xff}, 8))
	f.Add(21, int64(1), true, []byte{1})
	f.Add(-1, int64(1), false, make([]byte, 64))
	f.Fuzz(func(t *testing.T, opt int, v int64, on bool, raw []byte) {
		s, err := NewSocket(IPv4, Stream)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		o := Option(opt)
		var val any
		switch {
		case !o.valid():
			val = int(v)
		case options[o].kind == kindBool:
			val = on
		case options[o].kind == kindInt64:
			val = v
		case options[o].kind == kindLinger:
			val = Linger{On: on, Timeout: time.Duration(v)}
		case options[o].kind == kindCC:
			val = CongestionControl{Kind: CCKind(v & 7), Mbps: float64(v) / 1e3}
		case options[o].kind == kindTimeout:
			val = time.Duration(v)
		default:
			val = int(v)
		}
		err = s.SetSockOpt(o, val)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), "setsockopt") {
				t.Fatalf("SetSockOpt(%v, %v): %v (%T) is not a setsockopt *Error", o, val, err, err)
			}
		} else if o != OptCC {
			got, err := s.GetSockOpt(o)
			if err != nil {
				t.Fatalf("GetSockOpt(%v) after setting %v: %v", o, val, err)
			}
			want := val
			switch w := val.(type) {
			case time.Duration:
				if w < 0 {
					want = -time.Millisecond
				} else {
					want = (w + time.Millisecond - 1) / time.Millisecond * time.Millisecond
				}
			case Linger:
				want = Linger{On: w.On, Timeout: w.Timeout}
			case int:
				want = nil // UDT rounds and clamps buffer sizes
			}
			if want != nil && got != want {
				t.Fatalf("set %v to %v, read back %v (want %v)", o, val, got, want)
			}
		}

		// The raw layer must refuse a buffer of the wrong size for the
		// option before UDT, which trusts the length, reads or writes it.
		u := int(s.ID())
		if err := cudt.SetSockOpt(u, opt, raw); err != nil && err.(*cudt.Error).Code == 0 {
			t.Fatalf("cudt.SetSockOpt(%d, %x): error without a code: %v", opt, raw, err)
		}
		buf := make([]byte, len(raw))
		n, err := cudt.GetSockOpt(u, opt, buf)
		if err == nil && (n < 0 || n > len(buf)) {
			t.Fatalf("cudt.GetSockOpt(%d, %d bytes) wrote %d", opt, len(buf), n)
		}
	})
}

// msgPair is one datagram connection with a small send buffer, so the
// "larger than the send buffer" edge is cheap to reach.
func msgPair(f *testing.F) (client, server Socket, limit int) {
	const sndbuf = 64 << 10
	l, la := listener(f, Datagram, loop4)
	c, s := dialAccept(f, l, la, Datagram, func(s Socket) {
		if err := s.SetSendBuffer(sndbuf); err != nil {
			f.Fatal(err)
		}
	})
	// No UDT_RCVTIMEO: with it, recvmsg waits for the next packet even
	// when a whole message is queued (see docs/udt4-behaviour.md).
	// The go test timeout bounds a real hang.
	// UDT keeps the send buffer in packets of MSS-28 bytes, each carrying
	// MSS-44 bytes of data, and refuses a message longer than all of them.
	mss, err := c.MSS()
	if err != nil {
		f.Fatal(err)
	}
	return c, s, sndbuf / (mss - udpIPHeaders) * (mss - udpIPHeaders - 16)
}

// FuzzMessageSizes sends two messages of fuzzed sizes and reads the first
// into a buffer of fuzzed size: it arrives cut to the buffer, the second
// arrives whole after it, an empty or oversized message is refused with its
// own error, and nothing panics.
func FuzzMessageSizes(f *testing.F) {
	f.Add(uint32(1), uint32(1), uint32(1), false)
	f.Add(uint32(0), uint32(5), uint32(0), true)
	f.Add(uint32(1456), uint32(1457), uint32(1456), true)
	f.Add(uint32(64064), uint32(64065), uint32(1<<20), true)
	f.Add(uint32(5000), uint32(100), uint32(4999), false)
	f.Add(uint32(1<<24), uint32(7), uint32(3), true)
	c, s, limit := msgPair(f)
	f.Fuzz(func(t *testing.T, n1, n2, bufLen uint32, inOrder bool) {
		n1, n2 = n1%(1<<17), n2%(1<<17)
		bufLen %= 1 << 17
		m1 := bytes.Repeat([]byte{byte(n1), byte(n2)}, int(n1+1)/2)[:n1]
		m2 := bytes.Repeat([]byte{byte(n2 + 1)}, int(n2))
		sent := 0
		for _, m := range [][]byte{m1, m2} {
			_, err := c.SendMsg(m, 0, inOrder)
			switch {
			case len(m) == 0:
				if CodeOf(err) != ErrInvParam || !strings.Contains(err.Error(), "at least one byte") {
					t.Fatalf("empty message: %v", err)
				}
			case len(m) > limit:
				if CodeOf(err) != ErrLargeMsg {
					t.Fatalf("message of %d bytes (limit %d): %v, want ErrLargeMsg", len(m), limit, err)
				}
			case err != nil:
				t.Fatalf("message of %d bytes (limit %d): %v", len(m), limit, err)
			default:
				sent++
			}
		}
		if sent == 0 {
			return
		}
		first, second := m1, m2
		if len(m1) == 0 || len(m1) > limit {
			first, second = m2, nil
		} else if len(m2) == 0 || len(m2) > limit {
			second = nil
		}
		// A zero-length read takes nothing and leaves the message queued.
		if n, err := s.RecvMsg(nil); n != 0 || err != nil {
			t.Fatalf("RecvMsg(nil) = %d, %v", n, err)
		}
		buf := make([]byte, bufLen)
		n, err := s.RecvMsg(buf)
		if bufLen == 0 {
			buf = make([]byte, len(first))
			n, err = s.RecvMsg(buf)
		}
		want := first[:min(len(first), len(buf))]
		if err != nil || !bytes.Equal(buf[:n], want) {
			t.Fatalf("first message (%d bytes into %d): got %d bytes, %v", len(first), len(buf), n, err)
		}
		if second != nil {
			buf = make([]byte, len(second)+1)
			n, err := s.RecvMsg(buf)
			if err != nil || !bytes.Equal(buf[:n], second) {
				t.Fatalf("second message (%d bytes): got %d bytes, %v", len(second), n, err)
			}
		}
	})
}

// FuzzFileRange sends a fuzzed range of a small file, through the raw
// SendFile and through Conn.SendFile, and receives one with RecvFile at a
// fuzzed offset: a range inside the file arrives byte-identical, one past
// its end is refused before anything is sent (the stream stays in step),
// and negative values are refused with an error naming them.
func FuzzFileRange(f *testing.F) {
	f.Add(int64(0), int64(100), int64(0), 0, false)
	f.Add(int64(4000), int64(96), int64(10), 1, true)
	f.Add(int64(4096), int64(1), int64(0), 0, false)
	f.Add(int64(-1), int64(5), int64(0), 0, true)
	f.Add(int64(3), int64(-5), int64(-2), -1, false)
	f.Add(int64(math.MaxInt64), int64(1), int64(0), 0, true)
	f.Add(int64(1), int64(4095), int64(1<<20), 7, false)
	dir := f.TempDir()
	src := filepath.Join(dir, "src")
	content := make([]byte, 4096)
	if _, err := pattern(7).Read(content); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(src, content, 0o644); err != nil {
		f.Fatal(err)
	}
	c, s := pair(f, Stream, loop4)
	for _, x := range []Socket{c, s} {
		if err := x.SetSendTimeout(10 * time.Second); err != nil {
			f.Fatal(err)
		}
		if err := x.SetRecvTimeout(10 * time.Second); err != nil {
			f.Fatal(err)
		}
	}
	ln, err := Listen("udt", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	nc, err := Dial("udt", ln.Addr().String())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { nc.Close() })
	conn := nc.(*Conn)
	peer, err := ln.Accept()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { peer.Close() })

	f.Fuzz(func(t *testing.T, off, size, recvOff int64, block int, viaConn bool) {
		size %= 1 << 13 // up to twice the file
		recvOff %= 1 << 20
		inside := off >= 0 && size >= 0 && off <= int64(len(content))-size
		var n int64
		var err error
		if viaConn {
			n, err = conn.SendFile(src, off, size)
		} else {
			n, err = c.SendFile(src, off, size, block)
		}
		validBlock := viaConn || (block >= 0 && block <= 1<<31-1)
		if !inside || !validBlock {
			if err == nil {
				t.Fatalf("SendFile(%d, %d, block %d) of a %d-byte file succeeded", off, size, block, len(content))
			}
			want := ErrInvRdOff
			switch {
			case off < 0, size < 0, off > math.MaxInt64-size, !validBlock:
				want = ErrInvParam
			}
			if CodeOf(err) != want || n != 0 {
				t.Fatalf("SendFile(%d, %d, block %d): %d, %v, want %v", off, size, block, n, err, want)
			}
			return
		}
		if err != nil || n != size {
			t.Fatalf("SendFile(%d, %d, block %d) = %d, %v", off, size, block, n, err)
		}
		want := sha256.Sum256(content[off : off+size])
		if viaConn {
			peer.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, size)
			if _, err := ioReadFull(peer, got); err != nil || sha256.Sum256(got) != want {
				t.Fatalf("Conn.SendFile(%d, %d): received %v, digest differs", off, size, err)
			}
			return
		}
		// The raw pair receives with RecvFile at recvOff, when it is valid.
		dst := filepath.Join(t.TempDir(), "dst")
		if recvOff < 0 {
			if _, err := s.RecvFile(dst, recvOff, size, 0); CodeOf(err) != ErrInvParam {
				t.Fatalf("RecvFile at %d: %v", recvOff, err)
			}
			recvOff = 0
		}
		got, err := s.RecvFile(dst, recvOff, size, 0)
		if err != nil || got != size {
			t.Fatalf("RecvFile(%d, %d) = %d, %v", recvOff, size, got, err)
		}
		data, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		wantLen := recvOff + size
		if size == 0 {
			wantLen = 0 // UDT truncates, then writes nothing past the offset
		}
		if int64(len(data)) != wantLen || sha256.Sum256(data[min(recvOff, wantLen):]) != want {
			t.Fatalf("RecvFile at %d: file of %d bytes, digest differs", recvOff, len(data))
		}
	})
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
