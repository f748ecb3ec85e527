package udt

import (
	"cmp"
	"fmt"
	"time"

	"github.com/udtgo/udt/cudt"
)

// UDT 4.11 sizes a connection's buffers when it connects and never resizes
// them, and frees them only when its garbage collector deletes the socket,
// 1 to 2.2 s after the close: docs/memory.md measures where the memory goes.

// UDT's defaults, in packets: the receive buffer, and UDT_FC, which also
// caps the receive buffer.
const (
	udtRcvBufPackets = 8192
	udtFlowWindow    = 25600
)

// flowWindow is the UDT_FC this package sets. UDT sizes a connection's
// receive loss list by its own UDT_FC (25,600 packets by default: 400 KiB,
// half of it written at once), yet what it offers the peer, and so the
// most packets ever in flight towards it, is the smaller of UDT_FC and
// the receive buffer (8,192 packets by default): a window above the
// receive buffer only costs memory. So unless Config.FlowWindow says
// otherwise, it is the receive buffer's size in packets, as UDT computes
// it (UDT caps the buffer at UDT_FC, so at most UDT's default UDT_FC, as
// before); the peer's window and this side's throughput are unchanged.
func (c *Config) flowWindow() int {
	if c.FlowWindow != 0 {
		return c.FlowWindow
	}
	if c.RecvBuffer == 0 {
		return udtRcvBufPackets
	}
	// The MSS is set first, and UDT keeps the UDP buffers at least that
	// large, so the MSS is Config's (Config.validate bounds it).
	mss := cmp.Or(c.MSS, 1500)
	return min(max(32, c.RecvBuffer/(mss-udpIPHeaders)), udtFlowWindow)
}

// ConnMemory is what UDT holds for one connection, from its sizes: UDT
// 4.11 allocates it all when the connection opens and frees it when its
// garbage collector deletes the socket, 1 to 2.2 s after the close.
type ConnMemory struct {
	RecvBufferPackets int // receive buffer slots (UDT_RCVBUF / payload)
	FlowWindow        int // UDT_FC: sizes the receive loss list
	PeerWindow        int // the window the peer offers now: at rest, what sized the send loss list
	// Allocated is the bytes of the buffers and lists, in the C heap or
	// mapped. UDT fills some arrays whole when the connection opens (the
	// receive slots and the loss lists' data): those of 16 KiB to 1 MiB
	// are Mapped, outside the C heap and untouched, so that they take
	// memory only as UDT uses them (the loss lists' pages when packets
	// are lost, the receive slots' as packets arrive), while the process
	// holds fewer such mappings than a quarter of vm.max_map_count (some
	// 2,000 connections with the defaults); the others are Written,
	// resident from the start. Memory reports the connection's own. So
	// Allocated - Mapped is what the C heap holds for the connection, and
	// Written what it touched at once. The lists' link arrays, which UDT
	// leaves unset, are mapped with their lists. The send buffer's data
	// pages and the packets received, which live in the UDP port's shared
	// queue, come on top as they are used; an idle connection with the
	// defaults is about 32 KiB resident (docs/memory.md).
	Allocated int64
	Written   int64
	Mapped    int64
}

// UDT's fixed per-connection sizes (UDT 4.11's core.cpp): a send buffer
// of 32 packets to start with, an ACK history of 1,024 entries (two
// int32s and a uint64 each), and the objects themselves, measured.
const (
	udtSndBufBlocks = 32
	udtACKWindow    = 1024 * 16
	udtSocketFixed  = 2560
	udpPayloadHdrs  = 44 // IP, UDP and UDT headers
)

// Memory estimates what UDT holds for the connection (see ConnMemory and
// docs/memory.md): Allocated less Mapped is within a few KiB of what
// glibc reports in use per connection.
func (c *Conn) Memory() (ConnMemory, error) {
	if !c.ok() {
		return ConnMemory{}, errInvalidConn("memory")
	}
	s := c.fd.pd.s
	var m ConnMemory
	mss, err := s.MSS()
	if err != nil {
		return m, c.fd.opError("memory", c.closedOr(err))
	}
	rcv, err := s.RecvBuffer()
	if err != nil {
		return m, c.fd.opError("memory", c.closedOr(err))
	}
	if m.FlowWindow, err = s.FlowWindow(); err != nil {
		return m, c.fd.opError("memory", c.closedOr(err))
	}
	// Perfmon, not Stats, which would start the caller's next interval.
	p, err := c.fd.lib.Perfmon(s, false)
	if err != nil {
		return m, c.fd.opError("memory", c.closedOr(err))
	}
	m.RecvBufferPackets = rcv / (mss - udpIPHeaders)
	m.PeerWindow = p.PktFlowWindow
	// Which arrays the shim mapped, asked of the shim: none past its cap
	// on mappings (a quarter of vm.max_map_count, some 2,000 connections
	// with the defaults), where UDT builds them in the C heap as ever.
	mask := cudt.ConnMapped(int(s.ID()))
	mapped := func(bit int, n int64) bool {
		if mask < 0 { // closed meanwhile: what the sizes allow
			return mappable(n)
		}
		return mask&(1<<bit) != 0
	}
	m.Allocated, m.Written, m.Mapped = connMemory(m.RecvBufferPackets, m.FlowWindow, m.PeerWindow, mss, mapped)
	return m, nil
}

