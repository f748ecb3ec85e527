package cudt

// UDT's setup arrays, left untouched (prefault.h): the link routes UDT's
// calls of the receive buffer's and loss lists' constructors, of the
// receive buffer's destructor, and of operator new[] and delete[] (sized
// too), through prefault.cpp. --wrap applies to
// the whole program being linked; for any new[] or delete[] not of those
// arrays the wrappers only pass the call on.

/*
#cgo LDFLAGS: -Wl,--wrap=_Znam -Wl,--wrap=_ZdaPv -Wl,--wrap=_ZdaPvm -Wl,--wrap=_ZN12CSndLossListC1Ei -Wl,--wrap=_ZN12CRcvLossListC1Ei -Wl,--wrap=_ZN10CRcvBufferC1EP10CUnitQueuei -Wl,--wrap=_ZN10CRcvBufferD1Ev
#cgo nocallback cudt_prefault_counts
#cgo noescape cudt_prefault_counts
#cgo nocallback cudt_lazy_counts
#cgo noescape cudt_lazy_counts
#cgo nocallback cudt_setup_arrays
#cgo nocallback cudt_warm_arrays
#cgo nocallback cudt_warm_counts
#cgo noescape cudt_warm_counts
#cgo nocallback cudt_lazy_cap
#cgo nocallback cudt_conn_mapped
#include <stdint.h>
#include <stdlib.h>
#include "prefault.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// PrefaultMin is the smallest array mapped untouched or prefaulted, in
// bytes; LazyMax the largest mapped untouched.
const (
	PrefaultMin = C.CUDT_PREFAULT_MIN
	LazyMax     = C.CUDT_LAZY_MAX
)

// How the setup arrays are built (SetSetupArrays).
const (
	ArraysUntouched = C.CUDT_ARRAYS_UNTOUCHED // mapped, untouched until used (the default)
	ArraysPrefault  = C.CUDT_ARRAYS_PREFAULT  // UDT's own, faulted in with one system call each
	ArraysFaults    = C.CUDT_ARRAYS_FAULTS    // UDT's own, page by page
)

// PrefaultCounts reports how many of UDT's setup arrays were faulted in
// with one system call each, their bytes (whole pages), and whether the
// kernel supports it (false once it refused).
func PrefaultCounts() (arrays, bytes uint64, supported bool) {
	var a, b C.uint64_t
	var s C.int
	C.cudt_prefault_counts(&a, &b, &s)
	return uint64(a), uint64(b), s != 0
}

// LazyStats counts the setup arrays mapped untouched.
type LazyStats struct {
	Mapped    uint64 // arrays mapped untouched so far
	MappedNow uint64 // those UDT holds now
	Refused   uint64 // arrays UDT's constructors built instead, for want of a mapping
	Skipped   uint64 // pages of receive slots the receive buffer's destructor skipped as never touched
	Reused    uint64 // arrays that reused the mapping of one freed before
}

// LazyCounts returns the counts of the setup arrays mapped untouched.
func LazyCounts() LazyStats {
	var m, n, r, k, u C.uint64_t
	C.cudt_lazy_counts(&m, &n, &r, &k, &u)
	return LazyStats{uint64(m), uint64(n), uint64(r), uint64(k), uint64(u)}
}

// SetSetupArrays sets how connections set up from now on build their
// setup arrays: ArraysUntouched, ArraysPrefault or ArraysFaults.
func SetSetupArrays(mode int) {
	C.cudt_setup_arrays(C.int(mode))
}

// SetWarmArrays sets whether UDT's arrays of 4 to 64 KiB allocated with
// new[] (a connection's ACK history and send buffer among them) come from
// mappings kept resident from the last such array (the default) or from
// the C heap, as without the shim: for comparisons.
func SetWarmArrays(on bool) {
	v := 0
	if on {
		v = 1
	}
	C.cudt_warm_arrays(C.int(v))
}

// WarmCounts reports the bytes of warm arrays UDT holds now and the bytes
// the shim keeps resident for later ones (warm arrays, and the zeroed
// first page of freed receive slots) until TrimHeap.
func WarmCounts() (live, kept uint64) {
	l, k, _ := warmCounts()
	return l, k
}

// WarmReused reports how many warm arrays were handed out again so far.
func WarmReused() uint64 {
	_, _, r := warmCounts()
	return r
}

func warmCounts() (live, kept, reused uint64) {
	var l, k, r C.uint64_t
	C.cudt_warm_counts(&l, &k, &r)
	return uint64(l), uint64(k), uint64(r)
}

// Bits of ConnMapped: which of a connection's setup arrays.
const (
	MappedUnits    = C.CUDT_MAPPED_UNITS // the receive buffer's slots
	MappedRcvData1 = C.CUDT_MAPPED_RCV_DATA1
	MappedRcvData2 = C.CUDT_MAPPED_RCV_DATA2
	MappedRcvNext  = C.CUDT_MAPPED_RCV_NEXT
	MappedRcvPrior = C.CUDT_MAPPED_RCV_PRIOR
	MappedSndData1 = C.CUDT_MAPPED_SND_DATA1
	MappedSndData2 = C.CUDT_MAPPED_SND_DATA2
	MappedSndNext  = C.CUDT_MAPPED_SND_NEXT
)

// ConnMapped reports which of connection u's setup arrays are mapped
// untouched now, a mask of 1<<Mapped* bits (UDT built the others in the C
// heap), or -1 if u is not open.
func ConnMapped(u int) int { return int(C.cudt_conn_mapped(C.int(u))) }

// SetLazyCap sets how many arrays may be mapped at once (a quarter of
// vm.max_map_count by default) when n >= 0, and returns the limit before.
func SetLazyCap(n int) int {
	return int(C.cudt_lazy_cap(C.long(n)))
}

// CheckSetupArrays builds UDT's receive buffer and both loss lists with
// n slots each twice, with UDT's constructors and with the shim's, and
// reports the first difference.
func CheckSetupArrays(n int) error {
	why := (*C.char)(C.malloc(256))
	defer C.free(unsafe.Pointer(why))
	if C.cudt_setup_arrays_check(C.int(n), why, 256) != 0 {
		return errors.New(C.GoString(why))
	}
	return nil
}

// CheckWarmArrays serves a new[] from a warm mapping, frees it and serves
// the next of its size, and reports whether that one was the same mapping
// with its contents kept (and, under AddressSanitizer, whether the kept
// one was poisoned meanwhile).
func CheckWarmArrays() error {
	why := (*C.char)(C.malloc(256))
	defer C.free(unsafe.Pointer(why))
	if C.cudt_warm_check(why, 256) != 0 {
		return errors.New(C.GoString(why))
	}
	return nil
}

// CheckRecvBufferDestroy destroys a receive buffer of the shim's, its
// slots mapped untouched, that holds units in three slots far apart, and
// reports whether each unit was freed and the pages skipped as never
// touched.
func CheckRecvBufferDestroy() (skipped uint64, err error) {
	why := (*C.char)(C.malloc(256))
	defer C.free(unsafe.Pointer(why))
	var k C.uint64_t
	if C.cudt_rcvbuffer_destroy_check(&k, why, 256) != 0 {
		return 0, errors.New(C.GoString(why))
	}
	return uint64(k), nil
}
