package syssock

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Limits bound the values a peer's UDT handshake may carry; OpenUDP's
// filter drops a handshake outside them. The udt package sets them: they
// are the limits its own options obey, and it documents them.
type Limits struct {
	MaxFlowWindow  uint32 // packets
	MinMSS, MaxMSS uint32 // bytes, headers included
}

// UDT 4.11's handshake as the filter reads it: a 16-byte header whose
// first word has the control bit and the control type in its high half,
// then a body whose MSS and flow window are the fourth and fifth of its
// big-endian 32-bit words.
const (
	udpHeader     = 8 // what a UDP socket's filter sees before UDT's packet
	handshakeType = 0x80000000
	mssAt         = 16 + 12
	flowWindowAt  = 16 + 16
	fieldsEnd     = flowWindowAt + 4
)

// filterHandshakes makes the kernel drop, on UDP socket fd, the UDT
// handshakes whose flow window or MSS lie outside lim, before they are
// queued: UDT takes both unchecked from the peer. Everything else passes,
// a handshake too short to carry both fields included (UDT refuses those
// itself).
func filterHandshakes(fd int, lim Limits) error {
	const (
		ldAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		ldLen  = unix.BPF_LD | unix.BPF_W | unix.BPF_LEN
		jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge    = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jgt    = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
		ret    = unix.BPF_RET | unix.BPF_K
		and    = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	)
	// Words load big-endian and compare unsigned, so a negative value is a
	// huge one. Jumps count the instructions to skip.
	prog := []unix.SockFilter{
		/* 0 */ {Code: ldLen},
		/* 1 */ {Code: jge, K: udpHeader + fieldsEnd, Jt: 0, Jf: 8}, // too short to carry both
		/* 2 */ {Code: ldAbsW, K: udpHeader},
		/* 3 */ {Code: and, K: 0xffff0000}, // UDT ignores the low 16 bits
		/* 4 */ {Code: jeq, K: handshakeType, Jt: 0, Jf: 5},
		/* 5 */ {Code: ldAbsW, K: udpHeader + flowWindowAt},
		/* 6 */ {Code: jgt, K: lim.MaxFlowWindow, Jt: 4, Jf: 0},
		/* 7 */ {Code: ldAbsW, K: udpHeader + mssAt},
		/* 8 */ {Code: jge, K: lim.MinMSS, Jt: 0, Jf: 2},
		/* 9 */ {Code: jgt, K: lim.MaxMSS, Jt: 1, Jf: 0},
		/* 10 */ {Code: ret, K: 0xffffffff}, // keep
		/* 11 */ {Code: ret, K: 0}, // drop
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attaching the handshake filter: %v", err)
	}
	return nil
}