// mappable reports whether the shim maps an array of n bytes untouched
// (cudt/prefault.h).
func mappable(n int64) bool { return n >= cudt.PrefaultMin && n <= cudt.LazyMax }

// connMemory is the arithmetic of ConnMemory: the receive buffer's slot
// pointers, the receive loss list (four int32s per packet of UDT_FC, two
// of them filled at once), the send loss list (three int32s for each of
// twice the peer's window, two filled at once), the send buffer and the
// ACK history. isMapped tells, by cudt.Mapped* bit, which arrays the shim
// mapped untouched; UDT built the others, and wrote those it fills at once.
func connMemory(rcvPackets, fc, peerWindow, mss int, isMapped func(bit int, n int64) bool) (allocated, written, mapped int64) {
	r, f, w := int64(rcvPackets), int64(fc), int64(peerWindow)
	for _, a := range []struct {
		bit    int
		n      int64
		filled bool
	}{
		{cudt.MappedUnits, 8 * r, true},
		{cudt.MappedRcvData1, 4 * f, true}, {cudt.MappedRcvData2, 4 * f, true},
		{cudt.MappedRcvNext, 4 * f, false}, {cudt.MappedRcvPrior, 4 * f, false},
		{cudt.MappedSndData1, 8 * w, true}, {cudt.MappedSndData2, 8 * w, true},
		{cudt.MappedSndNext, 8 * w, false},
	} {
		switch {
		case isMapped(a.bit, a.n):
			mapped += a.n
		case a.filled:
			written += a.n
		}
	}
	allocated = 8*r + 16*f + 24*w + udtSndBufBlocks*int64(mss-udpPayloadHdrs) + udtACKWindow + udtSocketFixed
	return allocated, written, mapped
}

// HeapStats are the C heap's figures, where UDT's buffers live, and what
// this package's trims did.
type HeapStats struct {
	InUse    uint64        // bytes allocated, UDT's buffers among them
	Free     uint64        // bytes freed but kept, by glibc or for the next connections (until trimmed)
	Trims    int64         // malloc_trim calls this package made
	TrimTime time.Duration // the time they took
}

// ReadHeapStats reads the C heap's figures (glibc's mallinfo2, which
// briefly locks each arena).
func ReadHeapStats() HeapStats {
	h := cudt.Heap()
	trims, took := trimStats()
	return HeapStats{InUse: h.InUse + h.Mmapped, Free: h.Free, Trims: trims, TrimTime: took}
}

// HeapPolicy says what this package may do to the C heap, which it shares
// with the host program and every library in it. The zero value is the
// default: trims after closes (see noteSocketClosed), glibc's own tuning.
type HeapPolicy struct {
	// NoTrim stops the malloc_trim calls that hand back the memory of
	// deleted sockets. A trim walks every arena of the process, each under
	// its lock, so C allocations anywhere in the program wait for it
	// (this package spaces them to take at most 5 % of the time).
	NoTrim bool
	// ArenaMax, above 0, caps glibc's arenas (mallopt M_ARENA_MAX): fewer
	// arenas hold fewer freed fragments, but threads contend for them.
	ArenaMax int
	// MmapThreshold, above 0, fixes the size from which glibc maps each
	// allocation on its own (mallopt M_MMAP_THRESHOLD) instead of letting
	// it rise with use. At 32 KiB or below, UDT's loss lists and receive
	// slots go straight back to the system when UDT deletes a socket and
	// count in RSS only where written, but every such allocation costs a
	// system call and fresh pages, in the whole program.
	MmapThreshold int
}

// SetHeapPolicy sets what this package may do to the process's C heap.
// ArenaMax and MmapThreshold change glibc for the whole process and stay
// changed; call it before opening connections.
func SetHeapPolicy(p HeapPolicy) error {
	if p.ArenaMax < 0 || p.MmapThreshold < 0 {
		return fmt.Errorf("udt: HeapPolicy.ArenaMax and MmapThreshold must be 0 (glibc's default) or more, not %d and %d", p.ArenaMax, p.MmapThreshold)
	}
	// glibc refuses a threshold above HEAP_MAX/2 (32 MiB on 64 bits).
	if p.MmapThreshold > 32<<20 {
		return fmt.Errorf("udt: HeapPolicy.MmapThreshold must be at most 32 MiB, not %d", p.MmapThreshold)
	}
	if p.ArenaMax > 0 && !cudt.Mallopt(cudt.M_ARENA_MAX, p.ArenaMax) {
		return fmt.Errorf("udt: glibc refused M_ARENA_MAX %d", p.ArenaMax)
	}
	if p.MmapThreshold > 0 && !cudt.Mallopt(cudt.M_MMAP_THRESHOLD, p.MmapThreshold) {
		return fmt.Errorf("udt: glibc refused M_MMAP_THRESHOLD %d", p.MmapThreshold)
	}
	theTrim.SetOff(p.NoTrim)
	return nil
}
