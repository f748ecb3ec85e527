/* UDT's setup arrays, left untouched.
 *
 * UDT 4.11 builds a connection's receive buffer and loss lists when it
 * connects, on the receive thread of the connection's UDP port, and
 * writes every slot of their first arrays (NULL or -1): 256 KiB per
 * socket with the default sizes, each page of it a page fault of its
 * own, the largest share of a burst of dials (docs/udt4-behaviour.md).
 * The link wraps those three constructors, the receive buffer's
 * destructor, operator new[] and operator delete[] (prefault.go). By default (CUDT_ARRAYS_UNTOUCHED) a wrapped
 * constructor sets the object's members itself, as UDT's does, and maps
 * each array it would have filled: zero pages for NULL, a private mapping
 * of a memory file of 0xff bytes for -1. The contents are the same; no
 * page is touched until UDT uses it, which for the loss lists is when
 * packets are lost. A freed array's pages go back to the kernel
 * (MADV_DONTNEED) and its mapping serves a later socket (up to 4,096 kept).
 * The other arrays UDT allocates with new[] between 4 and 64 KiB (each
 * socket's ACK history and send buffer, each port's unit and queue
 * arrays) come from warm mappings: when UDT frees one, its pages stay
 * resident (up to 32 MiB) for the next array of its size, so a burst of
 * setups after an earlier burst's teardown writes no fresh page; the
 * first page of freed receive slots, which the next connection's first
 * packet writes, is kept too, zeroed. cudt_warm_release hands both back
 * (the package's trim does once the closes stop).
 * Where an array cannot be mapped (smaller than
 * CUDT_PREFAULT_MIN, larger than CUDT_LAZY_MAX, a quarter of the
 * process's map count limit in use), UDT's constructor runs with the
 * arrays it writes whole faulted in by one madvise(MADV_POPULATE_WRITE)
 * each (CUDT_ARRAYS_PREFAULT, the previous way, kept as the fallback).
 */
#ifndef CUDT_PREFAULT_H
#define CUDT_PREFAULT_H

#include <stdint.h>

/* Smaller arrays fault in a page or two: not worth a system call. */
#define CUDT_PREFAULT_MIN 16384
/* The memory file's size, the largest array mapped untouched: loss lists
 * of up to 262,144 entries, a receive buffer of up to 131,072 packets. */
#define CUDT_LAZY_MAX (1 << 20)

/* How the wrapped constructors build their arrays (cudt_setup_arrays). */
#define CUDT_ARRAYS_UNTOUCHED 0 /* mapped, untouched (the default) */
#define CUDT_ARRAYS_PREFAULT 1  /* UDT's, faulted in bulk */
#define CUDT_ARRAYS_FAULTS 2    /* UDT's, page by page, as without the shim */

#ifdef __cplusplus
extern "C" {
#endif

/* Arrays prefaulted, their bytes (whole pages), and whether the kernel
 * knows MADV_POPULATE_WRITE (0 once it refused it). */
void cudt_prefault_counts(uint64_t* arrays, uint64_t* bytes, int* supported);
/* Arrays mapped untouched so far, those mapped now, those that were
 * built by UDT instead for want of a mapping, the receive slots' pages
 * that ~CRcvBuffer skipped as never touched, and the arrays that reused a
 * mapping freed before. */
void cudt_lazy_counts(uint64_t* mapped, uint64_t* mapped_now, uint64_t* refused, uint64_t* skipped, uint64_t* reused);
/* Which of connection u's setup arrays are mapped untouched now, a mask of
 * CUDT_MAPPED_* bits (the others UDT built in the C heap: past the
 * mapping cap, or in another mode), or -1 if u is not open. */
enum {
	CUDT_MAPPED_UNITS = 0,  /* the receive buffer's slots */
	CUDT_MAPPED_RCV_DATA1, CUDT_MAPPED_RCV_DATA2, CUDT_MAPPED_RCV_NEXT, CUDT_MAPPED_RCV_PRIOR,
	CUDT_MAPPED_SND_DATA1, CUDT_MAPPED_SND_DATA2, CUDT_MAPPED_SND_NEXT
};
int cudt_conn_mapped(int u);
/* Sets how many arrays may be mapped at once when n >= 0 (a quarter of
 * vm.max_map_count by default) and returns the limit before. */
long cudt_lazy_cap(long n);
/* Whether operator new[] of 4 to 64 KiB is served from mappings kept
 * resident from the last array (1, the default, with
 * CUDT_ARRAYS_UNTOUCHED) or by the C heap (0). */
void cudt_warm_arrays(int on);
/* Bytes of warm mappings UDT holds now, bytes kept resident for later
 * arrays (warm mappings and the zeroed first pages of freed receive
 * slots), and the warm arrays handed out again so far. */
void cudt_warm_counts(uint64_t* live, uint64_t* kept, uint64_t* reused);
/* Unmaps the kept warm mappings and zeroed pages; returns their bytes. */
size_t cudt_warm_release(void);
/* Serves a new[] warm, frees it, and serves the next of its size: 0 when
 * that one is the same mapping with the same contents (and, under
 * AddressSanitizer, the kept one was poisoned), else 1 with why. */
int cudt_warm_check(char* why, int whylen);
/* How constructors that start from now on build their arrays. */
void cudt_setup_arrays(int mode);
/* Builds each of the three objects with UDT's constructor and with the
 * shim's, n slots, and compares them: 0 when they agree, else 1 with the
 * first difference in why. */
int cudt_setup_arrays_check(int n, char* why, int whylen);
/* Destroys a mapped receive buffer holding three units: 0 when each was
 * freed (with the pages skipped as never touched in skipped), else 1 with
 * what went wrong in why. */
int cudt_rcvbuffer_destroy_check(uint64_t* skipped, char* why, int whylen);

#ifdef __cplusplus
}
#endif

#endif
