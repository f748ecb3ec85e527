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

import "unsafe"

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
