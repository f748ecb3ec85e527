package cudt

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"
)

// sized sets a socket's flow window to fc and its receive buffer to rcv
// packets.
func sized(t *testing.T, fc, rcv int) func(u int) {
	const mss = 1500
	return func(u int) {
		v := make([]byte, 4)
		binary.NativeEndian.PutUint32(v, uint32(fc))
		must(t, SetSockOpt(u, 4, v)) // UDT_FC, before UDT_RCVBUF, which it bounds
		binary.NativeEndian.PutUint32(v, uint32(rcv*(mss-28)))
		must(t, SetSockOpt(u, 6, v)) // UDT_RCVBUF, in bytes
	}
}

// connectSized sets up one connection on loopback whose ends both have a
// flow window of fc and a receive buffer of rcv packets (closed when the
// test ends), moves a few bytes across it, and reports what the prefault
// counters gained meanwhile.
func connectSized(t *testing.T, fc, rcv int) (arrays, bytesIn uint64) {
	t.Helper()
	a0, b0, _ := PrefaultCounts()
	c, s := connected(t, SOCK_STREAM, sized(t, fc, rcv))
	// The lists were filled after the arrays were populated: the
	// connection works as ever.
	exchange(t, c, s, []byte("prefaulted"))
	a1, b1, _ := PrefaultCounts()
	return a1 - a0, b1 - b0
}

// exchange sends msg from c and reads it at s.
func exchange(t *testing.T, c, s int, msg []byte) {
	t.Helper()
	if n, err := Send(c, msg, 0); err != nil || n != len(msg) {
		t.Fatalf("send: %d, %v", n, err)
	}
	got := make([]byte, len(msg))
	if n, err := Recv(s, got, 0); err != nil || !bytes.Equal(got[:n], msg) {
		t.Fatalf("recv: %q, %v", got[:n], err)
	}
}

// Each end's receive buffer and loss lists are faulted in by one system
// call per array that UDT writes whole, and only those: the lists' other
// arrays (written as losses come), the send buffer and anything else
// allocated with new[] are left to fault as they are written.
func TestPrefaultTakesSetupArraysInBulk(t *testing.T) {
	if _, _, ok := PrefaultCounts(); !ok {
		t.Skip("the kernel refused MADV_POPULATE_WRITE (Linux 5.14 and later)")
	}
	SetSetupArrays(ArraysPrefault)
	defer SetSetupArrays(ArraysUntouched)
	page := uint64(os.Getpagesize())
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
			for _, n := range wholeArrays(tc.fc, tc.rcv) {
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

	SetSetupArrays(ArraysFaults)
	n, b := connectSized(t, 8192, 8192)
	SetSetupArrays(ArraysPrefault)
	if n != 0 || b != 0 {
		t.Errorf("prefaulting off: %d arrays (%d bytes) prefaulted", n, b)
	}
}

// wholeArrays lists the sizes of the arrays UDT's constructors write
// whole, per socket, for a flow window of fc and a receive buffer of rcv
// packets: the receive buffer's slot pointers, the receive loss list's
// two data arrays (fc each), the send loss list's two (twice the peer's
// window each, which a handshake gives as the smaller of its receive
// buffer and window).
func wholeArrays(fc, rcv int) []uint64 {
	w := uint64(min(fc, rcv))
	return []uint64{8 * uint64(rcv), 4 * uint64(fc), 4 * uint64(fc), 8 * w, 8 * w}
}

// By default each end maps the arrays UDT would write whole, those of
// PrefaultMin to LazyMax bytes, untouched, prefaults none, and unmaps
// them all when UDT frees the sockets.
func TestSetupArraysUntouched(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fc, rcv int
	}{
		{"UDT's sizes", 8192, 8192},
		{"a buffer too small for some", 4096, 1024},
		{"the smallest", 32, 32},
		{"arrays too large for the file", LazyMax/8 + 1, LazyMax/8 + 1}, // all but the receive loss list's: prefaulted
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wantLazy, wantBulk uint64
			for _, n := range wholeArrays(tc.fc, tc.rcv) {
				switch {
				case n >= PrefaultMin && n <= LazyMax:
					wantLazy += 2 // both ends
				case n > LazyMax:
					wantBulk += 2
				}
			}
			// A list's link arrays (unset by UDT, as big as a data
			// array) are mapped with it, when it is ours: the receive
			// loss list's next and prior, the send loss list's next.
			lists := [][2]uint64{{4 * uint64(tc.fc), 2}, {8 * uint64(min(tc.fc, tc.rcv)), 1}} // data array size, link arrays
			for _, l := range lists {
				if l[0] >= PrefaultMin && l[0] <= LazyMax {
					wantLazy += 2 * l[1]
				}
			}
			l0 := LazyCounts()
			m0, r0 := l0.Mapped, l0.Refused
			a0, _, _ := PrefaultCounts()
			connectSized(t, tc.fc, tc.rcv)
			l1 := LazyCounts()
			m1, r1 := l1.Mapped, l1.Refused
			a1, _, ok := PrefaultCounts()
			if !ok {
				wantBulk = 0
			}
			if m1-m0 != wantLazy || r1 != r0 || a1-a0 != wantBulk {
				t.Errorf("fc %d, rcv %d: %d arrays mapped untouched (%d refused), %d prefaulted; want %d and %d", tc.fc, tc.rcv, m1-m0, r1-r0, a1-a0, wantLazy, wantBulk)
			}
		})
	}
}

