/* Setup's page faults, taken in bulk.
 *
 * UDT 4.11 builds a connection's receive buffer and loss lists when it
 * connects, on the receive thread of the connection's UDP port, and
 * writes every slot of their first arrays: 256 KiB per socket with the
 * default sizes, each page of it a page fault of its own (the largest
 * share of a burst of dials: docs/udt4-behaviour.md). The link wraps
 * those three constructors and operator new[] (prefault.go): the arrays
 * each constructor writes whole are faulted in with one
 * madvise(MADV_POPULATE_WRITE) as they are allocated. Same memory, same
 * contents, same resident size; the arrays UDT fills only as losses come
 * are left alone.
 */
#ifndef CUDT_PREFAULT_H
#define CUDT_PREFAULT_H

#include <stdint.h>

/* Smaller arrays fault in a page or two: not worth a system call. */
#define CUDT_PREFAULT_MIN 16384

#ifdef __cplusplus
extern "C" {
#endif

/* Arrays prefaulted, their bytes (whole pages), and whether the kernel
 * knows MADV_POPULATE_WRITE (0 once it refused it). */
void cudt_prefault_counts(uint64_t* arrays, uint64_t* bytes, int* supported);
/* 0 stops prefaulting for constructors that start from now on; 1 resumes. */
void cudt_prefault_set_enabled(int on);

#ifdef __cplusplus
}
#endif

#endif
