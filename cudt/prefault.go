package cudt

// Setup's page faults, taken in bulk (prefault.h): the link routes UDT's
// calls of the receive buffer's and loss lists' constructors, and of
// operator new[], through prefault.cpp. --wrap=_Znam applies to the whole
// program being linked; for any new[] not made by those constructors the
// wrapper only passes the call on.

/*
#cgo LDFLAGS: -Wl,--wrap=_Znam -Wl,--wrap=_ZN12CSndLossListC1Ei -Wl,--wrap=_ZN12CRcvLossListC1Ei -Wl,--wrap=_ZN10CRcvBufferC1EP10CUnitQueuei
#cgo nocallback cudt_prefault_counts
#cgo noescape cudt_prefault_counts
#cgo nocallback cudt_prefault_set_enabled
#include <stdint.h>
#include "prefault.h"
*/
import "C"

// PrefaultMin is the smallest array prefaulted, in bytes.
const PrefaultMin = C.CUDT_PREFAULT_MIN

// PrefaultCounts reports how many of UDT's setup arrays were faulted in
// with one system call each, their bytes (whole pages), and whether the
// kernel supports it (false once it refused).
func PrefaultCounts() (arrays, bytes uint64, supported bool) {
	var a, b C.uint64_t
	var s C.int
	C.cudt_prefault_counts(&a, &b, &s)
	return uint64(a), uint64(b), s != 0
}

// SetPrefault turns the prefaulting of connections set up from now on
// off or back on (on by default).
func SetPrefault(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.cudt_prefault_set_enabled(v)
}