// UDT's destructors hand every mapped array back: with the sockets
// closed and freed, none is left mapped.
func TestSetupArraysUnmappedWithTheirSockets(t *testing.T) {
	before := LazyCounts().MappedNow
	c, s := connected(t, SOCK_STREAM)
	if now := LazyCounts().MappedNow; now < before+16 {
		t.Fatalf("%d arrays mapped with a connection open, want %d more than the %d before", now, 16, before)
	}
	must(t, Close(c))
	must(t, Close(s))
	// UDT frees a closed socket's objects from its garbage collector, a
	// second or more after the close.
	deadline := time.Now().Add(30 * time.Second)
	for {
		now := LazyCounts().MappedNow
		if now <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d arrays still mapped 30 s after the close, %d before the connection", now, before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A socket freed hands its mappings to the next: a second connection of
// the same sizes, once UDT freed the first's sockets, maps nothing anew.
func TestSetupArraysReused(t *testing.T) {
	c, s := connected(t, SOCK_STREAM, sized(t, 8192, 8192))
	// Counted while both are open: UDT's collector may free the first
	// socket before the second's close returns.
	before := LazyCounts()
	must(t, Close(c))
	must(t, Close(s))
	deadline := time.Now().Add(30 * time.Second)
	for LazyCounts().MappedNow > before.MappedNow-16 {
		if time.Now().After(deadline) {
			t.Fatal("UDT did not free the sockets in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	l0 := LazyCounts()
	connectSized(t, 8192, 8192)
	l1 := LazyCounts()
	if l1.Mapped-l0.Mapped != 16 || l1.Reused-l0.Reused != 16 {
		t.Errorf("second connection: %d arrays mapped untouched, %d of them reused; want 16 and 16", l1.Mapped-l0.Mapped, l1.Reused-l0.Reused)
	}
}

// When no mapping may be had, UDT's constructor builds the arrays
// (prefaulted), and the connection works as ever.
func TestSetupArraysPastTheCap(t *testing.T) {
	old := SetLazyCap(0)
	defer SetLazyCap(old)
	l0 := LazyCounts()
	m0, r0 := l0.Mapped, l0.Refused
	a0, _, ok := PrefaultCounts()
	connectSized(t, 8192, 8192)
	l1 := LazyCounts()
	m1, r1 := l1.Mapped, l1.Refused
	a1, _, _ := PrefaultCounts()
	if m1 != m0 || r1-r0 != 2*3 { // per end: the receive buffer's and each list's first array
		t.Errorf("past the cap: %d mapped, %d refused; want 0 and 6", m1-m0, r1-r0)
	}
	if ok && a1-a0 != 10 {
		t.Errorf("past the cap: %d arrays prefaulted, want 10", a1-a0)
	}
}

// The shim's constructors build what UDT's build, member by member and
// slot by slot, at every size (mapped or not).
func TestSetupArraysMatchUDTs(t *testing.T) {
	for _, n := range []int{1, 32, PrefaultMin/4 - 1, PrefaultMin / 4, 8192, 25600, LazyMax / 4, LazyMax/4 + 1} {
		if err := CheckSetupArrays(n); err != nil {
			t.Errorf("%d slots: %v", n, err)
		}
	}
}

// The receive buffer's destructor frees every unit its slots hold, and
// reads only the pages of slots that were ever touched (all of them when
// the machine has swap, as a page swapped out looks untouched).
func TestRecvBufferDestroyFreesUnits(t *testing.T) {
	skipped, err := CheckRecvBufferDestroy()
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(8192*8/os.Getpagesize() - 3)
	if swapOn(t) {
		want = 0
	}
	if skipped != want {
		t.Errorf("%d pages skipped, want %d", skipped, want)
	}
}

func swapOn(t *testing.T) bool {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "SwapTotal:" {
			return f[1] != "0"
		}
	}
	t.Fatal("no SwapTotal in /proc/meminfo")
	return false
}

// A warm array freed is kept as it was for the next of its size (and
// poisoned meanwhile under ./build.sh asan).
func TestWarmArrayReusedAsItWas(t *testing.T) {
	if err := CheckWarmArrays(); err != nil {
		t.Fatal(err)
	}
}

// UDT's new[] arrays of 4 to 64 KiB (each socket's ACK history and send
// buffer among them) come from warm mappings: kept resident when UDT
// frees them, handed to the next connection's, and given back by a trim
// that asks for them.
func TestWarmArraysKeptForTheNextConnection(t *testing.T) {
	// The ACK history's three arrays and the send buffer's 32 packets of
	// 1,500 bytes, in whole pages.
	const perSocket = 4096 + 4096 + 8192 + 49152
	TrimHeap()
	live0, kept0 := WarmCounts()
	if kept0 != 0 {
		t.Fatalf("%d bytes kept after a trim that asked for them", kept0)
	}
	lazy0 := LazyCounts().MappedNow
	c, s := connected(t, SOCK_STREAM)
	exchange(t, c, s, []byte("warm"))
	live1, _ := WarmCounts()
	if live1-live0 < 2*perSocket {
		t.Fatalf("a connection holds %d bytes of warm arrays, want at least %d", live1-live0, 2*perSocket)
	}
	must(t, Close(c))
	must(t, Close(s))
	deadline := time.Now().Add(30 * time.Second)
	for LazyCounts().MappedNow > lazy0 {
		if time.Now().After(deadline) {
			t.Fatal("UDT did not free the sockets in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	live2, kept2 := WarmCounts()
	if kept2 < 2*perSocket || live1-live2 < 2*perSocket {
		t.Fatalf("after UDT freed the sockets: %d bytes kept, %d handed back; want at least %d each", kept2, live1-live2, 2*perSocket)
	}
	// Its ACK histories and send buffers at least come from those kept
	// (its ports' arrays may too).
	r0 := WarmReused()
	c2, s2 := connected(t, SOCK_STREAM)
	if r := WarmReused() - r0; r < 8 {
		t.Errorf("the next connection reused %d warm arrays, want at least 8", r)
	}
	must(t, Close(c2))
	must(t, Close(s2))
	_, kept4 := WarmCounts()
	TrimHeapKeepWarm()
	if _, k := WarmCounts(); k < kept4 {
		t.Errorf("a trim that did not ask for them took %d of the %d bytes kept", kept4-k, kept4)
	}
	TrimHeap()
	if _, k := WarmCounts(); k != 0 {
		t.Errorf("%d bytes kept after a trim that asked for them", k)
	}
	// Turned off, new[] takes the C heap.
	SetWarmArrays(false)
	defer SetWarmArrays(true)
	live5, _ := WarmCounts()
	connected(t, SOCK_STREAM)
	if live6, _ := WarmCounts(); live6 > live5 {
		t.Errorf("warm arrays off: a connection took %d bytes of them", live6-live5)
	}
}
