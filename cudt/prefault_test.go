package cudt

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
)

// connectSized sets up one connection on loopback whose ends both have a
// flow window of fc and a receive buffer of rcv packets (closed when the
// test ends), moves a few bytes across it, and reports what the prefault
// counters gained meanwhile.
func connectSized(t *testing.T, fc, rcv int) (arrays, bytesIn uint64) {
	t.Helper()
	const mss = 1500
	opts := func(u int) {
		v := make([]byte, 4)
		binary.NativeEndian.PutUint32(v, uint32(fc))
		must(t, SetSockOpt(u, 4, v)) // UDT_FC, before UDT_RCVBUF, which it bounds
		binary.NativeEndian.PutUint32(v, uint32(rcv*(mss-28)))
		must(t, SetSockOpt(u, 6, v)) // UDT_RCVBUF, in bytes
	}
	a0, b0, _ := PrefaultCounts()
	c, s := connected(t, SOCK_STREAM, opts)
	// The lists were filled after the arrays were populated: the
	// connection works as ever.
	msg := []byte("prefaulted")
	if n, err := Send(c, msg, 0); err != nil || n != len(msg) {
		t.Fatalf("send: %d, %v", n, err)
	}
	got := make([]byte, len(msg))
	if n, err := Recv(s, got, 0); err != nil || !bytes.Equal(got[:n], msg) {
		t.Fatalf("recv: %q, %v", got[:n], err)
	}
	a1, b1, _ := PrefaultCounts()
	return a1 - a0, b1 - b0
}

// Each end's receive buffer and loss lists are faulted in by one system
// call per array that UDT writes whole, and only those: the lists' other
// arrays (written as losses come), the send buffer and anything else
// allocated with new[] are left to fault as they are written.
func TestPrefaultTakesSetupArraysInBulk(t *testing.T) {
	if _, _, ok := PrefaultCounts(); !ok {
		t.Skip("the kernel refused MADV_POPULATE_WRITE (Linux 5.14 and later)")
	}
	page := uint64(os.Getpagesize())
	// sizes of the arrays written whole, per socket: the receive buffer's
	// slot pointers, the receive loss list's two data arrays (fc each),
	// the send loss list's two (twice the peer's window each, which a
	// handshake gives as the smaller of its receive buffer and window).
	whole := func(fc, rcv int) []uint64 {
		w := uint64(min(fc, rcv))
		return []uint64{8 * uint64(rcv), 4 * uint64(fc), 4 * uint64(fc), 8 * w, 8 * w}
	}
	for _, tc := range []struct {
		name    string
		fc, rcv int
	}{
		{"UDT's sizes", 8192, 8192},
		{"a buffer too small for some", 4096, 1024}, // only the receive loss list's arrays reach PrefaultMin
		{"the smallest", 32, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wantN, wantMax uint64
			for _, n := range whole(tc.fc, tc.rcv) {
				if n >= PrefaultMin {
					wantN += 2 // both ends
					wantMax += 2 * n
				}
			}
			n, b := connectSized(t, tc.fc, tc.rcv)
			// An array need not start on a page: its first and last
			// partial pages fault as before.
			if n != wantN || b > wantMax || b+wantN*page < wantMax {
				t.Errorf("fc %d, rcv %d: %d arrays of %d bytes prefaulted, want %d arrays of %d bytes (less up to a page each)", tc.fc, tc.rcv, n, b, wantN, wantMax)
			}
		})
	}

	SetPrefault(false)
	n, b := connectSized(t, 8192, 8192)
	SetPrefault(true)
	if n != 0 || b != 0 {
		t.Errorf("prefaulting off: %d arrays (%d bytes) prefaulted", n, b)
	}
}
