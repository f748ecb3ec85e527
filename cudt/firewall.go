package cudt

// The firewall in front of UDT (firewall.h): the linker routes UDT's calls
// of recvmsg, pthread_create, socket and epoll_create through cudt's
// __wrap_ functions, and pthread_mutex_destroy, whose first call in ~CUDT
// tells watch.cpp that UDT deletes a connection. --wrap applies to the whole program being linked: a
// C library linked beside this one gets close-on-exec sockets and epoll
// instances too, and its recvmsg calls pass through untouched (only UDT's
// receive threads are checked).

/*
#cgo LDFLAGS: -Wl,--wrap=recvmsg -Wl,--wrap=pthread_create -Wl,--wrap=socket -Wl,--wrap=epoll_create -Wl,--wrap=pthread_mutex_destroy -Wl,--wrap=sendmsg
#cgo nocallback cudt_fw_counts
#cgo noescape cudt_fw_counts
#include <stdint.h>
#include "firewall.h"
*/
import "C"

import (
	"time"
	"unsafe"
)

// FirewallRules is how many rules the firewall has.
const FirewallRules = C.CUDT_FW_RULES

// FirewallCounts returns, for each rule, the packets it dropped or changed
// since the process started, and how many packets the firewall checked.
func FirewallCounts() (counts [FirewallRules]uint64, checked uint64) {
	C.cudt_fw_counts((*C.uint64_t)(unsafe.Pointer(&counts[0])), C.int(FirewallRules))
	return counts, uint64(C.cudt_fw_checked())
}

// FirewallRuleName is rule i's short name ("ack-seq", ...).
func FirewallRuleName(i int) string {
	p := C.cudt_fw_rule_name(C.int(i))
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// DisableFirewallForTesting turns the firewall's packet checks off for the
// rest of the process, leaving UDT 4.11 as exposed as it is on its own. It
// exists for the tests that show what each rule stops (in child processes)
// and for benchmarks of what the checks cost. Never call it in a service:
// one packet can then crash it.
func DisableFirewallForTesting() { C.cudt_fw_disable() }

// UDTThreads is how many of UDT's own threads are alive: each UDP port's
// receiving and sending thread, and the garbage collector. The process's
// thread count also holds those Go keeps for its own use, which it does
// not give back.
func UDTThreads() int { return int(C.cudt_udt_threads()) }

// UnitsHeld counts packets UDT's receiving threads would have discarded for
// want of a free unit in their port's queue (UDT 4.11 miscounts its used
// units and searches a full queue), left in the kernel until the next pass
// found the queue grown.
func UnitsHeld() uint64 { return uint64(C.cudt_unit_held()) }

// NoUnitReads counts how often a receiving thread found no free unit, held
// or (with SetUnitHoldForTesting(false), or twice in a row) discarded.
func NoUnitReads() uint64 { return uint64(C.cudt_unit_none()) }

// SetUnitHoldForTesting turns that holding off or on, for tests that show
// what it saves.
func SetUnitHoldForTesting(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.cudt_unit_hold_enable(v)
}

// DriftUnitCountForTesting has the receiving thread of u's port lower its
// count of used units by k, the drift that makes UDT discard a packet once
// every unit is in use, and waits until it has. False if u is not open or
// the thread did not take the request within a second.
func DriftUnitCountForTesting(u int, k int) bool {
	if C.cudt_test_unit_drift(C.int(u), C.int(k)) != 0 {
		return false
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if C.cudt_test_unit_drift_pending() == 0 {
			return true
		}
	}
	return false
}
