package cudt

// Quiet ports (quiet.h): a UDP port's threads sleep while the port has
// nothing to do, instead of waking every 4 ms. The linker routes UDT's
// calls of CTimer::sleepto, CRcvQueue::setNewEntry,
// CRcvQueue::registerConnector, CRcvQueue::~CRcvQueue and CChannel::close
// through quiet.cpp.

/*
#cgo LDFLAGS: -Wl,--wrap=_ZN6CTimer7sleeptoEm -Wl,--wrap=_ZN9CRcvQueue11setNewEntryEP4CUDT -Wl,--wrap=_ZN9CRcvQueue17registerConnectorERKiP4CUDTiPK8sockaddrm -Wl,--wrap=_ZN9CRcvQueueD1Ev -Wl,--wrap=_ZNK8CChannel5closeEv
#include <stdint.h>
#include "quiet.h"
*/
import "C"

// QuietWaits returns how many reads of UDT's receiving threads, since the
// process started, waited for a packet or a deadline past UDT's own 4 ms
// timeout.
func QuietWaits() uint64 { return uint64(C.cudt_quiet_waits()) }

// PortReads returns how many reads the receiving thread of open socket u's
// UDP port has begun, or -1 when u is not open or its port is not counted.
func PortReads(u int) int64 { return int64(C.cudt_quiet_port_reads(C.int(u))) }

// SetQuiet turns quiet ports off (false) or on: off, UDT's threads wake
// as UDT 4.11 makes them. For tests and benchmarks that compare.
func SetQuiet(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.cudt_quiet_enable(v)
}

// PassBarrier waits until the receiving thread of u's UDP port has
// finished the pass of its loop it is in, if any (20 ms at most): UDT
// makes received data readable before it sends the ACK for it, and a close
// right after the read could send UDT's shutdown first, leaving the peer
// to think its last packets were lost.
func PassBarrier(u int) { C.cudt_pass_barrier(C.int(u)) }
